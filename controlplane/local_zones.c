/* The locally served zones (local_zones.h): the RFC 6303 §4 list, and
 * for each one the config leaves to us its synthesized SOA and NS. */
#include "local_zones.h"

#include <stdio.h>
#include <string.h>

/* RFC 6303 §4.1 and RFC 6598 (RFC 7793), the address ranges whose reverse
 * zones are several: "172.<16..31>", "100.<64..127>". */
struct local_range {
    const char *suffix; /* after the varying label */
    unsigned first, last;
};

/* clang-format off */
static const struct local_range LOCAL_RANGES[] = {
    {"172.in-addr.arpa", 16, 31},  /* RFC 1918 172.16.0.0/12 */
    {"100.in-addr.arpa", 64, 127}, /* RFC 6598 100.64.0.0/10 */
};

static const char *const LOCAL_NAMES[] = {
    /* RFC 6303 §4.1: RFC 1918, then the other IPv4 ranges */
    "10.in-addr.arpa",
    "168.192.in-addr.arpa",
    "0.in-addr.arpa",               /* "this" network */
    "127.in-addr.arpa",             /* loopback */
    "254.169.in-addr.arpa",         /* link-local */
    "2.0.192.in-addr.arpa",         /* TEST-NET-1 */
    "100.51.198.in-addr.arpa",      /* TEST-NET-2 */
    "113.0.203.in-addr.arpa",       /* TEST-NET-3 */
    "255.255.255.255.in-addr.arpa", /* broadcast */
    /* RFC 6303 §4.2-4.6: ::, ::1, ULA fd00::/8, link-local fe80::/10, documentation */
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
    "d.f.ip6.arpa",
    "8.e.f.ip6.arpa",
    "9.e.f.ip6.arpa",
    "a.e.f.ip6.arpa",
    "b.e.f.ip6.arpa",
    "8.b.d.0.1.0.0.2.ip6.arpa",
    "home.arpa", /* RFC 8375 */
    "localhost", /* RFC 6761 §6.3 */
    "invalid",   /* RFC 6761 §6.4 */
    "test",      /* RFC 6761 §6.2 */
};
/* clang-format on */

/* RFC 6303 §3: "@ SOA @ nobody.invalid. 1 3600 1200 604800 10800". */
static const uint8_t NOBODY_INVALID[] = "\6nobody\7invalid";
#define SOA_SERIAL 1
#define SOA_REFRESH 3600
#define SOA_RETRY 1200
#define SOA_EXPIRE 604800
#define SOA_MINIMUM 10800

static const uint8_t LOCALHOST[] = "\11localhost";
static const uint8_t LOOPBACK4[4] = {127, 0, 0, 1};
static const uint8_t LOOPBACK6[16] = {[15] = 1};

bool local_name_at_or_below(const uint8_t *name, size_t len, const uint8_t *parent,
                            size_t parent_len)
{
    if (parent_len > len)
        return false;
    size_t at = 0, start = len - parent_len;
    while (at < start)
        at += 1u + name[at];
    return at == start && wire_name_equal(name + start, parent_len, parent, parent_len);
}

/* Is the local zone at name ours already: one of our zones or a forward
 * zone at or above it? */
static bool left_to_config(const struct config *cfg, const uint8_t *name, size_t len)
{
    for (size_t i = 0; i < cfg->zone_count; i++)
        if (local_name_at_or_below(name, len, cfg->zones[i].apex, cfg->zones[i].apex_len))
            return true;
    const struct config_server *s = &cfg->server;
    for (size_t i = 0; i < s->forward_zone_count; i++)
        if (local_name_at_or_below(name, len, s->forward_zones[i].name,
                                   s->forward_zones[i].name_len))
            return true;
    return false;
}

/* Whether a record of ours has this owner: its data then stands alone. */
static bool config_has_owner(const struct config *cfg, const uint8_t *name, size_t len)
{
    for (size_t i = 0; i < cfg->record_count; i++)
        if (cfg->records[i].owner_len == len &&
            wire_name_equal(cfg->records[i].owner, len, name, len))
            return true;
    return false;
}

static void add_rr(struct local_zones *out, const uint8_t *owner, size_t owner_len, uint16_t type,
                   const uint8_t *rdata, size_t rdata_len)
{
    out->rrs[out->rr_count++] = (struct image_input_rr){
        .owner = owner,
        .owner_len = (uint8_t)owner_len,
        .type = type,
        .ttl = LOCAL_ZONE_TTL,
        .rdata = rdata,
        .rdata_len = (uint16_t)rdata_len,
        .node_flags = IMAGE_NODE_SYNTHESIZED,
    };
}

/* One zone from its text name, unless the config has it already. */
static void add_zone(const struct config *cfg, struct local_zones *out, const char *text)
{
    uint8_t name[WIRE_NAME_MAX];
    size_t len;
    char err[128];
    if (out->zone_count == LOCAL_ZONES_MAX ||
        wire_name_from_text(text, name, &len, err, sizeof err) < 0 ||
        left_to_config(cfg, name, len))
        return;
    size_t z = out->zone_count++;
    memcpy(out->apex[z], name, len);
    out->apex_len[z] = (uint8_t)len;
    const uint8_t *apex = out->apex[z];

    uint8_t *soa = out->soa[z];
    size_t at = 0;
    memcpy(soa + at, apex, len); /* MNAME: the zone's own name */
    at += len;
    memcpy(soa + at, NOBODY_INVALID, sizeof NOBODY_INVALID); /* with its root label */
    at += sizeof NOBODY_INVALID;
    wire_put32(soa + at, SOA_SERIAL);
    wire_put32(soa + at + 4, SOA_REFRESH);
    wire_put32(soa + at + 8, SOA_RETRY);
    wire_put32(soa + at + 12, SOA_EXPIRE);
    wire_put32(soa + at + 16, SOA_MINIMUM);
    add_rr(out, apex, len, WIRE_TYPE_SOA, soa, at + 20);
    add_rr(out, apex, len, WIRE_TYPE_NS, apex, len); /* RFC 6303 §3: "@ NS @" */

    /* RFC 6761 §6.3: localhost and every name below it are the loopback
     * addresses; NODATA for other types. */
    if (len == sizeof LOCALHOST && memcmp(name, LOCALHOST, len) == 0) {
        if (!config_has_owner(cfg, apex, len)) {
            add_rr(out, apex, len, WIRE_TYPE_A, LOOPBACK4, sizeof LOOPBACK4);
            add_rr(out, apex, len, WIRE_TYPE_AAAA, LOOPBACK6, sizeof LOOPBACK6);
        }
        out->star_localhost[0] = 1;
        out->star_localhost[1] = '*';
        memcpy(out->star_localhost + 2, apex, len);
        if (!config_has_owner(cfg, out->star_localhost, len + 2)) {
            add_rr(out, out->star_localhost, len + 2, WIRE_TYPE_A, LOOPBACK4, sizeof LOOPBACK4);
            add_rr(out, out->star_localhost, len + 2, WIRE_TYPE_AAAA, LOOPBACK6, sizeof LOOPBACK6);
        }
    }
}

void local_zones_compile(const struct config *cfg, struct local_zones *out)
{
    out->zone_count = 0;
    out->rr_count = 0;
    if (!cfg->server.local_zones)
        return;
    for (size_t i = 0; i < sizeof LOCAL_RANGES / sizeof LOCAL_RANGES[0]; i++) {
        for (unsigned k = LOCAL_RANGES[i].first; k <= LOCAL_RANGES[i].last; k++) {
            char text[64];
            snprintf(text, sizeof text, "%u.%s", k, LOCAL_RANGES[i].suffix);
            add_zone(cfg, out, text);
        }
    }
    for (size_t i = 0; i < sizeof LOCAL_NAMES / sizeof LOCAL_NAMES[0]; i++)
        add_zone(cfg, out, LOCAL_NAMES[i]);
}

bool local_zones_cover(const struct local_zones *lz, const uint8_t *name, size_t len)
{
    static const uint8_t *const tops[] = {(const uint8_t *)"\4arpa", LOCALHOST,
                                          (const uint8_t *)"\7invalid", (const uint8_t *)"\4test"};
    uint8_t starts[WIRE_LABELS_MAX];
    unsigned labels = wire_name_labels(name, len, starts);
    if (lz->zone_count == 0 || labels == 0)
        return false;
    const uint8_t *top = name + starts[labels - 1];
    bool candidate = false;
    for (size_t i = 0; i < sizeof tops / sizeof tops[0] && !candidate; i++)
        candidate = top[0] == tops[i][0] && wire_name_equal(top, top[0] + 2u, tops[i], top[0] + 2u);
    for (size_t z = 0; candidate && z < lz->zone_count; z++)
        if (local_name_at_or_below(name, len, lz->apex[z], lz->apex_len[z]))
            return true;
    return false;
}
