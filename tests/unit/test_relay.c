/* Unit tests for the pure half of forwarding: dataplane/relay.c (which
 * servers a name goes to, the query we send, RFC 5452 matching, turning an
 * upstream response into a client's answer). Upstream responses are built
 * by hand below; images are compiled from the JSON configs. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compile.h"
#include "config.h"
#include "image.h"
#include "image_fixture.h"
#include "relay.h"
#include "wire.h"

#define JSON(...) #__VA_ARGS__

/* clang-format off */
/* Default upstreams 192.0.2.1 and 192.0.2.2:5353; corp.example and the
 * longer lab.corp.example have servers of their own. */
static const char FORWARD_CONFIG[] = JSON({
    "server": {"upstream": ["192.0.2.1", "192.0.2.2:5353"], "mgmt_port": 0, "hot_reload": false,
               "forward_zones": {"corp.example": ["10.1.1.1", "10.1.1.2:5353"],
                                 "lab.corp.example": ["[fd00::53]:53"]}},
    "zones": {},
    "records": []
});

static const char NO_UPSTREAM_CONFIG[] = JSON({
    "server": {"upstream": [], "mgmt_port": 0, "hot_reload": false},
    "zones": {},
    "records": []
});
/* clang-format on */

/* ---- images --------------------------------------------------------------- */


/* An image compiled from json, on the heap for cmocka's state. */
static struct image_fixture *served_open(const char *json)
{
    struct image_fixture *s = calloc(1, sizeof *s);
    assert_non_null(s);
    image_fixture_open(s, json);
    return s;
}

static void served_close(struct image_fixture *s)
{
    image_fixture_free(s);
    free(s);
}

/* ---- names and queries ------------------------------------------------------ */

static size_t name_wire(const char *text, uint8_t *out)
{
    size_t len;
    char err[128];
    if (wire_name_from_text(text, out, &len, err, sizeof err) < 0)
        fail_msg("bad name %s: %s", text, err);
    return len;
}

/* The servers relay_servers picks for name, as "addr:port" of the first. */
static size_t servers_for(const struct image *img, const char *name, char *first_text)
{
    uint8_t wire[WIRE_NAME_MAX];
    size_t len = name_wire(name, wire);
    wire_name_lower(wire, len);
    const struct image_upstream *first = NULL;
    size_t n = relay_servers(img, wire, len, &first);
    if (n > 0) {
        char addr[INET6_ADDRSTRLEN];
        inet_ntop(first->family == 4 ? AF_INET : AF_INET6, first->addr, addr, sizeof addr);
        sprintf(first_text, "%s:%u", addr, first->port);
    }
    return n;
}

struct query {
    const char *name;
    uint16_t type;
    uint16_t id;
    uint16_t flags;
    bool edns;
    uint16_t payload;
    bool dnssec_ok;
};

static size_t query_make(uint8_t *out, const struct query *q)
{
    wire_put16(out, q->id);
    wire_put16(out + 2, q->flags);
    wire_put16(out + 4, 1);
    wire_put16(out + 6, 0);
    wire_put16(out + 8, 0);
    wire_put16(out + 10, q->edns ? 1 : 0);
    size_t len = WIRE_HEADER_SIZE;
    len += name_wire(q->name, out + len);
    wire_put16(out + len, q->type);
    wire_put16(out + len + 2, WIRE_CLASS_IN);
    len += 4;
    if (q->edns) {
        out[len] = 0;
        wire_put16(out + len + 1, WIRE_TYPE_OPT);
        wire_put16(out + len + 3, q->payload);
        wire_put32(out + len + 5, q->dnssec_ok ? WIRE_EDNS_DO : 0);
        wire_put16(out + len + 9, 0);
        len += 11;
    }
    return len;
}

/* A client's query as answer_query hands it over: parsed, with its key
 * and what its answer needs. */
struct asking {
    uint8_t packet[600];
    size_t len;
    struct wire_query q;
    struct cache_key key;
    struct relay_client client;
};

static void asking_init(struct asking *a, struct query q)
{
    a->len = query_make(a->packet, &q);
    assert_int_equal(wire_parse_query(a->packet, a->len, &a->q), WIRE_QUERY_OK);
    relay_key_init(&a->key, &a->q);
    relay_client_init(&a->client, &a->q, a->packet);
}

/* ---- upstream responses, by hand ------------------------------------------------ */

struct builder {
    uint8_t buf[8192];
    size_t len;
    uint16_t counts[3];
};

/* Header and question: the name as given (case kept), type A. */
static void build_start(struct builder *b, uint16_t id, uint16_t flags, const char *name,
                        uint16_t qtype)
{
    memset(b, 0, sizeof *b);
    wire_put16(b->buf, id);
    wire_put16(b->buf + 2, flags);
    wire_put16(b->buf + 4, 1);
    b->len = WIRE_HEADER_SIZE;
    b->len += name_wire(name, b->buf + b->len);
    wire_put16(b->buf + b->len, qtype);
    wire_put16(b->buf + b->len + 2, WIRE_CLASS_IN);
    b->len += 4;
}

/* An A record owned by the question's name (a pointer to it). */
static void build_a(struct builder *b, int section, uint32_t ttl, uint8_t last_octet)
{
    uint8_t *p = b->buf + b->len;
    wire_put16(p, 0xC00C);
    wire_put16(p + 2, WIRE_TYPE_A);
    wire_put16(p + 4, WIRE_CLASS_IN);
    wire_put32(p + 6, ttl);
    wire_put16(p + 10, 4);
    p[12] = 192;
    p[13] = 0;
    p[14] = 2;
    p[15] = last_octet;
    b->len += 16;
    b->counts[section]++;
}

static void build_opt(struct builder *b, uint16_t payload, uint32_t ttl)
{
    uint8_t *p = b->buf + b->len;
    p[0] = 0;
    wire_put16(p + 1, WIRE_TYPE_OPT);
    wire_put16(p + 3, payload);
    wire_put32(p + 5, ttl);
    wire_put16(p + 9, 0);
    b->len += 11;
    b->counts[2]++;
}

static void build_finish(struct builder *b)
{
    for (int s = 0; s < 3; s++)
        wire_put16(b->buf + 6 + 2 * s, b->counts[s]);
}

/* A typical upstream answer to a: its ID, lowercase question, RD RA,
 * n A records, an OPT with payload 1232 when opt. */
static void build_answer(struct builder *b, const struct asking *a, uint16_t id, int n, bool opt)
{
    char lower[WIRE_NAME_MAX * 4];
    assert_true(wire_name_to_text(a->key.qname, a->key.qname_len, lower, sizeof lower) >= 0);
    build_start(b, id, WIRE_FLAG_QR | WIRE_FLAG_RD | WIRE_FLAG_RA, lower, a->key.qtype);
    for (int i = 0; i < n; i++)
        build_a(b, 0, 300, (uint8_t)(i + 1));
    if (opt)
        build_opt(b, 1232, 0);
    build_finish(b);
}

static uint16_t counts(const uint8_t *buf, int section)
{
    return wire_get16(buf + 6 + 2 * section);
}

/* The OPT record of a response that ends with one, or NULL. */
static const uint8_t *final_opt(const uint8_t *buf, size_t len)
{
    if (counts(buf, 2) == 0 || len < 11)
        return NULL;
    const uint8_t *p = buf + len - 11;
    return p[0] == 0 && wire_get16(p + 1) == WIRE_TYPE_OPT ? p : NULL;
}

/* ---- which servers --------------------------------------------------------------- */

static void test_names_outside_forward_zones_go_to_the_default_upstreams(void **state)
{
    (void)state;
    struct image_fixture *s = served_open(FORWARD_CONFIG);
    char first[80];
    assert_int_equal(servers_for(&s->img, "www.example.org", first), 2);
    assert_string_equal(first, "192.0.2.1:53");
    served_close(s);
}

static void test_a_forward_zone_takes_its_names_and_itself(void **state)
{
    (void)state;
    struct image_fixture *s = served_open(FORWARD_CONFIG);
    char first[80];
    assert_int_equal(servers_for(&s->img, "host.corp.example", first), 2);
    assert_string_equal(first, "10.1.1.1:53");
    assert_int_equal(servers_for(&s->img, "Corp.Example", first), 2);
    assert_string_equal(first, "10.1.1.1:53");
    served_close(s);
}

static void test_the_longest_forward_zone_wins(void **state)
{
    (void)state;
    struct image_fixture *s = served_open(FORWARD_CONFIG);
    char first[80];
    assert_int_equal(servers_for(&s->img, "a.b.lab.corp.example", first), 1);
    assert_string_equal(first, "fd00::53:53");
    served_close(s);
}

static void test_forward_zones_match_whole_labels_only(void **state)
{
    (void)state;
    struct image_fixture *s = served_open(FORWARD_CONFIG);
    char first[80];
    /* "notcorp.example" merely ends in the same characters */
    assert_int_equal(servers_for(&s->img, "notcorp.example", first), 2);
    assert_string_equal(first, "192.0.2.1:53");
    served_close(s);
}

static void test_no_upstream_means_nowhere_to_forward(void **state)
{
    (void)state;
    struct image_fixture *s = served_open(NO_UPSTREAM_CONFIG);
    char first[80];
    assert_int_equal(servers_for(&s->img, "www.example.org", first), 0);
    served_close(s);
}

/* ---- the query we send ------------------------------------------------------------ */

static void test_upstream_query_asks_for_recursion_in_lowercase_with_edns(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "WwW.Example.ORG", .type = WIRE_TYPE_AAAA, .id = 7});
    uint8_t out[RELAY_QUERY_MAX];
    size_t len = relay_query_build(out, 0xABCD, &a.key);
    struct wire_query q;
    assert_int_equal(wire_parse_query(out, len, &q), WIRE_QUERY_OK);
    assert_int_equal(q.id, 0xABCD);
    assert_true(q.flags & WIRE_FLAG_RD);
    assert_false(q.flags & WIRE_FLAG_CD);
    assert_memory_equal(out + WIRE_HEADER_SIZE, "\003www\007example\003org", 17);
    assert_int_equal(q.qtype, WIRE_TYPE_AAAA);
    assert_true(q.has_edns);
    assert_int_equal(q.edns_payload, 1232);
    assert_false(q.edns_do);
}

static void test_upstream_query_carries_the_clients_do_and_cd_bits(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "example.org",
                                   .type = WIRE_TYPE_A,
                                   .flags = WIRE_FLAG_CD,
                                   .edns = true,
                                   .payload = 4096,
                                   .dnssec_ok = true});
    uint8_t out[RELAY_QUERY_MAX];
    size_t len = relay_query_build(out, 1, &a.key);
    struct wire_query q;
    assert_int_equal(wire_parse_query(out, len, &q), WIRE_QUERY_OK);
    assert_true(q.edns_do);
    assert_true(q.flags & WIRE_FLAG_CD);
    assert_int_equal(q.edns_payload, 1232); /* ours, not the client's */
}

static void test_keys_differ_by_do_bit_but_not_by_case(void **state)
{
    (void)state;
    struct asking plain, upper, dnssec;
    asking_init(&plain, (struct query){.name = "example.org", .type = WIRE_TYPE_A});
    asking_init(&upper, (struct query){.name = "EXAMPLE.org", .type = WIRE_TYPE_A, .id = 9});
    asking_init(&dnssec, (struct query){.name = "example.org",
                                        .type = WIRE_TYPE_A,
                                        .edns = true,
                                        .payload = 1232,
                                        .dnssec_ok = true});
    assert_memory_equal(&plain.key, &upper.key, sizeof plain.key);
    assert_memory_not_equal(&plain.key, &dnssec.key, sizeof plain.key);
}

/* ---- RFC 5452 matching ---------------------------------------------------------- */

static void test_answer_with_our_id_and_question_is_accepted(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "www.example.org", .type = WIRE_TYPE_A});
    struct builder b;
    build_answer(&b, &a, 0x1111, 1, true);
    assert_int_equal(relay_response_check(b.buf, b.len, 0x1111, &a.key), RELAY_ACCEPT);
}

static void test_answer_with_another_id_is_ignored(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "www.example.org", .type = WIRE_TYPE_A});
    struct builder b;
    build_answer(&b, &a, 0x1112, 1, true);
    assert_int_equal(relay_response_check(b.buf, b.len, 0x1111, &a.key), RELAY_IGNORE);
}

static void test_answer_for_another_name_is_ignored(void **state)
{
    (void)state;
    struct asking a, other;
    asking_init(&a, (struct query){.name = "www.example.org", .type = WIRE_TYPE_A});
    asking_init(&other, (struct query){.name = "www.example.net", .type = WIRE_TYPE_A});
    struct builder b;
    build_answer(&b, &other, 0x1111, 1, true);
    assert_int_equal(relay_response_check(b.buf, b.len, 0x1111, &a.key), RELAY_IGNORE);
}

static void test_answer_for_another_type_is_ignored(void **state)
{
    (void)state;
    struct asking a, other;
    asking_init(&a, (struct query){.name = "www.example.org", .type = WIRE_TYPE_A});
    asking_init(&other, (struct query){.name = "www.example.org", .type = WIRE_TYPE_AAAA});
    struct builder b;
    build_answer(&b, &other, 0x1111, 0, true);
    assert_int_equal(relay_response_check(b.buf, b.len, 0x1111, &a.key), RELAY_IGNORE);
}

static void test_answer_name_in_another_case_is_accepted(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "www.example.org", .type = WIRE_TYPE_A});
    struct builder b;
    build_start(&b, 0x1111, WIRE_FLAG_QR | WIRE_FLAG_RA, "WWW.eXample.org", WIRE_TYPE_A);
    build_a(&b, 0, 60, 1);
    build_finish(&b);
    assert_int_equal(relay_response_check(b.buf, b.len, 0x1111, &a.key), RELAY_ACCEPT);
}

static void test_a_query_is_not_an_answer(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "www.example.org", .type = WIRE_TYPE_A});
    struct builder b;
    build_answer(&b, &a, 0x1111, 1, false);
    wire_put16(b.buf + 2, WIRE_FLAG_RD); /* QR=0 */
    assert_int_equal(relay_response_check(b.buf, b.len, 0x1111, &a.key), RELAY_IGNORE);
}

static void test_our_answer_cut_short_is_malformed(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "www.example.org", .type = WIRE_TYPE_A});
    struct builder b;
    build_answer(&b, &a, 0x1111, 2, false);
    assert_int_equal(relay_response_check(b.buf, b.len - 3, 0x1111, &a.key), RELAY_MALFORMED);
}

/* ---- the client's answer -------------------------------------------------------- */

static size_t relay(struct builder *b, const struct asking *a, enum answer_transport transport,
                    struct relay_result *result)
{
    size_t limit = relay_size_limit(&a->client, transport, 1400);
    return relay_answer(b->buf, b->len, sizeof b->buf, &a->client, limit, 1400, result);
}

static void test_answer_gets_the_clients_id_and_question_case(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "WwW.Example.ORG",
                                   .type = WIRE_TYPE_A,
                                   .id = 0x4242,
                                   .flags = WIRE_FLAG_RD});
    struct builder b;
    build_answer(&b, &a, 0x9999, 1, false);
    struct relay_result r;
    size_t len = relay(&b, &a, ANSWER_UDP, &r);
    assert_int_equal(len, b.len);
    assert_int_equal(wire_get16(b.buf), 0x4242);
    assert_memory_equal(b.buf + WIRE_HEADER_SIZE, a.packet + WIRE_HEADER_SIZE,
                        a.client.question_len);
    assert_int_equal(counts(b.buf, 0), 1);
}

static void test_answer_has_ra_and_the_clients_rd(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "www.example.org", .type = WIRE_TYPE_A, .flags = 0});
    struct builder b;
    build_answer(&b, &a, 1, 1, false);
    wire_put16(b.buf + 2, WIRE_FLAG_QR | WIRE_FLAG_RD); /* an upstream that forgot RA */
    struct relay_result r;
    relay(&b, &a, ANSWER_UDP, &r);
    uint16_t flags = wire_get16(b.buf + 2);
    assert_true(flags & WIRE_FLAG_RA);
    assert_false(flags & WIRE_FLAG_RD);
}

static void test_answer_keeps_the_upstreams_rcode_and_flags(void **state)
{
    (void)state;
    struct asking a;
    asking_init(
        &a, (struct query){.name = "nx.example.org", .type = WIRE_TYPE_A, .flags = WIRE_FLAG_RD});
    struct builder b;
    build_start(&b, 1,
                WIRE_FLAG_QR | WIRE_FLAG_AA | WIRE_FLAG_AD | WIRE_FLAG_RD | WIRE_RCODE_NXDOMAIN,
                "nx.example.org", WIRE_TYPE_A);
    build_a(&b, 1, 60, 1); /* something in authority */
    build_finish(&b);
    struct relay_result r;
    assert_int_equal(relay(&b, &a, ANSWER_UDP, &r), b.len);
    uint16_t flags = wire_get16(b.buf + 2);
    assert_int_equal(flags & 0xF, WIRE_RCODE_NXDOMAIN);
    assert_int_equal(r.rcode, WIRE_RCODE_NXDOMAIN);
    assert_true(flags & WIRE_FLAG_AA);
    assert_true(flags & WIRE_FLAG_AD);
    assert_int_equal(counts(b.buf, 1), 1);
}

static void test_opt_is_removed_for_a_client_without_edns(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "www.example.org", .type = WIRE_TYPE_A});
    struct builder b;
    build_answer(&b, &a, 1, 1, true);
    size_t upstream_len = b.len;
    struct relay_result r;
    size_t len = relay(&b, &a, ANSWER_UDP, &r);
    assert_int_equal(len, upstream_len - 11);
    assert_int_equal(counts(b.buf, 2), 0);
    assert_int_equal(counts(b.buf, 0), 1);
}

static void test_records_after_a_removed_opt_go_with_it(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "www.example.org", .type = WIRE_TYPE_A});
    struct builder b;
    build_answer(&b, &a, 1, 1, false);
    build_a(&b, 2, 60, 7);
    build_opt(&b, 1232, 0);
    build_a(&b, 2, 60, 8);
    build_finish(&b);
    struct relay_result r;
    size_t len = relay(&b, &a, ANSWER_UDP, &r);
    assert_int_equal(counts(b.buf, 2), 1); /* the additional record before the OPT */
    assert_int_equal(len, (size_t)WIRE_HEADER_SIZE + a.client.question_len + 2 * 16);
}

static void test_opt_offers_our_payload_to_a_client_with_edns(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "www.example.org",
                                   .type = WIRE_TYPE_A,
                                   .edns = true,
                                   .payload = 4096,
                                   .dnssec_ok = true});
    struct builder b;
    build_answer(&b, &a, 1, 1, false);
    build_opt(&b, 512, WIRE_EDNS_DO);
    build_finish(&b);
    struct relay_result r;
    size_t len = relay(&b, &a, ANSWER_UDP, &r);
    const uint8_t *opt = final_opt(b.buf, len);
    assert_non_null(opt);
    assert_int_equal(wire_get16(opt + 3), 1400);
    assert_int_equal(wire_get32(opt + 5), WIRE_EDNS_DO); /* the client's DO */
}

/* The OPT TTL the client gets when it asks with DO=client_do and the
 * upstream answers with an OPT TTL of upstream_ttl. */
static uint32_t relayed_opt_ttl(bool client_do, uint32_t upstream_ttl)
{
    struct asking a;
    asking_init(&a, (struct query){.name = "www.example.org",
                                   .type = WIRE_TYPE_A,
                                   .edns = true,
                                   .payload = 1232,
                                   .dnssec_ok = client_do});
    struct builder b;
    build_answer(&b, &a, 1, 1, false);
    build_opt(&b, 1232, upstream_ttl);
    build_finish(&b);
    struct relay_result r;
    size_t len = relay(&b, &a, ANSWER_UDP, &r);
    const uint8_t *opt = final_opt(b.buf, len);
    assert_non_null(opt);
    return wire_get32(opt + 5);
}

static void test_the_clients_do_bit_replaces_the_upstreams(void **state)
{
    (void)state;
    /* RFC 3225 §3: the DO of the query is copied into the response */
    assert_int_equal(relayed_opt_ttl(false, WIRE_EDNS_DO), 0);
    assert_int_equal(relayed_opt_ttl(true, 0), WIRE_EDNS_DO);
    /* the upstream's extended rcode stays */
    assert_int_equal(relayed_opt_ttl(true, 0x0A000000u), 0x0A000000u | WIRE_EDNS_DO);
    assert_int_equal(relayed_opt_ttl(false, 0x0A000000u | WIRE_EDNS_DO), 0x0A000000u);
}

static void test_an_added_opt_carries_the_clients_do_bit(void **state)
{
    (void)state;
    for (int dnssec_ok = 0; dnssec_ok < 2; dnssec_ok++) {
        struct asking a;
        asking_init(&a, (struct query){.name = "www.example.org",
                                       .type = WIRE_TYPE_A,
                                       .edns = true,
                                       .payload = 1232,
                                       .dnssec_ok = dnssec_ok});
        struct builder b;
        build_answer(&b, &a, 1, 1, false); /* the upstream sent no OPT */
        struct relay_result r;
        size_t len = relay(&b, &a, ANSWER_UDP, &r);
        const uint8_t *opt = final_opt(b.buf, len);
        assert_non_null(opt);
        assert_int_equal(wire_get32(opt + 5), dnssec_ok ? WIRE_EDNS_DO : 0);
    }
}

static void test_opt_is_added_when_the_upstream_sent_none(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a,
                (struct query){
                    .name = "www.example.org", .type = WIRE_TYPE_A, .edns = true, .payload = 1232});
    struct builder b;
    build_answer(&b, &a, 1, 1, false);
    size_t upstream_len = b.len;
    struct relay_result r;
    size_t len = relay(&b, &a, ANSWER_UDP, &r);
    assert_int_equal(len, upstream_len + 11);
    assert_non_null(final_opt(b.buf, len));
    assert_int_equal(counts(b.buf, 2), 1);
}

static void test_answer_over_512_without_edns_is_truncated_to_the_question(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "www.example.org", .type = WIRE_TYPE_A});
    struct builder b;
    build_answer(&b, &a, 1, 40, true); /* 40 x 16 octets */
    struct relay_result r;
    size_t len = relay(&b, &a, ANSWER_UDP, &r);
    assert_true(r.truncated);
    assert_true(wire_get16(b.buf + 2) & WIRE_FLAG_TC);
    assert_int_equal(len, (size_t)WIRE_HEADER_SIZE + a.client.question_len);
    assert_int_equal(counts(b.buf, 0), 0);
    assert_int_equal(counts(b.buf, 2), 0);
}

static void test_truncated_answer_keeps_an_opt_for_an_edns_client(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a,
                (struct query){
                    .name = "www.example.org", .type = WIRE_TYPE_A, .edns = true, .payload = 600});
    struct builder b;
    build_answer(&b, &a, 1, 60, true); /* about 1000 octets: over 600 */
    struct relay_result r;
    size_t len = relay(&b, &a, ANSWER_UDP, &r);
    assert_true(r.truncated);
    assert_int_equal(len, (size_t)WIRE_HEADER_SIZE + a.client.question_len + 11);
    assert_non_null(final_opt(b.buf, len));
    assert_int_equal(wire_get16(final_opt(b.buf, len) + 3), 1400);
}

static void test_truncated_answer_carries_the_clients_do_bit(void **state)
{
    (void)state;
    for (int dnssec_ok = 0; dnssec_ok < 2; dnssec_ok++) {
        struct asking a;
        asking_init(&a, (struct query){.name = "www.example.org",
                                       .type = WIRE_TYPE_A,
                                       .edns = true,
                                       .payload = 600,
                                       .dnssec_ok = dnssec_ok});
        struct builder b;
        build_answer(&b, &a, 1, 60, false);
        build_opt(&b, 1232, dnssec_ok ? 0 : WIRE_EDNS_DO); /* the upstream says the opposite */
        build_finish(&b);
        struct relay_result r;
        size_t len = relay(&b, &a, ANSWER_UDP, &r);
        assert_true(r.truncated);
        const uint8_t *opt = final_opt(b.buf, len);
        assert_non_null(opt);
        assert_int_equal(wire_get32(opt + 5), dnssec_ok ? WIRE_EDNS_DO : 0);
    }
}

static void test_answer_within_the_edns_payload_is_whole(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a,
                (struct query){
                    .name = "www.example.org", .type = WIRE_TYPE_A, .edns = true, .payload = 4096});
    struct builder b;
    build_answer(&b, &a, 1, 60, true); /* about 1000 octets: within 1400 */
    struct relay_result r;
    relay(&b, &a, ANSWER_UDP, &r);
    assert_false(r.truncated);
    assert_int_equal(counts(b.buf, 0), 60);
}

static void test_answer_over_tcp_is_whole(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "www.example.org", .type = WIRE_TYPE_A});
    struct builder b;
    build_answer(&b, &a, 1, 200, false);
    size_t upstream_len = b.len;
    struct relay_result r;
    assert_int_equal(relay(&b, &a, ANSWER_TCP, &r), upstream_len);
    assert_false(r.truncated);
    assert_int_equal(counts(b.buf, 0), 200);
}

static void test_size_limit_follows_rfc_6891(void **state)
{
    (void)state;
    struct asking plain, small, large;
    asking_init(&plain, (struct query){.name = "a.example", .type = WIRE_TYPE_A});
    asking_init(
        &small,
        (struct query){.name = "a.example", .type = WIRE_TYPE_A, .edns = true, .payload = 100});
    asking_init(
        &large,
        (struct query){.name = "a.example", .type = WIRE_TYPE_A, .edns = true, .payload = 65000});
    assert_int_equal(relay_size_limit(&plain.client, ANSWER_UDP, 1232), 512);
    assert_int_equal(relay_size_limit(&small.client, ANSWER_UDP, 1232), 512);
    assert_int_equal(relay_size_limit(&large.client, ANSWER_UDP, 1232), 1232);
    assert_int_equal(relay_size_limit(&plain.client, ANSWER_TCP, 1232), 65535);
}

static void test_servfail_of_our_own_echoes_the_question_with_ra(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "Www.Example.org",
                                   .type = WIRE_TYPE_A,
                                   .id = 77,
                                   .flags = WIRE_FLAG_RD,
                                   .edns = true,
                                   .payload = 1232});
    uint8_t out[WIRE_HEADER_SIZE + sizeof a.client.question + RELAY_OPT_SIZE];
    size_t len = relay_error(out, &a.client, WIRE_RCODE_SERVFAIL, 1232);
    assert_int_equal(len, a.len); /* header, the question as sent, an OPT */
    assert_int_equal(wire_get16(out), 77);
    uint16_t flags = wire_get16(out + 2);
    assert_int_equal(flags & 0xF, WIRE_RCODE_SERVFAIL);
    assert_true(flags & WIRE_FLAG_QR);
    assert_true(flags & WIRE_FLAG_RA);
    assert_true(flags & WIRE_FLAG_RD);
    assert_memory_equal(out + WIRE_HEADER_SIZE, a.packet + WIRE_HEADER_SIZE, a.client.question_len);
    assert_non_null(final_opt(out, len));
}

static void test_servfail_of_our_own_carries_the_clients_do_bit(void **state)
{
    (void)state;
    for (int dnssec_ok = 0; dnssec_ok < 2; dnssec_ok++) {
        struct asking a;
        asking_init(&a, (struct query){.name = "www.example.org",
                                       .type = WIRE_TYPE_A,
                                       .edns = true,
                                       .payload = 1232,
                                       .dnssec_ok = dnssec_ok});
        uint8_t out[WIRE_HEADER_SIZE + sizeof a.client.question + RELAY_OPT_SIZE];
        size_t len = relay_error(out, &a.client, WIRE_RCODE_SERVFAIL, 1232);
        const uint8_t *opt = final_opt(out, len);
        assert_non_null(opt);
        assert_int_equal(wire_get32(opt + 5), dnssec_ok ? WIRE_EDNS_DO : 0);
    }
}

/* ---- rebinding protection (server.rebind_protection) ---------------------------- */

/* Is text (an IPv4 or IPv6 address) one relay_rebind_address flags, as the
 * rdata of an A or AAAA? */
static bool rebind_text(const char *text)
{
    uint8_t addr[16];
    if (inet_pton(AF_INET, text, addr) == 1)
        return relay_rebind_address(WIRE_TYPE_A, addr, 4);
    if (inet_pton(AF_INET6, text, addr) != 1)
        fail_msg("not an address: %s", text);
    return relay_rebind_address(WIRE_TYPE_AAAA, addr, 16);
}

static void test_rebind_private_ipv4_ranges_are_detected_at_both_ends(void **state)
{
    (void)state;
    static const char *const inside[] = {
        "0.0.0.0",     "0.255.255.255",   "10.0.0.0",     "10.255.255.255",
        "100.64.0.0",  "100.127.255.255", "127.0.0.1",    "127.255.255.255",
        "169.254.0.0", "169.254.255.255", "172.16.0.0",   "172.31.255.255",
        "192.168.0.0", "192.168.255.255", "192.168.1.10",
    };
    for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++)
        if (!rebind_text(inside[i]))
            fail_msg("%s is not detected", inside[i]);
}

static void test_rebind_public_ipv4_next_to_the_ranges_is_not_detected(void **state)
{
    (void)state;
    static const char *const outside[] = {
        "1.0.0.0",         "9.255.255.255",   "11.0.0.0",        "100.63.255.255", "100.128.0.0",
        "126.255.255.255", "128.0.0.0",       "169.253.255.255", "169.255.0.0",    "172.15.255.255",
        "172.32.0.0",      "192.167.255.255", "192.169.0.0",     "93.184.216.34",  "8.8.8.8",
    };
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++)
        if (rebind_text(outside[i]))
            fail_msg("%s is detected", outside[i]);
}

static void test_rebind_private_ipv6_ranges_are_detected(void **state)
{
    (void)state;
    static const char *const inside[] = {
        "::",
        "::1",
        "fc00::",
        "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "fe80::1",
        "febf::ffff",
        "::ffff:10.1.2.3",
        "::ffff:127.0.0.1",
        "::ffff:192.168.1.10",
        "::ffff:0.0.0.0",
    };
    for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++)
        if (!rebind_text(inside[i]))
            fail_msg("%s is not detected", inside[i]);
}

static void test_rebind_public_ipv6_is_not_detected(void **state)
{
    (void)state;
    static const char *const outside[] = {
        "::2",
        "2001:db8::1",
        "2606:2800:220:1:248:1893:25c8:1946",
        "fbff::1",
        "fec0::1",
        "fe7f::1",
        "::ffff:93.184.216.34",
        "::ffff:1:0:0:0", /* not the mapped prefix */
        "::10.1.2.3",     /* deprecated IPv4-compatible: not mapped */
    };
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++)
        if (rebind_text(outside[i]))
            fail_msg("%s is detected", outside[i]);
}

static void test_rebind_only_a_and_aaaa_rdata_count(void **state)
{
    (void)state;
    static const uint8_t ten[16] = {10, 0, 0, 1};
    assert_false(relay_rebind_address(WIRE_TYPE_TXT, ten, 4));
    assert_false(relay_rebind_address(WIRE_TYPE_A, ten, 5)); /* no address at all */
    assert_false(relay_rebind_address(WIRE_TYPE_AAAA, ten, 4));
    assert_true(relay_rebind_address(WIRE_TYPE_A, ten, 4));
}

/* An A record in the answer section, with address addr. */
static void build_a_address(struct builder *b, const uint8_t addr[4])
{
    build_a(b, 0, 300, 0);
    memcpy(b->buf + b->len - 4, addr, 4);
}

static void test_rebind_found_looks_at_every_answer_record(void **state)
{
    (void)state;
    static const uint8_t public[4] = {93, 184, 216, 34}, private[4] = {192, 168, 1, 10};
    struct builder b;
    build_start(&b, 1, WIRE_FLAG_QR | WIRE_FLAG_RA, "evil.example", WIRE_TYPE_A);
    build_a_address(&b, public);
    build_finish(&b);
    assert_false(relay_rebind_found(b.buf, b.len));

    build_a_address(&b, private); /* the second one */
    build_finish(&b);
    assert_true(relay_rebind_found(b.buf, b.len));
}

static void test_rebind_found_ignores_the_authority_and_additional_sections(void **state)
{
    (void)state;
    static const uint8_t private[4] = {10, 0, 0, 53};
    struct builder b;
    build_start(&b, 1, WIRE_FLAG_QR | WIRE_FLAG_RA, "example.org", WIRE_TYPE_NS);
    build_a(&b, 2, 300, 1); /* glue, as an additional A */
    memcpy(b.buf + b.len - 4, private, 4);
    build_opt(&b, 1232, 0);
    build_finish(&b);
    assert_false(relay_rebind_found(b.buf, b.len));
}

static void test_rebind_found_sees_an_aaaa_behind_a_cname(void **state)
{
    (void)state;
    struct builder b;
    build_start(&b, 1, WIRE_FLAG_QR | WIRE_FLAG_RA, "www.evil.example", WIRE_TYPE_AAAA);
    /* www.evil.example CNAME in.evil.example (uncompressed), then its AAAA fe80::1 */
    uint8_t *p = b.buf + b.len;
    static const uint8_t target[] = "\002in\004evil\007example";
    wire_put16(p, 0xC00C);
    wire_put16(p + 2, WIRE_TYPE_CNAME);
    wire_put16(p + 4, WIRE_CLASS_IN);
    wire_put32(p + 6, 300);
    wire_put16(p + 10, sizeof target);
    memcpy(p + 12, target, sizeof target);
    size_t target_at = b.len + 12;
    b.len += 12 + sizeof target;
    p = b.buf + b.len;
    wire_put16(p, (uint16_t)(0xC000 | target_at));
    wire_put16(p + 2, WIRE_TYPE_AAAA);
    wire_put16(p + 4, WIRE_CLASS_IN);
    wire_put32(p + 6, 300);
    wire_put16(p + 10, 16);
    memset(p + 12, 0, 16);
    p[12] = 0xfe;
    p[13] = 0x80;
    p[27] = 1;
    b.len += 28;
    b.counts[0] = 2;
    build_finish(&b);
    assert_true(relay_rebind_found(b.buf, b.len));
}

static void test_rebind_exemption_covers_forward_zones_and_the_names_below(void **state)
{
    (void)state;
    struct image_fixture *s = served_open(FORWARD_CONFIG);
    static const char *const covered[] = {"corp.example", "host.corp.example",
                                          "a.lab.corp.example"};
    static const char *const outside[] = {"example", "evil.example", "notcorp.example"};
    uint8_t wire[WIRE_NAME_MAX];
    for (size_t i = 0; i < 3; i++) {
        size_t len = name_wire(covered[i], wire);
        assert_true(relay_forward_zone_covers(&s->img, wire, len));
        len = name_wire(outside[i], wire);
        assert_false(relay_forward_zone_covers(&s->img, wire, len));
    }
    served_close(s);
}

static void test_a_blocked_answer_becomes_nodata_for_the_client(void **state)
{
    (void)state;
    struct asking a;
    asking_init(&a, (struct query){.name = "Evil.Example",
                                   .type = WIRE_TYPE_A,
                                   .id = 9,
                                   .flags = WIRE_FLAG_RD,
                                   .edns = true,
                                   .payload = 1232});
    struct builder b;
    build_answer(&b, &a, 500, 2, true);
    wire_put16(b.buf + 2, wire_get16(b.buf + 2) | WIRE_FLAG_AA | WIRE_FLAG_AD);
    uint8_t out[WIRE_HEADER_SIZE + WIRE_NAME_MAX + 4 + RELAY_OPT_SIZE];
    size_t len = relay_rebind_answer(out, b.buf, b.len);
    assert_int_equal(len, WIRE_HEADER_SIZE + a.key.qname_len + 4);
    uint16_t flags = wire_get16(out + 2);
    assert_int_equal(flags & 0xF, WIRE_RCODE_NOERROR);
    assert_false(flags & (WIRE_FLAG_AA | WIRE_FLAG_AD));
    for (int section = 0; section < 3; section++)
        assert_int_equal(counts(out, section), 0);
    /* what the client gets from it: its ID, its question, an OPT, no record */
    struct relay_result result;
    len = relay_answer(out, len, sizeof out, &a.client, 1232, 1232, &result);
    assert_int_equal(len, a.len);
    assert_int_equal(result.rcode, WIRE_RCODE_NOERROR);
    assert_int_equal(wire_get16(out), 9);
    assert_memory_equal(out + WIRE_HEADER_SIZE, a.packet + WIRE_HEADER_SIZE, a.client.question_len);
    assert_int_equal(counts(out, 0), 0);
    assert_non_null(final_opt(out, len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_outside_forward_zones_go_to_the_default_upstreams),
        cmocka_unit_test(test_a_forward_zone_takes_its_names_and_itself),
        cmocka_unit_test(test_the_longest_forward_zone_wins),
        cmocka_unit_test(test_forward_zones_match_whole_labels_only),
        cmocka_unit_test(test_no_upstream_means_nowhere_to_forward),
        cmocka_unit_test(test_upstream_query_asks_for_recursion_in_lowercase_with_edns),
        cmocka_unit_test(test_upstream_query_carries_the_clients_do_and_cd_bits),
        cmocka_unit_test(test_keys_differ_by_do_bit_but_not_by_case),
        cmocka_unit_test(test_answer_with_our_id_and_question_is_accepted),
        cmocka_unit_test(test_answer_with_another_id_is_ignored),
        cmocka_unit_test(test_answer_for_another_name_is_ignored),
        cmocka_unit_test(test_answer_for_another_type_is_ignored),
        cmocka_unit_test(test_answer_name_in_another_case_is_accepted),
        cmocka_unit_test(test_a_query_is_not_an_answer),
        cmocka_unit_test(test_our_answer_cut_short_is_malformed),
        cmocka_unit_test(test_answer_gets_the_clients_id_and_question_case),
        cmocka_unit_test(test_answer_has_ra_and_the_clients_rd),
        cmocka_unit_test(test_answer_keeps_the_upstreams_rcode_and_flags),
        cmocka_unit_test(test_opt_is_removed_for_a_client_without_edns),
        cmocka_unit_test(test_records_after_a_removed_opt_go_with_it),
        cmocka_unit_test(test_opt_offers_our_payload_to_a_client_with_edns),
        cmocka_unit_test(test_the_clients_do_bit_replaces_the_upstreams),
        cmocka_unit_test(test_opt_is_added_when_the_upstream_sent_none),
        cmocka_unit_test(test_an_added_opt_carries_the_clients_do_bit),
        cmocka_unit_test(test_answer_over_512_without_edns_is_truncated_to_the_question),
        cmocka_unit_test(test_truncated_answer_keeps_an_opt_for_an_edns_client),
        cmocka_unit_test(test_truncated_answer_carries_the_clients_do_bit),
        cmocka_unit_test(test_answer_within_the_edns_payload_is_whole),
        cmocka_unit_test(test_answer_over_tcp_is_whole),
        cmocka_unit_test(test_size_limit_follows_rfc_6891),
        cmocka_unit_test(test_servfail_of_our_own_echoes_the_question_with_ra),
        cmocka_unit_test(test_servfail_of_our_own_carries_the_clients_do_bit),
        cmocka_unit_test(test_rebind_private_ipv4_ranges_are_detected_at_both_ends),
        cmocka_unit_test(test_rebind_public_ipv4_next_to_the_ranges_is_not_detected),
        cmocka_unit_test(test_rebind_private_ipv6_ranges_are_detected),
        cmocka_unit_test(test_rebind_public_ipv6_is_not_detected),
        cmocka_unit_test(test_rebind_only_a_and_aaaa_rdata_count),
        cmocka_unit_test(test_rebind_found_looks_at_every_answer_record),
        cmocka_unit_test(test_rebind_found_ignores_the_authority_and_additional_sections),
        cmocka_unit_test(test_rebind_found_sees_an_aaaa_behind_a_cname),
        cmocka_unit_test(test_rebind_exemption_covers_forward_zones_and_the_names_below),
        cmocka_unit_test(test_a_blocked_answer_becomes_nodata_for_the_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
