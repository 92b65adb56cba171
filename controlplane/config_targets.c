/* Where the data is, once every section is read: records outside every
 * zone, and CNAME, MX, NS and SRV targets inside our zones that have no
 * records (warnings). Names are looked up in a hash set of every owner and
 * every name above one, so the whole check is O(records). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_loader.h"
#include "image.h" /* image_name_hash: the name hash the set uses, nothing of the format */
#include "local_zones.h"
#include "rdata.h"

/* Findings of one kind listed one by one; the first past them says how
 * many more there are (a zone-less config of the original's can have
 * thousands of records, each outside every zone). */
#define LISTED_MAX 10

/* A name in lowercase, the start of each suffix (k = labels: the root)
 * and the hash of each (image_name_suffix_hashes). */
struct name_view {
    uint8_t lower[WIRE_NAME_MAX];
    size_t len;
    unsigned labels;
    uint8_t starts[WIRE_LABELS_MAX];
    uint32_t hashes[WIRE_LABELS_MAX];
};

static void name_view_init(struct name_view *v, const uint8_t *name, size_t len)
{
    memcpy(v->lower, name, len);
    wire_name_lower(v->lower, len);
    v->len = len;
    v->labels = wire_name_labels(v->lower, len, v->starts);
    v->starts[v->labels] = (uint8_t)(len - 1);
    image_name_suffix_hashes(v->lower, len, v->starts, v->labels + 1, v->hashes);
}

/* The closest zone at or above v, its apex being suffix *apex_k of v. */
static const struct config_zone *zone_enclosing(const struct zone_ref *zones, size_t count,
                                                const struct name_view *v, unsigned *apex_k)
{
    for (unsigned k = 0; k <= v->labels && count > 0; k++) {
        const struct config_zone *z =
            config_zone_at(zones, count, v->lower + v->starts[k], v->len - v->starts[k]);
        if (z) {
            *apex_k = k;
            return z;
        }
    }
    return NULL;
}

#define NAME_DATA 1u           /* a record has this owner */
#define NAME_EXISTS 2u         /* an owner, or above one; the names above it are in the set */
#define NAME_WILDCARD_BELOW 4u /* a record here has the original's "wildcard": true */

/* Every record owner and every name above one, hashed: each target is
 * then a few probes, and the whole check O(records). The names point into
 * cfg->records, which outlives the set. */
struct name_entry {
    const uint8_t *name; /* NULL: a free slot */
    uint32_t hash;       /* image_name_hash of the name in lowercase */
    uint8_t len;
    uint8_t flags;
};

struct name_set {
    struct name_entry *slots;
    size_t mask; /* slots - 1; the table is at most half full */
    size_t count;
};

/* name's entry, or the free slot where it would go (flags 0). */
static struct name_entry *name_set_slot(const struct name_set *set, const uint8_t *name, size_t len,
                                        uint32_t hash)
{
    for (size_t i = hash & set->mask;; i = (i + 1) & set->mask) {
        struct name_entry *e = &set->slots[i];
        if (e->name == NULL || (e->hash == hash && e->len == len &&
                                config_name_compare(e->name, e->len, name, len) == 0))
            return e;
    }
}

static unsigned name_set_flags(const struct name_set *set, const uint8_t *name, size_t len,
                               uint32_t hash)
{
    return set->slots ? name_set_slot(set, name, len, hash)->flags : 0; /* none: no records */
}

/* name's entry, added without flags when new; NULL when out of memory. */
static struct name_entry *name_set_add(struct name_set *set, const uint8_t *name, size_t len,
                                       uint32_t hash)
{
    if ((set->count + 1) * 2 > (set->slots ? set->mask + 1 : 0)) {
        size_t capacity = set->slots ? (set->mask + 1) * 2 : 1024;
        struct name_set bigger = {calloc(capacity, sizeof(struct name_entry)), capacity - 1,
                                  set->count};
        if (!bigger.slots)
            return NULL;
        for (size_t i = 0; set->slots && i <= set->mask; i++)
            if (set->slots[i].name)
                *name_set_slot(&bigger, set->slots[i].name, set->slots[i].len, set->slots[i].hash) =
                    set->slots[i];
        free(set->slots);
        *set = bigger;
    }
    struct name_entry *e = name_set_slot(set, name, len, hash);
    if (e->name == NULL) {
        *e = (struct name_entry){name, hash, (uint8_t)len, 0};
        set->count++;
    }
    return e;
}

static int name_set_build(struct name_set *set, const struct config *cfg)
{
    struct name_view v;
    /* room for every owner at once: growing a large set rehashes it whole
     * each time (names above the owners may still make it grow once) */
    size_t capacity = 1024;
    while (capacity / 2 < cfg->record_count + 1)
        capacity *= 2;
    set->slots = calloc(capacity, sizeof(struct name_entry));
    if (!set->slots)
        return -1;
    set->mask = capacity - 1;
    for (size_t i = 0; i < cfg->record_count; i++) {
        const struct config_record *r = &cfg->records[i];
        name_view_init(&v, r->owner, r->owner_len);
        /* Up from the owner until a name whose ancestors are in already. */
        for (unsigned k = 0; k < v.labels; k++) {
            struct name_entry *e =
                name_set_add(set, r->owner + v.starts[k], r->owner_len - v.starts[k], v.hashes[k]);
            if (!e)
                return -1;
            if (k == 0)
                e->flags |= NAME_DATA | (r->wildcard ? NAME_WILDCARD_BELOW : 0);
            if (e->flags & NAME_EXISTS)
                break;
            e->flags |= NAME_EXISTS;
        }
    }
    return 0;
}

/* Whether v, in a zone whose apex is its suffix apex_k, has something to
 * answer with: the apex's SOA and NS, records of its own, the original's
 * wildcard on its parent, or else an RFC 4592 "*" child of its closest
 * encloser. *exists: it is a name without data (an empty non-terminal). */
static bool target_has_data(const struct name_set *set, const struct name_view *v, unsigned apex_k,
                            bool *exists)
{
    if (apex_k == 0)
        return true;
    unsigned flags = name_set_flags(set, v->lower, v->len, v->hashes[0]);
    *exists = (flags & NAME_EXISTS) != 0;
    if (flags & NAME_DATA)
        return true;
    if (name_set_flags(set, v->lower + v->starts[1], v->len - v->starts[1], v->hashes[1]) &
        NAME_WILDCARD_BELOW)
        return true;
    if (*exists)
        return false; /* RFC 4592 §2.2.2: a name that exists is no wildcard's */
    uint8_t star[WIRE_NAME_MAX] = {1, '*'};
    for (unsigned k = 1; k <= apex_k; k++) {
        const uint8_t *above = v->lower + v->starts[k];
        size_t n = v->len - v->starts[k];
        if (n + 2 <= WIRE_NAME_MAX) {
            memcpy(star + 2, above, n);
            if (name_set_flags(set, star, n + 2, image_name_hash(star, n + 2)) & NAME_DATA)
                return true;
        }
        /* RFC 4592 §3.3.1: only the closest encloser's wildcard applies */
        if (name_set_flags(set, above, n, v->hashes[k]) & NAME_EXISTS)
            return false;
    }
    return false;
}

/* Where a target is written: records[index] (its object at offset), or
 * zones.<zone>.ns[index]. */
struct target_place {
    const struct config_zone *zone; /* NULL: a record */
    size_t index, offset;
};

struct target_findings {
    size_t count;
    struct target_place first_unlisted;
};

__attribute__((format(printf, 3, 4))) static void
report_target(struct loader *ld, const struct target_place *at, const char *fmt, ...)
{
    char message[sizeof(((struct config_diag *)0)->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (!at->zone) {
        loader_report_record(ld, CONFIG_WARNING, at->index, at->offset, "value", "%s", message);
        return;
    }
    loader_push_key(ld, "zones");
    loader_push_key(ld, at->zone->name);
    loader_push_key(ld, "ns");
    loader_push_index(ld, at->index);
    loader_report(ld, CONFIG_WARNING, false, "%s", message);
    for (int i = 0; i < 4; i++)
        loader_pop(ld);
}

/* A name that a CNAME, MX, NS or SRV record points at: when it is inside
 * one of our zones, we are the ones who must hold its data. */
static void check_target(struct loader *ld, const struct zone_ref *zones,
                         const struct name_set *set, uint16_t type, const uint8_t *target,
                         size_t len, const struct target_place *at, struct target_findings *found)
{
    struct name_view v;
    unsigned apex_k;
    bool exists = false;
    name_view_init(&v, target, len);
    const struct config_zone *zone = zone_enclosing(zones, ld->cfg->zone_count, &v, &apex_k);
    if (!zone || target_has_data(set, &v, apex_k, &exists))
        return;
    if (found->count++ == LISTED_MAX)
        found->first_unlisted = *at;
    if (found->count > LISTED_MAX)
        return;
    char qt[QUOTE_CAP], qz[QUOTE_CAP];
    report_target(ld, at,
                  "%s target %s is inside zone %s but has no records, so whoever follows it "
                  "gets %s; add %s",
                  rdata_type_name(type), config_name_quote(qt, target, len),
                  quote_text(qz, zone->name, strlen(zone->name)), exists ? "no data" : "NXDOMAIN",
                  type == WIRE_TYPE_CNAME ? "its records" : "its A or AAAA record");
}

/* Targets of zones.<zone>.ns (when that list loaded whole: with_zone_ns)
 * and of the records. */
void config_check_targets(struct loader *ld, const struct zone_ref *zones, bool with_zone_ns)
{
    const struct config *cfg = ld->cfg;
    if (cfg->zone_count == 0)
        return; /* nothing is inside our zones */
    struct name_set set = {0};
    if (name_set_build(&set, cfg) < 0) {
        free(set.slots);
        loader_out_of_memory(ld);
        return;
    }
    struct target_findings found = {0};
    for (size_t z = 0; z < cfg->zone_count && with_zone_ns; z++)
        for (size_t k = 0; k < cfg->zones[z].ns_count; k++)
            check_target(ld, zones, &set, WIRE_TYPE_NS, cfg->zones[z].ns[k],
                         cfg->zones[z].ns_len[k], &(struct target_place){&cfg->zones[z], k, 0},
                         &found);
    for (size_t p = 0; p < cfg->record_count; p++) {
        const struct config_record *r = &cfg->records[p];
        struct wire_rdata_layout layout;
        bool pointer = r->type == WIRE_TYPE_CNAME || r->type == WIRE_TYPE_MX ||
                       r->type == WIRE_TYPE_NS || r->type == WIRE_TYPE_SRV;
        if (!ld->record_ok[p] || !pointer || !wire_rdata_layout(r->type, &layout) ||
            r->rdata_len <= layout.names_offset)
            continue;
        check_target(ld, zones, &set, r->type, r->rdata + layout.names_offset,
                     r->rdata_len - layout.names_offset,
                     &(struct target_place){NULL, ld->record_index[p], ld->record_offset[p]},
                     &found);
    }
    if (found.count > LISTED_MAX)
        report_target(ld, &found.first_unlisted,
                      "%zu more CNAME, MX, NS or SRV targets from here on are inside our zones "
                      "but have no records (only the first %d are listed)",
                      found.count - LISTED_MAX, LISTED_MAX);
    free(set.slots);
}

/* The original answers every record, zone or not; so do we, and say what
 * a name outside the zones misses. */
void config_check_outside_zones(struct loader *ld, const struct zone_ref *zones)
{
    const struct config *cfg = ld->cfg;
    size_t count = 0, first_unlisted = 0;
    struct name_view v;
    unsigned apex_k;
    /* A record in a locally served zone (server.local_zones) is in a zone
     * of the image: its negative answers carry that zone's SOA. */
    struct local_zones *local = calloc(1, sizeof *local);
    if (local)
        local_zones_compile(cfg, local);
    for (size_t p = 0; p < cfg->record_count; p++) {
        const struct config_record *r = &cfg->records[p];
        if (!ld->record_ok[p])
            continue;
        name_view_init(&v, r->owner, r->owner_len);
        if (zone_enclosing(zones, cfg->zone_count, &v, &apex_k) ||
            (local && local_zones_cover(local, r->owner, r->owner_len)))
            continue;
        if (count++ == LISTED_MAX)
            first_unlisted = p;
        if (count > LISTED_MAX)
            continue;
        char q[QUOTE_CAP];
        loader_report_record(
            ld, CONFIG_WARNING, ld->record_index[p], ld->record_offset[p], "name",
            "%s is outside every zone: it is answered anyway, as the original does, "
            "but that name is never forwarded and its negative answers carry no SOA; "
            "add its zone to \"zones\" if the name is ours",
            config_name_quote(q, r->owner, r->owner_len));
    }
    if (count > LISTED_MAX)
        loader_report_record(
            ld, CONFIG_WARNING, ld->record_index[first_unlisted], ld->record_offset[first_unlisted],
            "name",
            "%zu more records from here on are outside every zone (answered anyway, as "
            "the original does; only the first %d are listed)",
            count - LISTED_MAX, LISTED_MAX);
    free(local);
}
