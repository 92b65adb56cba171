/* Unit tests for dataplane/query.c, the one query path behind both
 * transports: what is answered now (into the caller's buffer) and what
 * later (through the reply's send callback, recorded here), and that each
 * answer is counted and logged once. Forwarding goes to a fake upstream on
 * loopback (upstream_fixture.c); no transport is involved. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "query.h"
#include "querylog.h"
#include "reply.h"
#include "stats.h"
#include "upstream_fixture.h"
#include "wire.h"

#define JSON(...) #__VA_ARGS__

/* clang-format off */
/* x.test is ours (www.x.test has an address, bad.x.test is blocked); the
 * rest goes to one upstream (%u: its port on 127.0.0.1). log_queries is
 * %s. */
static const char QUERY_CONFIG[] = JSON({
    "server": {"upstream": ["127.0.0.1:%u"], "mgmt_port": 0, "hot_reload": false,
               "upstream_timeout": 2, "log_queries": %s},
    "zones": {
        "x.test": {
            "soa": {"mname": "ns1.x.test", "rname": "hostmaster.x.test", "serial": 1,
                    "refresh": 3600, "retry": 900, "expire": 604800, "minimum": 300},
            "ns": ["ns1.x.test"]
        }
    },
    "records": [{"name": "www.x.test", "type": "A", "value": "10.0.0.80"}],
    "rewrites": [{"match": "bad.x.test", "action": "nxdomain"}]
});
/* QUERY_CONFIG with response rate limiting: one answer a second, slip 2. */
static const char RRL_CONFIG[] = JSON({
    "server": {"upstream": ["127.0.0.1:%u"], "mgmt_port": 0, "hot_reload": false,
               "upstream_timeout": 2, "log_queries": %s, "rrl_ratelimit": 1, "rrl_slip": 2},
    "zones": {
        "x.test": {
            "soa": {"mname": "ns1.x.test", "rname": "hostmaster.x.test", "serial": 1,
                    "refresh": 3600, "retry": 900, "expire": 604800, "minimum": 300},
            "ns": ["ns1.x.test"]
        }
    },
    "records": [{"name": "www.x.test", "type": "A", "value": "10.0.0.80"}]
});
/* x.test's alias.x.test leaves our data for www.example.org, its
 * loop.x.test for ext.example.org (which the upstream below points back). */
static const char CHASE_CONFIG[] = JSON({
    "server": {"upstream": ["127.0.0.1:%u"], "mgmt_port": 0, "hot_reload": false,
               "upstream_timeout": 2, "log_queries": %s},
    "zones": {
        "x.test": {
            "soa": {"mname": "ns1.x.test", "rname": "hostmaster.x.test", "serial": 1,
                    "refresh": 3600, "retry": 900, "expire": 604800, "minimum": 300},
            "ns": ["ns1.x.test"]
        }
    },
    "records": [{"name": "alias.x.test", "type": "CNAME", "value": "www.example.org"},
                {"name": "loop.x.test", "type": "CNAME", "value": "ext.example.org"}]
});
/* clang-format on */

/* What the reply's send callback was given. */
struct sent {
    unsigned count;
    uint8_t message[4096];
    size_t len;
    struct reply reply;
};

/* The send callback's one argument is the reply: it finds the recorder
 * through this (one fixture at a time). */
static struct sent *recorder;

static void record_send(const struct reply *reply, const uint8_t *answer, size_t len)
{
    assert_true(len <= sizeof recorder->message);
    recorder->count++;
    memcpy(recorder->message, answer, len);
    recorder->len = len;
    recorder->reply = *reply;
}

struct fixture {
    struct event_base *base;
    struct image_fixture image;
    struct stats_worker *stats;
    struct fake_upstream upstream;
    struct query_path path;
    struct querylog *log;
    int log_pipe[2];
    struct sent sent;
    uint8_t response[ANSWER_BUFFER_SIZE];
    size_t response_len;
};

/* A query path over config (QUERY_CONFIG's parameters); with a query log
 * on a pipe when logging. */
static struct fixture *fixture_new_config(const char *config, bool logging)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->base = event_base_new();
    assert_non_null(f->base);
    f->stats = calloc(1, sizeof *f->stats);
    assert_non_null(f->stats);
    fake_upstream_open(&f->upstream);
    image_fixture_compile(&f->image, config, (unsigned)f->upstream.port,
                          logging ? "true" : "false");
    f->log_pipe[0] = f->log_pipe[1] = -1;
    if (logging) {
        assert_int_equal(pipe(f->log_pipe), 0);
        assert_int_equal(fcntl(f->log_pipe[0], F_SETFL, O_NONBLOCK), 0);
        f->log = querylog_new(f->log_pipe[1], false);
        assert_non_null(f->log);
    }
    assert_int_equal(query_path_init(&f->path, f->base, &f->image.img, f->stats, f->log), 0);
    recorder = &f->sent;
    return f;
}

static struct fixture *fixture_new(bool logging)
{
    return fixture_new_config(QUERY_CONFIG, logging);
}

static void fixture_free(struct fixture *f)
{
    query_path_destroy(&f->path);
    querylog_free(f->log);
    if (f->log_pipe[0] >= 0)
        close(f->log_pipe[0]);
    fake_upstream_close(&f->upstream);
    image_fixture_free(&f->image);
    event_base_free(f->base);
    free(f->stats);
    free(f);
}

/* A reply as a transport fills it, from client (text) and port. */
static struct reply reply_from(const char *client, uint16_t port, enum answer_transport transport)
{
    struct reply reply;
    memset(&reply, 0, sizeof reply);
    struct sockaddr_in in = fixture_client(client, port);
    memcpy(&reply.client, &in, sizeof in);
    reply.client_len = sizeof in;
    reply.transport = transport;
    reply.send = record_send;
    return reply;
}

static enum query_outcome handle(struct fixture *f, const struct reply *reply, uint16_t id,
                                 const char *name)
{
    uint8_t packet[512];
    size_t len = fixture_query(packet, id, name, WIRE_TYPE_A, false);
    return query_handle(&f->path, packet, len, reply, f->response, &f->response_len);
}

static uint64_t queries(const struct fixture *f, enum stats_transport transport)
{
    return stats_get(&f->stats->queries[transport]);
}

static uint64_t source(const struct fixture *f, enum stats_source s)
{
    return stats_get(&f->stats->sources[s]);
}

/* The upstream takes one query and answers 192.0.2.last_octet. */
static void upstream_answers(struct fixture *f, uint8_t last_octet)
{
    uint8_t query[512], answer[512];
    size_t len = fake_upstream_receive(&f->upstream, query, sizeof query, 1000);
    assert_true(len > 0);
    fake_upstream_send(&f->upstream, answer,
                       fixture_answer(query, len, 0, 300, last_octet, answer));
}

/* ---- answered now ---- */

static void test_a_name_of_ours_is_answered_now_and_counted_once(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    struct reply reply = reply_from("127.0.0.1", 50001, ANSWER_UDP);
    assert_int_equal(handle(f, &reply, 0x0101, "www.x.test"), QUERY_ANSWERED);
    assert_int_equal(wire_get16(f->response), 0x0101);
    assert_true(wire_get16(f->response + 2) & WIRE_FLAG_AA);
    assert_int_equal(wire_get16(f->response + 6), 1);
    assert_int_equal(f->sent.count, 0);
    assert_int_equal(queries(f, STATS_UDP), 1);
    assert_int_equal(source(f, STATS_SOURCE_LOCAL), 1);
    assert_int_equal(stats_get(&f->stats->rcodes[stats_rcode_index(WIRE_RCODE_NOERROR)]), 1);
    fixture_free(f);
}

static void test_a_name_not_ours_is_refused_to_a_client_that_may_not_recurse(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    struct reply reply = reply_from("192.0.2.99", 50002, ANSWER_UDP);
    assert_int_equal(handle(f, &reply, 1, "www.example.org"), QUERY_ANSWERED);
    assert_int_equal(wire_get16(f->response + 2) & 0xF, WIRE_RCODE_REFUSED);
    assert_int_equal(source(f, STATS_SOURCE_REFUSED), 1);
    uint8_t nothing[512];
    assert_int_equal(fake_upstream_receive(&f->upstream, nothing, sizeof nothing, 50), 0);
    fixture_free(f);
}

static void test_a_blocked_name_is_nxdomain_counted_as_blocked(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    struct reply reply = reply_from("127.0.0.1", 50003, ANSWER_UDP);
    assert_int_equal(handle(f, &reply, 1, "bad.x.test"), QUERY_ANSWERED);
    assert_int_equal(wire_get16(f->response + 2) & 0xF, WIRE_RCODE_NXDOMAIN);
    assert_int_equal(source(f, STATS_SOURCE_BLOCKED), 1);
    assert_int_equal(source(f, STATS_SOURCE_LOCAL), 0);
    fixture_free(f);
}

static void test_queries_over_tcp_count_as_tcp(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    struct reply reply = reply_from("127.0.0.1", 50004, ANSWER_TCP);
    assert_int_equal(handle(f, &reply, 1, "www.x.test"), QUERY_ANSWERED);
    assert_int_equal(queries(f, STATS_TCP), 1);
    assert_int_equal(queries(f, STATS_UDP), 0);
    fixture_free(f);
}

/* ---- not a query ---- */

static void test_a_packet_that_is_no_query_is_dropped_and_counted_as_dropped(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    struct reply reply = reply_from("127.0.0.1", 50005, ANSWER_UDP);
    const uint8_t garbage[5] = {1, 2, 3, 4, 5};
    assert_int_equal(
        query_handle(&f->path, garbage, sizeof garbage, &reply, f->response, &f->response_len),
        QUERY_DROPPED);
    assert_int_equal(stats_get(&f->stats->dropped), 1);
    assert_int_equal(queries(f, STATS_UDP), 0);
    assert_int_equal(f->sent.count, 0);
    fixture_free(f);
}

/* ---- answered later ---- */

static void test_a_forwarded_answer_goes_through_the_reply_later_counted_once(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    struct reply reply = reply_from("127.0.0.1", 50006, ANSWER_UDP);
    assert_int_equal(handle(f, &reply, 0x0202, "www.example.org"), QUERY_FORWARDED);
    assert_int_equal(f->sent.count, 0);
    assert_int_equal(queries(f, STATS_UDP), 0); /* not yet: when it is answered */

    upstream_answers(f, 3);
    assert_true(fixture_run_until(f->base, &f->sent.count, 1, 2000));
    assert_int_equal(wire_get16(f->sent.message), 0x0202);
    assert_int_equal(fixture_answer_last_octet(f->sent.message, f->sent.len), 3);
    assert_memory_equal(&f->sent.reply.client, &reply.client, reply.client_len);
    assert_int_equal(queries(f, STATS_UDP), 1);
    assert_int_equal(source(f, STATS_SOURCE_UPSTREAM), 1);
    fixture_run_for(f->base, 50);
    assert_int_equal(f->sent.count, 1);
    assert_int_equal(queries(f, STATS_UDP), 1);
    fixture_free(f);
}

static void test_a_cached_answer_is_answered_now_counted_as_cache(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    struct reply first = reply_from("127.0.0.1", 50007, ANSWER_UDP);
    assert_int_equal(handle(f, &first, 1, "www.example.org"), QUERY_FORWARDED);
    upstream_answers(f, 4);
    assert_true(fixture_run_until(f->base, &f->sent.count, 1, 2000));

    struct reply second = reply_from("127.0.0.1", 50008, ANSWER_TCP);
    assert_int_equal(handle(f, &second, 0x0303, "www.example.org"), QUERY_ANSWERED);
    assert_int_equal(wire_get16(f->response), 0x0303);
    assert_int_equal(fixture_answer_last_octet(f->response, f->response_len), 4);
    assert_int_equal(f->sent.count, 1);
    assert_int_equal(source(f, STATS_SOURCE_CACHE), 1);
    assert_int_equal(queries(f, STATS_TCP), 1);
    fixture_free(f);
}

static void test_every_upstream_failing_is_servfail_counted_as_error(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    struct reply reply = reply_from("127.0.0.1", 50009, ANSWER_UDP);
    assert_int_equal(handle(f, &reply, 1, "www.example.org"), QUERY_FORWARDED);
    /* The upstream answers with a broken message: the only server failed. */
    uint8_t query[512];
    size_t len = fake_upstream_receive(&f->upstream, query, sizeof query, 1000);
    assert_true(len > 0);
    wire_put16(query + 2, WIRE_FLAG_QR | WIRE_FLAG_RD);
    wire_put16(query + 6, 1); /* an answer record that is not there */
    fake_upstream_send(&f->upstream, query, len);
    assert_true(fixture_run_until(f->base, &f->sent.count, 1, 2000));
    assert_int_equal(wire_get16(f->sent.message + 2) & 0xF, WIRE_RCODE_SERVFAIL);
    assert_int_equal(source(f, STATS_SOURCE_ERROR), 1);
    assert_int_equal(stats_get(&f->stats->rcodes[stats_rcode_index(WIRE_RCODE_SERVFAIL)]), 1);
    fixture_free(f);
}

/* ---- RD=0: local data and the cache only ---- */

/* handle() with the query's RD bit cleared. */
static enum query_outcome handle_norecurse(struct fixture *f, const struct reply *reply,
                                           uint16_t id, const char *name)
{
    uint8_t packet[512];
    size_t len = fixture_query(packet, id, name, WIRE_TYPE_A, false);
    wire_put16(packet + 2, (uint16_t)(wire_get16(packet + 2) & ~WIRE_FLAG_RD));
    return query_handle(&f->path, packet, len, reply, f->response, &f->response_len);
}

static void test_an_rd0_query_for_a_name_not_ours_is_refused_not_forwarded(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    struct reply reply = reply_from("127.0.0.1", 50012, ANSWER_UDP);
    assert_int_equal(handle_norecurse(f, &reply, 0x0404, "www.example.org"), QUERY_ANSWERED);
    uint16_t flags = wire_get16(f->response + 2);
    assert_int_equal(wire_get16(f->response), 0x0404);
    assert_int_equal(flags & 0xF, WIRE_RCODE_REFUSED);
    assert_false(flags & WIRE_FLAG_RD); /* echoed */
    assert_true(flags & WIRE_FLAG_RA);  /* this client may recurse: it just did not ask */
    assert_int_equal(wire_get16(f->response + 4), 1); /* the question echoed */
    assert_int_equal(source(f, STATS_SOURCE_REFUSED), 1);
    assert_int_equal(queries(f, STATS_UDP), 1);
    uint8_t nothing[512];
    assert_int_equal(fake_upstream_receive(&f->upstream, nothing, sizeof nothing, 100), 0);
    assert_int_equal(stats_get(&f->stats->upstream_queries), 0);
    fixture_free(f);
}

static void test_an_rd0_query_is_answered_from_the_cache(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    struct reply first = reply_from("127.0.0.1", 50013, ANSWER_UDP);
    assert_int_equal(handle(f, &first, 1, "www.example.org"), QUERY_FORWARDED);
    upstream_answers(f, 6);
    assert_true(fixture_run_until(f->base, &f->sent.count, 1, 2000));

    struct reply second = reply_from("127.0.0.1", 50014, ANSWER_TCP);
    assert_int_equal(handle_norecurse(f, &second, 0x0505, "www.example.org"), QUERY_ANSWERED);
    assert_int_equal(wire_get16(f->response), 0x0505);
    assert_false(wire_get16(f->response + 2) & WIRE_FLAG_RD);
    assert_int_equal(fixture_answer_last_octet(f->response, f->response_len), 6);
    assert_int_equal(source(f, STATS_SOURCE_CACHE), 1);
    fixture_free(f);
}

static void test_an_rd0_query_for_a_name_of_ours_is_answered(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    struct reply reply = reply_from("127.0.0.1", 50015, ANSWER_UDP);
    assert_int_equal(handle_norecurse(f, &reply, 1, "www.x.test"), QUERY_ANSWERED);
    assert_int_equal(wire_get16(f->response + 2) & 0xF, WIRE_RCODE_NOERROR);
    assert_true(wire_get16(f->response + 2) & WIRE_FLAG_AA);
    assert_int_equal(wire_get16(f->response + 6), 1);
    assert_int_equal(source(f, STATS_SOURCE_LOCAL), 1);
    fixture_free(f);
}

/* ---- CNAME chasing ---- */

/* The type of answer record i of msg, or 0; *octet the last octet of the
 * first A record, when there is one. */
static uint16_t answer_type_at(const uint8_t *msg, size_t len, unsigned i, int *octet)
{
    size_t pos = WIRE_HEADER_SIZE, name_len;
    uint16_t type = 0;
    *octet = -1;
    if (wire_name_parse(msg, len, &pos, NULL, &name_len) < 0)
        return 0;
    pos += 4;
    for (unsigned k = 0; k < wire_get16(msg + 6); k++) {
        if (wire_name_parse(msg, len, &pos, NULL, &name_len) < 0 || pos + 10 > len)
            return 0;
        uint16_t t = wire_get16(msg + pos);
        size_t rdlength = wire_get16(msg + pos + 8);
        if (t == WIRE_TYPE_A && *octet < 0 && rdlength == 4)
            *octet = msg[pos + 13];
        if (k == i)
            type = t;
        pos += 10 + rdlength;
    }
    return type;
}

/* The upstream takes one query, which must be for name (text form
 * "www.example.org"), and answers it 192.0.2.last_octet. */
static void upstream_answers_for(struct fixture *f, const char *name, uint8_t last_octet)
{
    uint8_t query[512], answer[512], expected[WIRE_NAME_MAX];
    char err[64];
    size_t expected_len = 0;
    assert_int_equal(wire_name_from_text(name, expected, &expected_len, err, sizeof err), 0);
    size_t len = fake_upstream_receive(&f->upstream, query, sizeof query, 1000);
    assert_true(len > WIRE_HEADER_SIZE + expected_len);
    assert_true(wire_name_equal(query + WIRE_HEADER_SIZE, expected_len, expected, expected_len));
    fake_upstream_send(&f->upstream, answer,
                       fixture_answer(query, len, 0, 300, last_octet, answer));
}

static void test_a_cname_out_of_our_data_is_chased_and_answered_later_counted_once(void **state)
{
    (void)state;
    struct fixture *f = fixture_new_config(CHASE_CONFIG, false);
    struct reply reply = reply_from("127.0.0.1", 50030, ANSWER_UDP);
    assert_int_equal(handle(f, &reply, 0x0606, "alias.x.test"), QUERY_FORWARDED);
    assert_int_equal(queries(f, STATS_UDP), 0);
    upstream_answers_for(f, "www.example.org", 5);
    assert_true(fixture_run_until(f->base, &f->sent.count, 1, 2000));
    const uint8_t *m = f->sent.message;
    int octet;
    assert_int_equal(wire_get16(m), 0x0606);
    assert_int_equal(wire_get16(m + 2) & 0xF, WIRE_RCODE_NOERROR);
    assert_false(wire_get16(m + 2) & WIRE_FLAG_AA); /* not all of it is ours */
    assert_true(wire_get16(m + 2) & WIRE_FLAG_RA);
    assert_int_equal(wire_get16(m + 6), 2);
    assert_int_equal(answer_type_at(m, f->sent.len, 0, &octet), WIRE_TYPE_CNAME);
    assert_int_equal(answer_type_at(m, f->sent.len, 1, &octet), WIRE_TYPE_A);
    assert_int_equal(octet, 5);
    assert_int_equal(queries(f, STATS_UDP), 1);
    assert_int_equal(source(f, STATS_SOURCE_UPSTREAM), 1);
    assert_int_equal(source(f, STATS_SOURCE_LOCAL), 0);
    fixture_run_for(f->base, 50);
    assert_int_equal(f->sent.count, 1);
    assert_int_equal(queries(f, STATS_UDP), 1);
    fixture_free(f);
}

static void test_a_chased_target_in_the_cache_is_answered_now(void **state)
{
    (void)state;
    struct fixture *f = fixture_new_config(CHASE_CONFIG, false);
    struct reply first = reply_from("127.0.0.1", 50031, ANSWER_UDP);
    assert_int_equal(handle(f, &first, 1, "alias.x.test"), QUERY_FORWARDED);
    upstream_answers_for(f, "www.example.org", 6);
    assert_true(fixture_run_until(f->base, &f->sent.count, 1, 2000));

    struct reply second = reply_from("127.0.0.1", 50032, ANSWER_TCP);
    assert_int_equal(handle(f, &second, 0x0707, "alias.x.test"), QUERY_ANSWERED);
    int octet;
    assert_int_equal(wire_get16(f->response), 0x0707);
    assert_int_equal(wire_get16(f->response + 6), 2);
    assert_int_equal(answer_type_at(f->response, f->response_len, 0, &octet), WIRE_TYPE_CNAME);
    assert_int_equal(octet, 6);
    assert_int_equal(source(f, STATS_SOURCE_CACHE), 1);
    assert_int_equal(queries(f, STATS_TCP), 1);
    uint8_t nothing[512];
    assert_int_equal(fake_upstream_receive(&f->upstream, nothing, sizeof nothing, 50), 0);
    fixture_free(f);
}

/* Our CNAME alone, AA=1, and nothing sent upstream. */
static void assert_our_cname_alone(struct fixture *f)
{
    int octet;
    assert_int_equal(wire_get16(f->response + 2) & 0xF, WIRE_RCODE_NOERROR);
    assert_true(wire_get16(f->response + 2) & WIRE_FLAG_AA);
    assert_int_equal(wire_get16(f->response + 6), 1);
    assert_int_equal(answer_type_at(f->response, f->response_len, 0, &octet), WIRE_TYPE_CNAME);
    assert_int_equal(source(f, STATS_SOURCE_LOCAL), 1);
    uint8_t nothing[512];
    assert_int_equal(fake_upstream_receive(&f->upstream, nothing, sizeof nothing, 50), 0);
}

static void test_an_rd0_query_gets_our_cname_alone(void **state)
{
    (void)state;
    struct fixture *f = fixture_new_config(CHASE_CONFIG, false);
    struct reply reply = reply_from("127.0.0.1", 50033, ANSWER_UDP);
    assert_int_equal(handle_norecurse(f, &reply, 1, "alias.x.test"), QUERY_ANSWERED);
    assert_our_cname_alone(f);
    fixture_free(f);
}

static void test_a_client_that_may_not_recurse_gets_our_cname_alone(void **state)
{
    (void)state;
    struct fixture *f = fixture_new_config(CHASE_CONFIG, false);
    struct reply reply = reply_from("192.0.2.99", 50034, ANSWER_UDP);
    assert_int_equal(handle(f, &reply, 1, "alias.x.test"), QUERY_ANSWERED);
    assert_our_cname_alone(f);
    fixture_free(f);
}

static void test_a_loop_through_the_upstream_ends_after_one_upstream_query(void **state)
{
    (void)state;
    struct fixture *f = fixture_new_config(CHASE_CONFIG, false);
    struct reply reply = reply_from("127.0.0.1", 50035, ANSWER_UDP);
    assert_int_equal(handle(f, &reply, 1, "loop.x.test"), QUERY_FORWARDED);
    /* ext.example.org CNAME loop.x.test, its owner a pointer to the question */
    uint8_t query[512];
    size_t len = fake_upstream_receive(&f->upstream, query, sizeof query, 1000);
    assert_true(len > 0);
    size_t question_end = WIRE_HEADER_SIZE + 17 + 4; /* ext.example.org */
    static const uint8_t record[] = {0xC0, 0x0C, 0,   5,   0, 1,   0, 0,   1,   44,  0,   13, 4,
                                     'l',  'o',  'o', 'p', 1, 'x', 4, 't', 'e', 's', 't', 0};
    uint8_t answer[512];
    memcpy(answer, query, question_end);
    wire_put16(answer + 2, WIRE_FLAG_QR | WIRE_FLAG_RD | WIRE_FLAG_RA);
    wire_put16(answer + 6, 1);
    wire_put16(answer + 10, 0);
    memcpy(answer + question_end, record, sizeof record);
    fake_upstream_send(&f->upstream, answer, question_end + sizeof record);
    assert_true(fixture_run_until(f->base, &f->sent.count, 1, 2000));
    int octet;
    assert_int_equal(wire_get16(f->sent.message + 6), 2);
    assert_int_equal(answer_type_at(f->sent.message, f->sent.len, 1, &octet), WIRE_TYPE_CNAME);
    uint8_t nothing[512];
    assert_int_equal(fake_upstream_receive(&f->upstream, nothing, sizeof nothing, 50), 0);
    assert_int_equal(stats_get(&f->stats->upstream_queries), 1);
    fixture_free(f);
}

static void test_a_chase_waiting_for_the_upstream_is_freed_with_the_query_path(void **state)
{
    (void)state;
    struct fixture *f = fixture_new_config(CHASE_CONFIG, false);
    struct reply reply = reply_from("127.0.0.1", 50036, ANSWER_UDP);
    assert_int_equal(handle(f, &reply, 1, "alias.x.test"), QUERY_FORWARDED);
    assert_non_null(f->path.chases);
    fixture_free(f); /* its client gets nothing; sanitizer builds check the rest */
}

/* ---- response rate limiting ---- */

static void test_past_the_rate_a_udp_client_outside_recursion_gets_drop_then_tc(void **state)
{
    (void)state;
    struct fixture *f = fixture_new_config(RRL_CONFIG, false);
    struct reply reply = reply_from("192.0.2.99", 50016, ANSWER_UDP);
    assert_int_equal(handle(f, &reply, 1, "www.x.test"), QUERY_ANSWERED);
    assert_int_equal(wire_get16(f->response + 6), 1);
    assert_int_equal(handle(f, &reply, 2, "www.x.test"), QUERY_DROPPED);
    assert_int_equal(stats_get(&f->stats->rrl_dropped), 1);
    assert_int_equal(handle(f, &reply, 3, "www.x.test"), QUERY_ANSWERED);
    uint16_t flags = wire_get16(f->response + 2);
    assert_true(flags & WIRE_FLAG_TC);
    assert_int_equal(wire_get16(f->response), 3);
    assert_int_equal(wire_get16(f->response + 4), 1); /* the question */
    assert_int_equal(wire_get16(f->response + 6), 0);
    assert_int_equal(wire_get16(f->response + 10), 0);
    assert_int_equal(f->response_len, 12 + 12 + 4); /* header, www.x.test, type and class */
    assert_int_equal(stats_get(&f->stats->rrl_slipped), 1);
    assert_int_equal(stats_get(&f->stats->truncated), 1);
    assert_int_equal(stats_get(&f->stats->dropped), 0);
    fixture_free(f);
}

static void test_rate_limiting_spares_tcp_and_clients_that_may_recurse(void **state)
{
    (void)state;
    struct fixture *f = fixture_new_config(RRL_CONFIG, false);
    struct reply tcp = reply_from("192.0.2.99", 50017, ANSWER_TCP);
    struct reply inside = reply_from("127.0.0.1", 50018, ANSWER_UDP);
    for (uint16_t id = 1; id <= 5; id++) {
        assert_int_equal(handle(f, &tcp, id, "www.x.test"), QUERY_ANSWERED);
        assert_false(wire_get16(f->response + 2) & WIRE_FLAG_TC);
        assert_int_equal(handle(f, &inside, id, "www.x.test"), QUERY_ANSWERED);
        assert_false(wire_get16(f->response + 2) & WIRE_FLAG_TC);
    }
    assert_int_equal(stats_get(&f->stats->rrl_dropped) + stats_get(&f->stats->rrl_slipped), 0);
    fixture_free(f);
}

static void test_without_rrl_ratelimit_nothing_is_limited(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    struct reply reply = reply_from("192.0.2.99", 50019, ANSWER_UDP);
    for (uint16_t id = 1; id <= 20; id++)
        assert_int_equal(handle(f, &reply, id, "www.x.test"), QUERY_ANSWERED);
    assert_int_equal(stats_get(&f->stats->rrl_dropped), 0);
    fixture_free(f);
}

/* ---- the query log ---- */

static void test_each_answer_is_logged_once_now_or_later(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(true);
    struct reply local = reply_from("127.0.0.1", 50010, ANSWER_UDP);
    local.received_ns = monotonic_now_ns();
    assert_int_equal(handle(f, &local, 1, "www.x.test"), QUERY_ANSWERED);
    struct reply forwarded = reply_from("127.0.0.1", 50011, ANSWER_UDP);
    assert_int_equal(handle(f, &forwarded, 2, "www.example.org"), QUERY_FORWARDED);
    upstream_answers(f, 5);
    assert_true(fixture_run_until(f->base, &f->sent.count, 1, 2000));

    querylog_flush(f->log);
    char lines[4096];
    ssize_t n = read(f->log_pipe[0], lines, sizeof lines - 1);
    assert_true(n > 0);
    lines[n] = '\0';
    char *first = strchr(lines, '\n');
    assert_non_null(first);
    char *second = strchr(first + 1, '\n');
    assert_non_null(second);
    assert_string_equal(second + 1, ""); /* two lines, no more */
    *first = '\0';
    assert_non_null(strstr(lines, " 127.0.0.1#50010 www.x.test. A NOERROR local "));
    assert_non_null(strstr(first + 1, " 127.0.0.1#50011 www.example.org. A NOERROR upstream "));
    fixture_free(f);
}

static void test_without_log_queries_nothing_is_logged(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    assert_false(query_logging(&f->path));
    fixture_free(f);
}

/* ---- latency ---- */

static uint64_t latency_count(const struct fixture *f, enum stats_latency_kind kind)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < STATS_LATENCY_BUCKETS; i++)
        n += stats_get(&f->stats->latency[kind].buckets[i]);
    return n;
}

/* The bucket holding kind's one observation; fails unless there is exactly one. */
static unsigned latency_only_bucket(const struct fixture *f, enum stats_latency_kind kind)
{
    assert_int_equal(latency_count(f, kind), 1);
    for (unsigned i = 0; i < STATS_LATENCY_BUCKETS; i++)
        if (stats_get(&f->stats->latency[kind].buckets[i]) == 1)
            return i;
    fail();
    return 0;
}

static void test_a_batch_of_answers_is_timed_once_for_all_of_them(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    /* 32 answers received at 1 s and sent 100 us later: bucket le 128 us. */
    query_count_sent(&f->path, 1000000000u, 1000100000u, 32);
    struct stats_latency *h = &f->stats->latency[STATS_LATENCY_ANSWER];
    assert_int_equal(stats_get(&h->buckets[stats_latency_bucket(100)]), 32);
    assert_int_equal(stats_latency_bound_us(stats_latency_bucket(100)), 128);
    assert_int_equal(latency_count(f, STATS_LATENCY_ANSWER), 32);
    assert_int_equal(stats_get(&h->sum_ns), 32u * 100000u);
    assert_int_equal(latency_count(f, STATS_LATENCY_UPSTREAM), 0);
    fixture_free(f);
}

static void test_a_clock_that_went_back_counts_as_no_time(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    query_count_sent(&f->path, 2000, 1000, 1);
    assert_int_equal(stats_get(&f->stats->latency[STATS_LATENCY_ANSWER].buckets[0]), 1);
    assert_int_equal(stats_get(&f->stats->latency[STATS_LATENCY_ANSWER].sum_ns), 0);
    fixture_free(f);
}

static void test_a_forwarded_answer_is_timed_from_receipt_and_its_upstream_round_trip(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    struct reply reply = reply_from("127.0.0.1", 50020, ANSWER_UDP);
    reply.received_ns = monotonic_now_ns();
    assert_int_equal(handle(f, &reply, 0x0505, "slow.example.org"), QUERY_FORWARDED);
    assert_int_equal(latency_count(f, STATS_LATENCY_ANSWER), 0); /* not yet: when it goes */

    /* The upstream answers 40 ms after it was asked. */
    uint8_t query[512], answer[512];
    size_t len = fake_upstream_receive(&f->upstream, query, sizeof query, 1000);
    assert_true(len > 0);
    usleep(40000);
    fake_upstream_send(&f->upstream, answer, fixture_answer(query, len, 0, 300, 9, answer));
    assert_true(fixture_run_until(f->base, &f->sent.count, 1, 2000));
    uint64_t took_ns = monotonic_now_ns() - reply.received_ns;

    /* Both at least 40 ms (in the bucket up to 64 ms or above), the
     * client's no shorter than the upstream's, neither longer than the
     * whole exchange. */
    unsigned upstream = latency_only_bucket(f, STATS_LATENCY_UPSTREAM);
    unsigned answered = latency_only_bucket(f, STATS_LATENCY_ANSWER);
    assert_true(upstream >= stats_latency_bucket(40000));
    assert_true(answered >= upstream);
    assert_true(answered <= stats_latency_bucket(took_ns / 1000 + 1));
    uint64_t upstream_ns = stats_get(&f->stats->latency[STATS_LATENCY_UPSTREAM].sum_ns);
    uint64_t answer_ns = stats_get(&f->stats->latency[STATS_LATENCY_ANSWER].sum_ns);
    assert_true(upstream_ns >= 40000000u);
    assert_true(answer_ns >= upstream_ns && answer_ns <= took_ns);
    fixture_free(f);
}

static void test_a_servfail_after_every_upstream_failed_is_timed_but_no_round_trip(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(false);
    struct reply reply = reply_from("127.0.0.1", 50021, ANSWER_UDP);
    reply.received_ns = monotonic_now_ns();
    assert_int_equal(handle(f, &reply, 1, "broken.example.org"), QUERY_FORWARDED);
    uint8_t query[512];
    size_t len = fake_upstream_receive(&f->upstream, query, sizeof query, 1000);
    assert_true(len > 0);
    wire_put16(query + 2, WIRE_FLAG_QR | WIRE_FLAG_RD);
    wire_put16(query + 6, 1); /* an answer record that is not there: the server failed */
    fake_upstream_send(&f->upstream, query, len);
    assert_true(fixture_run_until(f->base, &f->sent.count, 1, 2000));
    assert_int_equal(wire_get16(f->sent.message + 2) & 0xF, WIRE_RCODE_SERVFAIL);
    assert_int_equal(latency_count(f, STATS_LATENCY_ANSWER), 1);
    assert_int_equal(latency_count(f, STATS_LATENCY_UPSTREAM), 0);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_name_of_ours_is_answered_now_and_counted_once),
        cmocka_unit_test(test_a_name_not_ours_is_refused_to_a_client_that_may_not_recurse),
        cmocka_unit_test(test_a_blocked_name_is_nxdomain_counted_as_blocked),
        cmocka_unit_test(test_queries_over_tcp_count_as_tcp),
        cmocka_unit_test(test_a_packet_that_is_no_query_is_dropped_and_counted_as_dropped),
        cmocka_unit_test(test_a_forwarded_answer_goes_through_the_reply_later_counted_once),
        cmocka_unit_test(test_a_cached_answer_is_answered_now_counted_as_cache),
        cmocka_unit_test(test_every_upstream_failing_is_servfail_counted_as_error),
        cmocka_unit_test(test_an_rd0_query_for_a_name_not_ours_is_refused_not_forwarded),
        cmocka_unit_test(test_an_rd0_query_is_answered_from_the_cache),
        cmocka_unit_test(test_an_rd0_query_for_a_name_of_ours_is_answered),
        cmocka_unit_test(test_a_cname_out_of_our_data_is_chased_and_answered_later_counted_once),
        cmocka_unit_test(test_a_chased_target_in_the_cache_is_answered_now),
        cmocka_unit_test(test_an_rd0_query_gets_our_cname_alone),
        cmocka_unit_test(test_a_client_that_may_not_recurse_gets_our_cname_alone),
        cmocka_unit_test(test_a_loop_through_the_upstream_ends_after_one_upstream_query),
        cmocka_unit_test(test_a_chase_waiting_for_the_upstream_is_freed_with_the_query_path),
        cmocka_unit_test(test_past_the_rate_a_udp_client_outside_recursion_gets_drop_then_tc),
        cmocka_unit_test(test_rate_limiting_spares_tcp_and_clients_that_may_recurse),
        cmocka_unit_test(test_without_rrl_ratelimit_nothing_is_limited),
        cmocka_unit_test(test_each_answer_is_logged_once_now_or_later),
        cmocka_unit_test(test_without_log_queries_nothing_is_logged),
        cmocka_unit_test(test_a_batch_of_answers_is_timed_once_for_all_of_them),
        cmocka_unit_test(test_a_clock_that_went_back_counts_as_no_time),
        cmocka_unit_test(test_a_forwarded_answer_is_timed_from_receipt_and_its_upstream_round_trip),
        cmocka_unit_test(test_a_servfail_after_every_upstream_failed_is_timed_but_no_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
