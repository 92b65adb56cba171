/* Unit tests of the config loader (controlplane/config_*.c): loading the original NanoDNS JSON
 * format, and every finding the validator makes, with its position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <sodium.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include "compile.h"
#include "config.h"
#include "config_edit.h"
#include "image.h"

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/data"
#endif
#define CONFIG_DATA TEST_DATA_DIR "/config/"

struct fixture {
    struct config cfg;
    struct config_diags diags;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    config_diags_init(&f->diags, "nanodns.json");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    config_free(&f->cfg);
    config_diags_free(&f->diags);
    free(f);
    return 0;
}

static int load(struct fixture *f, const char *json)
{
    return config_load_buffer(json, strlen(json), &f->cfg, &f->diags);
}

/* Print what was found, so a failing test shows it. */
static void show(const struct fixture *f)
{
    config_diags_print(&f->diags, stderr);
}

/* The finding with this path (the first one), or a failure. */
static const struct config_diag *diag_at(const struct fixture *f, const char *path)
{
    for (size_t i = 0; i < f->diags.count; i++)
        if (strcmp(f->diags.items[i].path, path) == 0)
            return &f->diags.items[i];
    show(f);
    fail_msg("no finding at %s", path);
    /* Not reached: fail_msg leaves the test, but cmocka 1.1 does not declare
     * it noreturn. Returning NULL here gave the callers a path that reads
     * d->message from a null d (gcc -O3: -Wstringop-overread). */
    abort();
}

static void assert_diag(const struct fixture *f, const char *path, enum config_severity severity,
                        unsigned line, unsigned column, const char *message)
{
    const struct config_diag *d = diag_at(f, path);
    if (d->severity != severity || d->line != line || d->column != column ||
        strcmp(d->message, message) != 0) {
        show(f);
        fail_msg("%s: got %s %u:%u \"%s\", want %s %u:%u \"%s\"", path,
                 d->severity == CONFIG_ERROR ? "error" : "warning", d->line, d->column, d->message,
                 severity == CONFIG_ERROR ? "error" : "warning", line, column, message);
    }
}

static void assert_one_error(const struct fixture *f, const char *path, unsigned line,
                             unsigned column, const char *message)
{
    if (f->diags.errors != 1 || f->diags.count != 1)
        show(f);
    assert_int_equal(f->diags.errors, 1);
    assert_int_equal(f->diags.count, 1);
    assert_diag(f, path, CONFIG_ERROR, line, column, message);
}

/* Whether a message contains a piece of text. */
static void assert_message_has(const struct config_diag *d, const char *text)
{
    if (!strstr(d->message, text))
        fail_msg("\"%s\" does not contain \"%s\"", d->message, text);
}

static void assert_rdata(const struct config_record *r, const uint8_t *want, size_t len)
{
    assert_int_equal(r->rdata_len, len);
    assert_memory_equal(r->rdata, want, len);
}

/* One record line inside a config: {"records": [ RECORD ]}. The record
 * stands on line 3 from column 5. */
#define ONE_RECORD(record) "{\n  \"records\": [\n    " record "\n  ]\n}\n"

/* ---- the original's example ---- */

/* The warning about the management API beyond loopback, port 9053. */
#define API_EXPOSED_9053                                                                           \
    "the API listens beyond loopback on a node without keys: any host reaching port 9053 reads "   \
    "its health and metrics, and none can read the config, reload or sync; set mgmt_host "         \
    "to \"127.0.0.1\", or for a cluster give the nodes keys (sync_key, peers with public_key)"

static void test_builtin_example_loads_without_a_finding(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, CONFIG_EXAMPLE_JSON), 0);
    if (f->diags.count != 0)
        show(f);
    assert_int_equal(f->diags.errors, 0);
    assert_int_equal(f->diags.warnings, 0);
    assert_int_equal(f->cfg.record_count, 9);
    assert_int_equal(f->cfg.zone_count, 1);
    assert_int_equal(f->cfg.rewrite_count, 2);
    assert_string_equal(f->cfg.server.mgmt_host, "127.0.0.1");
    assert_int_equal(f->cfg.server.mgmt_port, 9053);
    assert_string_equal(f->cfg.zones[0].name, "internal.lan");
    assert_int_equal(f->cfg.zones[0].ns_count, 1);
    assert_true(f->cfg.records[8].wildcard);
}

/* The fixture is what the original's `nanodns init` writes. */
static void test_original_example_summary_matches_the_original(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(config_load_file(CONFIG_DATA "original_example.json", &f->cfg, &f->diags), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    config_print_summary(&f->cfg, out);
    fclose(out);
    assert_string_equal(text, "OK Config is valid.\n"
                              "  Records : 8\n"
                              "  Zones   : 1\n"
                              "  Rewrites: 2\n"
                              "  Upstream: ['8.8.8.8', '1.1.1.1']\n"
                              "  Listen  : 0.0.0.0:53\n"
                              "  Serial  : internal.lan 2024010102\n");
    free(text);
}

static void test_original_example_warns_about_its_api_and_its_mail_target(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(config_load_file(CONFIG_DATA "original_example.json", &f->cfg, &f->diags), 0);
    if (f->diags.count != 2)
        show(f);
    assert_int_equal(f->diags.errors, 0);
    assert_int_equal(f->diags.warnings, 2);
    assert_diag(f, "server.mgmt_host", CONFIG_WARNING, 17, 18, API_EXPOSED_9053);
    assert_diag(f, "records[4].value", CONFIG_WARNING, 67, 16,
                "MX target \"mail.internal.lan\" is inside zone \"internal.lan\" but has no "
                "records, so whoever follows it gets NXDOMAIN; add its A or AAAA record");
}

/* `nanodns init` writes the original's example (json.dump, indent 2) with
 * two changes: the API on loopback, and an address for the MX target. */
static void
test_builtin_example_is_the_originals_with_a_loopback_api_and_a_mail_address(void **state)
{
    (void)state;
    static const char api_before[] = "\"mgmt_host\": \"0.0.0.0\"";
    static const char api_after[] = "\"mgmt_host\": \"127.0.0.1\"";
    static const char mx_record_end[] = "\"value\": \"mail.internal.lan\",\n"
                                        "      \"priority\": 10,\n"
                                        "      \"ttl\": 3600\n"
                                        "    },\n";
    static const char mail_record[] = "    {\n"
                                      "      \"name\": \"mail.internal.lan\",\n"
                                      "      \"type\": \"A\",\n"
                                      "      \"value\": \"192.168.1.25\",\n"
                                      "      \"ttl\": 3600\n"
                                      "    },\n";
    FILE *in = fopen(CONFIG_DATA "original_example.json", "rb");
    assert_non_null(in);
    char original[8192], edited[8192];
    size_t n = fread(original, 1, sizeof(original) - 1, in);
    fclose(in);
    original[n] = '\0';
    char *api = strstr(original, api_before);
    char *mx = strstr(original, mx_record_end);
    assert_non_null(api);
    assert_non_null(mx);
    mx += strlen(mx_record_end);
    snprintf(edited, sizeof(edited), "%.*s%s%.*s%s%s", (int)(api - original), original, api_after,
             (int)(mx - api - strlen(api_before)), api + strlen(api_before), mail_record, mx);
    assert_string_equal(edited, CONFIG_EXAMPLE_JSON);
}

static void test_load_file_reads_the_example_fixture(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(config_load_file(CONFIG_DATA "original_example.json", &f->cfg, &f->diags), 0);
    assert_int_equal(f->cfg.record_count, 8);
}

static void test_missing_file_is_one_error_without_position(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(config_load_file(CONFIG_DATA "no-such-file.json", &f->cfg, &f->diags), -1);
    assert_int_equal(f->diags.errors, 1);
    assert_int_equal(f->diags.items[0].line, 0);
    assert_non_null(strstr(f->diags.items[0].message, "No such file"));
}

/* ---- defaults ---- */

static void test_empty_object_gives_the_defaults(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{}"), 0);
    const struct config_server *s = &f->cfg.server;
    assert_string_equal(s->host, "0.0.0.0");
    assert_int_equal(s->port, 53);
    assert_int_equal(s->upstream_count, 2);
    assert_string_equal(s->upstream[0], "8.8.8.8");
    assert_string_equal(s->upstream[1], "1.1.1.1");
    assert_true(s->upstream_timeout == 3.0);
    assert_int_equal(s->upstream_port, 53);
    assert_true(s->cache_enabled);
    assert_int_equal(s->cache_ttl, 300);
    assert_int_equal(s->cache_size, 1000);
    assert_string_equal(s->log_level, "INFO");
    assert_true(s->log_queries);
    assert_true(s->hot_reload);
    assert_string_equal(s->mgmt_host, "0.0.0.0");
    assert_int_equal(s->mgmt_port, 0);
    assert_int_equal(s->peer_count, 0);
    assert_int_equal(s->config_version, 1);
    assert_int_equal(s->edns_payload, 1232);
    assert_int_equal(s->tcp_idle_timeout, 10);
    assert_int_equal(s->tcp_max_connections, 256);
    assert_int_equal(s->serve_stale, 86400);
    assert_int_equal(f->cfg.record_count, 0);
    /* forwarding */
    assert_int_equal(s->upstreams[0].family, 4);
    assert_int_equal(s->upstreams[0].port, 53);
    assert_memory_equal(s->upstreams[0].addr, ((uint8_t[]){8, 8, 8, 8}), 4);
    assert_memory_equal(s->upstreams[1].addr, ((uint8_t[]){1, 1, 1, 1}), 4);
    assert_int_equal(s->forward_zone_count, 0);
    assert_int_equal(s->max_inflight, 1024);
    assert_int_equal(s->allow_recursion_count, CIDR_DEFAULT_RECURSION_COUNT);
    assert_int_equal(s->allow_query_count, 0);
    assert_int_equal(s->log_format, IMAGE_LOG_TEXT);
    assert_int_equal(f->cfg.zone_count, 0);
    assert_int_equal(f->cfg.rewrite_count, 0);
}

static void test_record_defaults_ttl_300_and_priority_10(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, ONE_RECORD("{\"name\": \"lan\", \"type\": \"MX\", \"value\": \"m.lan\"}")), 0);
    const struct config_record *r = &f->cfg.records[0];
    assert_int_equal(r->ttl, 300);
    assert_false(r->wildcard);
    assert_int_equal(wire_get16(r->rdata), 10);
}

static void test_soa_defaults_follow_the_zone_name(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"zones\": {\"corp.lan\": {}}}"), 0);
    const struct config_zone *z = &f->cfg.zones[0];
    uint8_t mname[] = "\3ns1\4corp\3lan";
    uint8_t rname[] = "\5admin\4corp\3lan";
    assert_int_equal(z->soa.mname_len, sizeof(mname));
    assert_memory_equal(z->soa.mname, mname, sizeof(mname));
    assert_int_equal(z->soa.rname_len, sizeof(rname));
    assert_memory_equal(z->soa.rname, rname, sizeof(rname));
    assert_int_equal(z->soa.serial, 2024010101);
    assert_int_equal(z->soa.refresh, 3600);
    assert_int_equal(z->soa.retry, 900);
    assert_int_equal(z->soa.expire, 604800);
    assert_int_equal(z->soa.minimum, 300);
    assert_int_equal(z->ns_count, 0);
}

static void test_soa_fields_absent_keep_their_defaults(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"zones\": {\"corp.lan\": {\"soa\": {\"serial\": 7}}}}"), 0);
    assert_int_equal(f->cfg.zones[0].soa.serial, 7);
    assert_int_equal(f->cfg.zones[0].soa.minimum, 300);
}

static void test_summary_serial_adds_config_version_modulo_2_32(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"config_version\": 5},"
                             " \"zones\": {\"a.lan\": {\"soa\": {\"serial\": 4294967295}}}}"),
                     0);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    config_print_summary(&f->cfg, out);
    fclose(out);
    assert_non_null(strstr(text, "  Serial  : a.lan 4\n"));
    free(text);
}

/* The summary config_print_summary writes for the config loaded in f (malloc'd). */
static char *summary_of(struct fixture *f)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    config_print_summary(&f->cfg, out);
    fclose(out);
    return text;
}

static void test_summary_lists_each_star_wildcard_owner_once(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"records\": ["
                             "{\"name\": \"*.Dev.lan\", \"type\": \"A\", \"value\": \"10.0.0.1\"},"
                             "{\"name\": \"*.dev.lan\", \"type\": \"TXT\", \"value\": \"t\"},"
                             "{\"name\": \"*.a.lan\", \"type\": \"A\", \"value\": \"10.0.0.2\"},"
                             "{\"name\": \"a.*.b.lan\", \"type\": \"A\", \"value\": \"10.0.0.3\"},"
                             "{\"name\": \"app.lan\", \"type\": \"A\", \"value\": \"10.0.0.4\","
                             " \"wildcard\": true}]}"),
                     0);
    char *text = summary_of(f);
    /* in the config's order, each name once as first written; a "*"
     * inside a name is literal */
    const char *wildcards = strstr(text, "  Wildcard: ");
    assert_non_null(wildcards);
    assert_string_equal(wildcards, "  Wildcard: *.Dev.lan\n"
                                   "  Wildcard: *.a.lan\n");
    free(text);
}

static void test_summary_has_no_wildcard_line_without_star_owners(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"records\": [{\"name\": \"app.lan\", \"type\": \"A\","
                             " \"value\": \"10.0.0.4\", \"wildcard\": true}]}"),
                     0);
    char *text = summary_of(f);
    assert_null(strstr(text, "Wildcard"));
    free(text);
}

/* ---- JSON syntax ---- */

static void test_syntax_error_has_line_and_column(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\n  \"server\": {\n    \"port\" 53\n  }\n}\n"), -1);
    /* json-c stops at the 5 where the ':' should be */
    assert_one_error(f, "", 3, 12,
                     "JSON syntax error: object property name separator ':' expected (expected ':' "
                     "after the member name)");
}

static void test_trailing_comma_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\n  \"records\": [],\n}\n"), -1);
    assert_one_error(f, "", 3, 1, "JSON syntax error: unexpected character (trailing comma)");
}

static void test_comment_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\n  // no comments in JSON\n}\n"), -1);
    assert_int_equal(f->diags.errors, 1);
    assert_int_equal(f->diags.items[0].line, 2);
    assert_int_equal(f->diags.items[0].column, 3);
}

static void test_single_quotes_are_an_error(void **state)
{
    struct fixture *f = *state;
    /* json-c's strict mode lets these through; RFC 8259 does not */
    assert_int_equal(load(f, "{'server': {}}"), -1);
    assert_one_error(f, "", 1, 2, "JSON syntax error: strings must be in double quotes");
}

static void test_nan_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"upstream_timeout\": NaN}}"), -1);
    assert_one_error(f, "", 1, 33, "JSON syntax error: NaN is not a JSON number");
}

static void test_truncated_file_is_an_error_at_its_end(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\n  \"zones\": {"), -1);
    assert_one_error(f, "", 2, 13, "JSON syntax error: unexpected end of input");
}

static void test_top_level_must_be_an_object(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "[]"), -1);
    assert_one_error(f, "", 1, 1,
                     "the configuration must be a JSON object ({} is the smallest), not an array");
}

/* ---- keys and types ---- */

static void test_unknown_key_suggests_the_nearest(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, ONE_RECORD("{\"name\": \"a.lan\", \"type\": \"A\", \"value\": \"10.0.0.1\", "
                           "\"tll\": 60}")),
        -1);
    /* the position is the key's */
    assert_one_error(f, "records[0].tll", 3, 57, "unknown key \"tll\" (did you mean \"ttl\"?)");
}

static void test_unknown_key_suggests_by_prefix(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"upstream_time\": 2}}"), -1);
    assert_one_error(f, "server.upstream_time", 1, 13,
                     "unknown key \"upstream_time\" (did you mean \"upstream_timeout\"?)");
}

static void test_unknown_key_without_a_near_one(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"zones\": {\"a.lan\": {\"soa\": {\"colour\": 1}}}}"), -1);
    assert_one_error(f, "zones.a.lan.soa.colour", 1, 30, "unknown key \"colour\"");
}

static void test_unknown_top_level_key_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"record\": []}"), -1);
    assert_one_error(f, "record", 1, 2, "unknown key \"record\" (did you mean \"records\"?)");
}

static void test_duplicate_key_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"port\": 53, \"port\": 5353}}"), -1);
    assert_one_error(f, "server.port", 1, 13,
                     "duplicate key \"port\" (again at 1:25; JSON parsers would silently keep "
                     "only the last one)");
}

static void test_one_letter_key_gets_no_suggestion(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"zones\": {\"a.lan\": {\"x\": 1}}}"), -1);
    assert_one_error(f, "zones.a.lan.x", 1, 22, "unknown key \"x\"");
}

static void test_nul_character_in_a_key_is_an_error(void **state)
{
    struct fixture *f = *state;
    /* json-c would take "ttl\u0000x" for "ttl" */
    assert_int_equal(load(f, ONE_RECORD("{\"name\": \"a.lan\", \"type\": \"A\", \"value\": "
                                        "\"10.0.0.1\", \"ttl\\u0000x\": 5}")),
                     -1);
    assert_one_error(f, "records[0].ttl\\x00x", 3, 57,
                     "a NUL character (\\u0000) is not allowed in a key");
}

static void test_wrong_type_names_the_expected_type(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\n  \"server\": {\n    \"port\": \"53\"\n  }\n}\n"), -1);
    assert_one_error(f, "server.port", 3, 13, "expected an integer, got a string");
}

static void test_fractional_ttl_is_the_wrong_type(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, ONE_RECORD("{\"name\": \"a.lan\", \"type\": \"A\", \"value\": \"10.0.0.1\", "
                           "\"ttl\": 3.5}")),
        -1);
    assert_one_error(f, "records[0].ttl", 3, 64,
                     "expected an integer, got a number with a fraction or exponent");
}

static void test_integer_written_with_a_fraction_is_the_wrong_type(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, ONE_RECORD("{\"name\": \"a.lan\", \"type\": \"A\", \"value\": \"10.0.0.1\", "
                           "\"ttl\": 300.0}")),
        -1);
    assert_int_equal(f->diags.errors, 1);
    assert_string_equal(f->diags.items[0].path, "records[0].ttl");
}

static void test_missing_required_key_is_reported_at_the_record(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, ONE_RECORD("{\"name\": \"a.lan\", \"type\": \"A\"}")), -1);
    assert_one_error(f, "records[0]", 3, 5, "missing required key \"value\"");
}

/* ---- values ---- */

static void test_bad_ipv4_is_reported_with_its_position(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f,
             ONE_RECORD("{\"name\": \"web.lan\", \"type\": \"A\", \"value\": \"192.168.1.300\"}")),
        -1);
    assert_one_error(f, "records[0].value", 3, 47, "\"192.168.1.300\" is not an IPv4 address");
}

static void test_bad_ipv6_is_reported(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f,
             ONE_RECORD("{\"name\": \"v6.lan\", \"type\": \"AAAA\", \"value\": \"fd00::1::2\"}")),
        -1);
    assert_one_error(f, "records[0].value", 3, 49, "\"fd00::1::2\" is not an IPv6 address");
}

static void test_name_with_empty_label_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, ONE_RECORD("{\"name\": \"a..lan\", \"type\": \"A\", \"value\": \"10.0.0.1\"}")),
        -1);
    assert_one_error(f, "records[0].name", 3, 14, "empty label in name \"a..lan\"");
}

static void test_label_over_63_octets_is_an_error(void **state)
{
    struct fixture *f = *state;
    char json[512];
    char label[65];
    memset(label, 'x', 64);
    label[64] = '\0';
    snprintf(json, sizeof(json),
             ONE_RECORD("{\"name\": \"%s.lan\", \"type\": \"A\", \"value\": \"10.0.0.1\"}"), label);
    assert_int_equal(load(f, json), -1);
    assert_int_equal(f->diags.errors, 1);
    const struct config_diag *d = diag_at(f, "records[0].name");
    assert_int_equal(d->line, 3);
    assert_int_equal(d->column, 14);
    assert_message_has(d, "is longer than 63 octets");
}

static void test_name_over_255_octets_is_an_error(void **state)
{
    struct fixture *f = *state;
    /* 5 labels of 60 octets: 5 * 61 + 1 = 306 octets in wire form */
    char name[400] = "";
    for (int i = 0; i < 5; i++) {
        char label[62];
        memset(label, 'a' + i, 60);
        label[60] = '.';
        label[61] = '\0';
        strcat(name, label);
    }
    char json[600];
    snprintf(json, sizeof(json),
             ONE_RECORD("{\"name\": \"%s\", \"type\": \"A\", \"value\": \"10.0.0.1\"}"), name);
    assert_int_equal(load(f, json), -1);
    assert_int_equal(f->diags.errors, 1);
    assert_message_has(diag_at(f, "records[0].name"), "is longer than 255 octets in wire form");
}

static void test_ttl_above_2_31_is_out_of_range(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, ONE_RECORD("{\"name\": \"a.lan\", \"type\": \"A\", \"value\": \"10.0.0.1\", "
                           "\"ttl\": 2147483648}")),
        -1);
    assert_one_error(f, "records[0].ttl", 3, 64, "TTL 2147483648 is out of range (0..2147483647)");
}

static void test_negative_ttl_is_out_of_range(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, ONE_RECORD("{\"name\": \"a.lan\", \"type\": \"A\", \"value\": \"10.0.0.1\", "
                           "\"ttl\": -1}")),
        -1);
    assert_one_error(f, "records[0].ttl", 3, 64, "TTL -1 is out of range (0..2147483647)");
}

static void test_priority_above_65535_is_out_of_range(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, ONE_RECORD("{\"name\": \"lan\", \"type\": \"MX\", \"value\": \"m.lan\", "
                           "\"priority\": 65536}")),
        -1);
    assert_one_error(f, "records[0].priority", 3, 65, "priority 65536 is out of range (0..65535)");
}

static void test_srv_without_port_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, ONE_RECORD("{\"name\": \"_sip._tcp.lan\", \"type\": \"SRV\", "
                                        "\"value\": \"sip.lan\"}")),
                     -1);
    assert_one_error(f, "records[0]", 3, 5,
                     "missing required key \"port\" (an SRV record needs one)");
}

static void test_caa_without_tag_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, ONE_RECORD("{\"name\": \"lan\", \"type\": \"CAA\", "
                                        "\"value\": \"ca.example\"}")),
                     -1);
    assert_int_equal(f->diags.errors, 1);
    assert_message_has(diag_at(f, "records[0]"), "missing required key \"tag\"");
}

static void test_soa_in_records_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, ONE_RECORD("{\"name\": \"lan\", \"type\": \"SOA\", \"value\": \"x\"}")), -1);
    assert_one_error(f, "records[0].type", 3, 29,
                     "SOA comes from zones.<zone>.soa, not from records");
}

static void test_unknown_record_type_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, ONE_RECORD("{\"name\": \"lan\", \"type\": \"HINFO\", \"value\": \"x\"}")), -1);
    assert_int_equal(f->diags.errors, 1);
    assert_message_has(diag_at(f, "records[0].type"), "unknown record type \"HINFO\"");
}

static void test_soa_rname_with_at_suggests_the_dotted_form(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"zones\": {\"internal.lan\": {\"soa\": {\"rname\": \"admin@internal.lan\"}}}}"),
        -1);
    assert_one_error(f, "zones.internal.lan.soa.rname", 1, 46,
                     "\"admin@internal.lan\" is an e-mail address; rname is a name with the '@' "
                     "written as a dot: \"admin.internal.lan\" (RFC 1035 §3.3.13)");
}

static void test_soa_serial_above_2_32_is_out_of_range(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"zones\": {\"a.lan\": {\"soa\": {\"serial\": 4294967296}}}}"), -1);
    assert_one_error(f, "zones.a.lan.soa.serial", 1, 40,
                     "serial 4294967296 is out of range (0..4294967295)");
}

static void test_zone_ns_names_are_checked(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"zones\": {\"a.lan\": {\"ns\": [\"ns1.a.lan\", \"ns2..a.lan\"]}}}"),
                     -1);
    assert_one_error(f, "zones.a.lan.ns[1]", 1, 42, "empty label in name \"ns2..a.lan\"");
}

static void test_duplicate_zone_names_differ_only_in_case(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"zones\": {\"corp.lan\": {},\n  \"Corp.LAN.\": {}}}"), -1);
    assert_one_error(f, "zones.Corp.LAN.", 2, 3,
                     "zone \"Corp.LAN.\" is already defined as \"corp.lan\" (zone names are "
                     "case-insensitive)");
}

static void test_bad_upstream_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"upstream\": [\"9.9.9.9:53\", \"dns.google\"]}}"), -1);
    assert_one_error(f, "server.upstream[1]", 1, 40,
                     "\"dns.google\" is not an upstream address: \"IP\", \"IP:port\" or "
                     "\"[IPv6]:port\", with a port of 1..65535");
}

static void test_upstream_forms_are_accepted(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"upstream\": [\"9.9.9.9\", \"9.9.9.9:5353\", "
                             "\"[2620:fe::fe]:53\", \"2620:fe::9\"]}}"),
                     0);
    assert_int_equal(f->cfg.server.upstream_count, 4);
    assert_string_equal(f->cfg.server.upstream[2], "[2620:fe::fe]:53");
}

static void test_peers_are_host_and_port(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"peers\": [\"node2:9053\", \"10.0.0.3:9053\", "
                             "\"[fd00::3]:9053\"]}}"),
                     0);
    assert_int_equal(f->cfg.server.peer_count, 3);
    config_free(&f->cfg);
    assert_int_equal(load(f, "{\"server\": {\"peers\": [\"node2\"]}}"), -1);
    assert_int_equal(f->diags.errors, 1);
}

/* Thirty-two octets of 0x20, and of 0x21, in base64: two public keys. */
#define KEY_A "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICA="
#define KEY_B "ISEhISEhISEhISEhISEhISEhISEhISEhISEhISEhISE="

static void assert_finding(const struct fixture *f, const char *path, enum config_severity severity,
                           const char *text)
{
    const struct config_diag *d = diag_at(f, path);
    if (d->severity != severity) {
        show(f);
        fail_msg("%s: wrong severity", path);
    }
    assert_message_has(d, text);
}

static void test_plain_string_peer_loads_untrusted_with_a_warning(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"peers\": [\"node2:9053\"]}}"), 0);
    assert_int_equal(f->cfg.server.peer_count, 1);
    assert_string_equal(f->cfg.server.peers[0], "node2:9053");
    assert_false(f->cfg.server.peer_has_key[0]);
    assert_int_equal(f->diags.warnings, 1);
    assert_diag(f, "server.peers[0]", CONFIG_WARNING, 1, 23,
                "sync needs keys: a peer without a public_key is shown in /cluster but never "
                "trusted");
}

static void test_peer_object_carries_its_public_key(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f,
                          "{\"server\": {\"sync_key\": \"node.key\", \"peers\": ["
                          "{\"address\": \"10.0.0.11:9053\", \"public_key\": \"" KEY_A "\"}, "
                          "{\"address\": \"[fd00::12]:9053\", \"public_key\": \"" KEY_B "\"}]}}"),
                     0);
    assert_int_equal(f->diags.count, 0);
    assert_int_equal(f->cfg.server.peer_count, 2);
    assert_string_equal(f->cfg.server.peers[0], "10.0.0.11:9053");
    assert_string_equal(f->cfg.server.peers[1], "[fd00::12]:9053");
    assert_true(f->cfg.server.peer_has_key[0]);
    assert_true(f->cfg.server.peer_has_key[1]);
    uint8_t a[32], b[32];
    memset(a, 0x20, sizeof(a));
    memset(b, 0x21, sizeof(b));
    assert_memory_equal(f->cfg.server.peer_keys[0], a, 32);
    assert_memory_equal(f->cfg.server.peer_keys[1], b, 32);
}

static void test_plain_and_keyed_peers_mix(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"sync_key\": \"node.key\", \"peers\": ["
                             "\"10.0.0.11:9053\", "
                             "{\"address\": \"10.0.0.12:9053\", \"public_key\": \"" KEY_A "\"}]}}"),
                     0);
    assert_int_equal(f->cfg.server.peer_count, 2);
    assert_false(f->cfg.server.peer_has_key[0]);
    assert_true(f->cfg.server.peer_has_key[1]);
    assert_int_equal(f->diags.warnings, 1);
    assert_finding(f, "server.peers[0]", CONFIG_WARNING, "sync needs keys");
}

static void test_peer_object_with_an_unknown_key_is_an_error_with_a_suggestion(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"peers\": [{\"address\": \"10.0.0.11:9053\", "
                             "\"public_key\": \"" KEY_A "\", \"public_kye\": \"" KEY_A "\"}]}}"),
                     -1);
    assert_int_equal(f->diags.errors, 1);
    assert_finding(f, "server.peers[0].public_kye", CONFIG_ERROR,
                   "unknown key \"public_kye\" (did you mean \"public_key\"?)");
}

static void test_peer_object_without_a_public_key_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"peers\": [{\"address\": \"10.0.0.11:9053\"}]}}"), -1);
    assert_int_equal(f->diags.errors, 1);
    assert_finding(f, "server.peers[0]", CONFIG_ERROR, "missing required key \"public_key\"");
}

static void test_peer_object_without_an_address_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"peers\": [{\"public_key\": \"" KEY_A "\"}]}}"), -1);
    assert_int_equal(f->diags.errors, 1);
    assert_finding(f, "server.peers[0]", CONFIG_ERROR, "missing required key \"address\"");
}

static void test_peer_address_must_be_host_and_port(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"peers\": [{\"address\": \"10.0.0.11\", "
                             "\"public_key\": \"" KEY_A "\"}]}}"),
                     -1);
    assert_int_equal(f->diags.errors, 1);
    assert_finding(f, "server.peers[0].address", CONFIG_ERROR, "is not \"host:port\"");
}

static void test_peer_public_key_must_be_32_octets_of_base64(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "not base64!", "AAAA",                          /* 3 octets */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 33 octets */
        "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICA",  /* padding missing */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[256];
        snprintf(json, sizeof(json),
                 "{\"server\": {\"peers\": [{\"address\": \"a:1\", \"public_key\": \"%s\"}]}}",
                 bad[i]);
        assert_int_equal(load(f, json), -1);
        assert_finding(f, "server.peers[0].public_key", CONFIG_ERROR, "is not a public key");
        config_diags_free(&f->diags);
    }
}

static void test_peer_of_another_type_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"peers\": [9053]}}"), -1);
    assert_one_error(f, "server.peers[0]", 1, 23,
                     "expected a \"host:port\" string or an {\"address\", \"public_key\"} object, "
                     "got an integer");
}

static void test_two_peers_with_one_public_key_are_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"sync_key\": \"k\", \"peers\": ["
                             "{\"address\": \"a:1\", \"public_key\": \"" KEY_A "\"}, "
                             "{\"address\": \"b:1\", \"public_key\": \"" KEY_A "\"}]}}"),
                     -1);
    assert_int_equal(f->diags.errors, 1);
    assert_finding(f, "server.peers[1].public_key", CONFIG_ERROR,
                   "the same public key as the peer a:1");
}

static void test_keyed_peers_without_a_sync_key_warn(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f,
             "{\"server\": {\"peers\": [{\"address\": \"a:1\", \"public_key\": \"" KEY_A "\"}]}}"),
        0);
    assert_int_equal(f->diags.warnings, 1);
    assert_finding(f, "server.peers", CONFIG_WARNING,
                   "peers have public keys but server.sync_key is absent");
    assert_null(f->cfg.server.sync_key);
}

static void test_sync_key_is_relative_to_the_config_file_folder(void **state)
{
    struct fixture *f = *state;
    static const char json[] = "{\"server\": {\"sync_key\": \"keys/node1.key\"}}";
    assert_int_equal(
        config_load_buffer_at(json, strlen(json), "/etc/nanodns/nanodns.json", &f->cfg, &f->diags),
        0);
    assert_string_equal(f->cfg.server.sync_key, "/etc/nanodns/keys/node1.key");
    config_free(&f->cfg);
    assert_int_equal(
        config_load_buffer_at(json, strlen(json), "cluster/n1.json", &f->cfg, &f->diags), 0);
    assert_string_equal(f->cfg.server.sync_key, "cluster/keys/node1.key");
}

static void test_sync_key_beside_a_config_in_the_current_folder_stays_as_written(void **state)
{
    struct fixture *f = *state;
    static const char json[] = "{\"server\": {\"sync_key\": \"node1.key\"}}";
    assert_int_equal(config_load_buffer_at(json, strlen(json), "nanodns.json", &f->cfg, &f->diags),
                     0);
    assert_string_equal(f->cfg.server.sync_key, "node1.key");
    config_free(&f->cfg);
    assert_int_equal(load(f, json), 0);
    assert_string_equal(f->cfg.server.sync_key, "node1.key");
}

static void test_absolute_sync_key_is_kept(void **state)
{
    struct fixture *f = *state;
    static const char json[] = "{\"server\": {\"sync_key\": \"/var/lib/nanodns/node.key\"}}";
    assert_int_equal(
        config_load_buffer_at(json, strlen(json), "/etc/nanodns/nanodns.json", &f->cfg, &f->diags),
        0);
    assert_string_equal(f->cfg.server.sync_key, "/var/lib/nanodns/node.key");
}

static void test_config_load_file_resolves_sync_key_against_its_folder(void **state)
{
    struct fixture *f = *state;
    char dir[] = "/tmp/test_config.XXXXXX", path[64], want[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/nanodns.json", dir);
    snprintf(want, sizeof(want), "%s/node.key", dir);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs("{\"server\": {\"sync_key\": \"node.key\"}}\n", out);
    assert_int_equal(fclose(out), 0);
    int rc = config_load_file(path, &f->cfg, &f->diags);
    remove(path);
    remove(dir);
    assert_int_equal(rc, 0);
    assert_string_equal(f->cfg.server.sync_key, want);
}

static void test_empty_sync_key_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"sync_key\": \"\"}}"), -1);
    assert_int_equal(f->diags.errors, 1);
    assert_finding(f, "server.sync_key", CONFIG_ERROR, "an empty sync_key names no file");
}

/* ---- blocklists and the allowlist ---- */

/* DIR/lists/ads.txt holding list_text and DIR/nanodns.json holding json. */
static void list_files_write(char dir[32], char path[96], char list[96], const char *json,
                             const char *list_text)
{
    snprintf(dir, 32, "/tmp/test_config.XXXXXX");
    assert_non_null(mkdtemp(dir));
    char lists[64];
    snprintf(lists, sizeof(lists), "%s/lists", dir);
    assert_int_equal(mkdir(lists, 0700), 0);
    snprintf(list, 96, "%s/lists/ads.txt", dir);
    snprintf(path, 96, "%s/nanodns.json", dir);
    FILE *out = fopen(list, "w");
    assert_non_null(out);
    fputs(list_text, out);
    assert_int_equal(fclose(out), 0);
    out = fopen(path, "w");
    assert_non_null(out);
    fputs(json, out);
    assert_int_equal(fclose(out), 0);
}

static void list_files_remove(const char *dir, const char *path, const char *list)
{
    char lists[64];
    snprintf(lists, sizeof(lists), "%s/lists", dir);
    remove(list);
    remove(path);
    remove(lists);
    remove(dir);
}

static const char LIST_JSON[] =
    "{\"blocklists\": [{\"path\": \"lists/ads.txt\", \"format\": \"domains\"}]}\n";

static void test_list_path_is_relative_to_the_config_file_folder(void **state)
{
    struct fixture *f = *state;
    char dir[32], path[96], list[96];
    list_files_write(dir, path, list, LIST_JSON, "ads.example\n# comment\nTracker.Example.\n");
    int rc = config_load_file(path, &f->cfg, &f->diags);
    list_files_remove(dir, path, list);
    show(f);
    assert_int_equal(rc, 0);
    assert_int_equal(f->cfg.blocklist_count, 1);
    assert_string_equal(f->cfg.blocklists[0].path, list);
    assert_int_equal(f->cfg.blocklists[0].entries, 2);
    assert_int_equal(f->cfg.list_entry_count, 2);
    assert_false(f->cfg.list_entries[1].allow);
}

static void test_an_edit_of_a_list_file_alone_changes_the_digest(void **state)
{
    struct fixture *f = *state;
    char dir[32], path[96], list[96];
    uint8_t first[CONFIG_DIGEST_SIZE];
    list_files_write(dir, path, list, LIST_JSON, "ads.example\n");
    assert_int_equal(config_load_file(path, &f->cfg, &f->diags), 0);
    memcpy(first, f->cfg.digest, sizeof(first));
    config_free(&f->cfg);
    FILE *out = fopen(list, "w");
    assert_non_null(out);
    fputs("ads.example\nmore.example\n", out);
    assert_int_equal(fclose(out), 0);
    int rc = config_load_file(path, &f->cfg, &f->diags);
    list_files_remove(dir, path, list);
    assert_int_equal(rc, 0);
    assert_memory_not_equal(f->cfg.digest, first, CONFIG_DIGEST_SIZE);
}

static void test_bad_list_lines_are_one_warning_with_their_numbers(void **state)
{
    struct fixture *f = *state;
    char dir[32], path[96], list[96];
    list_files_write(dir, path, list, LIST_JSON, "a.example\nno name\nb.example\nbad..name\n");
    int rc = config_load_file(path, &f->cfg, &f->diags);
    list_files_remove(dir, path, list);
    assert_int_equal(rc, 0);
    assert_int_equal(f->diags.warnings, 1);
    assert_finding(f, "blocklists[0].path", CONFIG_WARNING,
                   "\"lists/ads.txt\": 2 lines skipped, not a name (lines 2, 4)");
    assert_int_equal(f->cfg.blocklists[0].skipped, 2);
}

static void test_missing_list_file_is_an_error_at_its_path(void **state)
{
    struct fixture *f = *state;
    static const char json[] =
        "{\"blocklists\": [\n  {\"path\": \"/nonexistent/ads.txt\", \"format\": \"hosts\"}]}";
    assert_int_equal(load(f, json), -1);
    assert_int_equal(f->diags.errors, 1);
    assert_finding(f, "blocklists[0].path", CONFIG_ERROR,
                   "cannot open the list file \"/nonexistent/ads.txt\": No such file or directory");
    assert_int_equal(f->diags.items[0].line, 2);
    assert_int_equal(f->diags.items[0].column, 12);
}

static void test_list_that_is_not_a_regular_file_is_an_error(void **state)
{
    struct fixture *f = *state;
    static const char json[] = "{\"blocklists\": [{\"path\": \"/dev/zero\"}]}";
    assert_int_equal(load(f, json), -1);
    assert_finding(f, "blocklists[0].path", CONFIG_ERROR, "not a regular file");
}

static void test_unknown_list_format_is_an_error(void **state)
{
    struct fixture *f = *state;
    static const char json[] = "{\"blocklists\": [{\"path\": \"/dev/null\", \"format\": \"x\"}]}";
    assert_int_equal(load(f, json), -1);
    assert_finding(f, "blocklists[0].format", CONFIG_ERROR, "list format \"x\" is not");
}

static void list_put(const char *list, const char *text)
{
    FILE *out = fopen(list, "w");
    assert_non_null(out);
    fputs(text, out);
    assert_int_equal(fclose(out), 0);
}

static void test_a_list_keeps_its_format_and_first_skipped_line_numbers(void **state)
{
    struct fixture *f = *state;
    char dir[32], path[96], list[96];
    static const char json[] = "{\"blocklists\": [{\"path\": \"lists/ads.txt\", "
                               "\"format\": \"hosts\"}]}\n";
    list_files_write(dir, path, list, json, "0.0.0.0 a.example\nx\n0.0.0.0 b..example\n");
    int rc = config_load_file(path, &f->cfg, &f->diags);
    list_files_remove(dir, path, list);
    assert_int_equal(rc, 0);
    assert_int_equal(f->cfg.blocklists[0].format, BLOCKLIST_HOSTS);
    assert_int_equal(f->cfg.blocklists[0].skipped, 2);
    assert_int_equal(f->cfg.blocklists[0].skipped_lines[0], 2);
    assert_int_equal(f->cfg.blocklists[0].skipped_lines[1], 3);
}

static void test_a_list_digest_is_the_blake2b_of_its_bytes(void **state)
{
    struct fixture *f = *state;
    char dir[32], path[96], list[96];
    static const char text[] = "ads.example\n# comment\nno name\n";
    list_files_write(dir, path, list, LIST_JSON, text);
    int rc = config_load_file(path, &f->cfg, &f->diags);
    uint8_t from_file[CONFIG_DIGEST_SIZE];
    char err[256];
    assert_int_equal(config_blocklist_file_digest(list, from_file, err, sizeof(err)), 0);
    list_files_remove(dir, path, list);
    assert_int_equal(rc, 0);
    uint8_t want[CONFIG_DIGEST_SIZE];
    crypto_generichash(want, sizeof(want), (const unsigned char *)text, strlen(text), NULL, 0);
    assert_memory_equal(f->cfg.blocklists[0].digest, want, CONFIG_DIGEST_SIZE);
    assert_memory_equal(from_file, want, CONFIG_DIGEST_SIZE);
}

/* The list's digest and the node's: loaded from text, then again with
 * one byte of the list changed. */
static void digests_of_list(struct fixture *f, const char *json, const char *list_text,
                            uint8_t list_digest[CONFIG_DIGEST_SIZE],
                            uint8_t node_digest[CONFIG_DIGEST_SIZE])
{
    char dir[32], path[96], list[96];
    list_files_write(dir, path, list, json, list_text);
    int rc = config_load_file(path, &f->cfg, &f->diags);
    list_files_remove(dir, path, list);
    assert_int_equal(rc, 0);
    memcpy(list_digest, f->cfg.blocklists[0].digest, CONFIG_DIGEST_SIZE);
    memcpy(node_digest, f->cfg.blocklist_digest, CONFIG_DIGEST_SIZE);
    config_free(&f->cfg);
}

static void test_one_byte_of_a_list_changes_its_digest_and_the_nodes(void **state)
{
    struct fixture *f = *state;
    uint8_t list_a[CONFIG_DIGEST_SIZE], node_a[CONFIG_DIGEST_SIZE];
    uint8_t list_b[CONFIG_DIGEST_SIZE], node_b[CONFIG_DIGEST_SIZE];
    digests_of_list(f, LIST_JSON, "ads.example\ntracker.example\n", list_a, node_a);
    digests_of_list(f, LIST_JSON, "ads.example\ntracker.exampla\n", list_b, node_b);
    assert_memory_not_equal(list_a, list_b, CONFIG_DIGEST_SIZE);
    assert_memory_not_equal(node_a, node_b, CONFIG_DIGEST_SIZE);
    /* A comment is a byte of the list too: the digest is of what was read. */
    digests_of_list(f, LIST_JSON, "ads.example\ntracker.example\n#\n", list_b, node_b);
    assert_memory_not_equal(list_a, list_b, CONFIG_DIGEST_SIZE);
}

/* Two nodes each read their own copy, in another folder: the same lists
 * are the same digest. */
static void test_the_same_lists_in_other_folders_give_the_same_node_digest(void **state)
{
    struct fixture *f = *state;
    uint8_t list_a[CONFIG_DIGEST_SIZE], node_a[CONFIG_DIGEST_SIZE];
    uint8_t list_b[CONFIG_DIGEST_SIZE], node_b[CONFIG_DIGEST_SIZE];
    digests_of_list(f, LIST_JSON, "ads.example\n", list_a, node_a);
    digests_of_list(f, LIST_JSON, "ads.example\n", list_b, node_b);
    assert_memory_equal(list_a, list_b, CONFIG_DIGEST_SIZE);
    assert_memory_equal(node_a, node_b, CONFIG_DIGEST_SIZE);
}

static void test_the_node_digest_covers_the_format_and_the_allowlist(void **state)
{
    struct fixture *f = *state;
    uint8_t list[CONFIG_DIGEST_SIZE], plain[CONFIG_DIGEST_SIZE], other[CONFIG_DIGEST_SIZE];
    digests_of_list(f, LIST_JSON, "ads.example\n", list, plain);
    digests_of_list(f, "{\"blocklists\": [{\"path\": \"lists/ads.txt\", \"format\": \"adblock\"}]}",
                    "ads.example\n", list, other);
    assert_memory_not_equal(plain, other, CONFIG_DIGEST_SIZE);
    digests_of_list(f,
                    "{\"blocklists\": [{\"path\": \"lists/ads.txt\"}], "
                    "\"allowlist\": [\"ok.ads.example\"]}",
                    "ads.example\n", list, other);
    assert_memory_not_equal(plain, other, CONFIG_DIGEST_SIZE);
    /* Names compare without regard to case. */
    uint8_t upper[CONFIG_DIGEST_SIZE];
    digests_of_list(f,
                    "{\"blocklists\": [{\"path\": \"lists/ads.txt\"}], "
                    "\"allowlist\": [\"OK.Ads.example\"]}",
                    "ads.example\n", list, upper);
    assert_memory_equal(other, upper, CONFIG_DIGEST_SIZE);
}

static void test_recheck_tells_lists_as_loaded_edited_and_unreadable(void **state)
{
    struct fixture *f = *state;
    char dir[32], path[96], list[96], err[512];
    uint8_t first[CONFIG_DIGEST_SIZE], now[CONFIG_DIGEST_SIZE];
    list_files_write(dir, path, list, LIST_JSON, "ads.example\n");
    assert_int_equal(config_load_file(path, &f->cfg, &f->diags), 0);
    assert_int_equal(config_blocklists_recheck(&f->cfg, first, err, sizeof(err)),
                     CONFIG_LISTS_SAME);
    list_put(list, "ads.example\nmore.example\n");
    assert_int_equal(config_blocklists_recheck(&f->cfg, now, err, sizeof(err)),
                     CONFIG_LISTS_CHANGED);
    assert_memory_not_equal(first, now, CONFIG_DIGEST_SIZE);
    /* Put back as it was: the same again. */
    list_put(list, "ads.example\n");
    assert_int_equal(config_blocklists_recheck(&f->cfg, now, NULL, 0), CONFIG_LISTS_SAME);
    assert_memory_equal(first, now, CONFIG_DIGEST_SIZE);
    remove(list);
    assert_int_equal(config_blocklists_recheck(&f->cfg, now, err, sizeof(err)),
                     CONFIG_LISTS_UNREADABLE);
    list_files_remove(dir, path, list);
    assert_non_null(strstr(err, "cannot open the list file"));
    assert_non_null(strstr(err, "ads.txt"));
    assert_non_null(strstr(err, "No such file or directory"));
}

static void test_recheck_without_lists_finds_them_the_same(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{}"), 0);
    assert_int_equal(config_blocklists_recheck(&f->cfg, NULL, NULL, 0), CONFIG_LISTS_SAME);
}

static void test_allowlist_names_and_suffixes(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"allowlist\": [\"ok.example\", \"*.Bank.example.\"]}"), 0);
    assert_int_equal(f->cfg.allowlist_count, 2);
    assert_false(f->cfg.allowlist[0].below);
    assert_true(f->cfg.allowlist[1].below);
}

static void test_allowlist_star_elsewhere_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"allowlist\": [\"a.*.example\"]}"), -1);
    assert_finding(f, "allowlist[0]", CONFIG_ERROR, "'*' is only allowed as a whole first label");
}

static void test_block_response_values(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"block_response\": \"NULL\"}}"), 0);
    assert_int_equal(f->cfg.server.block_response, CONFIG_BLOCK_NULL);
    config_free(&f->cfg);
    assert_int_equal(load(f, "{\"server\": {\"block_response\": \"0.0.0.0\"}}"), -1);
    assert_finding(f, "server.block_response", CONFIG_ERROR, "block response \"0.0.0.0\" is not");
}

/* ---- locally served zones, bare names, automatic PTRs ---- */

static void test_local_name_settings_default_on_without_search_domain(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{}"), 0);
    assert_true(f->cfg.server.local_zones);
    assert_true(f->cfg.server.domain_needed);
    assert_true(f->cfg.server.auto_ptr);
    assert_int_equal(f->cfg.server.search_domain_len, 0);
}

static void test_local_name_settings_are_read(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"local_zones\": false, \"domain_needed\": false, "
                             "\"auto_ptr\": false, \"search_domain\": \"Internal.LAN.\"}}"),
                     0);
    assert_false(f->cfg.server.local_zones);
    assert_false(f->cfg.server.domain_needed);
    assert_false(f->cfg.server.auto_ptr);
    static const uint8_t wire[] = "\10Internal\3LAN";
    assert_int_equal(f->cfg.server.search_domain_len, sizeof wire);
    assert_memory_equal(f->cfg.server.search_domain, wire, sizeof wire);
}

static void test_local_zones_must_be_a_boolean(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"local_zones\": \"yes\"}}"), -1);
    assert_diag(f, "server.local_zones", CONFIG_ERROR, 1, 28,
                "expected a boolean (true or false), got a string");
}

static void test_domain_needed_and_auto_ptr_must_be_booleans(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\n  \"domain_needed\": 1,\n  \"auto_ptr\": null}}"),
                     -1);
    assert_diag(f, "server.domain_needed", CONFIG_ERROR, 2, 20,
                "expected a boolean (true or false), got an integer");
    assert_diag(f, "server.auto_ptr", CONFIG_ERROR, 3, 15,
                "expected a boolean (true or false), got null");
}

/* ---- rebinding protection ---- */

static void test_rebind_protection_defaults_off(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{}"), 0);
    assert_false(f->cfg.server.rebind_protection);
    char *text = summary_of(f);
    assert_null(strstr(text, "Rebind"));
    free(text);
}

static void test_rebind_protection_is_read_and_summarized(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"rebind_protection\": true}}"), 0);
    assert_true(f->cfg.server.rebind_protection);
    char *text = summary_of(f);
    assert_non_null(strstr(text, "  Rebind guard : on (default off"));
    free(text);
}

static void test_rebind_protection_must_be_a_boolean(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"rebind_protection\": \"yes\"}}"), -1);
    assert_diag(f, "server.rebind_protection", CONFIG_ERROR, 1, 34,
                "expected a boolean (true or false), got a string");
}

static void test_search_domain_must_be_a_name(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"search_domain\": \"a..lan\"}}"), -1);
    const struct config_diag *d = diag_at(f, "server.search_domain");
    assert_int_equal(d->line, 1);
    assert_int_equal(d->column, 30);
    assert_int_equal(d->severity, CONFIG_ERROR);
}

static void test_search_domain_must_not_be_the_root(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"search_domain\": \".\"}}"), -1);
    assert_diag(f, "server.search_domain", CONFIG_ERROR, 1, 30,
                "the search domain needs at least one label, as \"internal.lan\"; leave the key "
                "out for none");
}

static void test_search_domain_must_be_a_string(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"search_domain\": [\"lan\"]}}"), -1);
    assert_finding(f, "server.search_domain", CONFIG_ERROR, "expected a string");
}

static void test_summary_names_local_name_settings_off_their_defaults(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"local_zones\": false, \"domain_needed\": false, "
                             "\"auto_ptr\": false, \"search_domain\": \"internal.lan\"}}"),
                     0);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    config_print_summary(&f->cfg, out);
    fclose(out);
    assert_non_null(strstr(text, "  Local zones  : off (default on: "));
    assert_non_null(strstr(text, "  Domain needed: off (default on: "));
    assert_non_null(strstr(text, "  Search domain: internal.lan (default none)\n"));
    assert_non_null(strstr(text, "  Auto PTR     : off (default on: "));
    free(text);
}

static void test_record_in_a_locally_served_zone_is_not_outside_every_zone(void **state)
{
    struct fixture *f = *state;
    const char *json = "{\"records\": [{\"name\": \"nas.home.arpa\", \"type\": \"A\", "
                       "\"value\": \"10.0.0.5\"}]}";
    assert_int_equal(load(f, json), 0);
    assert_int_equal(f->diags.warnings, 0);
    config_free(&f->cfg);
    assert_int_equal(load(f, "{\"server\": {\"local_zones\": false}, \"records\": "
                             "[{\"name\": \"nas.home.arpa\", \"type\": \"A\", "
                             "\"value\": \"10.0.0.5\"}]}"),
                     0);
    assert_finding(f, "records[0].name", CONFIG_WARNING, "\"nas.home.arpa\" is outside every zone");
}

static void test_local_name_keys_have_suggestions(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"local_zone\": true}}"), -1);
    assert_finding(f, "server.local_zone", CONFIG_ERROR,
                   "unknown key \"local_zone\" (did you mean \"local_zones\"?)");
}

/* ---- config_load_management: what nanoctl reads ---- */

/* text written to DIR/nanodns.json in a new directory; path gets its name.
 * The caller removes both (management_file_remove). */
static void management_file_write(char dir[24], char path[64], const char *text)
{
    snprintf(dir, 24, "/tmp/test_config.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, 64, "%s/nanodns.json", dir);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs(text, out);
    assert_int_equal(fclose(out), 0);
}

static void management_file_remove(const char *dir, const char *path)
{
    remove(path);
    remove(dir);
}

static void test_management_load_reads_the_api_address_and_the_key_beside_the_file(void **state)
{
    struct fixture *f = *state;
    char dir[24], path[64], want[64];
    management_file_write(dir, path,
                          "{\"server\": {\"mgmt_host\": \"127.0.0.5\", \"mgmt_port\": 9153,\n"
                          "             \"sync_key\": \"node.key\"}}\n");
    int rc = config_load_management(path, &f->cfg, &f->diags);
    management_file_remove(dir, path);
    assert_int_equal(rc, 0);
    assert_string_equal(f->cfg.server.mgmt_host, "127.0.0.5");
    assert_int_equal(f->cfg.server.mgmt_port, 9153);
    snprintf(want, sizeof(want), "%s/node.key", dir);
    assert_string_equal(f->cfg.server.sync_key, want);
}

static void test_management_load_has_the_nodes_defaults(void **state)
{
    struct fixture *f = *state;
    char dir[24], path[64];
    management_file_write(dir, path, "{\"server\": {\"mgmt_port\": 9053}}\n");
    int rc = config_load_management(path, &f->cfg, &f->diags);
    management_file_remove(dir, path);
    assert_int_equal(rc, 0);
    struct config node;
    struct config_diags diags;
    config_diags_init(&diags, "node.json");
    assert_int_equal(config_load_buffer("{}", 2, &node, &diags), 0);
    assert_string_equal(f->cfg.server.mgmt_host, node.server.mgmt_host);
    assert_null(f->cfg.server.sync_key);
    config_free(&node);
    config_diags_free(&diags);
}

static void test_management_load_ignores_what_the_node_would_refuse_elsewhere(void **state)
{
    struct fixture *f = *state;
    char dir[24], path[64];
    management_file_write(dir, path,
                          "{\"server\": {\"mgmt_port\": 9053, \"tll\": 3},\n"
                          " \"records\": [{\"name\": \"x.test\", \"type\": \"A\", \"value\": "
                          "\"10.0.0.300\"}]}\n");
    int rc = config_load_management(path, &f->cfg, &f->diags);
    management_file_remove(dir, path);
    if (rc != 0)
        show(f);
    assert_int_equal(rc, 0);
    assert_int_equal(f->diags.errors, 0);
    assert_int_equal(f->cfg.server.mgmt_port, 9053);
}

static void test_management_load_reports_a_bad_mgmt_port_at_its_value(void **state)
{
    struct fixture *f = *state;
    char dir[24], path[64];
    management_file_write(dir, path, "{\n  \"server\": {\n    \"mgmt_port\": \"9053\"\n  }\n}\n");
    int rc = config_load_management(path, &f->cfg, &f->diags);
    management_file_remove(dir, path);
    assert_int_equal(rc, -1);
    assert_one_error(f, "server.mgmt_port", 3, 18, "expected an integer, got a string");
}

static void test_management_load_of_text_that_is_not_json_is_an_error_at_its_place(void **state)
{
    struct fixture *f = *state;
    char dir[24], path[64];
    management_file_write(dir, path, "{\n  \"server\": {\n    \"mgmt_port\" 9053\n  }\n}\n");
    int rc = config_load_management(path, &f->cfg, &f->diags);
    management_file_remove(dir, path);
    assert_int_equal(rc, -1);
    assert_int_equal(f->diags.errors, 1);
    assert_int_equal(f->diags.items[0].line, 3);
}

static void test_management_load_of_a_missing_file_is_one_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(config_load_management(CONFIG_DATA "no-such-file.json", &f->cfg, &f->diags),
                     -1);
    assert_int_equal(f->diags.errors, 1);
    assert_non_null(strstr(f->diags.items[0].message, "No such file"));
}

static void test_sync_key_must_be_a_string(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"sync_kee\": \"node.key\", \"sync_key\": 1}}"), -1);
    assert_finding(f, "server.sync_key", CONFIG_ERROR, "expected a string, got an integer");
    assert_finding(f, "server.sync_kee", CONFIG_ERROR, "(did you mean \"sync_key\"?)");
}

static void test_config_version_from_2_63_is_out_of_range(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"config_version\": 9223372036854775808}}"), -1);
    assert_one_error(f, "server.config_version", 1, 31,
                     "config version 9223372036854775808 is out of range "
                     "(0..9223372036854775807)");
}

static void test_log_level_is_case_insensitive(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"log_level\": \"warning\"}}"), 0);
    assert_string_equal(f->cfg.server.log_level, "WARNING");
}

static void test_upstream_timeout_takes_fractions(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"upstream_timeout\": 0.5}}"), 0);
    assert_true(f->cfg.server.upstream_timeout == 0.5);
}

static void test_edns_payload_below_512_is_out_of_range(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"edns_payload\": 511}}"), -1);
    assert_one_error(f, "server.edns_payload", 1, 29,
                     "EDNS payload size 511 is out of range (512..4096)");
}

/* ---- forwarding, access lists, query log ---- */

/* An upstream of the config (struct config_upstream) or of the image
 * (struct image_upstream): both have these three fields. */
#define assert_upstream(u, address, want_port)                                                     \
    assert_upstream_is((u)->family, (u)->port, (u)->addr, address, want_port)

static void assert_upstream_is(unsigned u_family, unsigned u_port, const uint8_t *u_addr,
                               const char *address, uint16_t port)
{
    uint8_t addr[16] = {0};
    int family = strchr(address, ':') ? AF_INET6 : AF_INET;
    assert_int_equal(inet_pton(family, address, addr), 1);
    assert_int_equal(u_family, family == AF_INET6 ? 6 : 4);
    assert_int_equal(u_port, port);
    assert_memory_equal(u_addr, addr, 16);
}

static void test_default_recursion_list_is_the_internal_networks(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{}"), 0);
    const struct config_server *s = &f->cfg.server;
    assert_int_equal(s->allow_recursion[0].family, 4); /* 127.0.0.0/8 */
    assert_int_equal(s->allow_recursion[0].prefix_len, 8);
    assert_int_equal(s->allow_recursion[0].addr[0], 127);
    assert_int_equal(s->allow_recursion[7].family, 6); /* fe80::/10 */
    assert_int_equal(s->allow_recursion[7].prefix_len, 10);
}

static void test_upstreams_are_parsed_with_upstream_port_as_the_default(void **state)
{
    struct fixture *f = *state;
    /* upstream_port after upstream: the default applies whatever the order */
    assert_int_equal(load(f, "{\"server\": {\"upstream\": [\"9.9.9.9\", \"9.9.9.9:5353\", "
                             "\"[2620:fe::fe]:54\", \"2620:fe::9\", \"[::1]\"], "
                             "\"upstream_port\": 5300}}"),
                     0);
    const struct config_server *s = &f->cfg.server;
    assert_int_equal(s->upstream_count, 5);
    assert_upstream(&s->upstreams[0], "9.9.9.9", 5300);
    assert_upstream(&s->upstreams[1], "9.9.9.9", 5353);
    assert_upstream(&s->upstreams[2], "2620:fe::fe", 54);
    assert_upstream(&s->upstreams[3], "2620:fe::9", 5300);
    assert_upstream(&s->upstreams[4], "::1", 5300);
}

static void test_empty_upstream_list_is_no_upstream(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"upstream\": []}}"), 0);
    assert_int_equal(f->cfg.server.upstream_count, 0);
}

static void test_forward_zones_are_parsed(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"upstream_port\": 5300, \"forward_zones\": {\n"
                             "  \"corp.example\": [\"10.1.1.1\", \"10.1.1.2:5353\"],\n"
                             "  \"Lab.Example.\": [\"[fd00::1]:53\"]}}}"),
                     0);
    const struct config_server *s = &f->cfg.server;
    assert_int_equal(s->forward_zone_count, 2);
    const struct config_forward_zone *corp = &s->forward_zones[0];
    assert_string_equal(corp->text, "corp.example");
    assert_int_equal(corp->name_len, 14);
    assert_memory_equal(corp->name, "\4corp\7example", 14);
    assert_int_equal(corp->upstream_count, 2);
    assert_upstream(&corp->upstreams[0], "10.1.1.1", 5300);
    assert_upstream(&corp->upstreams[1], "10.1.1.2", 5353);
    const struct config_forward_zone *lab = &s->forward_zones[1];
    assert_string_equal(lab->text, "Lab.Example.");
    assert_int_equal(lab->name_len, 13);
    assert_memory_equal(lab->name, "\3Lab\7Example", 13);
    assert_int_equal(lab->upstream_count, 1);
    assert_upstream(&lab->upstreams[0], "fd00::1", 53);
}

static void test_forward_zones_must_be_an_object(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"forward_zones\": [\"corp.example\"]}}"), -1);
    assert_one_error(f, "server.forward_zones", 1, 30,
                     "expected an object: zone name -> array of server addresses, got an array");
}

static void test_forward_zone_without_servers_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"forward_zones\": {\n  \"corp.example\": []}}}"), -1);
    assert_one_error(f, "server.forward_zones.corp.example", 2, 19,
                     "a forward zone needs at least one server (leave the zone out to use "
                     "upstream)");
}

static void test_forward_zone_servers_must_be_an_array(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"server\": {\"forward_zones\": {\n  \"corp.example\": \"10.1.1.1\"}}}"), -1);
    assert_one_error(f, "server.forward_zones.corp.example", 2, 19,
                     "expected a non-empty array of server addresses, got a string");
}

static void test_forward_zone_bad_server_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"forward_zones\": {\n"
                             "  \"corp.example\": [\"10.1.1.1\", \"ns.corp.example\"]}}}"),
                     -1);
    assert_one_error(f, "server.forward_zones.corp.example[1]", 2, 32,
                     "\"ns.corp.example\" is not a server address: \"IP\", \"IP:port\" or "
                     "\"[IPv6]:port\", with a port of 1..65535");
}

static void test_forward_zone_server_port_0_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"server\": {\"forward_zones\": {\"corp.example\": [\"10.1.1.1:0\"]}}}"), -1);
    assert_int_equal(f->diags.errors, 1);
    assert_message_has(diag_at(f, "server.forward_zones.corp.example[0]"), "not a server address");
}

static void test_forward_zone_bad_name_is_an_error_at_its_key(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"server\": {\"forward_zones\": {\n  \"corp..example\": [\"10.1.1.1\"]}}}"), -1);
    assert_int_equal(f->diags.errors, 1);
    const struct config_diag *d = diag_at(f, "server.forward_zones.corp..example");
    assert_int_equal(d->line, 2);
    assert_int_equal(d->column, 3);
}

static void test_forward_zone_names_differ_only_in_case(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"forward_zones\": {\n"
                             "  \"corp.example\": [\"10.1.1.1\"],\n"
                             "  \"CORP.example.\": [\"10.1.1.2\"]}}}"),
                     -1);
    assert_one_error(f, "server.forward_zones.CORP.example.", 3, 3,
                     "forward zone \"CORP.example.\" is already defined as \"corp.example\" "
                     "(zone names are case-insensitive)");
}

static void test_forward_zone_declared_twice_is_a_duplicate_key(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"forward_zones\": {\"a.lan\": [\"10.0.0.1\"], "
                             "\"a.lan\": [\"10.0.0.2\"]}}}"),
                     -1);
    assert_int_equal(f->diags.errors, 1);
    assert_message_has(diag_at(f, "server.forward_zones.a.lan"), "duplicate key");
}

static void test_max_inflight_range(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"max_inflight\": 1000000}}"), 0);
    assert_int_equal(f->cfg.server.max_inflight, 1000000);
    config_free(&f->cfg);
    assert_int_equal(load(f, "{\"server\": {\"max_inflight\": 0}}"), -1);
    assert_one_error(f, "server.max_inflight", 1, 29,
                     "in-flight limit 0 is out of range (1..1000000)");
}

static void test_serve_stale_defaults_to_a_day(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{}"), 0);
    assert_int_equal(f->cfg.server.serve_stale, 86400);
}

static void test_serve_stale_0_turns_it_off(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"serve_stale\": 0}}"), 0);
    assert_int_equal(f->diags.count, 0);
    assert_int_equal(f->cfg.server.serve_stale, 0);
}

static void test_serve_stale_range(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"serve_stale\": 604800}}"), 0);
    assert_int_equal(f->cfg.server.serve_stale, 604800);
    config_free(&f->cfg);
    assert_int_equal(load(f, "{\"server\": {\"serve_stale\": 604801}}"), -1);
    assert_one_error(f, "server.serve_stale", 1, 28,
                     "serve-stale window 604801 is out of range (0..604800)");
}

static void test_serve_stale_below_0_is_out_of_range(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"serve_stale\": -1}}"), -1);
    assert_one_error(f, "server.serve_stale", 1, 28,
                     "serve-stale window -1 is out of range (0..604800)");
}

static void test_serve_stale_must_be_an_integer(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"serve_stale\": \"1d\"}}"), -1);
    assert_one_error(f, "server.serve_stale", 1, 28, "expected an integer, got a string");
}

static void test_summary_shows_serve_stale_only_when_not_the_default(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{}"), 0);
    char *text = summary_of(f);
    assert_null(strstr(text, "Stale"));
    free(text);
    config_free(&f->cfg);
    assert_int_equal(load(f, "{\"server\": {\"serve_stale\": 0}}"), 0);
    text = summary_of(f);
    assert_non_null(strstr(text, "  Stale   : off (default 86400 s)\n"));
    free(text);
    config_free(&f->cfg);
    assert_int_equal(load(f, "{\"server\": {\"serve_stale\": 3600}}"), 0);
    text = summary_of(f);
    assert_non_null(strstr(text, "  Stale   : 3600 s (default 86400 s)\n"));
    free(text);
}

static void test_max_inflight_above_a_million_is_out_of_range(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"max_inflight\": 1000001}}"), -1);
    assert_one_error(f, "server.max_inflight", 1, 29,
                     "in-flight limit 1000001 is out of range (1..1000000)");
}

static void test_allow_recursion_replaces_the_default(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"allow_recursion\": [\"127.0.0.2\", \"fd00::/8\"]}}"),
                     0);
    const struct config_server *s = &f->cfg.server;
    assert_int_equal(s->allow_recursion_count, 2);
    assert_int_equal(s->allow_recursion[0].family, 4);
    assert_int_equal(s->allow_recursion[0].prefix_len, 32);
    assert_int_equal(s->allow_recursion[1].family, 6);
    assert_int_equal(s->allow_recursion[1].prefix_len, 8);
}

static void test_empty_allow_recursion_lets_nobody_recurse(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"allow_recursion\": []}}"), 0);
    assert_int_equal(f->cfg.server.allow_recursion_count, 0);
}

static void test_allow_recursion_with_host_bits_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"allow_recursion\": [\n"
                             "  \"10.0.0.0/8\", \"192.168.1.1/24\"]}}"),
                     -1);
    assert_one_error(f, "server.allow_recursion[1]", 2, 17,
                     "\"192.168.1.1/24\" has bits set past the prefix length (did you mean "
                     "192.168.1.0/24?)");
}

static void test_allow_recursion_not_a_prefix_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"allow_recursion\": [\"10.0.0.0/33\", "
                             "\"lan\", 10]}}"),
                     -1);
    assert_int_equal(f->diags.errors, 3);
    assert_diag(f, "server.allow_recursion[0]", CONFIG_ERROR, 1, 33,
                "\"10.0.0.0/33\": the prefix length must be 0..32");
    assert_message_has(diag_at(f, "server.allow_recursion[1]"), "not an address prefix");
    assert_diag(f, "server.allow_recursion[2]", CONFIG_ERROR, 1, 55,
                "expected a string, got an integer");
}

static void test_allow_recursion_must_be_an_array(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"allow_recursion\": \"10.0.0.0/8\"}}"), -1);
    assert_one_error(f, "server.allow_recursion", 1, 32,
                     "expected an array of address prefixes (\"10.0.0.0/8\", \"fc00::/7\"), got "
                     "a string");
}

static void test_allow_query_is_parsed(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"allow_query\": [\"127.0.0.0/8\", \"::1\"]}}"), 0);
    assert_int_equal(f->cfg.server.allow_query_count, 2);
    assert_int_equal(f->cfg.server.allow_query[1].prefix_len, 128);
    /* the recursion list keeps its default */
    assert_int_equal(f->cfg.server.allow_recursion_count, CIDR_DEFAULT_RECURSION_COUNT);
}

static void test_empty_allow_query_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"allow_query\": []}}"), -1);
    assert_one_error(f, "server.allow_query", 1, 28,
                     "an empty allow_query would refuse every client; leave the key out to let "
                     "everyone query");
}

static void test_allow_query_bad_prefix_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"allow_query\": [\"fe80::1/10\"]}}"), -1);
    assert_one_error(f, "server.allow_query[0]", 1, 29,
                     "\"fe80::1/10\" has bits set past the prefix length (did you mean "
                     "fe80::/10?)");
}

/* Each control character is quoted as four octets (\x01): a long prefix
 * of them is quoted short, in a buffer large enough for the quote. */
static void test_long_prefix_of_control_characters_is_quoted_short(void **state)
{
    struct fixture *f = *state;
    char json[1024] = "{\"server\": {\"allow_query\": [\"";
    for (int i = 0; i < 110; i++)
        strcat(json, "\\u0001");
    strcat(json, "\"]}}");
    assert_int_equal(load(f, json), -1);
    assert_int_equal(f->diags.errors, 1);
    const struct config_diag *d = diag_at(f, "server.allow_query[0]");
    char want[1024] = "\"";
    for (int i = 0; i < 100; i++)
        strcat(want, "\\x01");
    strcat(want, "...\" is not an address prefix");
    want[sizeof(d->message) - 1] = '\0'; /* a finding holds that much of it */
    assert_string_equal(d->message, want);
}

static void test_log_format_json(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"log_format\": \"json\"}}"), 0);
    assert_int_equal(f->cfg.server.log_format, IMAGE_LOG_JSON);
    config_free(&f->cfg);
    assert_int_equal(load(f, "{\"server\": {\"log_format\": \"text\"}}"), 0);
    assert_int_equal(f->cfg.server.log_format, IMAGE_LOG_TEXT);
}

static void test_log_format_bad_value_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"log_format\": \"xml\"}}"), -1);
    assert_one_error(f, "server.log_format", 1, 27,
                     "log format \"xml\" is not \"text\" or \"json\" (JSON Lines)");
}

static void test_unknown_key_suggests_the_new_server_keys(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"allow_recursive\": [], \"max_inflights\": 1, "
                             "\"forward_zone\": {}, \"log_fromat\": \"json\"}}"),
                     -1);
    assert_int_equal(f->diags.errors, 4);
    assert_message_has(diag_at(f, "server.allow_recursive"), "did you mean \"allow_recursion\"");
    assert_message_has(diag_at(f, "server.max_inflights"), "did you mean \"max_inflight\"");
    assert_message_has(diag_at(f, "server.forward_zone"), "did you mean \"forward_zones\"");
    assert_message_has(diag_at(f, "server.log_fromat"), "did you mean \"log_format\"");
}

/* ---- compiled into the image (controlplane/compile.c) ---- */

/* Compile the loaded config and open the image; the caller frees *buf. */
static void compile_and_open(struct fixture *f, uint8_t **buf, struct image *img)
{
    size_t len;
    char err[256] = "";
    if (compile_config(&f->cfg, buf, &len, err, sizeof err) < 0)
        fail_msg("compile_config: %s", err);
    if (image_open(img, *buf, len, err, sizeof err) < 0)
        fail_msg("image_open: %s", err);
}

static void test_compiled_image_carries_the_forwarding_settings(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"upstream_timeout\": 1.5, \"max_inflight\": 10, "
                             "\"cache_enabled\": false, \"cache_size\": 50, \"cache_ttl\": 60, "
                             "\"log_queries\": false, \"log_format\": \"json\"}}"),
                     0);
    uint8_t *buf;
    struct image img;
    compile_and_open(f, &buf, &img);
    assert_int_equal(img.settings->upstream_timeout_ms, 1500);
    assert_int_equal(img.settings->max_inflight, 10);
    assert_int_equal(img.settings->cache_enabled, 0);
    assert_int_equal(img.settings->cache_size, 50);
    assert_int_equal(img.settings->cache_ttl, 60);
    assert_int_equal(img.settings->log_queries, 0);
    assert_int_equal(img.settings->log_format, IMAGE_LOG_JSON);
    free(buf);
}

static void test_compiled_image_has_the_default_cache_and_log_settings(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{}"), 0);
    uint8_t *buf;
    struct image img;
    compile_and_open(f, &buf, &img);
    assert_int_equal(img.settings->upstream_timeout_ms, 3000);
    assert_int_equal(img.settings->max_inflight, 1024);
    assert_int_equal(img.settings->cache_enabled, 1);
    assert_int_equal(img.settings->cache_size, 1000);
    assert_int_equal(img.settings->cache_ttl, 300);
    assert_int_equal(img.settings->log_queries, 1);
    assert_int_equal(img.settings->log_format, IMAGE_LOG_TEXT);
    assert_int_equal(img.settings->recursion_acl_count, CIDR_DEFAULT_RECURSION_COUNT);
    assert_int_equal(img.settings->query_acl_count, 0);
    assert_int_equal(img.settings->serve_stale, 86400);
    free(buf);
}

static void test_compiled_image_carries_rebind_protection(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{}"), 0);
    uint8_t *buf;
    struct image img;
    compile_and_open(f, &buf, &img);
    assert_int_equal(img.settings->rebind_protection, 0);
    free(buf);
    config_free(&f->cfg);
    assert_int_equal(load(f, "{\"server\": {\"rebind_protection\": true}}"), 0);
    compile_and_open(f, &buf, &img);
    assert_int_equal(img.settings->rebind_protection, 1);
    free(buf);
}

static void test_compiled_image_carries_serve_stale(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"serve_stale\": 0}}"), 0);
    uint8_t *buf;
    struct image img;
    compile_and_open(f, &buf, &img);
    assert_int_equal(img.settings->serve_stale, 0);
    free(buf);
    config_free(&f->cfg);
    assert_int_equal(load(f, "{\"server\": {\"serve_stale\": 3600}}"), 0);
    compile_and_open(f, &buf, &img);
    assert_int_equal(img.settings->serve_stale, 3600);
    free(buf);
}

static void test_upstream_timeout_under_a_millisecond_compiles_to_one(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"upstream_timeout\": 0.0001}}"), 0);
    uint8_t *buf;
    struct image img;
    compile_and_open(f, &buf, &img);
    assert_int_equal(img.settings->upstream_timeout_ms, 1);
    free(buf);
}

static void test_compiled_image_has_upstreams_and_forward_zones(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"upstream\": [\"127.0.0.53\", \"[::1]:5353\"], "
                             "\"forward_zones\": {\"Corp.Example\": [\"10.1.1.1\", "
                             "\"10.1.1.2:5353\"]}}}"),
                     0);
    uint8_t *buf;
    struct image img;
    compile_and_open(f, &buf, &img);
    assert_int_equal(img.settings->upstream_count, 2);
    assert_upstream(&img.upstreams[0], "127.0.0.53", 53);
    assert_upstream(&img.upstreams[1], "::1", 5353);
    static const uint8_t corp[] = "\4corp\7example";
    const struct image_forward_zone *fz =
        image_find_forward_zone(&img, corp, sizeof corp, image_name_hash(corp, sizeof corp));
    assert_non_null(fz);
    assert_int_equal(fz->upstream_count, 2);
    assert_upstream(&img.upstreams[fz->upstream_first], "10.1.1.1", 53);
    assert_upstream(&img.upstreams[fz->upstream_first + 1], "10.1.1.2", 5353);
    free(buf);
}

static void test_compiled_image_applies_the_access_lists(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"allow_recursion\": [\"127.0.0.2\"], "
                             "\"allow_query\": [\"127.0.0.2\", \"127.0.0.3\"]}}"),
                     0);
    uint8_t *buf;
    struct image img;
    compile_and_open(f, &buf, &img);
    struct sockaddr_in client = {.sin_family = AF_INET};
    const struct sockaddr *sa = (const struct sockaddr *)&client;
    inet_pton(AF_INET, "127.0.0.2", &client.sin_addr);
    assert_true(image_recursion_allowed(&img, sa));
    assert_true(image_query_allowed(&img, sa));
    inet_pton(AF_INET, "127.0.0.3", &client.sin_addr);
    assert_false(image_recursion_allowed(&img, sa));
    assert_true(image_query_allowed(&img, sa));
    inet_pton(AF_INET, "127.0.0.4", &client.sin_addr);
    assert_false(image_query_allowed(&img, sa));
    free(buf);
}

/* ---- across records ---- */

static void test_cname_beside_other_data_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"zones\": {\"lan\": {}}, \"records\": [\n"
                "  {\"name\": \"www.lan\", \"type\": \"A\", \"value\": \"10.0.0.1\"},\n"
                "  {\"name\": \"WWW.lan\", \"type\": \"CNAME\", \"value\": \"web.example\"}\n"
                "]}\n"),
        -1);
    assert_one_error(f, "records[1].type", 3, 31,
                     "a CNAME at \"WWW.lan\" beside other data: records[0] is A at the same name "
                     "(RFC 1034 §3.6.2)");
}

static void test_cname_beside_a_wildcard_record_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f,
                          "{\"records\": [\n"
                          "  {\"name\": \"app.lan\", \"type\": \"A\", \"value\": \"10.0.0.1\", "
                          "\"wildcard\": true},\n"
                          "  {\"name\": \"app.lan\", \"type\": \"CNAME\", \"value\": \"web.lan\"}\n"
                          "]}\n"),
                     -1);
    assert_int_equal(f->diags.errors, 1);
}

static void test_cname_at_zone_apex_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"zones\": {\"corp.lan\": {}},\n"
                             " \"records\": [{\"name\": \"CORP.lan\", \"type\": \"CNAME\", "
                             "\"value\": \"x.lan\"}]}\n"),
                     -1);
    assert_one_error(f, "records[0].type", 2, 43,
                     "a CNAME at the apex of zone \"CORP.lan\", which has SOA and NS records (RFC "
                     "1034 §3.6.2)");
}

static void test_two_cnames_at_one_name_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"zones\": {\"lan\": {}}, \"records\": [\n"
                "  {\"name\": \"x.lan\", \"type\": \"CNAME\", \"value\": \"a.example\"},\n"
                "  {\"name\": \"x.lan\", \"type\": \"CNAME\", \"value\": \"b.example\"}\n"
                "]}\n"),
        -1);
    assert_one_error(f, "records[1].type", 3, 29,
                     "more than one CNAME at \"x.lan\" (records[0] is one already; RFC 2181 "
                     "§10.1)");
}

static void test_ttl_mismatch_in_rrset_is_a_warning(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"zones\": {\"lan\": {}}, \"records\": [\n"
                "  {\"name\": \"a.lan\", \"type\": \"A\", \"value\": \"10.0.0.1\", \"ttl\": 300},\n"
                "  {\"name\": \"A.lan\", \"type\": \"a\", \"value\": \"10.0.0.2\", \"ttl\": 60}\n"
                "]}\n"),
        0);
    assert_int_equal(f->diags.errors, 0);
    assert_int_equal(f->diags.warnings, 1);
    assert_diag(f, "records[1].ttl", CONFIG_WARNING, 3, 62,
                "TTL 60 differs from 300 of records[0] in the same RRset; the smallest is served "
                "(RFC 2181 §5.2)");
    assert_int_equal(f->cfg.record_count, 2);
}

static void test_wildcard_record_is_another_rrset(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"zones\": {\"lan\": {}}, \"records\": [\n"
                "  {\"name\": \"a.lan\", \"type\": \"A\", \"value\": \"10.0.0.1\", \"ttl\": 300},\n"
                "  {\"name\": \"a.lan\", \"type\": \"A\", \"value\": \"10.0.0.2\", \"ttl\": 60, "
                "\"wildcard\": true}\n"
                "]}\n"),
        0);
    assert_int_equal(f->diags.warnings, 0);
}

static void test_duplicate_record_is_a_warning(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"zones\": {\"lan\": {}}, \"records\": [\n"
                             "  {\"name\": \"a.lan\", \"type\": \"A\", \"value\": \"10.0.0.1\"},\n"
                             "  {\"name\": \"a.lan\", \"type\": \"A\", \"value\": \"10.0.0.1\"}\n"
                             "]}\n"),
                     0);
    assert_int_equal(f->diags.warnings, 1);
    assert_diag(f, "records[1]", CONFIG_WARNING, 3, 3,
                "the same record as records[0]; it is served once (an RRset is a set, RFC 2181 "
                "§5)");
}

/* ---- rewrites ---- */

static void test_rewrite_wildcard_is_stored_as_suffix_below(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"rewrites\": [{\"match\": \"*.ads.lan\", \"action\": \"NXDOMAIN\"},"
                             " {\"match\": \"bad.lan\", \"action\": \"nxdomain\"}]}"),
                     0);
    const struct config_rewrite *w = f->cfg.rewrites;
    uint8_t ads[] = "\3ads\3lan";
    assert_true(w[0].below);
    assert_int_equal(w[0].name_len, sizeof(ads));
    assert_memory_equal(w[0].name, ads, sizeof(ads));
    assert_false(w[1].below);
}

static void test_rewrite_star_alone_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"rewrites\": [{\"match\": \"*\", \"action\": \"nxdomain\"}]}"), -1);
    assert_one_error(f, "rewrites[0].match", 1, 25,
                     "\"*\" would block every name; give a suffix such as \"*.ads.example.com\"");
}

static void test_rewrite_star_inside_a_name_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"rewrites\": [{\"match\": \"a.*.b\", \"action\": \"nxdomain\"},\n"
                             "  {\"match\": \"**.x\", \"action\": \"nxdomain\"}]}"),
                     -1);
    assert_int_equal(f->diags.errors, 2);
    assert_diag(f, "rewrites[0].match", CONFIG_ERROR, 1, 25,
                "\"a.*.b\": '*' is only allowed as a whole first label (\"*.ads.example.com\" "
                "blocks every name below ads.example.com)");
    const struct config_diag *d = diag_at(f, "rewrites[1].match");
    assert_int_equal(d->line, 2);
    assert_int_equal(d->column, 13);
}

static void test_rewrite_redirect_is_unsupported(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"rewrites\": [{\"match\": \"x.lan\", \"action\": \"redirect\"}]}"),
                     -1);
    assert_one_error(f, "rewrites[0].action", 1, 44,
                     "action \"redirect\" is not supported: only \"nxdomain\" is");
}

/* ---- all at once ---- */

static void test_every_error_is_reported_in_one_pass(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(config_load_file(CONFIG_DATA "many_errors.json", &f->cfg, &f->diags), -1);
    static const char *const paths[] = {
        "server.port",    "server.hostt",   "zones.corp.lan.soa.rname", "records[0].value",
        "records[1].tll", "records[2].ttl", "records[3].type",          "rewrites[0].action"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        diag_at(f, paths[i]);
    if (f->diags.errors != 8)
        show(f);
    assert_int_equal(f->diags.errors, 8);
    assert_int_equal(f->cfg.record_count, 0); /* nothing is kept on failure */
    /* in the order of the file */
    for (size_t i = 1; i < f->diags.count; i++)
        assert_true(f->diags.items[i - 1].line <= f->diags.items[i].line);
}

static void test_print_format_is_file_line_column_path_message(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"zones\": {\"lan\": {}}, \"records\": [\n"
                "  {\"name\": \"a.lan\", \"type\": \"A\", \"value\": \"10.0.0.1\", \"ttl\": 300},\n"
                "  {\"name\": \"a.lan\", \"type\": \"A\", \"value\": \"10.0.0.2\", \"ttl\": 60},\n"
                "  {\"name\": \"b.lan\", \"type\": \"A\", \"value\": \"10.0.0.300\"}\n"
                "]}\n"),
        -1);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    config_diags_print(&f->diags, out);
    fclose(out);
    assert_string_equal(text, "nanodns.json:3:62: warning: records[1].ttl: TTL 60 differs from "
                              "300 of records[0] in the same RRset; the smallest is served (RFC "
                              "2181 §5.2)\n"
                              "nanodns.json:4:43: records[2].value: \"10.0.0.300\" is not an IPv4 "
                              "address\n");
    free(text);
}

/* ---- warnings about the API, forwarding, and where the data is ---- */

static void assert_no_finding(const struct fixture *f)
{
    if (f->diags.count != 0)
        show(f);
    assert_int_equal(f->diags.count, 0);
}

static void test_api_beyond_loopback_without_keys_is_a_warning(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"mgmt_host\": \"0.0.0.0\", \"mgmt_port\": 9053}}"), 0);
    assert_int_equal(f->diags.count, 1);
    assert_diag(f, "server.mgmt_host", CONFIG_WARNING, 1, 26, API_EXPOSED_9053);
}

static void test_api_on_the_default_host_without_keys_is_a_warning_at_its_port(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"mgmt_port\": 9053}}"), 0);
    assert_int_equal(f->diags.count, 1);
    assert_diag(f, "server.mgmt_port", CONFIG_WARNING, 1, 26,
                "the API listens beyond loopback (0.0.0.0: mgmt_host is absent) on a node "
                "without keys: any host reaching port 9053 reads its health and metrics, "
                "and none can read the config, reload or sync; set mgmt_host to "
                "\"127.0.0.1\", or for a cluster give the nodes keys (sync_key, peers with "
                "public_key)");
}

static void test_api_on_loopback_is_no_warning(void **state)
{
    struct fixture *f = *state;
    static const char *const hosts[] = {"127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"};
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        char json[128];
        snprintf(json, sizeof(json), "{\"server\": {\"mgmt_host\": \"%s\", \"mgmt_port\": 9053}}",
                 hosts[i]);
        assert_int_equal(load(f, json), 0);
        assert_no_finding(f);
        config_free(&f->cfg);
    }
}

static void test_bad_api_address_is_an_error_and_no_warning(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"mgmt_host\": \"nowhere\", \"mgmt_port\": 9053}}"),
                     -1);
    assert_one_error(f, "server.mgmt_host", 1, 26, "\"nowhere\" is not an IP address");
}

static void test_api_that_is_off_is_no_warning(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"mgmt_host\": \"0.0.0.0\", \"mgmt_port\": 0}}"), 0);
    assert_no_finding(f);
}

static void test_api_of_a_node_with_keys_is_no_warning(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"mgmt_host\": \"::\", \"mgmt_port\": 9053, "
                             "\"sync_key\": \"node.key\", \"peers\": [{\"address\": "
                             "\"10.0.0.11:9053\", \"public_key\": \"" KEY_A "\"}]}}"),
                     0);
    assert_no_finding(f);
}

static void test_empty_upstream_with_forwarding_settings_is_a_warning(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"upstream\": [], \"upstream_timeout\": 2, "
                             "\"cache_enabled\": true, \"cache_size\": 10}}"),
                     0);
    assert_int_equal(f->diags.count, 1);
    assert_diag(f, "server.upstream", CONFIG_WARNING, 1, 25,
                "empty, and there are no forward_zones: nothing is forwarded (names outside our "
                "zones get REFUSED), so upstream_timeout, cache_enabled, cache_size have no "
                "effect; add servers here, or remove those settings");
    config_free(&f->cfg);
    config_diags_free(&f->diags);
    assert_int_equal(load(f, "{\"server\": {\"max_inflight\": 10, \"upstream\": []}}"), 0);
    assert_finding(f, "server.upstream", CONFIG_WARNING,
                   "so max_inflight has no effect; add servers here, or remove that setting");
}

static void test_empty_upstream_alone_or_with_forwarding_off_is_no_warning(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"upstream\": [], \"cache_enabled\": false, "
                             "\"allow_recursion\": []}}"),
                     0);
    assert_no_finding(f);
}

static void test_empty_upstream_with_forward_zones_is_no_warning(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"server\": {\"upstream\": [], \"max_inflight\": 10, "
                             "\"forward_zones\": {\"corp.example\": [\"10.1.1.1\"]}}}"),
                     0);
    assert_no_finding(f);
}

static void test_record_outside_every_zone_is_a_warning(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"zones\": {\"x.test\": {}}, \"records\": [\n"
                "  {\"name\": \"www.x.test\", \"type\": \"A\", \"value\": \"10.0.0.1\"},\n"
                "  {\"name\": \"www.other\", \"type\": \"A\", \"value\": \"10.0.0.2\"}\n"
                "]}\n"),
        0);
    assert_int_equal(f->diags.count, 1);
    assert_diag(f, "records[1].name", CONFIG_WARNING, 3, 12,
                "\"www.other\" is outside every zone: it is answered anyway, as the original "
                "does, but that name is never forwarded and its negative answers carry no SOA; "
                "add its zone to \"zones\" if the name is ours");
}

/* A zone-less config of the original's: every record is outside. */
static void test_records_outside_zones_past_ten_are_counted_in_one_warning(void **state)
{
    struct fixture *f = *state;
    char json[4096];
    size_t len = (size_t)snprintf(json, sizeof(json), "{\"records\": [\n");
    for (int i = 0; i < 25; i++)
        len += (size_t)snprintf(json + len, sizeof(json) - len,
                                "  {\"name\": \"h%d.other\", \"type\": \"A\", \"value\": "
                                "\"10.0.0.1\"}%s\n",
                                i, i < 24 ? "," : "");
    snprintf(json + len, sizeof(json) - len, "]}\n");
    assert_int_equal(load(f, json), 0);
    assert_int_equal(f->diags.warnings, 11);
    assert_finding(f, "records[9].name", CONFIG_WARNING, "\"h9.other\" is outside every zone");
    assert_diag(f, "records[10].name", CONFIG_WARNING, 12, 12,
                "15 more records from here on are outside every zone (answered anyway, as the "
                "original does; only the first 10 are listed)");
}

static void test_mx_target_in_our_zone_without_data_is_a_warning(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f,
                          "{\"zones\": {\"x.test\": {}}, \"records\": [\n"
                          "  {\"name\": \"x.test\", \"type\": \"MX\", \"value\": \"mail.x.test\"}\n"
                          "]}\n"),
                     0);
    assert_int_equal(f->diags.count, 1);
    assert_diag(f, "records[0].value", CONFIG_WARNING, 2, 45,
                "MX target \"mail.x.test\" is inside zone \"x.test\" but has no records, so "
                "whoever follows it gets NXDOMAIN; add its A or AAAA record");
}

static void test_cname_ns_and_srv_targets_without_data_are_warnings(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"zones\": {\"x.test\": {}}, \"records\": [\n"
                "  {\"name\": \"c.x.test\", \"type\": \"CNAME\", \"value\": \"Gone.X.test\"},\n"
                "  {\"name\": \"sub.x.test\", \"type\": \"NS\", \"value\": \"ns.sub.x.test\"},\n"
                "  {\"name\": \"_s._tcp.x.test\", \"type\": \"SRV\", \"value\": \"srv.x.test\", "
                "\"port\": 80}\n"
                "]}\n"),
        0);
    assert_int_equal(f->diags.warnings, 3);
    assert_finding(f, "records[0].value", CONFIG_WARNING,
                   "CNAME target \"Gone.X.test\" is inside zone \"x.test\" but has no records, so "
                   "whoever follows it gets NXDOMAIN; add its records");
    assert_finding(f, "records[1].value", CONFIG_WARNING, "NS target \"ns.sub.x.test\"");
    assert_finding(f, "records[2].value", CONFIG_WARNING, "SRV target \"srv.x.test\"");
}

static void test_zone_name_server_without_an_address_is_a_warning(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"zones\": {\"x.test\": {\"ns\": [\"ns1.x.test\", \"ns.elsewhere.example\"]}}}"),
        0);
    assert_int_equal(f->diags.count, 1);
    assert_diag(f, "zones.x.test.ns[0]", CONFIG_WARNING, 1, 30,
                "NS target \"ns1.x.test\" is inside zone \"x.test\" but has no records, so "
                "whoever follows it gets NXDOMAIN; add its A or AAAA record");
}

static void test_target_that_only_has_names_below_it_gets_no_data(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"zones\": {\"x.test\": {}}, \"records\": [\n"
                "  {\"name\": \"a.b.x.test\", \"type\": \"A\", \"value\": \"10.0.0.1\"},\n"
                "  {\"name\": \"c.x.test\", \"type\": \"CNAME\", \"value\": \"b.x.test\"}\n"
                "]}\n"),
        0);
    assert_finding(f, "records[1].value", CONFIG_WARNING, "whoever follows it gets no data");
}

static void test_target_one_label_below_an_original_wildcard_has_data(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"zones\": {\"x.test\": {}}, \"records\": [\n"
                "  {\"name\": \"app.x.test\", \"type\": \"A\", \"value\": \"10.0.0.1\", "
                "\"wildcard\": true},\n"
                "  {\"name\": \"c.x.test\", \"type\": \"CNAME\", \"value\": \"q.APP.x.test\"}\n"
                "]}\n"),
        0);
    assert_no_finding(f);
}

static void test_target_below_an_rfc4592_wildcard_has_data(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"zones\": {\"x.test\": {}}, \"records\": [\n"
                "  {\"name\": \"*.w.x.test\", \"type\": \"A\", \"value\": \"10.0.0.1\"},\n"
                "  {\"name\": \"c.x.test\", \"type\": \"CNAME\", \"value\": \"a.b.w.x.test\"}\n"
                "]}\n"),
        0);
    assert_no_finding(f);
}

/* RFC 4592 §3.3.1: b.x.test exists, so it is the closest encloser of
 * q.b.x.test, and only "*.b.x.test" could answer for it; b.x.test itself
 * exists, so no wildcard answers for it (§2.2.2). */
static void test_wildcard_above_the_closest_encloser_covers_no_target(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"zones\": {\"x.test\": {}}, \"records\": [\n"
                "  {\"name\": \"*.x.test\", \"type\": \"A\", \"value\": \"10.0.0.1\"},\n"
                "  {\"name\": \"h.b.x.test\", \"type\": \"A\", \"value\": \"10.0.0.2\"},\n"
                "  {\"name\": \"c.x.test\", \"type\": \"CNAME\", \"value\": \"q.b.x.test\"},\n"
                "  {\"name\": \"d.x.test\", \"type\": \"CNAME\", \"value\": \"q.x.test\"},\n"
                "  {\"name\": \"e.x.test\", \"type\": \"CNAME\", \"value\": \"b.x.test\"}\n"
                "]}\n"),
        0);
    assert_int_equal(f->diags.count, 2);
    assert_finding(f, "records[2].value", CONFIG_WARNING, "CNAME target \"q.b.x.test\"");
    /* b.x.test exists without data: no wildcard answers for it */
    assert_finding(f, "records[4].value", CONFIG_WARNING, "gets no data");
}

/* "." (RFC 7505 null MX, RFC 2782 "no service") is the root: no zone of ours. */
static void test_apex_targets_null_targets_and_outside_targets_are_no_warning(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, "{\"zones\": {\"x.test\": {}, \"sub.x.test\": {}}, \"records\": [\n"
                "  {\"name\": \"x.test\", \"type\": \"MX\", \"value\": \".\", \"priority\": 0},\n"
                "  {\"name\": \"_s._tcp.x.test\", \"type\": \"SRV\", \"value\": \".\", "
                "\"port\": 0},\n"
                "  {\"name\": \"c.x.test\", \"type\": \"CNAME\", \"value\": \"sub.x.test\"},\n"
                "  {\"name\": \"d.x.test\", \"type\": \"CNAME\", \"value\": \"www.example.com\"}\n"
                "]}\n"),
        0);
    assert_no_finding(f);
}

/* Every CNAME's target looked up among every owner: a quadratic check
 * would take minutes here. Half of the targets are missing. */
static void test_targets_of_many_records_are_checked_in_linear_time(void **state)
{
    struct fixture *f = *state;
    enum { PAIRS = 50000 };
    size_t cap = (size_t)PAIRS * 140 + 64, len = 0;
    char *json = malloc(cap);
    assert_non_null(json);
    len += (size_t)snprintf(json, cap, "{\"zones\": {\"x.test\": {}}, \"records\": [\n");
    for (int i = 0; i < PAIRS; i++)
        len += (size_t)snprintf(json + len, cap - len,
                                "{\"name\": \"c%d.x.test\", \"type\": \"CNAME\", \"value\": "
                                "\"t%d.x.test\"},\n{\"name\": \"%c%d.x.test\", \"type\": \"A\", "
                                "\"value\": \"10.0.0.1\"}%s\n",
                                i, i, i % 2 ? 'u' : 't', i, i + 1 < PAIRS ? "," : "");
    len += (size_t)snprintf(json + len, cap - len, "]}\n");
    assert_int_equal(config_load_buffer(json, len, &f->cfg, &f->diags), 0);
    /* t1, t3, ... have no record (u1, u3, ... have): odd CNAMEs point at them */
    assert_int_equal(f->diags.warnings, 11);
    assert_finding(f, "records[38].value", CONFIG_WARNING, "CNAME target \"t19.x.test\"");
    assert_finding(f, "records[42].value", CONFIG_WARNING,
                   "24990 more CNAME, MX, NS or SRV targets");
    free(json);
}

/* ---- the man page ---- */

/* The text of the CONFIGURATION section of nanodns.8 that is set in bold
 * (.B, .BR, .RB, .BI, .IB lines, and \fB...\fR), escapes resolved, one
 * space between pieces. */
static char *man_bold_configuration(void)
{
    FILE *in = fopen(TEST_DATA_DIR "/../../controlplane/nanodns.8", "rb");
    assert_non_null(in);
    static char page[256 * 1024];
    size_t n = fread(page, 1, sizeof(page) - 1, in);
    fclose(in);
    page[n] = '\0';
    char *section = strstr(page, "\n.SH CONFIGURATION\n");
    assert_non_null(section);
    char *end = strstr(section + 1, "\n.SH ");
    if (end)
        *end = '\0';
    char *bold = calloc(1, n + 1), *w = bold;
    assert_non_null(bold);
    for (const char *line = section + 1; *line != '\0';) {
        size_t line_len = strcspn(line, "\n");
        bool bold_line = strncmp(line, ".B ", 3) == 0 || strncmp(line, ".BR ", 4) == 0 ||
                         strncmp(line, ".RB ", 4) == 0 || strncmp(line, ".BI ", 4) == 0 ||
                         strncmp(line, ".IB ", 4) == 0;
        bool in_bold = bold_line;
        for (size_t i = bold_line ? 3 : 0; i < line_len; i++) {
            if (line[i] == '\\' && i + 2 < line_len && line[i + 1] == 'f') {
                in_bold = bold_line || line[i + 2] == 'B';
                *w++ = ' ';
                i += 2;
            } else if (line[i] == '\\' && i + 3 < line_len && line[i + 1] == '(') {
                if (in_bold)
                    *w++ = strncmp(line + i + 2, "dq", 2) == 0 ? '"' : ' ';
                i += 3;
            } else if (line[i] == '\\' && i + 1 < line_len) {
                if (in_bold)
                    *w++ = line[i + 1];
                i++;
            } else if (in_bold) {
                *w++ = line[i];
            }
        }
        *w++ = ' ';
        line += line_len + (line[line_len] == '\n');
    }
    *w = '\0';
    return bold;
}

static bool is_word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool has_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word))
        if ((p == text || !is_word_char(p[-1])) && !is_word_char(p[n]))
            return true;
    return false;
}

static void test_every_key_the_loader_accepts_is_in_the_man_page(void **state)
{
    (void)state;
    char *bold = man_bold_configuration();
    size_t tables, missing = 0;
    const struct config_key_table *t = config_key_tables(&tables);
    assert_true(tables >= 7);
    for (size_t i = 0; i < tables; i++)
        for (size_t k = 0; k < t[i].count; k++)
            if (!has_word(bold, t[i].keys[k])) {
                fprintf(stderr, "nanodns.8 CONFIGURATION: no bold \"%s\" (a key of %s)\n",
                        t[i].keys[k], t[i].object[0] ? t[i].object : "the top level");
                missing++;
            }
    free(bold);
    assert_int_equal(missing, 0);
}

/* ---- RDATA ---- */

static void test_txt_of_600_octets_is_three_strings(void **state)
{
    struct fixture *f = *state;
    char value[601];
    for (int i = 0; i < 600; i++)
        value[i] = (char)('a' + i % 26);
    value[600] = '\0';
    char json[800];
    snprintf(json, sizeof(json),
             ONE_RECORD("{\"name\": \"t.lan\", \"type\": \"TXT\", \"value\": \"%s\"}"), value);
    assert_int_equal(load(f, json), 0);
    const struct config_record *r = &f->cfg.records[0];
    assert_int_equal(r->type, WIRE_TYPE_TXT);
    assert_int_equal(r->rdata_len, 603);
    assert_int_equal(r->rdata[0], 255);
    assert_memory_equal(r->rdata + 1, value, 255);
    assert_int_equal(r->rdata[256], 255);
    assert_memory_equal(r->rdata + 257, value + 255, 255);
    assert_int_equal(r->rdata[512], 90);
    assert_memory_equal(r->rdata + 513, value + 510, 90);
}

static void test_empty_txt_is_one_empty_string(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, ONE_RECORD("{\"name\": \"t.lan\", \"type\": \"TXT\", \"value\": \"\"}")), 0);
    assert_rdata(&f->cfg.records[0], (const uint8_t *)"\0", 1);
}

static void test_txt_of_255_octets_is_one_string(void **state)
{
    struct fixture *f = *state;
    char value[256];
    memset(value, 'q', 255);
    value[255] = '\0';
    char json[512];
    snprintf(json, sizeof(json),
             ONE_RECORD("{\"name\": \"t.lan\", \"type\": \"TXT\", \"value\": \"%s\"}"), value);
    assert_int_equal(load(f, json), 0);
    assert_int_equal(f->cfg.records[0].rdata_len, 256);
    assert_int_equal(f->cfg.records[0].rdata[0], 255);
}

static void test_a_rdata(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, ONE_RECORD("{\"name\": \"a.lan\", \"type\": \"A\", \"value\": \"192.168.1.10\"}")),
        0);
    const uint8_t want[] = {192, 168, 1, 10};
    assert_rdata(&f->cfg.records[0], want, sizeof(want));
}

static void test_aaaa_rdata(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, ONE_RECORD("{\"name\": \"v6.lan\", \"type\": \"AAAA\", \"value\": \"fd00::1\"}")),
        0);
    const uint8_t want[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    assert_rdata(&f->cfg.records[0], want, sizeof(want));
}

static void test_mx_rdata_is_preference_then_exchange(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, ONE_RECORD("{\"name\": \"lan\", \"type\": \"MX\", \"value\": "
                                        "\"Mail.lan\", \"priority\": 20}")),
                     0);
    const uint8_t want[] = {0, 20, 4, 'M', 'a', 'i', 'l', 3, 'l', 'a', 'n', 0};
    assert_rdata(&f->cfg.records[0], want, sizeof(want));
}

static void test_srv_rdata_is_priority_weight_port_target(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, ONE_RECORD("{\"name\": \"_sip._tcp.lan\", \"type\": \"SRV\", "
                                        "\"value\": \"sip.lan\", \"priority\": 1, \"weight\": "
                                        "513, \"port\": 5060}")),
                     0);
    const uint8_t want[] = {0, 1, 2, 1, 0x13, 0xc4, 3, 's', 'i', 'p', 3, 'l', 'a', 'n', 0};
    assert_rdata(&f->cfg.records[0], want, sizeof(want));
}

static void test_caa_rdata_is_flags_tag_value(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, ONE_RECORD("{\"name\": \"lan\", \"type\": \"CAA\", \"flags\": 128, "
                                        "\"tag\": \"issue\", \"value\": \"ca.example\"}")),
                     0);
    const uint8_t want[] = {128, 5,   'i', 's', 's', 'u', 'e', 'c', 'a',
                            '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e'};
    assert_rdata(&f->cfg.records[0], want, sizeof(want));
}

static void test_cname_rdata_is_the_target_name(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, ONE_RECORD("{\"name\": \"w.lan\", \"type\": \"CNAME\", \"value\": \"web.lan.\"}")),
        0);
    const uint8_t want[] = {3, 'w', 'e', 'b', 3, 'l', 'a', 'n', 0};
    assert_rdata(&f->cfg.records[0], want, sizeof(want));
}

static void test_underscore_names_are_accepted(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, ONE_RECORD("{\"name\": \"_sip._tcp.x\", \"type\": \"TXT\", "
                                        "\"value\": \"ok\"}")),
                     0);
    const uint8_t owner[] = {4, '_', 's', 'i', 'p', 4, '_', 't', 'c', 'p', 1, 'x', 0};
    assert_int_equal(f->cfg.records[0].owner_len, sizeof(owner));
    assert_memory_equal(f->cfg.records[0].owner, owner, sizeof(owner));
}

static void test_record_type_is_case_insensitive(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(
        load(f, ONE_RECORD("{\"name\": \"a.lan\", \"type\": \"aaaa\", \"value\": \"::1\"}")), 0);
    assert_int_equal(f->cfg.records[0].type, WIRE_TYPE_AAAA);
}

static void test_key_for_another_type_is_ignored(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, ONE_RECORD("{\"name\": \"a.lan\", \"type\": \"A\", \"value\": "
                                        "\"10.0.0.1\", \"priority\": 5, \"port\": 80}")),
                     0);
    assert_int_equal(f->cfg.records[0].rdata_len, 4);
}

static void test_record_remembers_its_position(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, CONFIG_EXAMPLE_JSON), 0);
    assert_int_equal(f->cfg.records[0].line, 39);
    assert_int_equal(f->cfg.records[0].column, 5);
    assert_int_equal(f->cfg.records[1].line, 45);
}

/* A config far larger than anyone writes by hand, every record a warning:
 * the checks across records must stay O(n log n). */
static void test_large_config_with_many_warnings_loads(void **state)
{
    struct fixture *f = *state;
    enum { RECORDS = 50000 };
    size_t cap = (size_t)RECORDS * 96 + 64, len = 0;
    char *json = malloc(cap);
    assert_non_null(json);
    len += (size_t)snprintf(json + len, cap - len, "{\"zones\": {\"lan\": {}}, \"records\": [\n");
    for (int i = 0; i < RECORDS; i++)
        len +=
            (size_t)snprintf(json + len, cap - len,
                             "{\"name\": \"h%d.lan\", \"type\": \"A\", \"value\": \"10.%d.%d.%d\", "
                             "\"ttl\": %d}%s\n",
                             i / 2, (i >> 16) & 255, (i >> 8) & 255, i & 255, i % 2 ? 60 : 300,
                             i + 1 < RECORDS ? "," : "");
    len += (size_t)snprintf(json + len, cap - len, "]}\n");
    assert_int_equal(config_load_buffer(json, len, &f->cfg, &f->diags), 0);
    assert_int_equal(f->cfg.record_count, RECORDS);
    assert_int_equal(f->diags.warnings, RECORDS / 2);
    assert_int_equal(f->diags.items[RECORDS / 2 - 1].line, RECORDS + 1);
    free(json);
}

/* ---- large arrays, read element by element ---- */

/* The digest of the text parsed whole by json-c, as sync_shared_digest
 * takes it: the loader, which never holds the records as one tree, must
 * agree with it. */
static void digest_of_tree(const char *json, uint8_t out[CONFIG_DIGEST_SIZE])
{
    struct json_object *root = json_tokener_parse(json);
    assert_non_null(root);
    config_digest(root, out);
    json_object_put(root);
}

static void test_digest_of_records_read_one_by_one_is_the_trees(void **state)
{
    struct fixture *f = *state;
    const char *json = "{\"rewrites\": [{\"match\": \"ads.x\", \"action\": \"nxdomain\"}],"
                       " \"server\": {\"port\": 5353, \"config_version\": 9},"
                       " \"records\": [{\"name\": \"a.lan\", \"type\": \"A\", \"value\": "
                       "\"10.0.0.1\"}, {\"name\": \"b.lan\", \"type\": \"TXT\", \"value\": "
                       "\"t\\u00e9\", \"ttl\": 60}], \"zones\": {\"lan\": {}}}";
    uint8_t want[CONFIG_DIGEST_SIZE];
    digest_of_tree(json, want);
    assert_int_equal(load(f, json), 0);
    assert_memory_equal(f->cfg.digest, want, CONFIG_DIGEST_SIZE);
}

static void test_digest_tells_records_in_another_order(void **state)
{
    struct fixture *f = *state;
    uint8_t first[CONFIG_DIGEST_SIZE];
    assert_int_equal(load(f, "{\"records\": [{\"name\": \"a.lan\", \"type\": \"A\", \"value\": "
                             "\"10.0.0.1\"}, {\"name\": \"b.lan\", \"type\": \"A\", \"value\": "
                             "\"10.0.0.2\"}]}"),
                     0);
    memcpy(first, f->cfg.digest, sizeof(first));
    config_free(&f->cfg);
    assert_int_equal(load(f, "{\"records\": [{\"name\": \"b.lan\", \"type\": \"A\", \"value\": "
                             "\"10.0.0.2\"}, {\"name\": \"a.lan\", \"type\": \"A\", \"value\": "
                             "\"10.0.0.1\"}]}"),
                     0);
    assert_memory_not_equal(f->cfg.digest, first, CONFIG_DIGEST_SIZE);
}

/* records[i] on line i + 2, each a valid A record but the one at bad. */
static char *many_records(size_t count, size_t bad, size_t *len_out)
{
    size_t cap = count * 80 + 64, len = 0;
    char *json = malloc(cap);
    assert_non_null(json);
    len += (size_t)snprintf(json + len, cap - len, "{\"records\": [\n");
    for (size_t i = 0; i < count; i++)
        len +=
            (size_t)snprintf(json + len, cap - len,
                             "  {\"name\": \"h%zu.lan\", \"type\": \"A\", \"value\": \"%s\"}%s\n",
                             i, i == bad ? "10.0.0.256" : "10.0.0.1", i + 1 < count ? "," : "");
    len += (size_t)snprintf(json + len, cap - len, "]}\n");
    *len_out = len;
    return json;
}

static void test_error_deep_in_a_large_records_array_has_its_line_and_column(void **state)
{
    struct fixture *f = *state;
    size_t len;
    char *json = many_records(200000, 150000, &len);
    assert_int_equal(config_load_buffer(json, len, &f->cfg, &f->diags), -1);
    assert_int_equal(f->diags.errors, 1);
    const struct config_diag *d = diag_at(f, "records[150000].value");
    assert_int_equal(d->line, 150002);
    /* "  {\"name\": \"h150000.lan\", \"type\": \"A\", \"value\": " is 48 octets */
    assert_int_equal(d->column, 49);
    free(json);
}

static void test_nesting_too_deep_inside_a_record_is_the_one_error(void **state)
{
    struct fixture *f = *state;
    /* json-c allows 32 levels: the root, "records", the record and 29
     * more; the server's unknown key is not reported, as for any syntax
     * error (the same finding as when the text was parsed whole) */
    char json[512];
    size_t n = (size_t)snprintf(json, sizeof(json),
                                "{\"server\": {\"prot\": 1}, \"records\": [{\"comment\": ");
    for (int i = 0; i < 30; i++)
        json[n++] = '[';
    for (int i = 0; i < 30; i++)
        json[n++] = ']';
    n += (size_t)snprintf(json + n, sizeof(json) - n, "}]}");
    assert_int_equal(config_load_buffer(json, n, &f->cfg, &f->diags), -1);
    /* json-c stops at the 30th '[' below the record, the 33rd level */
    assert_one_error(f, "", 1, 78, "JSON syntax error: nesting too deep");
}

static void test_records_that_are_no_array_are_a_type_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"records\": {\"name\": \"a.lan\"}}"), -1);
    assert_one_error(f, "records", 1, 13, "expected an array of record objects, got an object");
}

static void test_records_given_twice_are_read_from_the_last(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(load(f, "{\"records\": [], \"records\": [{\"name\": \"a.lan\", \"type\": "
                             "\"A\", \"value\": \"10.0.0.1\"}]}"),
                     -1);
    assert_int_equal(f->diags.errors, 1);
    assert_message_has(diag_at(f, "records"), "duplicate key \"records\"");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_builtin_example_loads_without_a_finding),
        T(test_original_example_summary_matches_the_original),
        T(test_original_example_warns_about_its_api_and_its_mail_target),
        T(test_builtin_example_is_the_originals_with_a_loopback_api_and_a_mail_address),
        T(test_load_file_reads_the_example_fixture),
        T(test_missing_file_is_one_error_without_position),
        T(test_empty_object_gives_the_defaults),
        T(test_record_defaults_ttl_300_and_priority_10),
        T(test_soa_defaults_follow_the_zone_name),
        T(test_soa_fields_absent_keep_their_defaults),
        T(test_summary_serial_adds_config_version_modulo_2_32),
        T(test_summary_lists_each_star_wildcard_owner_once),
        T(test_summary_has_no_wildcard_line_without_star_owners),
        T(test_syntax_error_has_line_and_column),
        T(test_trailing_comma_is_an_error),
        T(test_comment_is_an_error),
        T(test_single_quotes_are_an_error),
        T(test_nan_is_an_error),
        T(test_truncated_file_is_an_error_at_its_end),
        T(test_top_level_must_be_an_object),
        T(test_unknown_key_suggests_the_nearest),
        T(test_unknown_key_suggests_by_prefix),
        T(test_unknown_key_without_a_near_one),
        T(test_unknown_top_level_key_is_an_error),
        T(test_duplicate_key_is_an_error),
        T(test_one_letter_key_gets_no_suggestion),
        T(test_nul_character_in_a_key_is_an_error),
        T(test_wrong_type_names_the_expected_type),
        T(test_fractional_ttl_is_the_wrong_type),
        T(test_integer_written_with_a_fraction_is_the_wrong_type),
        T(test_missing_required_key_is_reported_at_the_record),
        T(test_bad_ipv4_is_reported_with_its_position),
        T(test_bad_ipv6_is_reported),
        T(test_name_with_empty_label_is_an_error),
        T(test_label_over_63_octets_is_an_error),
        T(test_name_over_255_octets_is_an_error),
        T(test_ttl_above_2_31_is_out_of_range),
        T(test_negative_ttl_is_out_of_range),
        T(test_priority_above_65535_is_out_of_range),
        T(test_srv_without_port_is_an_error),
        T(test_caa_without_tag_is_an_error),
        T(test_soa_in_records_is_an_error),
        T(test_unknown_record_type_is_an_error),
        T(test_soa_rname_with_at_suggests_the_dotted_form),
        T(test_soa_serial_above_2_32_is_out_of_range),
        T(test_zone_ns_names_are_checked),
        T(test_duplicate_zone_names_differ_only_in_case),
        T(test_bad_upstream_is_an_error),
        T(test_upstream_forms_are_accepted),
        T(test_peers_are_host_and_port),
        T(test_plain_string_peer_loads_untrusted_with_a_warning),
        T(test_peer_object_carries_its_public_key),
        T(test_plain_and_keyed_peers_mix),
        T(test_peer_object_with_an_unknown_key_is_an_error_with_a_suggestion),
        T(test_peer_object_without_a_public_key_is_an_error),
        T(test_peer_object_without_an_address_is_an_error),
        T(test_peer_address_must_be_host_and_port),
        T(test_peer_public_key_must_be_32_octets_of_base64),
        T(test_peer_of_another_type_is_an_error),
        T(test_two_peers_with_one_public_key_are_an_error),
        T(test_keyed_peers_without_a_sync_key_warn),
        T(test_sync_key_is_relative_to_the_config_file_folder),
        T(test_sync_key_beside_a_config_in_the_current_folder_stays_as_written),
        T(test_absolute_sync_key_is_kept),
        T(test_config_load_file_resolves_sync_key_against_its_folder),
        T(test_list_path_is_relative_to_the_config_file_folder),
        T(test_an_edit_of_a_list_file_alone_changes_the_digest),
        T(test_bad_list_lines_are_one_warning_with_their_numbers),
        T(test_missing_list_file_is_an_error_at_its_path),
        T(test_list_that_is_not_a_regular_file_is_an_error),
        T(test_unknown_list_format_is_an_error),
        T(test_a_list_keeps_its_format_and_first_skipped_line_numbers),
        T(test_a_list_digest_is_the_blake2b_of_its_bytes),
        T(test_one_byte_of_a_list_changes_its_digest_and_the_nodes),
        T(test_the_same_lists_in_other_folders_give_the_same_node_digest),
        T(test_the_node_digest_covers_the_format_and_the_allowlist),
        T(test_recheck_tells_lists_as_loaded_edited_and_unreadable),
        T(test_recheck_without_lists_finds_them_the_same),
        T(test_allowlist_names_and_suffixes),
        T(test_allowlist_star_elsewhere_is_an_error),
        T(test_block_response_values),
        T(test_local_name_settings_default_on_without_search_domain),
        T(test_local_name_settings_are_read),
        T(test_local_zones_must_be_a_boolean),
        T(test_domain_needed_and_auto_ptr_must_be_booleans),
        T(test_rebind_protection_defaults_off),
        T(test_rebind_protection_is_read_and_summarized),
        T(test_rebind_protection_must_be_a_boolean),
        T(test_search_domain_must_be_a_name),
        T(test_search_domain_must_not_be_the_root),
        T(test_search_domain_must_be_a_string),
        T(test_local_name_keys_have_suggestions),
        T(test_record_in_a_locally_served_zone_is_not_outside_every_zone),
        T(test_summary_names_local_name_settings_off_their_defaults),
        T(test_empty_sync_key_is_an_error),
        T(test_sync_key_must_be_a_string),
        T(test_management_load_reads_the_api_address_and_the_key_beside_the_file),
        T(test_management_load_has_the_nodes_defaults),
        T(test_management_load_ignores_what_the_node_would_refuse_elsewhere),
        T(test_management_load_reports_a_bad_mgmt_port_at_its_value),
        T(test_management_load_of_text_that_is_not_json_is_an_error_at_its_place),
        T(test_management_load_of_a_missing_file_is_one_error),
        T(test_config_version_from_2_63_is_out_of_range),
        T(test_log_level_is_case_insensitive),
        T(test_upstream_timeout_takes_fractions),
        T(test_edns_payload_below_512_is_out_of_range),
        T(test_default_recursion_list_is_the_internal_networks),
        T(test_upstreams_are_parsed_with_upstream_port_as_the_default),
        T(test_empty_upstream_list_is_no_upstream),
        T(test_forward_zones_are_parsed),
        T(test_forward_zones_must_be_an_object),
        T(test_forward_zone_without_servers_is_an_error),
        T(test_forward_zone_servers_must_be_an_array),
        T(test_forward_zone_bad_server_is_an_error),
        T(test_forward_zone_server_port_0_is_an_error),
        T(test_forward_zone_bad_name_is_an_error_at_its_key),
        T(test_forward_zone_names_differ_only_in_case),
        T(test_forward_zone_declared_twice_is_a_duplicate_key),
        T(test_max_inflight_range),
        T(test_serve_stale_defaults_to_a_day),
        T(test_serve_stale_0_turns_it_off),
        T(test_serve_stale_range),
        T(test_serve_stale_below_0_is_out_of_range),
        T(test_serve_stale_must_be_an_integer),
        T(test_summary_shows_serve_stale_only_when_not_the_default),
        T(test_max_inflight_above_a_million_is_out_of_range),
        T(test_allow_recursion_replaces_the_default),
        T(test_empty_allow_recursion_lets_nobody_recurse),
        T(test_allow_recursion_with_host_bits_is_an_error),
        T(test_allow_recursion_not_a_prefix_is_an_error),
        T(test_allow_recursion_must_be_an_array),
        T(test_allow_query_is_parsed),
        T(test_empty_allow_query_is_an_error),
        T(test_allow_query_bad_prefix_is_an_error),
        T(test_long_prefix_of_control_characters_is_quoted_short),
        T(test_log_format_json),
        T(test_log_format_bad_value_is_an_error),
        T(test_unknown_key_suggests_the_new_server_keys),
        T(test_compiled_image_carries_the_forwarding_settings),
        T(test_compiled_image_has_the_default_cache_and_log_settings),
        T(test_compiled_image_carries_serve_stale),
        T(test_compiled_image_carries_rebind_protection),
        T(test_upstream_timeout_under_a_millisecond_compiles_to_one),
        T(test_compiled_image_has_upstreams_and_forward_zones),
        T(test_compiled_image_applies_the_access_lists),
        T(test_cname_beside_other_data_is_an_error),
        T(test_cname_beside_a_wildcard_record_is_an_error),
        T(test_cname_at_zone_apex_is_an_error),
        T(test_two_cnames_at_one_name_is_an_error),
        T(test_ttl_mismatch_in_rrset_is_a_warning),
        T(test_wildcard_record_is_another_rrset),
        T(test_duplicate_record_is_a_warning),
        T(test_rewrite_wildcard_is_stored_as_suffix_below),
        T(test_rewrite_star_alone_is_an_error),
        T(test_rewrite_star_inside_a_name_is_an_error),
        T(test_rewrite_redirect_is_unsupported),
        T(test_every_error_is_reported_in_one_pass),
        T(test_print_format_is_file_line_column_path_message),
        T(test_api_beyond_loopback_without_keys_is_a_warning),
        T(test_api_on_the_default_host_without_keys_is_a_warning_at_its_port),
        T(test_api_on_loopback_is_no_warning),
        T(test_bad_api_address_is_an_error_and_no_warning),
        T(test_api_that_is_off_is_no_warning),
        T(test_api_of_a_node_with_keys_is_no_warning),
        T(test_empty_upstream_with_forwarding_settings_is_a_warning),
        T(test_empty_upstream_alone_or_with_forwarding_off_is_no_warning),
        T(test_empty_upstream_with_forward_zones_is_no_warning),
        T(test_record_outside_every_zone_is_a_warning),
        T(test_records_outside_zones_past_ten_are_counted_in_one_warning),
        T(test_mx_target_in_our_zone_without_data_is_a_warning),
        T(test_cname_ns_and_srv_targets_without_data_are_warnings),
        T(test_zone_name_server_without_an_address_is_a_warning),
        T(test_target_that_only_has_names_below_it_gets_no_data),
        T(test_target_one_label_below_an_original_wildcard_has_data),
        T(test_target_below_an_rfc4592_wildcard_has_data),
        T(test_wildcard_above_the_closest_encloser_covers_no_target),
        T(test_apex_targets_null_targets_and_outside_targets_are_no_warning),
        T(test_targets_of_many_records_are_checked_in_linear_time),
        T(test_every_key_the_loader_accepts_is_in_the_man_page),
        T(test_txt_of_600_octets_is_three_strings),
        T(test_empty_txt_is_one_empty_string),
        T(test_txt_of_255_octets_is_one_string),
        T(test_a_rdata),
        T(test_aaaa_rdata),
        T(test_mx_rdata_is_preference_then_exchange),
        T(test_srv_rdata_is_priority_weight_port_target),
        T(test_caa_rdata_is_flags_tag_value),
        T(test_cname_rdata_is_the_target_name),
        T(test_underscore_names_are_accepted),
        T(test_record_type_is_case_insensitive),
        T(test_key_for_another_type_is_ignored),
        T(test_record_remembers_its_position),
        T(test_large_config_with_many_warnings_loads),
        T(test_digest_of_records_read_one_by_one_is_the_trees),
        T(test_digest_tells_records_in_another_order),
        T(test_error_deep_in_a_large_records_array_has_its_line_and_column),
        T(test_nesting_too_deep_inside_a_record_is_the_one_error),
        T(test_records_that_are_no_array_are_a_type_error),
        T(test_records_given_twice_are_read_from_the_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
