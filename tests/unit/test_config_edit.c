/* Unit tests of controlplane/config_edit.c: writing server.config_version
 * back into the operator's text without disturbing its layout, the config
 * checksum, the digest by which a reload tells a file that says nothing
 * new; and server.user, the data plane's user (controlplane/config_server.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "config_edit.h"

/* Set the version in text; the result must be a config that loads with
 * that version. Returns the new text (caller frees). */
static char *set_version(const char *text, uint64_t version)
{
    char *out = NULL;
    size_t out_len = 0;
    assert_int_equal(config_text_set_version(text, strlen(text), version, &out, &out_len), 0);
    assert_non_null(out);
    assert_int_equal(out_len, strlen(out));

    struct config cfg;
    struct config_diags diags;
    config_diags_init(&diags, "edited.json");
    int rc = config_load_buffer(out, out_len, &cfg, &diags);
    if (rc != 0) {
        fprintf(stderr, "edited text:\n%s\n", out);
        config_diags_print(&diags, stderr);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(cfg.server.config_version, version);
    config_free(&cfg);
    config_diags_free(&diags);
    return out;
}

/* ---- config_text_set_version ---- */

static void test_present_version_only_its_number_changes(void **state)
{
    (void)state;
    const char *text = "{\n"
                       "  \"server\": {\n"
                       "    \"port\": 5353,\n"
                       "    \"config_version\": 7,\n"
                       "    \"hot_reload\": false\n"
                       "  }\n"
                       "}\n";
    char *out = set_version(text, 12);
    assert_string_equal(out, "{\n"
                             "  \"server\": {\n"
                             "    \"port\": 5353,\n"
                             "    \"config_version\": 12,\n"
                             "    \"hot_reload\": false\n"
                             "  }\n"
                             "}\n");
    free(out);
}

static void test_present_version_as_last_member_without_spaces(void **state)
{
    (void)state;
    char *out = set_version("{\"server\":{\"port\":5353,\"config_version\":1}}", 100);
    assert_string_equal(out, "{\"server\":{\"port\":5353,\"config_version\":100}}");
    free(out);
}

static void test_absent_version_is_added_with_the_members_indentation(void **state)
{
    (void)state;
    const char *text = "{\n"
                       "    \"server\": {\n"
                       "        \"port\": 5353\n"
                       "    },\n"
                       "    \"records\": []\n"
                       "}\n";
    char *out = set_version(text, 2);
    assert_string_equal(out, "{\n"
                             "    \"server\": {\n"
                             "        \"config_version\": 2,\n"
                             "        \"port\": 5353\n"
                             "    },\n"
                             "    \"records\": []\n"
                             "}\n");
    free(out);
}

static void test_absent_version_takes_the_separator_between_members(void **state)
{
    (void)state;
    char *out = set_version("{\"server\": {\"port\": 5353, \"hot_reload\": false}}", 2);
    assert_string_equal(
        out, "{\"server\": {\"config_version\": 2, \"port\": 5353, \"hot_reload\": false}}");
    free(out);
}

static void test_absent_server_is_added_as_the_first_member(void **state)
{
    (void)state;
    const char *text = "{\n"
                       "  \"records\": []\n"
                       "}\n";
    char *out = set_version(text, 5);
    assert_string_equal(out, "{\n"
                             "  \"server\": {\"config_version\": 5},\n"
                             "  \"records\": []\n"
                             "}\n");
    free(out);
}

static void test_empty_document_gets_a_server(void **state)
{
    (void)state;
    char *out = set_version("{}", 3);
    assert_string_equal(out, "{\"server\": {\"config_version\": 3}}");
    free(out);
}

static void test_empty_server_object_gets_the_version(void **state)
{
    (void)state;
    char *out = set_version("{\"server\": {}, \"records\": []}", 9);
    assert_string_equal(out, "{\"server\": {\"config_version\": 9}, \"records\": []}");
    free(out);
}

static void test_empty_server_with_white_space_inside(void **state)
{
    (void)state;
    char *out = set_version("{\"server\": {\n  }\n}", 4);
    assert_string_equal(out, "{\"server\": {\"config_version\": 4\n  }\n}");
    free(out);
}

static void test_compact_one_line_json_stays_compact(void **state)
{
    (void)state;
    char *out = set_version("{\"server\":{\"port\":5353},\"records\":[]}", 6);
    assert_string_equal(out, "{\"server\":{\"config_version\":6,\"port\":5353},\"records\":[]}");
    free(out);
}

static void test_compact_document_without_server(void **state)
{
    (void)state;
    char *out = set_version("{\"records\":[]}", 6);
    assert_string_equal(out, "{\"server\":{\"config_version\":6},\"records\":[]}");
    free(out);
}

static void test_version_elsewhere_in_the_text_is_not_touched(void **state)
{
    (void)state;
    /* A TXT value and a zone that mention the name are not the member. */
    const char *text = "{\"records\": [{\"name\": \"t.x.test\", \"type\": \"TXT\", "
                       "\"value\": \"\\\"config_version\\\": 1\"}], "
                       "\"zones\": {\"x.test\": {\"soa\": {\"serial\": 1}}}}";
    char *out = set_version(text, 8);
    assert_non_null(strstr(out, "\"value\": \"\\\"config_version\\\": 1\""));
    assert_non_null(strstr(out, "{\"server\": {\"config_version\": 8}, \"records\": ["));
    free(out);
}

static void test_large_version_is_written_in_full(void **state)
{
    (void)state;
    /* The largest version a config may hold (config_server.c: 2^53 - 1). */
    char *out = set_version("{\"server\": {\"config_version\": 1}}", (UINT64_C(1) << 53) - 1);
    assert_string_equal(out, "{\"server\": {\"config_version\": 9007199254740991}}");
    free(out);
}

static void test_leading_white_space_is_kept(void **state)
{
    (void)state;
    char *out = set_version("\n\n  {\"server\": {\"config_version\": 1}}\n", 2);
    assert_string_equal(out, "\n\n  {\"server\": {\"config_version\": 2}}\n");
    free(out);
}

static void test_text_that_is_not_an_object_is_refused(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(config_text_set_version("[]", 2, 1, &out, &len), -1);
    assert_int_equal(config_text_set_version("{\"server\": ", 11, 1, &out, &len), -1);
    assert_int_equal(config_text_set_version("", 0, 1, &out, &len), -1);
    assert_null(out);
}

/* ---- config_checksum ---- */

static void test_checksum_is_the_first_16_hex_digits_of_sha256(void **state)
{
    (void)state;
    char sum[CONFIG_CHECKSUM_LEN + 1];
    config_checksum("abc", 3, sum);
    /* FIPS 180-2 appendix B.1: SHA-256("abc") = ba7816bf8f01cfea... */
    assert_string_equal(sum, "ba7816bf8f01cfea");
    config_checksum("", 0, sum);
    assert_string_equal(sum, "e3b0c44298fc1c14");
}

static int load(const char *text, struct config *cfg, struct config_diags *diags)
{
    config_diags_init(diags, "nanodns.json");
    return config_load_buffer(text, strlen(text), cfg, diags);
}

/* ---- config_digest: does a reloaded file say anything new? ---- */

/* Whether two valid configs have the same digest (a reload of b over a
 * changes nothing). */
static bool same_config(const char *a, const char *b)
{
    struct config ca, cb;
    struct config_diags da, db;
    if (load(a, &ca, &da) != 0 || load(b, &cb, &db) != 0) {
        config_diags_print(&da, stderr);
        config_diags_print(&db, stderr);
        fail_msg("a config that should be valid does not load");
    }
    bool same = memcmp(ca.digest, cb.digest, sizeof(ca.digest)) == 0;
    config_free(&ca);
    config_free(&cb);
    config_diags_free(&da);
    config_diags_free(&db);
    return same;
}

#define RECORDS                                                                                    \
    "\"records\": [{\"name\": \"www.r.test\", \"type\": \"A\", \"value\": \"10.0.0.80\"}]"

static void test_digest_is_the_same_for_the_same_text(void **state)
{
    (void)state;
    const char *text = "{\"server\": {\"port\": 5353}, " RECORDS "}";
    assert_true(same_config(text, text));
}

static void test_digest_leaves_out_white_space(void **state)
{
    (void)state;
    assert_true(same_config("{\"server\": {\"port\": 5353}, " RECORDS "}",
                            "{\n  \"server\":{ \"port\" :5353 },\n\n  " RECORDS "\n}\n"));
}

static void test_digest_leaves_out_member_order(void **state)
{
    (void)state;
    assert_true(same_config("{\"server\": {\"port\": 5353, \"hot_reload\": false}, " RECORDS "}",
                            "{" RECORDS ", \"server\": {\"hot_reload\": false, \"port\": 5353}}"));
    assert_true(same_config(
        "{" RECORDS "}",
        "{\"records\": [{\"value\": \"10.0.0.80\", \"type\": \"A\", \"name\": \"www.r.test\"}]}"));
}

static void test_digest_leaves_out_string_escapes(void **state)
{
    (void)state;
    assert_true(same_config("{" RECORDS "}", "{\"records\": [{\"name\": \"www.r.test\", \"type\": "
                                             "\"\\u0041\", \"value\": \"10.0.0.80\"}]}"));
}

static void test_digest_leaves_out_config_version(void **state)
{
    (void)state;
    assert_true(same_config("{\"server\": {\"port\": 5353, \"config_version\": 3}, " RECORDS "}",
                            "{\"server\": {\"port\": 5353, \"config_version\": 9}, " RECORDS "}"));
    assert_true(same_config("{\"server\": {\"port\": 5353}, " RECORDS "}",
                            "{\"server\": {\"port\": 5353, \"config_version\": 9}, " RECORDS "}"));
    /* A server section holding only the version is no server section. */
    assert_true(same_config("{" RECORDS "}", "{\"server\": {\"config_version\": 2}, " RECORDS "}"));
    assert_true(same_config("{" RECORDS "}", "{\"server\": {}, " RECORDS "}"));
}

/* What the reload writes back is the config it read. */
static void test_digest_of_a_written_back_version_is_the_same(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{\n  \"server\": {\n    \"port\": 5353,\n    \"config_version\": 7\n  },\n  " RECORDS
        "\n}\n",
        "{\"server\": {\"port\": 5353}, " RECORDS "}",
        "{" RECORDS "}",
        "{}",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        char *out = set_version(texts[i], 12);
        assert_true(same_config(texts[i], out));
        free(out);
    }
}

static void test_digest_changes_with_a_record(void **state)
{
    (void)state;
    assert_false(same_config(
        "{" RECORDS "}",
        "{\"records\": [{\"name\": \"www.r.test\", \"type\": \"A\", \"value\": \"10.0.0.81\"}]}"));
    assert_false(same_config("{" RECORDS "}", "{\"records\": []}"));
}

/* The image does not carry these: a digest of the image alone would take
 * a new peer or key for no change at all. */
static void test_digest_changes_with_settings_the_image_does_not_carry(void **state)
{
    (void)state;
    static const char *const edits[] = {
        "{\"server\": {\"hot_reload\": false}}",
        "{\"server\": {\"mgmt_port\": 9053}}",
        "{\"server\": {\"mgmt_host\": \"127.0.0.1\"}}",
        "{\"server\": {\"sync_key\": \"node.key\"}}",
        "{\"server\": {\"peers\": [\"10.0.0.2:9053\"]}}",
        "{\"server\": {\"host\": \"127.0.0.1\"}}",
        "{\"server\": {\"port\": 5353}}",
        "{\"server\": {\"user\": \"nanodns\"}}",
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++)
        assert_false(same_config("{}", edits[i]));
}

/* Not worth a second parse and compile to find: a value written out as
 * its default is an edit, and gets a version. */
static void test_digest_changes_with_a_default_written_out(void **state)
{
    (void)state;
    assert_false(same_config("{}", "{\"server\": {\"port\": 53}}"));
}

static void test_digest_changes_with_a_version_elsewhere(void **state)
{
    (void)state;
    assert_false(same_config("{\"zones\": {\"r.test\": {\"soa\": {\"serial\": 1}}}}",
                             "{\"zones\": {\"r.test\": {\"soa\": {\"serial\": 2}}}}"));
}

/* ---- server.user ---- */

static void test_user_is_absent_by_default(void **state)
{
    (void)state;
    struct config cfg;
    struct config_diags diags;
    assert_int_equal(load("{}", &cfg, &diags), 0);
    assert_null(cfg.server.user);
    config_free(&cfg);
    config_diags_free(&diags);
}

static void test_user_is_read(void **state)
{
    (void)state;
    struct config cfg;
    struct config_diags diags;
    assert_int_equal(load("{\"server\": {\"user\": \"nanodns\"}}", &cfg, &diags), 0);
    assert_string_equal(cfg.server.user, "nanodns");
    config_free(&cfg);
    config_diags_free(&diags);
}

static void test_user_that_is_not_a_user_name_is_an_error_at_its_value(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"server\": {\"user\": \"-root\"}}",
        "{\"server\": {\"user\": \"\"}}",
        "{\"server\": {\"user\": \"a b\"}}",
        "{\"server\": {\"user\": \"a/b\"}}",
        "{\"server\": {\"user\": \"1000\"}}",
        "{\"server\": {\"user\": \"..\"}}",
        "{\"server\": {\"user\": \"abcdefghijklmnopqrstuvwxyz0123456\"}}",
        "{\"server\": {\"user\": 65534}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct config cfg;
        struct config_diags diags;
        assert_int_equal(load(bad[i], &cfg, &diags), -1);
        assert_int_equal(diags.errors, 1);
        assert_string_equal(diags.items[0].path, "server.user");
        assert_int_equal(diags.items[0].line, 1);
        assert_int_equal(diags.items[0].column, 21);
        config_diags_free(&diags);
    }
}

static void test_user_names_useradd_takes_are_accepted(void **state)
{
    (void)state;
    static const char *const good[] = {"nobody",  "_nanodns", "dns-1",
                                       "svc.dns", "Admin",    "machine$"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "{\"server\": {\"user\": \"%s\"}}", good[i]);
        struct config cfg;
        struct config_diags diags;
        assert_int_equal(load(text, &cfg, &diags), 0);
        assert_string_equal(cfg.server.user, good[i]);
        config_free(&cfg);
        config_diags_free(&diags);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_present_version_only_its_number_changes),
        cmocka_unit_test(test_present_version_as_last_member_without_spaces),
        cmocka_unit_test(test_absent_version_is_added_with_the_members_indentation),
        cmocka_unit_test(test_absent_version_takes_the_separator_between_members),
        cmocka_unit_test(test_absent_server_is_added_as_the_first_member),
        cmocka_unit_test(test_empty_document_gets_a_server),
        cmocka_unit_test(test_empty_server_object_gets_the_version),
        cmocka_unit_test(test_empty_server_with_white_space_inside),
        cmocka_unit_test(test_compact_one_line_json_stays_compact),
        cmocka_unit_test(test_compact_document_without_server),
        cmocka_unit_test(test_version_elsewhere_in_the_text_is_not_touched),
        cmocka_unit_test(test_large_version_is_written_in_full),
        cmocka_unit_test(test_leading_white_space_is_kept),
        cmocka_unit_test(test_text_that_is_not_an_object_is_refused),
        cmocka_unit_test(test_checksum_is_the_first_16_hex_digits_of_sha256),
        cmocka_unit_test(test_digest_is_the_same_for_the_same_text),
        cmocka_unit_test(test_digest_leaves_out_white_space),
        cmocka_unit_test(test_digest_leaves_out_member_order),
        cmocka_unit_test(test_digest_leaves_out_string_escapes),
        cmocka_unit_test(test_digest_leaves_out_config_version),
        cmocka_unit_test(test_digest_of_a_written_back_version_is_the_same),
        cmocka_unit_test(test_digest_changes_with_a_record),
        cmocka_unit_test(test_digest_changes_with_settings_the_image_does_not_carry),
        cmocka_unit_test(test_digest_changes_with_a_default_written_out),
        cmocka_unit_test(test_digest_changes_with_a_version_elsewhere),
        cmocka_unit_test(test_user_is_absent_by_default),
        cmocka_unit_test(test_user_is_read),
        cmocka_unit_test(test_user_that_is_not_a_user_name_is_an_error_at_its_value),
        cmocka_unit_test(test_user_names_useradd_takes_are_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
