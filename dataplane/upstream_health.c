/* Upstream server health (upstream_health.h): a linear table, small
 * enough that a scan costs less than a hash would. */
#include "upstream_health.h"

#include <string.h>

static bool same_server(const struct image_upstream *a, const struct image_upstream *b)
{
    size_t addr_len = a->family == 4 ? 4 : 16;
    return a->family == b->family && a->port == b->port && memcmp(a->addr, b->addr, addr_len) == 0;
}

/* server's slot, or -1. */
static int slot_index(const struct upstream_health *health, const struct image_upstream *server)
{
    for (int i = 0; i < UPSTREAM_HEALTH_SLOTS; i++) {
        const struct upstream_health_slot *s = &health->slots[i];
        if (s->used && same_server(&s->server, server))
            return i;
    }
    return -1;
}

/* server's slot, or a new one in place of an unused or the least recently
 * used slot. */
static struct upstream_health_slot *slot_take(struct upstream_health *health,
                                              const struct image_upstream *server)
{
    struct upstream_health_slot *oldest = &health->slots[0];
    for (size_t i = 0; i < UPSTREAM_HEALTH_SLOTS; i++) {
        struct upstream_health_slot *s = &health->slots[i];
        if (s->used && same_server(&s->server, server))
            return s;
        if (!s->used || (oldest->used && s->last_used_ms < oldest->last_used_ms))
            oldest = s;
    }
    memset(oldest, 0, sizeof(*oldest));
    oldest->used = true;
    oldest->server = *server;
    return oldest;
}

void upstream_health_record(struct upstream_health *health, const struct image_upstream *server,
                            bool ok, uint64_t now_ms)
{
    if (ok) {
        /* A success for a server with no failures on record takes no slot. */
        int i = slot_index(health, server);
        if (i >= 0) {
            health->slots[i].last_used_ms = now_ms;
            health->slots[i].failures = 0;
        }
        return;
    }
    struct upstream_health_slot *s = slot_take(health, server);
    s->last_used_ms = now_ms;
    s->failures++;
    if (s->failures >= UPSTREAM_FAILURES_TO_SKIP)
        s->skip_until_ms = now_ms + UPSTREAM_SKIP_MS;
}

bool upstream_health_skipped(const struct upstream_health *health,
                             const struct image_upstream *server, uint64_t now_ms)
{
    int i = slot_index(health, server);
    return i >= 0 && health->slots[i].failures >= UPSTREAM_FAILURES_TO_SKIP &&
           now_ms < health->slots[i].skip_until_ms;
}

void upstream_health_order(const struct upstream_health *health,
                           const struct image_upstream *servers, unsigned count, unsigned *order,
                           uint64_t now_ms)
{
    /* Healthy ones from the front, skipped ones from the back (reversed,
     * then turned round): one health lookup per server, no scratch. */
    unsigned front = 0, back = count;
    for (unsigned i = 0; i < count; i++) {
        if (upstream_health_skipped(health, &servers[i], now_ms))
            order[--back] = i;
        else
            order[front++] = i;
    }
    for (unsigned a = back, b = count; a + 1 < b; a++, b--) {
        unsigned t = order[a];
        order[a] = order[b - 1];
        order[b - 1] = t;
    }
}
