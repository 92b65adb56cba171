/* The UDP transport: batches of datagrams in with recvmmsg, their answers
 * out with sendmmsg, each query through query_handle. Owns its listeners
 * and the worker's shared batch buffers (server.udp_batch); loop thread only. */
#ifndef NANODNS_UDP_H
#define NANODNS_UDP_H

#include <stdbool.h>

#include <event2/event.h>

#include "server.h"

struct udp_listener {
    struct server *server;
    int fd;
    int family;
    /* Bound to 0.0.0.0 or ::: answers must leave from the address each
     * query was sent to, which only the per-packet control message tells. */
    bool wildcard;
    struct event *event;
};

/* Allocate the shared buffers, once. Returns -1 when out of memory. */
int udp_batch_create(struct server *server);
void udp_batch_destroy(struct server *server);

/* Take ownership of a bound datagram socket fd: make it non-blocking, enable
 * the destination-address control message when it is a wildcard, register
 * its read event. Returns NULL (fd left open) on error, logged. */
struct udp_listener *udp_listener_create(struct server *server, int fd);

/* Unregister and close. */
void udp_listener_destroy(struct udp_listener *listener);

#endif
