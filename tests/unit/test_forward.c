/* Unit tests for dataplane/forward.c on a real event loop, without any
 * transport: queries go to fake upstreams on loopback (upstream_fixture.c)
 * that the tests answer by hand, and answers come back through the
 * answered callback, which records them. Covers the answer arriving later,
 * shared queries in flight, the cache, RFC 5452 matching, failover,
 * SERVFAIL, serving stale (RFC 8767), the TCP retry and the in-flight
 * limit. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "answer.h"
#include "cache.h"
#include "forward.h"
#include "monotonic.h"
#include "relay.h"
#include "reply.h"
#include "stats.h"
#include "upstream_fixture.h"
#include "wire.h"

#define JSON(...) #__VA_ARGS__

/* clang-format off */
/* One upstream (%u: its port, on 127.0.0.1) and its timeout in seconds
 * (%s), then more server settings (%s). */
static const char ONE_UPSTREAM_CONFIG[] = JSON({
    "server": {"upstream": ["127.0.0.1:%u"], "mgmt_port": 0, "hot_reload": false,
               "log_queries": false, "upstream_timeout": %s %s},
    "zones": {},
    "records": []
});

/* Two upstreams: the first (%u) is tried first. */
static const char TWO_UPSTREAMS_CONFIG[] = JSON({
    "server": {"upstream": ["127.0.0.1:%u", "127.0.0.1:%u"], "mgmt_port": 0,
               "hot_reload": false, "log_queries": false, "upstream_timeout": 0.2},
    "zones": {},
    "records": []
});
/* clang-format on */

#define RECORDED_MAX 8

/* One answered callback, copied. */
struct recorded {
    struct reply reply;
    uint8_t message[4096];
    size_t len;
    uint16_t rcode;
    enum answer_source source;
    bool truncated;
    uint16_t qtype;
    uint8_t qname[WIRE_NAME_MAX];
    size_t qname_len;
    uint64_t sent_ns;
};

struct fixture {
    struct event_base *base;
    struct image_fixture image;
    struct stats_worker *stats;
    struct fake_upstream upstream;
    struct forward *fw;
    struct recorded answers[RECORDED_MAX];
    unsigned answer_count;
};

static void record_answer(void *arg, const struct reply *reply, const struct forward_answer *a)
{
    struct fixture *f = arg;
    assert_true(f->answer_count < RECORDED_MAX);
    struct recorded *r = &f->answers[f->answer_count++];
    r->reply = *reply;
    assert_true(a->len <= sizeof r->message);
    memcpy(r->message, a->message, a->len);
    r->len = a->len;
    r->rcode = a->rcode;
    r->source = a->source;
    r->truncated = a->truncated;
    r->qtype = a->qtype;
    memcpy(r->qname, a->qname, a->qname_len);
    r->qname_len = a->qname_len;
    r->sent_ns = a->sent_ns;
}

/* The transports' send functions are never called by forward.c: a reply
 * that carries this one fails the test if it is. */
static void send_must_not_be_called(const struct reply *reply, const uint8_t *answer, size_t len)
{
    (void)reply;
    (void)answer;
    (void)len;
    fail_msg("forward.c sent an answer itself");
}

static struct fixture *fixture_new(void)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->base = event_base_new();
    assert_non_null(f->base);
    f->stats = calloc(1, sizeof *f->stats);
    assert_non_null(f->stats);
    fake_upstream_open(&f->upstream);
    return f;
}

/* Forwarding over the image compiled into f->image. */
static void fixture_forward(struct fixture *f)
{
    f->fw = forward_new(f->base, &f->image.img, f->stats, record_answer, f);
    assert_non_null(f->fw);
}

/* Forwarding to f->upstream, with timeout (seconds, as text) and more
 * server settings (text that starts with a comma, or ""). */
static struct fixture *fixture_one_upstream(const char *timeout, const char *more_settings)
{
    struct fixture *f = fixture_new();
    image_fixture_compile(&f->image, ONE_UPSTREAM_CONFIG, (unsigned)f->upstream.port, timeout,
                          more_settings);
    fixture_forward(f);
    return f;
}

static void fixture_free(struct fixture *f)
{
    forward_free(f->fw);
    fake_upstream_close(&f->upstream);
    image_fixture_free(&f->image);
    event_base_free(f->base);
    free(f->stats);
    free(f);
}

/* A client's query as query.c hands it over: answer_query's verdict and
 * parse (it must say forward), and the client's reply. */
struct asking {
    uint8_t packet[512];
    size_t len;
    struct answer_info info;
    struct reply reply;
    uint8_t response[ANSWER_BUFFER_SIZE];
};

static struct asking *ask(struct fixture *f, uint16_t id, const char *name, uint16_t client_port,
                          enum answer_transport transport)
{
    struct asking *a = calloc(1, sizeof *a);
    assert_non_null(a);
    a->len = fixture_query(a->packet, id, name, WIRE_TYPE_A, true);
    struct sockaddr_in client = fixture_client("127.0.0.1", client_port);
    memcpy(&a->reply.client, &client, sizeof client);
    a->reply.client_len = sizeof client;
    a->reply.transport = transport;
    a->reply.send = send_must_not_be_called;
    size_t len;
    assert_int_equal(answer_query(&f->image.img, a->packet, a->len,
                                  (const struct sockaddr *)&client, transport, a->response, &len,
                                  &a->info),
                     ANSWER_FORWARD);
    return a;
}

/* Forward a's query after a cache miss; it must wait for an upstream. */
static void forward_and_wait(struct fixture *f, struct asking *a)
{
    assert_int_equal(
        forward_from_cache(f->fw, a->packet, a->reply.transport, &a->info, a->response), 0);
    assert_int_equal(forward_start(f->fw, a->packet, &a->info, &a->reply, a->response), 0);
}

/* The upstream takes one query and answers it with 192.0.2.last_octet. */
static void upstream_answers(struct fixture *f, uint16_t extra_flags, uint8_t last_octet)
{
    uint8_t query[512], answer[512];
    size_t len = fake_upstream_receive(&f->upstream, query, sizeof query, 1000);
    assert_true(len > 0);
    fake_upstream_send(&f->upstream, answer,
                       fixture_answer(query, len, extra_flags, 300, last_octet, answer));
}

/* ---- answers come later, through the callback ---- */

static void test_an_upstream_answer_reaches_the_client_later(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", "");
    struct asking *a = ask(f, 0x1234, "WWW.Example.ORG", 40001, ANSWER_UDP);
    forward_and_wait(f, a);
    assert_int_equal(f->answer_count, 0); /* never from within forward_start */

    upstream_answers(f, 0, 7);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    struct recorded *r = &f->answers[0];
    assert_int_equal(wire_get16(r->message), 0x1234);
    assert_int_equal(r->source, ANSWER_SOURCE_UPSTREAM);
    assert_int_equal(r->rcode, WIRE_RCODE_NOERROR);
    assert_int_equal(r->qtype, WIRE_TYPE_A);
    assert_int_equal(fixture_answer_last_octet(r->message, r->len), 7);
    /* the question as the client wrote it */
    assert_memory_equal(r->message + WIRE_HEADER_SIZE, "\003WWW\007Example\003ORG", 17);
    assert_int_equal(stats_get(&f->stats->upstream_queries), 1);
    free(a);
    fixture_free(f);
}

static void test_the_answer_goes_with_a_copy_of_the_clients_reply(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", "");
    struct asking *a = ask(f, 1, "www.example.org", 40002, ANSWER_TCP);
    forward_and_wait(f, a);
    struct reply sent = a->reply;
    memset(&a->reply, 0xAB, sizeof a->reply); /* the caller's copy is gone */

    upstream_answers(f, 0, 1);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    struct recorded *r = &f->answers[0];
    assert_int_equal(r->reply.transport, ANSWER_TCP);
    assert_ptr_equal(r->reply.send, sent.send);
    assert_int_equal(r->reply.client_len, sent.client_len);
    assert_memory_equal(&r->reply.client, &sent.client, sent.client_len);
    free(a);
    fixture_free(f);
}

static void test_the_upstream_query_asks_for_recursion_in_lowercase(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", "");
    struct asking *a = ask(f, 1, "WWW.Example.ORG", 40003, ANSWER_UDP);
    forward_and_wait(f, a);
    uint8_t query[512];
    size_t len = fake_upstream_receive(&f->upstream, query, sizeof query, 1000);
    assert_true(len > WIRE_HEADER_SIZE + 17);
    assert_true(wire_get16(query + 2) & WIRE_FLAG_RD);
    assert_memory_equal(query + WIRE_HEADER_SIZE, "\003www\007example\003org", 17);
    free(a);
    fixture_free(f);
}

/* ---- questions in flight ---- */

static void test_identical_questions_in_flight_share_one_upstream_query(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", "");
    struct asking *a = ask(f, 0x1111, "www.example.org", 40011, ANSWER_UDP);
    struct asking *b = ask(f, 0x2222, "www.example.org", 40012, ANSWER_TCP);
    forward_and_wait(f, a);
    forward_and_wait(f, b);

    upstream_answers(f, 0, 9);
    uint8_t more[512];
    assert_int_equal(fake_upstream_receive(&f->upstream, more, sizeof more, 100), 0);
    assert_true(fixture_run_until(f->base, &f->answer_count, 2, 2000));
    assert_int_equal(wire_get16(f->answers[0].message), 0x1111);
    assert_int_equal(wire_get16(f->answers[1].message), 0x2222);
    assert_int_equal(f->answers[1].reply.transport, ANSWER_TCP);
    assert_int_equal(stats_get(&f->stats->upstream_queries), 1);
    free(a);
    free(b);
    fixture_free(f);
}

static void test_a_udp_client_asking_again_gets_one_answer(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", "");
    struct asking *a = ask(f, 0x3333, "www.example.org", 40021, ANSWER_UDP);
    forward_and_wait(f, a);
    forward_and_wait(f, a); /* same address, port and ID: a retry */
    upstream_answers(f, 0, 1);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    fixture_run_for(f->base, 100);
    assert_int_equal(f->answer_count, 1);
    free(a);
    fixture_free(f);
}

/* ---- the cache ---- */

static void test_an_upstream_answer_is_served_from_the_cache_next_time(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", "");
    struct asking *a = ask(f, 1, "www.example.org", 40031, ANSWER_UDP);
    forward_and_wait(f, a);
    upstream_answers(f, 0, 5);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));

    struct asking *b = ask(f, 0x4444, "www.example.org", 40032, ANSWER_UDP);
    size_t len = forward_from_cache(f->fw, b->packet, ANSWER_UDP, &b->info, b->response);
    assert_true(len > 0);
    assert_int_equal(b->info.source, ANSWER_SOURCE_CACHE);
    assert_int_equal(wire_get16(b->response), 0x4444);
    assert_int_equal(fixture_answer_last_octet(b->response, len), 5);
    assert_int_equal(stats_get(&f->stats->cache_hits), 1);
    uint8_t more[512];
    assert_int_equal(fake_upstream_receive(&f->upstream, more, sizeof more, 50), 0);
    free(a);
    free(b);
    fixture_free(f);
}

static void test_a_new_image_empties_the_cache(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", "");
    struct asking *a = ask(f, 1, "www.example.org", 40041, ANSWER_UDP);
    forward_and_wait(f, a);
    upstream_answers(f, 0, 5);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));

    forward_image_changed(f->fw, &f->image.img);
    assert_int_equal(forward_from_cache(f->fw, a->packet, ANSWER_UDP, &a->info, a->response), 0);
    free(a);
    fixture_free(f);
}

static void test_without_a_cache_every_question_goes_upstream(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", ", \"cache_enabled\": false");
    struct asking *a = ask(f, 1, "www.example.org", 40051, ANSWER_UDP);
    forward_and_wait(f, a);
    upstream_answers(f, 0, 5);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    forward_and_wait(f, a); /* asserts the cache misses */
    free(a);
    fixture_free(f);
}

/* ---- workers: a shared cache, a share of max_inflight ---- */

/* Two workers' forwarding over one cache: what one fetched, the other
 * answers from it; the workers' own slots count no cache traffic (the
 * cache's owner publishes it once). */
static void test_workers_sharing_a_cache_answer_from_what_another_fetched(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", "");
    struct stats_worker *other_stats = calloc(1, sizeof *other_stats);
    assert_non_null(other_stats);
    struct forward *other = forward_new(f->base, &f->image.img, other_stats, record_answer, f);
    assert_non_null(other);
    struct cache *shared = cache_new(100, 3600);
    assert_non_null(shared);
    forward_share_cache(f->fw, shared);
    forward_share_cache(other, shared);

    struct asking *a = ask(f, 1, "www.example.org", 40061, ANSWER_UDP);
    forward_and_wait(f, a);
    upstream_answers(f, 0, 5);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));

    struct asking *b = ask(f, 0x4545, "www.example.org", 40062, ANSWER_UDP);
    size_t len = forward_from_cache(other, b->packet, ANSWER_UDP, &b->info, b->response);
    assert_true(len > 0);
    assert_int_equal(b->info.source, ANSWER_SOURCE_CACHE);
    assert_int_equal(fixture_answer_last_octet(b->response, len), 5);
    struct cache_stats cs;
    cache_get_stats(shared, &cs);
    assert_int_equal(cs.hits, 1);
    assert_int_equal(cs.entries, 1);
    assert_int_equal(stats_get(&f->stats->cache_hits), 0);
    assert_int_equal(stats_get(&other_stats->cache_hits), 0);

    /* A worker taking a new image leaves the shared cache to its owner. */
    forward_image_changed(other, &f->image.img);
    cache_get_stats(shared, &cs);
    assert_int_equal(cs.entries, 1);
    forward_free(other);
    cache_get_stats(shared, &cs); /* still there: not other's to free */
    assert_int_equal(cs.entries, 1);
    free(a);
    free(b);
    fixture_free(f);
    cache_free(shared);
    free(other_stats);
}

/* A query that went upstream before its owner flushed the shared cache
 * (a new image) is answered, but its answer is not kept. */
static void test_an_answer_asked_before_the_owner_flushed_is_not_cached(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", "");
    struct cache *shared = cache_new(100, 3600);
    forward_share_cache(f->fw, shared);
    struct asking *a = ask(f, 1, "www.example.org", 40071, ANSWER_UDP);
    forward_and_wait(f, a);
    cache_flush(shared);
    upstream_answers(f, 0, 5);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    struct cache_stats cs;
    cache_get_stats(shared, &cs);
    assert_int_equal(cs.entries, 0);
    free(a);
    fixture_free(f);
    cache_free(shared);
}

/* max_inflight 4 over two workers: 2 each. */
static void test_each_of_two_workers_takes_half_of_max_inflight(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", ", \"max_inflight\": 4");
    forward_set_workers(f->fw, 2);
    struct asking *a = ask(f, 1, "one.example.org", 40081, ANSWER_UDP);
    struct asking *b = ask(f, 2, "two.example.org", 40082, ANSWER_UDP);
    struct asking *c = ask(f, 3, "three.example.org", 40083, ANSWER_UDP);
    forward_and_wait(f, a);
    forward_and_wait(f, b);
    size_t len = forward_start(f->fw, c->packet, &c->info, &c->reply, c->response);
    assert_true(len > 0);
    assert_int_equal(c->info.rcode, WIRE_RCODE_SERVFAIL);
    assert_int_equal(stats_get(&f->stats->inflight_overflow), 1);
    free(a);
    free(b);
    free(c);
    fixture_free(f);
}

/* ---- RFC 5452 ---- */

static void test_an_answer_with_another_id_is_ignored(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", "");
    struct asking *a = ask(f, 1, "www.example.org", 40061, ANSWER_UDP);
    forward_and_wait(f, a);
    uint8_t query[512], answer[512];
    size_t len = fake_upstream_receive(&f->upstream, query, sizeof query, 1000);
    size_t answer_len = fixture_answer(query, len, 0, 300, 66, answer);
    wire_put16(answer, (uint16_t)(wire_get16(query) ^ 0x8000)); /* a spoofer's guess */
    fake_upstream_send(&f->upstream, answer, answer_len);
    fixture_run_for(f->base, 100);
    assert_int_equal(f->answer_count, 0);

    fake_upstream_send(&f->upstream, answer, fixture_answer(query, len, 0, 300, 8, answer));
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    assert_int_equal(fixture_answer_last_octet(f->answers[0].message, f->answers[0].len), 8);
    free(a);
    fixture_free(f);
}

/* ---- failures ---- */

/* The query the second upstream gets once the first one's 200 ms are up
 * (the loop runs meanwhile); 0 when none comes within a second. */
static size_t upstream_query_after_the_silent_one(struct fixture *f, uint8_t *query, size_t cap)
{
    size_t len = 0;
    for (int i = 0; i < 100 && len == 0; i++) {
        fixture_run_for(f->base, 10);
        len = fake_upstream_receive(&f->upstream, query, cap, 0);
    }
    return len;
}

static void test_a_silent_upstream_times_out_and_the_next_one_answers(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    struct fake_upstream silent;
    fake_upstream_open(&silent);
    image_fixture_compile(&f->image, TWO_UPSTREAMS_CONFIG, (unsigned)silent.port,
                          (unsigned)f->upstream.port);
    fixture_forward(f);
    struct asking *a = ask(f, 1, "www.example.org", 40071, ANSWER_UDP);
    forward_and_wait(f, a);

    uint8_t ignored[512];
    assert_true(fake_upstream_receive(&silent, ignored, sizeof ignored, 1000) > 0);
    uint8_t query[512], answer[512];
    size_t len = upstream_query_after_the_silent_one(f, query, sizeof query);
    assert_true(len > 0);
    fake_upstream_send(&f->upstream, answer, fixture_answer(query, len, 0, 300, 2, answer));
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    assert_int_equal(f->answers[0].source, ANSWER_SOURCE_UPSTREAM);
    assert_int_equal(stats_get(&f->stats->upstream_timeouts), 1);
    fake_upstream_close(&silent);
    free(a);
    fixture_free(f);
}

static uint64_t upstream_latency_count(const struct fixture *f)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < STATS_LATENCY_BUCKETS; i++)
        n += stats_get(&f->stats->latency[STATS_LATENCY_UPSTREAM].buckets[i]);
    return n;
}

static void test_the_upstream_round_trip_is_timed_from_the_attempt_that_answered(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    struct fake_upstream silent;
    fake_upstream_open(&silent);
    image_fixture_compile(&f->image, TWO_UPSTREAMS_CONFIG, (unsigned)silent.port,
                          (unsigned)f->upstream.port);
    fixture_forward(f);
    struct asking *a = ask(f, 1, "www.example.org", 40072, ANSWER_UDP);
    uint64_t started_ns = monotonic_now_ns();
    forward_and_wait(f, a);
    uint8_t ignored[512];
    assert_true(fake_upstream_receive(&silent, ignored, sizeof ignored, 1000) > 0);
    uint8_t query[512], answer[512];
    size_t len = upstream_query_after_the_silent_one(f, query, sizeof query);
    assert_true(len > 0);
    /* The second upstream takes 30 ms: its round trip, not the 200 ms the
     * first one wasted, is what the histogram gets. */
    usleep(30000);
    fake_upstream_send(&f->upstream, answer, fixture_answer(query, len, 0, 300, 2, answer));
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    uint64_t whole_ns = monotonic_now_ns() - started_ns;

    assert_int_equal(upstream_latency_count(f), 1);
    uint64_t rtt_ns = stats_get(&f->stats->latency[STATS_LATENCY_UPSTREAM].sum_ns);
    assert_true(rtt_ns >= 30000000u);
    assert_true(rtt_ns + 150000000u <= whole_ns); /* the timed-out attempt is not in it */
    assert_true(stats_get(&f->stats->latency[STATS_LATENCY_UPSTREAM]
                               .buckets[stats_latency_bucket(rtt_ns / 1000 + 1)]) == 1);
    /* The client's answer carries the time it went out. */
    assert_true(f->answers[0].sent_ns >= started_ns + 150000000u + rtt_ns);
    fake_upstream_close(&silent);
    free(a);
    fixture_free(f);
}

static void test_every_upstream_failing_gives_servfail(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("0.1", "");
    struct asking *a = ask(f, 0x5555, "www.example.org", 40081, ANSWER_UDP);
    forward_and_wait(f, a);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    struct recorded *r = &f->answers[0];
    assert_int_equal(r->rcode, WIRE_RCODE_SERVFAIL);
    assert_int_equal(r->source, ANSWER_SOURCE_ERROR);
    assert_int_equal(wire_get16(r->message), 0x5555);
    assert_int_equal(wire_get16(r->message + 2) & 0xF, WIRE_RCODE_SERVFAIL);
    free(a);
    fixture_free(f);
}

static void test_an_upstream_that_refuses_is_left_without_waiting(void **state)
{
    (void)state;
    struct fixture *f = fixture_new();
    /* A 3600 s timeout: only the ICMP error can end this attempt in time. */
    image_fixture_compile(&f->image, ONE_UPSTREAM_CONFIG, (unsigned)fake_upstream_closed_port(),
                          "3600", "");
    fixture_forward(f);
    struct asking *a = ask(f, 1, "www.example.org", 40091, ANSWER_UDP);
    forward_and_wait(f, a);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    assert_int_equal(f->answers[0].rcode, WIRE_RCODE_SERVFAIL);
    free(a);
    fixture_free(f);
}

/* ---- serving stale (RFC 8767) ---- */

/* An answer to a's question (A 192.0.2.last_octet, TTL ttl) in cache, as
 * if it had arrived age_ms ago. */
static void cache_aged_answer(struct cache *cache, const struct asking *a, uint32_t ttl,
                              uint8_t last_octet, uint64_t age_ms)
{
    struct cache_key key;
    relay_key_init(&key, &a->info.query);
    uint8_t answer[512];
    size_t len = fixture_answer(a->packet, a->len, 0, ttl, last_octet, answer);
    assert_int_equal(cache_store(cache, &key, answer, len, monotonic_now_ms() - age_ms), 0);
}

/* The TTL of the first answer record of msg (fixture_answer's layout). */
static uint32_t first_answer_ttl(const uint8_t *msg, size_t len)
{
    size_t pos = WIRE_HEADER_SIZE, name_len;
    assert_true(wire_get16(msg + 6) > 0);
    assert_int_equal(wire_name_parse(msg, len, &pos, NULL, &name_len), 0);
    pos += 4;
    assert_int_equal(wire_name_parse(msg, len, &pos, NULL, &name_len), 0);
    assert_true(pos + 8 <= len);
    return wire_get32(msg + pos + 4);
}

/* A shared cache keeping expired answers serve_stale seconds (as the data
 * plane configures it from the image), used by f. */
static struct cache *share_stale_cache(struct fixture *f, uint32_t serve_stale)
{
    struct cache *shared = cache_new(100, 3600);
    assert_non_null(shared);
    assert_int_equal(cache_configure(shared, 100, 3600, serve_stale), 0);
    forward_share_cache(f->fw, shared);
    return shared;
}

static void test_every_upstream_failing_serves_a_stale_answer_and_counts_it(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("0.1", ""); /* the upstream never answers */
    struct cache *shared = share_stale_cache(f, 86400);
    struct asking *a = ask(f, 0x5656, "www.example.org", 40101, ANSWER_UDP);
    cache_aged_answer(shared, a, 1, 7, 10000); /* expired 9 s ago */

    forward_and_wait(f, a); /* expired: a miss, and upstream first */
    uint8_t query[512];
    assert_true(fake_upstream_receive(&f->upstream, query, sizeof query, 1000) > 0);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    struct recorded *r = &f->answers[0];
    assert_int_equal(r->source, ANSWER_SOURCE_CACHE);
    assert_int_equal(r->rcode, WIRE_RCODE_NOERROR);
    assert_int_equal(wire_get16(r->message), 0x5656);
    assert_int_equal(fixture_answer_last_octet(r->message, r->len), 7);
    assert_int_equal(first_answer_ttl(r->message, r->len), CACHE_STALE_TTL);
    assert_int_equal(stats_get(&f->stats->stale_answers), 1);
    assert_int_equal(stats_get(&f->stats->upstream_timeouts), 1);
    free(a);
    fixture_free(f);
    cache_free(shared);
}

static void test_an_upstream_servfail_is_replaced_by_a_stale_answer(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", "");
    struct cache *shared = share_stale_cache(f, 86400);
    struct asking *a = ask(f, 0x5757, "www.example.org", 40102, ANSWER_UDP);
    cache_aged_answer(shared, a, 1, 8, 10000);
    forward_and_wait(f, a);

    uint8_t query[512], answer[512];
    size_t len = fake_upstream_receive(&f->upstream, query, sizeof query, 1000);
    assert_true(len > 0);
    size_t answer_len = fixture_answer(query, len, WIRE_FLAG_TC, 0, 0, answer); /* no records */
    wire_put16(answer + 2,
               (uint16_t)((wire_get16(answer + 2) & ~WIRE_FLAG_TC) | WIRE_RCODE_SERVFAIL));
    fake_upstream_send(&f->upstream, answer, answer_len);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    struct recorded *r = &f->answers[0];
    assert_int_equal(r->source, ANSWER_SOURCE_CACHE);
    assert_int_equal(r->rcode, WIRE_RCODE_NOERROR);
    assert_int_equal(fixture_answer_last_octet(r->message, r->len), 8);
    assert_int_equal(stats_get(&f->stats->stale_answers), 1);
    free(a);
    fixture_free(f);
    cache_free(shared);
}

static void test_with_serve_stale_0_every_upstream_failing_gives_servfail(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("0.1", ", \"serve_stale\": 0");
    assert_int_equal(f->image.img.settings->serve_stale, 0);
    struct cache *shared = share_stale_cache(f, 0);
    struct asking *a = ask(f, 0x5858, "www.example.org", 40103, ANSWER_UDP);
    cache_aged_answer(shared, a, 1, 7, 10000);

    forward_and_wait(f, a);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    struct recorded *r = &f->answers[0];
    assert_int_equal(r->rcode, WIRE_RCODE_SERVFAIL);
    assert_int_equal(r->source, ANSWER_SOURCE_ERROR);
    assert_int_equal(stats_get(&f->stats->stale_answers), 0);
    struct cache_stats cs;
    cache_get_stats(shared, &cs);
    assert_int_equal(cs.entries, 0); /* dropped at expiry, as before */
    free(a);
    fixture_free(f);
    cache_free(shared);
}

static void test_a_stale_name_goes_upstream_first_and_the_fresh_answer_replaces_it(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", "");
    struct cache *shared = share_stale_cache(f, 86400);
    struct asking *a = ask(f, 1, "www.example.org", 40104, ANSWER_UDP);
    cache_aged_answer(shared, a, 1, 7, 10000);

    forward_and_wait(f, a);
    upstream_answers(f, 0, 9); /* the upstream is back, with a new address */
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    assert_int_equal(f->answers[0].source, ANSWER_SOURCE_UPSTREAM);
    assert_int_equal(fixture_answer_last_octet(f->answers[0].message, f->answers[0].len), 9);

    struct asking *b = ask(f, 2, "www.example.org", 40105, ANSWER_UDP);
    size_t len = forward_from_cache(f->fw, b->packet, ANSWER_UDP, &b->info, b->response);
    assert_true(len > 0);
    assert_int_equal(fixture_answer_last_octet(b->response, len), 9);
    assert_int_equal(stats_get(&f->stats->stale_answers), 0);
    free(a);
    free(b);
    fixture_free(f);
    cache_free(shared);
}

/* Its own cache takes serve_stale from the image: an answer it kept
 * itself, expired (a 1 s TTL, waited out), is served when the upstream
 * goes silent. */
static void test_an_answer_forwarding_kept_itself_is_served_stale_after_expiry(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("0.2", "");
    struct asking *a = ask(f, 1, "www.example.org", 40106, ANSWER_UDP);
    forward_and_wait(f, a);
    uint8_t query[512], answer[512];
    size_t len = fake_upstream_receive(&f->upstream, query, sizeof query, 1000);
    assert_true(len > 0);
    fake_upstream_send(&f->upstream, answer, fixture_answer(query, len, 0, 1, 5, answer));
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    fixture_run_for(f->base, 1100); /* the TTL runs out */

    struct asking *b = ask(f, 0x5959, "www.example.org", 40107, ANSWER_UDP);
    forward_and_wait(f, b); /* a miss: expired */
    assert_true(fixture_run_until(f->base, &f->answer_count, 2, 2000));
    struct recorded *r = &f->answers[1];
    assert_int_equal(r->source, ANSWER_SOURCE_CACHE);
    assert_int_equal(wire_get16(r->message), 0x5959);
    assert_int_equal(fixture_answer_last_octet(r->message, r->len), 5);
    assert_int_equal(first_answer_ttl(r->message, r->len), CACHE_STALE_TTL);
    assert_int_equal(stats_get(&f->stats->stale_answers), 1);
    free(a);
    free(b);
    fixture_free(f);
}

/* ---- TCP ---- */

static void test_a_truncated_answer_is_asked_again_over_tcp(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", "");
    struct asking *a = ask(f, 0x6666, "www.example.org", 40101, ANSWER_TCP);
    forward_and_wait(f, a);
    upstream_answers(f, WIRE_FLAG_TC, 0);

    uint8_t query[512], answer[512];
    size_t len = fake_upstream_receive_tcp(&f->upstream, f->base, query, sizeof query, 2000);
    assert_true(len > 0);
    assert_memory_equal(query + WIRE_HEADER_SIZE, "\003www\007example\003org", 17);
    fake_upstream_send_tcp(&f->upstream, answer, fixture_answer(query, len, 0, 300, 44, answer));
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    struct recorded *r = &f->answers[0];
    assert_int_equal(wire_get16(r->message), 0x6666);
    assert_false(r->truncated);
    assert_int_equal(fixture_answer_last_octet(r->message, r->len), 44);
    assert_int_equal(stats_get(&f->stats->upstream_tcp_retries), 1);
    free(a);
    fixture_free(f);
}

/* ---- limits and life cycle ---- */

static void test_past_max_inflight_a_query_gets_servfail_at_once(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", ", \"max_inflight\": 1");
    struct asking *a = ask(f, 1, "one.example.org", 40111, ANSWER_UDP);
    struct asking *b = ask(f, 0x7777, "two.example.org", 40112, ANSWER_UDP);
    forward_and_wait(f, a);
    size_t len = forward_start(f->fw, b->packet, &b->info, &b->reply, b->response);
    assert_true(len > 0);
    assert_int_equal(b->info.source, ANSWER_SOURCE_ERROR);
    assert_int_equal(b->info.rcode, WIRE_RCODE_SERVFAIL);
    assert_int_equal(wire_get16(b->response), 0x7777);
    assert_int_equal(stats_get(&f->stats->inflight_overflow), 1);
    free(a);
    free(b);
    fixture_free(f);
}

/* Finding 8: the descriptor budget caps upstream sockets below
 * max_inflight (1024 by default): past it SERVFAIL at once, counted, and
 * no socket opened. */
static void test_past_the_socket_budget_a_query_gets_servfail_at_once(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", "");
    forward_limit_sockets(f->fw, 2);
    struct asking *a = ask(f, 1, "one.example.org", 40121, ANSWER_UDP);
    struct asking *b = ask(f, 2, "two.example.org", 40122, ANSWER_UDP);
    struct asking *c = ask(f, 0x7878, "three.example.org", 40123, ANSWER_UDP);
    forward_and_wait(f, a);
    forward_and_wait(f, b);
    size_t len = forward_start(f->fw, c->packet, &c->info, &c->reply, c->response);
    assert_true(len > 0);
    assert_int_equal(c->info.rcode, WIRE_RCODE_SERVFAIL);
    assert_int_equal(wire_get16(c->response), 0x7878);
    assert_int_equal(stats_get(&f->stats->inflight_overflow), 1);
    assert_int_equal(stats_get(&f->stats->upstream_queries), 2);
    /* An answer frees a socket: the next query goes out again. */
    upstream_answers(f, 0, 9);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    forward_and_wait(f, c);
    free(a);
    free(b);
    free(c);
    fixture_free(f);
}

static void test_freeing_forwarding_drops_the_queries_in_flight(void **state)
{
    (void)state;
    struct fixture *f = fixture_one_upstream("2", "");
    struct asking *a = ask(f, 1, "www.example.org", 40121, ANSWER_UDP);
    forward_and_wait(f, a);
    forward_free(f->fw);
    f->fw = NULL;
    fixture_run_for(f->base, 50);
    assert_int_equal(f->answer_count, 0);
    free(a);
    fixture_free(f);
}

/* ---- rebinding protection (server.rebind_protection) ---- */

/* Forwarding to f->upstream for every name, corp.example included (a
 * forward zone of its own on the same server), rebind_protection as
 * given. */
static struct fixture *fixture_rebind(bool protection)
{
    struct fixture *f = fixture_new();
    char more[160];
    snprintf(more, sizeof more,
             ", \"rebind_protection\": %s, \"forward_zones\": {\"corp.example\": "
             "[\"127.0.0.1:%u\"]}",
             protection ? "true" : "false", (unsigned)f->upstream.port);
    image_fixture_compile(&f->image, ONE_UPSTREAM_CONFIG, (unsigned)f->upstream.port, "2", more);
    fixture_forward(f);
    return f;
}

/* The upstream takes one query and answers it with one A record, addr. */
static void upstream_answers_address(struct fixture *f, const uint8_t addr[4])
{
    uint8_t query[512], answer[512];
    size_t len = fake_upstream_receive(&f->upstream, query, sizeof query, 1000);
    assert_true(len > 0);
    size_t answer_len = fixture_answer(query, len, 0, 300, 0, answer);
    memcpy(answer + answer_len - 4, addr, 4);
    fake_upstream_send(&f->upstream, answer, answer_len);
}

static const uint8_t PRIVATE_ADDRESS[4] = {192, 168, 1, 10};
static const uint8_t PUBLIC_ADDRESS[4] = {93, 184, 216, 34};

static void test_with_rebind_protection_a_private_answer_becomes_nodata_and_is_counted(void **state)
{
    (void)state;
    struct fixture *f = fixture_rebind(true);
    struct asking *a = ask(f, 0x7001, "evil.example", 40201, ANSWER_UDP);
    forward_and_wait(f, a);
    upstream_answers_address(f, PRIVATE_ADDRESS);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    struct recorded *r = &f->answers[0];
    assert_int_equal(wire_get16(r->message), 0x7001);
    assert_int_equal(r->rcode, WIRE_RCODE_NOERROR);
    assert_int_equal(wire_get16(r->message + 6), 0); /* no answer record */
    assert_int_equal(wire_get16(r->message + 8), 0);
    assert_int_equal(stats_get(&f->stats->rebind_blocked), 1);
    free(a);
    fixture_free(f);
}

static void test_a_blocked_answer_is_not_cached(void **state)
{
    (void)state;
    struct fixture *f = fixture_rebind(true);
    struct asking *a = ask(f, 1, "evil.example", 40202, ANSWER_UDP);
    forward_and_wait(f, a);
    upstream_answers_address(f, PRIVATE_ADDRESS);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));

    struct asking *b = ask(f, 2, "evil.example", 40203, ANSWER_UDP);
    assert_int_equal(forward_from_cache(f->fw, b->packet, ANSWER_UDP, &b->info, b->response), 0);
    free(a);
    free(b);
    fixture_free(f);
}

static void test_a_blocked_answer_is_not_replaced_by_a_stale_one(void **state)
{
    (void)state;
    struct fixture *f = fixture_rebind(true);
    struct cache *shared = share_stale_cache(f, 86400);
    struct asking *a = ask(f, 0x7002, "evil.example", 40204, ANSWER_UDP);
    cache_aged_answer(shared, a, 1, 7, 10000); /* a public one, expired 9 s ago */
    forward_and_wait(f, a);
    upstream_answers_address(f, PRIVATE_ADDRESS);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    struct recorded *r = &f->answers[0];
    assert_int_equal(r->source, ANSWER_SOURCE_UPSTREAM);
    assert_int_equal(wire_get16(r->message + 6), 0);
    assert_int_equal(stats_get(&f->stats->stale_answers), 0);
    assert_int_equal(stats_get(&f->stats->rebind_blocked), 1);
    free(a);
    fixture_free(f);
    cache_free(shared);
}

static void test_with_rebind_protection_a_public_answer_is_relayed(void **state)
{
    (void)state;
    struct fixture *f = fixture_rebind(true);
    struct asking *a = ask(f, 0x7003, "good.example", 40205, ANSWER_UDP);
    forward_and_wait(f, a);
    upstream_answers_address(f, PUBLIC_ADDRESS);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    assert_int_equal(wire_get16(f->answers[0].message + 6), 1);
    assert_int_equal(fixture_answer_last_octet(f->answers[0].message, f->answers[0].len), 34);
    assert_int_equal(stats_get(&f->stats->rebind_blocked), 0);
    free(a);
    fixture_free(f);
}

static void test_a_forward_zone_name_may_have_a_private_answer(void **state)
{
    (void)state;
    struct fixture *f = fixture_rebind(true);
    struct asking *a = ask(f, 0x7004, "host.corp.example", 40206, ANSWER_UDP);
    forward_and_wait(f, a);
    upstream_answers_address(f, PRIVATE_ADDRESS);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    assert_int_equal(fixture_answer_last_octet(f->answers[0].message, f->answers[0].len), 10);
    assert_int_equal(stats_get(&f->stats->rebind_blocked), 0);
    free(a);
    fixture_free(f);
}

static void test_without_rebind_protection_a_private_answer_is_relayed(void **state)
{
    (void)state;
    struct fixture *f = fixture_rebind(false);
    struct asking *a = ask(f, 0x7005, "evil.example", 40207, ANSWER_UDP);
    forward_and_wait(f, a);
    upstream_answers_address(f, PRIVATE_ADDRESS);
    assert_true(fixture_run_until(f->base, &f->answer_count, 1, 2000));
    assert_int_equal(fixture_answer_last_octet(f->answers[0].message, f->answers[0].len), 10);
    assert_int_equal(stats_get(&f->stats->rebind_blocked), 0);
    free(a);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_upstream_answer_reaches_the_client_later),
        cmocka_unit_test(test_the_answer_goes_with_a_copy_of_the_clients_reply),
        cmocka_unit_test(test_the_upstream_query_asks_for_recursion_in_lowercase),
        cmocka_unit_test(test_identical_questions_in_flight_share_one_upstream_query),
        cmocka_unit_test(test_a_udp_client_asking_again_gets_one_answer),
        cmocka_unit_test(test_an_upstream_answer_is_served_from_the_cache_next_time),
        cmocka_unit_test(test_a_new_image_empties_the_cache),
        cmocka_unit_test(test_without_a_cache_every_question_goes_upstream),
        cmocka_unit_test(test_workers_sharing_a_cache_answer_from_what_another_fetched),
        cmocka_unit_test(test_an_answer_asked_before_the_owner_flushed_is_not_cached),
        cmocka_unit_test(test_each_of_two_workers_takes_half_of_max_inflight),
        cmocka_unit_test(test_an_answer_with_another_id_is_ignored),
        cmocka_unit_test(test_a_silent_upstream_times_out_and_the_next_one_answers),
        cmocka_unit_test(test_the_upstream_round_trip_is_timed_from_the_attempt_that_answered),
        cmocka_unit_test(test_every_upstream_failing_gives_servfail),
        cmocka_unit_test(test_an_upstream_that_refuses_is_left_without_waiting),
        cmocka_unit_test(test_every_upstream_failing_serves_a_stale_answer_and_counts_it),
        cmocka_unit_test(test_an_upstream_servfail_is_replaced_by_a_stale_answer),
        cmocka_unit_test(test_with_serve_stale_0_every_upstream_failing_gives_servfail),
        cmocka_unit_test(test_a_stale_name_goes_upstream_first_and_the_fresh_answer_replaces_it),
        cmocka_unit_test(test_an_answer_forwarding_kept_itself_is_served_stale_after_expiry),
        cmocka_unit_test(test_a_truncated_answer_is_asked_again_over_tcp),
        cmocka_unit_test(test_past_max_inflight_a_query_gets_servfail_at_once),
        cmocka_unit_test(test_past_the_socket_budget_a_query_gets_servfail_at_once),
        cmocka_unit_test(test_freeing_forwarding_drops_the_queries_in_flight),
        cmocka_unit_test(
            test_with_rebind_protection_a_private_answer_becomes_nodata_and_is_counted),
        cmocka_unit_test(test_a_blocked_answer_is_not_cached),
        cmocka_unit_test(test_a_blocked_answer_is_not_replaced_by_a_stale_one),
        cmocka_unit_test(test_with_rebind_protection_a_public_answer_is_relayed),
        cmocka_unit_test(test_a_forward_zone_name_may_have_a_private_answer),
        cmocka_unit_test(test_without_rebind_protection_a_private_answer_is_relayed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
