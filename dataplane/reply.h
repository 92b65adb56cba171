/* The way back to a client: where a query came from and the transport's
 * callback that sends its answer, so that the query path and forwarding
 * answer later without knowing UDP from TCP (as Unbound's comm_reply).
 * Plain data, copied by value, owning nothing; loop thread only. */
#ifndef NANODNS_REPLY_H
#define NANODNS_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "transport.h"

/* Room for the destination-address control message of either family. */
#define REPLY_UDP_CONTROL_SIZE                                                                     \
    (CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo)))

/* CMSG_* need cmsghdr alignment. Not a union with a struct cmsghdr: its
 * flexible array member would make this a variable-sized type, which ISO C
 * does not allow inside struct reply. */
union reply_udp_control {
    _Alignas(struct cmsghdr) char buf[REPLY_UDP_CONTROL_SIZE];
};

struct query_chase;
struct reply;
struct tcp_conn;

/* Send answer[0..len) to reply's client, now or as soon as the transport
 * can; never blocks. The answer buffer is the caller's: copy what is kept. */
typedef void (*reply_send_fn)(const struct reply *reply, const uint8_t *answer, size_t len);

/* Filled by the transport for every query it hands to query_handle; a
 * forwarded query keeps a copy until its answer comes. Never a pointer
 * into a receive buffer. */
struct reply {
    reply_send_fn send; /* the transport's: udp_reply_send, tcp_reply_send */
    enum answer_transport transport;
    /* The query's source: for the access lists, the query log, and the
     * destination of a UDP answer. */
    struct sockaddr_storage client;
    socklen_t client_len;
    /* monotonic_now_ns() when the query's batch (UDP) or octets (TCP)
     * arrived: for the answer latency histogram and the query log. */
    uint64_t received_ns;
    /* The transport's own, read only by its send function. */
    union {
        struct {
            int fd; /* the listening socket */
            /* Makes the answer leave from the address the query was sent to. */
            size_t control_len;
            union reply_udp_control control;
        } udp;
        struct {
            /* Valid while its generation is the same: a connection closed
             * meanwhile (its struct is reused, never freed before
             * tcp_shutdown) has another. */
            struct tcp_conn *conn;
            uint64_t generation;
        } tcp;
        /* Not a transport's: the query path's own reply for a CNAME
         * target it resolves through forwarding for a client (query.c);
         * its send function is never called. */
        struct {
            struct query_chase *chase;
        } chase;
    } route;
};

static inline void reply_send(const struct reply *reply, const uint8_t *answer, size_t len)
{
    reply->send(reply, answer, len);
}

#endif
