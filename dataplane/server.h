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

#include "image.h"

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
