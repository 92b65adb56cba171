/* Fixtures for the unit tests that forward (test_forward.c, test_query.c):
 * an image compiled from JSON (image_fixture.h), a fake upstream DNS server on loopback that
 * the test answers by hand, DNS messages built by hand, and running the
 * event loop until the answers come. Each fixture owns what it opens;
 * single-threaded, cmocka asserts on every failure. */
#ifndef NANODNS_UPSTREAM_FIXTURE_H
#define NANODNS_UPSTREAM_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "image_fixture.h"

/* ---- the fake upstream ---- */

/* A UDP socket and a TCP listener on one loopback port. */
struct fake_upstream {
    int udp;
    int tcp_listener;
    int tcp_conn; /* the connection of the last TCP query, -1 before */
    uint16_t port;
    struct sockaddr_in from; /* the sender of the last UDP query */
    socklen_t from_len;
};

void fake_upstream_open(struct fake_upstream *up);
void fake_upstream_close(struct fake_upstream *up);

/* A UDP query sent to up within timeout_ms, into buf; 0 when none came. */
size_t fake_upstream_receive(struct fake_upstream *up, uint8_t *buf, size_t cap, int timeout_ms);

/* Send msg to the sender of the last UDP query. */
void fake_upstream_send(struct fake_upstream *up, const uint8_t *msg, size_t len);

/* Accept a TCP connection and read one query from it, running base
 * meanwhile (the forwarder connects and writes from its loop); 0 when none
 * came within timeout_ms. */
size_t fake_upstream_receive_tcp(struct fake_upstream *up, struct event_base *base, uint8_t *buf,
                                 size_t cap, int timeout_ms);

/* Send msg, length-prefixed, on the last TCP connection. */
void fake_upstream_send_tcp(struct fake_upstream *up, const uint8_t *msg, size_t len);

/* A port nobody listens on over UDP (bound, then closed): queries sent
 * there are refused with an ICMP error. */
uint16_t fake_upstream_closed_port(void);

/* ---- messages ---- */

/* A query for name (text) and qtype with id, RD set, and an OPT
 * (payload 1232) when edns. Returns its length. */
size_t fixture_query(uint8_t *out, uint16_t id, const char *name, uint16_t qtype, bool edns);

/* An upstream's answer to query: its ID and question, QR RD RA and
 * extra_flags; one A record 192.0.2.last_octet with ttl (none when
 * extra_flags has TC). Returns its length. */
size_t fixture_answer(const uint8_t *query, size_t query_len, uint16_t extra_flags, uint32_t ttl,
                      uint8_t last_octet, uint8_t *out);

/* The address of the answer's first A record's last octet, or -1. */
int fixture_answer_last_octet(const uint8_t *msg, size_t len);

/* 127.0.0.1 (may recurse by default) or 192.0.2.99 (may not), port given. */
struct sockaddr_in fixture_client(const char *address, uint16_t port);

/* ---- the loop ---- */

/* Run base until *count reaches want or timeout_ms pass. Returns whether
 * it got there. */
bool fixture_run_until(struct event_base *base, const unsigned *count, unsigned want,
                       int timeout_ms);

/* Run base for ms milliseconds. */
void fixture_run_for(struct event_base *base, int ms);

#endif
