/* The TCP transport, RFC 7766: listeners, connections with pipelining,
 * idle timeouts and a connection cap, each query through query_handle.
 * Owns its listeners and the worker's connections (server.tcp_*); loop
 * thread only. */
#ifndef NANODNS_TCP_H
#define NANODNS_TCP_H

#include <event2/event.h>

#include "server.h"

struct tcp_listener {
    struct server *server;
    int fd;
    struct event *event;
};

/* Take ownership of a stream socket fd (made listening if it is not yet).
 * Returns NULL on error, logged. */
struct tcp_listener *tcp_listener_create(struct server *server, int fd);

/* Unregister and close. */
void tcp_listener_destroy(struct tcp_listener *listener);

/* Close every open connection and free every connection buffer. After
 * query_path_destroy: replies of forwarded queries point at connections. */
void tcp_shutdown(struct server *server);

#endif
