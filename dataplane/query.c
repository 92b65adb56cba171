/* The query path (query.h): the one place that chains answer, cache and
 * forwarding, and counts and logs what goes out, whichever the transport. */
#include "query.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "chase.h"
#include "forward.h"
#include "log.h"
#include "querylog.h"
#include "relay.h"
#include "rrl.h"

/* A chased answer's records start in this much and grow to
 * ANSWER_BUFFER_SIZE when they need it. */
#define CHASE_BUFFER_INITIAL 2048

/* An answer about to leave, as the counters and the query log see it. */
struct query_result {
    const uint8_t *qname; /* lowercase wire form; NULL when the question did not parse */
    size_t qname_len;
    uint16_t qtype;
    uint16_t rcode; /* extended */
    enum answer_source source;
    bool truncated;
};

/* answer_source → stats_source, spelled out: the stats file is read by
 * another program, so its indices must not follow a reordering of the
 * answer code's enum by accident. */
static inline enum stats_source query_stats_source(enum answer_source source)
{
    switch (source) {
    case ANSWER_SOURCE_LOCAL:
        return STATS_SOURCE_LOCAL;
    case ANSWER_SOURCE_BLOCKED:
        return STATS_SOURCE_BLOCKED;
    case ANSWER_SOURCE_REFUSED:
        return STATS_SOURCE_REFUSED;
    case ANSWER_SOURCE_ERROR:
    case ANSWER_SOURCE_FORWARD: /* never counted: the answer that follows is */
        return STATS_SOURCE_ERROR;
    case ANSWER_SOURCE_CACHE:
        return STATS_SOURCE_CACHE;
    case ANSWER_SOURCE_UPSTREAM:
        return STATS_SOURCE_UPSTREAM;
    }
    return STATS_SOURCE_ERROR;
}

/* Plain loads and stores (stats_add): no lock, no system call on the
 * answer path. */
static inline void query_count(struct query_path *path, enum answer_transport transport,
                               const struct query_result *r)
{
    struct stats_worker *s = path->stats;
    stats_add(&s->queries[transport == ANSWER_UDP ? STATS_UDP : STATS_TCP], 1);
    stats_add(&s->rcodes[stats_rcode_index(r->rcode)], 1);
    stats_add(&s->sources[query_stats_source(r->source)], 1);
    stats_add(&s->qtypes[stats_qtype_index(r->qtype)], 1);
    if (r->truncated)
        stats_add(&s->truncated, 1);
}

/* One query log line for an answer sent now (querylog.h). */
static void query_log(struct query_path *path, const struct reply *reply,
                      const struct query_result *r)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
        ts.tv_sec = ts.tv_nsec = 0;
    uint64_t now = monotonic_now_ns();
    struct querylog_entry entry = {
        .time_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u,
        .client = (const struct sockaddr *)&reply->client,
        .qname = r->qname,
        .qname_len = r->qname_len,
        .qtype = r->qtype,
        .rcode = r->rcode,
        .source = r->source,
        .latency_ns =
            reply->received_ns != 0 && now > reply->received_ns ? now - reply->received_ns : 0,
    };
    enum querylog_format format =
        path->image->settings->log_format == IMAGE_LOG_JSON ? QUERYLOG_JSON : QUERYLOG_TEXT;
    if (querylog_record(path->querylog, &entry, format) < 0)
        stats_add(&path->stats->querylog_dropped, 1);
}

/* Count an answer and log it: once per answer, whenever it leaves. */
static inline void query_account(struct query_path *path, const struct reply *reply,
                                 const struct query_result *r)
{
    query_count(path, reply->transport, r);
    if (query_logging(path))
        query_log(path, reply, r);
}

/* ---- CNAME chasing ----------------------------------------------------------
 *
 * Our data answered with a CNAME chain that leaves it (answer_info's
 * cname_out), to a client that may recurse, RD=1: the chain's end is asked
 * as the client would ask it (answer_query: rewrites, our data, local
 * zones; then the cache and forwarding, coalesced with the same question
 * from anyone), and its answer appended (chase.h); a chain that comes
 * back into our data goes on there. Names outside our data are forwarded
 * only from our data's CNAMEs: the upstreams chase their own. One chase
 * waits on one forwarded query at a time, as a waiting client whose reply
 * leads back here (route.chase). */

/* One client's chase: allocated when its chain leaves our data, freed
 * when its answer goes (or by query_path_destroy). */
struct query_chase {
    struct query_chase *prev, *next; /* in path->chases */
    struct reply reply;              /* the client's */
    struct relay_client client;      /* its query: ID, flags, EDNS, question */
    uint8_t qname[WIRE_NAME_MAX];    /* lowercase */
    size_t qname_len;
    uint16_t qtype;
    uint8_t key_flags;             /* the client's DO and CD, for every step (CACHE_KEY_*) */
    uint8_t target[WIRE_NAME_MAX]; /* the name asked last, lowercase */
    size_t target_len;
    bool after_upstream;        /* the last step came through forwarding */
    enum answer_source source;  /* the last step's not from our data, else LOCAL */
    struct chase_answer answer; /* its buf: ours, malloc'd */
};

/* The send function of a chase's own reply: never called, it only marks
 * the reply (query_forwarded routes such answers to the chase). */
static void query_chase_send(const struct reply *reply, const uint8_t *answer, size_t len)
{
    (void)reply;
    (void)answer;
    (void)len;
}

static void query_chase_free(struct query_path *path, struct query_chase *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        path->chases = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c->answer.buf);
    free(c);
}

/* Append a step's message (chase_append), growing the records' buffer
 * once when they need it. -1: the chase stops here. */
static int query_chase_append(struct query_chase *c, const uint8_t *msg, size_t len, bool ours,
                              enum answer_source source)
{
    int rc = chase_append(&c->answer, msg, len, ours);
    if (rc == -2 && c->answer.cap < ANSWER_BUFFER_SIZE) {
        uint8_t *grown = realloc(c->answer.buf, ANSWER_BUFFER_SIZE);
        if (grown == NULL)
            return -1;
        c->answer.buf = grown;
        c->answer.cap = ANSWER_BUFFER_SIZE;
        rc = chase_append(&c->answer, msg, len, ours);
    }
    if (rc < 0)
        return -1;
    if (source != ANSWER_SOURCE_LOCAL)
        c->source = source;
    return 0;
}

/* Take the chase as far as it goes now. true: a step was forwarded and
 * the chase waits for it (query_chase_resume); false: its answer is
 * ready (query_chase_finish). */
static bool query_chase_run(struct query_path *path, struct query_chase *c)
{
    uint8_t *scratch = path->chase_buffer;
    while (c->answer.steps <= CHASE_STEPS_MAX) {
        uint8_t target[WIRE_NAME_MAX];
        size_t target_len;
        if (!chase_next(&c->answer, c->qname, c->qname_len, c->qtype, target, &target_len))
            return false;
        if (target_len == c->target_len && memcmp(target, c->target, target_len) == 0)
            return false; /* asked already: its answer ended the chain there */
        memcpy(c->target, target, target_len);
        c->target_len = target_len;

        struct cache_key key;
        memset(&key, 0, sizeof(key));
        memcpy(key.qname, target, target_len);
        key.qname_len = (uint8_t)target_len;
        key.qtype = c->qtype;
        key.qclass = WIRE_CLASS_IN;
        key.flags = c->key_flags;
        uint8_t packet[RELAY_QUERY_MAX];
        size_t packet_len = relay_query_build(packet, c->client.id, &key);

        /* As the client's own query would go: TCP's size, so that only
         * the whole answer is ever cut (chase_finish). */
        struct answer_info info;
        size_t len = 0;
        enum answer_action action =
            answer_query(path->image, packet, packet_len, (const struct sockaddr *)&c->reply.client,
                         ANSWER_TCP, scratch, &len, &info);
        if (action == ANSWER_DROP)
            return false;
        if (action == ANSWER_SEND) {
            if (info.source == ANSWER_SOURCE_REFUSED || info.source == ANSWER_SOURCE_ERROR)
                return false; /* nowhere to ask: the chain ends as it is */
            if (query_chase_append(c, scratch, len, true, info.source) < 0)
                return false;
            c->after_upstream = false;
            continue;
        }
        if (c->after_upstream)
            return false; /* outside our data after an upstream's answer: its to chase */
        c->after_upstream = true;
        len = forward_from_cache(path->forward, packet, ANSWER_TCP, &info, scratch);
        if (len == 0) {
            struct reply step;
            memset(&step, 0, sizeof(step));
            step.send = query_chase_send;
            step.transport = ANSWER_TCP;
            memcpy(&step.client, &c->reply.client, sizeof(step.client));
            step.client_len = c->reply.client_len;
            step.received_ns = c->reply.received_ns;
            step.route.chase.chase = c;
            len = forward_start(path->forward, packet, &info, &step, scratch);
            if (len == 0)
                return true;
        }
        if (query_chase_append(c, scratch, len, false, info.source) < 0)
            return false;
    }
    return false;
}

/* The chased answer for its client into out (ANSWER_BUFFER_SIZE octets),
 * and how it counts. Returns its length. */
static size_t query_chase_finish(struct query_path *path, const struct query_chase *c, uint8_t *out,
                                 struct query_result *r)
{
    uint16_t payload = (uint16_t)path->image->settings->edns_payload;
    bool truncated = false;
    size_t len =
        chase_finish(&c->answer, &c->client, payload,
                     relay_size_limit(&c->client, c->reply.transport, payload), out, &truncated);
    *r = (struct query_result){c->qname,        c->qname_len, c->qtype,
                               c->answer.rcode, c->source,    truncated};
    return len;
}

/* info says our answer, response[0..*response_len), left our data by a
 * CNAME. QUERY_ANSWERED: response holds the answer, chased as far as it
 * went now (info's rcode, source and truncated set for it), or ours alone
 * when the chase could not start; QUERY_FORWARDED: it goes to reply later. */
static enum query_outcome query_chase_start(struct query_path *path, const uint8_t *packet,
                                            const struct reply *reply, struct answer_info *info,
                                            uint8_t *response, size_t *response_len)
{
    if (path->chase_buffer == NULL)
        return QUERY_ANSWERED;
    struct query_chase *c = calloc(1, sizeof(*c));
    uint8_t *buf = malloc(CHASE_BUFFER_INITIAL);
    if (c == NULL || buf == NULL) {
        free(c);
        free(buf);
        return QUERY_ANSWERED;
    }
    c->next = path->chases;
    if (path->chases != NULL)
        path->chases->prev = c;
    path->chases = c;
    c->reply = *reply;
    relay_client_init(&c->client, &info->query, packet);
    memcpy(c->qname, info->query.qname_lower, info->query.qname_len);
    c->qname_len = info->query.qname_len;
    c->qtype = info->query.qtype;
    struct cache_key key;
    relay_key_init(&key, &info->query);
    c->key_flags = key.flags;
    c->source = ANSWER_SOURCE_LOCAL;
    chase_answer_init(&c->answer, buf, CHASE_BUFFER_INITIAL);
    if (query_chase_append(c, response, *response_len, true, info->source) < 0) {
        query_chase_free(path, c);
        return QUERY_ANSWERED;
    }
    if (query_chase_run(path, c))
        return QUERY_FORWARDED; /* counted when it comes: query_chase_resume */
    if (c->answer.steps > 1) {
        struct query_result r;
        *response_len = query_chase_finish(path, c, response, &r);
        info->rcode = r.rcode;
        info->source = r.source;
        info->truncated = r.truncated;
    }
    query_chase_free(path, c);
    return QUERY_ANSWERED;
}

/* A chase's forwarded step answered: go on, and answer its client once
 * nothing more is to be asked. */
static void query_chase_resume(struct query_path *path, struct query_chase *c,
                               const struct forward_answer *answer)
{
    (void)query_chase_append(c, answer->message, answer->len, false, answer->source);
    if (query_chase_run(path, c))
        return;
    struct query_result r;
    size_t len = query_chase_finish(path, c, path->chase_buffer, &r);
    query_account(path, &c->reply, &r);
    reply_send(&c->reply, path->chase_buffer, len);
    query_count_sent(path, c->reply.received_ns, monotonic_now_ns(), 1);
    query_chase_free(path, c);
}

/* forward.c's answered callback: a forwarded query's answer, for one of
 * the clients that waited for it (or for a chase, query_chase_resume). */
static void query_forwarded(void *arg, const struct reply *reply,
                            const struct forward_answer *answer)
{
    struct query_path *path = arg;
    if (reply->send == query_chase_send) {
        query_chase_resume(path, reply->route.chase.chase, answer);
        return;
    }
    struct query_result r = {answer->qname, answer->qname_len, answer->qtype,
                             answer->rcode, answer->source,    answer->truncated};
    query_account(path, reply, &r);
    reply_send(reply, answer->message, answer->len);
    query_count_sent(path, reply->received_ns, answer->sent_ns, 1);
}

/* A UDP answer about to go to a client outside allow_recursion, under
 * rate limiting (rrl.h): RRL_PASS, RRL_DROP, or RRL_SLIP with the answer
 * cut to its header and question, TC=1 (the client retries over TCP). */
static enum rrl_verdict query_rate_limit(struct query_path *path, const struct reply *reply,
                                         const struct answer_info *info, uint8_t *response,
                                         size_t *response_len)
{
    const struct image_settings *settings = path->image->settings;
    const struct sockaddr *client = (const struct sockaddr *)&reply->client;
    if (settings->rrl_ratelimit == 0 || reply->transport != ANSWER_UDP || path->rrl == NULL ||
        *response_len < WIRE_HEADER_SIZE || image_recursion_allowed(path->image, client))
        return RRL_PASS;
    enum rrl_verdict verdict = rrl_check(
        path->rrl, client, info->query.qname_lower, info->question ? info->query.qname_len : 0,
        info->qtype, info->rcode, settings->rrl_ratelimit, settings->rrl_slip, monotonic_now_ms());
    if (verdict == RRL_DROP) {
        stats_add(&path->stats->rrl_dropped, 1);
    } else if (verdict == RRL_SLIP) {
        stats_add(&path->stats->rrl_slipped, 1);
        bool question = wire_get16(response + 4) == 1 && info->query.question_end != 0 &&
                        info->query.question_end <= *response_len;
        *response_len = question ? info->query.question_end : WIRE_HEADER_SIZE;
        wire_put16(response + 2, (uint16_t)(wire_get16(response + 2) | WIRE_FLAG_TC));
        wire_put16(response + 4, question ? 1 : 0);
        wire_put16(response + 6, 0);
        wire_put16(response + 8, 0);
        wire_put16(response + 10, 0);
    }
    return verdict;
}

enum query_outcome query_handle(struct query_path *path, const uint8_t *packet, size_t len,
                                const struct reply *reply, uint8_t *response, size_t *response_len)
{
    struct answer_info info;
    enum answer_action action =
        answer_query(path->image, packet, len, (const struct sockaddr *)&reply->client,
                     reply->transport, response, response_len, &info);
    if (action == ANSWER_DROP) {
        query_count_dropped(path);
        return QUERY_DROPPED;
    }
    if (action == ANSWER_FORWARD) {
        *response_len =
            forward_from_cache(path->forward, packet, reply->transport, &info, response);
        if (*response_len == 0 && !(info.query.flags & WIRE_FLAG_RD)) {
            /* RD=0 asks for what we hold, not for recursion: local data
             * and the cache only. A miss is REFUSED, as NSD answers a name
             * outside its data: a forwarder has no delegation to refer to
             * (Unbound's referral from its cache). */
            *response_len = answer_refused(path->image, packet, response, &info);
        } else if (*response_len == 0) {
            *response_len = forward_start(path->forward, packet, &info, reply, response);
            if (*response_len == 0)
                return QUERY_FORWARDED; /* counted when it comes: query_forwarded */
        }
    }
    if (action == ANSWER_SEND && info.cname_out && info.recursion &&
        (info.query.flags & WIRE_FLAG_RD) &&
        query_chase_start(path, packet, reply, &info, response, response_len) == QUERY_FORWARDED)
        return QUERY_FORWARDED;
    enum rrl_verdict limited = query_rate_limit(path, reply, &info, response, response_len);
    if (limited == RRL_DROP)
        return QUERY_DROPPED; /* counted as rrl_dropped */
    struct query_result r = {info.question ? info.query.qname_lower : NULL,
                             info.query.qname_len,
                             info.qtype,
                             info.rcode,
                             info.source,
                             info.truncated != 0 || limited == RRL_SLIP};
    query_account(path, reply, &r);
    return QUERY_ANSWERED;
}

int query_path_init(struct query_path *path, struct event_base *base, const struct image *img,
                    struct stats_worker *stats, struct querylog *querylog)
{
    path->image = img;
    path->stats = stats;
    path->querylog = querylog;
    path->forward = forward_new(base, img, stats, query_forwarded, path);
    path->chases = NULL;
    path->chase_buffer = malloc(ANSWER_BUFFER_SIZE);
    if (path->chase_buffer == NULL)
        log_warning("out of memory for CNAME chasing: CNAMEs out of our data end the answer");
    /* The table is made whatever the image says now: a reload may turn
     * rate limiting on. Without it, nothing is limited (logged). */
    path->rrl = rrl_new(randombytes_random());
    if (path->rrl == NULL)
        log_warning("out of memory for response rate limiting: answers are not rate limited");
    return path->forward != NULL ? 0 : -1;
}

void query_path_destroy(struct query_path *path)
{
    forward_free(path->forward);
    path->forward = NULL;
    while (path->chases != NULL)
        query_chase_free(path, path->chases);
    free(path->chase_buffer);
    path->chase_buffer = NULL;
    rrl_free(path->rrl);
    path->rrl = NULL;
}

void query_image_changed(struct query_path *path, const struct image *img)
{
    path->image = img;
    forward_image_changed(path->forward, img);
}
