/* One data-plane worker: an event loop on a thread of its own (worker 0 on
 * the main thread, whose loop also carries the process's signals and
 * timers), the UDP sockets it reads, the TCP listeners (worker 0 only),
 * its query path (forwarding, rate limiting; the cache is shared), its query log
 * and its slot of the stats file. Nothing is shared between workers but
 * the image, which is read-only and handed over by image_handover.h, and
 * the log's descriptor. A worker's fields are its thread's alone, but for
 * beat_ms and stop (atomics, read and set by the main thread).
 *
 * TCP is worker 0's alone: RFC 7766's limits (tcp_max_connections, a
 * quarter of them per client, the connection idle longest evicted for a
 * newcomer) need one view of every connection to mean what they say, and
 * TCP carries the small share of DNS (truncated and large answers). */
#ifndef NANODNS_WORKER_H
#define NANODNS_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image_handover.h"
#include "server.h"
#include "stats.h"

struct querylog;
struct udp_listener;
struct tcp_listener;

/* A worker thread moves its beat this often; the main thread stops the
 * process's heartbeat when one has not moved for WORKER_STALE_MS, so that
 * the control plane sees a hung worker as a hung data plane. */
#define WORKER_BEAT_INTERVAL_MS 250
#define WORKER_STALE_MS 1500

struct worker {
    unsigned index;
    struct server server;            /* its loop (owned), query path and transports */
    struct image_handover *handover; /* borrowed from main.c */
    uint64_t generation;             /* of the image served */
    struct querylog *querylog;       /* owned; NULL without one */

    struct udp_listener **udp;
    size_t udp_count;
    struct tcp_listener **tcp;
    size_t tcp_count;
    size_t listener_cap;

    /* The main thread's way in (eventfd): a new image, or stop. */
    int wake_fd;
    struct event *wake_event, *beat_event, *querylog_timer;

    _Atomic uint64_t beat_ms; /* monotonic; moved by the worker's own loop */
    _Atomic bool stop;
    pthread_t thread;
    bool thread_started;
};

/* A socket to serve on, before a worker takes it over. */
struct listen_socket {
    int fd;
    int type; /* SOCK_DGRAM or SOCK_STREAM */
};

/* Hand sockets[0 .. count) to the workers all[0 .. workers): every UDP
 * socket to one or more of them, every TCP one to worker 0; *udp_sockets
 * and *tcp_sockets count them. On failure every socket not yet handed over
 * is closed. Returns -1 after logging. */
int workers_take_sockets(struct worker *all, unsigned workers, struct listen_socket *sockets,
                         size_t count, size_t *udp_sockets, size_t *tcp_sockets);

/* Set up worker index of count: its loop, UDP buffers, query log (opened
 * here: before the privilege drop), query path over the handover's image
 * with stats, its timers and wake event. Sockets come next
 * (worker_add_udp, worker_add_tcp). Returns -1 after logging; call
 * worker_destroy in any case. */
int worker_init(struct worker *w, unsigned index, unsigned count, struct image_handover *handover,
                struct stats_worker *stats, size_t listener_cap);

/* Take over a socket (closed on failure). Returns -1 after logging. */
int worker_add_udp(struct worker *w, int fd);
int worker_add_tcp(struct worker *w, int fd);

/* Serve the image last published, if this worker does not yet, and
 * acknowledge it. On the worker's own thread, between events. Returns
 * true when it switched. */
bool worker_take_image(struct worker *w);

/* Run the loop on a new thread (workers other than 0), every signal
 * blocked there (they go to the main thread). Returns -1 after logging. */
int worker_start_thread(struct worker *w);

/* From the main thread: look at the handover now; stop (and wake). */
void worker_wake(struct worker *w);
void worker_stop(struct worker *w);

/* From the main thread: milliseconds since the worker's loop last ran
 * its beat timer. */
uint64_t worker_beat_age_ms(const struct worker *w, uint64_t now_ms);

/* Join its thread (after worker_stop), then close and free everything:
 * forwarded queries, listeners, connections, buffers, query log, loop. */
void worker_destroy(struct worker *w);

#endif
