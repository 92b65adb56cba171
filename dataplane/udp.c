/* UDP (udp.h): batches of up to UDP_BATCH datagrams in with one recvmmsg,
 * their answers out with one sendmmsg. Every buffer is allocated once at
 * start; answering a batch from the image or the cache allocates nothing
 * and makes no other system call. A query that goes upstream leaves with a
 * copy of its reply, and its answer later with one sendmsg
 * (udp_reply_send). */
#include "udp.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "answer.h"
#include "log.h"
#include "query.h"
#include "reply.h"

#define UDP_BATCH 32
/* Under a flood the socket never drains: after this many full batches the
 * loop gets its turn (TCP, signals, the image watch), then comes back. */
#define UDP_BATCHES_PER_EVENT 16
/* A query larger than this is not a query we would answer anyway: it
 * arrives with MSG_TRUNC and is dropped. 65535 octets x 32 would be a lot
 * of memory for nothing. */
#define UDP_RECEIVE_SIZE 4096
/* Kernel receive buffer we ask for (capped by net.core.rmem_max). */
#define UDP_SOCKET_RECEIVE_BUFFER (4 * 1024 * 1024)

struct udp_batch {
    struct mmsghdr receive_headers[UDP_BATCH];
    struct iovec receive_iov[UDP_BATCH];
    union reply_udp_control receive_control[UDP_BATCH];

    /* One per datagram received: recvmmsg writes the client's address
     * straight into it, and its control message is the one the answer
     * leaves with; an answer sent now points at it, a forwarded query
     * takes a copy. */
    struct reply replies[UDP_BATCH];

    struct mmsghdr send_headers[UDP_BATCH];
    struct iovec send_iov[UDP_BATCH];

    uint8_t *receive_buffers;  /* UDP_BATCH x UDP_RECEIVE_SIZE */
    uint8_t *response_buffers; /* UDP_BATCH x ANSWER_BUFFER_SIZE, as query_handle requires */
};

int udp_batch_create(struct server *server)
{
    struct udp_batch *batch = calloc(1, sizeof(*batch));
    if (batch == NULL)
        return -1;
    batch->receive_buffers = malloc((size_t)UDP_BATCH * UDP_RECEIVE_SIZE);
    batch->response_buffers = malloc((size_t)UDP_BATCH * ANSWER_BUFFER_SIZE);
    if (batch->receive_buffers == NULL || batch->response_buffers == NULL) {
        free(batch->receive_buffers);
        free(batch->response_buffers);
        free(batch);
        return -1;
    }
    for (size_t i = 0; i < UDP_BATCH; i++) {
        batch->receive_iov[i].iov_base = batch->receive_buffers + i * UDP_RECEIVE_SIZE;
        batch->receive_iov[i].iov_len = UDP_RECEIVE_SIZE;
        batch->send_iov[i].iov_base = batch->response_buffers + i * ANSWER_BUFFER_SIZE;
    }
    server->udp_batch = batch;
    return 0;
}

void udp_batch_destroy(struct server *server)
{
    struct udp_batch *batch = server->udp_batch;
    if (batch == NULL)
        return;
    free(batch->receive_buffers);
    free(batch->response_buffers);
    free(batch);
    server->udp_batch = NULL;
}

/* recvmmsg writes the name and control lengths back: reset them each time. */
static void udp_batch_prepare_receive(struct udp_batch *batch, bool want_control)
{
    for (size_t i = 0; i < UDP_BATCH; i++) {
        struct msghdr *h = &batch->receive_headers[i].msg_hdr;
        h->msg_name = &batch->replies[i].client;
        h->msg_namelen = sizeof(batch->replies[i].client);
        h->msg_iov = &batch->receive_iov[i];
        h->msg_iovlen = 1;
        h->msg_control = want_control ? batch->receive_control[i].buf : NULL;
        h->msg_controllen = want_control ? sizeof(batch->receive_control[i].buf) : 0;
        h->msg_flags = 0;
    }
}

/* The control message that makes the answer leave from the address the
 * query was sent to. Returns its length, 0 when the query carried none. */
static size_t udp_reply_control(struct msghdr *received, union reply_udp_control *out)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(received); c != NULL; c = CMSG_NXTHDR(received, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo in, reply;
            memcpy(&in, CMSG_DATA(c), sizeof(in));
            memset(&reply, 0, sizeof(reply));
            /* ipi_spec_dst is the local address the query reached (the
             * interface's own for a broadcast); ifindex 0 lets routing
             * pick the way back. */
            reply.ipi_spec_dst = in.ipi_spec_dst;
            memset(out->buf, 0, CMSG_SPACE(sizeof(reply)));
            struct cmsghdr *o = (struct cmsghdr *)out->buf;
            o->cmsg_level = IPPROTO_IP;
            o->cmsg_type = IP_PKTINFO;
            o->cmsg_len = CMSG_LEN(sizeof(reply));
            memcpy(CMSG_DATA(o), &reply, sizeof(reply));
            return CMSG_SPACE(sizeof(reply));
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo in;
            memcpy(&in, CMSG_DATA(c), sizeof(in));
            /* The interface index stays: a link-local source needs it. */
            memset(out->buf, 0, CMSG_SPACE(sizeof(in)));
            struct cmsghdr *o = (struct cmsghdr *)out->buf;
            o->cmsg_level = IPPROTO_IPV6;
            o->cmsg_type = IPV6_PKTINFO;
            o->cmsg_len = CMSG_LEN(sizeof(in));
            memcpy(CMSG_DATA(o), &in, sizeof(in));
            return CMSG_SPACE(sizeof(in));
        }
    }
    return 0;
}

/* reply_send_fn for a forwarded query's answer: one sendmsg, never
 * blocking (a full socket buffer drops it, as it would a batch's). */
static void udp_reply_send(const struct reply *reply, const uint8_t *answer, size_t len)
{
    union reply_udp_control control;
    size_t control_len = reply->route.udp.control_len;
    if (control_len > 0)
        memcpy(control.buf, reply->route.udp.control.buf, control_len);
    struct sockaddr_storage client = reply->client;
    struct iovec iov = {.iov_base = (void *)answer, .iov_len = len};
    struct msghdr msg = {.msg_name = &client,
                         .msg_namelen = reply->client_len,
                         .msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control_len > 0 ? control.buf : NULL,
                         .msg_controllen = control_len};
    ssize_t sent;
    do {
        sent = sendmsg(reply->route.udp.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0)
        log_debug("udp: dropping a forwarded answer: %s", strerror(errno));
}

/* Fill the reply recvmmsg left the client's address in: what query_handle
 * reads, and what a forwarded answer needs to leave the same way later. */
static void udp_reply_prepare(struct reply *reply, const struct udp_listener *listener,
                              struct msghdr *in, uint64_t received_ns)
{
    reply->send = udp_reply_send;
    reply->transport = ANSWER_UDP;
    reply->client_len = in->msg_namelen;
    reply->received_ns = received_ns;
    reply->route.udp.fd = listener->fd;
    reply->route.udp.control_len =
        listener->wildcard ? udp_reply_control(in, &reply->route.udp.control) : 0;
}

/* Put reply's answer, response[0..len), in the batch's next send slot. */
static void udp_send_slot_fill(struct udp_batch *batch, unsigned slot, struct reply *reply,
                               size_t len)
{
    struct msghdr *out = &batch->send_headers[slot].msg_hdr;
    batch->send_iov[slot].iov_len = len;
    out->msg_name = &reply->client;
    out->msg_namelen = reply->client_len;
    out->msg_iov = &batch->send_iov[slot];
    out->msg_iovlen = 1;
    out->msg_flags = 0;
    size_t control_len = reply->route.udp.control_len;
    out->msg_control = control_len > 0 ? reply->route.udp.control.buf : NULL;
    out->msg_controllen = control_len;
}

/* Send the batch's count answers; returns how many the kernel took. */
static unsigned udp_send_batch(struct udp_listener *listener, struct udp_batch *batch,
                               unsigned count)
{
    unsigned done = 0, skipped = 0;
    while (done < count) {
        int sent = sendmmsg(listener->fd, batch->send_headers + done, count - done, MSG_DONTWAIT);
        if (sent > 0) {
            done += (unsigned)sent;
            continue;
        }
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
            /* The socket buffer is full: UDP answers are not worth
             * blocking the loop for; the clients will retry. */
            log_debug("udp: dropping %u answers: %s", count - done,
                      sent == 0 ? "nothing sent" : strerror(errno));
            break;
        }
        /* sendmmsg fails only when its first message fails (a destination
         * the kernel refuses, say): skip that one and send the rest. */
        log_debug("udp: send failed: %s", strerror(errno));
        done++;
        skipped++;
    }
    return done - skipped;
}

/* Answer one batch from recvmmsg, received at received_ns; returns how
 * many answers went into the send slots. */
static unsigned udp_batch_answer(struct udp_listener *listener, struct udp_batch *batch,
                                 int received, uint64_t received_ns)
{
    struct server *server = listener->server;
    unsigned answers = 0;
    for (int i = 0; i < received; i++) {
        struct msghdr *in = &batch->receive_headers[i].msg_hdr;
        if (in->msg_flags & MSG_TRUNC) {
            /* larger than any query we answer: not worth a FORMERR */
            query_count_dropped(&server->query);
            continue;
        }
        struct reply *reply = &batch->replies[i];
        udp_reply_prepare(reply, listener, in, received_ns);
        uint8_t *response = batch->send_iov[answers].iov_base;
        size_t len;
        if (query_handle(&server->query, batch->receive_iov[i].iov_base,
                         batch->receive_headers[i].msg_len, reply, response,
                         &len) != QUERY_ANSWERED)
            continue; /* dropped, or answered later through udp_reply_send */
        udp_send_slot_fill(batch, answers, reply, len);
        answers++;
    }
    return answers;
}

static void udp_on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct udp_listener *listener = arg;
    struct udp_batch *batch = listener->server->udp_batch;

    for (int round = 0; round < UDP_BATCHES_PER_EVENT; round++) {
        udp_batch_prepare_receive(batch, listener->wildcard);
        int received = recvmmsg(fd, batch->receive_headers, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (received < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_debug("udp: receive failed: %s", strerror(errno));
            return;
        }
        /* Two clock reads per batch, none per query: every answer of the
         * batch is timed from its arrival to the sendmmsg that took it. */
        uint64_t received_ns = monotonic_now_ns();
        unsigned answers = udp_batch_answer(listener, batch, received, received_ns);
        unsigned sent = answers > 0 ? udp_send_batch(listener, batch, answers) : 0;
        if (sent > 0)
            query_count_sent(&listener->server->query, received_ns, monotonic_now_ns(), sent);

        /* A short batch means the socket is drained. */
        if (received < UDP_BATCH)
            return;
    }
}

static bool udp_address_is_wildcard(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        return in->sin_addr.s_addr == htonl(INADDR_ANY);
    }
    if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        return IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
    }
    return false;
}

/* The default receive buffer (about 200 KiB) holds only a few hundred
 * queries: a burst larger than that is lost before the loop gets to it.
 * Raise it, never lower it (a systemd ReceiveBuffer= may be larger). */
static void udp_raise_receive_buffer(int fd)
{
    int current = 0;
    socklen_t len = sizeof(current);
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &current, &len) < 0 ||
        current >= UDP_SOCKET_RECEIVE_BUFFER)
        return;
    int wanted = UDP_SOCKET_RECEIVE_BUFFER / 2; /* the kernel doubles what it is given */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &wanted, sizeof(wanted)) < 0)
        log_debug("udp socket %d: SO_RCVBUF: %s", fd, strerror(errno));
}

struct udp_listener *udp_listener_create(struct server *server, int fd)
{
    struct sockaddr_storage addr;
    socklen_t addr_len = sizeof(addr);
    if (getsockname(fd, (struct sockaddr *)&addr, &addr_len) < 0) {
        log_error("udp socket %d: getsockname: %s", fd, strerror(errno));
        return NULL;
    }
    if (addr.ss_family != AF_INET && addr.ss_family != AF_INET6) {
        log_error("udp socket %d: not an IPv4 or IPv6 socket", fd);
        return NULL;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        log_error("udp socket %d: cannot make it non-blocking: %s", fd, strerror(errno));
        return NULL;
    }

    udp_raise_receive_buffer(fd);

    bool wildcard = udp_address_is_wildcard(&addr);
    if (wildcard) {
        int on = 1;
        int rc = addr.ss_family == AF_INET
                     ? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on))
                     : setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on));
        if (rc < 0) {
            log_error("udp socket %d: cannot enable destination addresses: %s", fd,
                      strerror(errno));
            return NULL;
        }
    }

    struct udp_listener *listener = calloc(1, sizeof(*listener));
    if (listener == NULL) {
        log_error("udp socket %d: out of memory", fd);
        return NULL;
    }
    listener->server = server;
    listener->fd = fd;
    listener->family = addr.ss_family;
    listener->wildcard = wildcard;
    listener->event = event_new(server->base, fd, EV_READ | EV_PERSIST, udp_on_readable, listener);
    if (listener->event == NULL || event_add(listener->event, NULL) < 0) {
        log_error("udp socket %d: cannot register its event", fd);
        if (listener->event != NULL)
            event_free(listener->event);
        free(listener);
        return NULL;
    }
    return listener;
}

void udp_listener_destroy(struct udp_listener *listener)
{
    if (listener == NULL)
        return;
    event_free(listener->event);
    close(listener->fd);
    free(listener);
}
