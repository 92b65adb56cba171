/* Relaying: the pure half of forwarding. Which servers a name goes to, the
 * query we send them, telling their answer from a spoofed one (RFC 5452),
 * and turning an upstream response (or a cached copy of one) into the
 * answer for one client. Functions over caller-owned buffers: no state, no
 * allocation, no system call. forward.c does the sockets and timers. */
#ifndef NANODNS_RELAY_H
#define NANODNS_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "image.h"
#include "transport.h"
#include "wire.h"

/* What we offer upstream: the DNS Flag Day 2020 size, which avoids IP
 * fragmentation on practically every path. */
#define RELAY_UPSTREAM_PAYLOAD 1232
#define RELAY_OPT_SIZE 11
/* Header, the longest question, an OPT without options. */
#define RELAY_QUERY_MAX (WIRE_HEADER_SIZE + WIRE_NAME_MAX + 4 + RELAY_OPT_SIZE)

/* What of a client's query shapes its answer: kept per waiting client, so
 * it is a copy, not a pointer into a receive buffer. */
struct relay_client {
    uint16_t id;
    uint16_t flags; /* the query's header flags: RD and CD are echoed */
    bool has_edns;
    bool edns_do;                        /* its DO bit, copied into its answer */
    uint16_t edns_payload;               /* the UDP size the client offered */
    uint16_t question_len;               /* octets in question */
    uint8_t question[WIRE_NAME_MAX + 4]; /* QNAME QTYPE QCLASS as sent (original case) */
};

/* Fill client from a query answer_query parsed (q) and its packet. */
void relay_client_init(struct relay_client *client, const struct wire_query *q,
                       const uint8_t *packet);

/* The coalescing and cache key of a parsed query: lowercase name, type,
 * class, the DO and CD bits. */
void relay_key_init(struct cache_key *key, const struct wire_query *q);

/* The largest answer the client takes: 65535 over TCP; over UDP 512
 * without EDNS, else what it offered capped by ours, never under 512
 * (RFC 6891 §6.2.5). */
size_t relay_size_limit(const struct relay_client *client, enum answer_transport transport,
                        uint16_t edns_payload);

/* The servers for a lowercase wire-form name: those of the longest
 * server.forward_zones entry at or above it, else the default upstreams.
 * *first points into img. Returns how many (0: nowhere to forward). */
size_t relay_servers(const struct image *img, const uint8_t *name, size_t len,
                     const struct image_upstream **first);

/* The query we send upstream for key: id, RD=1, CD as the client asked,
 * the question in lowercase, an OPT offering RELAY_UPSTREAM_PAYLOAD with the
 * client's DO bit. out holds RELAY_QUERY_MAX octets. Returns the length. */
size_t relay_query_build(uint8_t *out, uint16_t id, const struct cache_key *key);

enum relay_verdict {
    RELAY_ACCEPT,    /* the answer to our query, well-formed */
    RELAY_IGNORE,    /* not an answer to our query (wrong ID, question...): keep waiting */
    RELAY_MALFORMED, /* our ID and question, but the rest does not parse */
};

/* RFC 5452 §9.1: is response the answer to the query we sent (QR=1,
 * opcode QUERY, our ID, exactly our question, the name compared
 * case-insensitively)? Then, does every record of it parse? (The source
 * address and port are the connected socket's job.) */
enum relay_verdict relay_response_check(const uint8_t *response, size_t len, uint16_t id,
                                        const struct cache_key *key);

struct relay_result {
    uint16_t rcode; /* extended (OPT's upper bits included) */
    bool truncated; /* cut to the question with TC=1: it did not fit */
};

/* Turn an upstream response that passed relay_response_check (or a cached
 * copy of one) in buf[0..len) into the client's answer, in place: the
 * client's ID and question bytes, RD as it asked, RA=1; rcode, the other
 * flags and every section as the upstream sent them. The OPT goes when the
 * client sent none (RFC 6891 §7), with any additional record behind it;
 * else it offers edns_payload and carries the client's DO bit (one is
 * added if the upstream sent none).
 * Over limit octets, the answer is the header, the question (and OPT) with
 * TC=1 (RFC 2181 §9). cap is the room in buf (at least len + an OPT is
 * best). Returns the new length, 0 when buf does not parse. */
size_t relay_answer(uint8_t *buf, size_t len, size_t cap, const struct relay_client *client,
                    size_t limit, uint16_t edns_payload, struct relay_result *result);

/* DNS rebinding protection (server.rebind_protection, as dnsmasq's
 * stop-dns-rebind): an upstream answer that points a name of the outside
 * world at our own networks lets a web page reach them under its origin. */

/* Is the address rdata of an A (4 octets) or AAAA (16) private, loopback or
 * link-local: 0.0.0.0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12,
 * 192.168/16; ::, ::1, fc00::/7, fe80::/10, and those IPv4 ones mapped
 * (::ffff:0:0/96)? Any other type or length: false. */
bool relay_rebind_address(uint16_t type, const uint8_t *rdata, size_t rdlength);

/* Does an answer section record of response[0..len) (checked by
 * relay_response_check) carry such an address? CNAME targets included:
 * every A and AAAA of the answer section counts, whatever its owner. */
bool relay_rebind_found(const uint8_t *response, size_t len);

/* Is the lowercase wire-form name at or below a server.forward_zones entry?
 * Those answers are exempt: an internal resolver returns private
 * addresses by design. */
bool relay_forward_zone_covers(const struct image *img, const uint8_t *name, size_t len);

/* The answer a blocked response[0..len) becomes, in out (room for
 * WIRE_HEADER_SIZE + WIRE_NAME_MAX + 4): its header and question alone,
 * NOERROR with no records (NODATA), AA and AD cleared: it is ours, not the
 * upstream's. relay_answer takes it as it takes any response. Returns the
 * length. */
size_t relay_rebind_answer(uint8_t *out, const uint8_t *response, size_t len);

/* An answer of our own for client: header (RA=1), question, and an OPT
 * (with its DO bit) when it sent one: SERVFAIL when the upstreams fail,
 * say. out holds
 * WIRE_HEADER_SIZE + sizeof client->question + RELAY_OPT_SIZE octets.
 * Returns the length. */
size_t relay_error(uint8_t *out, const struct relay_client *client, uint16_t rcode,
                   uint16_t edns_payload);

#endif
