/* One data-plane worker (worker.h). */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "forward.h"
#include "log.h"
#include "monotonic.h"
#include "query.h"
#include "querylog.h"
#include "tcp.h"
#include "udp.h"

/* The query log's own descriptor for stderr, opened before the privilege
 * drop (querylog_open_stderr); whether lines are written is the image's
 * log_queries, so it exists whatever that says now. Each worker has its
 * own buffer and descriptor: its lines go out in writes of its own. NULL,
 * after a warning, when there can be none. */
static struct querylog *worker_open_querylog(void)
{
    bool log_is_socket;
    int log_fd = querylog_open_stderr(&log_is_socket);
    if (log_fd < 0) {
        log_warning("query log: cannot open stderr: %s; queries will not be logged",
                    strerror(errno));
        return NULL;
    }
    struct querylog *log = querylog_new(log_fd, log_is_socket);
    if (log == NULL) {
        log_warning("query log: out of memory; queries will not be logged");
        close(log_fd);
    }
    return log;
}

bool worker_take_image(struct worker *w)
{
    const struct image *img = image_handover_take(w->handover, &w->generation);
    if (img == NULL)
        return false;
    /* Between events: no answer of this worker's points into the old
     * image (query.h says why), so it may go once everyone has moved. */
    query_image_changed(&w->server.query, img);
    image_handover_acknowledge(w->handover, w->index, w->generation);
    return true;
}

static void worker_on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct worker *w = arg;
    uint64_t value;
    if (read(fd, &value, sizeof(value)) < 0 && errno != EAGAIN)
        log_debug("worker %u: wake: %s", w->index, strerror(errno));
    if (atomic_load_explicit(&w->stop, memory_order_acquire)) {
        event_base_loopbreak(w->server.base);
        return;
    }
    worker_take_image(w);
}

static void worker_on_beat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    atomic_store_explicit(&w->beat_ms, monotonic_now_ms(), memory_order_relaxed);
    /* The backstop for a wake that did not come. */
    worker_take_image(w);
}

static void worker_on_querylog_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    if (w->querylog != NULL)
        querylog_flush(w->querylog);
}

int worker_init(struct worker *w, unsigned index, unsigned count, struct image_handover *handover,
                struct stats_worker *stats, size_t listener_cap)
{
    w->index = index;
    w->handover = handover;
    w->wake_fd = -1;
    w->generation = atomic_load_explicit(&handover->generation, memory_order_acquire);
    const struct image *img = atomic_load_explicit(&handover->image, memory_order_relaxed);
    atomic_store_explicit(&w->beat_ms, monotonic_now_ms(), memory_order_relaxed);

    w->server.base = event_base_new();
    if (w->server.base == NULL) {
        log_error("worker %u: cannot create the event loop", index);
        return -1;
    }
    if (udp_batch_create(&w->server) < 0) {
        log_error("worker %u: out of memory for UDP buffers", index);
        return -1;
    }
    w->listener_cap = listener_cap;
    w->udp = calloc(listener_cap > 0 ? listener_cap : 1, sizeof(*w->udp));
    w->tcp = calloc(listener_cap > 0 ? listener_cap : 1, sizeof(*w->tcp));
    if (w->udp == NULL || w->tcp == NULL) {
        log_error("worker %u: out of memory", index);
        return -1;
    }
    w->querylog = worker_open_querylog();
    if (query_path_init(&w->server.query, w->server.base, img, stats, w->querylog) < 0)
        return -1;
    forward_set_workers(w->server.query.forward, count);

    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake_fd < 0) {
        log_error("worker %u: eventfd: %s", index, strerror(errno));
        return -1;
    }
    struct timeval beat = {0, WORKER_BEAT_INTERVAL_MS * 1000};
    struct timeval flush = {0, QUERYLOG_FLUSH_INTERVAL_MS * 1000};
    w->wake_event = event_new(w->server.base, w->wake_fd, EV_READ | EV_PERSIST, worker_on_wake, w);
    w->beat_event = event_new(w->server.base, -1, EV_PERSIST, worker_on_beat, w);
    w->querylog_timer = event_new(w->server.base, -1, EV_PERSIST, worker_on_querylog_timer, w);
    if (w->wake_event == NULL || w->beat_event == NULL || w->querylog_timer == NULL ||
        event_add(w->wake_event, NULL) < 0 || event_add(w->beat_event, &beat) < 0 ||
        event_add(w->querylog_timer, &flush) < 0) {
        log_error("worker %u: cannot register its events", index);
        return -1;
    }
    return 0;
}

int worker_add_udp(struct worker *w, int fd)
{
    if (w->udp_count >= w->listener_cap) {
        close(fd);
        return -1;
    }
    struct udp_listener *l = udp_listener_create(&w->server, fd);
    if (l == NULL) {
        close(fd);
        return -1;
    }
    w->udp[w->udp_count++] = l;
    return 0;
}

int worker_add_tcp(struct worker *w, int fd)
{
    if (w->tcp_count >= w->listener_cap) {
        close(fd);
        return -1;
    }
    struct tcp_listener *l = tcp_listener_create(&w->server, fd);
    if (l == NULL) {
        close(fd);
        return -1;
    }
    w->tcp[w->tcp_count++] = l;
    return 0;
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    if (event_base_dispatch(w->server.base) < 0)
        log_error("worker %u: event loop failed", w->index);
    return NULL;
}

int worker_start_thread(struct worker *w)
{
    /* The thread inherits the mask: SIGHUP, SIGTERM and SIGINT reach the
     * main thread's loop only. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, worker_run, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_error("worker %u: cannot start its thread: %s", w->index, strerror(rc));
        return -1;
    }
    w->thread_started = true;
    return 0;
}

void worker_wake(struct worker *w)
{
    uint64_t one = 1;
    if (w->wake_fd >= 0 && write(w->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warning("worker %u: wake: %s", w->index, strerror(errno));
}

void worker_stop(struct worker *w)
{
    atomic_store_explicit(&w->stop, true, memory_order_release);
    worker_wake(w);
}

uint64_t worker_beat_age_ms(const struct worker *w, uint64_t now_ms)
{
    uint64_t beat = atomic_load_explicit(&w->beat_ms, memory_order_relaxed);
    return now_ms > beat ? now_ms - beat : 0;
}

void worker_destroy(struct worker *w)
{
    if (w->thread_started) {
        pthread_join(w->thread, NULL);
        w->thread_started = false;
    }
    /* The query path first: its forwarded queries' replies point at
     * listeners and TCP connections. */
    if (w->server.query.forward != NULL || w->server.query.rrl != NULL)
        query_path_destroy(&w->server.query);
    for (size_t i = 0; i < w->udp_count; i++)
        udp_listener_destroy(w->udp[i]);
    for (size_t i = 0; i < w->tcp_count; i++)
        tcp_listener_destroy(w->tcp[i]);
    free(w->udp);
    free(w->tcp);
    w->udp = NULL;
    w->tcp = NULL;
    w->udp_count = w->tcp_count = 0;
    tcp_shutdown(&w->server);
    udp_batch_destroy(&w->server);
    struct event *events[] = {w->wake_event, w->beat_event, w->querylog_timer};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        if (events[i] != NULL)
            event_free(events[i]);
    w->wake_event = w->beat_event = w->querylog_timer = NULL;
    querylog_free(w->querylog); /* what is buffered goes out */
    w->querylog = NULL;
    w->server.query.querylog = NULL;
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    w->wake_fd = -1;
    if (w->server.base != NULL)
        event_base_free(w->server.base);
    w->server.base = NULL;
}

static bool same_address(int a, int b)
{
    struct sockaddr_storage x, y;
    socklen_t x_len = sizeof(x), y_len = sizeof(y);
    if (getsockname(a, (struct sockaddr *)&x, &x_len) < 0 ||
        getsockname(b, (struct sockaddr *)&y, &y_len) < 0)
        return false;
    return x_len == y_len && memcmp(&x, &y, x_len) == 0;
}

/* Hand every socket to a worker. The UDP sockets go address by address:
 * the k sockets on one address (an SO_REUSEPORT group from nanodns start,
 * one per worker; or the one socket systemd or --listen gives) are dealt
 * to the workers in turn, and with fewer sockets than workers the
 * workers share them, each polling a duplicate of its own (whichever
 * reads a datagram first answers it). Every socket is read by some
 * worker and every worker reads every address. The TCP listeners all go
 * to worker 0 (worker.h says why). On failure every socket not yet handed
 * over is closed. */
int workers_take_sockets(struct worker *all, unsigned workers, struct listen_socket *sockets,
                         size_t count, size_t *udp_sockets, size_t *tcp_sockets)
{
    bool *dealt = calloc(count > 0 ? count : 1, sizeof(*dealt));
    size_t *group = calloc(count > 0 ? count : 1, sizeof(*group));
    int rc = 0;
    if (dealt == NULL || group == NULL) {
        log_error("out of memory");
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < count; i++) {
        if (dealt[i])
            continue;
        if (sockets[i].type == SOCK_STREAM) {
            dealt[i] = true;
            (*tcp_sockets)++;
            rc = worker_add_tcp(&all[0], sockets[i].fd);
            continue;
        }
        size_t k = 0;
        for (size_t j = i; j < count; j++)
            if (!dealt[j] && sockets[j].type == SOCK_DGRAM &&
                (j == i || same_address(sockets[i].fd, sockets[j].fd))) {
                group[k++] = j;
                dealt[j] = true;
            }
        *udp_sockets += k;
        size_t rounds = k > workers ? k : workers;
        size_t m = 0;
        for (; rc == 0 && m < rounds; m++) {
            int fd = sockets[group[m % k]].fd;
            if (m >= k) {
                fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
                if (fd < 0) {
                    log_error("cannot share a UDP socket between workers: %s", strerror(errno));
                    rc = -1;
                    break;
                }
            }
            rc = worker_add_udp(&all[m % workers], fd); /* closes fd on failure */
        }
        /* After a failure, the group's sockets not handed over yet (the
         * originals from m on; a duplicate's original is handed already). */
        for (; rc < 0 && m < k; m++)
            close(sockets[group[m]].fd);
    }
    for (size_t i = 0; rc < 0 && i < count; i++)
        if (dealt == NULL || !dealt[i])
            close(sockets[i].fd);
    free(dealt);
    free(group);
    return rc;
}
