/* Unit tests for common/image.c: what image_build writes, image_open and
 * the lookups read back, and every kind of damaged image image_open must
 * refuse. Fixtures are built inline from presentation-form names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "image.h"

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
                                f->rdatas[i].data, f->rdatas[i].len};
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
                                                  (uint8_t)f->rewrite_names[i].len, below};
}

static struct image_input fixture_input(const struct fixture *f)
{
    return (struct image_input){
        .config_version = 7,
        .settings = {.edns_payload = 1232,
                     .tcp_idle_timeout_ms = 10000,
                     .tcp_max_connections = 256,
                     .log_level = 1,
                     .record_count = (uint32_t)f->rr_count},
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

/* x.test with one A record and a rewrite: small, every section non-empty. */
static struct fixture *small_image(void)
{
    struct fixture *f = fixture_new();
    fixture_zone(f, "x.test", 3600, 300);
    fixture_rr(f, "www.x.test", WIRE_TYPE_A, 300, false, rdata_a(10, 0, 0, 80));
    fixture_rr(f, "mail.x.test", WIRE_TYPE_MX, 300, false, rdata_mx(10, "www.x.test"));
    fixture_rewrite(f, "ads.x.test", true);
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
        cmocka_unit_test(test_name_belongs_to_its_closest_enclosing_zone),
        cmocka_unit_test(test_negative_ttl_is_the_minimum_when_smaller_than_the_soa_ttl),
        cmocka_unit_test(test_negative_ttl_is_the_soa_ttl_when_smaller_than_the_minimum),
        cmocka_unit_test(test_zone_points_at_its_soa_rrset),
        cmocka_unit_test(test_zone_without_soa_is_refused_by_the_builder),
        cmocka_unit_test(test_rewrite_exact_and_below_flags),
        cmocka_unit_test(test_rewrite_of_the_same_name_exact_and_below_is_merged),
        cmocka_unit_test(test_image_without_rewrites_finds_none),
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
        cmocka_unit_test(test_name_in_rdata_running_past_it_is_refused),
        cmocka_unit_test(test_map_file_missing_is_refused),
        cmocka_unit_test(test_map_file_empty_is_refused),
        cmocka_unit_test(test_map_file_of_a_written_image_opens),
        cmocka_unit_test(test_map_file_of_a_damaged_image_names_the_file),
    };
    int failed = cmocka_run_group_tests_name("image: every record type", every_type,
                                             every_type_setup, fixture_teardown);
    failed += cmocka_run_group_tests_name("image", tests, NULL, NULL);
    return failed;
}
