/* GET /metrics rendering: the original NanoDNS JSON and the Prometheus text
 * format, from a snapshot the API fills (metrics.h). */
#include "metrics.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

double metrics_hit_rate(uint64_t hits, uint64_t misses)
{
    uint64_t lookups = hits + misses;
    if (lookups == 0)
        return 0.0;
    /* Tenths of a percent, rounded half up; in doubles, which cannot overflow. */
    uint64_t tenths = (uint64_t)((double)hits * 1000.0 / (double)lookups + 0.5);
    return (double)tenths / 10.0;
}

/* A double that json-c writes with exactly one decimal ("97.5", "0.0"), as
 * Python's round(x, 1) shows in the original. */
static struct json_object *json_one_decimal(double value)
{
    char text[64];
    snprintf(text, sizeof(text), "%.1f", value);
    return json_object_new_double_s(value, text);
}

static int json_put(struct json_object *object, const char *key, struct json_object *value)
{
    if (value == NULL)
        return -1;
    if (json_object_object_add(object, key, value) != 0) {
        json_object_put(value);
        return -1;
    }
    return 0;
}

static int json_put_u64(struct json_object *object, const char *key, uint64_t value)
{
    return json_put(object, key, json_object_new_uint64(value));
}

/* {"NOERROR": n, ...} from a counter array and its label names. */
static struct json_object *json_counts(const uint64_t *counts, unsigned n,
                                       const char *(*name)(unsigned))
{
    struct json_object *object = json_object_new_object();
    if (object == NULL)
        return NULL;
    for (unsigned i = 0; i < n; i++) {
        if (json_put_u64(object, name(i), counts[i]) != 0) {
            json_object_put(object);
            return NULL;
        }
    }
    return object;
}

/* The stats name functions take their enum; these adapt them to json_counts. */
static const char *rcode_label(unsigned i)
{
    return stats_rcode_name(i);
}
static const char *source_label(unsigned i)
{
    return stats_source_name((enum stats_source)i);
}
static const char *qtype_label(unsigned i)
{
    return stats_qtype_name((enum stats_qtype)i);
}
static const char *transport_label(unsigned i)
{
    return stats_transport_name((enum stats_transport)i);
}

static struct json_object *json_serials(const struct metrics_snapshot *m)
{
    struct json_object *object = json_object_new_object();
    if (object == NULL)
        return NULL;
    for (size_t i = 0; i < m->zone_count; i++) {
        if (json_put_u64(object, m->serials[i].zone, m->serials[i].serial) != 0) {
            json_object_put(object);
            return NULL;
        }
    }
    return object;
}

static struct json_object *json_cache(const struct stats_totals *t)
{
    struct json_object *object = json_object_new_object();
    if (object == NULL)
        return NULL;
    if (json_put_u64(object, "size", t->cache_entries) != 0 ||
        json_put_u64(object, "hits", t->cache_hits) != 0 ||
        json_put_u64(object, "misses", t->cache_misses) != 0 ||
        json_put(object, "hit_rate",
                 json_one_decimal(metrics_hit_rate(t->cache_hits, t->cache_misses))) != 0 ||
        json_put_u64(object, "evictions", t->cache_evictions) != 0 ||
        json_put_u64(object, "stale_answers", t->stale_answers) != 0) {
        json_object_put(object);
        return NULL;
    }
    return object;
}

/* Forwarding: what went upstream and how it fared. */
static struct json_object *json_upstream(const struct stats_totals *t)
{
    struct json_object *object = json_object_new_object();
    if (object == NULL)
        return NULL;
    if (json_put_u64(object, "queries", t->upstream_queries) != 0 ||
        json_put_u64(object, "timeouts", t->upstream_timeouts) != 0 ||
        json_put_u64(object, "tcp_retries", t->upstream_tcp_retries) != 0 ||
        json_put_u64(object, "inflight_overflow", t->inflight_overflow) != 0 ||
        json_put_u64(object, "rebind_blocked", t->rebind_blocked) != 0) {
        json_object_put(object);
        return NULL;
    }
    return object;
}

/* TCP connections made room for, or turned away (RFC 7766 §6.2.3). */
static struct json_object *json_tcp(const struct stats_totals *t)
{
    struct json_object *object = json_object_new_object();
    if (object == NULL)
        return NULL;
    if (json_put_u64(object, "evicted", t->tcp_evicted) != 0 ||
        json_put_u64(object, "refused", t->tcp_refused) != 0) {
        json_object_put(object);
        return NULL;
    }
    return object;
}

/* Response rate limiting: UDP answers over rrl_ratelimit. */
static struct json_object *json_rrl(const struct stats_totals *t)
{
    struct json_object *object = json_object_new_object();
    if (object == NULL)
        return NULL;
    if (json_put_u64(object, "dropped", t->rrl_dropped) != 0 ||
        json_put_u64(object, "slipped", t->rrl_slipped) != 0) {
        json_object_put(object);
        return NULL;
    }
    return object;
}

static struct json_object *json_queries(const struct stats_totals *t)
{
    struct json_object *object = json_object_new_object();
    if (object == NULL)
        return NULL;
    uint64_t total = 0;
    for (unsigned i = 0; i < STATS_TRANSPORTS; i++)
        total += t->queries[i];
    if (json_put_u64(object, "total", total) != 0) {
        json_object_put(object);
        return NULL;
    }
    for (unsigned i = 0; i < STATS_TRANSPORTS; i++) {
        if (json_put_u64(object, transport_label(i), t->queries[i]) != 0) {
            json_object_put(object);
            return NULL;
        }
    }
    return object;
}

/* The queries each worker got, worker 0 first: they add up to the total. */
static struct json_object *json_workers(const struct stats_totals *t)
{
    struct json_object *array = json_object_new_array();
    if (array == NULL)
        return NULL;
    for (uint32_t i = 0; i < t->workers && i < STATS_WORKERS_MAX; i++) {
        struct json_object *n = json_object_new_uint64(t->worker_queries[i]);
        if (n == NULL || json_object_array_add(array, n) != 0) {
            json_object_put(n);
            json_object_put(array);
            return NULL;
        }
    }
    return array;
}

/* One latency histogram as Prometheus shows it, in microseconds: the
 * count, the sum, and under "le_us" the cumulative count at each bucket's
 * bound ("16" ... "1048576", then "+Inf", which is the count). */
static struct json_object *json_histogram(const struct stats_latency_totals *h)
{
    struct json_object *object = json_object_new_object();
    struct json_object *le = json_object_new_object();
    if (object == NULL || le == NULL)
        goto fail;
    uint64_t cumulative = 0;
    for (unsigned i = 0; i < STATS_LATENCY_BUCKETS; i++) {
        cumulative += h->buckets[i];
        char bound[24] = "+Inf";
        if (i < STATS_LATENCY_BUCKETS - 1)
            snprintf(bound, sizeof(bound), "%" PRIu64, stats_latency_bound_us(i));
        if (json_put_u64(le, bound, cumulative) != 0)
            goto fail;
    }
    if (json_put_u64(object, "count", cumulative) != 0 ||
        json_put_u64(object, "sum_us", h->sum_ns / 1000u) != 0)
        goto fail;
    if (json_put(object, "le_us", le) != 0) {
        json_object_put(object); /* json_put put le */
        return NULL;
    }
    return object;
fail:
    json_object_put(le);
    json_object_put(object);
    return NULL;
}

/* {"answer": histogram, "upstream": histogram} */
static struct json_object *json_latencies(const struct stats_latency_totals *h)
{
    struct json_object *object = json_object_new_object();
    if (object == NULL)
        return NULL;
    for (unsigned k = 0; k < STATS_LATENCIES; k++) {
        if (json_put(object, stats_latency_name((enum stats_latency_kind)k),
                     json_histogram(&h[k])) != 0) {
            json_object_put(object);
            return NULL;
        }
    }
    return object;
}

/* The histograms summed over the workers, and under "workers" each
 * worker's, worker 0 first. */
static struct json_object *json_latency(const struct stats_totals *t)
{
    struct json_object *object = json_latencies(t->latency);
    struct json_object *workers = json_object_new_array();
    if (object == NULL || workers == NULL)
        goto fail;
    for (uint32_t w = 0; w < t->workers && w < STATS_WORKERS_MAX; w++) {
        struct json_object *one = json_latencies(t->worker_latency[w]);
        if (one == NULL || json_object_array_add(workers, one) != 0) {
            json_object_put(one);
            goto fail;
        }
    }
    if (json_put(object, "workers", workers) != 0) {
        workers = NULL; /* json_put put it */
        goto fail;
    }
    return object;
fail:
    json_object_put(workers);
    json_object_put(object);
    return NULL;
}

static struct json_object *json_dataplane(const struct metrics_snapshot *m)
{
    struct json_object *object = json_object_new_object();
    if (object == NULL)
        return NULL;
    if (json_put(object, "alive", json_object_new_boolean(m->dataplane_alive)) != 0 ||
        json_put_u64(object, "pid", m->dataplane_pid) != 0 ||
        json_put_u64(object, "image_version", m->dataplane_image_version) != 0) {
        json_object_put(object);
        return NULL;
    }
    return object;
}

/* The first line numbers a list skipped. */
static struct json_object *json_line_numbers(const struct metrics_blocklist *b)
{
    struct json_object *array = json_object_new_array();
    for (size_t i = 0; array != NULL && i < b->skipped_lines_count; i++) {
        struct json_object *n = json_object_new_uint64(b->skipped_lines[i]);
        if (n == NULL || json_object_array_add(array, n) != 0) {
            json_object_put(n);
            json_object_put(array);
            return NULL;
        }
    }
    return array;
}

/* [{"path", "format", "entries", "skipped", "skipped_lines", "digest"}]. */
static struct json_object *json_blocklists(const struct metrics_snapshot *m)
{
    struct json_object *array = json_object_new_array();
    if (array == NULL)
        return NULL;
    for (size_t i = 0; i < m->blocklist_count; i++) {
        const struct metrics_blocklist *b = &m->blocklists[i];
        struct json_object *list = json_object_new_object();
        struct json_object *lines = json_line_numbers(b);
        /* json_put takes a reference whether it succeeds or not: lines
         * gets one for it, and ours is put below. */
        bool ok = list != NULL && lines != NULL &&
                  json_put(list, "path", json_object_new_string(b->path)) == 0 &&
                  json_put(list, "format", json_object_new_string(b->format)) == 0 &&
                  json_put_u64(list, "entries", b->entries) == 0 &&
                  json_put_u64(list, "skipped", b->skipped) == 0 &&
                  json_put(list, "skipped_lines", json_object_get(lines)) == 0 &&
                  json_put(list, "digest", json_object_new_string(b->digest)) == 0 &&
                  json_object_array_add(array, list) == 0;
        json_object_put(lines);
        if (!ok) {
            json_object_put(list);
            json_object_put(array);
            return NULL;
        }
    }
    return array;
}

struct json_object *metrics_to_json(const struct metrics_snapshot *m)
{
    const struct stats_totals *t = &m->totals;
    struct json_object *root = json_object_new_object();
    if (root == NULL)
        return NULL;
    if (json_put(root, "uptime_s", json_one_decimal(m->uptime_s)) != 0 ||
        json_put_u64(root, "version", m->version) != 0 ||
        json_put(root, "checksum", json_object_new_string(m->checksum ? m->checksum : "")) != 0 ||
        json_put(root, "serial", json_serials(m)) != 0 ||
        json_put_u64(root, "records", m->records) != 0 ||
        json_put_u64(root, "zones", m->zone_count) != 0 ||
        json_put_u64(root, "rewrites", m->rewrites) != 0 ||
        json_put(root, "config_valid", json_object_new_boolean(m->config_valid)) != 0)
        goto fail;
    /* last_error is JSON null when there is none: json_object_object_add
     * takes a NULL value as null. */
    struct json_object *last_error = NULL;
    if (m->last_error != NULL && (last_error = json_object_new_string(m->last_error)) == NULL)
        goto fail;
    if (json_object_object_add(root, "last_error", last_error) != 0) {
        json_object_put(last_error);
        goto fail;
    }
    if (json_put(root, "cache", json_cache(t)) != 0 ||
        json_put(root, "upstream", json_upstream(t)) != 0 ||
        json_put(root, "tcp", json_tcp(t)) != 0 ||
        json_put(root, "rrl", json_rrl(t)) != 0 ||
        json_put(root, "queries", json_queries(t)) != 0 ||
        json_put(root, "worker_queries", json_workers(t)) != 0 ||
        json_put(root, "latency", json_latency(t)) != 0 ||
        json_put(root, "rcodes", json_counts(t->rcodes, STATS_RCODES, rcode_label)) != 0 ||
        json_put(root, "answers", json_counts(t->sources, STATS_SOURCES, source_label)) != 0 ||
        json_put(root, "qtypes", json_counts(t->qtypes, STATS_QTYPES, qtype_label)) != 0 ||
        json_put_u64(root, "truncated", t->truncated) != 0 ||
        json_put_u64(root, "dropped", t->dropped) != 0 ||
        json_put_u64(root, "querylog_dropped", t->querylog_dropped) != 0 ||
        json_put_u64(root, "reloads", m->reloads) != 0 ||
        json_put_u64(root, "reload_failures", m->reload_failures) != 0 ||
        json_put(root, "dataplane", json_dataplane(m)) != 0 ||
        json_put(root, "dataplane_privilege_separated",
                 json_object_new_boolean(m->dataplane_privilege_separated)) != 0 ||
        json_put(root, "blocklists", json_blocklists(m)) != 0)
        goto fail;
    if (m->blocklist_digest != NULL &&
        json_put(root, "blocklist_digest", json_object_new_string(m->blocklist_digest)) != 0)
        goto fail;
    return root;
fail:
    json_object_put(root);
    return NULL;
}

/* -- Prometheus text format 0.0.4 ------------------------------------------ */

static void prom_header(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_sample(FILE *out, const char *name, uint64_t value)
{
    fprintf(out, "%s %" PRIu64 "\n", name, value);
}

/* A label value with \, " and newline escaped, as the format requires. */
static void prom_label_value(FILE *out, const char *value)
{
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '\\')
            fputs("\\\\", out);
        else if (*p == '"')
            fputs("\\\"", out);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
}

static void prom_labelled(FILE *out, const char *name, const char *label, const char *value,
                          uint64_t count)
{
    fprintf(out, "%s{%s=\"", name, label);
    prom_label_value(out, value);
    fprintf(out, "\"} %" PRIu64 "\n", count);
}

/* One metric with one label over a fixed set: every member gets a sample,
 * zeros included, so series do not appear and vanish. */
static void prom_family(FILE *out, const char *name, const char *type, const char *help,
                        const char *label, const uint64_t *counts, unsigned n,
                        const char *(*label_name)(unsigned))
{
    prom_header(out, name, type, help);
    for (unsigned i = 0; i < n; i++)
        prom_labelled(out, name, label, label_name(i), counts[i]);
}

static void prom_single(FILE *out, const char *name, const char *type, const char *help,
                        uint64_t value)
{
    prom_header(out, name, type, help);
    prom_sample(out, name, value);
}

/* Nanoseconds as seconds, exactly: no double in between. */
static void prom_seconds(FILE *out, uint64_t ns)
{
    fprintf(out, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
}

/* One histogram's samples: name_bucket{[worker="w",]le="..."} cumulative,
 * the +Inf one being the count, then name_sum (seconds) and name_count. */
static void prom_histogram_samples(FILE *out, const char *name, const char *worker,
                                   const struct stats_latency_totals *h)
{
    char labels[32] = "", own[32] = ""; /* before le=, and of _sum and _count */
    if (worker != NULL) {
        snprintf(labels, sizeof(labels), "worker=\"%s\",", worker);
        snprintf(own, sizeof(own), "{worker=\"%s\"}", worker);
    }
    uint64_t cumulative = 0;
    for (unsigned i = 0; i < STATS_LATENCY_BUCKETS; i++) {
        cumulative += h->buckets[i];
        fprintf(out, "%s_bucket{%sle=\"", name, labels);
        if (i < STATS_LATENCY_BUCKETS - 1) {
            uint64_t us = stats_latency_bound_us(i);
            fprintf(out, "%" PRIu64 ".%06" PRIu64, us / 1000000u, us % 1000000u);
        } else {
            fputs("+Inf", out);
        }
        fprintf(out, "\"} %" PRIu64 "\n", cumulative);
    }
    fprintf(out, "%s_sum%s ", name, own);
    prom_seconds(out, h->sum_ns);
    fprintf(out, "\n%s_count%s %" PRIu64 "\n", name, own, cumulative);
}

static const char *const worker_labels[STATS_WORKERS_MAX] = {
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"};

/* What each histogram times, for its HELP line. */
static const char *const latency_help[STATS_LATENCIES] = {
    [STATS_LATENCY_ANSWER] = "Seconds from a query received to its answer sent (UDP: per "
                             "recvmmsg batch; forwarded queries included)",
    [STATS_LATENCY_UPSTREAM] = "Seconds from a forwarded query sent to an upstream server to its "
                               "answer received (a TCP retry included)",
};

/* nanodns_KIND_duration_seconds summed over the workers, and
 * nanodns_worker_KIND_duration_seconds{worker} for each worker, as
 * nanodns_queries_total and nanodns_worker_queries_total. */
static void prom_latency(FILE *out, const struct stats_totals *t, enum stats_latency_kind kind)
{
    char name[96], help[256];
    snprintf(name, sizeof(name), "nanodns_%s_duration_seconds", stats_latency_name(kind));
    snprintf(help, sizeof(help), "%s.", latency_help[kind]);
    prom_header(out, name, "histogram", help);
    prom_histogram_samples(out, name, NULL, &t->latency[kind]);
    snprintf(name, sizeof(name), "nanodns_worker_%s_duration_seconds", stats_latency_name(kind));
    snprintf(help, sizeof(help), "%s, by data-plane worker (server.workers).", latency_help[kind]);
    prom_header(out, name, "histogram", help);
    for (uint32_t w = 0; w < t->workers && w < STATS_WORKERS_MAX; w++)
        prom_histogram_samples(out, name, worker_labels[w], &t->worker_latency[w][kind]);
}

/* One gauge per list file, labelled by its path. A file listed twice is
 * one series (the sum of its entries): two samples with one label set
 * would make the whole scrape fail. */
static void prom_blocklists(FILE *out, const struct metrics_snapshot *m, const char *name,
                            const char *help, bool skipped)
{
    prom_header(out, name, "gauge", help);
    for (size_t i = 0; i < m->blocklist_count; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(m->blocklists[j].path, m->blocklists[i].path) == 0;
        if (seen)
            continue;
        uint64_t value = 0;
        for (size_t j = i; j < m->blocklist_count; j++)
            if (strcmp(m->blocklists[j].path, m->blocklists[i].path) == 0)
                value += skipped ? m->blocklists[j].skipped : m->blocklists[j].entries;
        prom_labelled(out, name, "list", m->blocklists[i].path, value);
    }
}

char *metrics_to_prometheus(const struct metrics_snapshot *m, size_t *len)
{
    const struct stats_totals *t = &m->totals;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (out == NULL)
        return NULL;

    prom_family(out, "nanodns_queries_total", "counter", "DNS queries received, by transport.",
                "transport", t->queries, STATS_TRANSPORTS, transport_label);
    prom_header(out, "nanodns_worker_queries_total", "counter",
                "DNS queries received, by data-plane worker (server.workers).");
    for (uint32_t i = 0; i < t->workers && i < STATS_WORKERS_MAX; i++)
        prom_labelled(out, "nanodns_worker_queries_total", "worker", worker_labels[i],
                      t->worker_queries[i]);
    for (unsigned k = 0; k < STATS_LATENCIES; k++)
        prom_latency(out, t, (enum stats_latency_kind)k);
    prom_family(out, "nanodns_responses_total", "counter", "DNS responses sent, by rcode.", "rcode",
                t->rcodes, STATS_RCODES, rcode_label);
    /* source="blocked": the answers blocklists and rewrites gave. */
    prom_family(out, "nanodns_answers_total", "counter",
                "DNS answers by how they came about (local data, blocked, refused, error, "
                "cache, upstream).",
                "source", t->sources, STATS_SOURCES, source_label);
    prom_family(out, "nanodns_queries_by_type_total", "counter", "DNS queries received, by qtype.",
                "qtype", t->qtypes, STATS_QTYPES, qtype_label);
    prom_single(out, "nanodns_truncated_total", "counter", "Answers sent with TC=1.", t->truncated);
    prom_single(out, "nanodns_dropped_total", "counter",
                "Packets that got no answer because they were not queries.", t->dropped);
    prom_single(out, "nanodns_cache_hits_total", "counter", "Forwarding cache hits.",
                t->cache_hits);
    prom_single(out, "nanodns_cache_misses_total", "counter", "Forwarding cache misses.",
                t->cache_misses);
    prom_single(out, "nanodns_cache_evictions_total", "counter",
                "Forwarding cache entries evicted to make room.", t->cache_evictions);
    prom_single(out, "nanodns_cache_entries", "gauge", "Entries in the forwarding cache.",
                t->cache_entries);
    prom_single(out, "nanodns_stale_answers_total", "counter",
                "Answers served from expired cache entries because every upstream failed "
                "(serve_stale, RFC 8767).",
                t->stale_answers);
    prom_single(out, "nanodns_upstream_queries_total", "counter",
                "Queries sent to upstream servers over UDP.", t->upstream_queries);
    prom_single(out, "nanodns_upstream_timeouts_total", "counter",
                "Upstream attempts that got no answer within upstream_timeout.",
                t->upstream_timeouts);
    prom_single(out, "nanodns_upstream_tcp_retries_total", "counter",
                "Truncated upstream answers asked again over TCP.", t->upstream_tcp_retries);
    prom_single(out, "nanodns_inflight_overflow_total", "counter",
                "Clients answered SERVFAIL because max_inflight upstream queries were out.",
                t->inflight_overflow);
    prom_single(out, "nanodns_rebind_blocked_total", "counter",
                "Upstream answers not relayed for a private, loopback or link-local address "
                "(rebind_protection).",
                t->rebind_blocked);
    prom_single(out, "nanodns_tcp_evicted_total", "counter",
                "Idle TCP connections closed to make room for a new one.", t->tcp_evicted);
    prom_single(out, "nanodns_tcp_refused_total", "counter",
                "New TCP connections closed: their client's limit, or none idle to evict.",
                t->tcp_refused);
    prom_single(out, "nanodns_rrl_dropped_total", "counter",
                "UDP answers over rrl_ratelimit, not sent.", t->rrl_dropped);
    prom_single(out, "nanodns_rrl_slipped_total", "counter",
                "UDP answers over rrl_ratelimit, sent truncated (rrl_slip).", t->rrl_slipped);
    prom_single(out, "nanodns_querylog_dropped_total", "counter",
                "Query log lines lost because the log buffer was full.", t->querylog_dropped);
    prom_single(out, "nanodns_reloads_total", "counter",
                "Configurations published after the first.", m->reloads);
    prom_single(out, "nanodns_reload_failures_total", "counter",
                "Reloads refused: the file did not validate or could not be published.",
                m->reload_failures);
    prom_single(out, "nanodns_config_version", "gauge", "config_version of the config in force.",
                m->version);
    prom_single(out, "nanodns_records", "gauge", "Records in the config in force.", m->records);
    prom_single(out, "nanodns_zones", "gauge", "Zones in the config in force.", m->zone_count);
    prom_single(out, "nanodns_rewrites", "gauge", "Rewrite (block) rules in the config in force.",
                m->rewrites);
    prom_header(out, "nanodns_uptime_seconds", "gauge", "Seconds since the control plane started.");
    fprintf(out, "nanodns_uptime_seconds %.3f\n", m->uptime_s);
    prom_single(out, "nanodns_config_valid", "gauge",
                "1 when the config file on disk validates, 0 while the last good one is served.",
                m->config_valid ? 1 : 0);
    prom_single(out, "nanodns_dataplane_up", "gauge",
                "1 when the data plane is answering (heartbeat within 3 s).",
                m->dataplane_alive ? 1 : 0);
    prom_single(out, "nanodns_dataplane_privilege_separated", "gauge",
                "1 when the data plane runs as another user than the control plane (not root).",
                m->dataplane_privilege_separated ? 1 : 0);
    prom_single(out, "nanodns_dataplane_image_version", "gauge",
                "config_version of the image the data plane serves (0: none yet).",
                m->dataplane_image_version);
    prom_blocklists(out, m, "nanodns_blocklist_entries",
                    "Names (and adblock exceptions) each blocklist file gave at the last load.",
                    false);
    prom_blocklists(out, m, "nanodns_blocklist_skipped_lines",
                    "Lines of each blocklist file skipped at the last load: not a name.", true);
    prom_header(out, "nanodns_zone_serial", "gauge",
                "SOA serial served for each zone (configured serial + config_version).");
    for (size_t i = 0; i < m->zone_count; i++)
        prom_labelled(out, "nanodns_zone_serial", "zone", m->serials[i].zone, m->serials[i].serial);

    bool failed = ferror(out) != 0;
    if (fclose(out) != 0 || failed) {
        free(text);
        return NULL;
    }
    if (len != NULL)
        *len = size;
    return text;
}

/* -- content negotiation (RFC 9110 §12.5.1) --------------------------------- */

static bool token_equal(const char *start, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(start, want, len) == 0;
}

/* The q of one media-range's parameters ("; q=0.5"): 1 when absent. */
static double accept_quality(const char *params, const char *end)
{
    const char *p = params;
    while (p < end) {
        while (p < end && (*p == ';' || isspace((unsigned char)*p)))
            p++;
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            char number[16];
            size_t n = 0;
            p += 2;
            while (p < end && n + 1 < sizeof(number) && *p != ';' && !isspace((unsigned char)*p))
                number[n++] = *p++;
            number[n] = '\0';
            char *stop = NULL;
            double q = strtod(number, &stop);
            if (stop == number || q < 0.0)
                return 0.0;
            return q > 1.0 ? 1.0 : q;
        }
        while (p < end && *p != ';')
            p++;
    }
    return 1.0;
}

bool metrics_accept_prefers_text(const char *accept)
{
    if (accept == NULL)
        return false;
    /* The best q for each side, from exact media types and from wildcards;
     * -1 = not mentioned. A specific type outranks a wildcard (§12.5.1). */
    double text_exact = -1, text_wild = -1, json_exact = -1, json_wild = -1;
    const char *p = accept;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        const char *type = p;
        while (type < end && isspace((unsigned char)*type))
            type++;
        const char *type_end = type;
        while (type_end < end && *type_end != ';' && !isspace((unsigned char)*type_end))
            type_end++;
        double q = accept_quality(type_end, end);
        size_t n = (size_t)(type_end - type);
        if (token_equal(type, n, "text/plain") ||
            token_equal(type, n, "application/openmetrics-text")) {
            if (q > text_exact)
                text_exact = q;
        } else if (token_equal(type, n, "application/json")) {
            if (q > json_exact)
                json_exact = q;
        } else if (token_equal(type, n, "*/*")) {
            if (q > text_wild)
                text_wild = q;
            if (q > json_wild)
                json_wild = q;
        } else if (token_equal(type, n, "text/*")) {
            if (q > text_wild)
                text_wild = q;
        } else if (token_equal(type, n, "application/*")) {
            if (q > json_wild)
                json_wild = q;
        }
        p = *end == ',' ? end + 1 : end;
    }
    double text = text_exact >= 0 ? text_exact : text_wild;
    double json = json_exact >= 0 ? json_exact : json_wild;
    if (text <= 0)
        return false;
    if (text != json)
        return text > json;
    /* A tie: text only when it was named and JSON came from a wildcard. */
    return text_exact >= 0 && json_exact < 0;
}
