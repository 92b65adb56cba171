/* The query path (query.h): the one place that chains answer, cache and
 * forwarding, and counts and logs what goes out, whichever the transport. */
#include "query.h"

#include <time.h>

#include <sodium.h>

#include "forward.h"
#include "log.h"
#include "querylog.h"
#include "rrl.h"

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

/* forward.c's answered callback: a forwarded query's answer, for one of
 * the clients that waited for it. */
static void query_forwarded(void *arg, const struct reply *reply,
                            const struct forward_answer *answer)
{
    struct query_path *path = arg;
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
    rrl_free(path->rrl);
    path->rrl = NULL;
}

void query_image_changed(struct query_path *path, const struct image *img)
{
    path->image = img;
    forward_image_changed(path->forward, img);
}
