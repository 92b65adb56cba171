/* Unit tests of controlplane/rdata.c: a record's text in the config's terms
 * turned into wire-form RDATA, and the message for text that is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rdata.h"

struct made {
    int rc;
    uint8_t *rdata;
    uint16_t len;
    char err[RDATA_ERROR_MAX];
};

static struct made make(uint16_t type, struct rdata_fields f)
{
    struct made m = {0};
    if (f.value != NULL && f.value_len == 0)
        f.value_len = strlen(f.value);
    m.rc = rdata_from_text(type, &f, &m.rdata, &m.len, m.err, sizeof(m.err));
    return m;
}

static void assert_made(struct made m, const void *want, size_t want_len)
{
    if (m.rc != 0)
        fail_msg("refused: %s", m.err);
    assert_int_equal(m.len, want_len);
    assert_memory_equal(m.rdata, want, want_len);
    free(m.rdata);
}

static void assert_refused(struct made m, const char *message)
{
    assert_int_equal(m.rc, RDATA_INVALID);
    assert_null(m.rdata);
    assert_int_equal(m.len, 0);
    assert_string_equal(m.err, message);
}

#define VALUE(text) ((struct rdata_fields){.value = (text)})

/* ---- types ---- */

static void test_type_names_are_case_insensitive(void **state)
{
    (void)state;
    uint16_t type = 0;
    assert_true(rdata_type_from_text("aaaa", &type));
    assert_int_equal(type, WIRE_TYPE_AAAA);
    assert_true(rdata_type_from_text("Cname", &type));
    assert_int_equal(type, WIRE_TYPE_CNAME);
    assert_true(rdata_type_from_text("CAA", &type));
    assert_int_equal(type, WIRE_TYPE_CAA);
}

static void test_only_the_nine_types_of_the_format_are_known(void **state)
{
    (void)state;
    static const char *const known[] = {"A",  "AAAA", "CAA", "CNAME", "MX",
                                        "NS", "PTR",  "SRV", "TXT"};
    uint16_t type;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        assert_true(rdata_type_from_text(known[i], &type));
        assert_string_equal(rdata_type_name(type), known[i]);
    }
    type = 77;
    assert_false(rdata_type_from_text("SOA", &type));
    assert_false(rdata_type_from_text("HINFO", &type));
    assert_false(rdata_type_from_text("", &type));
    assert_int_equal(type, 77); /* untouched */
    assert_string_equal(rdata_type_name(WIRE_TYPE_SOA), "?");
}

/* ---- addresses ---- */

static void test_a_is_four_octets(void **state)
{
    (void)state;
    assert_made(make(WIRE_TYPE_A, VALUE("192.168.1.10")), "\300\250\001\012", 4);
}

static void test_a_that_is_no_ipv4_address_is_refused(void **state)
{
    (void)state;
    assert_refused(make(WIRE_TYPE_A, VALUE("192.168.1.300")),
                   "\"192.168.1.300\" is not an IPv4 address");
    assert_refused(make(WIRE_TYPE_A, VALUE("fd00::1")), "\"fd00::1\" is not an IPv4 address");
}

static void test_aaaa_is_sixteen_octets(void **state)
{
    (void)state;
    assert_made(make(WIRE_TYPE_AAAA, VALUE("fd00::1")), "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16);
}

static void test_aaaa_that_is_no_ipv6_address_is_refused(void **state)
{
    (void)state;
    assert_refused(make(WIRE_TYPE_AAAA, VALUE("192.168.1.1")),
                   "\"192.168.1.1\" is not an IPv6 address");
}

static void test_long_value_is_quoted_short(void **state)
{
    (void)state;
    char value[200];
    memset(value, '1', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    struct made m = make(WIRE_TYPE_A, VALUE(value));
    assert_int_equal(m.rc, RDATA_INVALID);
    char want[160];
    snprintf(want, sizeof(want), "\"%.100s...\" is not an IPv4 address", value);
    assert_string_equal(m.err, want);
}

static void test_nul_is_refused_where_the_value_is_a_c_string(void **state)
{
    (void)state;
    struct rdata_fields f = {.value = "10.0.0.1\0x", .value_len = 10};
    assert_refused(make(WIRE_TYPE_A, f), "a NUL character (\\u0000) is not allowed here");
    f.value = "web\0.lan";
    f.value_len = 8;
    assert_refused(make(WIRE_TYPE_CNAME, f), "a NUL character (\\u0000) is not allowed here");
}

/* ---- names ---- */

static void test_cname_ns_and_ptr_are_a_name_with_its_case(void **state)
{
    (void)state;
    static const uint8_t want[] = "\3Web\10internal\3lan";
    assert_made(make(WIRE_TYPE_CNAME, VALUE("Web.internal.lan")), want, sizeof(want));
    assert_made(make(WIRE_TYPE_NS, VALUE("Web.internal.lan.")), want, sizeof(want));
    assert_made(make(WIRE_TYPE_PTR, VALUE("Web.internal.lan")), want, sizeof(want));
}

static void test_mx_is_preference_then_exchange(void **state)
{
    (void)state;
    struct rdata_fields f = {.value = "mail.lan", .priority = 10};
    assert_made(make(WIRE_TYPE_MX, f), "\0\12\4mail\3lan", 12);
}

static void test_srv_is_priority_weight_port_then_target(void **state)
{
    (void)state;
    struct rdata_fields f = {.value = "sip.lan", .priority = 1, .weight = 2, .port = 5060};
    assert_made(make(WIRE_TYPE_SRV, f), "\0\1\0\2\x13\xc4\3sip\3lan", 15);
}

static void test_bad_name_gives_the_reason(void **state)
{
    (void)state;
    assert_refused(make(WIRE_TYPE_CNAME, VALUE("web server.lan")),
                   "space in name \"web server.lan\" (write it as \\032)");
    struct made m = make(WIRE_TYPE_MX, VALUE("a..b"));
    assert_int_equal(m.rc, RDATA_INVALID);
    assert_non_null(strstr(m.err, "a..b"));
}

static void test_long_bad_name_is_quoted_short(void **state)
{
    (void)state;
    char name[160];
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    name[20] = ' ';
    char err[RDATA_ERROR_MAX], want[RDATA_ERROR_MAX];
    uint8_t wire[WIRE_NAME_MAX], len;
    assert_int_equal(rdata_name_from_text(name, wire, &len, err, sizeof(err)), RDATA_INVALID);
    snprintf(want, sizeof(want), "space in name \"%.100s...\" (write it as \\032)", name);
    assert_string_equal(err, want);
}

static void test_name_from_text_keeps_case_and_adds_the_root(void **state)
{
    (void)state;
    char err[RDATA_ERROR_MAX];
    uint8_t wire[WIRE_NAME_MAX], len = 0;
    assert_int_equal(rdata_name_from_text("Ns1.Lan", wire, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 9);
    assert_memory_equal(wire, "\3Ns1\3Lan", 9);
    assert_int_equal(rdata_name_from_text(".", wire, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 1);
}

/* ---- TXT ---- */

static void test_txt_is_one_string_when_short(void **state)
{
    (void)state;
    assert_made(make(WIRE_TYPE_TXT, VALUE("v=spf1 -all")), "\13v=spf1 -all", 12);
}

static void test_empty_txt_is_one_empty_string(void **state)
{
    (void)state;
    struct rdata_fields f = {.value = "", .value_len = 0};
    struct made m = {0};
    m.rc = rdata_from_text(WIRE_TYPE_TXT, &f, &m.rdata, &m.len, m.err, sizeof(m.err));
    assert_made(m, "\0", 1);
}

static void test_txt_is_split_into_strings_of_255(void **state)
{
    (void)state;
    char value[600];
    memset(value, 'x', sizeof(value));
    struct rdata_fields f = {.value = value, .value_len = 510};
    struct made m = make(WIRE_TYPE_TXT, f);
    assert_int_equal(m.rc, 0);
    assert_int_equal(m.len, 512);
    assert_int_equal(m.rdata[0], 255);
    assert_int_equal(m.rdata[256], 255);
    free(m.rdata);
    f.value_len = 256;
    m = make(WIRE_TYPE_TXT, f);
    assert_int_equal(m.rc, 0);
    assert_int_equal(m.len, 258);
    assert_int_equal(m.rdata[0], 255);
    assert_int_equal(m.rdata[256], 1);
    free(m.rdata);
}

static void test_txt_keeps_nul_octets(void **state)
{
    (void)state;
    struct rdata_fields f = {.value = "a\0b", .value_len = 3};
    assert_made(make(WIRE_TYPE_TXT, f), "\3a\0b", 4);
}

static void test_txt_too_long_for_rdata_is_refused(void **state)
{
    (void)state;
    size_t n = 65300;
    char *value = malloc(n + 1);
    assert_non_null(value);
    memset(value, 'x', n);
    value[n] = '\0';
    struct rdata_fields f = {.value = value, .value_len = n};
    assert_refused(make(WIRE_TYPE_TXT, f),
                   "a TXT value of 65300 octets is too long (its RDATA would be 65557 octets, "
                   "more than 65535)");
    f.value_len = 65279; /* 256 strings: 65535 octets, the most there can be */
    struct made m = make(WIRE_TYPE_TXT, f);
    assert_int_equal(m.rc, 0);
    assert_int_equal(m.len, 65535);
    free(m.rdata);
    free(value);
}

/* ---- CAA ---- */

static void test_caa_is_flags_tag_length_tag_value(void **state)
{
    (void)state;
    struct rdata_fields f = {
        .value = "letsencrypt.org", .flags = 128, .tag = "issue", .tag_len = 5};
    assert_made(make(WIRE_TYPE_CAA, f), "\200\5issueletsencrypt.org", 22);
}

static void test_caa_tags_are_1_to_15_letters_and_digits(void **state)
{
    (void)state;
    assert_true(rdata_caa_tag_valid("issue", 5));
    assert_true(rdata_caa_tag_valid("issuewild", 9));
    assert_true(rdata_caa_tag_valid("abcdefghijklmn5", 15));
    assert_false(rdata_caa_tag_valid("", 0));
    assert_false(rdata_caa_tag_valid("abcdefghijklmnop", 16));
    assert_false(rdata_caa_tag_valid("issue-wild", 10));
    assert_false(rdata_caa_tag_valid("is sue", 6));
}

static void test_caa_too_long_is_refused(void **state)
{
    (void)state;
    size_t n = 65534;
    char *value = calloc(1, n + 1);
    assert_non_null(value);
    memset(value, 'x', n);
    struct rdata_fields f = {.value = value, .value_len = n, .tag = "issue", .tag_len = 5};
    assert_refused(make(WIRE_TYPE_CAA, f), "the CAA value is too long (65534 octets)");
    free(value);
}

static void test_type_without_a_text_form_is_refused(void **state)
{
    (void)state;
    struct made m = make(WIRE_TYPE_SOA, VALUE("x"));
    assert_int_equal(m.rc, RDATA_INVALID);
    assert_null(m.rdata);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names_are_case_insensitive),
        cmocka_unit_test(test_only_the_nine_types_of_the_format_are_known),
        cmocka_unit_test(test_a_is_four_octets),
        cmocka_unit_test(test_a_that_is_no_ipv4_address_is_refused),
        cmocka_unit_test(test_aaaa_is_sixteen_octets),
        cmocka_unit_test(test_aaaa_that_is_no_ipv6_address_is_refused),
        cmocka_unit_test(test_long_value_is_quoted_short),
        cmocka_unit_test(test_nul_is_refused_where_the_value_is_a_c_string),
        cmocka_unit_test(test_cname_ns_and_ptr_are_a_name_with_its_case),
        cmocka_unit_test(test_mx_is_preference_then_exchange),
        cmocka_unit_test(test_srv_is_priority_weight_port_then_target),
        cmocka_unit_test(test_bad_name_gives_the_reason),
        cmocka_unit_test(test_long_bad_name_is_quoted_short),
        cmocka_unit_test(test_name_from_text_keeps_case_and_adds_the_root),
        cmocka_unit_test(test_txt_is_one_string_when_short),
        cmocka_unit_test(test_empty_txt_is_one_empty_string),
        cmocka_unit_test(test_txt_is_split_into_strings_of_255),
        cmocka_unit_test(test_txt_keeps_nul_octets),
        cmocka_unit_test(test_txt_too_long_for_rdata_is_refused),
        cmocka_unit_test(test_caa_is_flags_tag_length_tag_value),
        cmocka_unit_test(test_caa_tags_are_1_to_15_letters_and_digits),
        cmocka_unit_test(test_caa_too_long_is_refused),
        cmocka_unit_test(test_type_without_a_text_form_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
