/* The management API's access rule: on a node without a sync key, only
 * loopback clients may change anything (POST /reload). The system tests can
 * only connect from loopback, so the refusal of everyone else is tested
 * here, on the address predicate the API applies to the socket's peer.
 * Then which connection makes room for a new one (api_client_to_evict),
 * and which requests come from a web page (Host, Origin, Sec-Fetch-Site). */
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
#include "api_internal.h"
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

/* -- api_client_to_evict ---------------------------------------------------- */

#define TABLE_MAX 8

struct table {
    struct api_client_list list;
    struct api_client clients[TABLE_MAX];
    unsigned count;
};

/* Adds a client from address text, waiting since since_ms. */
static struct api_client *table_add(struct table *table, const char *text, int64_t since_ms,
                                    bool busy)
{
    assert_true(table->count < TABLE_MAX);
    struct api_client *client = &table->clients[table->count++];
    struct sockaddr_in *in = (struct sockaddr_in *)&client->address;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)(40000 + table->count)); /* ports never matter */
    assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
    client->since_ms = since_ms;
    client->busy = busy;
    TAILQ_INSERT_TAIL(&table->list, client, link);
    return client;
}

static struct table *table_new(void)
{
    static struct table table;
    memset(&table, 0, sizeof(table));
    TAILQ_INIT(&table.list);
    return &table;
}

static void test_nothing_is_evicted_under_both_caps(void **state)
{
    (void)state;
    struct table *t = table_new();
    table_add(t, "127.0.0.2", 1, false);
    struct api_client *newcomer = table_add(t, "127.0.0.2", 2, false);
    assert_null(api_client_to_evict(&t->list, newcomer, 2, 2, 4));
}

static void test_a_full_table_evicts_its_oldest_idle_connection(void **state)
{
    (void)state;
    struct table *t = table_new();
    table_add(t, "127.0.0.2", 30, false);
    struct api_client *oldest_idle = table_add(t, "127.0.0.3", 20, false);
    table_add(t, "127.0.0.4", 10, true); /* older, but a handler holds it */
    struct api_client *newcomer = table_add(t, "127.0.0.5", 40, false);
    assert_ptr_equal(api_client_to_evict(&t->list, newcomer, 4, 4, 3), oldest_idle);
}

static void test_the_newcomer_goes_when_every_other_connection_is_busy(void **state)
{
    (void)state;
    struct table *t = table_new();
    table_add(t, "127.0.0.2", 1, true);
    table_add(t, "127.0.0.3", 2, true);
    struct api_client *newcomer = table_add(t, "127.0.0.4", 3, false);
    assert_ptr_equal(api_client_to_evict(&t->list, newcomer, 4, 3, 2), newcomer);
}

static void test_one_address_over_its_cap_loses_its_own_oldest_idle_connection(void **state)
{
    (void)state;
    struct table *t = table_new();
    table_add(t, "127.0.0.9", 1, false); /* the oldest of all, another address */
    struct api_client *own_oldest = table_add(t, "127.0.0.2", 5, false);
    table_add(t, "127.0.0.2", 6, false);
    struct api_client *newcomer = table_add(t, "127.0.0.2", 7, false);
    assert_ptr_equal(api_client_to_evict(&t->list, newcomer, 2, 4, 64), own_oldest);
}

static void test_one_address_with_only_busy_connections_loses_the_newcomer(void **state)
{
    (void)state;
    struct table *t = table_new();
    table_add(t, "127.0.0.9", 1, false);
    table_add(t, "127.0.0.2", 5, true);
    struct api_client *newcomer = table_add(t, "127.0.0.2", 7, false);
    assert_ptr_equal(api_client_to_evict(&t->list, newcomer, 1, 3, 64), newcomer);
}

static void test_ipv6_addresses_are_told_apart(void **state)
{
    (void)state;
    struct table *t = table_new();
    struct api_client *a = &t->clients[t->count++];
    struct api_client *b = &t->clients[t->count++];
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&a->address;
    struct sockaddr_in6 *b6 = (struct sockaddr_in6 *)&b->address;
    a6->sin6_family = b6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, "fd00::1", &a6->sin6_addr), 1);
    assert_int_equal(inet_pton(AF_INET6, "fd00::2", &b6->sin6_addr), 1);
    TAILQ_INSERT_TAIL(&t->list, a, link);
    TAILQ_INSERT_TAIL(&t->list, b, link);
    assert_null(api_client_to_evict(&t->list, b, 1, 2, 64));
    assert_int_equal(inet_pton(AF_INET6, "fd00::1", &b6->sin6_addr), 1);
    assert_ptr_equal(api_client_to_evict(&t->list, b, 1, 2, 64), a);
}

static void test_control_socket_clients_are_one_source(void **state)
{
    (void)state;
    struct table *t = table_new();
    table_add(t, "127.0.0.9", 1, false); /* the oldest of all, over TCP */
    struct api_client *local[3];
    for (int i = 0; i < 3; i++) {
        local[i] = &t->clients[t->count++];
        local[i]->address.ss_family = AF_UNIX;
        local[i]->since_ms = 10 + i;
        TAILQ_INSERT_TAIL(&t->list, local[i], link);
    }
    /* Three local clients over a cap of 2: the oldest local one goes, not
     * the TCP client. */
    assert_ptr_equal(api_client_to_evict(&t->list, local[2], 2, 4, 64), local[0]);
    assert_null(api_client_to_evict(&t->list, local[2], 3, 4, 64));
}

/* -- Host and web pages (issue 12, finding 6) -- */

static const char *const NAMES[] = {"ns1.internal", "10.0.0.11"};

static bool host_ok(const char *host)
{
    return api_host_allowed(host, NAMES, sizeof(NAMES) / sizeof(NAMES[0]));
}

static void test_host_may_be_an_ip_literal_with_or_without_port(void **state)
{
    (void)state;
    assert_true(host_ok("127.0.0.1"));
    assert_true(host_ok("127.0.0.1:9053"));
    assert_true(host_ok("192.0.2.7:80"));
    assert_true(host_ok("[::1]"));
    assert_true(host_ok("[::1]:9053"));
    assert_true(host_ok("[fd00::1]:9053"));
    assert_true(host_ok("::1")); /* no brackets: still a literal, nothing to rebind */
}

static void test_host_may_be_localhost_or_a_name_of_this_node(void **state)
{
    (void)state;
    assert_true(host_ok("localhost"));
    assert_true(host_ok("LocalHost:9053"));
    assert_true(host_ok("ns1.internal"));
    assert_true(host_ok("NS1.internal:9053"));
    assert_true(host_ok(NULL)); /* HTTP/1.0: no browser */
}

static void test_host_naming_another_name_is_refused(void **state)
{
    (void)state;
    assert_false(host_ok("evil.example"));
    assert_false(host_ok("evil.example:9053"));
    assert_false(host_ok("ns1.internal.evil.example"));
    assert_false(host_ok("localhost.evil.example"));
    assert_false(host_ok("127.0.0.1.evil.example"));
    assert_false(host_ok("1.2.3")); /* not a literal inet_pton takes */
}

static void test_host_that_is_not_host_and_port_is_refused(void **state)
{
    (void)state;
    assert_false(host_ok(""));
    assert_false(host_ok(":9053"));
    assert_false(host_ok("127.0.0.1:"));
    assert_false(host_ok("127.0.0.1:x"));
    assert_false(host_ok("[::1"));
    assert_false(host_ok("[::1]x"));
    assert_false(host_ok("[evil.example]"));
}

static void test_web_pages_are_told_by_origin_or_fetch_site(void **state)
{
    (void)state;
    assert_false(api_browser_refused(NULL, NULL));
    assert_false(api_browser_refused(NULL, "none"));
    assert_false(api_browser_refused(NULL, "same-origin"));
    assert_true(api_browser_refused("http://evil.example", NULL));
    assert_true(api_browser_refused("null", NULL));
    assert_true(api_browser_refused(NULL, "cross-site"));
    assert_true(api_browser_refused(NULL, "same-site"));
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
        cmocka_unit_test(test_nothing_is_evicted_under_both_caps),
        cmocka_unit_test(test_a_full_table_evicts_its_oldest_idle_connection),
        cmocka_unit_test(test_the_newcomer_goes_when_every_other_connection_is_busy),
        cmocka_unit_test(test_one_address_over_its_cap_loses_its_own_oldest_idle_connection),
        cmocka_unit_test(test_one_address_with_only_busy_connections_loses_the_newcomer),
        cmocka_unit_test(test_ipv6_addresses_are_told_apart),
        cmocka_unit_test(test_control_socket_clients_are_one_source),
        cmocka_unit_test(test_host_may_be_an_ip_literal_with_or_without_port),
        cmocka_unit_test(test_host_may_be_localhost_or_a_name_of_this_node),
        cmocka_unit_test(test_host_naming_another_name_is_refused),
        cmocka_unit_test(test_host_that_is_not_host_and_port_is_refused),
        cmocka_unit_test(test_web_pages_are_told_by_origin_or_fetch_site),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
