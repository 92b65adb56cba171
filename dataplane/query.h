/* The query path: one query from any transport, handled once: answer from
 * the image, then the cache, then forwarding (RD=1 only: an RD=0 miss is
 * REFUSED), a CNAME out of our data chased through the same steps (RD=1,
 * clients that may recurse), then count and log
 * (DESIGN.md, "Answering"). Transports receive and send; this decides. An
 * answer ready now is written into the transport's own buffer (UDP's batch
 * slot); a forwarded one goes later to its reply's send callback. Nothing
 * is allocated and no system call made for an answer from the image (a
 * CNAME chase, on its way to forwarding, allocates its state).
 * struct query_path borrows the worker's image, counters and query log and
 * owns the forwarding; loop thread only. */
#ifndef NANODNS_QUERY_H
#define NANODNS_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "answer.h"
#include "image.h"
#include "monotonic.h"
#include "reply.h"
#include "stats.h"

struct event_base;
struct forward;
struct querylog;
struct rrl;

struct query_path {
    /* The image every answer is built from. Swapped between two events
     * (query_image_changed); the previous mapping is unmapped once every
     * worker has swapped (image_handover.h), which is safe because
     * nothing outlives an event callback pointing into it: UDP answers are
     * sent before the callback returns, TCP answers are copied into the
     * connection's write buffer, and forwarded queries keep copies of
     * their servers' addresses (forward.c). */
    const struct image *image;
    /* This worker's counters in the stats file; the loop's thread is their
     * only writer. Borrowed. */
    struct stats_worker *stats;
    /* The query log, borrowed; NULL when it could not be set up. Lines are
     * written only while the image says log_queries. */
    struct querylog *querylog;
    /* Forwarding and its cache, owned (query_path_init, query_path_destroy). */
    struct forward *forward;
    /* Response rate limiting of UDP answers to clients outside
     * allow_recursion, while the image's rrl_ratelimit is not 0 (rrl.h);
     * owned. */
    struct rrl *rrl;
    /* CNAME chases waiting for a forwarded answer (query.c), owned: freed
     * by query_path_destroy with their clients unanswered. */
    struct query_chase *chases;
    /* A chase step's message, then the chased answer: ANSWER_BUFFER_SIZE
     * octets, owned; used within one call, never across events. */
    uint8_t *chase_buffer;
};

enum query_outcome {
    QUERY_ANSWERED,  /* response holds the answer: send it now */
    QUERY_FORWARDED, /* the answer goes to reply->send later */
    QUERY_DROPPED,   /* not a query at all (RFC 8906), or rate limited: no answer */
};

/* Set path up over img, stats and querylog (NULL: no query log), with
 * forwarding on base. path must stay where it is until
 * query_path_destroy: forwarded answers come back to it. Returns -1 after
 * logging when out of memory. */
int query_path_init(struct query_path *path, struct event_base *base, const struct image *img,
                    struct stats_worker *stats, struct querylog *querylog);

/* Cancel every forwarded query (their clients get nothing) and free the
 * forwarding. Before the transports go: waiting replies point at them. */
void query_path_destroy(struct query_path *path);

/* Serve img from now on; the cache is flushed (forward_image_changed). */
void query_image_changed(struct query_path *path, const struct image *img);

/* Handle packet[0..len), received as reply says (its client, transport
 * and receipt time; send and route are used only when the answer comes
 * later). QUERY_ANSWERED: response (ANSWER_BUFFER_SIZE octets) holds
 * *response_len octets to send now. Every outcome is counted once:
 * answers when they are decided (a forwarded one when it comes), drops
 * as dropped. */
enum query_outcome query_handle(struct query_path *path, const uint8_t *packet, size_t len,
                                const struct reply *reply, uint8_t *response, size_t *response_len);

/* Count a packet the transport got no query out of (too large, an empty
 * TCP message): it counts in no query, rcode, source or qtype. */
static inline void query_count_dropped(struct query_path *path)
{
    stats_add(&path->stats->dropped, 1);
}

/* Are answers logged now? (The image's log_queries, and a query log to
 * write to.) */
static inline bool query_logging(const struct query_path *path)
{
    return path->querylog != NULL && path->image->settings->log_queries != 0;
}

/* n answers to queries received at received_ns (reply.received_ns) left
 * at sent_ns, both monotonic_now_ns(): into this worker's answer
 * histogram, a few adds. Transports read the clock once when a batch
 * arrives and once when its answers have gone, and call this once for the
 * batch. A forwarded answer is timed here, by query_path, as it goes out. */
static inline void query_count_sent(struct query_path *path, uint64_t received_ns, uint64_t sent_ns,
                                    uint64_t n)
{
    stats_latency_record(&path->stats->latency[STATS_LATENCY_ANSWER],
                         sent_ns > received_ns ? sent_ns - received_ns : 0, n);
}

#endif
