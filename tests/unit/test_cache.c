/* cache: what is kept and for how long (RFC 1035 §3.2.1, RFC 2308 §5), TTLs
 * counted down when served, LRU eviction at capacity, the counters, and
 * expired entries kept for serving stale (RFC 8767).
 * Responses are built by hand below; nothing here depends on an upstream. */
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "wire.h"

#define T0 1000000u /* an arbitrary monotonic clock reading, in ms */

enum section { ANSWER = 0, AUTHORITY = 1, ADDITIONAL = 2 };

/* A response under construction; RRs must be added in section order. */
struct msg {
    uint8_t buf[1024];
    size_t len;
};

static void put_name(struct msg *m, const char *text)
{
    char err[64];
    size_t n;
    assert_int_equal(wire_name_from_text(text, m->buf + m->len, &n, err, sizeof(err)), 0);
    m->len += n;
}

static void put16(struct msg *m, uint16_t v)
{
    wire_put16(m->buf + m->len, v);
    m->len += 2;
}

static void put32(struct msg *m, uint32_t v)
{
    wire_put32(m->buf + m->len, v);
    m->len += 4;
}

static void msg_begin(struct msg *m, uint16_t flags, const char *qname, uint16_t qtype)
{
    memset(m, 0, sizeof(*m));
    put16(m, 0x1234);
    put16(m, WIRE_FLAG_QR | WIRE_FLAG_RD | WIRE_FLAG_RA | flags);
    put16(m, 1);
    m->len = WIRE_HEADER_SIZE;
    put_name(m, qname);
    put16(m, qtype);
    put16(m, WIRE_CLASS_IN);
}

/* Owner NULL writes a compression pointer to the question name. Returns
 * where the TTL field stands. */
static size_t msg_rr(struct msg *m, enum section section, const char *owner, uint16_t type,
                     uint32_t ttl, const uint8_t *rdata, uint16_t rdlength)
{
    if (owner == NULL)
        put16(m, 0xC000 | WIRE_HEADER_SIZE);
    else
        put_name(m, owner);
    put16(m, type);
    put16(m, WIRE_CLASS_IN);
    size_t ttl_at = m->len;
    put32(m, ttl);
    put16(m, rdlength);
    memcpy(m->buf + m->len, rdata, rdlength);
    m->len += rdlength;
    uint8_t *count = m->buf + 6 + 2 * section;
    wire_put16(count, (uint16_t)(wire_get16(count) + 1));
    return ttl_at;
}

static size_t msg_a(struct msg *m, enum section section, uint32_t ttl, uint8_t last_octet)
{
    const uint8_t rdata[4] = {192, 0, 2, last_octet};
    return msg_rr(m, section, NULL, WIRE_TYPE_A, ttl, rdata, sizeof(rdata));
}

/* An authority SOA for the zone; RNAME is compressed (points at the question). */
static size_t msg_soa(struct msg *m, uint32_t ttl, uint32_t minimum)
{
    struct msg rd = {.len = 0};
    put_name(&rd, "ns.example.lan");
    put16(&rd, 0xC000 | WIRE_HEADER_SIZE);
    put32(&rd, 2024010101); /* serial */
    put32(&rd, 3600);       /* refresh */
    put32(&rd, 600);        /* retry */
    put32(&rd, 86400);      /* expire */
    put32(&rd, minimum);
    return msg_rr(m, AUTHORITY, "example.lan", WIRE_TYPE_SOA, ttl, rd.buf, (uint16_t)rd.len);
}

/* An OPT record; its TTL field holds the extended RCODE, version and flags. */
static size_t msg_opt(struct msg *m, uint8_t extended_rcode, uint16_t flags)
{
    m->buf[m->len++] = 0; /* root owner */
    put16(m, WIRE_TYPE_OPT);
    put16(m, 1232);
    size_t ttl_at = m->len;
    put32(m, ((uint32_t)extended_rcode << 24) | flags);
    put16(m, 0);
    uint8_t *count = m->buf + 10;
    wire_put16(count, (uint16_t)(wire_get16(count) + 1));
    return ttl_at;
}

static struct cache_key key_for(const char *qname, uint16_t qtype, uint8_t flags)
{
    struct cache_key key;
    memset(&key, 0, sizeof(key));
    char err[64];
    size_t n;
    assert_int_equal(wire_name_from_text(qname, key.qname, &n, err, sizeof(err)), 0);
    wire_name_lower(key.qname, n);
    key.qname_len = (uint8_t)n;
    key.qtype = qtype;
    key.qclass = WIRE_CLASS_IN;
    key.flags = flags;
    return key;
}

/* A positive answer: one A record with the given TTL. */
static void msg_simple(struct msg *m, const char *qname, uint32_t ttl, uint8_t last_octet)
{
    msg_begin(m, 0, qname, WIRE_TYPE_A);
    msg_a(m, ANSWER, ttl, last_octet);
}

static struct cache_stats stats_of(struct cache *c)
{
    struct cache_stats s;
    cache_get_stats(c, &s);
    return s;
}

static bool cached(struct cache *c, const struct cache_key *key, uint64_t now_ms)
{
    uint8_t out[1024];
    return cache_lookup(c, key, now_ms, out, sizeof(out)) != 0;
}

static void test_lookup_returns_the_response_with_ttls_counted_down(void **state)
{
    (void)state;
    struct msg m;
    msg_begin(&m, 0, "www.example.lan", WIRE_TYPE_A);
    size_t ttls[4];
    ttls[0] = msg_a(&m, ANSWER, 300, 1);
    ttls[1] = msg_a(&m, ANSWER, 400, 2);
    const uint8_t ns[] = {2, 'n', 's', 0xC0, 16}; /* ns.example.lan via a pointer */
    ttls[2] = msg_rr(&m, AUTHORITY, "example.lan", WIRE_TYPE_NS, 600, ns, sizeof(ns));
    ttls[3] = msg_rr(&m, ADDITIONAL, "ns.example.lan", WIRE_TYPE_A, 900,
                     (const uint8_t[]){192, 0, 2, 53}, 4);
    size_t opt_ttl = msg_opt(&m, 0, WIRE_EDNS_DO);

    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, CACHE_KEY_DO);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    uint8_t out[1024];
    assert_int_equal(cache_lookup(c, &key, T0 + 7000, out, sizeof(out)), m.len);
    struct msg expected = m;
    const uint32_t original[4] = {300, 400, 600, 900};
    for (int i = 0; i < 4; i++)
        wire_put32(expected.buf + ttls[i], original[i] - 7);
    assert_memory_equal(out, expected.buf, m.len);
    assert_int_equal(wire_get32(out + opt_ttl), WIRE_EDNS_DO);
    cache_free(c);
}

static void test_ttls_count_down_in_whole_seconds(void **state)
{
    (void)state;
    struct msg m;
    msg_begin(&m, 0, "www.example.lan", WIRE_TYPE_A);
    size_t ttl_at = msg_a(&m, ANSWER, 300, 1);
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    uint8_t out[1024];
    assert_int_equal(cache_lookup(c, &key, T0 + 999, out, sizeof(out)), m.len);
    assert_int_equal(wire_get32(out + ttl_at), 300);
    assert_int_equal(cache_lookup(c, &key, T0 + 1999, out, sizeof(out)), m.len);
    assert_int_equal(wire_get32(out + ttl_at), 299);
    cache_free(c);
}

static void test_entry_expires_at_the_smallest_answer_or_authority_ttl(void **state)
{
    (void)state;
    struct msg m;
    msg_begin(&m, 0, "www.example.lan", WIRE_TYPE_A);
    msg_a(&m, ANSWER, 60, 1);
    const uint8_t ns[] = {2, 'n', 's', 0xC0, 16};
    msg_rr(&m, AUTHORITY, "example.lan", WIRE_TYPE_NS, 30, ns, sizeof(ns));
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    assert_true(cached(c, &key, T0 + 29999));
    assert_false(cached(c, &key, T0 + 30000));
    assert_int_equal(stats_of(c).entries, 0);
    cache_free(c);
}

static void test_additional_ttls_do_not_shorten_the_lifetime_and_stop_at_zero(void **state)
{
    (void)state;
    struct msg m;
    msg_begin(&m, 0, "www.example.lan", WIRE_TYPE_A);
    msg_a(&m, ANSWER, 300, 1);
    size_t glue_ttl = msg_rr(&m, ADDITIONAL, "ns.example.lan", WIRE_TYPE_A, 5,
                             (const uint8_t[]){192, 0, 2, 53}, 4);
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    uint8_t out[1024];
    assert_int_equal(cache_lookup(c, &key, T0 + 10000, out, sizeof(out)), m.len);
    assert_int_equal(wire_get32(out + glue_ttl), 0);
    cache_free(c);
}

static void test_ttl_cap_limits_lifetime_and_served_ttls(void **state)
{
    (void)state;
    struct msg m;
    msg_begin(&m, 0, "www.example.lan", WIRE_TYPE_A);
    size_t ttl_at = msg_a(&m, ANSWER, 3600, 1);
    struct cache *c = cache_new(16, 60);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    uint8_t out[1024];
    assert_int_equal(cache_lookup(c, &key, T0 + 10000, out, sizeof(out)), m.len);
    assert_int_equal(wire_get32(out + ttl_at), 50);
    assert_true(cached(c, &key, T0 + 59999));
    assert_false(cached(c, &key, T0 + 60000));
    cache_free(c);
}

static void test_least_recently_used_entry_is_evicted_at_capacity(void **state)
{
    (void)state;
    struct cache *c = cache_new(3, 86400);
    const char *names[] = {"a.example.lan", "b.example.lan", "c.example.lan", "d.example.lan"};
    struct cache_key keys[4];
    struct msg m;
    for (int i = 0; i < 3; i++) {
        keys[i] = key_for(names[i], WIRE_TYPE_A, 0);
        msg_simple(&m, names[i], 300, (uint8_t)i);
        assert_int_equal(cache_store(c, &keys[i], m.buf, m.len, T0), 0);
    }
    assert_true(cached(c, &keys[0], T0 + 1000)); /* a becomes the most recently used */
    keys[3] = key_for(names[3], WIRE_TYPE_A, 0);
    msg_simple(&m, names[3], 300, 3);
    assert_int_equal(cache_store(c, &keys[3], m.buf, m.len, T0 + 2000), 0);

    assert_int_equal(stats_of(c).evictions, 1);
    assert_int_equal(stats_of(c).entries, 3);
    assert_false(cached(c, &keys[1], T0 + 3000));
    assert_true(cached(c, &keys[0], T0 + 3000));
    assert_true(cached(c, &keys[2], T0 + 3000));
    assert_true(cached(c, &keys[3], T0 + 3000));
    cache_free(c);
}

static void test_storing_an_existing_key_replaces_its_entry(void **state)
{
    (void)state;
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct msg first, second;
    msg_simple(&first, "www.example.lan", 300, 1);
    msg_simple(&second, "www.example.lan", 100, 2);
    assert_int_equal(cache_store(c, &key, first.buf, first.len, T0), 0);
    assert_int_equal(cache_store(c, &key, second.buf, second.len, T0 + 5000), 0);

    uint8_t out[1024];
    assert_int_equal(cache_lookup(c, &key, T0 + 5000, out, sizeof(out)), second.len);
    assert_memory_equal(out, second.buf, second.len);
    assert_int_equal(stats_of(c).entries, 1);
    assert_int_equal(stats_of(c).evictions, 0);
    assert_false(cached(c, &key, T0 + 105000)); /* the second one's lifetime */
    cache_free(c);
}

static void test_nxdomain_is_cached_for_the_soa_minimum(void **state)
{
    (void)state;
    struct msg m;
    msg_begin(&m, WIRE_RCODE_NXDOMAIN, "nope.example.lan", WIRE_TYPE_A);
    size_t soa_ttl = msg_soa(&m, 3600, 300);
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("nope.example.lan", WIRE_TYPE_A, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    uint8_t out[1024];
    assert_int_equal(cache_lookup(c, &key, T0 + 10000, out, sizeof(out)), m.len);
    assert_int_equal(out[3] & 0xF, WIRE_RCODE_NXDOMAIN);
    /* RFC 2308 §3: the SOA is served with min(TTL, minimum), counted down. */
    assert_int_equal(wire_get32(out + soa_ttl), 290);
    assert_true(cached(c, &key, T0 + 299999));
    assert_false(cached(c, &key, T0 + 300000));
    cache_free(c);
}

static void test_nxdomain_is_cached_for_the_soa_ttl_when_below_the_minimum(void **state)
{
    (void)state;
    struct msg m;
    msg_begin(&m, WIRE_RCODE_NXDOMAIN, "nope.example.lan", WIRE_TYPE_A);
    msg_soa(&m, 20, 300);
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("nope.example.lan", WIRE_TYPE_A, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    assert_true(cached(c, &key, T0 + 19999));
    assert_false(cached(c, &key, T0 + 20000));
    cache_free(c);
}

static void test_negative_lifetime_is_capped_by_ttl_cap(void **state)
{
    (void)state;
    struct msg m;
    msg_begin(&m, WIRE_RCODE_NXDOMAIN, "nope.example.lan", WIRE_TYPE_A);
    msg_soa(&m, 3600, 900);
    struct cache *c = cache_new(16, 45);
    struct cache_key key = key_for("nope.example.lan", WIRE_TYPE_A, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    assert_true(cached(c, &key, T0 + 44999));
    assert_false(cached(c, &key, T0 + 45000));
    cache_free(c);
}

static void test_nodata_is_cached_for_the_soa_minimum(void **state)
{
    (void)state;
    struct msg m;
    msg_begin(&m, 0, "www.example.lan", WIRE_TYPE_AAAA);
    msg_soa(&m, 3600, 120);
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_AAAA, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    assert_true(cached(c, &key, T0 + 119999));
    assert_false(cached(c, &key, T0 + 120000));
    cache_free(c);
}

static void test_negative_answers_without_soa_are_not_cached(void **state)
{
    (void)state;
    struct cache *c = cache_new(16, 86400);
    struct msg nxdomain, nodata;
    msg_begin(&nxdomain, WIRE_RCODE_NXDOMAIN, "nope.example.lan", WIRE_TYPE_A);
    msg_begin(&nodata, 0, "www.example.lan", WIRE_TYPE_AAAA);
    struct cache_key nx_key = key_for("nope.example.lan", WIRE_TYPE_A, 0);
    struct cache_key nodata_key = key_for("www.example.lan", WIRE_TYPE_AAAA, 0);

    assert_int_equal(cache_store(c, &nx_key, nxdomain.buf, nxdomain.len, T0), 1);
    assert_int_equal(cache_store(c, &nodata_key, nodata.buf, nodata.len, T0), 1);
    assert_int_equal(stats_of(c).entries, 0);
    cache_free(c);
}

static void test_servfail_and_refused_are_not_cached(void **state)
{
    (void)state;
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    const uint16_t rcodes[] = {WIRE_RCODE_SERVFAIL, WIRE_RCODE_REFUSED, WIRE_RCODE_FORMERR,
                               WIRE_RCODE_NOTIMP};
    for (size_t i = 0; i < sizeof(rcodes) / sizeof(rcodes[0]); i++) {
        struct msg m;
        msg_begin(&m, rcodes[i], "www.example.lan", WIRE_TYPE_A);
        msg_soa(&m, 3600, 300);
        assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 1);
    }
    assert_int_equal(stats_of(c).entries, 0);
    cache_free(c);
}

static void test_extended_rcode_is_not_cached(void **state)
{
    (void)state;
    struct msg m;
    msg_begin(&m, 0, "www.example.lan", WIRE_TYPE_A); /* BADVERS = 16: low bits 0 */
    msg_a(&m, ANSWER, 300, 1);
    msg_opt(&m, WIRE_RCODE_BADVERS >> 4, 0);
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 1);
    cache_free(c);
}

static void test_truncated_response_is_not_cached(void **state)
{
    (void)state;
    struct msg m;
    msg_begin(&m, WIRE_FLAG_TC, "www.example.lan", WIRE_TYPE_A);
    msg_a(&m, ANSWER, 300, 1);
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 1);
    assert_int_equal(stats_of(c).entries, 0);
    cache_free(c);
}

static void test_zero_ttl_is_not_cached(void **state)
{
    (void)state;
    struct msg m;
    msg_begin(&m, 0, "www.example.lan", WIRE_TYPE_A);
    msg_a(&m, ANSWER, 300, 1);
    msg_a(&m, ANSWER, 0, 2);
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 1);
    cache_free(c);
}

static void test_ttl_with_top_bit_set_counts_as_zero(void **state)
{
    (void)state;
    struct msg m;
    msg_simple(&m, "www.example.lan", 0x80000000u, 1); /* RFC 2181 §8 */
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 1);
    cache_free(c);
}

static void test_response_to_another_question_is_not_cached(void **state)
{
    (void)state;
    struct msg m;
    msg_simple(&m, "other.example.lan", 300, 1);
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 1);
    struct cache_key aaaa = key_for("other.example.lan", WIRE_TYPE_AAAA, 0);
    assert_int_equal(cache_store(c, &aaaa, m.buf, m.len, T0), 1);
    cache_free(c);
}

static void test_malformed_responses_are_not_cached(void **state)
{
    (void)state;
    struct msg m;
    msg_begin(&m, 0, "www.example.lan", WIRE_TYPE_A);
    msg_a(&m, ANSWER, 300, 1);
    msg_soa(&m, 3600, 300);
    msg_opt(&m, 0, 0);
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);

    /* Every proper prefix is cut short somewhere. */
    for (size_t len = 0; len < m.len; len++)
        assert_int_equal(cache_store(c, &key, m.buf, len, T0), 1);

    /* Octets after the last record. */
    struct msg trailing = m;
    trailing.buf[trailing.len++] = 0;
    assert_int_equal(cache_store(c, &key, trailing.buf, trailing.len, T0), 1);

    /* A record count larger than the records present. */
    struct msg counts = m;
    wire_put16(counts.buf + 6, 2);
    assert_int_equal(cache_store(c, &key, counts.buf, counts.len, T0), 1);

    /* A compression pointer that loops on itself in the answer's owner. */
    struct msg loop;
    msg_begin(&loop, 0, "www.example.lan", WIRE_TYPE_A);
    size_t owner = loop.len;
    msg_a(&loop, ANSWER, 300, 1);
    wire_put16(loop.buf + owner, (uint16_t)(0xC000 | owner));
    assert_int_equal(cache_store(c, &key, loop.buf, loop.len, T0), 1);

    /* An OPT in the answer section, and two OPTs. */
    struct msg opt_in_answer;
    msg_begin(&opt_in_answer, 0, "www.example.lan", WIRE_TYPE_A);
    msg_a(&opt_in_answer, ANSWER, 300, 1);
    msg_opt(&opt_in_answer, 0, 0);
    wire_put16(opt_in_answer.buf + 10, 0);
    wire_put16(opt_in_answer.buf + 6, 2);
    assert_int_equal(cache_store(c, &key, opt_in_answer.buf, opt_in_answer.len, T0), 1);
    struct msg two_opts = m;
    msg_opt(&two_opts, 0, 0);
    assert_int_equal(cache_store(c, &key, two_opts.buf, two_opts.len, T0), 1);

    /* A query rather than a response. */
    struct msg query = m;
    wire_put16(query.buf + 2, (uint16_t)(wire_get16(query.buf + 2) & ~WIRE_FLAG_QR));
    assert_int_equal(cache_store(c, &key, query.buf, query.len, T0), 1);

    /* Garbage from a fixed pseudo-random sequence, with the header made to
     * look like a NOERROR response so parsing goes past it. */
    uint32_t x = 2463534242u;
    for (int round = 0; round < 2000; round++) {
        uint8_t garbage[512];
        size_t len = 12 + round % 500;
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            garbage[i] = (uint8_t)x;
        }
        wire_put16(garbage + 2, WIRE_FLAG_QR);
        wire_put16(garbage + 4, 1);
        assert_int_equal(cache_store(c, &key, garbage, len, T0), 1);
    }

    assert_int_equal(stats_of(c).entries, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0); /* the whole one is fine */
    cache_free(c);
}

static void test_flush_drops_entries_and_keeps_counters(void **state)
{
    (void)state;
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct msg m;
    msg_simple(&m, "www.example.lan", 300, 1);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);
    assert_true(cached(c, &key, T0));
    struct cache_key other = key_for("x.example.lan", WIRE_TYPE_A, 0);
    assert_false(cached(c, &other, T0));

    cache_flush(c);

    struct cache_stats s = stats_of(c);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.misses, 1);
    assert_false(cached(c, &key, T0));
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0); /* still usable */
    assert_true(cached(c, &key, T0));
    cache_free(c);
}

static void test_qtype_is_part_of_the_key(void **state)
{
    (void)state;
    struct cache *c = cache_new(16, 86400);
    struct cache_key a = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct cache_key aaaa = key_for("www.example.lan", WIRE_TYPE_AAAA, 0);
    struct msg m;
    msg_simple(&m, "www.example.lan", 300, 1);
    assert_int_equal(cache_store(c, &a, m.buf, m.len, T0), 0);
    assert_false(cached(c, &aaaa, T0));
    assert_true(cached(c, &a, T0));
    cache_free(c);
}

static void test_flags_are_part_of_the_key(void **state)
{
    (void)state;
    struct cache *c = cache_new(16, 86400);
    struct cache_key plain = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct cache_key with_do = key_for("www.example.lan", WIRE_TYPE_A, CACHE_KEY_DO);
    struct cache_key with_cd = key_for("www.example.lan", WIRE_TYPE_A, CACHE_KEY_CD);
    struct msg m;
    msg_simple(&m, "www.example.lan", 300, 1);
    assert_int_equal(cache_store(c, &with_do, m.buf, m.len, T0), 0);
    assert_false(cached(c, &plain, T0));
    assert_false(cached(c, &with_cd, T0));
    assert_true(cached(c, &with_do, T0));
    cache_free(c);
}

static void test_qname_matches_regardless_of_case(void **state)
{
    (void)state;
    struct cache *c = cache_new(16, 86400);
    struct cache_key lower = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct cache_key upper = lower;
    char err[64];
    size_t n;
    assert_int_equal(wire_name_from_text("WWW.Example.LAN", upper.qname, &n, err, sizeof(err)), 0);
    struct msg m;
    msg_simple(&m, "WwW.example.lan", 300, 1);
    assert_int_equal(cache_store(c, &lower, m.buf, m.len, T0), 0);
    assert_true(cached(c, &upper, T0));
    cache_free(c);
}

static void test_stats_count_hits_misses_and_entries(void **state)
{
    (void)state;
    struct cache *c = cache_new(16, 86400);
    struct cache_key a = key_for("a.example.lan", WIRE_TYPE_A, 0);
    struct cache_key b = key_for("b.example.lan", WIRE_TYPE_A, 0);
    struct msg m;
    msg_simple(&m, "a.example.lan", 10, 1);
    assert_int_equal(cache_store(c, &a, m.buf, m.len, T0), 0);
    msg_simple(&m, "b.example.lan", 300, 2);
    assert_int_equal(cache_store(c, &b, m.buf, m.len, T0), 0);
    assert_int_equal(stats_of(c).entries, 2);

    assert_true(cached(c, &a, T0));
    assert_true(cached(c, &b, T0));
    assert_true(cached(c, &b, T0 + 1000));
    struct cache_key absent = key_for("c.example.lan", WIRE_TYPE_A, 0);
    assert_false(cached(c, &absent, T0));
    assert_false(cached(c, &a, T0 + 10000)); /* expired: a miss, and dropped */

    struct cache_stats s = stats_of(c);
    assert_int_equal(s.hits, 3);
    assert_int_equal(s.misses, 2);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.evictions, 0);
    cache_free(c);
}

static void test_lookup_into_a_too_small_buffer_is_a_miss(void **state)
{
    (void)state;
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct msg m;
    msg_simple(&m, "www.example.lan", 300, 1);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    uint8_t out[1024];
    assert_int_equal(cache_lookup(c, &key, T0, out, m.len - 1), 0);
    assert_int_equal(stats_of(c).misses, 1);
    assert_int_equal(stats_of(c).hits, 0);
    assert_int_equal(cache_lookup(c, &key, T0, out, m.len), m.len); /* still there */
    cache_free(c);
}

static void test_zero_capacity_stores_nothing(void **state)
{
    (void)state;
    struct cache *c = cache_new(0, 86400);
    assert_non_null(c);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct msg m;
    msg_simple(&m, "www.example.lan", 300, 1);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 1);
    assert_false(cached(c, &key, T0));
    struct cache_stats s = stats_of(c);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.misses, 1);
    cache_free(c);
}

static void test_many_entries_stay_findable_and_bounded(void **state)
{
    (void)state;
    struct cache *c = cache_new(1000, 86400);
    char name[64];
    struct msg m;
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "host%d.example.lan", i);
        struct cache_key key = key_for(name, WIRE_TYPE_A, 0);
        msg_simple(&m, name, 300, (uint8_t)i);
        assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);
    }
    struct cache_stats s = stats_of(c);
    assert_int_equal(s.entries, 1000);
    assert_int_equal(s.evictions, 2000);
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "host%d.example.lan", i);
        struct cache_key key = key_for(name, WIRE_TYPE_A, 0);
        assert_int_equal(cached(c, &key, T0), i >= 2000);
    }
    cache_free(c);
}

/* ---- serving stale (RFC 8767) ---- */

#define STALE_WINDOW 60 /* serve_stale, seconds */

/* A cache of 16 entries, TTLs capped at ttl_cap, expired entries kept
 * STALE_WINDOW seconds. */
static struct cache *stale_cache(uint32_t ttl_cap)
{
    struct cache *c = cache_new(16, ttl_cap);
    assert_non_null(c);
    assert_int_equal(cache_configure(c, 16, ttl_cap, STALE_WINDOW), 0);
    return c;
}

static void test_an_expired_entry_is_a_miss_but_kept_within_the_stale_window(void **state)
{
    (void)state;
    struct cache *c = stale_cache(86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct msg m;
    msg_simple(&m, "www.example.lan", 10, 1);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    /* Expired: the query goes upstream first (a miss), the entry stays. */
    assert_false(cached(c, &key, T0 + 10000));
    assert_int_equal(stats_of(c).misses, 1);
    assert_int_equal(stats_of(c).entries, 1);
    cache_free(c);
}

static void test_an_expired_entry_within_the_window_is_found_stale_with_ttl_30(void **state)
{
    (void)state;
    struct msg m;
    msg_begin(&m, 0, "www.example.lan", WIRE_TYPE_A);
    size_t answer_ttl = msg_a(&m, ANSWER, 10, 1);
    size_t glue_ttl = msg_rr(&m, ADDITIONAL, "ns.example.lan", WIRE_TYPE_A, 900,
                             (const uint8_t[]){192, 0, 2, 53}, 4);
    size_t opt_ttl = msg_opt(&m, 0, WIRE_EDNS_DO);
    struct cache *c = stale_cache(86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, CACHE_KEY_DO);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    uint8_t out[1024];
    bool stale = false;
    size_t len = cache_lookup_stale(c, &key, T0 + 10000 + 59999, out, sizeof(out), &stale);
    assert_int_equal(len, m.len);
    assert_true(stale);
    assert_int_equal(wire_get32(out + answer_ttl), CACHE_STALE_TTL);
    assert_int_equal(wire_get32(out + glue_ttl), CACHE_STALE_TTL);
    assert_int_equal(wire_get32(out + opt_ttl), WIRE_EDNS_DO); /* not a TTL */
    /* the answer record, as stored */
    assert_int_equal(out[7], 1);
    assert_int_equal(CACHE_STALE_TTL, 30);
    cache_free(c);
}

static void test_an_entry_expired_beyond_the_stale_window_is_gone(void **state)
{
    (void)state;
    struct cache *c = stale_cache(86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct msg m;
    msg_simple(&m, "www.example.lan", 10, 1);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    uint8_t out[1024];
    bool stale = true;
    assert_int_equal(cache_lookup_stale(c, &key, T0 + 10000 + 60000, out, sizeof(out), &stale), 0);
    assert_false(stale);
    assert_int_equal(stats_of(c).entries, 0);
    cache_free(c);
}

static void test_a_fresh_entry_found_by_the_stale_lookup_is_counted_down_not_stale(void **state)
{
    (void)state;
    struct cache *c = stale_cache(86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct msg m;
    msg_begin(&m, 0, "www.example.lan", WIRE_TYPE_A);
    size_t ttl_at = msg_a(&m, ANSWER, 300, 1);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    uint8_t out[1024];
    bool stale = true;
    assert_int_equal(cache_lookup_stale(c, &key, T0 + 5000, out, sizeof(out), &stale), m.len);
    assert_false(stale);
    assert_int_equal(wire_get32(out + ttl_at), 295);
    cache_free(c);
}

static void test_without_serve_stale_an_expired_entry_is_dropped(void **state)
{
    (void)state;
    struct cache *c = cache_new(16, 86400); /* serve_stale 0 */
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct msg m;
    msg_simple(&m, "www.example.lan", 10, 1);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    uint8_t out[1024];
    bool stale = true;
    assert_int_equal(cache_lookup_stale(c, &key, T0 + 10000, out, sizeof(out), &stale), 0);
    assert_false(stale);
    assert_int_equal(stats_of(c).entries, 0);
    cache_free(c);
}

static void test_the_stale_ttl_is_capped_by_ttl_cap(void **state)
{
    (void)state;
    struct cache *c = stale_cache(10);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct msg m;
    msg_begin(&m, 0, "www.example.lan", WIRE_TYPE_A);
    size_t ttl_at = msg_a(&m, ANSWER, 3600, 1);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    uint8_t out[1024];
    bool stale = false;
    assert_int_equal(cache_lookup_stale(c, &key, T0 + 20000, out, sizeof(out), &stale), m.len);
    assert_true(stale);
    assert_int_equal(wire_get32(out + ttl_at), 10);
    cache_free(c);
}

static void test_a_negative_answer_is_served_stale_too(void **state)
{
    (void)state;
    struct msg m;
    msg_begin(&m, WIRE_RCODE_NXDOMAIN, "nope.example.lan", WIRE_TYPE_A);
    size_t soa_ttl = msg_soa(&m, 3600, 5);
    struct cache *c = stale_cache(86400);
    struct cache_key key = key_for("nope.example.lan", WIRE_TYPE_A, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);

    uint8_t out[1024];
    bool stale = false;
    assert_false(cached(c, &key, T0 + 5000));
    assert_int_equal(cache_lookup_stale(c, &key, T0 + 5000, out, sizeof(out), &stale), m.len);
    assert_true(stale);
    assert_int_equal(out[3] & 0xF, WIRE_RCODE_NXDOMAIN);
    assert_int_equal(wire_get32(out + soa_ttl), CACHE_STALE_TTL);
    cache_free(c);
}

static void test_a_fresh_answer_replaces_a_stale_entry(void **state)
{
    (void)state;
    struct cache *c = stale_cache(86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct msg old, fresh;
    msg_simple(&old, "www.example.lan", 10, 1);
    msg_simple(&fresh, "www.example.lan", 300, 2);
    assert_int_equal(cache_store(c, &key, old.buf, old.len, T0), 0);
    assert_false(cached(c, &key, T0 + 20000));
    assert_int_equal(cache_store(c, &key, fresh.buf, fresh.len, T0 + 20000), 0);

    uint8_t out[1024];
    assert_int_equal(cache_lookup(c, &key, T0 + 20000, out, sizeof(out)), fresh.len);
    assert_memory_equal(out, fresh.buf, fresh.len);
    assert_int_equal(stats_of(c).entries, 1);
    cache_free(c);
}

static void test_stale_entries_are_evicted_by_lru_pressure(void **state)
{
    (void)state;
    struct cache *c = cache_new(2, 86400);
    assert_int_equal(cache_configure(c, 2, 86400, STALE_WINDOW), 0);
    const char *names[] = {"a.example.lan", "b.example.lan", "c.example.lan"};
    struct cache_key keys[3];
    struct msg m;
    for (int i = 0; i < 3; i++) {
        keys[i] = key_for(names[i], WIRE_TYPE_A, 0);
        msg_simple(&m, names[i], 10, (uint8_t)i);
        assert_int_equal(cache_store(c, &keys[i], m.buf, m.len, T0 + (uint64_t)i * 1000), 0);
    }
    assert_int_equal(stats_of(c).evictions, 1);
    uint8_t out[1024];
    bool stale;
    assert_int_equal(cache_lookup_stale(c, &keys[0], T0 + 20000, out, sizeof(out), &stale), 0);
    assert_int_not_equal(cache_lookup_stale(c, &keys[1], T0 + 20000, out, sizeof(out), &stale), 0);
    assert_true(stale);
    cache_free(c);
}

static void test_configure_sets_the_stale_window_and_flushes(void **state)
{
    (void)state;
    struct cache *c = stale_cache(86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct msg m;
    msg_simple(&m, "www.example.lan", 10, 1);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);
    assert_int_equal(cache_configure(c, 16, 86400, 0), 0); /* serve_stale 0: off */
    assert_int_equal(stats_of(c).entries, 0);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);
    uint8_t out[1024];
    bool stale;
    assert_int_equal(cache_lookup_stale(c, &key, T0 + 10000, out, sizeof(out), &stale), 0);
    cache_free(c);
}

/* ---- one cache for every worker ---- */

static void test_an_answer_asked_before_a_flush_is_not_kept_after_it(void **state)
{
    (void)state;
    struct cache *c = cache_new(16, 86400);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct msg m;
    msg_simple(&m, "www.example.lan", 300, 1);
    uint64_t asked = cache_generation(c);
    cache_flush(c); /* a new image, while the question was upstream */
    assert_int_not_equal(cache_generation(c), asked);
    assert_int_equal(cache_store_since(c, asked, &key, m.buf, m.len, T0), 1);
    assert_false(cached(c, &key, T0));
    assert_int_equal(cache_store_since(c, cache_generation(c), &key, m.buf, m.len, T0), 0);
    assert_true(cached(c, &key, T0));
    cache_free(c);
}

static void test_configure_flushes_and_takes_new_limits(void **state)
{
    (void)state;
    struct cache *c = cache_new(0, 86400); /* off: stores nothing */
    struct msg m;
    char name[64];
    uint64_t before = cache_generation(c);
    assert_int_equal(cache_configure(c, 2, 60, 0), 0);
    assert_int_not_equal(cache_generation(c), before);
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "h%d.example.lan", i);
        struct cache_key key = key_for(name, WIRE_TYPE_A, 0);
        msg_simple(&m, name, 300, (uint8_t)i);
        assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);
    }
    struct cache_stats s = stats_of(c);
    assert_int_equal(s.entries, 2);
    assert_int_equal(s.evictions, 1);
    /* TTLs capped at the new ttl_cap: gone after 60 s. */
    struct cache_key last = key_for("h2.example.lan", WIRE_TYPE_A, 0);
    assert_true(cached(c, &last, T0 + 59000));
    assert_false(cached(c, &last, T0 + 60000));

    assert_int_equal(cache_configure(c, 0, 60, 0), 0); /* turned off */
    assert_int_equal(stats_of(c).entries, 0);
    struct cache_key key = key_for("h9.example.lan", WIRE_TYPE_A, 0);
    msg_simple(&m, "h9.example.lan", 300, 9);
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 1);
    cache_free(c);
}

struct observed {
    unsigned calls;
    struct cache_stats last;
};

static void observe(void *arg, const struct cache_stats *now)
{
    struct observed *o = arg;
    o->calls++;
    o->last = *now;
}

static void test_the_observer_sees_every_change_of_the_counters(void **state)
{
    (void)state;
    struct cache *c = cache_new(16, 86400);
    struct observed o = {0};
    cache_set_observer(c, observe, &o);
    assert_int_equal(o.calls, 1);
    struct cache_key key = key_for("www.example.lan", WIRE_TYPE_A, 0);
    struct msg m;
    msg_simple(&m, "www.example.lan", 300, 1);
    assert_false(cached(c, &key, T0));
    assert_int_equal(cache_store(c, &key, m.buf, m.len, T0), 0);
    assert_true(cached(c, &key, T0));
    assert_int_equal(o.last.misses, 1);
    assert_int_equal(o.last.hits, 1);
    assert_int_equal(o.last.entries, 1);
    cache_flush(c);
    assert_int_equal(o.last.entries, 0);
    cache_free(c);
}

/* Workers storing and looking up at once, on threads of their own: the
 * table stays whole and within its size. */
#define THREAD_NAMES 200
#define THREAD_ROUNDS 20

struct thread_arg {
    struct cache *cache;
    int base;
    unsigned hits;
};

static void *hammer(void *arg)
{
    struct thread_arg *t = arg;
    char name[64];
    struct msg m;
    for (int round = 0; round < THREAD_ROUNDS; round++)
        for (int i = 0; i < THREAD_NAMES; i++) {
            snprintf(name, sizeof(name), "t%d-%d.example.lan", t->base, i);
            struct cache_key key = key_for(name, WIRE_TYPE_A, 0);
            if (cached(t->cache, &key, T0)) {
                t->hits++;
                continue;
            }
            msg_simple(&m, name, 300, (uint8_t)i);
            cache_store(t->cache, &key, m.buf, m.len, T0);
        }
    return NULL;
}

static void test_threads_share_one_cache_safely(void **state)
{
    (void)state;
    struct cache *c = cache_new(300, 86400);
    struct thread_arg args[3] = {{c, 0, 0}, {c, 1, 0}, {c, 2, 0}};
    pthread_t threads[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, hammer, &args[i]), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    struct cache_stats s = stats_of(c);
    assert_true(s.entries <= 300);
    assert_int_equal(s.hits + s.misses, 3 * THREAD_NAMES * THREAD_ROUNDS);
    assert_int_equal(s.hits, args[0].hits + args[1].hits + args[2].hits);
    cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_returns_the_response_with_ttls_counted_down),
        cmocka_unit_test(test_an_answer_asked_before_a_flush_is_not_kept_after_it),
        cmocka_unit_test(test_configure_flushes_and_takes_new_limits),
        cmocka_unit_test(test_the_observer_sees_every_change_of_the_counters),
        cmocka_unit_test(test_threads_share_one_cache_safely),
        cmocka_unit_test(test_ttls_count_down_in_whole_seconds),
        cmocka_unit_test(test_entry_expires_at_the_smallest_answer_or_authority_ttl),
        cmocka_unit_test(test_additional_ttls_do_not_shorten_the_lifetime_and_stop_at_zero),
        cmocka_unit_test(test_ttl_cap_limits_lifetime_and_served_ttls),
        cmocka_unit_test(test_least_recently_used_entry_is_evicted_at_capacity),
        cmocka_unit_test(test_storing_an_existing_key_replaces_its_entry),
        cmocka_unit_test(test_nxdomain_is_cached_for_the_soa_minimum),
        cmocka_unit_test(test_nxdomain_is_cached_for_the_soa_ttl_when_below_the_minimum),
        cmocka_unit_test(test_negative_lifetime_is_capped_by_ttl_cap),
        cmocka_unit_test(test_nodata_is_cached_for_the_soa_minimum),
        cmocka_unit_test(test_negative_answers_without_soa_are_not_cached),
        cmocka_unit_test(test_servfail_and_refused_are_not_cached),
        cmocka_unit_test(test_extended_rcode_is_not_cached),
        cmocka_unit_test(test_truncated_response_is_not_cached),
        cmocka_unit_test(test_zero_ttl_is_not_cached),
        cmocka_unit_test(test_ttl_with_top_bit_set_counts_as_zero),
        cmocka_unit_test(test_response_to_another_question_is_not_cached),
        cmocka_unit_test(test_malformed_responses_are_not_cached),
        cmocka_unit_test(test_flush_drops_entries_and_keeps_counters),
        cmocka_unit_test(test_qtype_is_part_of_the_key),
        cmocka_unit_test(test_flags_are_part_of_the_key),
        cmocka_unit_test(test_qname_matches_regardless_of_case),
        cmocka_unit_test(test_stats_count_hits_misses_and_entries),
        cmocka_unit_test(test_lookup_into_a_too_small_buffer_is_a_miss),
        cmocka_unit_test(test_zero_capacity_stores_nothing),
        cmocka_unit_test(test_many_entries_stay_findable_and_bounded),
        cmocka_unit_test(test_an_expired_entry_is_a_miss_but_kept_within_the_stale_window),
        cmocka_unit_test(test_an_expired_entry_within_the_window_is_found_stale_with_ttl_30),
        cmocka_unit_test(test_an_entry_expired_beyond_the_stale_window_is_gone),
        cmocka_unit_test(test_a_fresh_entry_found_by_the_stale_lookup_is_counted_down_not_stale),
        cmocka_unit_test(test_without_serve_stale_an_expired_entry_is_dropped),
        cmocka_unit_test(test_the_stale_ttl_is_capped_by_ttl_cap),
        cmocka_unit_test(test_a_negative_answer_is_served_stale_too),
        cmocka_unit_test(test_a_fresh_answer_replaces_a_stale_entry),
        cmocka_unit_test(test_stale_entries_are_evicted_by_lru_pressure),
        cmocka_unit_test(test_configure_sets_the_stale_window_and_flushes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
