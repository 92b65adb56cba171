/* Unit tests of common/hostport.c: every HOST:PORT form the config's
 * upstreams and peers, nanoctl -s and nanodns-dataplane --listen accept,
 * and the ones each refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include "hostport.h"

/* What each caller passes. */
#define UPSTREAM HOSTPORT_PORT_OPTIONAL /* server.upstream, server.forward_zones */
#define PEER HOSTPORT_NAME              /* server.peers, nanoctl -s */
#define LISTEN HOSTPORT_ZONE            /* nanodns-dataplane --listen */

static int parse(const char *text, unsigned flags, struct hostport *hp)
{
    return hostport_parse(text, strlen(text), flags, hp);
}

static void assert_accepted(const char *text, unsigned flags, int family, const char *host,
                            uint16_t port)
{
    struct hostport hp;
    if (parse(text, flags, &hp) != 0)
        fail_msg("\"%s\" (flags %#x) was refused", text, flags);
    assert_int_equal(hp.family, family);
    assert_string_equal(hp.host, host);
    assert_int_equal(hp.port, port);
    if (family != AF_UNSPEC) {
        uint8_t addr[16] = {0};
        char plain[HOSTPORT_HOST_MAX];
        snprintf(plain, sizeof(plain), "%s", host);
        plain[strcspn(plain, "%")] = '\0'; /* the zone is not part of the address */
        assert_int_equal(inet_pton(family, plain, addr), 1);
        assert_memory_equal(hp.addr, addr, 16);
    }
}

static void assert_refused(const char *text, unsigned flags)
{
    struct hostport hp;
    if (parse(text, flags, &hp) == 0)
        fail_msg("\"%s\" (flags %#x) was accepted as %s port %u", text, flags, hp.host,
                 (unsigned)hp.port);
    assert_int_equal(hp.family, AF_UNSPEC);
    assert_int_equal(hp.port, 0);
}

/* ---- what every caller accepts ---- */

static void test_ipv4_with_port_is_accepted_by_every_caller(void **state)
{
    (void)state;
    assert_accepted("192.0.2.1:53", UPSTREAM, AF_INET, "192.0.2.1", 53);
    assert_accepted("192.0.2.1:53", PEER, AF_INET, "192.0.2.1", 53);
    assert_accepted("127.0.0.1:5353", LISTEN, AF_INET, "127.0.0.1", 5353);
}

static void test_bracketed_ipv6_with_port_is_accepted_by_every_caller(void **state)
{
    (void)state;
    assert_accepted("[2001:db8::1]:54", UPSTREAM, AF_INET6, "2001:db8::1", 54);
    assert_accepted("[fd00::3]:9053", PEER, AF_INET6, "fd00::3", 9053);
    assert_accepted("[::1]:5353", LISTEN, AF_INET6, "::1", 5353);
}

static void test_port_is_one_to_five_digits_from_1_to_65535(void **state)
{
    (void)state;
    assert_accepted("10.0.0.1:1", PEER, AF_INET, "10.0.0.1", 1);
    assert_accepted("10.0.0.1:65535", PEER, AF_INET, "10.0.0.1", 65535);
    assert_accepted("10.0.0.1:0053", PEER, AF_INET, "10.0.0.1", 53);
    assert_refused("10.0.0.1:0", PEER);
    assert_refused("10.0.0.1:65536", PEER);
    assert_refused("10.0.0.1:99999", PEER);
    assert_refused("10.0.0.1:000053", PEER); /* six digits */
    assert_refused("10.0.0.1:", PEER);
    assert_refused("10.0.0.1:x", PEER);
    assert_refused("10.0.0.1:53x", PEER);
    assert_refused("10.0.0.1:+53", PEER);
    assert_refused("10.0.0.1:-53", PEER);
    assert_refused("10.0.0.1: 53", PEER);
    assert_refused("10.0.0.1:53 ", PEER);
    assert_refused("[::1]:0", LISTEN);
    assert_refused("[::1]:65536", UPSTREAM);
}

/* ---- upstreams and forward zones: the port may be left out ---- */

static void test_upstream_without_port_has_port_0(void **state)
{
    (void)state;
    assert_accepted("8.8.8.8", UPSTREAM, AF_INET, "8.8.8.8", 0);
    assert_accepted("[2620:fe::fe]", UPSTREAM, AF_INET6, "2620:fe::fe", 0);
}

static void test_upstream_may_be_a_bare_ipv6_address(void **state)
{
    (void)state;
    assert_accepted("2620:fe::9", UPSTREAM, AF_INET6, "2620:fe::9", 0);
    assert_accepted("::1", UPSTREAM, AF_INET6, "::1", 0);
    assert_accepted("::ffff:192.0.2.1", UPSTREAM, AF_INET6, "::ffff:192.0.2.1", 0);
}

static void test_upstream_is_an_address_not_a_name(void **state)
{
    (void)state;
    assert_refused("dns.google", UPSTREAM);
    assert_refused("dns.google:53", UPSTREAM);
    assert_refused("localhost:53", UPSTREAM);
}

static void test_upstream_refuses_what_is_no_address(void **state)
{
    (void)state;
    assert_refused("", UPSTREAM);
    assert_refused("192.168.1.300", UPSTREAM);
    assert_refused("192.0.2", UPSTREAM);
    assert_refused("127.1", UPSTREAM);
    assert_refused("::1::2", UPSTREAM);
    assert_refused("[192.0.2.1]", UPSTREAM); /* brackets hold IPv6 only */
    assert_refused("[192.0.2.1]:53", UPSTREAM);
    assert_refused("[::1", UPSTREAM);
    assert_refused("[::1]53", UPSTREAM);
    assert_refused("[::1]:", UPSTREAM);
    assert_refused("[::1]]:53", UPSTREAM);
    assert_refused("[]:53", UPSTREAM);
    assert_refused("[fe80::1%eth0]:53", UPSTREAM); /* a zone only where asked for */
    assert_refused(":53", UPSTREAM);
    assert_refused(" 8.8.8.8", UPSTREAM);
}

static void test_a_bare_ipv6_address_takes_no_port(void **state)
{
    (void)state;
    /* "::1:53" is the address ::1:53 to an upstream, never port 53 of ::1 */
    assert_accepted("::1:53", UPSTREAM, AF_INET6, "::1:53", 0);
    assert_refused("::1:53", PEER);
    assert_refused("::1:53", LISTEN);
}

/* ---- peers and nanoctl -s: a host name, a port required ---- */

static void test_peer_may_be_a_host_name(void **state)
{
    (void)state;
    assert_accepted("localhost:9053", PEER, AF_UNSPEC, "localhost", 9053);
    assert_accepted("node-1.cluster.example:9053", PEER, AF_UNSPEC, "node-1.cluster.example", 9053);
    assert_accepted("nanodns_node2:9053", PEER, AF_UNSPEC, "nanodns_node2", 9053); /* compose */
    assert_accepted("Node1.Example:9053", PEER, AF_UNSPEC, "Node1.Example", 9053);
}

static void test_peer_needs_a_port(void **state)
{
    (void)state;
    assert_refused("nod93", PEER);
    assert_refused("10.0.0.2", PEER);
    assert_refused("[fd00::3]", PEER);
    assert_refused("::1", PEER);
}

static void test_peer_host_name_follows_rfc_1123(void **state)
{
    (void)state;
    assert_refused("-node:9053", PEER);
    assert_refused("node-:9053", PEER);
    assert_refused("a..b:9053", PEER);
    assert_refused(".node:9053", PEER);
    assert_refused("node.example.:9053", PEER); /* no trailing dot */
    assert_refused("no de:9053", PEER);
    assert_refused("node!:9053", PEER);
    assert_refused("1.2.3:9053", PEER); /* all digits: an IPv4 address or nothing */
    assert_refused("999.1.1.1:9053", PEER);
    char label[80];
    memset(label, 'a', 64);
    strcpy(label + 64, ":9053");
    assert_refused(label, PEER); /* a label of 64 */
    label[63] = ':';
    strcpy(label + 64, "9053");
    assert_accepted(label, PEER, AF_UNSPEC,
                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 9053);
}

/* A host name of n octets: labels of 8 letters, the last one shorter. */
static void host_name_of(char *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = i % 9 == 8 ? '.' : 'a';
    if (out[n - 1] == '.')
        out[n - 1] = 'b';
    strcpy(out + n, ":53");
}

static void test_host_name_of_more_than_253_octets_is_refused(void **state)
{
    (void)state;
    char text[300];
    struct hostport hp;
    host_name_of(text, 254);
    assert_refused(text, PEER);
    host_name_of(text, 253);
    assert_int_equal(parse(text, PEER, &hp), 0);
    assert_int_equal(strlen(hp.host), 253);
}

static void test_nanoctl_server_forms_that_are_usage_errors(void **state)
{
    (void)state;
    /* tests/system/test_nanoctl.py, test_bad_server_address_exits_2 */
    static const char *const bad[] = {
        "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x",
        ":9053",     "::1:9053",   "[::1]",       "[::1]9053",       "[not-v6]:9053"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_refused(bad[i], PEER);
}

/* ---- --listen: addresses, an IPv6 zone allowed ---- */

static void test_listen_is_an_address_not_a_name(void **state)
{
    (void)state;
    assert_refused("localhost:5353", LISTEN);
    assert_refused("127.1:5353", LISTEN);
    assert_refused("127.0.0.1", LISTEN);
    assert_refused("[::1]", LISTEN);
}

static void test_listen_takes_an_ipv6_zone(void **state)
{
    (void)state;
    assert_accepted("[fe80::1%eth0]:53", LISTEN, AF_INET6, "fe80::1%eth0", 53);
    assert_accepted("[fe80::1%2]:53", LISTEN, AF_INET6, "fe80::1%2", 53);
    assert_refused("[fe80::1%]:53", LISTEN);
    assert_refused("[fe80::1%a/b]:53", LISTEN);
    assert_refused("[fe80::1%0123456789abcdef]:53", LISTEN); /* longer than IF_NAMESIZE - 1 */
    assert_refused("127.0.0.1%lo:53", LISTEN);
}

static void test_nul_octet_is_refused(void **state)
{
    (void)state;
    struct hostport hp;
    assert_int_equal(hostport_parse("1.2.3.4\0:53", 11, PEER, &hp), -1);
    assert_int_equal(hostport_parse("1.2.3.4:53\0", 11, PEER, &hp), -1);
    assert_int_equal(hostport_parse("8.8.8.8\0x", 9, UPSTREAM, &hp), -1);
    assert_int_equal(hostport_parse("1.2.3.4:53", 10, PEER, &hp), 0);
}

/* ---- addresses, socket addresses, text ---- */

static void test_is_address_takes_ipv4_and_ipv6_literals_only(void **state)
{
    (void)state;
    assert_true(hostport_is_address("0.0.0.0", 7));
    assert_true(hostport_is_address("::", 2));
    assert_true(hostport_is_address("fd00::1", 7));
    assert_false(hostport_is_address("localhost", 9));
    assert_false(hostport_is_address("[::1]", 5));
    assert_false(hostport_is_address("127.0.0.1:53", 12));
    assert_false(hostport_is_address("", 0));
    assert_false(hostport_is_address("127.0.0.1\0x", 11));
}

static void test_sockaddr_of_ipv4(void **state)
{
    (void)state;
    struct hostport hp;
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(parse("127.0.0.1:5353", LISTEN, &hp), 0);
    assert_int_equal(hostport_to_sockaddr(&hp, &ss, &len), 0);
    const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
    assert_int_equal(len, sizeof(*in));
    assert_int_equal(in->sin_family, AF_INET);
    assert_int_equal(ntohs(in->sin_port), 5353);
    assert_int_equal(ntohl(in->sin_addr.s_addr), 0x7F000001);
}

static void test_sockaddr_of_ipv6_with_a_zone(void **state)
{
    (void)state;
    struct hostport hp;
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(parse("[::1]:53", LISTEN, &hp), 0);
    assert_int_equal(hostport_to_sockaddr(&hp, &ss, &len), 0);
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
    assert_int_equal(len, sizeof(*in6));
    assert_int_equal(in6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(in6->sin6_port), 53);
    assert_true(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
    assert_int_equal(in6->sin6_scope_id, 0);

    assert_int_equal(parse("[fe80::1%7]:53", LISTEN, &hp), 0);
    assert_int_equal(hostport_to_sockaddr(&hp, &ss, &len), 0);
    assert_int_equal(in6->sin6_scope_id, 7);

    assert_int_equal(parse("[fe80::1%lo]:53", LISTEN, &hp), 0);
    assert_int_equal(hostport_to_sockaddr(&hp, &ss, &len), 0);
    assert_int_equal(in6->sin6_scope_id, if_nametoindex("lo"));

    assert_int_equal(parse("[fe80::1%nosuchif0]:53", LISTEN, &hp), 0);
    assert_int_equal(hostport_to_sockaddr(&hp, &ss, &len), -1);
}

static void test_sockaddr_of_a_host_name_is_refused(void **state)
{
    (void)state;
    struct hostport hp;
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(parse("localhost:53", PEER, &hp), 0);
    assert_int_equal(hostport_to_sockaddr(&hp, &ss, &len), -1);
}

static void test_format_brackets_ipv6_only(void **state)
{
    (void)state;
    char text[HOSTPORT_TEXT_MAX];
    hostport_format("127.0.0.1", 9053, text, sizeof(text));
    assert_string_equal(text, "127.0.0.1:9053");
    hostport_format("::1", 9053, text, sizeof(text));
    assert_string_equal(text, "[::1]:9053");
    hostport_format("node1.example", 53, text, sizeof(text));
    assert_string_equal(text, "node1.example:53");
    hostport_format("fe80::1%eth0", 53, text, sizeof(text));
    assert_string_equal(text, "[fe80::1%eth0]:53");
}

static void test_formatted_text_parses_back(void **state)
{
    (void)state;
    static const char *const hosts[] = {"192.0.2.1", "2001:db8::1", "node1.example"};
    for (size_t i = 0; i < 3; i++) {
        char text[HOSTPORT_TEXT_MAX];
        struct hostport hp;
        hostport_format(hosts[i], 65535, text, sizeof(text));
        assert_int_equal(parse(text, PEER, &hp), 0);
        assert_string_equal(hp.host, hosts[i]);
        assert_int_equal(hp.port, 65535);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_with_port_is_accepted_by_every_caller),
        cmocka_unit_test(test_bracketed_ipv6_with_port_is_accepted_by_every_caller),
        cmocka_unit_test(test_port_is_one_to_five_digits_from_1_to_65535),
        cmocka_unit_test(test_upstream_without_port_has_port_0),
        cmocka_unit_test(test_upstream_may_be_a_bare_ipv6_address),
        cmocka_unit_test(test_upstream_is_an_address_not_a_name),
        cmocka_unit_test(test_upstream_refuses_what_is_no_address),
        cmocka_unit_test(test_a_bare_ipv6_address_takes_no_port),
        cmocka_unit_test(test_peer_may_be_a_host_name),
        cmocka_unit_test(test_peer_needs_a_port),
        cmocka_unit_test(test_peer_host_name_follows_rfc_1123),
        cmocka_unit_test(test_host_name_of_more_than_253_octets_is_refused),
        cmocka_unit_test(test_nanoctl_server_forms_that_are_usage_errors),
        cmocka_unit_test(test_listen_is_an_address_not_a_name),
        cmocka_unit_test(test_listen_takes_an_ipv6_zone),
        cmocka_unit_test(test_nul_octet_is_refused),
        cmocka_unit_test(test_is_address_takes_ipv4_and_ipv6_literals_only),
        cmocka_unit_test(test_sockaddr_of_ipv4),
        cmocka_unit_test(test_sockaddr_of_ipv6_with_a_zone),
        cmocka_unit_test(test_sockaddr_of_a_host_name_is_refused),
        cmocka_unit_test(test_format_brackets_ipv6_only),
        cmocka_unit_test(test_formatted_text_parses_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
