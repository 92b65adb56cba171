/* The data plane's server: one thread, one event_base, UDP and TCP
 * listeners answering from the current zone image, forwarding the rest.
 * Internal to nanodns-dataplane (main.c, udp.c, tcp.c, forward.c);
 * everything runs on the loop's thread, so nothing here is locked. */
#ifndef NANODNS_SERVER_H
#define NANODNS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>

#include "answer.h"
#include "image.h"
#include "querylog.h"
#include "stats.h"

struct udp_batch;
struct tcp_conn;
struct forward;

/* Room for the destination-address control message of either family. */
#define SERVER_UDP_CONTROL_SIZE                                                                    \
    (CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo)))

/* CMSG_* need cmsghdr alignment. Not a union with a struct cmsghdr: its
 * flexible array member would make this a variable-sized type, which ISO C
 * does not allow inside struct server_reply. */
union server_udp_control {
    _Alignas(struct cmsghdr) char buf[SERVER_UDP_CONTROL_SIZE];
};

/* Where an answer that is built later (a forwarded query's) goes: a copy
 * of everything needed to send it once the event that received the query
 * is over, never a pointer into a receive buffer. */
struct server_reply {
    enum answer_transport transport;
    struct sockaddr_storage client; /* UDP: the destination; both: the query log */
    socklen_t client_len;
    uint64_t received_ns; /* server_now_ns() at receipt, for the query log; 0 when not logging */
    /* UDP: the listening socket, and the control message that makes the
     * answer leave from the address the query was sent to. */
    int fd;
    size_t control_len;
    union server_udp_control control;
    /* TCP: the connection, valid while its generation is the same; a
     * connection closed meanwhile (its struct is reused, never freed
     * before tcp_shutdown) has another. */
    struct tcp_conn *conn;
    uint64_t generation;
};

struct server {
    struct event_base *base;

    /* The image every answer is built from. Swapped between two events by
     * main.c; the previous mapping is unmapped right after the swap, which
     * is safe because nothing outlives an event callback pointing into it:
     * UDP answers are sent before the callback returns, TCP answers are
     * copied into the connection's write buffer, and forwarded queries
     * keep copies of their servers' addresses (forward.c). */
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
    uint64_t tcp_generation; /* the last one given to a connection */

    /* Forwarding, its cache and its upstream sockets (forward.c). Created
     * and freed by main.c: freed before the listeners and tcp_shutdown,
     * because its waiting clients point at both. */
    struct forward *forward;

    /* The query log; NULL when it could not be set up. Lines are written
     * only while the image says log_queries. Owned by main.c. */
    struct querylog *querylog;
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
    case ANSWER_SOURCE_FORWARD: /* never counted: the answer that follows is */
        return STATS_SOURCE_ERROR;
    case ANSWER_SOURCE_CACHE:
        return STATS_SOURCE_CACHE;
    case ANSWER_SOURCE_UPSTREAM:
        return STATS_SOURCE_UPSTREAM;
    }
    return STATS_SOURCE_ERROR;
}

/* Count one answered query. Plain loads and stores (stats_add): no lock,
 * no system call on the answer path. */
static inline void server_count(struct server *server, enum stats_transport transport,
                                uint16_t qtype, uint16_t rcode, enum answer_source source,
                                bool truncated)
{
    struct stats_worker *s = server->stats;
    stats_add(&s->queries[transport], 1);
    stats_add(&s->rcodes[stats_rcode_index(rcode)], 1);
    stats_add(&s->sources[server_stats_source(source)], 1);
    stats_add(&s->qtypes[stats_qtype_index(qtype)], 1);
    if (truncated)
        stats_add(&s->truncated, 1);
}

static inline void server_count_answer(struct server *server, enum stats_transport transport,
                                       const struct answer_info *info)
{
    server_count(server, transport, info->qtype, info->rcode, info->source, info->truncated != 0);
}

/* Count a packet that got no answer (not a query, or too large to be one):
 * it counts in no query, rcode, source or qtype. */
static inline void server_count_dropped(struct server *server)
{
    stats_add(&server->stats->dropped, 1);
}

/* CLOCK_MONOTONIC in nanoseconds (a vDSO call, no system call). */
static inline uint64_t server_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Should answers be logged now? Then receipt times are worth taking. */
static inline bool server_logging(const struct server *server)
{
    return server->querylog != NULL && server->image->settings->log_queries != 0;
}

/* One query log line for an answer sent now (querylog.h). qname is the
 * lowercase wire-form name, NULL when the question did not parse. */
void server_log(struct server *server, const struct sockaddr *client, const uint8_t *qname,
                size_t qname_len, uint16_t qtype, uint16_t rcode, enum answer_source source,
                uint64_t received_ns);

/* Count an answer built by answer_query (or forward_*) and log it. */
static inline void server_answered(struct server *server, enum stats_transport transport,
                                   const struct answer_info *info, const struct sockaddr *client,
                                   uint64_t received_ns)
{
    server_count_answer(server, transport, info);
    if (server_logging(server))
        server_log(server, client, info->question ? info->query.qname_lower : NULL,
                   info->query.qname_len, info->qtype, info->rcode, info->source, received_ns);
}

/* Send an answer built later to reply's client, by its transport. */
void server_reply_send(struct server *server, const struct server_reply *reply,
                       const uint8_t *answer, size_t len);

/* UDP (udp.c). udp_batch_create allocates the shared buffers once. */
int udp_batch_create(struct server *server);
void udp_batch_destroy(struct server *server);
/* Take ownership of a bound datagram socket fd: make it non-blocking, enable
 * the destination-address control message when it is a wildcard, register
 * its read event. Returns NULL (fd left open) on error, logged. */
struct udp_listener *udp_listener_create(struct server *server, int fd);
/* Unregister and close. */
void udp_listener_destroy(struct udp_listener *listener);
/* Send one answer built later (sendmsg, never blocking: a full socket
 * buffer drops it, as it would a batch's). */
void udp_reply_send(struct server *server, const struct server_reply *reply, const uint8_t *answer,
                    size_t len);

/* TCP (tcp.c), RFC 7766. */
struct tcp_listener *tcp_listener_create(struct server *server, int fd);
void tcp_listener_destroy(struct tcp_listener *listener);
/* Close every open connection and free every connection buffer. */
void tcp_shutdown(struct server *server);
/* Queue one answer built later on reply's connection (after what is
 * already queued; RFC 7766 §7 lets answers leave out of order). Dropped
 * when the connection has closed since. */
void tcp_reply_send(struct server *server, const struct server_reply *reply, const uint8_t *answer,
                    size_t len);

#endif
