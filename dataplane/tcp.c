/* TCP, RFC 7766: length-prefixed messages, pipelining (every complete query
 * in the read buffer is answered, in order), an idle timeout and a cap on
 * open connections. Each connection owns a read buffer for one whole
 * message and a write buffer for two whole answers; closed connections go
 * to a free list with their buffers, so steady state allocates nothing. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event_struct.h>

#include "answer.h"
#include "log.h"

#define TCP_MESSAGE_MAX (2 + 65535) /* RFC 7766 §8: 2-octet length, then the message */
#define TCP_READ_SIZE TCP_MESSAGE_MAX
#define TCP_WRITE_SIZE (2 * TCP_MESSAGE_MAX)

/* Defaults for an image that leaves the settings at zero. */
#define TCP_DEFAULT_IDLE_TIMEOUT_MS 10000
#define TCP_DEFAULT_MAX_CONNECTIONS 256

/* After EMFILE and the like, stop accepting for a moment instead of
 * spinning on a listening socket that stays readable. */
#define TCP_ACCEPT_PAUSE_MS 100
#define TCP_ACCEPTS_PER_EVENT 64

struct tcp_conn {
    struct server *server;
    struct tcp_conn *prev, *next; /* in server->tcp_open, or next in server->tcp_free */
    int fd;
    bool reading;    /* read_event is added */
    bool writing;    /* write_event is added */
    bool eof;        /* the client half-closed: answer what is buffered, then close */
    bool closing;    /* a message we do not answer: flush, then close */
    bool backlogged; /* a complete query waits for room in the write buffer */
    struct event read_event;
    struct event write_event;
    /* Closed when no complete query has arrived by then and nothing was
     * waiting to be written (RFC 7766 §6.2.3). */
    struct timeval deadline;
    size_t read_len;
    size_t write_start, write_end;
    uint8_t read_buf[TCP_READ_SIZE];
    uint8_t write_buf[TCP_WRITE_SIZE];
};

static uint32_t tcp_idle_timeout_ms(const struct server *server)
{
    uint32_t ms = server->image->settings->tcp_idle_timeout_ms;
    return ms != 0 ? ms : TCP_DEFAULT_IDLE_TIMEOUT_MS;
}

static uint32_t tcp_max_connections(const struct server *server)
{
    uint32_t n = server->image->settings->tcp_max_connections;
    return n != 0 ? n : TCP_DEFAULT_MAX_CONNECTIONS;
}

static struct timeval tcp_ms_to_timeval(uint32_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

static void tcp_now(struct tcp_conn *conn, struct timeval *now)
{
    /* The loop's cached time: no system call. */
    event_base_gettimeofday_cached(conn->server->base, now);
}

static void tcp_reset_deadline(struct tcp_conn *conn, const struct timeval *now)
{
    struct timeval idle = tcp_ms_to_timeval(tcp_idle_timeout_ms(conn->server));
    evutil_timeradd(now, &idle, &conn->deadline);
}

static void tcp_close(struct tcp_conn *conn)
{
    struct server *server = conn->server;
    if (conn->reading)
        event_del(&conn->read_event);
    if (conn->writing)
        event_del(&conn->write_event);
    /* Linux releases the descriptor even when close fails: never retry. */
    close(conn->fd);
    conn->fd = -1;

    if (conn->prev != NULL)
        conn->prev->next = conn->next;
    else
        server->tcp_open = conn->next;
    if (conn->next != NULL)
        conn->next->prev = conn->prev;
    server->tcp_open_count--;

    conn->prev = NULL;
    conn->next = server->tcp_free;
    server->tcp_free = conn;
}

/* Answer every complete query in the read buffer while the write buffer
 * has room for the longest answer. */
static void tcp_answer_buffered(struct tcp_conn *conn, const struct timeval *now)
{
    const struct image *img = conn->server->image;
    size_t pos = 0;
    bool answered = false;

    conn->backlogged = false;
    while (!conn->closing && conn->read_len - pos >= 2) {
        size_t query_len = (size_t)conn->read_buf[pos] << 8 | conn->read_buf[pos + 1];
        if (query_len == 0) {
            conn->closing = true; /* not a DNS message: nothing to answer */
            server_count_dropped(conn->server);
            break;
        }
        if (conn->read_len - pos < 2 + query_len)
            break; /* the rest of it has not arrived yet */

        if (TCP_WRITE_SIZE - conn->write_end < TCP_MESSAGE_MAX && conn->write_start > 0) {
            memmove(conn->write_buf, conn->write_buf + conn->write_start,
                    conn->write_end - conn->write_start);
            conn->write_end -= conn->write_start;
            conn->write_start = 0;
        }
        if (TCP_WRITE_SIZE - conn->write_end < TCP_MESSAGE_MAX) {
            conn->backlogged = true; /* backpressure: wait until the client reads */
            break;
        }

        uint8_t *out = conn->write_buf + conn->write_end;
        struct answer_info info;
        size_t len =
            answer_query(img, conn->read_buf + pos + 2, query_len, out + 2, ANSWER_TCP, &info);
        pos += 2 + query_len;
        if (len == 0) {
            /* RFC 8906: only what is not a query gets no answer; the
             * connection carries nothing we understand. */
            conn->closing = true;
            server_count_dropped(conn->server);
            break;
        }
        server_count_answer(conn->server, STATS_TCP, &info);
        out[0] = (uint8_t)(len >> 8);
        out[1] = (uint8_t)len;
        conn->write_end += 2 + len;
        answered = true;
    }

    if (conn->closing) {
        conn->read_len = 0;
        conn->backlogged = false;
    } else if (pos > 0) {
        memmove(conn->read_buf, conn->read_buf + pos, conn->read_len - pos);
        conn->read_len -= pos;
    }
    if (answered)
        tcp_reset_deadline(conn, now);
}

/* Write what is pending. Returns -1 when the connection is gone. */
static int tcp_flush(struct tcp_conn *conn, const struct timeval *now)
{
    if (conn->write_start == conn->write_end)
        return 0;
    while (conn->write_start < conn->write_end) {
        ssize_t sent = send(conn->fd, conn->write_buf + conn->write_start,
                            conn->write_end - conn->write_start, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            log_debug("tcp: send failed: %s", strerror(errno));
            return -1;
        }
        conn->write_start += (size_t)sent;
    }
    conn->write_start = conn->write_end = 0;
    /* Idle time counts from when nothing was left to write. */
    tcp_reset_deadline(conn, now);
    return 0;
}

/* Answer and write until the queries run out or the socket is full. A
 * backlog left by a full write buffer is picked up as soon as the buffer
 * drains, here or in the write callback: the client may have sent
 * everything already, so no read event would come back to it. Returns -1
 * when the connection is gone. */
static int tcp_serve(struct tcp_conn *conn, const struct timeval *now)
{
    do {
        tcp_answer_buffered(conn, now);
        if (tcp_flush(conn, now) < 0)
            return -1;
    } while (conn->backlogged && conn->write_start == conn->write_end);
    return 0;
}

/* Arm the events the connection's state calls for, or close it. Every path
 * out of a connection callback ends here, so a connection always has an
 * event that will come back to it. */
static void tcp_update(struct tcp_conn *conn, const struct timeval *now)
{
    size_t pending = conn->write_end - conn->write_start;
    if (pending == 0 && !conn->backlogged && (conn->eof || conn->closing)) {
        tcp_close(conn);
        return;
    }

    if (pending > 0 && !conn->writing) {
        /* A client that reads none of its answers for the idle time is
         * closed by this timeout; it restarts on every writable event. */
        struct timeval idle = tcp_ms_to_timeval(tcp_idle_timeout_ms(conn->server));
        if (event_add(&conn->write_event, &idle) < 0) {
            tcp_close(conn);
            return;
        }
        conn->writing = true;
    } else if (pending == 0 && conn->writing) {
        event_del(&conn->write_event);
        conn->writing = false;
    }

    bool want_read = !conn->eof && !conn->closing && conn->read_len < TCP_READ_SIZE &&
                     pending <= TCP_MESSAGE_MAX;
    if (want_read) {
        /* The timeout is what is left until the deadline, so a client
         * trickling octets without completing a query still times out. */
        struct timeval left = {0, 0};
        if (evutil_timercmp(&conn->deadline, now, >))
            evutil_timersub(&conn->deadline, now, &left);
        struct timeval idle = tcp_ms_to_timeval(tcp_idle_timeout_ms(conn->server));
        if (evutil_timercmp(&left, &idle, >))
            left = idle; /* the clock went back */
        if (event_add(&conn->read_event, &left) < 0) {
            tcp_close(conn);
            return;
        }
        conn->reading = true;
    } else if (conn->reading) {
        event_del(&conn->read_event);
        conn->reading = false;
    }
}

static void tcp_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_conn *conn = arg;
    struct timeval now;
    tcp_now(conn, &now);

    if (what & EV_TIMEOUT) {
        if (conn->write_end > conn->write_start) {
            /* Answers still waiting: the write timeout watches this client. */
            tcp_reset_deadline(conn, &now);
        } else if (!evutil_timercmp(&now, &conn->deadline, <)) {
            log_debug("tcp: closing idle connection");
            tcp_close(conn);
            return;
        }
    }

    if (what & EV_READ) {
        ssize_t got;
        do {
            got = recv(fd, conn->read_buf + conn->read_len, TCP_READ_SIZE - conn->read_len,
                       MSG_DONTWAIT);
        } while (got < 0 && errno == EINTR);
        if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            /* A reset, typically: nobody is left to answer. */
            log_debug("tcp: receive failed: %s", strerror(errno));
            tcp_close(conn);
            return;
        }
        if (got == 0)
            conn->eof = true; /* RFC 7766 §6.2.4: still answer what arrived */
        if (got > 0)
            conn->read_len += (size_t)got;
        if (tcp_serve(conn, &now) < 0) {
            tcp_close(conn);
            return;
        }
    }
    tcp_update(conn, &now);
}

static void tcp_on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct tcp_conn *conn = arg;
    struct timeval now;
    tcp_now(conn, &now);

    if (!(what & EV_WRITE)) {
        log_debug("tcp: closing connection whose client reads no answers");
        tcp_close(conn);
        return;
    }
    if (tcp_flush(conn, &now) < 0 || (conn->backlogged && tcp_serve(conn, &now) < 0)) {
        tcp_close(conn);
        return;
    }
    tcp_update(conn, &now);
}

static struct tcp_conn *tcp_conn_get(struct server *server)
{
    struct tcp_conn *conn = server->tcp_free;
    if (conn != NULL) {
        server->tcp_free = conn->next;
        return conn;
    }
    return malloc(sizeof(*conn));
}

static void tcp_accept_one(struct server *server, int fd)
{
    if (server->tcp_open_count >= tcp_max_connections(server)) {
        /* At the cap: the newcomer is closed unanswered rather than
         * taking an established client's place. */
        log_debug("tcp: connection limit %u reached, closing new connection",
                  tcp_max_connections(server));
        close(fd);
        return;
    }
    int on = 1;
    /* Pipelined answers must not wait for the previous one's ACK (Nagle). */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) < 0)
        log_debug("tcp: TCP_NODELAY: %s", strerror(errno));

    struct tcp_conn *conn = tcp_conn_get(server);
    if (conn == NULL) {
        log_warning("tcp: out of memory for a new connection");
        close(fd);
        return;
    }
    conn->server = server;
    conn->fd = fd;
    conn->reading = conn->writing = false;
    conn->eof = conn->closing = conn->backlogged = false;
    conn->read_len = 0;
    conn->write_start = conn->write_end = 0;
    if (event_assign(&conn->read_event, server->base, fd, EV_READ | EV_PERSIST, tcp_on_read, conn) <
            0 ||
        event_assign(&conn->write_event, server->base, fd, EV_WRITE | EV_PERSIST, tcp_on_write,
                     conn) < 0) {
        log_warning("tcp: cannot set up events for a new connection");
        close(fd);
        conn->next = server->tcp_free;
        server->tcp_free = conn;
        return;
    }

    conn->prev = NULL;
    conn->next = server->tcp_open;
    if (server->tcp_open != NULL)
        server->tcp_open->prev = conn;
    server->tcp_open = conn;
    server->tcp_open_count++;

    struct timeval now;
    tcp_now(conn, &now);
    tcp_reset_deadline(conn, &now);
    tcp_update(conn, &now);
}

struct tcp_listener_state {
    struct tcp_listener listener;
    struct event *resume; /* re-enables accepting after a pause */
};

static void tcp_on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct tcp_listener *listener = arg;
    if (event_add(listener->event, NULL) < 0)
        log_error("tcp socket %d: cannot re-enable accepting", listener->fd);
}

static void tcp_on_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct tcp_listener_state *state = arg;
    struct server *server = state->listener.server;

    for (int i = 0; i < TCP_ACCEPTS_PER_EVENT; i++) {
        int conn_fd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (conn_fd >= 0) {
            tcp_accept_one(server, conn_fd);
            continue;
        }
        switch (errno) {
        case EINTR:
        case ECONNABORTED: /* reset while in the queue */
        case EPROTO:
            continue;
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            return;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM: {
            log_warning("tcp: cannot accept: %s; pausing for %d ms", strerror(errno),
                        TCP_ACCEPT_PAUSE_MS);
            struct timeval pause = tcp_ms_to_timeval(TCP_ACCEPT_PAUSE_MS);
            if (event_del(state->listener.event) == 0 && event_add(state->resume, &pause) < 0)
                event_add(state->listener.event, NULL);
            return;
        }
        default:
            log_warning("tcp: accept: %s", strerror(errno));
            return;
        }
    }
}

struct tcp_listener *tcp_listener_create(struct server *server, int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        log_error("tcp socket %d: cannot make it non-blocking: %s", fd, strerror(errno));
        return NULL;
    }
    /* Sockets handed over are meant to be listening already; make sure. */
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) {
        log_error("tcp socket %d: getsockopt: %s", fd, strerror(errno));
        return NULL;
    }
    if (!listening && listen(fd, SOMAXCONN) < 0) {
        log_error("tcp socket %d: listen: %s", fd, strerror(errno));
        return NULL;
    }

    struct tcp_listener_state *state = calloc(1, sizeof(*state));
    if (state == NULL) {
        log_error("tcp socket %d: out of memory", fd);
        return NULL;
    }
    state->listener.server = server;
    state->listener.fd = fd;
    state->listener.event = event_new(server->base, fd, EV_READ | EV_PERSIST, tcp_on_accept, state);
    state->resume = evtimer_new(server->base, tcp_on_resume, &state->listener);
    if (state->listener.event == NULL || state->resume == NULL ||
        event_add(state->listener.event, NULL) < 0) {
        log_error("tcp socket %d: cannot register its event", fd);
        if (state->listener.event != NULL)
            event_free(state->listener.event);
        if (state->resume != NULL)
            event_free(state->resume);
        free(state);
        return NULL;
    }
    return &state->listener;
}

void tcp_listener_destroy(struct tcp_listener *listener)
{
    if (listener == NULL)
        return;
    struct tcp_listener_state *state = (struct tcp_listener_state *)listener;
    event_free(state->listener.event);
    event_free(state->resume);
    close(state->listener.fd);
    free(state);
}

void tcp_shutdown(struct server *server)
{
    while (server->tcp_open != NULL)
        tcp_close(server->tcp_open);
    while (server->tcp_free != NULL) {
        struct tcp_conn *conn = server->tcp_free;
        server->tcp_free = conn->next;
        free(conn);
    }
}
