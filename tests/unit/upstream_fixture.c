/* Fixtures for the unit tests that forward (upstream_fixture.h). */
#include "upstream_fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "compile.h"
#include "config.h"
#include "wire.h"

static struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(port)};
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return in;
}

void fake_upstream_open(struct fake_upstream *up)
{
    /* The TCP listener picks the port; UDP takes the same one (retried
     * when another process holds it for UDP). */
    for (int tries = 0; tries < 50; tries++) {
        up->tcp_listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(up->tcp_listener >= 0);
        struct sockaddr_in addr = loopback(0);
        assert_int_equal(bind(up->tcp_listener, (struct sockaddr *)&addr, sizeof addr), 0);
        assert_int_equal(listen(up->tcp_listener, 8), 0);
        socklen_t len = sizeof addr;
        assert_int_equal(getsockname(up->tcp_listener, (struct sockaddr *)&addr, &len), 0);
        up->port = ntohs(addr.sin_port);
        up->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(up->udp >= 0);
        if (bind(up->udp, (struct sockaddr *)&addr, sizeof addr) == 0) {
            up->tcp_conn = -1;
            up->from_len = 0;
            return;
        }
        close(up->udp);
        close(up->tcp_listener);
    }
    fail_msg("no loopback port free for both UDP and TCP");
}

void fake_upstream_close(struct fake_upstream *up)
{
    close(up->udp);
    close(up->tcp_listener);
    if (up->tcp_conn >= 0)
        close(up->tcp_conn);
}

static bool readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1;
}

size_t fake_upstream_receive(struct fake_upstream *up, uint8_t *buf, size_t cap, int timeout_ms)
{
    if (!readable(up->udp, timeout_ms))
        return 0;
    up->from_len = sizeof up->from;
    ssize_t n = recvfrom(up->udp, buf, cap, 0, (struct sockaddr *)&up->from, &up->from_len);
    assert_true(n > 0);
    return (size_t)n;
}

void fake_upstream_send(struct fake_upstream *up, const uint8_t *msg, size_t len)
{
    assert_true(up->from_len > 0);
    assert_int_equal(sendto(up->udp, msg, len, 0, (struct sockaddr *)&up->from, up->from_len),
                     (ssize_t)len);
}

/* Read exactly len octets from fd, running base while waiting. */
static bool read_all(int fd, struct event_base *base, uint8_t *buf, size_t len, int timeout_ms)
{
    size_t got = 0;
    for (int waited = 0; got < len && waited < timeout_ms; waited += 5) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (!readable(fd, 5))
            continue;
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return got == len;
}

size_t fake_upstream_receive_tcp(struct fake_upstream *up, struct event_base *base, uint8_t *buf,
                                 size_t cap, int timeout_ms)
{
    for (int waited = 0; up->tcp_conn < 0 && waited < timeout_ms; waited += 5) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (readable(up->tcp_listener, 5))
            up->tcp_conn = accept4(up->tcp_listener, NULL, NULL, SOCK_CLOEXEC);
    }
    if (up->tcp_conn < 0)
        return 0;
    uint8_t prefix[2];
    if (!read_all(up->tcp_conn, base, prefix, 2, timeout_ms))
        return 0;
    size_t len = wire_get16(prefix);
    assert_true(len <= cap);
    return read_all(up->tcp_conn, base, buf, len, timeout_ms) ? len : 0;
}

void fake_upstream_send_tcp(struct fake_upstream *up, const uint8_t *msg, size_t len)
{
    uint8_t prefix[2];
    wire_put16(prefix, (uint16_t)len);
    assert_int_equal(send(up->tcp_conn, prefix, 2, MSG_NOSIGNAL), 2);
    assert_int_equal(send(up->tcp_conn, msg, len, MSG_NOSIGNAL), (ssize_t)len);
}

uint16_t fake_upstream_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = loopback(0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

size_t fixture_query(uint8_t *out, uint16_t id, const char *name, uint16_t qtype, bool edns)
{
    wire_put16(out, id);
    wire_put16(out + 2, WIRE_FLAG_RD);
    wire_put16(out + 4, 1);
    wire_put16(out + 6, 0);
    wire_put16(out + 8, 0);
    wire_put16(out + 10, edns ? 1 : 0);
    size_t len = WIRE_HEADER_SIZE, name_len;
    char err[128];
    if (wire_name_from_text(name, out + len, &name_len, err, sizeof err) < 0)
        fail_msg("bad name %s: %s", name, err);
    len += name_len;
    wire_put16(out + len, qtype);
    wire_put16(out + len + 2, WIRE_CLASS_IN);
    len += 4;
    if (edns) {
        out[len] = 0;
        wire_put16(out + len + 1, WIRE_TYPE_OPT);
        wire_put16(out + len + 3, 1232);
        wire_put32(out + len + 5, 0);
        wire_put16(out + len + 9, 0);
        len += 11;
    }
    return len;
}

size_t fixture_answer(const uint8_t *query, size_t query_len, uint16_t extra_flags, uint32_t ttl,
                      uint8_t last_octet, uint8_t *out)
{
    size_t pos = WIRE_HEADER_SIZE, name_len;
    assert_int_equal(wire_name_parse(query, query_len, &pos, NULL, &name_len), 0);
    size_t question_end = pos + 4;
    memcpy(out, query, question_end);
    wire_put16(out + 2, WIRE_FLAG_QR | WIRE_FLAG_RD | WIRE_FLAG_RA | extra_flags);
    bool truncated = (extra_flags & WIRE_FLAG_TC) != 0;
    wire_put16(out + 6, truncated ? 0 : 1);
    wire_put16(out + 8, 0);
    wire_put16(out + 10, 0);
    size_t len = question_end;
    if (!truncated) {
        uint8_t *p = out + len;
        wire_put16(p, 0xC00C);
        wire_put16(p + 2, WIRE_TYPE_A);
        wire_put16(p + 4, WIRE_CLASS_IN);
        wire_put32(p + 6, ttl);
        wire_put16(p + 10, 4);
        p[12] = 192;
        p[13] = 0;
        p[14] = 2;
        p[15] = last_octet;
        len += 16;
    }
    return len;
}

int fixture_answer_last_octet(const uint8_t *msg, size_t len)
{
    size_t pos = WIRE_HEADER_SIZE, name_len;
    if (wire_get16(msg + 6) == 0 || wire_name_parse(msg, len, &pos, NULL, &name_len) < 0)
        return -1;
    pos += 4; /* the question's type and class */
    if (wire_name_parse(msg, len, &pos, NULL, &name_len) < 0 || pos + 14 > len ||
        wire_get16(msg + pos) != WIRE_TYPE_A)
        return -1;
    return msg[pos + 13];
}

struct sockaddr_in fixture_client(const char *address, uint16_t port)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(port)};
    assert_int_equal(inet_pton(AF_INET, address, &in.sin_addr), 1);
    return in;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

bool fixture_run_until(struct event_base *base, const unsigned *count, unsigned want,
                       int timeout_ms)
{
    bool expired = false;
    struct event *deadline = evtimer_new(base, on_deadline, &expired);
    assert_non_null(deadline);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    assert_int_equal(evtimer_add(deadline, &tv), 0);
    while (*count < want && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(deadline);
    return *count >= want;
}

void fixture_run_for(struct event_base *base, int ms)
{
    unsigned never = 0;
    fixture_run_until(base, &never, 1, ms);
}
