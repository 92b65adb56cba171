/* TCP (tcp.h), RFC 7766: length-prefixed messages, pipelining (every complete query
 * in the read buffer is answered; those answered from the image or the
 * cache in order, forwarded ones when their answer arrives, RFC 7766 §7),
 * an idle timeout, shorter under pressure, and a cap on open connections,
 * with a smaller one per client address and the connection idle longest
 * making room for a newcomer at the cap (RFC 7766 §6.2.3). Each connection owns a
 * read buffer for one whole message and a write buffer for two whole
 * answers; closed connections go to a free list with their buffers, so
 * steady state allocates nothing. Only a forwarded answer that finds the
 * write buffer full is queued in memory of its own. */
#include "tcp.h"

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
#include "cidr.h"
#include "log.h"
#include "query.h"
#include "reply.h"

#define TCP_MESSAGE_MAX (2 + 65535) /* RFC 7766 §8: 2-octet length, then the message */
#define TCP_READ_SIZE TCP_MESSAGE_MAX
#define TCP_WRITE_SIZE (2 * TCP_MESSAGE_MAX)

/* Defaults for an image that leaves the settings at zero. */
#define TCP_DEFAULT_IDLE_TIMEOUT_MS 10000
#define TCP_DEFAULT_MAX_CONNECTIONS 256

/* RFC 7766 §6.2.3, under pressure (more than half the connections in
 * use): the idle timeout drops to a quarter of its value, but not below
 * TCP_PRESSURE_IDLE_FLOOR_MS (nor above what is configured). */
#define TCP_PRESSURE_IDLE_DIVISOR 4
#define TCP_PRESSURE_IDLE_FLOOR_MS 1000

/* One source address may hold a quarter of the connections, and at least
 * TCP_PER_CLIENT_MIN (a client pipelining over a few connections is
 * normal, RFC 7766 §6.2.2); with a cap that small the cap itself. */
#define TCP_PER_CLIENT_DIVISOR 4
#define TCP_PER_CLIENT_MIN 4

/* With every connection in use, a newcomer takes the place of the
 * connection idle longest, if it has been idle this long: one that was
 * just answered may be about to send its next query. */
#define TCP_EVICT_IDLE_MIN_MS 1000

/* After EMFILE and the like, stop accepting for a moment instead of
 * spinning on a listening socket that stays readable. */
#define TCP_ACCEPT_PAUSE_MS 100
#define TCP_ACCEPTS_PER_EVENT 64

/* Forwarded queries one connection may have out at once; its next
 * queries wait in the read buffer (and reading stops when it is full). */
#define TCP_FORWARDS_MAX 32

/* A forwarded answer that arrived when the write buffer had no room. */
struct tcp_queued {
    struct tcp_queued *next;
    size_t len; /* of data: the 2-octet length and the message */
    uint8_t data[];
};

struct tcp_conn {
    struct server *server;
    struct tcp_conn *prev, *next; /* in server->tcp_open, or next in server->tcp_free */
    int fd;
    bool reading;    /* read_event is added */
    bool writing;    /* write_event is added */
    bool eof;        /* the client half-closed: answer what is buffered, then close */
    bool closing;    /* a message we do not answer: flush, then close */
    bool backlogged; /* a complete query waits for room in the write buffer */
    bool waiting;    /* a complete query waits for forwarded answers (TCP_FORWARDS_MAX) */
    /* Tells a forwarded answer whether this is still the connection its
     * query came on (reply.route.tcp.generation). */
    uint64_t generation;
    unsigned forwards; /* forwarded queries whose answer has not come yet */
    struct tcp_queued *queued, *queued_last;
    size_t queued_bytes;
    /* Every query's reply, filled at accept: the peer (for the access
     * lists and the query log), tcp_reply_send, this connection and its
     * generation; only the receipt time changes per query. */
    struct reply reply;
    struct event read_event;
    struct event write_event;
    /* Closed when no complete query has arrived by then and nothing was
     * waiting to be written (RFC 7766 §6.2.3). */
    struct timeval deadline;
    struct timeval active; /* when deadline was last set: idle since */
    size_t read_len;
    size_t write_start, write_end;
    uint8_t read_buf[TCP_READ_SIZE];
    uint8_t write_buf[TCP_WRITE_SIZE];
};

static uint32_t tcp_max_connections(const struct server *server)
{
    uint32_t n = server->query.image->settings->tcp_max_connections;
    if (n == 0)
        n = TCP_DEFAULT_MAX_CONNECTIONS;
    return server->tcp_budget != 0 && n > server->tcp_budget ? server->tcp_budget : n;
}

/* The configured idle timeout, shortened while more than half the
 * connections are in use (RFC 7766 §6.2.3). */
static uint32_t tcp_idle_timeout_ms(const struct server *server)
{
    uint32_t ms = server->query.image->settings->tcp_idle_timeout_ms;
    if (ms == 0)
        ms = TCP_DEFAULT_IDLE_TIMEOUT_MS;
    if ((uint64_t)server->tcp_open_count * 2 > tcp_max_connections(server)) {
        uint32_t shorter = ms / TCP_PRESSURE_IDLE_DIVISOR;
        if (shorter < TCP_PRESSURE_IDLE_FLOOR_MS)
            shorter = TCP_PRESSURE_IDLE_FLOOR_MS;
        if (shorter < ms)
            ms = shorter;
    }
    return ms;
}

static uint32_t tcp_per_client_max(const struct server *server)
{
    uint32_t max = tcp_max_connections(server);
    uint32_t share = max / TCP_PER_CLIENT_DIVISOR;
    if (share < TCP_PER_CLIENT_MIN)
        share = TCP_PER_CLIENT_MIN;
    return share < max ? share : max;
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
    conn->active = *now;
}

static void tcp_close(struct tcp_conn *conn)
{
    struct server *server = conn->server;
    if (conn->reading)
        event_del(&conn->read_event);
    /* Unconditionally: tcp_reply_send may have made it active without
     * adding it, and a queued callback must not find the struct reused. */
    event_del(&conn->write_event);
    while (conn->queued != NULL) {
        struct tcp_queued *q = conn->queued;
        conn->queued = q->next;
        free(q);
    }
    conn->queued_last = NULL;
    conn->queued_bytes = 0;
    conn->generation = 0; /* answers still on their way find it gone */
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

/* Room for len more octets at the end of the write buffer, moving what
 * is still unsent to its start if need be. */
static bool tcp_write_room(struct tcp_conn *conn, size_t len)
{
    if (TCP_WRITE_SIZE - conn->write_end < len && conn->write_start > 0) {
        memmove(conn->write_buf, conn->write_buf + conn->write_start,
                conn->write_end - conn->write_start);
        conn->write_end -= conn->write_start;
        conn->write_start = 0;
    }
    return TCP_WRITE_SIZE - conn->write_end >= len;
}

/* Answer every complete query in the read buffer while the write buffer
 * has room for the longest answer. Returns how many were answered now
 * (into the write buffer), forwarded ones not counted. */
static unsigned tcp_answer_buffered(struct tcp_conn *conn, const struct timeval *now)
{
    struct query_path *query = &conn->server->query;
    size_t pos = 0;
    bool answered = false;
    unsigned answered_now = 0;

    conn->backlogged = false;
    conn->waiting = false;
    while (!conn->closing && conn->read_len - pos >= 2) {
        size_t query_len = (size_t)conn->read_buf[pos] << 8 | conn->read_buf[pos + 1];
        if (query_len == 0) {
            conn->closing = true; /* not a DNS message: nothing to answer */
            query_count_dropped(query);
            break;
        }
        if (conn->read_len - pos < 2 + query_len)
            break; /* the rest of it has not arrived yet */
        if (!tcp_write_room(conn, TCP_MESSAGE_MAX) || conn->queued != NULL) {
            conn->backlogged = true; /* backpressure: wait until the client reads */
            break;
        }
        if (conn->forwards >= TCP_FORWARDS_MAX) {
            conn->waiting = true; /* tcp_reply_send comes back to it */
            break;
        }

        uint8_t *out = conn->write_buf + conn->write_end;
        size_t len;
        enum query_outcome outcome =
            query_handle(query, conn->read_buf + pos + 2, query_len, &conn->reply, out + 2, &len);
        pos += 2 + query_len;
        if (outcome == QUERY_DROPPED) {
            /* RFC 8906: only what is not a query gets no answer; the
             * connection carries nothing we understand. */
            conn->closing = true;
            break;
        }
        answered = true;
        if (outcome == QUERY_FORWARDED) {
            conn->forwards++; /* answered later, by tcp_reply_send */
            continue;
        }
        out[0] = (uint8_t)(len >> 8);
        out[1] = (uint8_t)len;
        conn->write_end += 2 + len;
        answered_now++;
    }

    if (conn->closing) {
        conn->read_len = 0;
        conn->backlogged = false;
        conn->waiting = false;
    } else if (pos > 0) {
        memmove(conn->read_buf, conn->read_buf + pos, conn->read_len - pos);
        conn->read_len -= pos;
    }
    if (answered)
        tcp_reset_deadline(conn, now);
    return answered_now;
}

/* Move queued forwarded answers into the write buffer, in order, while
 * they fit. */
static void tcp_unqueue(struct tcp_conn *conn)
{
    while (conn->queued != NULL && tcp_write_room(conn, conn->queued->len)) {
        struct tcp_queued *q = conn->queued;
        memcpy(conn->write_buf + conn->write_end, q->data, q->len);
        conn->write_end += q->len;
        conn->queued_bytes -= q->len;
        conn->queued = q->next;
        if (conn->queued == NULL)
            conn->queued_last = NULL;
        free(q);
    }
}

/* Write what is pending. Returns -1 when the connection is gone. */
static int tcp_flush(struct tcp_conn *conn, const struct timeval *now)
{
    tcp_unqueue(conn);
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
        if (conn->write_start == conn->write_end) {
            conn->write_start = conn->write_end = 0;
            tcp_unqueue(conn);
        }
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
    unsigned answered = 0;
    do {
        answered += tcp_answer_buffered(conn, now);
        if (tcp_flush(conn, now) < 0)
            return -1; /* gone: nothing was sent */
    } while (conn->backlogged && conn->write_start == conn->write_end && conn->queued == NULL);
    /* Timed once for all of them: from the read that brought them to
     * their answers handed to the kernel (or left in the write buffer of a
     * client that does not read them yet). */
    if (answered > 0)
        query_count_sent(&conn->server->query, conn->reply.received_ns, monotonic_now_ns(),
                         answered);
    return 0;
}

/* Arm the events the connection's state calls for, or close it. Every path
 * out of a connection callback ends here, so a connection always has an
 * event that will come back to it. */
static void tcp_update(struct tcp_conn *conn, const struct timeval *now)
{
    size_t pending = conn->write_end - conn->write_start + conn->queued_bytes;
    /* After a half-close, forwarded answers still to come are waited for
     * (RFC 7766 §6.2.4); after a message we do not answer, they are not. */
    if (pending == 0 && !conn->backlogged &&
        (conn->closing || (conn->eof && conn->forwards == 0 && !conn->waiting))) {
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
        if (conn->write_end > conn->write_start || conn->forwards > 0) {
            /* Answers still waiting: the write timeout watches this
             * client, the forwarding timeouts the upstream. */
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
        if (got > 0) {
            conn->read_len += (size_t)got;
            /* The queries this completes count as received now. */
            conn->reply.received_ns = monotonic_now_ns();
        }
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
    if (tcp_flush(conn, &now) < 0 ||
        ((conn->backlogged || (conn->waiting && conn->forwards < TCP_FORWARDS_MAX)) &&
         tcp_serve(conn, &now) < 0)) {
        tcp_close(conn);
        return;
    }
    tcp_update(conn, &now);
}

/* reply_send_fn for a forwarded query's answer: queued on its connection
 * (after what is already queued; RFC 7766 §7 lets answers leave out of
 * order), or dropped when the connection has closed since. */
static void tcp_reply_send(const struct reply *reply, const uint8_t *answer, size_t len)
{
    struct tcp_conn *conn = reply->route.tcp.conn;
    if (conn->fd < 0 || conn->generation != reply->route.tcp.generation)
        return; /* closed since the query came: nobody to answer */
    conn->forwards--;
    if (tcp_write_room(conn, 2 + len)) {
        uint8_t *out = conn->write_buf + conn->write_end;
        out[0] = (uint8_t)(len >> 8);
        out[1] = (uint8_t)len;
        memcpy(out + 2, answer, len);
        conn->write_end += 2 + len;
    } else {
        struct tcp_queued *q = malloc(sizeof(*q) + 2 + len);
        if (q == NULL) {
            log_warning("tcp: out of memory for a forwarded answer: dropped");
        } else {
            q->next = NULL;
            q->len = 2 + len;
            q->data[0] = (uint8_t)(len >> 8);
            q->data[1] = (uint8_t)len;
            memcpy(q->data + 2, answer, len);
            if (conn->queued_last != NULL)
                conn->queued_last->next = q;
            else
                conn->queued = q;
            conn->queued_last = q;
            conn->queued_bytes += q->len;
        }
    }
    /* Written, and waiting queries served, from the connection's own
     * callback: the caller may be in the middle of answering others. */
    event_active(&conn->write_event, EV_WRITE, 0);
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

/* Nothing to write, no forwarded answer to wait for, no query waiting:
 * only the client's next query would give it work. */
static bool tcp_idle(const struct tcp_conn *conn)
{
    return conn->write_end == conn->write_start && conn->queued == NULL && conn->forwards == 0 &&
           !conn->backlogged && !conn->waiting;
}

/* Has peer as many connections as one client may hold? Walks the open
 * connections, at accept only, and only when there are that many. */
static bool tcp_client_at_cap(const struct server *server, const struct sockaddr_storage *peer)
{
    uint32_t cap = tcp_per_client_max(server);
    if (server->tcp_open_count < cap)
        return false;
    uint32_t count = 0;
    for (const struct tcp_conn *c = server->tcp_open; c != NULL; c = c->next)
        if (cidr_same_host(&c->reply.client, peer) && ++count >= cap)
            return true;
    return false;
}

/* The connection idle longest, if idle at least TCP_EVICT_IDLE_MIN_MS;
 * NULL when none is. */
static struct tcp_conn *tcp_eviction_candidate(struct server *server, const struct timeval *now)
{
    struct timeval min_idle = tcp_ms_to_timeval(TCP_EVICT_IDLE_MIN_MS);
    struct timeval latest; /* idle since this or earlier */
    evutil_timersub(now, &min_idle, &latest);
    struct tcp_conn *oldest = NULL;
    for (struct tcp_conn *c = server->tcp_open; c != NULL; c = c->next)
        if (tcp_idle(c) && !evutil_timercmp(&c->active, &latest, >) &&
            (oldest == NULL || evutil_timercmp(&c->active, &oldest->active, <)))
            oldest = c;
    return oldest;
}

static void tcp_accept_one(struct server *server, int fd, const struct sockaddr_storage *peer,
                           socklen_t peer_len)
{
    if (tcp_client_at_cap(server, peer)) {
        /* One client never takes every slot: its newcomer is closed, its
         * established connections keep going. */
        log_debug("tcp: a client reached its limit of %u connections, closing new connection",
                  tcp_per_client_max(server));
        stats_add(&server->query.stats->tcp_refused, 1);
        close(fd);
        return;
    }
    if (server->tcp_open_count >= tcp_max_connections(server)) {
        /* RFC 7766 §6.2.3: at the cap, the connection idle longest makes
         * room; with none idle long enough, the newcomer is closed
         * unanswered rather than taking a busy client's place. */
        struct timeval now;
        event_base_gettimeofday_cached(server->base, &now);
        struct tcp_conn *evicted = tcp_eviction_candidate(server, &now);
        if (evicted == NULL) {
            log_debug("tcp: connection limit %u reached, closing new connection",
                      tcp_max_connections(server));
            stats_add(&server->query.stats->tcp_refused, 1);
            close(fd);
            return;
        }
        log_debug("tcp: connection limit %u reached, closing the connection idle longest",
                  tcp_max_connections(server));
        stats_add(&server->query.stats->tcp_evicted, 1);
        tcp_close(evicted);
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
    conn->eof = conn->closing = conn->backlogged = conn->waiting = false;
    conn->generation = ++server->tcp_generation;
    conn->forwards = 0;
    conn->queued = conn->queued_last = NULL;
    conn->queued_bytes = 0;
    conn->reply.send = tcp_reply_send;
    conn->reply.transport = ANSWER_TCP;
    memcpy(&conn->reply.client, peer, peer_len);
    conn->reply.client_len = peer_len;
    conn->reply.received_ns = 0;
    conn->reply.route.tcp.conn = conn;
    conn->reply.route.tcp.generation = conn->generation;
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
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof(peer);
        int conn_fd =
            accept4(fd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (conn_fd >= 0) {
            if (peer_len > sizeof(peer))
                peer_len = sizeof(peer);
            tcp_accept_one(server, conn_fd, &peer, peer_len);
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
