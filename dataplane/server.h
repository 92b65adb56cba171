/* One data-plane worker's state: its event loop, its query path, and the
 * buffers and connections of its UDP and TCP transports. Filled by main.c;
 * the transports (udp.c, tcp.c) own the fields marked theirs. Everything
 * runs on the loop's thread, so nothing here is locked. */
#ifndef NANODNS_SERVER_H
#define NANODNS_SERVER_H

#include <stdint.h>

#include <event2/event.h>

#include "query.h"

struct udp_batch;
struct tcp_conn;

struct server {
    struct event_base *base;

    /* The image, counters, query log and forwarding every answer goes
     * through, whichever the transport (query.h). */
    struct query_path query;

    /* UDP receive and answer buffers, shared by all UDP listeners (one
     * thread: only one callback uses them at a time). Owned by udp.c. */
    struct udp_batch *udp_batch;

    /* TCP connections: the open ones, and closed ones kept with their
     * buffers so that steady state does not allocate. Owned by tcp.c. */
    struct tcp_conn *tcp_open;
    struct tcp_conn *tcp_free;
    unsigned tcp_open_count;
    uint64_t tcp_generation; /* the last one given to a connection */
    /* Connections the descriptor budget has room for (descriptors.h),
     * whatever tcp_max_connections says; 0: no limit of its own. Set by
     * main.c before serving. */
    unsigned tcp_budget;
};

#endif
