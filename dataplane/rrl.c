/* Response rate limiting (rrl.h): one bucket per flow (prefix, kind of
 * answer), a count per one-second window. */
#include "rrl.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

struct rrl_bucket {
    uint32_t key;     /* the flow's hash: another flow here restarts it */
    uint32_t second;  /* the window counted */
    uint32_t count;   /* answers in that window */
    uint32_t limited; /* answers over the rate, this window and before: the slip cadence */
};

struct rrl {
    uint32_t salt;
    struct rrl_bucket buckets[RRL_BUCKETS];
};

struct rrl *rrl_new(uint32_t salt)
{
    struct rrl *rrl = calloc(1, sizeof(*rrl));
    if (rrl != NULL)
        rrl->salt = salt;
    return rrl;
}

void rrl_free(struct rrl *rrl)
{
    free(rrl);
}

static uint32_t rrl_mix(uint32_t h, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ data[i]) * 16777619u; /* FNV-1a */
    return h;
}

/* The flow's key: the client's prefix, then the kind of answer. */
static uint32_t rrl_key(uint32_t salt, const struct sockaddr *client, const uint8_t *qname,
                        size_t qname_len, uint16_t qtype, uint16_t rcode)
{
    uint32_t h = 2166136261u ^ salt;
    if (client->sa_family == AF_INET) {
        const uint8_t *addr = (const uint8_t *)&((const struct sockaddr_in *)client)->sin_addr;
        h = rrl_mix(h, (const uint8_t *)"4", 1);
        h = rrl_mix(h, addr, 3); /* /24 */
    } else if (client->sa_family == AF_INET6) {
        const uint8_t *addr = ((const struct sockaddr_in6 *)client)->sin6_addr.s6_addr;
        h = rrl_mix(h, (const uint8_t *)"6", 1);
        h = rrl_mix(h, addr, 7); /* /56 */
    }
    uint8_t kind[4] = {(uint8_t)(rcode >> 8), (uint8_t)rcode, 0, 0};
    h = rrl_mix(h, kind, 2);
    if (rcode == WIRE_RCODE_NOERROR) {
        kind[2] = (uint8_t)(qtype >> 8);
        kind[3] = (uint8_t)qtype;
        h = rrl_mix(h, kind + 2, 2);
        h = rrl_mix(h, qname, qname_len);
    }
    return h;
}

enum rrl_verdict rrl_check(struct rrl *rrl, const struct sockaddr *client, const uint8_t *qname,
                           size_t qname_len, uint16_t qtype, uint16_t rcode, uint32_t rate,
                           uint32_t slip, uint64_t now_ms)
{
    uint32_t key = rrl_key(rrl->salt, client, qname, qname_len, qtype, rcode);
    struct rrl_bucket *b = &rrl->buckets[key % RRL_BUCKETS];
    uint32_t second = (uint32_t)(now_ms / 1000u);
    if (b->key != key) {
        *b = (struct rrl_bucket){.key = key, .second = second};
    } else if (b->second != second) {
        b->second = second;
        b->count = 0;
    }
    if (b->count < rate) {
        b->count++;
        return RRL_PASS;
    }
    b->limited++;
    if (slip != 0 && b->limited % slip == 0)
        return RRL_SLIP;
    return RRL_DROP;
}
