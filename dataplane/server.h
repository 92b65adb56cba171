/* The data plane's server: one thread, one event_base, UDP and TCP
 * listeners answering from the current zone image. Internal to
 * nanodns-dataplane (main.c, udp.c, tcp.c); everything runs on the loop's
 * thread, so nothing here is locked. */
#ifndef NANODNS_SERVER_H
#define NANODNS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "answer.h"
#include "image.h"
#include "stats.h"

struct udp_batch;
struct tcp_conn;

struct server {
    struct event_base *base;

    /* The image every answer is built from. Swapped between two events by
     * main.c; the previous mapping is unmapped right after the swap, which
     * is safe because nothing outlives an event callback pointing into it:
     * UDP answers are sent before the callback returns and TCP answers are
     * copied into the connection's write buffer. */
    const struct image *image;

    /* This worker's counters in the stats file (main.c maps it; it stays
     * mapped until exit). The loop's thread is their only writer. */
    struct stats_worker *stats;

    /* UDP receive and answer buffers, shared by all UDP listeners (one
     * thread: only one callback uses them at a time). Owned by udp.c. */
    struct udp_batch *udp_batch;

    /* TCP connections: the open ones, and closed ones kept with their
     * buffers so that steady state does not allocate. Owned by tcp.c. */
    struct tcp_conn *tcp_open;
    struct tcp_conn *tcp_free;
    unsigned tcp_open_count;
};

struct udp_listener {
    struct server *server;
    int fd;
    int family;
    /* Bound to 0.0.0.0 or ::: answers must leave from the address each
     * query was sent to, which only the per-packet control message tells. */
    bool wildcard;
    struct event *event;
};

struct tcp_listener {
    struct server *server;
    int fd;
    struct event *event;
};

/* answer_source → stats_source, spelled out: the stats file is read by
 * another program, so its indices must not follow a reordering of the
 * answer code's enum by accident. */
static inline enum stats_source server_stats_source(enum answer_source source)
{
    switch (source) {
    case ANSWER_SOURCE_LOCAL:
        return STATS_SOURCE_LOCAL;
    case ANSWER_SOURCE_BLOCKED:
        return STATS_SOURCE_BLOCKED;
    case ANSWER_SOURCE_REFUSED:
        return STATS_SOURCE_REFUSED;
    case ANSWER_SOURCE_ERROR:
        return STATS_SOURCE_ERROR;
    }
    return STATS_SOURCE_ERROR;
}

/* Count one answered query. Plain loads and stores (stats_add): no lock,
 * no system call on the answer path. */
static inline void server_count_answer(struct server *server, enum stats_transport transport,
                                       const struct answer_info *info)
{
    struct stats_worker *s = server->stats;
    stats_add(&s->queries[transport], 1);
    stats_add(&s->rcodes[stats_rcode_index(info->rcode)], 1);
    stats_add(&s->sources[server_stats_source(info->source)], 1);
    stats_add(&s->qtypes[stats_qtype_index(info->qtype)], 1);
    if (info->truncated)
        stats_add(&s->truncated, 1);
}

/* Count a packet that got no answer (not a query, or too large to be one):
 * it counts in no query, rcode, source or qtype. */
static inline void server_count_dropped(struct server *server)
{
    stats_add(&server->stats->dropped, 1);
}

/* UDP (udp.c). udp_batch_create allocates the shared buffers once. */
int udp_batch_create(struct server *server);
void udp_batch_destroy(struct server *server);
/* Take ownership of a bound datagram socket fd: make it non-blocking, enable
 * the destination-address control message when it is a wildcard, register
 * its read event. Returns NULL (fd left open) on error, logged. */
struct udp_listener *udp_listener_create(struct server *server, int fd);
/* Unregister and close. */
void udp_listener_destroy(struct udp_listener *listener);

/* TCP (tcp.c), RFC 7766. */
struct tcp_listener *tcp_listener_create(struct server *server, int fd);
void tcp_listener_destroy(struct tcp_listener *listener);
/* Close every open connection and free every connection buffer. */
void tcp_shutdown(struct server *server);

#endif
