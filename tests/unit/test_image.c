/* Unit tests for common/image.c: what image_build writes, image_open and
 * the lookups (names, rewrites, forward zones, access lists) read back, and every kind of damaged
 * image image_open must refuse. Fixtures are built inline from presentation-form names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <sodium.h>

#include "image.h"
#include "image_fixture.h"

/* ---- fixtures -------------------------------------------------------- */

/* A name in wire form, from text (case kept). */
struct name {
    uint8_t wire[WIRE_NAME_MAX];
    size_t len;
};

static struct name name_of(const char *text)
{
    struct name n;
    char err[128];
    if (wire_name_from_text(text, n.wire, &n.len, err, sizeof err) < 0)
        fail_msg("bad fixture name %s: %s", text, err);
    return n;
}

/* RDATA under construction. */
struct rdata {
    uint8_t data[512];
    uint16_t len;
};

static void rdata_put(struct rdata *r, const void *bytes, size_t n)
{
    assert_true(r->len + n <= sizeof r->data);
    memcpy(r->data + r->len, bytes, n);
    r->len = (uint16_t)(r->len + n);
}

static void rdata_put16(struct rdata *r, uint16_t v)
{
    uint8_t b[2];
    wire_put16(b, v);
    rdata_put(r, b, 2);
}

static void rdata_put32(struct rdata *r, uint32_t v)
{
    uint8_t b[4];
    wire_put32(b, v);
    rdata_put(r, b, 4);
}

/* A character-string (RFC 1035 §3.3): length octet, then the text. */
static void rdata_put_string(struct rdata *r, const char *text)
{
    uint8_t len = (uint8_t)strlen(text);
    rdata_put(r, &len, 1);
    rdata_put(r, text, len);
}

static void rdata_put_name(struct rdata *r, const char *text)
{
    struct name n = name_of(text);
    rdata_put(r, n.wire, n.len);
}

static struct rdata rdata_a(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct rdata r = {.len = 0};
    uint8_t addr[4] = {a, b, c, d};
    rdata_put(&r, addr, 4);
    return r;
}

static struct rdata rdata_mx(uint16_t priority, const char *target)
{
    struct rdata r = {.len = 0};
    rdata_put16(&r, priority);
    rdata_put_name(&r, target);
    return r;
}

/* RDATA that is one name: NS, CNAME, PTR. */
static struct rdata rdata_name(const char *target)
{
    struct rdata r = {.len = 0};
    rdata_put_name(&r, target);
    return r;
}

/* TXT RDATA of one character-string (RFC 1035 §3.3.14). */
static struct rdata rdata_txt(const char *text)
{
    struct rdata r = {.len = 0};
    rdata_put_string(&r, text);
    return r;
}

static struct rdata rdata_soa(uint32_t serial, uint32_t minimum)
{
    struct rdata r = {.len = 0};
    rdata_put_name(&r, "ns1.x.test");
    rdata_put_name(&r, "hostmaster.x.test");
    rdata_put32(&r, serial);
    rdata_put32(&r, 3600);   /* refresh */
    rdata_put32(&r, 900);    /* retry */
    rdata_put32(&r, 604800); /* expire */
    rdata_put32(&r, minimum);
    return r;
}

/* An image_input being assembled: owns copies of every name and RDATA so
 * the input's pointers stay valid until fixture_free. */
#define FIXTURE_MAX 64
struct fixture {
    struct name owners[FIXTURE_MAX];
    struct rdata rdatas[FIXTURE_MAX];
    struct image_input_rr rrs[FIXTURE_MAX];
    size_t rr_count;
    struct name apexes[8];
    const uint8_t *apex_ptrs[8];
    uint8_t apex_lens[8];
    size_t zone_count;
    struct name rewrite_names[FIXTURE_MAX];
    struct image_input_rewrite rewrites[FIXTURE_MAX];
    size_t rewrite_count;
    struct image_upstream upstreams[8]; /* server.upstream */
    size_t upstream_count;
    struct name forward_names[FIXTURE_MAX];
    struct image_upstream forward_upstreams[FIXTURE_MAX][4];
    struct image_input_forward_zone forward_zones[FIXTURE_MAX];
    size_t forward_zone_count;
    struct cidr recursion_acl[8];
    size_t recursion_acl_count;
    struct cidr query_acl[8];
    size_t query_acl_count;
    struct image_settings settings; /* the forwarding part of the settings */
    /* the built and opened image */
    uint8_t *buf;
    size_t len;
    struct image img;
};

static void fixture_rr(struct fixture *f, const char *owner, uint16_t type, uint32_t ttl,
                       bool wildcard, struct rdata rdata)
{
    assert_true(f->rr_count < FIXTURE_MAX);
    size_t i = f->rr_count++;
    f->owners[i] = name_of(owner);
    f->rdatas[i] = rdata;
    f->rrs[i] =
        (struct image_input_rr){f->owners[i].wire, (uint8_t)f->owners[i].len, type, ttl, wildcard,
                                f->rdatas[i].data, f->rdatas[i].len,          0};
}

/* A zone with its SOA record (TTL soa_ttl). */
static void fixture_zone(struct fixture *f, const char *apex, uint32_t soa_ttl, uint32_t minimum)
{
    assert_true(f->zone_count < 8);
    size_t z = f->zone_count++;
    f->apexes[z] = name_of(apex);
    f->apex_ptrs[z] = f->apexes[z].wire;
    f->apex_lens[z] = (uint8_t)f->apexes[z].len;
    fixture_rr(f, apex, WIRE_TYPE_SOA, soa_ttl, false, rdata_soa(2024010101, minimum));
}

static void fixture_rewrite(struct fixture *f, const char *name, bool below)
{
    assert_true(f->rewrite_count < FIXTURE_MAX);
    size_t i = f->rewrite_count++;
    f->rewrite_names[i] = name_of(name);
    f->rewrites[i] = (struct image_input_rewrite){f->rewrite_names[i].wire,
                                                  (uint8_t)f->rewrite_names[i].len, below, 0};
}

/* An upstream from "IPv4" or "IPv6" text and a port. */
static struct image_upstream upstream_of(const char *address, uint16_t port)
{
    struct image_upstream u = {.port = port};
    if (inet_pton(AF_INET, address, u.addr) == 1)
        u.family = 4;
    else if (inet_pton(AF_INET6, address, u.addr) == 1)
        u.family = 6;
    else
        fail_msg("bad fixture address %s", address);
    return u;
}

static void fixture_upstream(struct fixture *f, const char *address, uint16_t port)
{
    assert_true(f->upstream_count < 8);
    f->upstreams[f->upstream_count++] = upstream_of(address, port);
}

/* A forward zone with up to four servers (NULL-terminated addresses, port 53). */
static void fixture_forward_zone(struct fixture *f, const char *name, const char *const *servers)
{
    assert_true(f->forward_zone_count < FIXTURE_MAX);
    size_t i = f->forward_zone_count++;
    f->forward_names[i] = name_of(name);
    size_t n = 0;
    for (; servers[n]; n++) {
        assert_true(n < 4);
        f->forward_upstreams[i][n] = upstream_of(servers[n], 53);
    }
    f->forward_zones[i] = (struct image_input_forward_zone){
        f->forward_names[i].wire, (uint8_t)f->forward_names[i].len, f->forward_upstreams[i], n};
}

static struct cidr cidr_of(const char *text)
{
    struct cidr c;
    char err[256];
    if (cidr_parse(text, &c, err, sizeof err) < 0)
        fail_msg("bad fixture prefix %s: %s", text, err);
    return c;
}

static void fixture_recursion_acl(struct fixture *f, const char *prefix)
{
    assert_true(f->recursion_acl_count < 8);
    f->recursion_acl[f->recursion_acl_count++] = cidr_of(prefix);
}

static void fixture_query_acl(struct fixture *f, const char *prefix)
{
    assert_true(f->query_acl_count < 8);
    f->query_acl[f->query_acl_count++] = cidr_of(prefix);
}

static struct image_input fixture_input(const struct fixture *f)
{
    struct image_settings settings = f->settings;
    settings.edns_payload = 1232;
    settings.tcp_idle_timeout_ms = 10000;
    settings.tcp_max_connections = 256;
    settings.log_level = 1;
    settings.record_count = (uint32_t)f->rr_count;
    return (struct image_input){
        .config_version = 7,
        .settings = settings,
        .upstreams = f->upstreams,
        .upstream_count = f->upstream_count,
        .forward_zones = f->forward_zones,
        .forward_zone_count = f->forward_zone_count,
        .recursion_acl = f->recursion_acl,
        .recursion_acl_count = f->recursion_acl_count,
        .query_acl = f->query_acl,
        .query_acl_count = f->query_acl_count,
        .zone_apexes = f->apex_ptrs,
        .zone_apex_lens = f->apex_lens,
        .zone_count = f->zone_count,
        .rrs = f->rrs,
        .rr_count = f->rr_count,
        .rewrites = f->rewrites,
        .rewrite_count = f->rewrite_count,
    };
}

/* Build and open: both must succeed. */
static void fixture_build(struct fixture *f)
{
    struct image_input in = fixture_input(f);
    char err[256] = "";
    if (image_build(&in, &f->buf, &f->len, err, sizeof err) < 0)
        fail_msg("image_build: %s", err);
    if (image_open(&f->img, f->buf, f->len, err, sizeof err) < 0)
        fail_msg("image_open of a fresh image: %s", err);
}

static void fixture_free(struct fixture *f)
{
    free(f->buf);
    free(f);
}

static struct fixture *fixture_new(void)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    return f;
}

/* The node for a name given as (lowercase) text, or NULL. */
static const struct image_node *node_of(const struct image *img, const char *text)
{
    struct name n = name_of(text);
    return image_find_node(img, n.wire, n.len, image_name_hash(n.wire, n.len));
}

static const struct image_rrset *rrset_of(const struct image *img, const char *text, uint16_t type,
                                          bool wildcard)
{
    const struct image_node *node = node_of(img, text);
    assert_non_null(node);
    return image_node_rrset(img, node, type, wildcard);
}

static void assert_rr_is(const struct image *img, uint32_t *pos, const struct rdata *expected)
{
    uint16_t rdlength;
    const uint8_t *rdata = image_rr_next(img, pos, &rdlength);
    assert_int_equal(rdlength, expected->len);
    assert_memory_equal(rdata, expected->data, expected->len);
}

/* The BLAKE2b-256 content hash over the file with the hash field zeroed,
 * written into the header: lets a test damage the structure behind the
 * hash so that the structural check is what has to refuse it. */
static void rehash(uint8_t *buf, size_t len)
{
    struct image_header *h = (struct image_header *)buf;
    memset(h->hash, 0, sizeof h->hash);
    uint8_t hash[32];
    assert_int_equal(crypto_generichash(hash, sizeof hash, buf, len, NULL, 0), 0);
    memcpy(h->hash, hash, sizeof hash);
}

static void assert_refused(const uint8_t *buf, size_t len)
{
    struct image img;
    char err[256] = "";
    int rc = image_open(&img, buf, len, err, sizeof err);
    if (rc != -1)
        fail_msg("a damaged image of %zu octets was accepted", len);
    assert_true(strlen(err) > 0);
}

/* A copy of the fixture's image in its own allocation, for damaging. */
static uint8_t *image_copy(const struct fixture *f)
{
    uint8_t *copy = malloc(f->len);
    assert_non_null(copy);
    memcpy(copy, f->buf, f->len);
    return copy;
}

/* x.test with one A record, a rewrite, an upstream, a forward zone and
 * both access lists: small, every section non-empty. */
static struct fixture *small_image(void)
{
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_rr(f, "www.x.test", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 0, 80));
    fixture_rr(f, "mail.x.test", WIRE_TYPE_MX, 300, false, rdata_mx(10, "www.x.test"));
    fixture_rewrite(f, "ads.x.test", true);
    fixture_upstream(f, "127.0.0.53", 53);
    fixture_forward_zone(f, "corp.test", (const char *const[]){"10.1.1.1", "fd00::1", NULL});
    fixture_recursion_acl(f, "10.0.0.0/8");
    fixture_query_acl(f, "::/0");
    fixture_build(f);
    return f;
}

/* ---- round trip of every record type ---------------------------------- */

/* One RDATA per type, owners in mixed case; names inside RDATA keep their case. */
struct type_case {
    const char *owner; /* as written */
    const char *lower; /* as looked up */
    uint16_t type;
    struct rdata rdata;
};

static struct type_case type_cases[10];

static void type_cases_init(void)
{
    struct rdata r;
    size_t n = 0;

    type_cases[n++] =
        (struct type_case){"WWW.X.Test", "www.x.test", WIRE_TYPE_A, rdata_a(192, 168, 1, 100)};

    r = (struct rdata){.len = 0};
    static const uint8_t fd00_1[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    rdata_put(&r, fd00_1, 16);
    type_cases[n++] = (struct type_case){"V6.x.TEST", "v6.x.test", WIRE_TYPE_AAAA, r};

    r = (struct rdata){.len = 0};
    rdata_put_name(&r, "Web.X.test");
    type_cases[n++] = (struct type_case){"Api.x.test", "api.x.test", WIRE_TYPE_CNAME, r};

    type_cases[n++] =
        (struct type_case){"X.Test", "x.test", WIRE_TYPE_MX, rdata_mx(10, "mail.x.test")};

    r = (struct rdata){.len = 0};
    rdata_put_string(&r, "v=spf1 ip4:192.168.1.0/24 ~all");
    rdata_put_string(&r, "hello");
    type_cases[n++] = (struct type_case){"Txt.X.Test", "txt.x.test", WIRE_TYPE_TXT, r};

    r = (struct rdata){.len = 0};
    rdata_put_name(&r, "www.x.test");
    type_cases[n++] = (struct type_case){"100.1.168.192.In-Addr.Arpa", "100.1.168.192.in-addr.arpa",
                                         WIRE_TYPE_PTR, r};

    r = (struct rdata){.len = 0};
    rdata_put_name(&r, "ns1.x.test");
    type_cases[n++] = (struct type_case){"Sub.X.test", "sub.x.test", WIRE_TYPE_NS, r};

    r = (struct rdata){.len = 0};
    rdata_put16(&r, 10);   /* priority */
    rdata_put16(&r, 20);   /* weight */
    rdata_put16(&r, 5060); /* port */
    rdata_put_name(&r, "sip.x.test");
    type_cases[n++] = (struct type_case){"_SIP._tcp.x.test", "_sip._tcp.x.test", WIRE_TYPE_SRV, r};

    r = (struct rdata){.len = 0};
    rdata_put(&r, "", 1); /* flags 0 */
    rdata_put_string(&r, "issue");
    rdata_put(&r, "letsencrypt.org", 15);
    type_cases[n++] = (struct type_case){"Caa.x.test", "caa.x.test", WIRE_TYPE_CAA, r};

    type_cases[n++] =
        (struct type_case){"X.TEST", "x.test", WIRE_TYPE_SOA, rdata_soa(2024010101, 300)};
    assert_int_equal(n, 10);
}

/* Every type at its (mixed-case) owner, in the zone x.test. */
static int every_type_setup(void **state)
{
    type_cases_init();
    struct fixture *f = fixture_new();
    f->apexes[0] = name_of("x.test");
    f->apex_ptrs[0] = f->apexes[0].wire;
    f->apex_lens[0] = (uint8_t)f->apexes[0].len;
    f->zone_count = 1;
    for (size_t i = 0; i < 10; i++)
        fixture_rr(f, type_cases[i].owner, type_cases[i].type, 300 + (uint32_t)i, false,
                   type_cases[i].rdata);
    fixture_build(f);
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    fixture_free(*state);
    return 0;
}

static void assert_type_round_trips(void **state, uint16_t type)
{
    const struct fixture *f = *state;
    for (size_t i = 0; i < 10; i++) {
        const struct type_case *c = &type_cases[i];
        if (c->type != type)
            continue;
        const struct image_node *node = node_of(&f->img, c->lower);
        assert_non_null(node);
        /* the image stores the owner lowercase */
        struct name lower = name_of(c->lower);
        assert_int_equal(node->name_len, lower.len);
        assert_memory_equal(image_node_name(&f->img, node), lower.wire, lower.len);
        const struct image_rrset *rrset = image_node_rrset(&f->img, node, type, false);
        assert_non_null(rrset);
        assert_int_equal(rrset->type, type);
        assert_int_equal(rrset->rr_count, 1);
        assert_int_equal(rrset->ttl, 300 + i);
        uint32_t pos = rrset->rdata_offset;
        assert_rr_is(&f->img, &pos, &c->rdata);
        assert_int_equal(pos, rrset->rdata_offset + rrset->rdata_len);
        return;
    }
    fail_msg("no case for type %u", type);
}

static void test_round_trip_a(void **state)
{
    assert_type_round_trips(state, WIRE_TYPE_A);
}

static void test_round_trip_aaaa(void **state)
{
    assert_type_round_trips(state, WIRE_TYPE_AAAA);
}

static void test_round_trip_cname_keeps_the_case_of_its_target(void **state)
{
    assert_type_round_trips(state, WIRE_TYPE_CNAME);
}

static void test_round_trip_mx(void **state)
{
    assert_type_round_trips(state, WIRE_TYPE_MX);
}

static void test_round_trip_txt(void **state)
{
    assert_type_round_trips(state, WIRE_TYPE_TXT);
}

static void test_round_trip_ptr(void **state)
{
    assert_type_round_trips(state, WIRE_TYPE_PTR);
}

static void test_round_trip_ns(void **state)
{
    assert_type_round_trips(state, WIRE_TYPE_NS);
}

static void test_round_trip_srv(void **state)
{
    assert_type_round_trips(state, WIRE_TYPE_SRV);
}

static void test_round_trip_caa(void **state)
{
    assert_type_round_trips(state, WIRE_TYPE_CAA);
}

static void test_round_trip_soa(void **state)
{
    assert_type_round_trips(state, WIRE_TYPE_SOA);
}

static void test_rrsets_of_a_node_are_sorted_by_type(void **state)
{
    const struct fixture *f = *state;
    const struct image_node *apex = node_of(&f->img, "x.test");
    assert_non_null(apex);
    assert_int_equal(apex->rrset_count, 2); /* SOA (6) and MX (15) */
    assert_int_equal(f->img.rrsets[apex->rrset_first].type, WIRE_TYPE_SOA);
    assert_int_equal(f->img.rrsets[apex->rrset_first + 1].type, WIRE_TYPE_MX);
}

static void test_absent_type_has_no_rrset(void **state)
{
    const struct fixture *f = *state;
    assert_null(rrset_of(&f->img, "www.x.test", WIRE_TYPE_AAAA, false));
    assert_null(rrset_of(&f->img, "www.x.test", WIRE_TYPE_A, true));
}

static void test_lookup_needs_the_lowercase_name(void **state)
{
    const struct fixture *f = *state;
    assert_null(node_of(&f->img, "WWW.X.Test"));
    assert_null(node_of(&f->img, "nothere.x.test"));
}

static void test_header_carries_version_and_settings(void **state)
{
    const struct fixture *f = *state;
    assert_memory_equal(f->img.header->magic, IMAGE_MAGIC, 8);
    assert_int_equal(f->img.header->format_version, IMAGE_FORMAT_VERSION);
    assert_int_equal(f->img.header->file_size, f->len);
    assert_int_equal(f->img.header->config_version, 7);
    assert_int_equal(f->img.settings->edns_payload, 1232);
    assert_int_equal(f->img.settings->tcp_idle_timeout_ms, 10000);
    assert_int_equal(f->img.settings->tcp_max_connections, 256);
    assert_int_equal(f->img.settings->record_count, 10);
    assert_int_equal(f->img.zone_count, 1);
}

/* ---- RRset merging ---------------------------------------------------- */

static void test_two_records_of_one_name_and_type_form_one_rrset(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    struct rdata first = rdata_a(10, 0, 0, 1), second = rdata_a(10, 0, 0, 2);
    fixture_rr(f, "multi.x.test", WIRE_TYPE_A, 300, false, second);
    fixture_rr(f, "Multi.X.Test", WIRE_TYPE_A, 300, false, first);
    fixture_build(f);

    const struct image_node *node = node_of(&f->img, "multi.x.test");
    assert_non_null(node);
    assert_int_equal(node->rrset_count, 1);
    const struct image_rrset *rrset = image_node_rrset(&f->img, node, WIRE_TYPE_A, false);
    assert_non_null(rrset);
    assert_int_equal(rrset->rr_count, 2);
    assert_int_equal(rrset->rdata_len, 2 * (2 + 4));
    /* both records are there, in some order */
    uint32_t pos = rrset->rdata_offset;
    uint16_t rdlength;
    const uint8_t *a = image_rr_next(&f->img, &pos, &rdlength);
    assert_int_equal(rdlength, 4);
    const uint8_t *b = image_rr_next(&f->img, &pos, &rdlength);
    assert_int_equal(rdlength, 4);
    assert_int_equal(a[3] + b[3], 1 + 2);
    assert_int_not_equal(a[3], b[3]);
    fixture_free(f);
}

static void test_exact_duplicate_record_is_dropped(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_rr(f, "www.x.test", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 0, 80));
    fixture_rr(f, "WWW.x.test", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 0, 80));
    fixture_build(f);

    const struct image_rrset *rrset = rrset_of(&f->img, "www.x.test", WIRE_TYPE_A, false);
    assert_non_null(rrset);
    assert_int_equal(rrset->rr_count, 1);
    assert_int_equal(rrset->rdata_len, 2 + 4);
    fixture_free(f);
}

static void test_rrset_ttl_is_the_smallest_of_its_records(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_rr(f, "www.x.test", WIRE_TYPE_A, 600, false, rdata_a(10, 0, 0, 1));
    fixture_rr(f, "www.x.test", WIRE_TYPE_A, 60, false, rdata_a(10, 0, 0, 2));
    fixture_rr(f, "www.x.test", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 0, 3));
    fixture_build(f);

    const struct image_rrset *rrset = rrset_of(&f->img, "www.x.test", WIRE_TYPE_A, false);
    assert_non_null(rrset);
    assert_int_equal(rrset->rr_count, 3);
    assert_int_equal(rrset->ttl, 60);
    fixture_free(f);
}

static void test_dropped_duplicate_still_lowers_the_ttl(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_rr(f, "www.x.test", WIRE_TYPE_A, 600, false, rdata_a(10, 0, 0, 1));
    fixture_rr(f, "www.x.test", WIRE_TYPE_A, 30, false, rdata_a(10, 0, 0, 1));
    fixture_build(f);

    const struct image_rrset *rrset = rrset_of(&f->img, "www.x.test", WIRE_TYPE_A, false);
    assert_non_null(rrset);
    assert_int_equal(rrset->rr_count, 1);
    assert_int_equal(rrset->ttl, 30);
    fixture_free(f);
}

static void test_wildcard_rrsets_are_separate_from_own_rrsets(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_rr(f, "app.x.test", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 0, 1));
    fixture_rr(f, "app.x.test", WIRE_TYPE_A, 300, true, rdata_a(10, 0, 0, 9));
    fixture_rr(f, "App.x.test", WIRE_TYPE_TXT, 300, true, rdata_txt("any"));
    fixture_build(f);

    const struct image_node *node = node_of(&f->img, "app.x.test");
    assert_non_null(node);
    assert_true(node->flags & IMAGE_NODE_WILDCARD);
    assert_int_equal(node->rrset_count, 1);
    assert_int_equal(node->wildcard_count, 2);

    const struct image_rrset *own = image_node_rrset(&f->img, node, WIRE_TYPE_A, false);
    const struct image_rrset *wild = image_node_rrset(&f->img, node, WIRE_TYPE_A, true);
    assert_non_null(own);
    assert_non_null(wild);
    assert_ptr_not_equal(own, wild);
    struct rdata own_rdata = rdata_a(10, 0, 0, 1), wild_rdata = rdata_a(10, 0, 0, 9);
    uint32_t pos = own->rdata_offset;
    assert_rr_is(&f->img, &pos, &own_rdata);
    pos = wild->rdata_offset;
    assert_rr_is(&f->img, &pos, &wild_rdata);

    /* the TXT answers only below the name, not for the name itself */
    assert_null(image_node_rrset(&f->img, node, WIRE_TYPE_TXT, false));
    assert_non_null(image_node_rrset(&f->img, node, WIRE_TYPE_TXT, true));
    fixture_free(f);
}

static void test_node_without_wildcard_has_no_wildcard_flag(void **state)
{
    (void)state;
    struct fixture *f = small_image();
    const struct image_node *node = node_of(&f->img, "www.x.test");
    assert_non_null(node);
    assert_false(node->flags & IMAGE_NODE_WILDCARD);
    assert_int_equal(node->wildcard_count, 0);
    fixture_free(f);
}

/* ---- names, zones, empty non-terminals -------------------------------- */

static void test_empty_non_terminals_inside_a_zone_are_nodes(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_rr(f, "a.b.c.x.test", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 0, 2));
    fixture_build(f);

    const char *between[] = {"b.c.x.test", "c.x.test"};
    for (size_t i = 0; i < 2; i++) {
        const struct image_node *node = node_of(&f->img, between[i]);
        if (!node)
            fail_msg("no node for the empty non-terminal %s", between[i]);
        assert_int_equal(node->rrset_count, 0);
        assert_int_equal(node->wildcard_count, 0);
        assert_int_equal(node->zone, 0);
    }
    const struct image_node *leaf = node_of(&f->img, "a.b.c.x.test");
    assert_non_null(leaf);
    assert_int_equal(leaf->zone, 0);
    fixture_free(f);
}

static void test_no_node_above_the_apex(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_rr(f, "a.b.x.test", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 0, 2));
    fixture_build(f);

    assert_null(node_of(&f->img, "test"));
    assert_null(node_of(&f->img, "."));
    const struct image_node *apex = node_of(&f->img, "x.test");
    assert_non_null(apex);
    assert_int_equal(apex->zone, 0);
    assert_int_equal(f->img.zones[0].apex_node, (uint32_t)(apex - f->img.nodes));
    fixture_free(f);
}

static void test_name_outside_every_zone_has_no_zone_and_no_empty_non_terminals(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_rr(f, "host.sub.other", WIRE_TYPE_A, 300, false, rdata_a(10, 9, 9, 9));
    fixture_build(f);

    const struct image_node *node = node_of(&f->img, "host.sub.other");
    assert_non_null(node);
    assert_int_equal(node->zone, IMAGE_NONE);
    assert_null(node_of(&f->img, "sub.other"));
    assert_null(node_of(&f->img, "other"));
    fixture_free(f);
}

/* ---- RFC 4592 wildcards: "*.w" is a node of its own ----------------------- */

/* image_find_wildcard of a name given as text: the "*" child's node or NULL. */
static const struct image_node *wildcard_of(const struct image *img, const char *text)
{
    struct name n = name_of(text);
    return image_find_wildcard(img, n.wire, n.len, image_name_hash(n.wire, n.len));
}

static void test_wildcard_owner_is_found_from_its_parent(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_rr(f, "*.W.x.test", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 4, 1));
    fixture_build(f);

    const struct image_node *star = wildcard_of(&f->img, "w.x.test");
    assert_non_null(star);
    assert_ptr_equal(star, node_of(&f->img, "*.w.x.test"));
    assert_int_equal(star->rrset_count, 1);
    assert_int_equal(star->zone, 0);
    assert_null(wildcard_of(&f->img, "x.test"));
    assert_null(wildcard_of(&f->img, "*.w.x.test"));
    fixture_free(f);
}

static void test_wildcard_of_a_name_too_long_for_a_star_label_is_none(void **state)
{
    (void)state;
    struct fixture *f = small_image();
    /* three labels of 63, one of 53, x.test: 254 octets, and "*." in
     * front would make 256 */
    char text[300];
    size_t at = 0;
    for (int i = 0; i < 4; i++) {
        size_t label = i < 3 ? 63 : 53;
        memset(text + at, 'a', label);
        at += label;
        text[at++] = '.';
    }
    strcpy(text + at, "x.test");
    struct name n = name_of(text);
    assert_int_equal(n.len, 254);
    assert_null(image_find_wildcard(&f->img, n.wire, n.len, image_name_hash(n.wire, n.len)));
    fixture_free(f);
}

static void
test_names_between_a_wildcard_parent_and_names_below_it_are_nodes_outside_zones(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_rr(f, "*.dev.lan", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 5, 1));
    fixture_rr(f, "host.b.dev.lan", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 5, 2));
    fixture_rr(f, "host.sub.other", WIRE_TYPE_A, 300, false, rdata_a(10, 9, 9, 9));
    fixture_build(f);

    /* RFC 4592 §3.3.1: b.dev.lan exists and blocks *.dev.lan below it */
    const char *between[] = {"b.dev.lan", "dev.lan"};
    for (size_t i = 0; i < 2; i++) {
        const struct image_node *node = node_of(&f->img, between[i]);
        if (!node)
            fail_msg("no node for the empty non-terminal %s", between[i]);
        assert_int_equal(node->rrset_count, 0);
        assert_int_equal(node->zone, IMAGE_NONE);
    }
    /* nothing above the wildcard's parent, nothing for names not below one */
    assert_null(node_of(&f->img, "lan"));
    assert_null(node_of(&f->img, "sub.other"));
    fixture_free(f);
}

static void test_names_added_above_a_child_zone_belong_to_the_parent_zone(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_zone(f, "a.b.x.test", 3600, 300);
    fixture_rr(f, "*.x.test", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 7, 1));
    fixture_build(f);

    /* b.x.test exists (a.b.x.test is below it) and blocks *.x.test */
    const struct image_node *between = node_of(&f->img, "b.x.test");
    assert_non_null(between);
    assert_int_equal(between->rrset_count, 0);
    assert_int_equal(between->zone, 0);
    fixture_free(f);
}

static void test_a_star_label_inside_a_name_makes_an_empty_wildcard_outside_zones(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_rr(f, "a.*.e.lan", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 6, 1));
    fixture_build(f);

    const struct image_node *star = wildcard_of(&f->img, "e.lan");
    assert_non_null(star);
    assert_int_equal(star->rrset_count, 0);
    assert_non_null(node_of(&f->img, "e.lan"));
    fixture_free(f);
}

static void test_name_belongs_to_its_closest_enclosing_zone(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_zone(f, "sub.x.test", 3600, 300);
    fixture_rr(f, "www.sub.x.test", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 1, 1));
    fixture_rr(f, "www.x.test", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 0, 1));
    fixture_build(f);

    assert_int_equal(node_of(&f->img, "www.sub.x.test")->zone, 1);
    assert_int_equal(node_of(&f->img, "sub.x.test")->zone, 1);
    assert_int_equal(node_of(&f->img, "www.x.test")->zone, 0);
    assert_int_equal(node_of(&f->img, "x.test")->zone, 0);
    fixture_free(f);
}

static void test_negative_ttl_is_the_minimum_when_smaller_than_the_soa_ttl(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_build(f);
    assert_int_equal(f->img.zones[0].negative_ttl, 300);
    fixture_free(f);
}

static void test_negative_ttl_is_the_soa_ttl_when_smaller_than_the_minimum(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 7200);
    fixture_build(f);
    assert_int_equal(f->img.zones[0].negative_ttl, 3600);
    fixture_free(f);
}

static void test_zone_points_at_its_soa_rrset(void **state)
{
    (void)state;
    struct fixture *f = small_image();
    const struct image_rrset *soa = &f->img.rrsets[f->img.zones[0].soa_rrset];
    assert_int_equal(soa->type, WIRE_TYPE_SOA);
    assert_int_equal(soa->rr_count, 1);
    assert_ptr_equal(soa, rrset_of(&f->img, "x.test", WIRE_TYPE_SOA, false));
    fixture_free(f);
}

static void test_zone_without_soa_is_refused_by_the_builder(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    f->apexes[0] = name_of("x.test");
    f->apex_ptrs[0] = f->apexes[0].wire;
    f->apex_lens[0] = (uint8_t)f->apexes[0].len;
    f->zone_count = 1;
    fixture_rr(f, "www.x.test", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 0, 1));
    struct image_input in = fixture_input(f);
    char err[256] = "";
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(image_build(&in, &out, &len, err, sizeof err), -1);
    assert_true(strlen(err) > 0);
    assert_null(out);
    fixture_free(f);
}

/* ---- rewrites --------------------------------------------------------- */

static const struct image_rewrite *rewrite_of(const struct image *img, const char *text)
{
    struct name n = name_of(text);
    return image_find_rewrite(img, n.wire, n.len, image_name_hash(n.wire, n.len));
}

static void test_rewrite_exact_and_below_flags(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_rewrite(f, "Bad.X.test", false);
    fixture_rewrite(f, "ads.x.test", true);
    fixture_build(f);

    const struct image_rewrite *bad = rewrite_of(&f->img, "bad.x.test");
    assert_non_null(bad);
    assert_int_equal(bad->flags, IMAGE_REWRITE_EXACT);
    const struct image_rewrite *ads = rewrite_of(&f->img, "ads.x.test");
    assert_non_null(ads);
    assert_int_equal(ads->flags, IMAGE_REWRITE_BELOW);
    assert_null(rewrite_of(&f->img, "www.x.test"));
    /* a rewrite does not create a node */
    assert_null(node_of(&f->img, "bad.x.test"));
    fixture_free(f);
}

static void test_rewrite_of_the_same_name_exact_and_below_is_merged(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_rewrite(f, "both.x.test", false);
    fixture_rewrite(f, "BOTH.x.test", true);
    fixture_rewrite(f, "both.x.test", false);
    fixture_build(f);

    assert_int_equal(f->img.rewrite_count, 1);
    const struct image_rewrite *rw = rewrite_of(&f->img, "both.x.test");
    assert_non_null(rw);
    assert_int_equal(rw->flags, IMAGE_REWRITE_EXACT | IMAGE_REWRITE_BELOW);
    fixture_free(f);
}

static void fixture_rewrite_flags(struct fixture *f, const char *name, uint16_t flags)
{
    fixture_rewrite(f, name, false);
    f->rewrites[f->rewrite_count - 1].flags = flags;
}

static void test_list_entries_and_allowlist_flags_are_merged_per_name(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_rewrite_flags(f, "list.x.test", IMAGE_REWRITE_EXACT | IMAGE_REWRITE_BELOW);
    fixture_rewrite_flags(f, "ok.list.x.test", IMAGE_REWRITE_ALLOW_EXACT);
    fixture_rewrite_flags(f, "OK.list.x.test", IMAGE_REWRITE_ALLOW_AT_BELOW);
    fixture_build(f);

    assert_int_equal(f->img.rewrite_count, 2);
    assert_int_equal(rewrite_of(&f->img, "list.x.test")->flags,
                     IMAGE_REWRITE_EXACT | IMAGE_REWRITE_BELOW);
    assert_int_equal(rewrite_of(&f->img, "ok.list.x.test")->flags,
                     IMAGE_REWRITE_ALLOW_EXACT | IMAGE_REWRITE_ALLOW_AT_BELOW);
    fixture_free(f);
}

static void test_block_response_round_trips_in_the_settings(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    f->settings.block_response = IMAGE_BLOCK_REFUSED;
    fixture_build(f);
    assert_int_equal(f->img.settings->block_response, IMAGE_BLOCK_REFUSED);
    fixture_free(f);
}

static void test_image_without_rewrites_finds_none(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_build(f);
    assert_int_equal(f->img.rewrite_count, 0);
    assert_null(rewrite_of(&f->img, "x.test"));
    fixture_free(f);
}

/* ---- forwarding: upstreams and forward zones -------------------------- */

static const struct image_forward_zone *forward_zone_of(const struct image *img, const char *text)
{
    struct name n = name_of(text);
    return image_find_forward_zone(img, n.wire, n.len, image_name_hash(n.wire, n.len));
}

static void assert_upstream_is(const struct image_upstream *u, const char *address, uint16_t port)
{
    struct image_upstream expected = upstream_of(address, port);
    assert_int_equal(u->family, expected.family);
    assert_int_equal(u->port, port);
    assert_memory_equal(u->addr, expected.addr, expected.family == 4 ? 4 : 16);
}

static void test_format_version_is_5(void **state)
{
    (void)state;
    assert_int_equal(IMAGE_FORMAT_VERSION, 5);
    struct fixture *f = small_image();
    assert_int_equal(f->img.header->format_version, 5);
    assert_int_equal(f->img.header->section_count, IMAGE_SECTION_ACLS);
    fixture_free(f);
}

static void test_default_upstreams_come_first_in_order(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_upstream(f, "127.0.0.53", 53);
    fixture_upstream(f, "::1", 5353);
    fixture_upstream(f, "192.0.2.1", 1053);
    fixture_forward_zone(f, "corp.test", (const char *const[]){"10.1.1.1", NULL});
    fixture_build(f);

    assert_int_equal(f->img.settings->upstream_count, 3);
    assert_int_equal(f->img.upstream_total, 4);
    assert_upstream_is(&f->img.upstreams[0], "127.0.0.53", 53);
    assert_upstream_is(&f->img.upstreams[1], "::1", 5353);
    assert_upstream_is(&f->img.upstreams[2], "192.0.2.1", 1053);
    fixture_free(f);
}

static void test_forward_zone_points_at_its_own_servers_after_the_defaults(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_upstream(f, "127.0.0.53", 53);
    fixture_forward_zone(f, "corp.test", (const char *const[]){"10.1.1.1", "10.1.1.2", NULL});
    fixture_forward_zone(f, "lab.test", (const char *const[]){"fd00::53", NULL});
    fixture_build(f);

    const struct image_forward_zone *corp = forward_zone_of(&f->img, "corp.test");
    assert_non_null(corp);
    assert_int_equal(corp->upstream_first, 1);
    assert_int_equal(corp->upstream_count, 2);
    assert_upstream_is(&f->img.upstreams[corp->upstream_first], "10.1.1.1", 53);
    assert_upstream_is(&f->img.upstreams[corp->upstream_first + 1], "10.1.1.2", 53);

    const struct image_forward_zone *lab = forward_zone_of(&f->img, "lab.test");
    assert_non_null(lab);
    assert_int_equal(lab->upstream_first, 3);
    assert_int_equal(lab->upstream_count, 1);
    assert_upstream_is(&f->img.upstreams[lab->upstream_first], "fd00::53", 53);
    fixture_free(f);
}

static void test_the_wildcard_hash_is_the_hash_of_the_star_name(void **state)
{
    (void)state;
    struct name parent = name_of("wild.x.test"), star = name_of("*.wild.x.test");
    assert_int_equal(image_wildcard_hash(image_name_hash(parent.wire, parent.len)),
                     image_name_hash(star.wire, star.len));
    struct name root = name_of("."), top = name_of("*");
    assert_int_equal(image_wildcard_hash(image_name_hash(root.wire, root.len)),
                     image_name_hash(top.wire, top.len));
}

static bool forward_zone_covers(const struct image *img, const char *text)
{
    struct name n = name_of(text);
    uint8_t starts[WIRE_LABELS_MAX + 1];
    uint32_t hashes[WIRE_LABELS_MAX + 1];
    unsigned labels = wire_name_labels(n.wire, n.len, starts);
    image_name_suffix_hashes(n.wire, n.len, starts, labels, hashes);
    return image_forward_zone_covers(img, n.wire, n.len, starts, labels, hashes);
}

static void test_a_forward_zone_covers_its_name_and_every_name_below_it(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_forward_zone(f, "corp.test", (const char *const[]){"10.1.1.1", NULL});
    fixture_build(f);
    assert_true(forward_zone_covers(&f->img, "corp.test"));
    assert_true(forward_zone_covers(&f->img, "www.corp.test"));
    assert_true(forward_zone_covers(&f->img, "a.b.corp.test"));
    assert_false(forward_zone_covers(&f->img, "test"));
    assert_false(forward_zone_covers(&f->img, "xcorp.test"));
    assert_false(forward_zone_covers(&f->img, "corp.example"));
    fixture_free(f);
}

static void test_forward_zone_name_is_stored_lowercase(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_forward_zone(f, "Corp.TEST", (const char *const[]){"10.1.1.1", NULL});
    fixture_build(f);
    const struct image_forward_zone *corp = forward_zone_of(&f->img, "corp.test");
    assert_non_null(corp);
    struct name lower = name_of("corp.test");
    assert_int_equal(corp->name_len, lower.len);
    assert_memory_equal(f->img.names + corp->name_offset, lower.wire, lower.len);
    fixture_free(f);
}

static void test_forward_zone_lookup_is_by_exact_name(void **state)
{
    (void)state;
    /* the caller walks the suffixes of a qname, longest first */
    struct fixture *f = fixture_new();
    fixture_forward_zone(f, "corp.test", (const char *const[]){"10.1.1.1", NULL});
    fixture_forward_zone(f, "dev.corp.test", (const char *const[]){"10.2.2.2", NULL});
    fixture_build(f);
    assert_non_null(forward_zone_of(&f->img, "corp.test"));
    assert_non_null(forward_zone_of(&f->img, "dev.corp.test"));
    assert_null(forward_zone_of(&f->img, "www.corp.test"));
    assert_null(forward_zone_of(&f->img, "test"));
    assert_null(forward_zone_of(&f->img, "CORP.test"));
    fixture_free(f);
}

static void test_image_without_forward_zones_finds_none(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_upstream(f, "127.0.0.53", 53);
    fixture_build(f);
    assert_int_equal(f->img.forward_zone_count, 0);
    assert_null(forward_zone_of(&f->img, "corp.test"));
    fixture_free(f);
}

static void test_image_without_upstreams_has_none(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_build(f);
    assert_int_equal(f->img.settings->upstream_count, 0);
    assert_int_equal(f->img.upstream_total, 0);
    fixture_free(f);
}

static void test_many_forward_zones_are_all_found(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    char text[64];
    for (int i = 0; i < 60; i++) {
        snprintf(text, sizeof text, "zone%d.test", i);
        fixture_forward_zone(f, text, (const char *const[]){"10.0.0.1", NULL});
    }
    fixture_build(f);
    for (int i = 0; i < 60; i++) {
        snprintf(text, sizeof text, "zone%d.test", i);
        const struct image_forward_zone *fz = forward_zone_of(&f->img, text);
        assert_non_null(fz);
        assert_int_equal(fz->upstream_first, (uint32_t)i);
    }
    assert_null(forward_zone_of(&f->img, "zone60.test"));
    fixture_free(f);
}

static void assert_build_refused(struct fixture *f, const char *reason)
{
    struct image_input in = fixture_input(f);
    uint8_t *out = NULL;
    size_t len = 0;
    char err[256] = "";
    assert_int_equal(image_build(&in, &out, &len, err, sizeof err), -1);
    assert_null(out);
    if (!strstr(err, reason))
        fail_msg("expected \"%s\" in \"%s\"", reason, err);
    fixture_free(f);
}

static void test_forward_zone_declared_twice_is_refused_by_the_builder(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_forward_zone(f, "corp.test", (const char *const[]){"10.1.1.1", NULL});
    fixture_forward_zone(f, "CORP.test", (const char *const[]){"10.1.1.2", NULL});
    assert_build_refused(f, "twice");
}

static void test_forward_zone_without_servers_is_refused_by_the_builder(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_forward_zone(f, "corp.test", (const char *const[]){NULL});
    assert_build_refused(f, "no servers");
}

static void test_upstream_of_unknown_family_is_refused_by_the_builder(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_upstream(f, "127.0.0.53", 53);
    f->upstreams[0].family = 5;
    assert_build_refused(f, "family");
}

static void test_prefix_longer_than_its_family_is_refused_by_the_builder(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_recursion_acl(f, "10.0.0.0/8");
    f->recursion_acl[0].prefix_len = 33;
    assert_build_refused(f, "allow_recursion");
}

/* ---- settings ---------------------------------------------------------- */

static void test_forwarding_settings_round_trip(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    f->settings = (struct image_settings){.upstream_timeout_ms = 1500,
                                          .max_inflight = 1024,
                                          .cache_enabled = 1,
                                          .cache_size = 1000,
                                          .cache_ttl = 300,
                                          .log_queries = 1,
                                          .log_format = IMAGE_LOG_JSON};
    fixture_build(f);
    const struct image_settings *s = f->img.settings;
    assert_int_equal(s->upstream_timeout_ms, 1500);
    assert_int_equal(s->max_inflight, 1024);
    assert_int_equal(s->cache_enabled, 1);
    assert_int_equal(s->cache_size, 1000);
    assert_int_equal(s->cache_ttl, 300);
    assert_int_equal(s->log_queries, 1);
    assert_int_equal(s->log_format, IMAGE_LOG_JSON);
    fixture_free(f);
}

static void test_settings_counts_come_from_the_arrays(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    f->settings.upstream_count = 99;
    f->settings.recursion_acl_count = 99;
    f->settings.query_acl_count = 99;
    fixture_upstream(f, "127.0.0.53", 53);
    fixture_recursion_acl(f, "10.0.0.0/8");
    fixture_recursion_acl(f, "::1");
    fixture_build(f);
    assert_int_equal(f->img.settings->upstream_count, 1);
    assert_int_equal(f->img.settings->recursion_acl_count, 2);
    assert_int_equal(f->img.settings->query_acl_count, 0);
    fixture_free(f);
}

/* ---- access lists ------------------------------------------------------ */

static const struct sockaddr *client_of(struct sockaddr_storage *ss, const char *text)
{
    memset(ss, 0, sizeof *ss);
    if (strchr(text, ':')) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
    }
    return (const struct sockaddr *)ss;
}

static bool recursion_allowed(const struct image *img, const char *client)
{
    struct sockaddr_storage ss;
    return image_recursion_allowed(img, client_of(&ss, client));
}

static bool query_allowed(const struct image *img, const char *client)
{
    struct sockaddr_storage ss;
    return image_query_allowed(img, client_of(&ss, client));
}

static void test_acls_hold_recursion_then_query_lists(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_recursion_acl(f, "10.0.0.0/8");
    fixture_recursion_acl(f, "::1");
    fixture_query_acl(f, "127.0.0.2");
    fixture_build(f);
    assert_int_equal(f->img.acl_count, 3);
    assert_int_equal(f->img.settings->recursion_acl_count, 2);
    assert_int_equal(f->img.settings->query_acl_count, 1);
    assert_int_equal(f->img.acls[0].prefix_len, 8);
    assert_int_equal(f->img.acls[1].prefix_len, 128);
    assert_int_equal(f->img.acls[2].prefix_len, 32);
    fixture_free(f);
}

static void test_recursion_is_decided_by_the_recursion_list_only(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_recursion_acl(f, "10.0.0.0/8");
    fixture_query_acl(f, "127.0.0.2");
    fixture_build(f);
    assert_true(recursion_allowed(&f->img, "10.9.9.9"));
    assert_true(recursion_allowed(&f->img, "::ffff:10.9.9.9"));
    /* on the query list, not on the recursion list */
    assert_false(recursion_allowed(&f->img, "127.0.0.2"));
    fixture_free(f);
}

static void test_query_is_decided_by_the_query_list_only(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_recursion_acl(f, "10.0.0.0/8");
    fixture_query_acl(f, "127.0.0.2");
    fixture_build(f);
    assert_true(query_allowed(&f->img, "127.0.0.2"));
    assert_false(query_allowed(&f->img, "127.0.0.3"));
    /* on the recursion list, not on the query list */
    assert_false(query_allowed(&f->img, "10.9.9.9"));
    fixture_free(f);
}

static void test_no_query_list_lets_everyone_query(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_recursion_acl(f, "10.0.0.0/8");
    fixture_build(f);
    assert_true(query_allowed(&f->img, "203.0.113.1"));
    assert_true(query_allowed(&f->img, "2001:db8::1"));
    fixture_free(f);
}

static void test_empty_recursion_list_lets_nobody_recurse(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_query_acl(f, "0.0.0.0/0");
    fixture_build(f);
    assert_false(recursion_allowed(&f->img, "127.0.0.1"));
    assert_false(recursion_allowed(&f->img, "::1"));
    assert_true(query_allowed(&f->img, "127.0.0.1"));
    fixture_free(f);
}

/* ---- hashing ---------------------------------------------------------- */

static void test_suffix_hashes_equal_the_hash_of_each_suffix(void **state)
{
    (void)state;
    struct name n = name_of("a.bc.def.ghij.x.test");
    uint8_t starts[WIRE_LABELS_MAX];
    unsigned labels = wire_name_labels(n.wire, n.len, starts);
    assert_int_equal(labels, 6);
    /* the root suffix too, as the answer code asks for it */
    starts[labels] = (uint8_t)(n.len - 1);
    uint32_t hashes[WIRE_LABELS_MAX];
    image_name_suffix_hashes(n.wire, n.len, starts, labels + 1, hashes);
    for (unsigned i = 0; i <= labels; i++)
        assert_int_equal(hashes[i], image_name_hash(n.wire + starts[i], n.len - starts[i]));
}

static void test_name_hash_differs_between_names(void **state)
{
    (void)state;
    struct name a = name_of("www.x.test"), b = name_of("www.y.test");
    assert_int_not_equal(image_name_hash(a.wire, a.len), image_name_hash(b.wire, b.len));
}

static void test_many_names_are_all_found(void **state)
{
    (void)state;
    /* enough nodes to collide in the open-addressing table */
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    char text[64];
    for (int i = 0; i < 60; i++) {
        snprintf(text, sizeof text, "host%d.x.test", i);
        fixture_rr(f, text, WIRE_TYPE_A, 300, false, rdata_a(10, 0, 0, (uint8_t)i));
    }
    fixture_build(f);
    for (int i = 0; i < 60; i++) {
        snprintf(text, sizeof text, "host%d.x.test", i);
        const struct image_rrset *rrset = rrset_of(&f->img, text, WIRE_TYPE_A, false);
        assert_non_null(rrset);
        struct rdata expected = rdata_a(10, 0, 0, (uint8_t)i);
        uint32_t pos = rrset->rdata_offset;
        assert_rr_is(&f->img, &pos, &expected);
    }
    assert_null(node_of(&f->img, "host60.x.test"));
    fixture_free(f);
}

/* ---- refusing damaged images ------------------------------------------ */

static void test_every_truncation_is_refused(void **state)
{
    (void)state;
    struct fixture *f = small_image();
    for (size_t len = 0; len < f->len; len++) {
        /* exactly len octets of its own, so a read past the end is caught */
        uint8_t *part = malloc(len ? len : 1);
        assert_non_null(part);
        memcpy(part, f->buf, len);
        assert_refused(part, len);
        free(part);
    }
    fixture_free(f);
}

static void test_every_flipped_byte_is_refused(void **state)
{
    (void)state;
    struct fixture *f = small_image();
    uint8_t *copy = image_copy(f);
    for (size_t i = 0; i < f->len; i++) {
        copy[i] ^= 0x01;
        assert_refused(copy, f->len);
        copy[i] ^= 0x01;
    }
    /* and the undamaged copy still opens */
    struct image img;
    char err[256] = "";
    assert_int_equal(image_open(&img, copy, f->len, err, sizeof err), 0);
    free(copy);
    fixture_free(f);
}

static void test_flipped_byte_message_names_the_hash(void **state)
{
    (void)state;
    struct fixture *f = small_image();
    uint8_t *copy = image_copy(f);
    copy[f->len - 1] ^= 0x80;
    struct image img;
    char err[256] = "";
    assert_int_equal(image_open(&img, copy, f->len, err, sizeof err), -1);
    assert_non_null(strstr(err, "hash"));
    free(copy);
    fixture_free(f);
}

static void test_wrong_magic_is_refused(void **state)
{
    (void)state;
    struct fixture *f = small_image();
    uint8_t *copy = image_copy(f);
    memcpy(copy, "NOTANIMG", 8);
    rehash(copy, f->len);
    struct image img;
    char err[256] = "";
    assert_int_equal(image_open(&img, copy, f->len, err, sizeof err), -1);
    assert_non_null(strstr(err, "magic"));
    free(copy);
    fixture_free(f);
}

static void test_wrong_format_version_is_refused(void **state)
{
    (void)state;
    struct fixture *f = small_image();
    uint8_t *copy = image_copy(f);
    ((struct image_header *)copy)->format_version = IMAGE_FORMAT_VERSION + 1;
    rehash(copy, f->len);
    struct image img;
    char err[256] = "";
    assert_int_equal(image_open(&img, copy, f->len, err, sizeof err), -1);
    assert_non_null(strstr(err, "version"));
    free(copy);
    fixture_free(f);
}

static void test_file_size_field_larger_than_the_file_is_refused(void **state)
{
    (void)state;
    struct fixture *f = small_image();
    uint8_t *copy = image_copy(f);
    ((struct image_header *)copy)->file_size = f->len + 8;
    rehash(copy, f->len);
    assert_refused(copy, f->len);
    free(copy);
    fixture_free(f);
}

/* Each of the structural damages below keeps the content hash right, so the
 * structural check itself must refuse the image. */
typedef void (*damage_fn)(uint8_t *buf, size_t len, const struct image *img);

static void assert_damage_refused(damage_fn damage)
{
    struct fixture *f = small_image();
    uint8_t *copy = image_copy(f);
    damage(copy, f->len, &f->img);
    rehash(copy, f->len);
    struct image img;
    char err[256] = "";
    assert_int_equal(image_open(&img, copy, f->len, err, sizeof err), -1);
    assert_true(strlen(err) > 0);
    if (strstr(err, "hash"))
        fail_msg("refused by the hash, not by the structural check: %s", err);
    free(copy);
    fixture_free(f);
}

static struct image_section *section(uint8_t *buf, enum image_section_type type)
{
    return &((struct image_header *)buf)->sections[type - 1];
}

/* Where img's structure lives in a copy of its buffer. */
static void *in_copy(uint8_t *buf, const struct image *img, const void *p)
{
    return buf + ((const uint8_t *)p - img->base);
}

static void damage_nodes_offset_past_the_end(uint8_t *buf, size_t len, const struct image *img)
{
    (void)img;
    section(buf, IMAGE_SECTION_NODES)->offset = (len + 8) & ~(uint64_t)7;
}

static void damage_names_size_past_the_end(uint8_t *buf, size_t len, const struct image *img)
{
    (void)img;
    struct image_section *s = section(buf, IMAGE_SECTION_NAMES);
    s->size = len - s->offset + 1;
}

static void damage_rdata_offset_wraps(uint8_t *buf, size_t len, const struct image *img)
{
    (void)img;
    (void)len;
    struct image_section *s = section(buf, IMAGE_SECTION_RDATA);
    s->offset = UINT64_MAX - 7; /* offset + size overflows */
}

static void damage_node_name_offset(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_node *node = in_copy(buf, img, &img->nodes[0]);
    node->name_offset = img->names_size + 100;
}

static void damage_node_name_len(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_node *node = in_copy(buf, img, &img->nodes[img->node_count - 1]);
    node->name_len = (uint16_t)(img->names_size - node->name_offset + 1);
}

static void damage_node_rrset_first(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_node *node = in_copy(buf, img, &img->nodes[0]);
    node->rrset_first = img->rrset_count;
    node->rrset_count = 1;
}

static void damage_node_zone(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_node *node = in_copy(buf, img, &img->nodes[0]);
    node->zone = img->zone_count;
}

static void damage_rrset_rdata_offset(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_rrset *rrset = in_copy(buf, img, &img->rrsets[0]);
    rrset->rdata_offset = img->rdata_size;
}

static void damage_rr_rdlength(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    /* the first RR's rdlength claims more than its RRset holds */
    uint8_t *rdata = in_copy(buf, img, img->rdata + img->rrsets[0].rdata_offset);
    rdata[0] = 0xFF;
    rdata[1] = 0x7F;
}

static void damage_zone_apex_node(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_zone *zone = in_copy(buf, img, &img->zones[0]);
    zone->apex_node = img->node_count;
}

static void damage_zone_soa_rrset(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_zone *zone = in_copy(buf, img, &img->zones[0]);
    zone->soa_rrset = img->rrset_count;
}

static void damage_node_index_entry(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    uint32_t *index = in_copy(buf, img, img->node_index);
    for (uint32_t i = 0; i <= img->node_index_mask; i++)
        if (index[i] != IMAGE_NONE) {
            index[i] = img->node_count;
            return;
        }
}

static void damage_node_index_full(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    /* no empty slot: a probe for a missing name would never end */
    uint32_t *index = in_copy(buf, img, img->node_index);
    for (uint32_t i = 0; i <= img->node_index_mask; i++)
        index[i] = 0;
}

static void damage_rewrite_name_offset(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_rewrite *rw = in_copy(buf, img, &img->rewrites[0]);
    rw->name_offset = img->names_size;
}

static void damage_rewrite_unknown_flag(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_rewrite *rw = in_copy(buf, img, &img->rewrites[0]);
    rw->flags |= 0x0010;
}

static void damage_rewrite_no_flag(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_rewrite *rw = in_copy(buf, img, &img->rewrites[0]);
    rw->flags = 0;
}

static void damage_settings_block_response(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_settings *s = in_copy(buf, img, img->settings);
    s->block_response = IMAGE_BLOCK_REFUSED + 1;
}

static void damage_mx_target_name(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    /* the MX target's first label length now runs past the RDATA */
    struct name mail = name_of("mail.x.test");
    const struct image_node *node =
        image_find_node(img, mail.wire, mail.len, image_name_hash(mail.wire, mail.len));
    assert_non_null(node);
    const struct image_rrset *mx = image_node_rrset(img, node, WIRE_TYPE_MX, false);
    assert_non_null(mx);
    uint8_t *rdata = in_copy(buf, img, img->rdata + mx->rdata_offset + 2);
    rdata[2] = 60;
}

static void damage_forward_zone_range_past_the_upstreams(uint8_t *buf, size_t len,
                                                         const struct image *img)
{
    (void)len;
    struct image_forward_zone *fz = in_copy(buf, img, &img->forward_zones[0]);
    fz->upstream_count = img->upstream_total - fz->upstream_first + 1;
}

static void damage_forward_zone_first_past_the_upstreams(uint8_t *buf, size_t len,
                                                         const struct image *img)
{
    (void)len;
    struct image_forward_zone *fz = in_copy(buf, img, &img->forward_zones[0]);
    fz->upstream_first = img->upstream_total;
}

static void damage_forward_zone_range_wraps(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_forward_zone *fz = in_copy(buf, img, &img->forward_zones[0]);
    fz->upstream_first = 1;
    fz->upstream_count = UINT32_MAX;
}

static void damage_forward_zone_without_servers(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_forward_zone *fz = in_copy(buf, img, &img->forward_zones[0]);
    fz->upstream_count = 0;
}

static void damage_forward_zone_name_offset(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_forward_zone *fz = in_copy(buf, img, &img->forward_zones[0]);
    fz->name_offset = img->names_size;
}

static void damage_forward_zone_name_invalid(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    /* a label length running past the name's end */
    uint8_t *name = in_copy(buf, img, img->names + img->forward_zones[0].name_offset);
    name[0] = 60;
}

static void damage_forward_index_entry(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    uint32_t *index = in_copy(buf, img, img->forward_index);
    for (uint32_t i = 0; i <= img->forward_index_mask; i++)
        if (index[i] != IMAGE_NONE) {
            index[i] = img->forward_zone_count;
            return;
        }
}

static void damage_upstream_family(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_upstream *u = in_copy(buf, img, &img->upstreams[img->upstream_total - 1]);
    u->family = 0;
}

static void damage_settings_upstream_count(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_settings *s = in_copy(buf, img, img->settings);
    s->upstream_count = img->upstream_total + 1;
}

static void damage_settings_acl_counts(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_settings *s = in_copy(buf, img, img->settings);
    s->query_acl_count++; /* one past the ACLS section */
}

static void damage_acl_prefix_length(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct cidr *c = in_copy(buf, img, &img->acls[0]); /* 10.0.0.0/8 */
    c->prefix_len = 33;
}

static void damage_acl_family(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct cidr *c = in_copy(buf, img, &img->acls[1]);
    c->family = 10; /* AF_INET6, not 6 */
}

static void damage_settings_log_format(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_settings *s = in_copy(buf, img, img->settings);
    s->log_format = 2;
}

static void damage_acls_entry_size(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    (void)img;
    section(buf, IMAGE_SECTION_ACLS)->entry_size = 16;
}

static void test_forward_zone_range_outside_the_upstreams_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_forward_zone_range_past_the_upstreams);
}

static void test_forward_zone_first_upstream_outside_the_upstreams_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_forward_zone_first_past_the_upstreams);
}

static void test_forward_zone_range_that_wraps_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_forward_zone_range_wraps);
}

static void test_forward_zone_without_servers_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_forward_zone_without_servers);
}

static void test_forward_zone_name_outside_names_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_forward_zone_name_offset);
}

static void test_forward_zone_with_an_invalid_name_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_forward_zone_name_invalid);
}

static void test_forward_index_entry_outside_forward_zones_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_forward_index_entry);
}

static void test_upstream_of_unknown_family_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_upstream_family);
}

static void test_default_upstream_count_past_the_section_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_settings_upstream_count);
}

static void test_acl_counts_that_do_not_add_up_to_the_section_are_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_settings_acl_counts);
}

static void test_acl_prefix_longer_than_its_family_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_acl_prefix_length);
}

static void test_acl_of_unknown_family_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_acl_family);
}

static void test_unknown_log_format_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_settings_log_format);
}

static void test_acls_section_with_a_wrong_entry_size_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_acls_entry_size);
}

static void test_section_offset_outside_the_file_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_nodes_offset_past_the_end);
}

static void test_section_size_outside_the_file_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_names_size_past_the_end);
}

static void test_section_offset_that_wraps_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_rdata_offset_wraps);
}

static void test_node_name_offset_outside_names_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_node_name_offset);
}

static void test_node_name_length_outside_names_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_node_name_len);
}

static void test_node_rrset_first_outside_rrsets_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_node_rrset_first);
}

static void test_node_zone_outside_zones_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_node_zone);
}

static void test_rrset_rdata_offset_outside_rdata_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_rrset_rdata_offset);
}

static void test_rdlength_past_its_rrset_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_rr_rdlength);
}

static void test_zone_apex_outside_nodes_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_zone_apex_node);
}

static void test_zone_soa_outside_rrsets_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_zone_soa_rrset);
}

static void test_node_index_entry_outside_nodes_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_node_index_entry);
}

static void test_node_index_without_empty_slot_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_node_index_full);
}

static void test_rewrite_name_outside_names_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_rewrite_name_offset);
}

static void test_rewrite_with_an_unknown_flag_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_rewrite_unknown_flag);
}

static void test_rewrite_without_a_flag_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_rewrite_no_flag);
}

static void test_unknown_block_response_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_settings_block_response);
}

static void damage_zone_unknown_flag(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_zone *zone = in_copy(buf, img, &img->zones[0]);
    zone->flags = IMAGE_ZONE_FLAGS + 1;
}

static void damage_node_unknown_flag(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_node *node = in_copy(buf, img, &img->nodes[0]);
    node->flags = IMAGE_NODE_FLAGS + 1;
}

static void damage_settings_domain_needed(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_settings *s = in_copy(buf, img, img->settings);
    s->domain_needed = 2;
}

static void damage_settings_rebind_protection(uint8_t *buf, size_t len, const struct image *img)
{
    (void)len;
    struct image_settings *s = in_copy(buf, img, img->settings);
    s->rebind_protection = 2;
}

static void damage_settings_search_domain_past_names(uint8_t *buf, size_t len,
                                                     const struct image *img)
{
    (void)len;
    struct image_settings *s = in_copy(buf, img, img->settings);
    s->search_domain_offset = img->names_size - 1;
    s->search_domain_len = 5;
}

static void test_unknown_zone_flag_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_zone_unknown_flag);
}

static void test_unknown_node_flag_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_node_unknown_flag);
}

static void test_domain_needed_other_than_0_or_1_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_settings_domain_needed);
}

static void test_rebind_protection_other_than_0_or_1_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_settings_rebind_protection);
}

static void test_search_domain_outside_names_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_settings_search_domain_past_names);
}

/* ---- locally served zones, automatic PTRs, the search domain ---- */

static void test_zone_flags_are_kept(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_zone(f, "10.in-addr.arpa", 10800, 10800);
    struct image_input in = fixture_input(f);
    static const uint8_t zone_flags[2] = {0, IMAGE_ZONE_LOCAL};
    in.zone_flags = zone_flags;
    char err[256] = "";
    assert_int_equal(image_build(&in, &f->buf, &f->len, err, sizeof err), 0);
    assert_int_equal(image_open(&f->img, f->buf, f->len, err, sizeof err), 0);
    assert_int_equal(f->img.zones[node_of(&f->img, "x.test")->zone].flags, 0);
    assert_int_equal(f->img.zones[node_of(&f->img, "10.in-addr.arpa")->zone].flags,
                     IMAGE_ZONE_LOCAL);
    fixture_free(f);
}

static void test_node_is_marked_only_when_all_its_rrs_are_made(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_rr(f, "9.0.0.10.in-addr.arpa", WIRE_TYPE_PTR, 300, false, rdata_name("www.x.test"));
    f->rrs[f->rr_count - 1].node_flags = IMAGE_NODE_AUTO_PTR;
    fixture_rr(f, "8.0.0.10.in-addr.arpa", WIRE_TYPE_PTR, 300, false, rdata_name("www.x.test"));
    f->rrs[f->rr_count - 1].node_flags = IMAGE_NODE_AUTO_PTR;
    fixture_rr(f, "8.0.0.10.in-addr.arpa", WIRE_TYPE_TXT, 300, false, rdata_txt("configured"));
    fixture_build(f);
    assert_int_equal(node_of(&f->img, "9.0.0.10.in-addr.arpa")->flags, IMAGE_NODE_AUTO_PTR);
    assert_int_equal(node_of(&f->img, "8.0.0.10.in-addr.arpa")->flags, 0);
    assert_int_equal(node_of(&f->img, "x.test")->flags, 0);
    fixture_free(f);
}

static void test_search_domain_is_stored_lowercase(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    struct name domain = name_of("Internal.LAN");
    struct image_input in = fixture_input(f);
    in.search_domain = domain.wire;
    in.search_domain_len = (uint8_t)domain.len;
    char err[256] = "";
    assert_int_equal(image_build(&in, &f->buf, &f->len, err, sizeof err), 0);
    assert_int_equal(image_open(&f->img, f->buf, f->len, err, sizeof err), 0);
    struct name lower = name_of("internal.lan");
    assert_int_equal(f->img.settings->search_domain_len, lower.len);
    assert_memory_equal(f->img.names + f->img.settings->search_domain_offset, lower.wire,
                        lower.len);
    fixture_free(f);
}

/* The compiler (compile.c) puts the locally served zones and the
 * automatic PTRs into the image as zones and nodes of their own. */
static const char LOCAL_NAMES_CONFIG[] =
    "{\"server\": {\"upstream\": [], \"mgmt_port\": 0, "
    "\"hot_reload\": false, \"forward_zones\": {\"16.172.in-addr.arpa\": [\"192.0.2.1\"]}},"
    " \"zones\": {\"168.192.in-addr.arpa\": {\"ns\": [\"ns1.x.lan\"]}},"
    " \"records\": ["
    "  {\"name\": \"a.x.lan\", \"type\": \"A\", \"value\": \"10.0.0.9\"},"
    "  {\"name\": \"b.x.lan\", \"type\": \"A\", \"value\": \"10.0.0.9\"},"
    "  {\"name\": \"c.x.lan\", \"type\": \"AAAA\", \"value\": \"2001:db8::1\"}]}";

static void test_compiled_local_zones_are_zones_marked_local(void **state)
{
    (void)state;
    struct image_fixture f;
    image_fixture_open(&f, LOCAL_NAMES_CONFIG);
    /* 101 locally served zones, less the one a forward zone covers and
     * the one we serve, plus ours */
    assert_int_equal(f.img.zone_count, 101 - 2 + 1);
    const char *local[] = {"10.in-addr.arpa", "31.172.in-addr.arpa",     "localhost", "test",
                           "home.arpa",       "8.b.d.0.1.0.0.2.ip6.arpa"};
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
        const struct image_node *apex = node_of(&f.img, local[i]);
        assert_non_null(apex);
        assert_true(apex->flags & IMAGE_NODE_SYNTHESIZED);
        assert_int_equal(f.img.zones[apex->zone].flags, IMAGE_ZONE_LOCAL);
        assert_non_null(image_node_rrset(&f.img, apex, WIRE_TYPE_SOA, false));
        assert_non_null(image_node_rrset(&f.img, apex, WIRE_TYPE_NS, false));
    }
    const struct image_node *ours = node_of(&f.img, "168.192.in-addr.arpa");
    assert_int_equal(f.img.zones[ours->zone].flags, 0);
    assert_null(node_of(&f.img, "16.172.in-addr.arpa"));
    assert_non_null(node_of(&f.img, "*.localhost"));
    image_fixture_free(&f);
}

static void test_compiled_auto_ptrs_are_nodes_of_their_own(void **state)
{
    (void)state;
    struct image_fixture f;
    image_fixture_open(&f, LOCAL_NAMES_CONFIG);
    const struct image_node *v4 = node_of(&f.img, "9.0.0.10.in-addr.arpa");
    assert_non_null(v4);
    assert_int_equal(v4->flags, IMAGE_NODE_AUTO_PTR);
    const struct image_rrset *ptr = image_node_rrset(&f.img, v4, WIRE_TYPE_PTR, false);
    assert_non_null(ptr);
    assert_int_equal(ptr->rr_count, 1); /* the first of the two names */
    uint32_t pos = ptr->rdata_offset;
    uint16_t rdlength;
    const uint8_t *rdata = image_rr_next(&f.img, &pos, &rdlength);
    struct name first = name_of("a.x.lan");
    assert_int_equal(rdlength, first.len);
    assert_memory_equal(rdata, first.wire, first.len);
    const struct image_node *v6 =
        node_of(&f.img, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    assert_non_null(v6);
    assert_int_equal(v6->flags, IMAGE_NODE_AUTO_PTR);
    assert_int_equal(f.img.zones[v6->zone].flags, IMAGE_ZONE_LOCAL);
    image_fixture_free(&f);
}

static void test_compiled_without_local_zones_or_auto_ptr_has_neither(void **state)
{
    (void)state;
    struct image_fixture f;
    image_fixture_open(&f, "{\"server\": {\"upstream\": [], \"mgmt_port\": 0, "
                           "\"local_zones\": false, \"auto_ptr\": false},"
                           " \"records\": [{\"name\": \"a.x.lan\", \"type\": \"A\", "
                           "\"value\": \"10.0.0.9\"}]}");
    assert_int_equal(f.img.zone_count, 0);
    assert_null(node_of(&f.img, "9.0.0.10.in-addr.arpa"));
    assert_null(node_of(&f.img, "localhost"));
    image_fixture_free(&f);
}

static void test_name_in_rdata_running_past_it_is_refused(void **state)
{
    (void)state;
    assert_damage_refused(damage_mx_target_name);
}

static void test_rehash_alone_keeps_the_image_valid(void **state)
{
    (void)state;
    /* the helper the damage tests rely on computes the same hash */
    struct fixture *f = small_image();
    uint8_t *copy = image_copy(f);
    rehash(copy, f->len);
    assert_memory_equal(copy, f->buf, f->len);
    free(copy);
    fixture_free(f);
}

/* ---- mapping files ---------------------------------------------------- */

static void test_map_file_missing_is_refused(void **state)
{
    (void)state;
    struct image img;
    void *map = NULL;
    size_t map_len = 0;
    char err[512] = "";
    assert_int_equal(
        image_map_file("/nonexistent/nanodns/zone.img", &img, &map, &map_len, err, sizeof err), -1);
    assert_true(strlen(err) > 0);
}

static void test_map_file_empty_is_refused(void **state)
{
    (void)state;
    char path[] = "/tmp/nanodns-test-image-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct image img;
    void *map = NULL;
    size_t map_len = 0;
    char err[512] = "";
    int rc = image_map_file(path, &img, &map, &map_len, err, sizeof err);
    unlink(path);
    assert_int_equal(rc, -1);
    assert_true(strlen(err) > 0);
}

static void test_map_file_of_a_written_image_opens(void **state)
{
    (void)state;
    struct fixture *f = small_image();
    char path[] = "/tmp/nanodns-test-image-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, f->buf, f->len), (ssize_t)f->len);
    close(fd);

    struct image img;
    void *map = NULL;
    size_t map_len = 0;
    char err[512] = "";
    int rc = image_map_file(path, &img, &map, &map_len, err, sizeof err);
    unlink(path);
    if (rc < 0)
        fail_msg("image_map_file: %s", err);
    assert_int_equal(map_len, f->len);
    assert_non_null(node_of(&img, "www.x.test"));
    image_unmap(map, map_len);
    fixture_free(f);
}

static void test_map_file_of_a_damaged_image_names_the_file(void **state)
{
    (void)state;
    struct fixture *f = small_image();
    char path[] = "/tmp/nanodns-test-image-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, f->buf, f->len / 2), (ssize_t)(f->len / 2));
    close(fd);

    struct image img;
    void *map = NULL;
    size_t map_len = 0;
    char err[512] = "";
    int rc = image_map_file(path, &img, &map, &map_len, err, sizeof err);
    unlink(path);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, path));
    fixture_free(f);
}

/* The file behind a served image is written in place after it was opened:
 * the image served is a private copy, unchanged (image.h, "Files"). */
static void test_map_file_keeps_serving_what_it_checked_when_the_file_is_overwritten(void **state)
{
    (void)state;
    struct fixture *f = small_image();
    char path[] = "/tmp/nanodns-test-image-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, f->buf, f->len), (ssize_t)f->len);

    struct image img;
    void *map = NULL;
    size_t map_len = 0;
    char err[512] = "";
    int rc = image_map_file(path, &img, &map, &map_len, err, sizeof err);
    if (rc < 0)
        fail_msg("image_map_file: %s", err);
    uint8_t *garbage = malloc(f->len);
    assert_non_null(garbage);
    memset(garbage, 0xFF, f->len); /* every index slot "empty" in a shared mapping */
    assert_int_equal(pwrite(fd, garbage, f->len, 0), (ssize_t)f->len);
    free(garbage);
    close(fd);
    unlink(path);

    assert_non_null(node_of(&img, "www.x.test"));
    assert_memory_equal(img.header->magic, IMAGE_MAGIC, sizeof img.header->magic);
    image_unmap(map, map_len);
    fixture_free(f);
}

/* A FIFO in the image's place: refused at once, not a hang in open(). */
static void test_map_file_refuses_what_is_not_a_regular_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/nanodns-test-image-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/zone.img", dir);
    assert_int_equal(mkfifo(path, 0600), 0);

    struct image img;
    void *map = NULL;
    size_t map_len = 0;
    char err[512] = "";
    int rc = image_map_file(path, &img, &map, &map_len, err, sizeof err);
    unlink(path);
    rmdir(dir);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "not a regular file"));
}

/* A table changed under the reader after image_open (no empty slot left,
 * every slot naming another entry): a lookup of an absent name ends. */
static void test_lookup_in_a_table_without_empty_slots_ends(void **state)
{
    (void)state;
    struct fixture *f = small_image();
    uint8_t *copy = image_copy(f);
    struct image img;
    char err[256] = "";
    if (image_open(&img, copy, f->len, err, sizeof err) < 0)
        fail_msg("image_open: %s", err);
    uint32_t *node_slots = (uint32_t *)(uintptr_t)img.node_index;
    for (uint32_t i = 0; i <= img.node_index_mask; i++)
        node_slots[i] = 0;
    uint32_t *rewrite_slots = (uint32_t *)(uintptr_t)img.rewrite_index;
    for (uint32_t i = 0; i <= img.rewrite_index_mask; i++)
        rewrite_slots[i] = 0;

    assert_null(node_of(&img, "absent.x.test"));
    struct name n = name_of("absent.x.test");
    assert_null(image_find_rewrite(&img, n.wire, n.len, image_name_hash(n.wire, n.len)));
    free(copy);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest every_type[] = {
        cmocka_unit_test(test_round_trip_a),
        cmocka_unit_test(test_round_trip_aaaa),
        cmocka_unit_test(test_round_trip_cname_keeps_the_case_of_its_target),
        cmocka_unit_test(test_round_trip_mx),
        cmocka_unit_test(test_round_trip_txt),
        cmocka_unit_test(test_round_trip_ptr),
        cmocka_unit_test(test_round_trip_ns),
        cmocka_unit_test(test_round_trip_srv),
        cmocka_unit_test(test_round_trip_caa),
        cmocka_unit_test(test_round_trip_soa),
        cmocka_unit_test(test_rrsets_of_a_node_are_sorted_by_type),
        cmocka_unit_test(test_absent_type_has_no_rrset),
        cmocka_unit_test(test_lookup_needs_the_lowercase_name),
        cmocka_unit_test(test_header_carries_version_and_settings),
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_records_of_one_name_and_type_form_one_rrset),
        cmocka_unit_test(test_exact_duplicate_record_is_dropped),
        cmocka_unit_test(test_rrset_ttl_is_the_smallest_of_its_records),
        cmocka_unit_test(test_dropped_duplicate_still_lowers_the_ttl),
        cmocka_unit_test(test_wildcard_rrsets_are_separate_from_own_rrsets),
        cmocka_unit_test(test_node_without_wildcard_has_no_wildcard_flag),
        cmocka_unit_test(test_empty_non_terminals_inside_a_zone_are_nodes),
        cmocka_unit_test(test_no_node_above_the_apex),
        cmocka_unit_test(test_name_outside_every_zone_has_no_zone_and_no_empty_non_terminals),
        cmocka_unit_test(test_wildcard_owner_is_found_from_its_parent),
        cmocka_unit_test(test_wildcard_of_a_name_too_long_for_a_star_label_is_none),
        cmocka_unit_test(
            test_names_between_a_wildcard_parent_and_names_below_it_are_nodes_outside_zones),
        cmocka_unit_test(test_names_added_above_a_child_zone_belong_to_the_parent_zone),
        cmocka_unit_test(test_a_star_label_inside_a_name_makes_an_empty_wildcard_outside_zones),
        cmocka_unit_test(test_name_belongs_to_its_closest_enclosing_zone),
        cmocka_unit_test(test_negative_ttl_is_the_minimum_when_smaller_than_the_soa_ttl),
        cmocka_unit_test(test_negative_ttl_is_the_soa_ttl_when_smaller_than_the_minimum),
        cmocka_unit_test(test_zone_points_at_its_soa_rrset),
        cmocka_unit_test(test_zone_without_soa_is_refused_by_the_builder),
        cmocka_unit_test(test_rewrite_exact_and_below_flags),
        cmocka_unit_test(test_rewrite_of_the_same_name_exact_and_below_is_merged),
        cmocka_unit_test(test_list_entries_and_allowlist_flags_are_merged_per_name),
        cmocka_unit_test(test_block_response_round_trips_in_the_settings),
        cmocka_unit_test(test_image_without_rewrites_finds_none),
        cmocka_unit_test(test_format_version_is_5),
        cmocka_unit_test(test_default_upstreams_come_first_in_order),
        cmocka_unit_test(test_forward_zone_points_at_its_own_servers_after_the_defaults),
        cmocka_unit_test(test_the_wildcard_hash_is_the_hash_of_the_star_name),
        cmocka_unit_test(test_a_forward_zone_covers_its_name_and_every_name_below_it),
        cmocka_unit_test(test_forward_zone_name_is_stored_lowercase),
        cmocka_unit_test(test_forward_zone_lookup_is_by_exact_name),
        cmocka_unit_test(test_image_without_forward_zones_finds_none),
        cmocka_unit_test(test_image_without_upstreams_has_none),
        cmocka_unit_test(test_many_forward_zones_are_all_found),
        cmocka_unit_test(test_forward_zone_declared_twice_is_refused_by_the_builder),
        cmocka_unit_test(test_forward_zone_without_servers_is_refused_by_the_builder),
        cmocka_unit_test(test_upstream_of_unknown_family_is_refused_by_the_builder),
        cmocka_unit_test(test_prefix_longer_than_its_family_is_refused_by_the_builder),
        cmocka_unit_test(test_forwarding_settings_round_trip),
        cmocka_unit_test(test_settings_counts_come_from_the_arrays),
        cmocka_unit_test(test_acls_hold_recursion_then_query_lists),
        cmocka_unit_test(test_recursion_is_decided_by_the_recursion_list_only),
        cmocka_unit_test(test_query_is_decided_by_the_query_list_only),
        cmocka_unit_test(test_no_query_list_lets_everyone_query),
        cmocka_unit_test(test_empty_recursion_list_lets_nobody_recurse),
        cmocka_unit_test(test_suffix_hashes_equal_the_hash_of_each_suffix),
        cmocka_unit_test(test_name_hash_differs_between_names),
        cmocka_unit_test(test_many_names_are_all_found),
        cmocka_unit_test(test_every_truncation_is_refused),
        cmocka_unit_test(test_every_flipped_byte_is_refused),
        cmocka_unit_test(test_flipped_byte_message_names_the_hash),
        cmocka_unit_test(test_wrong_magic_is_refused),
        cmocka_unit_test(test_wrong_format_version_is_refused),
        cmocka_unit_test(test_file_size_field_larger_than_the_file_is_refused),
        cmocka_unit_test(test_rehash_alone_keeps_the_image_valid),
        cmocka_unit_test(test_section_offset_outside_the_file_is_refused),
        cmocka_unit_test(test_section_size_outside_the_file_is_refused),
        cmocka_unit_test(test_section_offset_that_wraps_is_refused),
        cmocka_unit_test(test_node_name_offset_outside_names_is_refused),
        cmocka_unit_test(test_node_name_length_outside_names_is_refused),
        cmocka_unit_test(test_node_rrset_first_outside_rrsets_is_refused),
        cmocka_unit_test(test_node_zone_outside_zones_is_refused),
        cmocka_unit_test(test_rrset_rdata_offset_outside_rdata_is_refused),
        cmocka_unit_test(test_rdlength_past_its_rrset_is_refused),
        cmocka_unit_test(test_zone_apex_outside_nodes_is_refused),
        cmocka_unit_test(test_zone_soa_outside_rrsets_is_refused),
        cmocka_unit_test(test_node_index_entry_outside_nodes_is_refused),
        cmocka_unit_test(test_node_index_without_empty_slot_is_refused),
        cmocka_unit_test(test_rewrite_name_outside_names_is_refused),
        cmocka_unit_test(test_rewrite_with_an_unknown_flag_is_refused),
        cmocka_unit_test(test_rewrite_without_a_flag_is_refused),
        cmocka_unit_test(test_unknown_block_response_is_refused),
        cmocka_unit_test(test_unknown_zone_flag_is_refused),
        cmocka_unit_test(test_unknown_node_flag_is_refused),
        cmocka_unit_test(test_domain_needed_other_than_0_or_1_is_refused),
        cmocka_unit_test(test_rebind_protection_other_than_0_or_1_is_refused),
        cmocka_unit_test(test_search_domain_outside_names_is_refused),
        cmocka_unit_test(test_zone_flags_are_kept),
        cmocka_unit_test(test_node_is_marked_only_when_all_its_rrs_are_made),
        cmocka_unit_test(test_search_domain_is_stored_lowercase),
        cmocka_unit_test(test_compiled_local_zones_are_zones_marked_local),
        cmocka_unit_test(test_compiled_auto_ptrs_are_nodes_of_their_own),
        cmocka_unit_test(test_compiled_without_local_zones_or_auto_ptr_has_neither),
        cmocka_unit_test(test_name_in_rdata_running_past_it_is_refused),
        cmocka_unit_test(test_forward_zone_range_outside_the_upstreams_is_refused),
        cmocka_unit_test(test_forward_zone_first_upstream_outside_the_upstreams_is_refused),
        cmocka_unit_test(test_forward_zone_range_that_wraps_is_refused),
        cmocka_unit_test(test_forward_zone_without_servers_is_refused),
        cmocka_unit_test(test_forward_zone_name_outside_names_is_refused),
        cmocka_unit_test(test_forward_zone_with_an_invalid_name_is_refused),
        cmocka_unit_test(test_forward_index_entry_outside_forward_zones_is_refused),
        cmocka_unit_test(test_upstream_of_unknown_family_is_refused),
        cmocka_unit_test(test_default_upstream_count_past_the_section_is_refused),
        cmocka_unit_test(test_acl_counts_that_do_not_add_up_to_the_section_are_refused),
        cmocka_unit_test(test_acl_prefix_longer_than_its_family_is_refused),
        cmocka_unit_test(test_acl_of_unknown_family_is_refused),
        cmocka_unit_test(test_unknown_log_format_is_refused),
        cmocka_unit_test(test_acls_section_with_a_wrong_entry_size_is_refused),
        cmocka_unit_test(test_map_file_missing_is_refused),
        cmocka_unit_test(test_map_file_empty_is_refused),
        cmocka_unit_test(test_map_file_of_a_written_image_opens),
        cmocka_unit_test(test_map_file_of_a_damaged_image_names_the_file),
        cmocka_unit_test(test_map_file_keeps_serving_what_it_checked_when_the_file_is_overwritten),
        cmocka_unit_test(test_map_file_refuses_what_is_not_a_regular_file),
        cmocka_unit_test(test_lookup_in_a_table_without_empty_slots_ends),
    };
    int failed = cmocka_run_group_tests_name("image: every record type", every_type,
                                             every_type_setup, fixture_teardown);
    failed += cmocka_run_group_tests_name("image", tests, NULL, NULL);
    return failed;
}
