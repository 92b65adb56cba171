/* Forwarding: the queries answer_query hands over (names outside our data,
 * from clients that may recurse) are answered from the cache or sent to
 * the upstream servers, in order, with failover, RFC 5452 matching and a
 * TCP retry on truncation. Identical questions in flight share one
 * upstream query; its answer goes through the cache to every waiting
 * client, later, through server_reply_send.
 *
 * Ownership: struct forward owns the cache, every upstream socket and
 * timer, and a copy of every waiting client's reply address. It keeps no
 * pointer into the image across events (server addresses are copied when
 * a query starts), so main.c may swap images at any time between events.
 * Loop thread only. */
#ifndef NANODNS_FORWARD_H
#define NANODNS_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "answer.h"
#include "server.h"

/* Per question in flight: more waiting clients than this start another
 * upstream query. */
#define FORWARD_WAITERS_MAX 512
/* Servers tried per query (the first ones of the list). */
#define FORWARD_SERVERS_MAX 16
/* A server that failed this many times in a row is put last for a while. */
#define FORWARD_FAILURES_TO_SKIP 3
#define FORWARD_SKIP_MS 30000
/* Defaults for an image that leaves the settings at zero. */
#define FORWARD_DEFAULT_TIMEOUT_MS 3000
#define FORWARD_DEFAULT_MAX_INFLIGHT 1024

struct forward;

/* NULL after logging when out of memory. The cache follows the image's
 * settings (forward_image_changed). */
struct forward *forward_new(struct server *server);

/* Cancel every query in flight (their clients get nothing), close every
 * upstream socket, free the cache. */
void forward_free(struct forward *fw);

/* A new image is served: flush the cache, or make a new one when its
 * size or TTL cap changed (none when it is disabled). Queries in flight
 * carry on with the servers they started with; their answers are not
 * cached. */
void forward_image_changed(struct forward *fw);

/* For a query answer_query said to forward (info->source ==
 * ANSWER_SOURCE_FORWARD; packet is the query): a cached answer, written
 * into response (ANSWER_BUFFER_SIZE octets) with info's source, rcode and
 * truncated set. Returns its length, or 0 on a miss. */
size_t forward_from_cache(struct forward *fw, const uint8_t *packet,
                          enum answer_transport transport, struct answer_info *info,
                          uint8_t *response);

/* After a cache miss: join the same question in flight, or send a new
 * upstream query. Returns 0 when the answer will go to reply later; or,
 * when max_inflight queries are in flight already, the length of a
 * SERVFAIL written into response now (info set as for forward_from_cache). */
size_t forward_start(struct forward *fw, const uint8_t *packet, struct answer_info *info,
                     const struct server_reply *reply, uint8_t *response);

#endif
