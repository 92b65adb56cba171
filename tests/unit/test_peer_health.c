/* A peer's GET /health answer, as GET /cluster and the pull read it
 * (controlplane/peer_health.c): what a node's /health says is taken, what
 * is missing or malformed is left out, and nothing past the octets given is
 * read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer_health.h"

#define HASH_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void parse(const char *text, struct peer_health *out)
{
    peer_health_parse(text, strlen(text), out);
}

static void test_a_nodes_answer_gives_status_version_and_hash(void **state)
{
    (void)state;
    struct peer_health h;
    parse("{\"status\":\"ok\",\"version\":42,\"hash\":\"" HASH_HEX "\",\"uptime_s\":1.5}", &h);
    assert_string_equal(h.status, "ok");
    assert_true(h.has_version);
    assert_int_equal(h.version, 42);
    assert_true(h.has_hash);
    assert_int_equal(h.hash[0], 0x00);
    assert_int_equal(h.hash[1], 0x11);
    assert_int_equal(h.hash[31], 0xff);
}

#define LISTS_HEX "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static void test_a_nodes_answer_gives_its_blocklist_digest(void **state)
{
    (void)state;
    struct peer_health h;
    parse("{\"status\":\"ok\",\"version\":42,\"hash\":\"" HASH_HEX
          "\",\"blocklist_digest\":\"" LISTS_HEX "\"}",
          &h);
    assert_true(h.has_blocklist_digest);
    assert_int_equal(h.blocklist_digest[0], 0xff);
    assert_int_equal(h.blocklist_digest[31], 0x00);
    assert_true(h.has_hash);
}

/* An older node says nothing of its lists: unknown, not different. */
static void test_an_older_node_has_no_blocklist_digest(void **state)
{
    (void)state;
    struct peer_health h;
    parse("{\"status\":\"ok\",\"version\":42,\"hash\":\"" HASH_HEX "\"}", &h);
    assert_false(h.has_blocklist_digest);
}

static void test_a_blocklist_digest_that_is_not_64_hex_digits_is_left_out(void **state)
{
    (void)state;
    struct peer_health h;
    parse("{\"status\":\"ok\",\"blocklist_digest\":\"ffee\"}", &h);
    assert_false(h.has_blocklist_digest);
    parse("{\"status\":\"ok\",\"blocklist_digest\":null}", &h);
    assert_false(h.has_blocklist_digest);
    parse("{\"status\":\"ok\",\"blocklist_digest\":\"" LISTS_HEX "0\"}", &h);
    assert_false(h.has_blocklist_digest);
}

static void test_an_unavailable_node_still_gives_its_version(void **state)
{
    (void)state;
    struct peer_health h;
    parse("{\"status\":\"unavailable\",\"version\":7,\"hash\":\"" HASH_HEX
          "\",\"reason\":\"the data plane has not started\"}",
          &h);
    assert_string_equal(h.status, "unavailable");
    assert_true(h.has_version);
    assert_int_equal(h.version, 7);
    assert_true(h.has_hash);
}

static void test_a_node_without_sync_has_no_hash(void **state)
{
    (void)state;
    struct peer_health h;
    parse("{\"status\":\"ok\",\"version\":3}", &h);
    assert_true(h.has_version);
    assert_false(h.has_hash);
}

static void test_a_hash_that_is_not_64_hex_digits_is_left_out(void **state)
{
    (void)state;
    struct peer_health h;
    parse("{\"status\":\"ok\",\"version\":3,\"hash\":\"00112233\"}", &h);
    assert_false(h.has_hash);
    parse("{\"status\":\"ok\",\"version\":3,\"hash\":\"" HASH_HEX "00\"}", &h);
    assert_false(h.has_hash);
    parse("{\"status\":\"ok\",\"version\":3,\"hash\":42}", &h);
    assert_false(h.has_hash);
}

static void test_a_version_that_is_not_a_whole_number_from_0_is_left_out(void **state)
{
    (void)state;
    const char *bodies[] = {
        "{\"status\":\"ok\",\"version\":-1}",   "{\"status\":\"ok\",\"version\":\"5\"}",
        "{\"status\":\"ok\",\"version\":1.5}",  "{\"status\":\"ok\",\"version\":null}",
        "{\"status\":\"ok\",\"version\":true}", "{\"status\":\"ok\"}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct peer_health h;
        parse(bodies[i], &h);
        assert_false(h.has_version);
        assert_string_equal(h.status, "ok");
    }
}

static void test_a_status_that_is_not_a_string_is_an_invalid_answer(void **state)
{
    (void)state;
    struct peer_health h;
    parse("{\"status\":1,\"version\":3}", &h);
    assert_string_equal(h.status, "invalid answer");
    assert_true(h.has_version);
}

static void test_what_is_not_a_json_object_is_an_invalid_answer(void **state)
{
    (void)state;
    const char *bodies[] = {"", "not json", "[1,2,3]", "\"ok\"", "42", "{\"status\":\"ok\""};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct peer_health h;
        parse(bodies[i], &h);
        assert_string_equal(h.status, "invalid answer");
        assert_false(h.has_version);
        assert_false(h.has_hash);
    }
}

static void test_a_long_status_is_cut_to_fit(void **state)
{
    (void)state;
    char body[200];
    char status[100];
    memset(status, 'x', sizeof(status) - 1);
    status[sizeof(status) - 1] = '\0';
    snprintf(body, sizeof(body), "{\"status\":\"%s\"}", status);
    struct peer_health h;
    parse(body, &h);
    assert_int_equal(strlen(h.status), sizeof(h.status) - 1);
    assert_memory_equal(h.status, status, sizeof(h.status) - 1);
}

/* The body is an answer's octets, with no NUL after them: exactly len
 * octets are read. */
static void test_only_the_octets_given_are_read(void **state)
{
    (void)state;
    const char whole[] = "{\"status\":\"ok\",\"version\":42}";
    size_t len = strlen(whole);
    char *exact = malloc(len); /* no room for a NUL: a read past it is caught by ASan */
    assert_non_null(exact);
    memcpy(exact, whole, len);
    struct peer_health h;
    peer_health_parse(exact, len, &h);
    assert_string_equal(h.status, "ok");
    assert_true(h.has_version);
    assert_int_equal(h.version, 42);

    /* Cut short, the same octets are no longer a whole document. */
    peer_health_parse(exact, len - 1, &h);
    assert_string_equal(h.status, "invalid answer");
    assert_false(h.has_version);
    free(exact);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_nodes_answer_gives_status_version_and_hash),
        cmocka_unit_test(test_a_nodes_answer_gives_its_blocklist_digest),
        cmocka_unit_test(test_an_older_node_has_no_blocklist_digest),
        cmocka_unit_test(test_a_blocklist_digest_that_is_not_64_hex_digits_is_left_out),
        cmocka_unit_test(test_an_unavailable_node_still_gives_its_version),
        cmocka_unit_test(test_a_node_without_sync_has_no_hash),
        cmocka_unit_test(test_a_hash_that_is_not_64_hex_digits_is_left_out),
        cmocka_unit_test(test_a_version_that_is_not_a_whole_number_from_0_is_left_out),
        cmocka_unit_test(test_a_status_that_is_not_a_string_is_an_invalid_answer),
        cmocka_unit_test(test_what_is_not_a_json_object_is_an_invalid_answer),
        cmocka_unit_test(test_a_long_status_is_cut_to_fit),
        cmocka_unit_test(test_only_the_octets_given_are_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
