/* The management API's access rule: on a node without a sync key, only
 * loopback clients may change anything (POST /reload). The system tests can
 * only connect from loopback, so the refusal of everyone else is tested
 * here, on the address predicate the API applies to the socket's peer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "api.h"
#include "node.h"

static bool ipv4_allowed(const char *text)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(40000)};
    assert_int_equal(inet_pton(AF_INET, text, &in.sin_addr), 1);
    return api_client_is_loopback((const struct sockaddr *)&in);
}

static bool ipv6_allowed(const char *text)
{
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(40000)};
    assert_int_equal(inet_pton(AF_INET6, text, &in6.sin6_addr), 1);
    return api_client_is_loopback((const struct sockaddr *)&in6);
}

static void test_ipv4_loopback_network_is_allowed(void **state)
{
    (void)state;
    assert_true(ipv4_allowed("127.0.0.1"));
    assert_true(ipv4_allowed("127.0.0.2"));
    assert_true(ipv4_allowed("127.255.255.254"));
}

static void test_other_ipv4_addresses_are_refused(void **state)
{
    (void)state;
    assert_false(ipv4_allowed("10.0.0.1"));
    assert_false(ipv4_allowed("192.168.1.10"));
    assert_false(ipv4_allowed("126.255.255.255"));
    assert_false(ipv4_allowed("128.0.0.1"));
    assert_false(ipv4_allowed("0.0.0.0"));
    assert_false(ipv4_allowed("255.255.255.255"));
}

static void test_ipv6_loopback_is_allowed(void **state)
{
    (void)state;
    assert_true(ipv6_allowed("::1"));
}

static void test_other_ipv6_addresses_are_refused(void **state)
{
    (void)state;
    assert_false(ipv6_allowed("::"));
    assert_false(ipv6_allowed("::2"));
    assert_false(ipv6_allowed("fe80::1"));
    assert_false(ipv6_allowed("fd00::1"));
    assert_false(ipv6_allowed("2001:db8::1"));
}

static void test_ipv4_mapped_loopback_is_allowed(void **state)
{
    (void)state;
    assert_true(ipv6_allowed("::ffff:127.0.0.1"));
    assert_true(ipv6_allowed("::ffff:127.1.2.3"));
}

static void test_ipv4_mapped_other_addresses_are_refused(void **state)
{
    (void)state;
    assert_false(ipv6_allowed("::ffff:10.0.0.1"));
    assert_false(ipv6_allowed("::ffff:128.0.0.1"));
    /* IPv4-compatible (deprecated), not mapped: not loopback. */
    assert_false(ipv6_allowed("::127.0.0.1"));
}

static void test_unix_and_unknown_peers_are_refused(void **state)
{
    (void)state;
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    assert_false(api_client_is_loopback((const struct sockaddr *)&un));
    struct sockaddr_storage unspec;
    memset(&unspec, 0, sizeof(unspec));
    assert_false(api_client_is_loopback((const struct sockaddr *)&unspec));
    assert_false(api_client_is_loopback(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_loopback_network_is_allowed),
        cmocka_unit_test(test_other_ipv4_addresses_are_refused),
        cmocka_unit_test(test_ipv6_loopback_is_allowed),
        cmocka_unit_test(test_other_ipv6_addresses_are_refused),
        cmocka_unit_test(test_ipv4_mapped_loopback_is_allowed),
        cmocka_unit_test(test_ipv4_mapped_other_addresses_are_refused),
        cmocka_unit_test(test_unix_and_unknown_peers_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
