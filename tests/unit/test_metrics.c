/* GET /metrics rendering: the JSON document has the original's keys and
 * figures; the Prometheus text has HELP and TYPE for every metric, counters
 * ending in _total, labels from fixed sets; content negotiation keeps JSON
 * unless the client prefers text. All from fixed snapshots, no server. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "metrics.h"

static const struct metrics_zone_serial SERIALS[] = {
    {"internal.lan", 2024010107},
    {"x.test", 8},
};

static const unsigned long ADS_SKIPPED[] = {2, 4};

#define ADS_DIGEST "f9d2a22631f77e8549adaca9341b83e1ed4fe6243ec28766be236ca8f416233d"
#define HOSTS_DIGEST "44b7bdfcf418e312b45fa84a949ccacab7087661d8c2c5ab586c9ed4f9ca0137"
#define NODE_LISTS_DIGEST "ab93ca717d093d413a24752df981ce83e9f1c6ef031abcce98a95b2acd130388"

static const struct metrics_blocklist BLOCKLISTS[] = {
    {"/etc/nanodns/lists/ads.txt", "domains", 1200, 2, ADS_SKIPPED, 2, ADS_DIGEST},
    {"/etc/nanodns/lists/hosts", "hosts", 35, 0, NULL, 0, HOSTS_DIGEST},
};

/* A snapshot with a distinct figure in every field, so a figure in the
 * wrong place shows. */
static struct metrics_snapshot snapshot(void)
{
    struct metrics_snapshot m = {
        .uptime_s = 12.34,
        .version = 7,
        .checksum = "0123456789abcdef",
        .serials = SERIALS,
        .zone_count = 2,
        .records = 11,
        .rewrites = 3,
        .config_valid = true,
        .last_error = NULL,
        .reloads = 4,
        .reload_failures = 1,
        .dataplane_alive = true,
        .dataplane_pid = 4242,
        .dataplane_image_version = 7,
        .blocklists = BLOCKLISTS,
        .blocklist_count = 2,
        .blocklist_digest = NODE_LISTS_DIGEST,
    };
    m.totals.queries[STATS_UDP] = 100;
    m.totals.queries[STATS_TCP] = 5;
    m.totals.rcodes[0] = 90; /* NOERROR */
    m.totals.rcodes[3] = 14; /* NXDOMAIN */
    m.totals.rcodes[16] = 1; /* BADVERS */
    m.totals.sources[STATS_SOURCE_LOCAL] = 95;
    m.totals.sources[STATS_SOURCE_BLOCKED] = 6;
    m.totals.sources[STATS_SOURCE_REFUSED] = 4;
    m.totals.qtypes[STATS_QTYPE_A] = 80;
    m.totals.qtypes[STATS_QTYPE_AAAA] = 20;
    m.totals.qtypes[STATS_QTYPE_OTHER] = 5;
    m.totals.truncated = 2;
    m.totals.dropped = 9;
    m.totals.cache_hits = 39;
    m.totals.cache_misses = 1;
    m.totals.cache_entries = 17;
    m.totals.cache_evictions = 3;
    m.totals.stale_answers = 11;
    m.totals.rebind_blocked = 12;
    m.totals.upstream_queries = 21;
    m.totals.upstream_timeouts = 4;
    m.totals.upstream_tcp_retries = 2;
    m.totals.inflight_overflow = 6;
    m.totals.querylog_dropped = 8;
    /* Two workers' histograms (per bucket, not cumulative), and their sum
     * as stats_sum makes it. */
    m.totals.workers = 2;
    m.totals.worker_queries[0] = 60;
    m.totals.worker_queries[1] = 45;
    struct stats_latency_totals(*w)[STATS_LATENCIES] = m.totals.worker_latency;
    w[0][STATS_LATENCY_ANSWER].buckets[0] = 50;  /* up to 16 us */
    w[0][STATS_LATENCY_ANSWER].buckets[2] = 4;   /* up to 64 us */
    w[0][STATS_LATENCY_ANSWER].buckets[12] = 1;  /* up to 65536 us */
    w[1][STATS_LATENCY_ANSWER].buckets[1] = 30;  /* up to 32 us */
    w[1][STATS_LATENCY_ANSWER].buckets[16] = 2;  /* up to 1048576 us */
    w[1][STATS_LATENCY_ANSWER].buckets[17] = 3;  /* above: +Inf */
    w[0][STATS_LATENCY_ANSWER].sum_ns = 1500000; /* 1.5 ms */
    w[1][STATS_LATENCY_ANSWER].sum_ns = 4000000123u;
    w[0][STATS_LATENCY_UPSTREAM].buckets[12] = 1; /* the forwarded one: 50 ms */
    w[0][STATS_LATENCY_UPSTREAM].sum_ns = 50000000;
    for (unsigned k = 0; k < STATS_LATENCIES; k++) {
        for (unsigned i = 0; i < STATS_LATENCY_BUCKETS; i++)
            m.totals.latency[k].buckets[i] = w[0][k].buckets[i] + w[1][k].buckets[i];
        m.totals.latency[k].sum_ns = w[0][k].sum_ns + w[1][k].sum_ns;
    }
    return m;
}

static struct json_object *member(struct json_object *object, const char *key)
{
    struct json_object *value = NULL;
    assert_true(json_object_object_get_ex(object, key, &value));
    return value;
}

static uint64_t member_u64(struct json_object *object, const char *key)
{
    struct json_object *value = member(object, key);
    assert_true(json_object_is_type(value, json_type_int));
    return json_object_get_uint64(value);
}

/* -- hit rate -------------------------------------------------------------- */

static void test_hit_rate_is_a_percentage_with_one_decimal(void **state)
{
    (void)state;
    assert_true(metrics_hit_rate(39, 1) == 97.5);
    assert_true(metrics_hit_rate(1, 0) == 100.0);
    assert_true(metrics_hit_rate(0, 5) == 0.0);
}

static void test_hit_rate_rounds_to_one_decimal(void **state)
{
    (void)state;
    assert_true(metrics_hit_rate(2, 1) == 66.7); /* 66.666... */
    assert_true(metrics_hit_rate(1, 2) == 33.3);
}

static void test_hit_rate_is_zero_without_lookups(void **state)
{
    (void)state;
    assert_true(metrics_hit_rate(0, 0) == 0.0);
}

/* -- JSON ------------------------------------------------------------------ */

static void test_json_has_every_key_of_the_original_and_ours(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    assert_non_null(doc);
    static const char *const keys[] = {
        "uptime_s",  "version",      "checksum",         "serial",  "records", "zones",
        "rewrites",  "config_valid", "last_error",       "cache",   "queries", "rcodes",
        "answers",   "qtypes",       "truncated",        "dropped", "reloads", "reload_failures",
        "dataplane", "upstream",     "querylog_dropped", "latency",
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_true(json_object_object_get_ex(doc, keys[i], NULL));
    json_object_put(doc);
}

static void test_json_config_figures(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    assert_int_equal(member_u64(doc, "version"), 7);
    assert_string_equal(json_object_get_string(member(doc, "checksum")), "0123456789abcdef");
    assert_int_equal(member_u64(doc, "records"), 11);
    assert_int_equal(member_u64(doc, "zones"), 2);
    assert_int_equal(member_u64(doc, "rewrites"), 3);
    assert_int_equal(member_u64(doc, "reloads"), 4);
    assert_int_equal(member_u64(doc, "reload_failures"), 1);
    assert_int_equal(member_u64(doc, "truncated"), 2);
    assert_int_equal(member_u64(doc, "dropped"), 9);
    json_object_put(doc);
}

static void test_json_uptime_is_written_with_one_decimal(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    assert_string_equal(json_object_to_json_string(member(doc, "uptime_s")), "12.3");
    json_object_put(doc);
}

static void test_json_serial_maps_each_zone_to_its_served_serial(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    struct json_object *serial = member(doc, "serial");
    assert_int_equal(json_object_object_length(serial), 2);
    assert_int_equal(member_u64(serial, "internal.lan"), 2024010107);
    assert_int_equal(member_u64(serial, "x.test"), 8);
    json_object_put(doc);
}

static void test_json_cache_has_size_hits_misses_and_hit_rate(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    struct json_object *cache = member(doc, "cache");
    assert_int_equal(member_u64(cache, "size"), 17);
    assert_int_equal(member_u64(cache, "hits"), 39);
    assert_int_equal(member_u64(cache, "misses"), 1);
    assert_string_equal(json_object_to_json_string(member(cache, "hit_rate")), "97.5");
    json_object_put(doc);
}

static void test_json_cache_counts_stale_answers(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    assert_int_equal(member_u64(member(doc, "cache"), "stale_answers"), 11);
    json_object_put(doc);
}

static void
test_json_upstream_has_queries_timeouts_tcp_retries_overflow_and_rebind_blocked(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    struct json_object *upstream = member(doc, "upstream");
    assert_int_equal(json_object_object_length(upstream), 5);
    assert_int_equal(member_u64(upstream, "queries"), 21);
    assert_int_equal(member_u64(upstream, "timeouts"), 4);
    assert_int_equal(member_u64(upstream, "tcp_retries"), 2);
    assert_int_equal(member_u64(upstream, "inflight_overflow"), 6);
    assert_int_equal(member_u64(upstream, "rebind_blocked"), 12);
    json_object_put(doc);
}

static void test_json_querylog_dropped_is_a_top_level_count(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    assert_int_equal(member_u64(doc, "querylog_dropped"), 8);
    json_object_put(doc);
}

static void test_json_hit_rate_is_zero_without_lookups(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    m.totals.cache_hits = m.totals.cache_misses = 0;
    struct json_object *doc = metrics_to_json(&m);
    struct json_object *rate = member(member(doc, "cache"), "hit_rate");
    assert_true(json_object_get_double(rate) == 0.0);
    json_object_put(doc);
}

static void test_json_queries_total_is_the_sum_of_transports(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    struct json_object *queries = member(doc, "queries");
    assert_int_equal(member_u64(queries, "total"), 105);
    assert_int_equal(member_u64(queries, "udp"), 100);
    assert_int_equal(member_u64(queries, "tcp"), 5);
    json_object_put(doc);
}

static void test_json_rcodes_are_keyed_by_name_and_all_present(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    struct json_object *rcodes = member(doc, "rcodes");
    assert_int_equal(json_object_object_length(rcodes), STATS_RCODES);
    assert_int_equal(member_u64(rcodes, "NOERROR"), 90);
    assert_int_equal(member_u64(rcodes, "NXDOMAIN"), 14);
    assert_int_equal(member_u64(rcodes, "SERVFAIL"), 0);
    assert_int_equal(member_u64(rcodes, "BADVERS"), 1);
    json_object_put(doc);
}

static void test_json_answers_are_keyed_by_source(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    struct json_object *answers = member(doc, "answers");
    assert_int_equal(json_object_object_length(answers), STATS_SOURCES);
    assert_int_equal(member_u64(answers, "local"), 95);
    assert_int_equal(member_u64(answers, "blocked"), 6);
    assert_int_equal(member_u64(answers, "refused"), 4);
    assert_int_equal(member_u64(answers, "error"), 0);
    assert_int_equal(member_u64(answers, "cache"), 0);
    assert_int_equal(member_u64(answers, "upstream"), 0);
    json_object_put(doc);
}

static void test_json_blocklists_give_path_format_entries_skipped_and_digest(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    struct json_object *lists = member(doc, "blocklists");
    assert_true(json_object_is_type(lists, json_type_array));
    assert_int_equal(json_object_array_length(lists), 2);
    struct json_object *ads = json_object_array_get_idx(lists, 0);
    assert_int_equal(json_object_object_length(ads), 6);
    assert_string_equal(json_object_get_string(member(ads, "path")), "/etc/nanodns/lists/ads.txt");
    assert_string_equal(json_object_get_string(member(ads, "format")), "domains");
    assert_int_equal(member_u64(ads, "entries"), 1200);
    assert_int_equal(member_u64(ads, "skipped"), 2);
    assert_string_equal(
        json_object_to_json_string_ext(member(ads, "skipped_lines"), JSON_C_TO_STRING_PLAIN),
        "[2,4]");
    assert_string_equal(json_object_get_string(member(ads, "digest")), ADS_DIGEST);
    struct json_object *hosts = json_object_array_get_idx(lists, 1);
    assert_string_equal(json_object_get_string(member(hosts, "format")), "hosts");
    assert_int_equal(member_u64(hosts, "skipped"), 0);
    assert_int_equal(json_object_array_length(member(hosts, "skipped_lines")), 0);
    assert_string_equal(json_object_get_string(member(hosts, "digest")), HOSTS_DIGEST);
    json_object_put(doc);
}

static void test_json_has_the_node_blocklist_digest(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    assert_string_equal(json_object_get_string(member(doc, "blocklist_digest")), NODE_LISTS_DIGEST);
    json_object_put(doc);
}

static void test_json_without_lists_has_an_empty_blocklists_array(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    m.blocklists = NULL;
    m.blocklist_count = 0;
    struct json_object *doc = metrics_to_json(&m);
    assert_int_equal(json_object_array_length(member(doc, "blocklists")), 0);
    json_object_put(doc);
}

static void test_json_qtypes_are_keyed_by_type_name(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    struct json_object *qtypes = member(doc, "qtypes");
    assert_int_equal(json_object_object_length(qtypes), STATS_QTYPES);
    assert_int_equal(member_u64(qtypes, "A"), 80);
    assert_int_equal(member_u64(qtypes, "AAAA"), 20);
    assert_int_equal(member_u64(qtypes, "OTHER"), 5);
    json_object_put(doc);
}

static void test_json_last_error_is_null_when_there_is_none(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    struct json_object *last_error = (struct json_object *)1;
    assert_true(json_object_object_get_ex(doc, "last_error", &last_error));
    assert_null(last_error);
    assert_true(json_object_get_boolean(member(doc, "config_valid")));
    json_object_put(doc);
}

static void test_json_invalid_config_shows_its_error(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    m.config_valid = false;
    m.last_error = "nanodns.json:3:5: records[0].value: \"1.2.3\" is not an IPv4 address";
    struct json_object *doc = metrics_to_json(&m);
    assert_false(json_object_get_boolean(member(doc, "config_valid")));
    assert_string_equal(json_object_get_string(member(doc, "last_error")), m.last_error);
    json_object_put(doc);
}

static void test_json_dataplane_has_alive_pid_and_image_version(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    m.dataplane_alive = false;
    struct json_object *doc = metrics_to_json(&m);
    struct json_object *dataplane = member(doc, "dataplane");
    assert_false(json_object_get_boolean(member(dataplane, "alive")));
    assert_int_equal(member_u64(dataplane, "pid"), 4242);
    assert_int_equal(member_u64(dataplane, "image_version"), 7);
    json_object_put(doc);
}

/* The cumulative counts of a JSON histogram's "le_us", in order; checks
 * the bounds are 16 us doubling up to 1048576 us, then "+Inf". */
static void json_cumulative(struct json_object *histogram, uint64_t *out)
{
    struct json_object *le = member(histogram, "le_us");
    assert_int_equal(json_object_object_length(le), STATS_LATENCY_BUCKETS);
    unsigned i = 0;
    json_object_object_foreach(le, key, value)
    {
        char want[24] = "+Inf";
        if (i < STATS_LATENCY_BUCKETS - 1)
            snprintf(want, sizeof(want), "%llu", 16ull << i);
        assert_string_equal(key, want);
        out[i++] = json_object_get_uint64(value);
    }
}

static void test_json_latency_buckets_are_cumulative_and_end_in_the_count(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    struct json_object *answer = member(member(doc, "latency"), "answer");
    uint64_t le[STATS_LATENCY_BUCKETS];
    json_cumulative(answer, le);
    assert_int_equal(le[0], 50);
    assert_int_equal(le[1], 80);
    assert_int_equal(le[2], 84);
    assert_int_equal(le[11], 84);
    assert_int_equal(le[12], 85);
    assert_int_equal(le[16], 87);
    assert_int_equal(le[17], 90); /* +Inf */
    for (unsigned i = 1; i < STATS_LATENCY_BUCKETS; i++)
        assert_true(le[i] >= le[i - 1]);
    assert_int_equal(member_u64(answer, "count"), 90);
    assert_int_equal(member_u64(answer, "sum_us"), 4001500);
    struct json_object *upstream = member(member(doc, "latency"), "upstream");
    assert_int_equal(member_u64(upstream, "count"), 1);
    assert_int_equal(member_u64(upstream, "sum_us"), 50000);
    json_object_put(doc);
}

static void test_json_latency_shows_each_worker(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct json_object *doc = metrics_to_json(&m);
    struct json_object *workers = member(member(doc, "latency"), "workers");
    assert_int_equal(json_object_array_length(workers), 2);
    struct json_object *first = json_object_array_get_idx(workers, 0);
    struct json_object *second = json_object_array_get_idx(workers, 1);
    assert_int_equal(member_u64(member(first, "answer"), "count"), 55);
    assert_int_equal(member_u64(member(second, "answer"), "count"), 35);
    assert_int_equal(member_u64(member(first, "upstream"), "count"), 1);
    assert_int_equal(member_u64(member(second, "upstream"), "count"), 0);
    uint64_t le[STATS_LATENCY_BUCKETS];
    json_cumulative(member(second, "answer"), le);
    assert_int_equal(le[0], 0);
    assert_int_equal(le[1], 30);
    assert_int_equal(le[16], 32);
    assert_int_equal(le[17], 35);
    json_object_put(doc);
}

/* -- Prometheus ------------------------------------------------------------ */

struct prometheus {
    char *text;
    char **lines;
    size_t count;
};

static struct prometheus render(const struct metrics_snapshot *m)
{
    struct prometheus p = {0};
    size_t len = 0;
    p.text = metrics_to_prometheus(m, &len);
    assert_non_null(p.text);
    assert_int_equal(strlen(p.text), len);
    assert_true(len > 0 && p.text[len - 1] == '\n');
    char *copy = strdup(p.text);
    assert_non_null(copy);
    for (char *line = strtok(copy, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        p.lines = realloc(p.lines, (p.count + 1) * sizeof(*p.lines));
        assert_non_null(p.lines);
        p.lines[p.count++] = strdup(line);
    }
    free(copy);
    return p;
}

static void render_free(struct prometheus *p)
{
    for (size_t i = 0; i < p->count; i++)
        free(p->lines[i]);
    free(p->lines);
    free(p->text);
}

static bool has_line(const struct prometheus *p, const char *want)
{
    for (size_t i = 0; i < p->count; i++)
        if (strcmp(p->lines[i], want) == 0)
            return true;
    return false;
}

/* The metric name at the start of a sample line (up to '{' or ' '). */
static void sample_name(const char *line, char *name, size_t size)
{
    size_t n = strcspn(line, "{ ");
    assert_true(n < size);
    memcpy(name, line, n);
    name[n] = '\0';
}

/* The "# TYPE name" line's type, or NULL. */
static const char *type_of(const struct prometheus *p, const char *name)
{
    char prefix[256];
    int n = snprintf(prefix, sizeof(prefix), "# TYPE %s ", name);
    assert_true(n > 0 && (size_t)n < sizeof(prefix));
    for (size_t i = 0; i < p->count; i++)
        if (strncmp(p->lines[i], prefix, strlen(prefix)) == 0)
            return p->lines[i] + strlen(prefix);
    return NULL;
}

static void test_privilege_separation_is_reported_in_json_and_prometheus(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    m.dataplane_privilege_separated = true;
    struct json_object *doc = metrics_to_json(&m);
    assert_true(json_object_get_boolean(member(doc, "dataplane_privilege_separated")));
    json_object_put(doc);
    struct prometheus p = render(&m);
    assert_string_equal(type_of(&p, "nanodns_dataplane_privilege_separated"), "gauge");
    assert_true(has_line(&p, "nanodns_dataplane_privilege_separated 1"));
    render_free(&p);

    m.dataplane_privilege_separated = false;
    doc = metrics_to_json(&m);
    assert_false(json_object_get_boolean(member(doc, "dataplane_privilege_separated")));
    json_object_put(doc);
    p = render(&m);
    assert_true(has_line(&p, "nanodns_dataplane_privilege_separated 0"));
    render_free(&p);
}

static size_t samples_of(const struct prometheus *p, const char *name)
{
    size_t n = 0;
    char got[160];
    for (size_t i = 0; i < p->count; i++) {
        if (p->lines[i][0] == '#')
            continue;
        sample_name(p->lines[i], got, sizeof(got));
        if (strcmp(got, name) == 0)
            n++;
    }
    return n;
}

static void test_prometheus_sample_lines_are_name_labels_value(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct prometheus p = render(&m);
    for (size_t i = 0; i < p.count; i++) {
        const char *line = p.lines[i];
        if (line[0] == '#')
            continue;
        /* name: [a-zA-Z_:][a-zA-Z0-9_:]*, starting nanodns_ */
        assert_true(strncmp(line, "nanodns_", 8) == 0);
        const char *c = line;
        while (isalnum((unsigned char)*c) || *c == '_' || *c == ':')
            c++;
        if (*c == '{') {
            const char *close = strstr(c, "\"}");
            assert_non_null(close);
            c = close + 2;
        }
        assert_int_equal(*c, ' ');
        char *end = NULL;
        strtod(c + 1, &end);
        assert_true(end != c + 1);
        assert_int_equal(*end, '\0');
    }
    render_free(&p);
}

/* The metric family of a sample: its name, or for a histogram's
 * name_bucket, name_sum and name_count, name. */
static void family_name(const struct prometheus *p, const char *line, char *name, size_t size)
{
    sample_name(line, name, size);
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t n = strlen(name), k = strlen(suffixes[i]);
        if (n <= k || strcmp(name + n - k, suffixes[i]) != 0)
            continue;
        char base[160];
        snprintf(base, sizeof(base), "%.*s", (int)(n - k), name);
        const char *type = type_of(p, base);
        if (type != NULL && strcmp(type, "histogram") == 0)
            snprintf(name, size, "%s", base);
    }
}

static void test_prometheus_every_metric_has_help_and_type_before_its_samples(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct prometheus p = render(&m);
    for (size_t i = 0; i < p.count; i++) {
        if (p.lines[i][0] == '#')
            continue;
        char name[160], help[200], type[200];
        family_name(&p, p.lines[i], name, sizeof(name));
        snprintf(help, sizeof(help), "# HELP %s ", name);
        snprintf(type, sizeof(type), "# TYPE %s ", name);
        bool seen_help = false, seen_type = false;
        for (size_t j = 0; j < i; j++) {
            seen_help |= strncmp(p.lines[j], help, strlen(help)) == 0;
            seen_type |= strncmp(p.lines[j], type, strlen(type)) == 0;
        }
        assert_true(seen_help);
        assert_true(seen_type);
    }
    render_free(&p);
}

static void test_prometheus_counters_end_in_total_and_gauges_do_not(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct prometheus p = render(&m);
    size_t types = 0;
    for (size_t i = 0; i < p.count; i++) {
        char name[160], type[32];
        if (sscanf(p.lines[i], "# TYPE %159s %31s", name, type) != 2)
            continue;
        types++;
        size_t n = strlen(name);
        bool total = n > 6 && strcmp(name + n - 6, "_total") == 0;
        if (strcmp(type, "counter") == 0)
            assert_true(total);
        else if (strcmp(type, "histogram") == 0)
            assert_string_equal(name + n - 8, "_seconds"); /* in the base unit */
        else
            assert_string_equal(type, "gauge");
        if (strcmp(type, "counter") != 0)
            assert_false(total);
    }
    assert_true(types >= 20);
    render_free(&p);
}

static void test_prometheus_names_every_metric_the_api_promises(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct prometheus p = render(&m);
    static const char *const counters[] = {
        "nanodns_queries_total",           "nanodns_responses_total",
        "nanodns_answers_total",           "nanodns_queries_by_type_total",
        "nanodns_truncated_total",         "nanodns_dropped_total",
        "nanodns_cache_hits_total",        "nanodns_cache_misses_total",
        "nanodns_cache_evictions_total",   "nanodns_reloads_total",
        "nanodns_reload_failures_total",   "nanodns_upstream_queries_total",
        "nanodns_upstream_timeouts_total", "nanodns_upstream_tcp_retries_total",
        "nanodns_inflight_overflow_total", "nanodns_querylog_dropped_total",
        "nanodns_stale_answers_total",     "nanodns_rebind_blocked_total",
    };
    static const char *const gauges[] = {
        "nanodns_cache_entries",     "nanodns_config_version",
        "nanodns_records",           "nanodns_zones",
        "nanodns_uptime_seconds",    "nanodns_config_valid",
        "nanodns_dataplane_up",      "nanodns_zone_serial",
        "nanodns_blocklist_entries", "nanodns_blocklist_skipped_lines",
    };
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        assert_non_null(type_of(&p, counters[i]));
        assert_string_equal(type_of(&p, counters[i]), "counter");
    }
    for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
        assert_non_null(type_of(&p, gauges[i]));
        assert_string_equal(type_of(&p, gauges[i]), "gauge");
    }
    static const char *const histograms[] = {
        "nanodns_answer_duration_seconds",
        "nanodns_upstream_duration_seconds",
        "nanodns_worker_answer_duration_seconds",
        "nanodns_worker_upstream_duration_seconds",
    };
    for (size_t i = 0; i < sizeof(histograms) / sizeof(histograms[0]); i++) {
        assert_non_null(type_of(&p, histograms[i]));
        assert_string_equal(type_of(&p, histograms[i]), "histogram");
    }
    render_free(&p);
}

/* A histogram's samples as a scraper reads them: the bucket bounds and
 * cumulative counts in order, _sum and _count; labels_prefix is what
 * comes before le= ("" or "worker=\"1\","). Fails on anything else. */
struct scraped {
    double le[STATS_LATENCY_BUCKETS + 1];
    uint64_t bucket[STATS_LATENCY_BUCKETS + 1];
    size_t buckets;
    char sum[64];
    uint64_t count;
    bool has_sum, has_count;
};

static struct scraped scrape(const struct prometheus *p, const char *name, const char *labels)
{
    struct scraped s = {0};
    char bucket[200], sum[200], count[200];
    snprintf(bucket, sizeof(bucket), "%s_bucket{%sle=\"", name, labels);
    char braces[64] = "";
    if (labels[0] != '\0')
        snprintf(braces, sizeof(braces), "{%.*s}", (int)strlen(labels) - 1, labels);
    snprintf(sum, sizeof(sum), "%s_sum%s ", name, braces);
    snprintf(count, sizeof(count), "%s_count%s ", name, braces);
    for (size_t i = 0; i < p->count; i++) {
        const char *line = p->lines[i];
        if (strncmp(line, bucket, strlen(bucket)) == 0) {
            assert_true(s.buckets <= STATS_LATENCY_BUCKETS);
            const char *le = line + strlen(bucket);
            char *end;
            s.le[s.buckets] = strncmp(le, "+Inf\"", 5) == 0 ? 1e300 : strtod(le, &end);
            const char *value = strstr(le, "\"} ");
            assert_non_null(value);
            s.bucket[s.buckets++] = strtoull(value + 3, &end, 10);
            assert_int_equal(*end, '\0');
        } else if (strncmp(line, sum, strlen(sum)) == 0) {
            snprintf(s.sum, sizeof(s.sum), "%s", line + strlen(sum));
            s.has_sum = true;
        } else if (strncmp(line, count, strlen(count)) == 0) {
            char *end;
            s.count = strtoull(line + strlen(count), &end, 10);
            assert_int_equal(*end, '\0');
            s.has_count = true;
        }
    }
    return s;
}

/* What every histogram must be: bounds rising to +Inf, counts cumulative,
 * +Inf equal to _count, and _count the sum of the per-bucket counts. */
static void assert_valid_histogram(const struct scraped *s, const struct stats_latency_totals *h)
{
    assert_int_equal(s->buckets, STATS_LATENCY_BUCKETS);
    assert_true(s->has_sum && s->has_count);
    uint64_t increments = 0;
    for (size_t i = 0; i < s->buckets; i++) {
        if (i > 0) {
            assert_true(s->le[i] > s->le[i - 1]);
            assert_true(s->bucket[i] >= s->bucket[i - 1]);
        }
        increments += h->buckets[i];
        assert_int_equal(s->bucket[i], increments);
    }
    assert_true(s->le[s->buckets - 1] == 1e300);
    assert_int_equal(s->bucket[s->buckets - 1], s->count);
    assert_int_equal(s->count, increments);
}

static void test_prometheus_histograms_are_cumulative_with_inf_equal_to_count(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct prometheus p = render(&m);
    struct scraped answer = scrape(&p, "nanodns_answer_duration_seconds", "");
    assert_valid_histogram(&answer, &m.totals.latency[STATS_LATENCY_ANSWER]);
    assert_int_equal(answer.count, 90);
    assert_string_equal(answer.sum, "4.001500123");
    struct scraped upstream = scrape(&p, "nanodns_upstream_duration_seconds", "");
    assert_valid_histogram(&upstream, &m.totals.latency[STATS_LATENCY_UPSTREAM]);
    assert_int_equal(upstream.count, 1);
    assert_string_equal(upstream.sum, "0.050000000");
    render_free(&p);
}

static void test_prometheus_bucket_bounds_are_powers_of_two_microseconds(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct prometheus p = render(&m);
    assert_true(has_line(&p, "nanodns_answer_duration_seconds_bucket{le=\"0.000016\"} 50"));
    assert_true(has_line(&p, "nanodns_answer_duration_seconds_bucket{le=\"0.000032\"} 80"));
    assert_true(has_line(&p, "nanodns_answer_duration_seconds_bucket{le=\"0.065536\"} 85"));
    assert_true(has_line(&p, "nanodns_answer_duration_seconds_bucket{le=\"1.048576\"} 87"));
    assert_true(has_line(&p, "nanodns_answer_duration_seconds_bucket{le=\"+Inf\"} 90"));
    struct scraped answer = scrape(&p, "nanodns_answer_duration_seconds", "");
    for (size_t i = 0; i + 1 < answer.buckets; i++)
        assert_true(answer.le[i] == (double)(16u << i) / 1e6);
    render_free(&p);
}

static void test_prometheus_each_worker_has_its_histograms(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct prometheus p = render(&m);
    static const char *const labels[] = {"worker=\"0\",", "worker=\"1\","};
    for (unsigned w = 0; w < 2; w++) {
        for (unsigned k = 0; k < STATS_LATENCIES; k++) {
            char name[96];
            snprintf(name, sizeof(name), "nanodns_worker_%s_duration_seconds",
                     stats_latency_name((enum stats_latency_kind)k));
            struct scraped s = scrape(&p, name, labels[w]);
            assert_valid_histogram(&s, &m.totals.worker_latency[w][k]);
        }
    }
    assert_true(has_line(&p, "nanodns_worker_answer_duration_seconds_count{worker=\"0\"} 55"));
    assert_true(has_line(&p, "nanodns_worker_answer_duration_seconds_sum{worker=\"1\"} "
                             "4.000000123"));
    assert_true(has_line(&p, "nanodns_worker_upstream_duration_seconds_count{worker=\"1\"} 0"));
    /* Summed over the workers: no worker label. */
    assert_int_equal(samples_of(&p, "nanodns_answer_duration_seconds_bucket"),
                     STATS_LATENCY_BUCKETS);
    assert_int_equal(samples_of(&p, "nanodns_worker_answer_duration_seconds_bucket"),
                     2 * STATS_LATENCY_BUCKETS);
    render_free(&p);
}

static void test_prometheus_histograms_of_a_fresh_data_plane_are_zero(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    memset(m.totals.latency, 0, sizeof(m.totals.latency));
    memset(m.totals.worker_latency, 0, sizeof(m.totals.worker_latency));
    struct prometheus p = render(&m);
    struct scraped s = scrape(&p, "nanodns_upstream_duration_seconds", "");
    assert_valid_histogram(&s, &m.totals.latency[STATS_LATENCY_UPSTREAM]);
    assert_int_equal(s.count, 0);
    assert_string_equal(s.sum, "0.000000000");
    render_free(&p);
}

static void test_prometheus_queries_are_labelled_by_transport(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct prometheus p = render(&m);
    assert_true(has_line(&p, "nanodns_queries_total{transport=\"udp\"} 100"));
    assert_true(has_line(&p, "nanodns_queries_total{transport=\"tcp\"} 5"));
    assert_int_equal(samples_of(&p, "nanodns_queries_total"), STATS_TRANSPORTS);
    render_free(&p);
}

static void test_prometheus_every_rcode_has_a_sample_zeros_included(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct prometheus p = render(&m);
    assert_int_equal(samples_of(&p, "nanodns_responses_total"), STATS_RCODES);
    assert_true(has_line(&p, "nanodns_responses_total{rcode=\"NOERROR\"} 90"));
    assert_true(has_line(&p, "nanodns_responses_total{rcode=\"NXDOMAIN\"} 14"));
    assert_true(has_line(&p, "nanodns_responses_total{rcode=\"SERVFAIL\"} 0"));
    render_free(&p);
}

static void test_prometheus_answers_and_qtypes_use_fixed_label_sets(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct prometheus p = render(&m);
    assert_int_equal(samples_of(&p, "nanodns_answers_total"), STATS_SOURCES);
    assert_true(has_line(&p, "nanodns_answers_total{source=\"blocked\"} 6"));
    assert_int_equal(samples_of(&p, "nanodns_queries_by_type_total"), STATS_QTYPES);
    assert_true(has_line(&p, "nanodns_queries_by_type_total{qtype=\"AAAA\"} 20"));
    assert_true(has_line(&p, "nanodns_queries_by_type_total{qtype=\"OTHER\"} 5"));
    render_free(&p);
}

static void test_prometheus_single_figures(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct prometheus p = render(&m);
    assert_true(has_line(&p, "nanodns_truncated_total 2"));
    assert_true(has_line(&p, "nanodns_dropped_total 9"));
    assert_true(has_line(&p, "nanodns_cache_hits_total 39"));
    assert_true(has_line(&p, "nanodns_cache_misses_total 1"));
    assert_true(has_line(&p, "nanodns_cache_evictions_total 3"));
    assert_true(has_line(&p, "nanodns_cache_entries 17"));
    assert_true(has_line(&p, "nanodns_stale_answers_total 11"));
    assert_true(has_line(&p, "nanodns_rebind_blocked_total 12"));
    assert_true(has_line(&p, "nanodns_upstream_queries_total 21"));
    assert_true(has_line(&p, "nanodns_upstream_timeouts_total 4"));
    assert_true(has_line(&p, "nanodns_upstream_tcp_retries_total 2"));
    assert_true(has_line(&p, "nanodns_inflight_overflow_total 6"));
    assert_true(has_line(&p, "nanodns_querylog_dropped_total 8"));
    assert_true(has_line(&p, "nanodns_reloads_total 4"));
    assert_true(has_line(&p, "nanodns_reload_failures_total 1"));
    assert_true(has_line(&p, "nanodns_config_version 7"));
    assert_true(has_line(&p, "nanodns_records 11"));
    assert_true(has_line(&p, "nanodns_zones 2"));
    assert_true(has_line(&p, "nanodns_uptime_seconds 12.340"));
    render_free(&p);
}

static void test_prometheus_booleans_are_one_or_zero(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct prometheus p = render(&m);
    assert_true(has_line(&p, "nanodns_config_valid 1"));
    assert_true(has_line(&p, "nanodns_dataplane_up 1"));
    render_free(&p);

    m.config_valid = false;
    m.dataplane_alive = false;
    p = render(&m);
    assert_true(has_line(&p, "nanodns_config_valid 0"));
    assert_true(has_line(&p, "nanodns_dataplane_up 0"));
    render_free(&p);
}

static void test_prometheus_zone_serial_is_labelled_by_zone(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct prometheus p = render(&m);
    assert_true(has_line(&p, "nanodns_zone_serial{zone=\"internal.lan\"} 2024010107"));
    assert_true(has_line(&p, "nanodns_zone_serial{zone=\"x.test\"} 8"));
    assert_int_equal(samples_of(&p, "nanodns_zone_serial"), 2);
    render_free(&p);
}

static void test_prometheus_label_values_are_escaped(void **state)
{
    (void)state;
    static const struct metrics_zone_serial odd[] = {{"a\"b\\c\nd", 1}};
    struct metrics_snapshot m = snapshot();
    m.serials = odd;
    m.zone_count = 1;
    struct prometheus p = render(&m);
    assert_true(has_line(&p, "nanodns_zone_serial{zone=\"a\\\"b\\\\c\\nd\"} 1"));
    render_free(&p);
}

static void test_prometheus_blocklist_gauges_are_labelled_by_list(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct prometheus p = render(&m);
    assert_string_equal(type_of(&p, "nanodns_blocklist_entries"), "gauge");
    assert_string_equal(type_of(&p, "nanodns_blocklist_skipped_lines"), "gauge");
    assert_true(
        has_line(&p, "nanodns_blocklist_entries{list=\"/etc/nanodns/lists/ads.txt\"} 1200"));
    assert_true(has_line(&p, "nanodns_blocklist_entries{list=\"/etc/nanodns/lists/hosts\"} 35"));
    assert_true(
        has_line(&p, "nanodns_blocklist_skipped_lines{list=\"/etc/nanodns/lists/ads.txt\"} 2"));
    assert_true(
        has_line(&p, "nanodns_blocklist_skipped_lines{list=\"/etc/nanodns/lists/hosts\"} 0"));
    assert_int_equal(samples_of(&p, "nanodns_blocklist_entries"), 2);
    assert_int_equal(samples_of(&p, "nanodns_blocklist_skipped_lines"), 2);
    render_free(&p);
}

static void test_prometheus_blocklist_paths_are_escaped(void **state)
{
    (void)state;
    static const struct metrics_blocklist odd[] = {
        {"lists/a\"b\\c\nd", "domains", 3, 1, NULL, 0, ADS_DIGEST},
    };
    struct metrics_snapshot m = snapshot();
    m.blocklists = odd;
    m.blocklist_count = 1;
    struct prometheus p = render(&m);
    assert_true(has_line(&p, "nanodns_blocklist_entries{list=\"lists/a\\\"b\\\\c\\nd\"} 3"));
    assert_true(has_line(&p, "nanodns_blocklist_skipped_lines{list=\"lists/a\\\"b\\\\c\\nd\"} 1"));
    render_free(&p);
}

/* Two samples with one label set would fail the whole scrape. */
static void test_prometheus_a_file_listed_twice_is_one_series(void **state)
{
    (void)state;
    static const struct metrics_blocklist twice[] = {
        {"lists/ads.txt", "domains", 10, 1, NULL, 0, ADS_DIGEST},
        {"lists/other.txt", "domains", 5, 0, NULL, 0, HOSTS_DIGEST},
        {"lists/ads.txt", "adblock", 7, 2, NULL, 0, ADS_DIGEST},
    };
    struct metrics_snapshot m = snapshot();
    m.blocklists = twice;
    m.blocklist_count = 3;
    struct prometheus p = render(&m);
    assert_int_equal(samples_of(&p, "nanodns_blocklist_entries"), 2);
    assert_true(has_line(&p, "nanodns_blocklist_entries{list=\"lists/ads.txt\"} 17"));
    assert_true(has_line(&p, "nanodns_blocklist_skipped_lines{list=\"lists/ads.txt\"} 3"));
    assert_true(has_line(&p, "nanodns_blocklist_entries{list=\"lists/other.txt\"} 5"));
    render_free(&p);
}

static void test_prometheus_without_lists_keeps_help_and_type(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    m.blocklists = NULL;
    m.blocklist_count = 0;
    struct prometheus p = render(&m);
    assert_non_null(type_of(&p, "nanodns_blocklist_entries"));
    assert_int_equal(samples_of(&p, "nanodns_blocklist_entries"), 0);
    assert_int_equal(samples_of(&p, "nanodns_blocklist_skipped_lines"), 0);
    render_free(&p);
}

/* Blocked answers are nanodns_answers_total{source="blocked"}, a counter:
 * no second metric counts them. */
static void test_prometheus_blocked_answers_are_a_counter_by_source(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    struct prometheus p = render(&m);
    assert_string_equal(type_of(&p, "nanodns_answers_total"), "counter");
    assert_true(has_line(&p, "nanodns_answers_total{source=\"blocked\"} 6"));
    assert_null(type_of(&p, "nanodns_blocked_total"));
    render_free(&p);
}

static void test_prometheus_without_zones_keeps_help_and_type(void **state)
{
    (void)state;
    struct metrics_snapshot m = snapshot();
    m.serials = NULL;
    m.zone_count = 0;
    struct prometheus p = render(&m);
    assert_non_null(type_of(&p, "nanodns_zone_serial"));
    assert_int_equal(samples_of(&p, "nanodns_zone_serial"), 0);
    assert_true(has_line(&p, "nanodns_zones 0"));
    render_free(&p);
}

/* -- content negotiation --------------------------------------------------- */

static void test_accept_absent_or_wildcard_keeps_json(void **state)
{
    (void)state;
    assert_false(metrics_accept_prefers_text(NULL));
    assert_false(metrics_accept_prefers_text(""));
    assert_false(metrics_accept_prefers_text("*/*"));
    assert_false(metrics_accept_prefers_text("application/json"));
}

static void test_accept_text_plain_gets_prometheus(void **state)
{
    (void)state;
    assert_true(metrics_accept_prefers_text("text/plain"));
    assert_true(metrics_accept_prefers_text("TEXT/PLAIN; version=0.0.4"));
    assert_true(metrics_accept_prefers_text("text/plain, */*"));
}

static void test_accept_openmetrics_gets_prometheus(void **state)
{
    (void)state;
    assert_true(metrics_accept_prefers_text("application/openmetrics-text; version=1.0.0"));
}

static void test_accept_header_of_prometheus_scraper_gets_prometheus(void **state)
{
    (void)state;
    assert_true(metrics_accept_prefers_text(
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
        "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
}

static void test_accept_of_a_browser_keeps_json(void **state)
{
    (void)state;
    assert_false(metrics_accept_prefers_text(
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
}

static void test_accept_quality_decides(void **state)
{
    (void)state;
    assert_false(metrics_accept_prefers_text("text/plain;q=0.1, application/json"));
    assert_true(metrics_accept_prefers_text("application/json;q=0.2, text/plain;q=0.9"));
    assert_false(metrics_accept_prefers_text("text/plain;q=0"));
    assert_false(metrics_accept_prefers_text("application/json, text/plain"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_rate_is_a_percentage_with_one_decimal),
        cmocka_unit_test(test_hit_rate_rounds_to_one_decimal),
        cmocka_unit_test(test_hit_rate_is_zero_without_lookups),
        cmocka_unit_test(test_json_has_every_key_of_the_original_and_ours),
        cmocka_unit_test(test_json_config_figures),
        cmocka_unit_test(test_json_uptime_is_written_with_one_decimal),
        cmocka_unit_test(test_json_serial_maps_each_zone_to_its_served_serial),
        cmocka_unit_test(test_json_cache_has_size_hits_misses_and_hit_rate),
        cmocka_unit_test(test_json_cache_counts_stale_answers),
        cmocka_unit_test(
            test_json_upstream_has_queries_timeouts_tcp_retries_overflow_and_rebind_blocked),
        cmocka_unit_test(test_json_querylog_dropped_is_a_top_level_count),
        cmocka_unit_test(test_json_hit_rate_is_zero_without_lookups),
        cmocka_unit_test(test_json_queries_total_is_the_sum_of_transports),
        cmocka_unit_test(test_json_rcodes_are_keyed_by_name_and_all_present),
        cmocka_unit_test(test_json_answers_are_keyed_by_source),
        cmocka_unit_test(test_json_blocklists_give_path_format_entries_skipped_and_digest),
        cmocka_unit_test(test_json_has_the_node_blocklist_digest),
        cmocka_unit_test(test_json_without_lists_has_an_empty_blocklists_array),
        cmocka_unit_test(test_json_qtypes_are_keyed_by_type_name),
        cmocka_unit_test(test_json_last_error_is_null_when_there_is_none),
        cmocka_unit_test(test_json_invalid_config_shows_its_error),
        cmocka_unit_test(test_json_dataplane_has_alive_pid_and_image_version),
        cmocka_unit_test(test_json_latency_buckets_are_cumulative_and_end_in_the_count),
        cmocka_unit_test(test_json_latency_shows_each_worker),
        cmocka_unit_test(test_privilege_separation_is_reported_in_json_and_prometheus),
        cmocka_unit_test(test_prometheus_sample_lines_are_name_labels_value),
        cmocka_unit_test(test_prometheus_every_metric_has_help_and_type_before_its_samples),
        cmocka_unit_test(test_prometheus_counters_end_in_total_and_gauges_do_not),
        cmocka_unit_test(test_prometheus_names_every_metric_the_api_promises),
        cmocka_unit_test(test_prometheus_histograms_are_cumulative_with_inf_equal_to_count),
        cmocka_unit_test(test_prometheus_bucket_bounds_are_powers_of_two_microseconds),
        cmocka_unit_test(test_prometheus_each_worker_has_its_histograms),
        cmocka_unit_test(test_prometheus_histograms_of_a_fresh_data_plane_are_zero),
        cmocka_unit_test(test_prometheus_queries_are_labelled_by_transport),
        cmocka_unit_test(test_prometheus_every_rcode_has_a_sample_zeros_included),
        cmocka_unit_test(test_prometheus_answers_and_qtypes_use_fixed_label_sets),
        cmocka_unit_test(test_prometheus_single_figures),
        cmocka_unit_test(test_prometheus_booleans_are_one_or_zero),
        cmocka_unit_test(test_prometheus_zone_serial_is_labelled_by_zone),
        cmocka_unit_test(test_prometheus_label_values_are_escaped),
        cmocka_unit_test(test_prometheus_blocklist_gauges_are_labelled_by_list),
        cmocka_unit_test(test_prometheus_blocklist_paths_are_escaped),
        cmocka_unit_test(test_prometheus_a_file_listed_twice_is_one_series),
        cmocka_unit_test(test_prometheus_without_lists_keeps_help_and_type),
        cmocka_unit_test(test_prometheus_blocked_answers_are_a_counter_by_source),
        cmocka_unit_test(test_prometheus_without_zones_keeps_help_and_type),
        cmocka_unit_test(test_accept_absent_or_wildcard_keeps_json),
        cmocka_unit_test(test_accept_text_plain_gets_prometheus),
        cmocka_unit_test(test_accept_openmetrics_gets_prometheus),
        cmocka_unit_test(test_accept_header_of_prometheus_scraper_gets_prometheus),
        cmocka_unit_test(test_accept_of_a_browser_keeps_json),
        cmocka_unit_test(test_accept_quality_decides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
