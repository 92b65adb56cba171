/* The zone image writer: image_build compiles an image_input into one
 * malloc'd image laid out as image.h describes. It runs in the control
 * plane, one step after another over a struct builder that lives for one
 * call; nothing outlives the call but the image it returns. */
#include "image.h"

#include "error.h"
#include "image_internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- growable buffers ---- */

struct growbuf {
    uint8_t *data;
    size_t len, cap;
};

static int growbuf_reserve(struct growbuf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* Room for exactly total octets when the caller knows the size up front:
 * no doubling, so a large section takes what it needs and no more. */
static int growbuf_reserve_exact(struct growbuf *b, size_t total)
{
    if (total <= b->cap)
        return 0;
    uint8_t *p = realloc(b->data, total);
    if (!p)
        return -1;
    b->data = p;
    b->cap = total;
    return 0;
}

static int growbuf_append(struct growbuf *b, const void *data, size_t len)
{
    if (growbuf_reserve(b, len) < 0)
        return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

/* ---- the name map ---- */

struct build_node {
    uint32_t name_offset;
    uint16_t name_len;
    uint32_t hash;
    uint32_t zone;
    uint32_t apex_of; /* zone index when this node is an apex, else IMAGE_NONE */
};

/* The builder's name → node map (open addressing over node indices). */
struct build_map {
    struct build_node *nodes;
    size_t count, cap;
    uint32_t *slots;
    size_t slot_count;
    struct growbuf names;
};

static uint32_t build_map_probe(const struct build_map *m, const uint8_t *name, size_t len,
                                uint32_t hash, size_t *slot_out)
{
    size_t mask = m->slot_count - 1;
    for (size_t slot = hash & mask;; slot = (slot + 1) & mask) {
        uint32_t i = m->slots[slot];
        if (i == IMAGE_NONE || (m->nodes[i].hash == hash && m->nodes[i].name_len == len &&
                                memcmp(m->names.data + m->nodes[i].name_offset, name, len) == 0)) {
            *slot_out = slot;
            return i;
        }
    }
}

static int build_map_grow(struct build_map *m)
{
    size_t slot_count = m->slot_count ? m->slot_count * 2 : 1024;
    uint32_t *slots = malloc(slot_count * sizeof *slots);
    if (!slots)
        return -1;
    memset(slots, 0xFF, slot_count * sizeof *slots);
    free(m->slots);
    m->slots = slots;
    m->slot_count = slot_count;
    for (size_t i = 0; i < m->count; i++) {
        size_t mask = slot_count - 1, slot = m->nodes[i].hash & mask;
        while (slots[slot] != IMAGE_NONE)
            slot = (slot + 1) & mask;
        slots[slot] = (uint32_t)i;
    }
    return 0;
}

/* Slots for n names at once, so that filling the map rehashes nothing
 * (it stays at most half full, as build_map_intern keeps it). */
static int build_map_reserve(struct build_map *m, size_t n)
{
    size_t slot_count = 1024;
    while (slot_count / 2 < n && slot_count < ((size_t)1 << 31))
        slot_count *= 2;
    m->slot_count = slot_count / 2; /* build_map_grow doubles it */
    return build_map_grow(m);
}

/* Find or add the node for a lowercase name whose image_name_hash is hash;
 * returns its index or IMAGE_NONE on ENOMEM. */
static uint32_t build_map_intern_hashed(struct build_map *m, const uint8_t *name, size_t len,
                                        uint32_t hash)
{
    if ((m->count + 1) * 2 > m->slot_count && build_map_grow(m) < 0)
        return IMAGE_NONE;
    size_t slot;
    uint32_t i = build_map_probe(m, name, len, hash, &slot);
    if (i != IMAGE_NONE)
        return i;
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        struct build_node *p = realloc(m->nodes, cap * sizeof *p);
        if (!p)
            return IMAGE_NONE;
        m->nodes = p;
        m->cap = cap;
    }
    uint32_t offset = (uint32_t)m->names.len;
    if (growbuf_append(&m->names, name, len) < 0)
        return IMAGE_NONE;
    m->nodes[m->count] = (struct build_node){offset, (uint16_t)len, hash, IMAGE_NONE, IMAGE_NONE};
    m->slots[slot] = (uint32_t)m->count;
    return (uint32_t)m->count++;
}

static uint32_t build_map_intern(struct build_map *m, const uint8_t *name, size_t len)
{
    return build_map_intern_hashed(m, name, len, image_name_hash(name, len));
}

/* The same for a name in any case (it is lowercased on the way in). */
static uint32_t build_map_intern_any_case(struct build_map *m, const uint8_t *name, size_t len)
{
    uint8_t lower[WIRE_NAME_MAX];
    memcpy(lower, name, len);
    wire_name_lower(lower, len);
    return build_map_intern(m, lower, len);
}

static uint32_t build_map_lookup_hashed(const struct build_map *m, const uint8_t *name, size_t len,
                                        uint32_t hash)
{
    size_t slot;
    return build_map_probe(m, name, len, hash, &slot);
}

static uint32_t build_map_lookup(const struct build_map *m, const uint8_t *name, size_t len)
{
    return build_map_lookup_hashed(m, name, len, image_name_hash(name, len));
}

static void build_map_free(struct build_map *m)
{
    free(m->nodes);
    free(m->slots);
    free(m->names.data);
}

/* ---- the builder ---- */

/* One input RR placed at its node, for sorting into RRsets. */
struct build_rr {
    uint32_t node;
    uint16_t type;
    bool wildcard;
    uint32_t input; /* index into in->rrs */
};

/* What image_build assembles, step by step, before laying it out. Every
 * pointer is owned here and freed by builder_free. */
struct builder {
    const struct image_input *in;
    char *err;
    size_t err_len;

    struct build_map map; /* every node's name; NAMES grows with the rewrites' and forward zones' */
    size_t named;         /* map.nodes[0 .. named): the apexes and owners the input names */
    struct build_rr *rrs; /* in->rr_count of them */
    struct image_node *nodes;
    struct growbuf rrsets, rdata;
    struct image_zone *zones;
    struct image_rewrite *rewrites;
    size_t rewrite_count;
    struct image_upstream *upstreams;
    size_t upstream_total;
    struct image_forward_zone *forward_zones;
    struct cidr *acls;
    size_t acl_total;
    struct image_settings settings;
    uint32_t *node_slots, *rewrite_slots, *forward_slots;
    size_t node_slot_count, rewrite_slot_count, forward_slot_count;
};

static int build_oom(struct builder *b)
{
    return error_set(b->err, b->err_len, "out of memory");
}

static void builder_free(struct builder *b)
{
    free(b->node_slots);
    free(b->rewrite_slots);
    free(b->forward_slots);
    free(b->forward_zones);
    free(b->upstreams);
    free(b->acls);
    free(b->zones);
    free(b->rewrites);
    free(b->rrsets.data);
    free(b->rdata.data);
    free(b->nodes);
    free(b->rrs);
    build_map_free(&b->map);
}

/* The forwarding input is the caller's to get right; say which part is not. */
static int build_forwarding_check(const struct image_input *in, char *err, size_t err_len)
{
    uint64_t upstream_total = in->upstream_count;
    for (size_t i = 0; i < in->upstream_count; i++)
        if (!image_upstream_valid(&in->upstreams[i]))
            return error_set(err, err_len, "upstream %zu has an address family other than 4 or 6",
                             i);
    for (size_t i = 0; i < in->forward_zone_count; i++) {
        const struct image_input_forward_zone *fz = &in->forward_zones[i];
        if (!wire_name_valid(fz->name, fz->name_len))
            return error_set(err, err_len, "forward zone %zu has an invalid name", i);
        if (fz->upstream_count == 0)
            return error_set(err, err_len, "forward zone %zu has no servers", i);
        for (size_t k = 0; k < fz->upstream_count; k++)
            if (!image_upstream_valid(&fz->upstreams[k]))
                return error_set(
                    err, err_len,
                    "forward zone %zu: server %zu has an address family other than 4 or 6", i, k);
        upstream_total += fz->upstream_count;
    }
    if (upstream_total >= IMAGE_NONE || in->forward_zone_count >= IMAGE_NONE / 2)
        return error_set(err, err_len, "too many upstreams or forward zones");
    if (in->recursion_acl_count + (uint64_t)in->query_acl_count >= IMAGE_NONE)
        return error_set(err, err_len, "access lists too long");
    for (size_t i = 0; i < in->recursion_acl_count; i++)
        if (!image_cidr_valid(&in->recursion_acl[i]))
            return error_set(err, err_len, "allow_recursion entry %zu is not a valid prefix", i);
    for (size_t i = 0; i < in->query_acl_count; i++)
        if (!image_cidr_valid(&in->query_acl[i]))
            return error_set(err, err_len, "allow_query entry %zu is not a valid prefix", i);
    return 0;
}

/* ---- step 1: the names the input gives ---- */

/* Every zone apex, then every RR's owner, becomes a node. */
static int build_names(struct builder *b)
{
    const struct image_input *in = b->in;
    /* every owner may be a name of its own */
    size_t name_octets = 0;
    for (size_t z = 0; z < in->zone_count; z++)
        name_octets += in->zone_apex_lens[z];
    for (size_t i = 0; i < in->rr_count; i++)
        name_octets += in->rrs[i].owner_len;
    if (build_map_reserve(&b->map, in->rr_count + in->zone_count + 1) < 0 ||
        growbuf_reserve_exact(&b->map.names, name_octets) < 0)
        return build_oom(b);
    for (size_t z = 0; z < in->zone_count; z++) {
        uint32_t node =
            build_map_intern_any_case(&b->map, in->zone_apexes[z], in->zone_apex_lens[z]);
        if (node == IMAGE_NONE)
            return build_oom(b);
        if (b->map.nodes[node].apex_of != IMAGE_NONE)
            return error_set(b->err, b->err_len, "zone declared twice");
        b->map.nodes[node].apex_of = (uint32_t)z;
    }
    b->rrs = malloc((in->rr_count ? in->rr_count : 1) * sizeof *b->rrs);
    if (!b->rrs)
        return build_oom(b);
    for (size_t i = 0; i < in->rr_count; i++) {
        const struct image_input_rr *rr = &in->rrs[i];
        uint32_t node = build_map_intern_any_case(&b->map, rr->owner, rr->owner_len);
        if (node == IMAGE_NONE)
            return build_oom(b);
        b->rrs[i] = (struct build_rr){node, rr->type, rr->wildcard, (uint32_t)i};
    }
    b->named = b->map.count;
    return 0;
}

/* ---- step 2: zones, empty non-terminals, wildcard enclosers ---- */

/* Closest enclosing zone of a lowercase name: the longest suffix that is an apex. */
static uint32_t build_zone_of(const struct build_map *m, const uint8_t *name, size_t len)
{
    /* Every suffix's hash in one pass from the end (image_name_hash runs
     * backwards): a reverse name of 34 labels is hashed once, not 34 times. */
    uint8_t starts[WIRE_LABELS_MAX + 1];
    uint32_t hashes[WIRE_LABELS_MAX + 1];
    unsigned n = wire_name_labels(name, len, starts);
    starts[n] = (uint8_t)(len - 1); /* the root */
    image_name_suffix_hashes(name, len, starts, n + 1, hashes);
    for (unsigned i = 0; i <= n; i++) {
        size_t s = starts[i];
        uint32_t node = build_map_lookup_hashed(m, name + s, len - s, hashes[i]);
        if (node != IMAGE_NONE && m->nodes[node].apex_of != IMAGE_NONE)
            return m->nodes[node].apex_of;
    }
    return IMAGE_NONE;
}

/* The names between node i and its zone's apex (empty non-terminals)
 * become nodes of that zone. */
static int build_empty_non_terminals(struct build_map *m, size_t i)
{
    uint32_t zone = m->nodes[i].zone;
    if (zone == IMAGE_NONE || m->nodes[i].apex_of == zone)
        return 0;
    uint8_t name[WIRE_NAME_MAX], starts[WIRE_LABELS_MAX];
    uint32_t hashes[WIRE_LABELS_MAX];
    size_t len = m->nodes[i].name_len;
    memcpy(name, m->names.data + m->nodes[i].name_offset, len);
    unsigned n = wire_name_labels(name, len, starts);
    image_name_suffix_hashes(name, len, starts, n, hashes);
    for (unsigned k = 1; k < n; k++) {
        uint32_t node = build_map_intern_hashed(m, name + starts[k], len - starts[k], hashes[k]);
        if (node == IMAGE_NONE)
            return -1;
        if (m->nodes[node].apex_of == zone)
            break;
        m->nodes[node].zone = zone;
    }
    return 0;
}

/* Whether any of the first named nodes has a "*" label: most configs have none. */
static bool build_has_wildcard_label(const struct build_map *m, size_t named)
{
    for (size_t i = 0; i < named; i++) {
        const uint8_t *name = m->names.data + m->nodes[i].name_offset;
        for (size_t at = 0; name[at] != 0; at += 1u + name[at])
            if (name[at] == 1 && name[at + 1] == '*')
                return true;
    }
    return false;
}

/* RFC 4592 §3.3.1: a wildcard "*.w" answers a missing name below w only
 * when no name exists between them, empty non-terminals included. Between
 * a name and its zone's apex those are nodes already; above an apex or
 * outside every zone they are not: add them for each configured name (the
 * first named nodes), up to the highest w above it that has a "*" child. */
static int build_wildcard_enclosers(struct build_map *m, size_t named)
{
    if (!build_has_wildcard_label(m, named))
        return 0;
    for (size_t i = 0; i < named; i++) {
        uint8_t name[WIRE_NAME_MAX], starts[WIRE_LABELS_MAX + 1], star[WIRE_NAME_MAX];
        uint32_t hashes[WIRE_LABELS_MAX + 1];
        size_t len = m->nodes[i].name_len;
        memcpy(name, m->names.data + m->nodes[i].name_offset, len);
        unsigned n = wire_name_labels(name, len, starts);
        starts[n] = (uint8_t)(len - 1); /* the root */
        image_name_suffix_hashes(name, len, starts, n + 1, hashes);
        unsigned top = 0; /* the highest suffix with a "*" child; 0: none */
        for (unsigned k = n; k >= 1 && top == 0; k--) {
            size_t s = starts[k];
            size_t star_len = image_wildcard_name(star, name + s, len - s);
            /* the name's own "*" label counts: its parent exists as it does */
            if (image_wildcard_owner(name + starts[k - 1], len - starts[k - 1]) ||
                (star_len && build_map_lookup_hashed(m, star, star_len,
                                                     image_wildcard_hash(hashes[k])) != IMAGE_NONE))
                top = k;
        }
        for (unsigned k = 1; k <= top; k++) {
            size_t s = starts[k], before = m->count;
            uint32_t node = build_map_intern_hashed(m, name + s, len - s, hashes[k]);
            if (node == IMAGE_NONE)
                return -1;
            if (m->count > before) /* above a child zone's apex, say */
                m->nodes[node].zone = build_zone_of(m, name + s, len - s);
        }
    }
    return 0;
}

static int build_tree(struct builder *b)
{
    struct build_map *m = &b->map;
    for (size_t i = 0; i < b->named; i++)
        m->nodes[i].zone =
            build_zone_of(m, m->names.data + m->nodes[i].name_offset, m->nodes[i].name_len);
    for (size_t i = 0; i < b->named; i++)
        if (build_empty_non_terminals(m, i) < 0)
            return build_oom(b);
    if (build_wildcard_enclosers(m, b->named) < 0)
        return build_oom(b);
    if (m->count >= IMAGE_NONE)
        return error_set(b->err, b->err_len, "too many names");
    return 0;
}

/* ---- step 3: nodes and their RRsets ---- */

/* By node, then own RRsets before wildcard ones, then type, then RDATA
 * (so duplicates sit side by side), then input order. */
static int build_rr_compare(const void *a, const void *b, void *context)
{
    const struct image_input *in = context;
    const struct build_rr *x = a, *y = b;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    if (x->wildcard != y->wildcard)
        return x->wildcard ? 1 : -1;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    const struct image_input_rr *rx = &in->rrs[x->input], *ry = &in->rrs[y->input];
    size_t n = rx->rdata_len < ry->rdata_len ? rx->rdata_len : ry->rdata_len;
    int c = memcmp(rx->rdata, ry->rdata, n);
    if (c)
        return c;
    if (rx->rdata_len != ry->rdata_len)
        return rx->rdata_len < ry->rdata_len ? -1 : 1;
    return x->input < y->input ? -1 : (x->input > y->input);
}

static bool build_rr_same_rrset(const struct build_rr *x, const struct build_rr *y)
{
    return x->node == y->node && x->wildcard == y->wildcard && x->type == y->type;
}

/* The sorted RRs from first on that make one RRset, into RDATA: set gets
 * their count, smallest TTL (RFC 2181 §5.2) and place; *end the index past
 * them. */
static int build_rrset_merge(struct builder *b, size_t first, size_t *end, struct image_rrset *set)
{
    const struct image_input *in = b->in;
    *set = (struct image_rrset){
        .type = b->rrs[first].type, .ttl = UINT32_MAX, .rdata_offset = (uint32_t)b->rdata.len};
    const struct image_input_rr *prev = NULL;
    size_t j = first;
    for (; j < in->rr_count && build_rr_same_rrset(&b->rrs[j], &b->rrs[first]); j++) {
        const struct image_input_rr *rr = &in->rrs[b->rrs[j].input];
        if (rr->ttl < set->ttl)
            set->ttl = rr->ttl;
        if (prev && prev->rdata_len == rr->rdata_len &&
            memcmp(prev->rdata, rr->rdata, rr->rdata_len) == 0)
            continue; /* RFC 2181 §5: an RRset holds no duplicates */
        if (set->rr_count == UINT16_MAX)
            return error_set(b->err, b->err_len, "an RRset has more than 65535 records");
        uint8_t rdlength[2] = {(uint8_t)rr->rdata_len, (uint8_t)(rr->rdata_len >> 8)};
        if (growbuf_append(&b->rdata, rdlength, 2) < 0 ||
            growbuf_append(&b->rdata, rr->rdata, rr->rdata_len) < 0)
            return build_oom(b);
        set->rr_count++;
        prev = rr;
    }
    if (b->rdata.len >= IMAGE_NONE)
        return error_set(b->err, b->err_len, "record data larger than 4 GiB");
    set->rdata_len = (uint32_t)b->rdata.len - set->rdata_offset;
    *end = j;
    return 0;
}

/* RRsets: sorted by node, then own before wildcard, then type. */
static int build_rrsets(struct builder *b)
{
    const struct image_input *in = b->in;
    const struct build_map *m = &b->map;
    b->nodes = calloc(m->count ? m->count : 1, sizeof *b->nodes);
    if (!b->nodes)
        return build_oom(b);
    for (size_t i = 0; i < m->count; i++)
        b->nodes[i] = (struct image_node){.name_offset = m->nodes[i].name_offset,
                                          .name_len = m->nodes[i].name_len,
                                          .hash = m->nodes[i].hash,
                                          .zone = m->nodes[i].zone,
                                          .rrset_first = 0};

    /* A node is marked synthesized or automatic only when all its RRs
     * are: one configured RR makes it the operator's. */
    const uint16_t seen = 0x8000; /* not a node flag: only while this runs */
    for (size_t i = 0; i < in->rr_count; i++) {
        uint16_t made = in->rrs[i].node_flags & (IMAGE_NODE_SYNTHESIZED | IMAGE_NODE_AUTO_PTR);
        struct image_node *node = &b->nodes[b->rrs[i].node];
        node->flags = (node->flags & seen) ? node->flags & (made | seen) : made | seen;
    }
    for (size_t i = 0; i < m->count; i++)
        b->nodes[i].flags &= (uint16_t)~seen;

    qsort_r(b->rrs, in->rr_count, sizeof *b->rrs, build_rr_compare, (void *)in);
    /* At most one RRset per RR, and each RR's RDATA with its length. */
    size_t rdata_octets = 0;
    for (size_t i = 0; i < in->rr_count; i++)
        rdata_octets += 2 + (size_t)in->rrs[i].rdata_len;
    if (growbuf_reserve_exact(&b->rrsets, in->rr_count * sizeof(struct image_rrset)) < 0 ||
        growbuf_reserve_exact(&b->rdata, rdata_octets) < 0)
        return build_oom(b);
    uint32_t rrset_total = 0;
    for (size_t i = 0, next = 0; i < in->rr_count; i = next) {
        struct image_rrset set;
        if (build_rrset_merge(b, i, &next, &set) < 0)
            return -1;
        struct image_node *node = &b->nodes[b->rrs[i].node];
        if (node->rrset_count == 0 && node->wildcard_count == 0)
            node->rrset_first = rrset_total;
        if (b->rrs[i].wildcard) {
            node->wildcard_count++;
            node->flags |= IMAGE_NODE_WILDCARD;
        } else {
            node->rrset_count++;
        }
        if (growbuf_append(&b->rrsets, &set, sizeof set) < 0)
            return build_oom(b);
        rrset_total++;
    }
    return 0;
}

/* ---- step 4: zones ---- */

/* Each zone's apex must hold exactly one SOA; its negative TTL follows. */
static int build_zones(struct builder *b)
{
    const struct image_input *in = b->in;
    b->zones = calloc(in->zone_count ? in->zone_count : 1, sizeof *b->zones);
    if (!b->zones)
        return build_oom(b);
    const struct image_rrset *all = (const struct image_rrset *)b->rrsets.data;
    for (size_t z = 0; z < in->zone_count; z++) {
        uint8_t lower[WIRE_NAME_MAX];
        memcpy(lower, in->zone_apexes[z], in->zone_apex_lens[z]);
        wire_name_lower(lower, in->zone_apex_lens[z]);
        uint32_t apex = build_map_lookup(&b->map, lower, in->zone_apex_lens[z]);
        const struct image_node *node = &b->nodes[apex];
        const struct image_rrset *soa = NULL;
        for (uint32_t k = 0; k < node->rrset_count; k++)
            if (all[node->rrset_first + k].type == WIRE_TYPE_SOA)
                soa = &all[node->rrset_first + k];
        if (!soa || soa->rr_count != 1)
            return error_set(b->err, b->err_len, "zone %zu has %s SOA record", z,
                             soa ? "more than one" : "no");
        const uint8_t *soa_rdata = b->rdata.data + soa->rdata_offset + 2;
        size_t soa_len = soa->rdata_len - 2;
        uint32_t minimum = soa_len >= 4 ? wire_get32(soa_rdata + soa_len - 4) : 0;
        /* RFC 2308 §3: min(SOA TTL, SOA minimum) */
        b->zones[z] =
            (struct image_zone){.apex_node = apex,
                                .soa_rrset = (uint32_t)(soa - all),
                                .negative_ttl = soa->ttl < minimum ? soa->ttl : minimum,
                                .flags = in->zone_flags ? in->zone_flags[z] & IMAGE_ZONE_FLAGS : 0};
    }
    return 0;
}

/* ---- step 5: rewrites ---- */

/* One entry per name, its flags (blocks and allowlist) merged; their names follow the
 * nodes' in NAMES. */
static int build_rewrites(struct builder *b)
{
    const struct image_input *in = b->in;
    if (in->rewrite_count == 0)
        return 0;
    struct build_map rewrite_map = {0};
    uint16_t *flags = calloc(in->rewrite_count, sizeof *flags);
    int rc = -1;
    if (!flags || build_map_grow(&rewrite_map) < 0)
        goto oom;
    for (size_t i = 0; i < in->rewrite_count; i++) {
        const struct image_input_rewrite *rw = &in->rewrites[i];
        uint32_t k = build_map_intern_any_case(&rewrite_map, rw->name, rw->name_len);
        if (k == IMAGE_NONE)
            goto oom;
        flags[k] |= rw->flags   ? (uint16_t)(rw->flags & IMAGE_REWRITE_FLAGS)
                    : rw->below ? IMAGE_REWRITE_BELOW
                                : IMAGE_REWRITE_EXACT;
    }
    b->rewrite_count = rewrite_map.count;
    b->rewrites = calloc(b->rewrite_count, sizeof *b->rewrites);
    if (!b->rewrites ||
        growbuf_append(&b->map.names, rewrite_map.names.data, rewrite_map.names.len) < 0)
        goto oom;
    uint32_t base = (uint32_t)(b->map.names.len - rewrite_map.names.len);
    for (size_t k = 0; k < b->rewrite_count; k++)
        b->rewrites[k] = (struct image_rewrite){base + rewrite_map.nodes[k].name_offset,
                                                rewrite_map.nodes[k].name_len, flags[k],
                                                rewrite_map.nodes[k].hash};
    rc = 0;
    goto out;
oom:
    build_oom(b);
out:
    build_map_free(&rewrite_map);
    free(flags);
    return rc;
}

/* ---- step 6: forwarding ---- */

/* The default upstreams, then each forward zone's, which points at its own
 * range; one entry per zone name, its name after the others in NAMES. */
static int build_forwarding(struct builder *b)
{
    const struct image_input *in = b->in;
    b->upstream_total = in->upstream_count;
    for (size_t i = 0; i < in->forward_zone_count; i++)
        b->upstream_total += in->forward_zones[i].upstream_count;
    b->upstreams = calloc(b->upstream_total + 1, sizeof *b->upstreams);
    b->forward_zones = calloc(in->forward_zone_count + 1, sizeof *b->forward_zones);
    if (!b->upstreams || !b->forward_zones)
        return build_oom(b);
    if (in->upstream_count)
        memcpy(b->upstreams, in->upstreams, in->upstream_count * sizeof *b->upstreams);
    if (in->forward_zone_count == 0)
        return 0;

    struct build_map forward_map = {0};
    int rc = -1;
    if (build_map_grow(&forward_map) < 0)
        goto oom;
    size_t upstream_at = in->upstream_count;
    for (size_t i = 0; i < in->forward_zone_count; i++) {
        const struct image_input_forward_zone *fz = &in->forward_zones[i];
        size_t before = forward_map.count;
        uint32_t k = build_map_intern_any_case(&forward_map, fz->name, fz->name_len);
        if (k == IMAGE_NONE)
            goto oom;
        if (forward_map.count == before) {
            error_set(b->err, b->err_len, "forward zone %zu is declared twice", i);
            goto out;
        }
        memcpy(b->upstreams + upstream_at, fz->upstreams,
               fz->upstream_count * sizeof *b->upstreams);
        b->forward_zones[k] = (struct image_forward_zone){
            .name_offset = (uint32_t)(b->map.names.len + forward_map.nodes[k].name_offset),
            .name_len = forward_map.nodes[k].name_len,
            .hash = forward_map.nodes[k].hash,
            .upstream_first = (uint32_t)upstream_at,
            .upstream_count = (uint32_t)fz->upstream_count};
        upstream_at += fz->upstream_count;
    }
    if (growbuf_append(&b->map.names, forward_map.names.data, forward_map.names.len) < 0)
        goto oom;
    rc = 0;
    goto out;
oom:
    build_oom(b);
out:
    build_map_free(&forward_map);
    return rc;
}

/* ---- step 7: access lists and settings ---- */

/* allow_recursion, then allow_query; the settings count them. */
static int build_access_lists(struct builder *b)
{
    const struct image_input *in = b->in;
    b->acl_total = in->recursion_acl_count + in->query_acl_count;
    b->acls = calloc(b->acl_total + 1, sizeof *b->acls);
    if (!b->acls)
        return build_oom(b);
    if (in->recursion_acl_count)
        memcpy(b->acls, in->recursion_acl, in->recursion_acl_count * sizeof *b->acls);
    if (in->query_acl_count)
        memcpy(b->acls + in->recursion_acl_count, in->query_acl,
               in->query_acl_count * sizeof *b->acls);

    b->settings = in->settings;
    b->settings.upstream_count = (uint32_t)in->upstream_count;
    b->settings.recursion_acl_count = (uint32_t)in->recursion_acl_count;
    b->settings.query_acl_count = (uint32_t)in->query_acl_count;
    return 0;
}

/* server.search_domain, lowercase, after the other names in NAMES. */
static int build_search_domain(struct builder *b)
{
    const struct image_input *in = b->in;
    b->settings.search_domain_offset = 0;
    b->settings.search_domain_len = 0;
    if (in->search_domain_len == 0)
        return 0;
    uint8_t lower[WIRE_NAME_MAX];
    memcpy(lower, in->search_domain, in->search_domain_len);
    wire_name_lower(lower, in->search_domain_len);
    b->settings.search_domain_offset = (uint32_t)b->map.names.len;
    b->settings.search_domain_len = in->search_domain_len;
    if (growbuf_append(&b->map.names, lower, in->search_domain_len) < 0)
        return build_oom(b);
    return 0;
}

/* ---- step 8: the hash indexes ---- */

static size_t next_power_of_two(size_t n)
{
    size_t p = 8;
    while (p < n)
        p *= 2;
    return p;
}

/* Fill an index of slot_count slots for entries with the shared prefix. */
static void index_fill(uint32_t *slots, size_t slot_count, const void *entries, size_t entry_size,
                       size_t count)
{
    memset(slots, 0xFF, slot_count * sizeof *slots);
    for (size_t i = 0; i < count; i++) {
        const struct image_rewrite *e =
            (const struct image_rewrite *)((const uint8_t *)entries + i * entry_size);
        size_t slot = e->hash & (slot_count - 1);
        while (slots[slot] != IMAGE_NONE)
            slot = (slot + 1) & (slot_count - 1);
        slots[slot] = (uint32_t)i;
    }
}

/* Open addressing at most half full, so that every probe ends. */
static int build_indexes(struct builder *b)
{
    if (b->map.names.len >= IMAGE_NONE)
        return error_set(b->err, b->err_len, "names larger than 4 GiB");
    size_t forward_count = b->in->forward_zone_count;
    b->node_slot_count = next_power_of_two(b->map.count * 2 + 1);
    b->rewrite_slot_count = next_power_of_two(b->rewrite_count * 2 + 1);
    b->forward_slot_count = next_power_of_two(forward_count * 2 + 1);
    b->node_slots = malloc(b->node_slot_count * sizeof *b->node_slots);
    b->rewrite_slots = malloc(b->rewrite_slot_count * sizeof *b->rewrite_slots);
    b->forward_slots = malloc(b->forward_slot_count * sizeof *b->forward_slots);
    if (!b->node_slots || !b->rewrite_slots || !b->forward_slots)
        return build_oom(b);
    index_fill(b->node_slots, b->node_slot_count, b->nodes, sizeof *b->nodes, b->map.count);
    index_fill(b->rewrite_slots, b->rewrite_slot_count, b->rewrites, sizeof *b->rewrites,
               b->rewrite_count);
    index_fill(b->forward_slots, b->forward_slot_count, b->forward_zones, sizeof *b->forward_zones,
               forward_count);
    return 0;
}

/* ---- step 9: the file ---- */

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* The header, then every section 8-aligned in image_section_type order;
 * the content hash last. */
static int build_layout(struct builder *b, uint8_t **out, size_t *out_len)
{
    const struct image_input *in = b->in;
    /* Each part with the pointer that owns it (NULL: not malloc'd). */
    struct {
        void **owner;
        const void *data;
        size_t size, entry_size;
    } parts[IMAGE_SECTION_COUNT_] = {
        {NULL, &b->settings, sizeof b->settings, sizeof b->settings},
        {(void **)&b->zones, b->zones, in->zone_count * sizeof *b->zones, sizeof *b->zones},
        {(void **)&b->nodes, b->nodes, b->map.count * sizeof *b->nodes, sizeof *b->nodes},
        {(void **)&b->node_slots, b->node_slots, b->node_slot_count * sizeof *b->node_slots,
         sizeof *b->node_slots},
        {(void **)&b->rrsets.data, b->rrsets.data, b->rrsets.len, sizeof(struct image_rrset)},
        {(void **)&b->rdata.data, b->rdata.data, b->rdata.len, 1},
        {(void **)&b->map.names.data, b->map.names.data, b->map.names.len, 1},
        {(void **)&b->rewrites, b->rewrites, b->rewrite_count * sizeof *b->rewrites,
         sizeof *b->rewrites},
        {(void **)&b->rewrite_slots, b->rewrite_slots,
         b->rewrite_slot_count * sizeof *b->rewrite_slots, sizeof *b->rewrite_slots},
        {(void **)&b->upstreams, b->upstreams, b->upstream_total * sizeof *b->upstreams,
         sizeof *b->upstreams},
        {(void **)&b->forward_zones, b->forward_zones,
         in->forward_zone_count * sizeof *b->forward_zones, sizeof *b->forward_zones},
        {(void **)&b->forward_slots, b->forward_slots,
         b->forward_slot_count * sizeof *b->forward_slots, sizeof *b->forward_slots},
        {(void **)&b->acls, b->acls, b->acl_total * sizeof *b->acls, sizeof *b->acls},
    };
    size_t total = align8(sizeof(struct image_header));
    for (int s = 0; s < IMAGE_SECTION_COUNT_; s++)
        total = align8(total + parts[s].size);
    /* The name map's nodes and slots were copied into b->nodes and the
     * index, and the sorted RRs into RRsets; only the map's names go into
     * the image. */
    free(b->map.nodes);
    free(b->map.slots);
    free(b->rrs);
    b->map.nodes = NULL;
    b->map.slots = NULL;
    b->rrs = NULL;
    /* A large calloc is fresh zero pages that take memory only as they are
     * written; each part is freed once copied, so the whole image and all
     * its parts are never held at once (a million records: about one
     * image less at the peak). */
    uint8_t *buf = calloc(1, total);
    if (!buf)
        return build_oom(b);
    struct image_header *h = (struct image_header *)buf;
    memcpy(h->magic, IMAGE_MAGIC, sizeof h->magic);
    h->format_version = IMAGE_FORMAT_VERSION;
    h->header_size = sizeof *h;
    h->file_size = total;
    h->config_version = in->config_version;
    h->created_unix = (uint64_t)time(NULL);
    h->section_count = IMAGE_SECTION_COUNT_;
    size_t at = align8(sizeof *h);
    for (int s = 0; s < IMAGE_SECTION_COUNT_; s++) {
        h->sections[s] = (struct image_section){(uint32_t)(s + 1), (uint32_t)parts[s].entry_size,
                                                at, parts[s].size};
        if (parts[s].size)
            memcpy(buf + at, parts[s].data, parts[s].size);
        if (parts[s].owner) {
            free(*parts[s].owner);
            *parts[s].owner = NULL;
        }
        at = align8(at + parts[s].size);
    }
    image_content_hash(buf, total, h->hash);
    *out = buf;
    *out_len = total;
    return 0;
}

/* ---- image_build ---- */

/* In order: each step builds on the ones before it. */
static int (*const BUILD_STEPS[])(struct builder *) = {
    build_names,      build_tree,         build_rrsets,        build_zones,   build_rewrites,
    build_forwarding, build_access_lists, build_search_domain, build_indexes,
};

int image_build(const struct image_input *in, uint8_t **out, size_t *out_len, char *err,
                size_t err_len)
{
    if (sodium_init() < 0)
        return error_set(err, err_len, "libsodium failed to initialise");
    if (in->rr_count >= IMAGE_NONE || in->zone_count >= IMAGE_NONE)
        return error_set(err, err_len, "too many records");
    if (build_forwarding_check(in, err, err_len) < 0)
        return -1;
    if (in->search_domain_len > 0 && !wire_name_valid(in->search_domain, in->search_domain_len))
        return error_set(err, err_len, "the search domain is not a valid name");
    struct builder b = {.in = in, .err = err, .err_len = err_len};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof BUILD_STEPS / sizeof BUILD_STEPS[0]; i++)
        rc = BUILD_STEPS[i](&b);
    if (rc == 0)
        rc = build_layout(&b, out, out_len);
    builder_free(&b);
    return rc;
}
