/* Answering one query from the zone image, in the order of DESIGN.md:
 * allow_query, rewrite (block) rules, our zones and records (automatic
 * PTRs and server.search_domain included), the locally served zones
 * (RFC 6303, localhost) and single-label names (server.domain_needed),
 * then either "forward it" (the client may recurse and some upstream
 * serves the name) or REFUSED. Writes the response into a caller-owned buffer; allocates
 * nothing and makes no system call. */
#ifndef NANODNS_ANSWER_H
#define NANODNS_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "image.h"
#include "transport.h"
#include "wire.h"

/* How a response came about, for counters and query logs. */
enum answer_source {
    ANSWER_SOURCE_LOCAL,   /* from our zones or records */
    ANSWER_SOURCE_BLOCKED, /* a rewrite rule */
    ANSWER_SOURCE_REFUSED, /* not ours, and not forwarded for this client */
    ANSWER_SOURCE_ERROR,   /* FORMERR, NOTIMP, BADVERS; SERVFAIL of our own when forwarding */
    ANSWER_SOURCE_FORWARD, /* not ours: answer_query wrote nothing, the caller forwards */
    /* Set by the forwarding code (forward.c), never by answer_query: */
    ANSWER_SOURCE_CACHE,   /* an upstream answer from the cache */
    ANSWER_SOURCE_UPSTREAM /* an upstream answer as it arrived */
};

/* What the caller does with the packet. */
enum answer_action {
    ANSWER_SEND,    /* response holds the answer */
    ANSWER_DROP,    /* not a query at all: no answer (RFC 8906) */
    ANSWER_FORWARD, /* info->query is to be forwarded; nothing was written */
};

struct answer_info {
    uint16_t rcode; /* extended rcode (BADVERS = 16) */
    uint16_t qtype;
    enum answer_source source;
    int truncated;
    /* The client may recurse and forwarding is configured: RA=1 in its
     * answers. */
    bool recursion;
    /* Our data ended in a CNAME to a name outside it (and the answer, that
     * CNAME chain, fit): query.c may chase the target through forwarding. */
    bool cname_out;
    /* The query as parsed. Its question fields (qname_lower, qtype,
     * qclass) are meaningful only when question is true. */
    bool question;
    struct wire_query query;
};

/* Smallest response buffer answer_query accepts: the largest TCP message. */
#define ANSWER_BUFFER_SIZE 65535

/* Answer packet, received from client over transport, into response
 * (ANSWER_BUFFER_SIZE octets) and *response_len. The size limit is the
 * transport's: 512, or the EDNS size the client offered capped by the
 * image's edns_payload, over UDP; 65535 over TCP. client is the query's
 * source address for the access lists; NULL stands for a local caller
 * (tests, fuzzers) that may query and may not recurse. info is filled in
 * every case (required). */
enum answer_action answer_query(const struct image *img, const uint8_t *packet, size_t len,
                                const struct sockaddr *client, enum answer_transport transport,
                                uint8_t *response, size_t *response_len, struct answer_info *info);

/* REFUSED for a query answer_query said to forward (ANSWER_FORWARD) that
 * is not to be forwarded after all: RD=0 and no cached answer (see
 * query.c). Written into response (ANSWER_BUFFER_SIZE octets) from packet
 * and info->query; info's source becomes ANSWER_SOURCE_REFUSED. Returns
 * the response's length. */
size_t answer_refused(const struct image *img, const uint8_t *packet, uint8_t *response,
                      struct answer_info *info);

#endif
