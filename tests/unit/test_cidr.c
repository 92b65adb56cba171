/* Unit tests for common/cidr.c: what cidr_parse accepts and refuses, and
 * which client addresses cidr_match and cidr_list_match let through,
 * IPv4-mapped IPv6 clients included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "cidr.h"

/* ---- fixtures -------------------------------------------------------- */

static struct cidr cidr_of(const char *text)
{
    struct cidr c;
    char err[256] = "";
    if (cidr_parse(text, &c, err, sizeof err) < 0)
        fail_msg("cidr_parse(\"%s\"): %s", text, err);
    return c;
}

/* A client address as a socket reports it: AF_INET for a dotted quad,
 * AF_INET6 for anything with a colon (::ffff:a.b.c.d included). */
struct client {
    struct sockaddr_storage ss;
};

static const struct sockaddr *client_of(struct client *c, const char *text)
{
    memset(c, 0, sizeof *c);
    if (strchr(text, ':')) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&c->ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(5353);
        if (inet_pton(AF_INET6, text, &sin6->sin6_addr) != 1)
            fail_msg("bad fixture address %s", text);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&c->ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(5353);
        if (inet_pton(AF_INET, text, &sin->sin_addr) != 1)
            fail_msg("bad fixture address %s", text);
    }
    return (const struct sockaddr *)&c->ss;
}

static bool matches(const char *prefix, const char *address)
{
    struct cidr c = cidr_of(prefix);
    struct client client;
    return cidr_match(&c, client_of(&client, address));
}

static void assert_parse_refused(const char *text)
{
    struct cidr c;
    char err[256] = "";
    if (cidr_parse(text, &c, err, sizeof err) == 0)
        fail_msg("\"%s\" was accepted as a prefix", text);
    assert_true(strlen(err) > 0);
}

/* ---- parsing ---------------------------------------------------------- */

static void test_ipv4_prefix_parses_to_family_length_and_network(void **state)
{
    (void)state;
    struct cidr c = cidr_of("172.16.0.0/12");
    assert_int_equal(c.family, 4);
    assert_int_equal(c.prefix_len, 12);
    static const uint8_t net[16] = {172, 16};
    assert_memory_equal(c.addr, net, 16);
}

static void test_ipv6_prefix_parses_to_family_length_and_network(void **state)
{
    (void)state;
    struct cidr c = cidr_of("fc00::/7");
    assert_int_equal(c.family, 6);
    assert_int_equal(c.prefix_len, 7);
    static const uint8_t net[16] = {0xFC};
    assert_memory_equal(c.addr, net, 16);
}

static void test_bare_ipv4_address_is_a_slash_32(void **state)
{
    (void)state;
    struct cidr c = cidr_of("192.168.1.7");
    assert_int_equal(c.family, 4);
    assert_int_equal(c.prefix_len, 32);
}

static void test_bare_ipv6_address_is_a_slash_128(void **state)
{
    (void)state;
    struct cidr c = cidr_of("::1");
    assert_int_equal(c.family, 6);
    assert_int_equal(c.prefix_len, 128);
}

static void test_slash_0_parses_for_both_families(void **state)
{
    (void)state;
    assert_int_equal(cidr_of("0.0.0.0/0").prefix_len, 0);
    assert_int_equal(cidr_of("::/0").prefix_len, 0);
}

static void test_host_bits_past_the_prefix_are_refused_with_the_network_suggested(void **state)
{
    (void)state;
    struct cidr c;
    char err[256] = "";
    assert_int_equal(cidr_parse("10.0.0.1/8", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "10.0.0.0/8"));
    assert_int_equal(cidr_parse("fe80::1/10", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "fe80::/10"));
    /* a bit just past a prefix that does not end on an octet */
    assert_parse_refused("172.24.0.0/12");
}

static void test_prefix_length_beyond_the_family_is_refused(void **state)
{
    (void)state;
    assert_parse_refused("10.0.0.0/33");
    assert_parse_refused("::/129");
    assert_parse_refused("10.0.0.0/999");
}

static void test_malformed_prefix_lengths_are_refused(void **state)
{
    (void)state;
    assert_parse_refused("10.0.0.0/");
    assert_parse_refused("10.0.0.0/-1");
    assert_parse_refused("10.0.0.0/+8");
    assert_parse_refused("10.0.0.0/ 8");
    assert_parse_refused("10.0.0.0/8x");
    assert_parse_refused("10.0.0.0/08");
    assert_parse_refused("10.0.0.0/8/8");
}

static void test_malformed_addresses_are_refused(void **state)
{
    (void)state;
    assert_parse_refused("");
    assert_parse_refused("/8");
    assert_parse_refused("10.0.0/8");
    assert_parse_refused("256.0.0.0/8");
    assert_parse_refused("example.com/8");
    assert_parse_refused("fc00:::/7");
    assert_parse_refused(" 10.0.0.0/8");
    assert_parse_refused("[::1]/128");
}

/* ---- matching --------------------------------------------------------- */

static void test_ipv4_prefix_matches_addresses_inside_it_only(void **state)
{
    (void)state;
    assert_true(matches("10.0.0.0/8", "10.0.0.0"));
    assert_true(matches("10.0.0.0/8", "10.255.255.255"));
    assert_false(matches("10.0.0.0/8", "11.0.0.0"));
    assert_false(matches("10.0.0.0/8", "9.255.255.255"));
}

static void test_ipv4_prefix_not_on_an_octet_boundary(void **state)
{
    (void)state;
    assert_true(matches("172.16.0.0/12", "172.31.255.255"));
    assert_false(matches("172.16.0.0/12", "172.32.0.0"));
    assert_false(matches("172.16.0.0/12", "172.15.255.255"));
    assert_true(matches("100.64.0.0/10", "100.127.0.1"));
    assert_false(matches("100.64.0.0/10", "100.128.0.1"));
}

static void test_slash_32_matches_only_that_address(void **state)
{
    (void)state;
    assert_true(matches("127.0.0.2", "127.0.0.2"));
    assert_false(matches("127.0.0.2", "127.0.0.3"));
}

static void test_ipv6_prefix_matches_addresses_inside_it_only(void **state)
{
    (void)state;
    assert_true(matches("fc00::/7", "fd12:3456::1"));
    assert_false(matches("fc00::/7", "fe00::1"));
    assert_true(matches("fe80::/10", "febf::1"));
    assert_false(matches("fe80::/10", "fec0::1"));
    assert_true(matches("::1", "::1"));
    assert_false(matches("::1", "::2"));
}

static void test_ipv4_mapped_client_matches_ipv4_prefixes(void **state)
{
    (void)state;
    assert_true(matches("127.0.0.0/8", "::ffff:127.0.0.3"));
    assert_true(matches("192.168.0.0/16", "::ffff:192.168.4.4"));
    assert_false(matches("192.168.0.0/16", "::ffff:192.169.0.1"));
}

static void test_ipv4_client_does_not_match_ipv6_prefixes(void **state)
{
    (void)state;
    assert_false(matches("::/0", "10.0.0.1"));
    /* nor a mapped client an IPv6 prefix that is not about mapped space */
    assert_false(matches("fc00::/7", "::ffff:10.0.0.1"));
}

static void test_ipv6_client_does_not_match_ipv4_prefixes(void **state)
{
    (void)state;
    assert_false(matches("0.0.0.0/0", "2001:db8::1"));
    /* an IPv4-compatible (not mapped) address is not an IPv4 client */
    assert_false(matches("0.0.0.0/0", "::10.0.0.1"));
}

static void test_slash_0_matches_every_address_of_its_family(void **state)
{
    (void)state;
    assert_true(matches("0.0.0.0/0", "203.0.113.9"));
    assert_true(matches("0.0.0.0/0", "::ffff:203.0.113.9"));
    assert_true(matches("::/0", "2001:db8::1"));
}

static void test_other_address_families_never_match(void **state)
{
    (void)state;
    struct cidr c = cidr_of("0.0.0.0/0");
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = AF_UNIX;
    assert_false(cidr_match(&c, (const struct sockaddr *)&ss));
}

static void test_list_matches_when_any_entry_matches(void **state)
{
    (void)state;
    struct cidr list[] = {cidr_of("10.0.0.0/8"), cidr_of("::1")};
    struct client client;
    assert_true(cidr_list_match(list, 2, client_of(&client, "10.1.2.3")));
    assert_true(cidr_list_match(list, 2, client_of(&client, "::1")));
    assert_false(cidr_list_match(list, 2, client_of(&client, "192.0.2.1")));
}

static void test_empty_list_matches_nobody(void **state)
{
    (void)state;
    struct client client;
    assert_false(cidr_list_match(NULL, 0, client_of(&client, "127.0.0.1")));
}

/* ---- the default allow_recursion list --------------------------------- */

static void test_default_recursion_list_parses(void **state)
{
    (void)state;
    assert_int_equal(CIDR_DEFAULT_RECURSION_COUNT, 8);
    for (size_t i = 0; i < CIDR_DEFAULT_RECURSION_COUNT; i++)
        (void)cidr_of(CIDR_DEFAULT_RECURSION[i]);
}

static bool default_allows(const char *address)
{
    struct cidr list[16];
    for (size_t i = 0; i < CIDR_DEFAULT_RECURSION_COUNT; i++)
        list[i] = cidr_of(CIDR_DEFAULT_RECURSION[i]);
    struct client client;
    return cidr_list_match(list, CIDR_DEFAULT_RECURSION_COUNT, client_of(&client, address));
}

static void test_default_recursion_list_covers_internal_networks(void **state)
{
    (void)state;
    static const char *const internal[] = {
        "127.0.0.1",   "127.255.0.9", "::1",      "10.20.30.40", "172.16.0.1", "172.31.9.9",
        "192.168.1.1", "100.64.0.1",  "fd00::53", "fc00::1",     "fe80::1",    "::ffff:10.0.0.1"};
    for (size_t i = 0; i < sizeof internal / sizeof internal[0]; i++)
        if (!default_allows(internal[i]))
            fail_msg("%s should be allowed to recurse by default", internal[i]);
}

static void test_default_recursion_list_excludes_public_addresses(void **state)
{
    (void)state;
    static const char *const outside[] = {
        "8.8.8.8",  "1.1.1.1",     "172.32.0.1", "192.169.0.1", "100.128.0.1",
        "11.0.0.1", "2001:db8::1", "fec0::1",    "::2",         "::ffff:8.8.8.8"};
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++)
        if (default_allows(outside[i]))
            fail_msg("%s should not be allowed to recurse by default", outside[i]);
}

/* ---- cidr_same_host: what per-client connection caps count by ---- */

static struct sockaddr_storage host_address(const char *text, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(text, ':') != NULL) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
    }
    return ss;
}

static void test_same_host_ignores_the_port(void **state)
{
    (void)state;
    struct sockaddr_storage a = host_address("127.0.0.2", 1000), b = host_address("127.0.0.2", 2000);
    assert_true(cidr_same_host(&a, &b));
    a = host_address("2001:db8::1", 1000);
    b = host_address("2001:db8::1", 2000);
    assert_true(cidr_same_host(&a, &b));
}

static void test_other_hosts_and_families_differ(void **state)
{
    (void)state;
    struct sockaddr_storage a = host_address("127.0.0.2", 53), b = host_address("127.0.0.3", 53);
    assert_false(cidr_same_host(&a, &b));
    a = host_address("2001:db8::1", 53);
    b = host_address("2001:db8::2", 53);
    assert_false(cidr_same_host(&a, &b));
    a = host_address("::ffff:127.0.0.2", 53);
    b = host_address("127.0.0.2", 53);
    assert_false(cidr_same_host(&a, &b)); /* a v4-mapped peer is an IPv6 client */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_prefix_parses_to_family_length_and_network),
        cmocka_unit_test(test_ipv6_prefix_parses_to_family_length_and_network),
        cmocka_unit_test(test_bare_ipv4_address_is_a_slash_32),
        cmocka_unit_test(test_bare_ipv6_address_is_a_slash_128),
        cmocka_unit_test(test_slash_0_parses_for_both_families),
        cmocka_unit_test(test_host_bits_past_the_prefix_are_refused_with_the_network_suggested),
        cmocka_unit_test(test_prefix_length_beyond_the_family_is_refused),
        cmocka_unit_test(test_malformed_prefix_lengths_are_refused),
        cmocka_unit_test(test_malformed_addresses_are_refused),
        cmocka_unit_test(test_ipv4_prefix_matches_addresses_inside_it_only),
        cmocka_unit_test(test_ipv4_prefix_not_on_an_octet_boundary),
        cmocka_unit_test(test_slash_32_matches_only_that_address),
        cmocka_unit_test(test_ipv6_prefix_matches_addresses_inside_it_only),
        cmocka_unit_test(test_ipv4_mapped_client_matches_ipv4_prefixes),
        cmocka_unit_test(test_ipv4_client_does_not_match_ipv6_prefixes),
        cmocka_unit_test(test_ipv6_client_does_not_match_ipv4_prefixes),
        cmocka_unit_test(test_slash_0_matches_every_address_of_its_family),
        cmocka_unit_test(test_other_address_families_never_match),
        cmocka_unit_test(test_list_matches_when_any_entry_matches),
        cmocka_unit_test(test_empty_list_matches_nobody),
        cmocka_unit_test(test_default_recursion_list_parses),
        cmocka_unit_test(test_default_recursion_list_covers_internal_networks),
        cmocka_unit_test(test_default_recursion_list_excludes_public_addresses),
        cmocka_unit_test(test_same_host_ignores_the_port),
        cmocka_unit_test(test_other_hosts_and_families_differ),
    };
    return cmocka_run_group_tests_name("cidr", tests, NULL, NULL);
}
