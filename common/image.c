/* Zone image writer and reader; the layout is described in image.h. */
#include "image.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- names and hashing ---- */

#define HASH_BASIS 2166136261u
#define HASH_PRIME 16777619u

uint32_t image_name_hash(const uint8_t *name, size_t len)
{
    uint32_t h = HASH_BASIS;
    for (size_t i = len; i > 0; i--)
        h = (h ^ name[i - 1]) * HASH_PRIME;
    return h;
}

void image_name_suffix_hashes(const uint8_t *name, size_t len, const uint8_t *starts, unsigned n,
                              uint32_t *hashes)
{
    uint32_t h = HASH_BASIS;
    size_t i = len;
    for (unsigned k = n; k > 0; k--) {
        size_t start = starts[k - 1];
        for (; i > start; i--)
            h = (h ^ name[i - 1]) * HASH_PRIME;
        hashes[k - 1] = h;
    }
}

/* Probe an open-addressing table whose entries each start with
 * (u32 name_offset, u16 name_len, u16 flags, u32 hash). */
static const void *table_find(const uint32_t *index, uint32_t mask, const void *entries,
                              size_t entry_size, const uint8_t *names, const uint8_t *name,
                              size_t len, uint32_t hash)
{
    for (uint32_t slot = hash & mask;; slot = (slot + 1) & mask) {
        uint32_t i = index[slot];
        if (i == IMAGE_NONE)
            return NULL;
        const struct image_rewrite *e =
            (const struct image_rewrite *)((const uint8_t *)entries + (size_t)i * entry_size);
        if (e->hash == hash && e->name_len == len && memcmp(names + e->name_offset, name, len) == 0)
            return e;
    }
}

_Static_assert(offsetof(struct image_node, name_offset) ==
                       offsetof(struct image_rewrite, name_offset) &&
                   offsetof(struct image_node, name_len) ==
                       offsetof(struct image_rewrite, name_len) &&
                   offsetof(struct image_node, hash) == offsetof(struct image_rewrite, hash),
               "nodes and rewrites share the table entry prefix");
_Static_assert(offsetof(struct image_forward_zone, name_offset) ==
                       offsetof(struct image_rewrite, name_offset) &&
                   offsetof(struct image_forward_zone, name_len) ==
                       offsetof(struct image_rewrite, name_len) &&
                   offsetof(struct image_forward_zone, hash) ==
                       offsetof(struct image_rewrite, hash),
               "forward zones and rewrites share the table entry prefix");

const struct image_node *image_find_node(const struct image *img, const uint8_t *name, size_t len,
                                         uint32_t hash)
{
    return table_find(img->node_index, img->node_index_mask, img->nodes, sizeof(struct image_node),
                      img->names, name, len, hash);
}

/* "*." + name into out (WIRE_NAME_MAX octets): its length, or 0 when it
 * would be too long a name. */
static size_t wildcard_name(uint8_t *out, const uint8_t *name, size_t len)
{
    if (len + 2 > WIRE_NAME_MAX)
        return 0;
    out[0] = 1;
    out[1] = '*';
    memcpy(out + 2, name, len);
    return len + 2;
}

/* True when the name's first label is "*". */
static bool wildcard_owner(const uint8_t *name, size_t len)
{
    return len > 2 && name[0] == 1 && name[1] == '*';
}

const struct image_node *image_find_wildcard(const struct image *img, const uint8_t *name,
                                             size_t len, uint32_t hash)
{
    uint8_t star[WIRE_NAME_MAX];
    size_t star_len = wildcard_name(star, name, len);
    if (star_len == 0)
        return NULL;
    /* image_name_hash runs from the last octet back: two more steps. */
    hash = (hash ^ '*') * HASH_PRIME;
    hash = (hash ^ 1u) * HASH_PRIME;
    return image_find_node(img, star, star_len, hash);
}

const struct image_rewrite *image_find_rewrite(const struct image *img, const uint8_t *name,
                                               size_t len, uint32_t hash)
{
    if (img->rewrite_count == 0)
        return NULL;
    return table_find(img->rewrite_index, img->rewrite_index_mask, img->rewrites,
                      sizeof(struct image_rewrite), img->names, name, len, hash);
}

const struct image_forward_zone *
image_find_forward_zone(const struct image *img, const uint8_t *name, size_t len, uint32_t hash)
{
    if (img->forward_zone_count == 0)
        return NULL;
    return table_find(img->forward_index, img->forward_index_mask, img->forward_zones,
                      sizeof(struct image_forward_zone), img->names, name, len, hash);
}

bool image_recursion_allowed(const struct image *img, const struct sockaddr *client)
{
    return cidr_list_match(img->acls, img->settings->recursion_acl_count, client);
}

bool image_query_allowed(const struct image *img, const struct sockaddr *client)
{
    uint32_t count = img->settings->query_acl_count;
    if (count == 0)
        return true; /* no allow_query: everyone */
    return cidr_list_match(img->acls + img->settings->recursion_acl_count, count, client);
}

const struct image_rrset *image_node_rrset(const struct image *img, const struct image_node *node,
                                           uint16_t type, bool wildcard)
{
    uint32_t first = node->rrset_first + (wildcard ? node->rrset_count : 0);
    uint32_t count = wildcard ? node->wildcard_count : node->rrset_count;
    for (uint32_t i = 0; i < count; i++) {
        const struct image_rrset *rrset = &img->rrsets[first + i];
        if (rrset->type == type)
            return rrset;
    }
    return NULL;
}

/* ---- building ---- */

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

static int growbuf_append(struct growbuf *b, const void *data, size_t len)
{
    if (growbuf_reserve(b, len) < 0)
        return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

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

/* Find or add the node for a lowercase name; returns its index or IMAGE_NONE on ENOMEM. */
static uint32_t build_map_intern(struct build_map *m, const uint8_t *name, size_t len)
{
    if ((m->count + 1) * 2 > m->slot_count && build_map_grow(m) < 0)
        return IMAGE_NONE;
    uint32_t hash = image_name_hash(name, len);
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

static uint32_t build_map_lookup(const struct build_map *m, const uint8_t *name, size_t len)
{
    size_t slot;
    return build_map_probe(m, name, len, image_name_hash(name, len), &slot);
}

static void build_map_free(struct build_map *m)
{
    free(m->nodes);
    free(m->slots);
    free(m->names.data);
}

/* One input RR placed at its node, for sorting into RRsets. */
struct build_rr {
    uint32_t node;
    uint16_t type;
    bool wildcard;
    uint32_t input; /* index into in->rrs */
};

static const struct image_input *sort_input; /* qsort has no context argument in C11 */

static int build_rr_compare(const void *a, const void *b)
{
    const struct build_rr *x = a, *y = b;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    if (x->wildcard != y->wildcard)
        return x->wildcard ? 1 : -1;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    const struct image_input_rr *rx = &sort_input->rrs[x->input], *ry = &sort_input->rrs[y->input];
    size_t n = rx->rdata_len < ry->rdata_len ? rx->rdata_len : ry->rdata_len;
    int c = memcmp(rx->rdata, ry->rdata, n);
    if (c)
        return c;
    if (rx->rdata_len != ry->rdata_len)
        return rx->rdata_len < ry->rdata_len ? -1 : 1;
    return x->input < y->input ? -1 : (x->input > y->input);
}

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

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static void image_hash_compute(const uint8_t *buf, size_t len, uint8_t out[32])
{
    static const uint8_t zeros[32];
    size_t at = offsetof(struct image_header, hash);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, buf, at);
    crypto_generichash_update(&st, zeros, sizeof zeros);
    crypto_generichash_update(&st, buf + at + 32, len - at - 32);
    crypto_generichash_final(&st, out, 32);
}

/* Closest enclosing zone of a lowercase name: the longest suffix that is an apex. */
static uint32_t build_zone_of(const struct build_map *m, const uint8_t *name, size_t len)
{
    uint8_t starts[WIRE_LABELS_MAX];
    unsigned n = wire_name_labels(name, len, starts);
    for (unsigned i = 0; i <= n; i++) {
        size_t s = i < n ? starts[i] : len - 1;
        uint32_t node = build_map_lookup(m, name + s, len - s);
        if (node != IMAGE_NONE && m->nodes[node].apex_of != IMAGE_NONE)
            return m->nodes[node].apex_of;
    }
    return IMAGE_NONE;
}

/* RFC 4592 §3.3.1: a wildcard "*.w" answers a missing name below w only
 * when no name exists between them, empty non-terminals included. Between
 * a name and its zone's apex those are nodes already; above an apex or
 * outside every zone they are not: add them for each configured name (the
 * first named nodes), up to the highest w above it that has a "*" child. */
static int build_wildcard_enclosers(struct build_map *m, size_t named)
{
    bool any = false; /* a "*" label anywhere: most configs have none */
    for (size_t i = 0; i < named && !any; i++) {
        const uint8_t *name = m->names.data + m->nodes[i].name_offset;
        for (size_t at = 0; name[at] != 0 && !any; at += 1u + name[at])
            any = name[at] == 1 && name[at + 1] == '*';
    }
    if (!any)
        return 0;
    for (size_t i = 0; i < named; i++) {
        uint8_t name[WIRE_NAME_MAX], starts[WIRE_LABELS_MAX], star[WIRE_NAME_MAX];
        size_t len = m->nodes[i].name_len;
        memcpy(name, m->names.data + m->nodes[i].name_offset, len);
        unsigned n = wire_name_labels(name, len, starts);
        unsigned top = 0; /* the highest suffix with a "*" child; 0: none */
        for (unsigned k = n; k >= 1 && top == 0; k--) {
            size_t s = k < n ? starts[k] : len - 1;
            size_t star_len = wildcard_name(star, name + s, len - s);
            /* the name's own "*" label counts: its parent exists as it does */
            if (wildcard_owner(name + starts[k - 1], len - starts[k - 1]) ||
                (star_len && build_map_lookup(m, star, star_len) != IMAGE_NONE))
                top = k;
        }
        for (unsigned k = 1; k <= top; k++) {
            size_t s = k < n ? starts[k] : len - 1, before = m->count;
            uint32_t node = build_map_intern(m, name + s, len - s);
            if (node == IMAGE_NONE)
                return -1;
            if (m->count > before) /* above a child zone's apex, say */
                m->nodes[node].zone = build_zone_of(m, name + s, len - s);
        }
    }
    return 0;
}

static bool upstream_valid(const struct image_upstream *u)
{
    return u->family == 4 || u->family == 6;
}

static bool cidr_valid(const struct cidr *c)
{
    return (c->family == 4 && c->prefix_len <= 32) || (c->family == 6 && c->prefix_len <= 128);
}

/* The forwarding input is the caller's to get right; say which part is not. */
static int build_forwarding_check(const struct image_input *in, char *err, size_t err_len)
{
    uint64_t upstream_total = in->upstream_count;
    for (size_t i = 0; i < in->upstream_count; i++)
        if (!upstream_valid(&in->upstreams[i]))
            return error_set(err, err_len, "upstream %zu has an address family other than 4 or 6",
                             i);
    for (size_t i = 0; i < in->forward_zone_count; i++) {
        const struct image_input_forward_zone *fz = &in->forward_zones[i];
        if (!wire_name_valid(fz->name, fz->name_len))
            return error_set(err, err_len, "forward zone %zu has an invalid name", i);
        if (fz->upstream_count == 0)
            return error_set(err, err_len, "forward zone %zu has no servers", i);
        for (size_t k = 0; k < fz->upstream_count; k++)
            if (!upstream_valid(&fz->upstreams[k]))
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
        if (!cidr_valid(&in->recursion_acl[i]))
            return error_set(err, err_len, "allow_recursion entry %zu is not a valid prefix", i);
    for (size_t i = 0; i < in->query_acl_count; i++)
        if (!cidr_valid(&in->query_acl[i]))
            return error_set(err, err_len, "allow_query entry %zu is not a valid prefix", i);
    return 0;
}

int image_build(const struct image_input *in, uint8_t **out, size_t *out_len, char *err,
                size_t err_len)
{
    struct build_map map = {0};
    struct build_rr *rrs = NULL;
    struct image_node *nodes = NULL;
    struct growbuf rrsets = {0}, rdata = {0};
    struct image_rewrite *rewrites = NULL;
    struct image_zone *zones = NULL;
    uint32_t *node_slots = NULL, *rewrite_slots = NULL, *forward_slots = NULL;
    struct image_forward_zone *forward_zones = NULL;
    struct image_upstream *upstreams = NULL;
    struct cidr *acls = NULL;
    uint8_t *buf = NULL;
    int rc = -1;
    uint8_t lower[WIRE_NAME_MAX];

    if (sodium_init() < 0)
        return error_set(err, err_len, "libsodium failed to initialise");
    if (in->rr_count >= IMAGE_NONE || in->zone_count >= IMAGE_NONE)
        return error_set(err, err_len, "too many records");
    if (build_forwarding_check(in, err, err_len) < 0)
        return -1;
    if (build_map_grow(&map) < 0)
        goto oom;

    for (size_t z = 0; z < in->zone_count; z++) {
        memcpy(lower, in->zone_apexes[z], in->zone_apex_lens[z]);
        wire_name_lower(lower, in->zone_apex_lens[z]);
        uint32_t node = build_map_intern(&map, lower, in->zone_apex_lens[z]);
        if (node == IMAGE_NONE)
            goto oom;
        if (map.nodes[node].apex_of != IMAGE_NONE) {
            error_set(err, err_len, "zone declared twice");
            goto out;
        }
        map.nodes[node].apex_of = (uint32_t)z;
    }

    rrs = malloc((in->rr_count ? in->rr_count : 1) * sizeof *rrs);
    if (!rrs)
        goto oom;
    for (size_t i = 0; i < in->rr_count; i++) {
        const struct image_input_rr *rr = &in->rrs[i];
        memcpy(lower, rr->owner, rr->owner_len);
        wire_name_lower(lower, rr->owner_len);
        uint32_t node = build_map_intern(&map, lower, rr->owner_len);
        if (node == IMAGE_NONE)
            goto oom;
        rrs[i] = (struct build_rr){node, rr->type, rr->wildcard, (uint32_t)i};
    }

    /* Zones, then the empty non-terminals between each name and its apex. */
    size_t named = map.count;
    for (size_t i = 0; i < named; i++) {
        const uint8_t *name = map.names.data + map.nodes[i].name_offset;
        map.nodes[i].zone = build_zone_of(&map, name, map.nodes[i].name_len);
    }
    for (size_t i = 0; i < named; i++) {
        uint32_t zone = map.nodes[i].zone;
        if (zone == IMAGE_NONE || map.nodes[i].apex_of == zone)
            continue;
        uint8_t name[WIRE_NAME_MAX], starts[WIRE_LABELS_MAX];
        size_t len = map.nodes[i].name_len;
        memcpy(name, map.names.data + map.nodes[i].name_offset, len);
        unsigned n = wire_name_labels(name, len, starts);
        for (unsigned k = 1; k < n; k++) {
            uint32_t node = build_map_intern(&map, name + starts[k], len - starts[k]);
            if (node == IMAGE_NONE)
                goto oom;
            if (map.nodes[node].apex_of == zone)
                break;
            map.nodes[node].zone = zone;
        }
    }
    if (build_wildcard_enclosers(&map, named) < 0)
        goto oom;
    if (map.count >= IMAGE_NONE) {
        error_set(err, err_len, "too many names");
        goto out;
    }

    nodes = calloc(map.count ? map.count : 1, sizeof *nodes);
    if (!nodes)
        goto oom;
    for (size_t i = 0; i < map.count; i++) {
        nodes[i] = (struct image_node){.name_offset = map.nodes[i].name_offset,
                                       .name_len = map.nodes[i].name_len,
                                       .hash = map.nodes[i].hash,
                                       .zone = map.nodes[i].zone,
                                       .rrset_first = 0};
    }

    /* RRsets: sorted by node, then own before wildcard, then type. */
    sort_input = in;
    qsort(rrs, in->rr_count, sizeof *rrs, build_rr_compare);
    uint32_t rrset_total = 0;
    for (size_t i = 0; i < in->rr_count;) {
        size_t j = i;
        struct image_rrset set = {
            .type = rrs[i].type, .ttl = UINT32_MAX, .rdata_offset = (uint32_t)rdata.len};
        const struct image_input_rr *prev = NULL;
        for (; j < in->rr_count && rrs[j].node == rrs[i].node &&
               rrs[j].wildcard == rrs[i].wildcard && rrs[j].type == rrs[i].type;
             j++) {
            const struct image_input_rr *rr = &in->rrs[rrs[j].input];
            if (rr->ttl < set.ttl)
                set.ttl = rr->ttl;
            if (prev && prev->rdata_len == rr->rdata_len &&
                memcmp(prev->rdata, rr->rdata, rr->rdata_len) == 0)
                continue; /* RFC 2181 §5: an RRset holds no duplicates */
            if (set.rr_count == UINT16_MAX) {
                error_set(err, err_len, "an RRset has more than 65535 records");
                goto out;
            }
            uint8_t rdlength[2] = {(uint8_t)rr->rdata_len, (uint8_t)(rr->rdata_len >> 8)};
            if (growbuf_append(&rdata, rdlength, 2) < 0 ||
                growbuf_append(&rdata, rr->rdata, rr->rdata_len) < 0)
                goto oom;
            set.rr_count++;
            prev = rr;
        }
        if (rdata.len >= IMAGE_NONE) {
            error_set(err, err_len, "record data larger than 4 GiB");
            goto out;
        }
        set.rdata_len = (uint32_t)rdata.len - set.rdata_offset;
        struct image_node *node = &nodes[rrs[i].node];
        if (node->rrset_count == 0 && node->wildcard_count == 0)
            node->rrset_first = rrset_total;
        if (rrs[i].wildcard) {
            node->wildcard_count++;
            node->flags |= IMAGE_NODE_WILDCARD;
        } else {
            node->rrset_count++;
        }
        if (growbuf_append(&rrsets, &set, sizeof set) < 0)
            goto oom;
        rrset_total++;
        i = j;
    }

    zones = calloc(in->zone_count ? in->zone_count : 1, sizeof *zones);
    if (!zones)
        goto oom;
    for (size_t z = 0; z < in->zone_count; z++) {
        memcpy(lower, in->zone_apexes[z], in->zone_apex_lens[z]);
        wire_name_lower(lower, in->zone_apex_lens[z]);
        uint32_t apex = build_map_lookup(&map, lower, in->zone_apex_lens[z]);
        struct image_node *node = &nodes[apex];
        const struct image_rrset *all = (const struct image_rrset *)rrsets.data;
        const struct image_rrset *soa = NULL;
        for (uint32_t k = 0; k < node->rrset_count; k++)
            if (all[node->rrset_first + k].type == WIRE_TYPE_SOA)
                soa = &all[node->rrset_first + k];
        if (!soa || soa->rr_count != 1) {
            error_set(err, err_len, "zone %zu has %s SOA record", z, soa ? "more than one" : "no");
            goto out;
        }
        const uint8_t *soa_rdata = rdata.data + soa->rdata_offset + 2;
        size_t soa_len = soa->rdata_len - 2;
        uint32_t minimum = soa_len >= 4 ? wire_get32(soa_rdata + soa_len - 4) : 0;
        zones[z] = (struct image_zone){.apex_node = apex,
                                       .soa_rrset = (uint32_t)(soa - all),
                                       .negative_ttl = soa->ttl < minimum ? soa->ttl : minimum};
    }

    /* Rewrites: one entry per name, EXACT and BELOW flags merged. */
    size_t rewrite_count = 0;
    struct build_map rewrite_map = {0};
    uint16_t *rewrite_flags = NULL;
    if (in->rewrite_count) {
        if (build_map_grow(&rewrite_map) < 0 ||
            !(rewrite_flags = calloc(in->rewrite_count, sizeof *rewrite_flags))) {
            build_map_free(&rewrite_map);
            free(rewrite_flags);
            goto oom;
        }
        for (size_t i = 0; i < in->rewrite_count; i++) {
            const struct image_input_rewrite *rw = &in->rewrites[i];
            memcpy(lower, rw->name, rw->name_len);
            wire_name_lower(lower, rw->name_len);
            uint32_t k = build_map_intern(&rewrite_map, lower, rw->name_len);
            if (k == IMAGE_NONE) {
                build_map_free(&rewrite_map);
                free(rewrite_flags);
                goto oom;
            }
            rewrite_flags[k] |= rw->below ? IMAGE_REWRITE_BELOW : IMAGE_REWRITE_EXACT;
        }
        rewrite_count = rewrite_map.count;
        rewrites = calloc(rewrite_count, sizeof *rewrites);
        if (!rewrites ||
            growbuf_append(&map.names, rewrite_map.names.data, rewrite_map.names.len)) {
            build_map_free(&rewrite_map);
            free(rewrite_flags);
            goto oom;
        }
        uint32_t base = (uint32_t)(map.names.len - rewrite_map.names.len);
        for (size_t k = 0; k < rewrite_count; k++)
            rewrites[k] = (struct image_rewrite){base + rewrite_map.nodes[k].name_offset,
                                                 rewrite_map.nodes[k].name_len, rewrite_flags[k],
                                                 rewrite_map.nodes[k].hash};
        build_map_free(&rewrite_map);
        free(rewrite_flags);
    }

    /* Forwarding: the default upstreams, then each forward zone's, which
     * points at its own range; one entry per zone name. */
    size_t upstream_total = in->upstream_count;
    for (size_t i = 0; i < in->forward_zone_count; i++)
        upstream_total += in->forward_zones[i].upstream_count;
    upstreams = calloc(upstream_total + 1, sizeof *upstreams);
    forward_zones = calloc(in->forward_zone_count + 1, sizeof *forward_zones);
    if (!upstreams || !forward_zones)
        goto oom;
    if (in->upstream_count)
        memcpy(upstreams, in->upstreams, in->upstream_count * sizeof *upstreams);
    size_t upstream_at = in->upstream_count;
    if (in->forward_zone_count) {
        struct build_map forward_map = {0};
        if (build_map_grow(&forward_map) < 0) {
            build_map_free(&forward_map);
            goto oom;
        }
        for (size_t i = 0; i < in->forward_zone_count; i++) {
            const struct image_input_forward_zone *fz = &in->forward_zones[i];
            memcpy(lower, fz->name, fz->name_len);
            wire_name_lower(lower, fz->name_len);
            size_t before = forward_map.count;
            uint32_t k = build_map_intern(&forward_map, lower, fz->name_len);
            if (k == IMAGE_NONE) {
                build_map_free(&forward_map);
                goto oom;
            }
            if (forward_map.count == before) {
                build_map_free(&forward_map);
                error_set(err, err_len, "forward zone %zu is declared twice", i);
                goto out;
            }
            memcpy(upstreams + upstream_at, fz->upstreams, fz->upstream_count * sizeof *upstreams);
            forward_zones[k] = (struct image_forward_zone){
                .name_offset = (uint32_t)(map.names.len + forward_map.nodes[k].name_offset),
                .name_len = forward_map.nodes[k].name_len,
                .hash = forward_map.nodes[k].hash,
                .upstream_first = (uint32_t)upstream_at,
                .upstream_count = (uint32_t)fz->upstream_count};
            upstream_at += fz->upstream_count;
        }
        int appended = growbuf_append(&map.names, forward_map.names.data, forward_map.names.len);
        build_map_free(&forward_map);
        if (appended < 0)
            goto oom;
    }

    /* Access lists: allow_recursion, then allow_query. */
    size_t acl_total = in->recursion_acl_count + in->query_acl_count;
    acls = calloc(acl_total + 1, sizeof *acls);
    if (!acls)
        goto oom;
    if (in->recursion_acl_count)
        memcpy(acls, in->recursion_acl, in->recursion_acl_count * sizeof *acls);
    if (in->query_acl_count)
        memcpy(acls + in->recursion_acl_count, in->query_acl, in->query_acl_count * sizeof *acls);

    struct image_settings settings = in->settings;
    settings.upstream_count = (uint32_t)in->upstream_count;
    settings.recursion_acl_count = (uint32_t)in->recursion_acl_count;
    settings.query_acl_count = (uint32_t)in->query_acl_count;

    if (map.names.len >= IMAGE_NONE) {
        error_set(err, err_len, "names larger than 4 GiB");
        goto out;
    }

    size_t node_slot_count = next_power_of_two(map.count * 2 + 1);
    size_t rewrite_slot_count = next_power_of_two(rewrite_count * 2 + 1);
    size_t forward_slot_count = next_power_of_two(in->forward_zone_count * 2 + 1);
    node_slots = malloc(node_slot_count * sizeof *node_slots);
    rewrite_slots = malloc(rewrite_slot_count * sizeof *rewrite_slots);
    forward_slots = malloc(forward_slot_count * sizeof *forward_slots);
    if (!node_slots || !rewrite_slots || !forward_slots)
        goto oom;
    index_fill(node_slots, node_slot_count, nodes, sizeof *nodes, map.count);
    index_fill(rewrite_slots, rewrite_slot_count, rewrites, sizeof *rewrites, rewrite_count);
    index_fill(forward_slots, forward_slot_count, forward_zones, sizeof *forward_zones,
               in->forward_zone_count);

    struct {
        const void *data;
        size_t size, entry_size;
    } parts[IMAGE_SECTION_COUNT_] = {
        {&settings, sizeof settings, sizeof settings},
        {zones, in->zone_count * sizeof *zones, sizeof *zones},
        {nodes, map.count * sizeof *nodes, sizeof *nodes},
        {node_slots, node_slot_count * sizeof *node_slots, sizeof *node_slots},
        {rrsets.data, rrsets.len, sizeof(struct image_rrset)},
        {rdata.data, rdata.len, 1},
        {map.names.data, map.names.len, 1},
        {rewrites, rewrite_count * sizeof *rewrites, sizeof *rewrites},
        {rewrite_slots, rewrite_slot_count * sizeof *rewrite_slots, sizeof *rewrite_slots},
        {upstreams, upstream_total * sizeof *upstreams, sizeof *upstreams},
        {forward_zones, in->forward_zone_count * sizeof *forward_zones, sizeof *forward_zones},
        {forward_slots, forward_slot_count * sizeof *forward_slots, sizeof *forward_slots},
        {acls, acl_total * sizeof *acls, sizeof *acls},
    };
    size_t total = align8(sizeof(struct image_header));
    for (int s = 0; s < IMAGE_SECTION_COUNT_; s++)
        total = align8(total + parts[s].size);
    buf = calloc(1, total);
    if (!buf)
        goto oom;
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
        at = align8(at + parts[s].size);
    }
    image_hash_compute(buf, total, h->hash);
    *out = buf;
    *out_len = total;
    buf = NULL;
    rc = 0;
    goto out;
oom:
    error_set(err, err_len, "out of memory");
out:
    free(buf);
    free(node_slots);
    free(rewrite_slots);
    free(forward_slots);
    free(forward_zones);
    free(upstreams);
    free(acls);
    free(zones);
    free(rewrites);
    free(rrsets.data);
    free(rdata.data);
    free(nodes);
    free(rrs);
    build_map_free(&map);
    return rc;
}

/* ---- reading ---- */

static bool rdata_valid(uint16_t type, const uint8_t *rdata, size_t len)
{
    if (type == WIRE_TYPE_A)
        return len == 4;
    if (type == WIRE_TYPE_AAAA)
        return len == 16;
    struct wire_rdata_layout layout;
    if (!wire_rdata_layout(type, &layout))
        return true;
    if (len < layout.names_offset)
        return false;
    size_t at = layout.names_offset;
    for (unsigned i = 0; i < layout.names_count; i++) {
        size_t start = at;
        while (at < len && rdata[at] != 0 && rdata[at] <= WIRE_LABEL_MAX)
            at += 1u + rdata[at];
        if (at >= len || rdata[at] != 0 || !wire_name_valid(rdata + start, at + 1 - start))
            return false;
        at++;
    }
    return len - at == layout.fixed_after;
}

static int index_valid(const uint32_t *slots, uint32_t slot_count, uint32_t entries)
{
    if (slot_count == 0 || (slot_count & (slot_count - 1)) != 0)
        return 0;
    bool empty = false;
    for (uint32_t i = 0; i < slot_count; i++) {
        if (slots[i] == IMAGE_NONE)
            empty = true;
        else if (slots[i] >= entries)
            return 0;
    }
    return empty; /* a probe must always end */
}

int image_open(struct image *img, const uint8_t *buf, size_t len, char *err, size_t err_len)
{
    static const uint32_t entry_sizes[IMAGE_SECTION_COUNT_] = {sizeof(struct image_settings),
                                                               sizeof(struct image_zone),
                                                               sizeof(struct image_node),
                                                               sizeof(uint32_t),
                                                               sizeof(struct image_rrset),
                                                               1,
                                                               1,
                                                               sizeof(struct image_rewrite),
                                                               sizeof(uint32_t),
                                                               sizeof(struct image_upstream),
                                                               sizeof(struct image_forward_zone),
                                                               sizeof(uint32_t),
                                                               sizeof(struct cidr)};
    const struct image_header *h = (const struct image_header *)buf;

    memset(img, 0, sizeof *img);
    if (len < sizeof *h)
        return error_set(err, err_len, "truncated: %zu octets is shorter than the header", len);
    if (memcmp(h->magic, IMAGE_MAGIC, sizeof h->magic) != 0)
        return error_set(err, err_len, "not a NanoDNS zone image (bad magic)");
    if (h->format_version != IMAGE_FORMAT_VERSION)
        return error_set(err, err_len, "image format version %u is not supported (expected %u)",
                         h->format_version, IMAGE_FORMAT_VERSION);
    if (h->header_size != sizeof *h || h->section_count != IMAGE_SECTION_COUNT_)
        return error_set(err, err_len, "bad header size or section count");
    if (h->file_size != len)
        return error_set(err, err_len, "truncated: the header says %llu octets, the file has %zu",
                         (unsigned long long)h->file_size, len);
    if (sodium_init() < 0)
        return error_set(err, err_len, "libsodium failed to initialise");
    uint8_t hash[32];
    image_hash_compute(buf, len, hash);
    if (memcmp(hash, h->hash, sizeof hash) != 0)
        return error_set(err, err_len, "content hash mismatch: the image is corrupt");

    const uint8_t *section[IMAGE_SECTION_COUNT_];
    uint64_t count[IMAGE_SECTION_COUNT_];
    for (int s = 0; s < IMAGE_SECTION_COUNT_; s++) {
        const struct image_section *sec = &h->sections[s];
        if (sec->type != (uint32_t)(s + 1) || sec->entry_size != entry_sizes[s])
            return error_set(err, err_len, "section %d has a bad type or entry size", s + 1);
        if (sec->offset < sizeof *h || sec->offset % 8 != 0 || sec->offset > len ||
            sec->size > len - sec->offset)
            return error_set(err, err_len, "section %d lies outside the file", s + 1);
        if (sec->size % sec->entry_size != 0 || sec->size / sec->entry_size >= IMAGE_NONE)
            return error_set(err, err_len, "section %d has a bad size", s + 1);
        section[s] = buf + sec->offset;
        count[s] = sec->size / sec->entry_size;
    }
    if (count[IMAGE_SECTION_SETTINGS - 1] != 1)
        return error_set(err, err_len, "settings section missing");

    img->base = buf;
    img->size = len;
    img->header = h;
    img->settings = (const struct image_settings *)section[IMAGE_SECTION_SETTINGS - 1];
    img->zones = (const struct image_zone *)section[IMAGE_SECTION_ZONES - 1];
    img->zone_count = (uint32_t)count[IMAGE_SECTION_ZONES - 1];
    img->nodes = (const struct image_node *)section[IMAGE_SECTION_NODES - 1];
    img->node_count = (uint32_t)count[IMAGE_SECTION_NODES - 1];
    img->node_index = (const uint32_t *)section[IMAGE_SECTION_NODE_INDEX - 1];
    img->node_index_mask = (uint32_t)count[IMAGE_SECTION_NODE_INDEX - 1] - 1;
    img->rrsets = (const struct image_rrset *)section[IMAGE_SECTION_RRSETS - 1];
    img->rrset_count = (uint32_t)count[IMAGE_SECTION_RRSETS - 1];
    img->rdata = section[IMAGE_SECTION_RDATA - 1];
    img->rdata_size = (uint32_t)count[IMAGE_SECTION_RDATA - 1];
    img->names = section[IMAGE_SECTION_NAMES - 1];
    img->names_size = (uint32_t)count[IMAGE_SECTION_NAMES - 1];
    img->rewrites = (const struct image_rewrite *)section[IMAGE_SECTION_REWRITES - 1];
    img->rewrite_count = (uint32_t)count[IMAGE_SECTION_REWRITES - 1];
    img->rewrite_index = (const uint32_t *)section[IMAGE_SECTION_REWRITE_INDEX - 1];
    img->rewrite_index_mask = (uint32_t)count[IMAGE_SECTION_REWRITE_INDEX - 1] - 1;
    img->upstreams = (const struct image_upstream *)section[IMAGE_SECTION_UPSTREAMS - 1];
    img->upstream_total = (uint32_t)count[IMAGE_SECTION_UPSTREAMS - 1];
    img->forward_zones =
        (const struct image_forward_zone *)section[IMAGE_SECTION_FORWARD_ZONES - 1];
    img->forward_zone_count = (uint32_t)count[IMAGE_SECTION_FORWARD_ZONES - 1];
    img->forward_index = (const uint32_t *)section[IMAGE_SECTION_FORWARD_INDEX - 1];
    img->forward_index_mask = (uint32_t)count[IMAGE_SECTION_FORWARD_INDEX - 1] - 1;
    img->acls = (const struct cidr *)section[IMAGE_SECTION_ACLS - 1];
    img->acl_count = (uint32_t)count[IMAGE_SECTION_ACLS - 1];

    if (!index_valid(img->node_index, img->node_index_mask + 1, img->node_count) ||
        !index_valid(img->rewrite_index, img->rewrite_index_mask + 1, img->rewrite_count) ||
        !index_valid(img->forward_index, img->forward_index_mask + 1, img->forward_zone_count))
        goto corrupt;

    const struct image_settings *st = img->settings;
    if (st->upstream_count > img->upstream_total ||
        (uint64_t)st->recursion_acl_count + st->query_acl_count != img->acl_count ||
        st->cache_enabled > 1 || st->log_queries > 1 || st->log_format > IMAGE_LOG_JSON)
        goto corrupt;
    for (uint32_t i = 0; i < img->upstream_total; i++)
        if (!upstream_valid(&img->upstreams[i]))
            goto corrupt;
    for (uint32_t i = 0; i < img->acl_count; i++)
        if (!cidr_valid(&img->acls[i]))
            goto corrupt;
    for (uint32_t i = 0; i < img->forward_zone_count; i++) {
        const struct image_forward_zone *f = &img->forward_zones[i];
        if (f->name_offset > img->names_size || f->name_len > img->names_size - f->name_offset ||
            !wire_name_valid(img->names + f->name_offset, f->name_len) || f->upstream_count == 0 ||
            f->upstream_first > img->upstream_total ||
            f->upstream_count > img->upstream_total - f->upstream_first)
            goto corrupt;
    }
    for (uint32_t i = 0; i < img->rrset_count; i++) {
        const struct image_rrset *set = &img->rrsets[i];
        if (set->rr_count == 0 || set->rdata_offset > img->rdata_size ||
            set->rdata_len > img->rdata_size - set->rdata_offset)
            goto corrupt;
        uint32_t pos = set->rdata_offset, end = set->rdata_offset + set->rdata_len;
        for (uint16_t r = 0; r < set->rr_count; r++) {
            if (end - pos < 2)
                goto corrupt;
            uint16_t rdlength = (uint16_t)(img->rdata[pos] | (img->rdata[pos + 1] << 8));
            if (end - pos - 2 < rdlength || !rdata_valid(set->type, img->rdata + pos + 2, rdlength))
                goto corrupt;
            pos += 2u + rdlength;
        }
        if (pos != end)
            goto corrupt;
    }
    for (uint32_t i = 0; i < img->node_count; i++) {
        const struct image_node *n = &img->nodes[i];
        if (n->name_offset > img->names_size || n->name_len > img->names_size - n->name_offset ||
            !wire_name_valid(img->names + n->name_offset, n->name_len) ||
            (uint64_t)n->rrset_first + n->rrset_count + n->wildcard_count > img->rrset_count ||
            (n->zone != IMAGE_NONE && n->zone >= img->zone_count))
            goto corrupt;
    }
    for (uint32_t i = 0; i < img->rewrite_count; i++) {
        const struct image_rewrite *r = &img->rewrites[i];
        if (r->name_offset > img->names_size || r->name_len > img->names_size - r->name_offset ||
            !wire_name_valid(img->names + r->name_offset, r->name_len))
            goto corrupt;
    }
    for (uint32_t i = 0; i < img->zone_count; i++) {
        const struct image_zone *z = &img->zones[i];
        if (z->apex_node >= img->node_count || z->soa_rrset >= img->rrset_count ||
            img->rrsets[z->soa_rrset].type != WIRE_TYPE_SOA ||
            img->rrsets[z->soa_rrset].rr_count != 1)
            goto corrupt;
    }
    return 0;
corrupt:
    memset(img, 0, sizeof *img);
    return error_set(err, err_len, "corrupt: an offset or length points outside its section");
}

int image_map_file(const char *path, struct image *img, void **map, size_t *map_len, char *err,
                   size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, err_len, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return error_set(err, err_len, "cannot stat %s: %s", path, strerror(e));
    }
    if (st.st_size <= 0) {
        close(fd);
        return error_set(err, err_len, "%s: truncated: the file is empty", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return error_set(err, err_len, "cannot map %s: %s", path, strerror(e));
    char reason[256];
    if (image_open(img, p, (size_t)st.st_size, reason, sizeof reason) < 0) {
        munmap(p, (size_t)st.st_size);
        return error_set(err, err_len, "%s: %s", path, reason);
    }
    *map = p;
    *map_len = (size_t)st.st_size;
    return 0;
}

void image_unmap(void *map, size_t map_len)
{
    if (map)
        munmap(map, map_len);
}
