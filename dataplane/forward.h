/* Forwarding: the queries answer_query hands over (names outside our data,
 * from clients that may recurse) are answered from the cache or sent to
 * the upstream servers, in order, with failover, RFC 5452 matching and a
 * TCP retry on truncation. Identical questions in flight share one
 * upstream query; its answer goes through the cache to every waiting
 * client, later, through the answered callback given to forward_new
 * (query.c's), with the client's struct reply: forwarding never sends an
 * answer and never names a transport. When every upstream fails (or
 * answers SERVFAIL), an expired cached answer within the image's
 * serve_stale goes instead, with TTL 30 (RFC 8767).
 *
 * Ownership: struct forward owns the cache, every upstream socket and
 * timer, and a copy of every waiting client's reply. It keeps no pointer
 * into the image across events (server addresses are copied when a query
 * starts) but the image it was last given, so the owner may swap images
 * between events as long as it calls forward_image_changed at once.
 * Loop thread only. */
#ifndef NANODNS_FORWARD_H
#define NANODNS_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "answer.h"
#include "image.h"
#include "reply.h"
#include "stats.h"

/* Per question in flight: more waiting clients than this start another
 * upstream query. */
#define FORWARD_WAITERS_MAX 512
/* Servers tried per query (the first ones of the list). */
#define FORWARD_SERVERS_MAX 16
/* Defaults for an image that leaves the settings at zero. */
#define FORWARD_DEFAULT_TIMEOUT_MS 3000
#define FORWARD_DEFAULT_MAX_INFLIGHT 1024

struct event_base;
struct forward;

/* One waiting client's answer, built: what its counters and query log
 * line need, and the message itself. Valid during the callback only. */
struct forward_answer {
    const uint8_t *qname; /* lowercase wire form */
    size_t qname_len;
    uint16_t qtype;
    uint16_t rcode; /* extended */
    /* ANSWER_SOURCE_UPSTREAM; ANSWER_SOURCE_CACHE for a stale answer (RFC 8767) when
     * resolution failed; ANSWER_SOURCE_ERROR for our SERVFAIL */
    enum answer_source source;
    bool truncated;
    const uint8_t *message;
    size_t len;
    uint64_t sent_ns; /* monotonic_now_ns() as it goes out (read once for every waiting client) */
};

/* Called once per waiting client when its answer is ready. */
typedef void (*forward_answered_fn)(void *arg, const struct reply *reply,
                                    const struct forward_answer *answer);

/* Forwarding on base for the queries of img, counting into stats (both
 * borrowed: they must outlive it). NULL after logging when out of memory.
 * The cache follows img's settings (forward_image_changed). */
struct forward *forward_new(struct event_base *base, const struct image *img,
                            struct stats_worker *stats, forward_answered_fn answered, void *arg);

/* Cancel every query in flight (their clients get nothing), close every
 * upstream socket, free the cache. */
void forward_free(struct forward *fw);

/* At most sockets upstream sockets open at once (the descriptor budget,
 * descriptors.h), whatever max_inflight says; past it forward_start
 * answers SERVFAIL, counted as inflight_overflow. 0: max_inflight only. */
void forward_limit_sockets(struct forward *fw, unsigned sockets);

/* One of workers data-plane workers, each with its own struct forward
 * (and so its own upstream sockets and queries in flight): this one takes
 * max_inflight / workers (at least 1), and a cache of its own, if it has
 * one (not forward_share_cache), cache_size / workers. The cache starts
 * empty again. Default: 1, the whole of both. */
void forward_set_workers(struct forward *fw, unsigned workers);

/* Use cache, the data plane's, shared by every worker, instead of a cache
 * of its own (dropped): its owner configures and flushes it with each
 * image (cache_configure) and publishes its counters; this worker looks
 * answers up and stores them while the image has caching on, and keeps
 * none asked for before a flush. Borrowed: it must outlive fw. */
struct cache;
void forward_share_cache(struct forward *fw, struct cache *cache);

/* img is served now: flush the cache, or make a new one when its size or
 * TTL cap changed (none when it is disabled). Queries in flight carry on
 * with the servers they started with; their answers are not cached. */
void forward_image_changed(struct forward *fw, const struct image *img);

/* For a query answer_query said to forward (info->source ==
 * ANSWER_SOURCE_FORWARD; packet is the query): a cached answer, written
 * into response (ANSWER_BUFFER_SIZE octets) with info's source, rcode and
 * truncated set. Returns its length, or 0 on a miss. */
size_t forward_from_cache(struct forward *fw, const uint8_t *packet,
                          enum answer_transport transport, struct answer_info *info,
                          uint8_t *response);

/* After a cache miss: join the same question in flight, or send a new
 * upstream query. Returns 0 when the answer will go to the answered
 * callback with a copy of reply, later (never from within this call); or,
 * when max_inflight queries (or as many as forward_limit_sockets allows)
 * are in flight already, the length of a
 * SERVFAIL written into response now (info set as for forward_from_cache). */
size_t forward_start(struct forward *fw, const uint8_t *packet, struct answer_info *info,
                     const struct reply *reply, uint8_t *response);

#endif
