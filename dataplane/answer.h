/* Answering one query from the zone image: the order is rewrite (block)
 * rules, then our zones and records, else REFUSED. Writes the response into
 * a caller-owned buffer; allocates nothing and makes no system call. */
#ifndef NANODNS_ANSWER_H
#define NANODNS_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

enum answer_transport { ANSWER_UDP, ANSWER_TCP };

/* How a response came about, for counters and query logs. */
enum answer_source {
    ANSWER_SOURCE_LOCAL,   /* from our zones or records */
    ANSWER_SOURCE_BLOCKED, /* a rewrite rule */
    ANSWER_SOURCE_REFUSED, /* not ours (forwarding comes later) */
    ANSWER_SOURCE_ERROR    /* FORMERR, NOTIMP, BADVERS */
};

struct answer_info {
    uint16_t rcode; /* extended rcode (BADVERS = 16) */
    uint16_t qtype;
    enum answer_source source;
    int truncated;
};

/* Smallest response buffer answer_query accepts: the largest TCP message. */
#define ANSWER_BUFFER_SIZE 65535

/* Build the response to packet into response (ANSWER_BUFFER_SIZE octets).
 * The size limit is the transport's: 512, or the EDNS size the client
 * offered capped by the image's edns_payload, over UDP; 65535 over TCP.
 * Returns the response length, or 0 when the packet gets no answer at all
 * (RFC 8906: only when it is not a query). info may be NULL. */
size_t answer_query(const struct image *img, const uint8_t *packet, size_t len, uint8_t *response,
                    enum answer_transport transport, struct answer_info *info);

#endif
