/* Checks across records and zones, once every section is read: zones
 * defined twice, the CNAME rules, and TTLs and duplicates within an RRset.
 * They work on sorted copies, so they stay O(n log n) however large the
 * config. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_loader.h"
#include "rdata.h"

int config_name_compare(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    /* Case-insensitive; length octets are below 64, so lowering is safe.
     * Equal octets need no lowering: most of two names are. */
    size_t n = a_len < b_len ? a_len : b_len;
    for (size_t i = 0; i < n; i++) {
        if (a[i] == b[i])
            continue;
        uint8_t x = wire_lower(a[i]), y = wire_lower(b[i]);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return a_len < b_len ? -1 : a_len > b_len;
}

struct record_ref {
    const struct config_record *r;
    size_t position; /* in cfg->records */
};

static int record_ref_compare(const void *a, const void *b)
{
    const struct record_ref *x = a, *y = b;
    int c = config_name_compare(x->r->owner, x->r->owner_len, y->r->owner, y->r->owner_len);
    if (c != 0)
        return c;
    if (x->r->type != y->r->type)
        return x->r->type < y->r->type ? -1 : 1;
    if (x->r->wildcard != y->r->wildcard)
        return x->r->wildcard ? 1 : -1;
    if (x->r->rdata_len != y->r->rdata_len)
        return x->r->rdata_len < y->r->rdata_len ? -1 : 1;
    if (x->r->rdata_len > 0) {
        c = memcmp(x->r->rdata, y->r->rdata, x->r->rdata_len);
        if (c != 0)
            return c;
    }
    return x->position < y->position ? -1 : x->position > y->position;
}

static int zone_ref_compare(const void *a, const void *b)
{
    const struct zone_ref *x = a, *y = b;
    int c = config_name_compare(x->z->apex, x->z->apex_len, y->z->apex, y->z->apex_len);
    if (c != 0)
        return c;
    return x->position < y->position ? -1 : x->position > y->position;
}

const char *config_name_quote(char buf[QUOTE_CAP], const uint8_t *name, size_t len)
{
    char text[WIRE_NAME_MAX * 4 + 1];
    int n = wire_name_to_text(name, len, text, sizeof(text));
    if (n < 0)
        return quote_text(buf, "?", 1);
    return quote_text(buf, text, (size_t)n);
}

/* Zones sorted by apex; NULL-free when count is 0. Duplicates reported. */
struct zone_ref *config_check_zones(struct loader *ld)
{
    struct config *cfg = ld->cfg;
    struct zone_ref *zones = calloc(cfg->zone_count ? cfg->zone_count : 1, sizeof(*zones));
    if (!zones) {
        loader_out_of_memory(ld);
        return NULL;
    }
    for (size_t i = 0; i < cfg->zone_count; i++)
        zones[i] = (struct zone_ref){&cfg->zones[i], i};
    qsort(zones, cfg->zone_count, sizeof(*zones), zone_ref_compare);
    for (size_t i = 1; i < cfg->zone_count; i++) {
        const struct config_zone *first = zones[i - 1].z, *again = zones[i].z;
        if (config_name_compare(first->apex, first->apex_len, again->apex, again->apex_len) != 0)
            continue;
        /* zones[i - 1] has the lower position: it is the first written */
        char q1[QUOTE_CAP], q2[QUOTE_CAP];
        loader_push_key(ld, "zones");
        loader_push_key(ld, again->name);
        loader_report(ld, CONFIG_ERROR, true,
                      "zone %s is already defined as %s (zone names are case-insensitive)",
                      quote_text(q1, again->name, strlen(again->name)),
                      quote_text(q2, first->name, strlen(first->name)));
        loader_pop(ld);
        loader_pop(ld);
    }
    return zones;
}

/* The zone whose apex is name, or NULL; zones sorted by check_zones. */
const struct config_zone *config_zone_at(const struct zone_ref *zones, size_t count,
                                         const uint8_t *name, size_t len)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = config_name_compare(name, len, zones[mid].z->apex, zones[mid].z->apex_len);
        if (c == 0)
            return zones[mid].z;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static bool is_apex(const struct zone_ref *zones, size_t count, const struct config_record *r)
{
    return config_zone_at(zones, count, r->owner, r->owner_len) != NULL;
}

/* The CNAME rules of one owner name, refs[begin..end). */
static void check_cname_group(struct loader *ld, const struct record_ref *refs, size_t begin,
                              size_t end, const struct zone_ref *zones, size_t zone_count)
{
    const struct config *cfg = ld->cfg;
    size_t first_cname = SIZE_MAX, first_other = SIZE_MAX;
    for (size_t k = begin; k < end; k++) {
        size_t *first = refs[k].r->type == WIRE_TYPE_CNAME ? &first_cname : &first_other;
        if (refs[k].position < *first)
            *first = refs[k].position;
    }
    if (first_cname == SIZE_MAX)
        return;
    for (size_t k = begin; k < end; k++) {
        const struct config_record *r = refs[k].r;
        size_t p = refs[k].position;
        if (r->type != WIRE_TYPE_CNAME)
            continue;
        char qn[QUOTE_CAP];
        config_name_quote(qn, r->owner, r->owner_len);
        size_t index = ld->record_index[p], offset = ld->record_offset[p];
        if (p != first_cname)
            loader_report_record(ld, CONFIG_ERROR, index, offset, "type",
                                 "more than one CNAME at %s (records[%zu] is one already; RFC 2181 "
                                 "§10.1)",
                                 qn, ld->record_index[first_cname]);
        if (first_other != SIZE_MAX)
            loader_report_record(
                ld, CONFIG_ERROR, index, offset, "type",
                "a CNAME at %s beside other data: records[%zu] is %s at the same name "
                "(RFC 1034 §3.6.2)",
                qn, ld->record_index[first_other], rdata_type_name(cfg->records[first_other].type));
        if (is_apex(zones, zone_count, r))
            loader_report_record(
                ld, CONFIG_ERROR, index, offset, "type",
                "a CNAME at the apex of zone %s, which has SOA and NS records (RFC "
                "1034 §3.6.2)",
                qn);
    }
}

/* TTLs and duplicates in one RRset, refs[begin..end) sorted by rdata. */
static void check_rrset(struct loader *ld, const struct record_ref *refs, size_t begin, size_t end)
{
    const struct config *cfg = ld->cfg;
    size_t first = SIZE_MAX;
    for (size_t k = begin; k < end; k++)
        if (refs[k].position < first)
            first = refs[k].position;
    const struct config_record *ref = &cfg->records[first];
    for (size_t k = begin; k < end; k++) {
        const struct config_record *r = refs[k].r;
        size_t p = refs[k].position;
        if (p != first && r->ttl != ref->ttl)
            loader_report_record(
                ld, CONFIG_WARNING, ld->record_index[p], ld->record_offset[p], "ttl",
                "TTL %" PRIu32 " differs from %" PRIu32
                " of records[%zu] in the same RRset; the smallest is served (RFC 2181 "
                "§5.2)",
                r->ttl, ref->ttl, ld->record_index[first]);
        if (k > begin && refs[k - 1].r->rdata_len == r->rdata_len &&
            memcmp(refs[k - 1].r->rdata, r->rdata, r->rdata_len) == 0) {
            /* runs of equal data are sorted by position: find the run's first */
            size_t run = k - 1;
            while (run > begin && refs[run - 1].r->rdata_len == r->rdata_len &&
                   memcmp(refs[run - 1].r->rdata, r->rdata, r->rdata_len) == 0)
                run--;
            loader_report_record(
                ld, CONFIG_WARNING, ld->record_index[p], ld->record_offset[p], NULL,
                "the same record as records[%zu]; it is served once (an RRset is a "
                "set, RFC 2181 §5)",
                ld->record_index[refs[run].position]);
        }
    }
}

/* Runs of refs[0..n) with the same owner name (same RRset when rrsets). */
static size_t run_end(const struct record_ref *refs, size_t n, size_t i, bool rrsets)
{
    size_t j = i + 1;
    while (j < n &&
           config_name_compare(refs[i].r->owner, refs[i].r->owner_len, refs[j].r->owner,
                               refs[j].r->owner_len) == 0 &&
           (!rrsets ||
            (refs[j].r->type == refs[i].r->type && refs[j].r->wildcard == refs[i].r->wildcard)))
        j++;
    return j;
}

void config_check_records(struct loader *ld, const struct zone_ref *zones)
{
    struct config *cfg = ld->cfg;
    size_t n = cfg->record_count, ok = 0;
    if (n == 0)
        return;
    /* all records with a good name and type, for the CNAME rules; and the
     * records without any error, for the RRset checks */
    struct record_ref *refs = malloc(n * sizeof(*refs));
    struct record_ref *good = malloc(n * sizeof(*good));
    if (!refs || !good) {
        loader_out_of_memory(ld);
        free(refs);
        free(good);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        refs[i] = (struct record_ref){&cfg->records[i], i};
        if (ld->record_ok[i])
            good[ok++] = refs[i];
    }
    /* Sorted by owner, type, wildcard, rdata: owners and RRsets become
     * runs, and the whole is O(n log n) however large the config. */
    qsort(refs, n, sizeof(*refs), record_ref_compare);
    if (ok == n)
        memcpy(good, refs, n * sizeof(*good)); /* the usual case: no record has an error */
    else
        qsort(good, ok, sizeof(*good), record_ref_compare);
    for (size_t i = 0, j; i < n; i = j) {
        j = run_end(refs, n, i, false);
        check_cname_group(ld, refs, i, j, zones, cfg->zone_count);
    }
    for (size_t i = 0, j; i < ok; i = j) {
        j = run_end(good, ok, i, true);
        if (good[i].r->type != WIRE_TYPE_CNAME) /* several CNAMEs are an error already */
            check_rrset(ld, good, i, j);
    }
    free(refs);
    free(good);
}
