/* CNAME chasing across forwarding, the pure half: when our data ends in a
 * CNAME to a name outside it, the client's answer is built step by step
 * (our chain, then each target's answer, upstream or ours) in a struct
 * chase_answer, then written out for the client. Functions over
 * caller-owned buffers: no state, no allocation, no system call. query.c
 * runs the steps (DESIGN.md, "Answering").
 * Every record kept in a chase_answer is uncompressed: it points nowhere. */
#ifndef NANODNS_CHASE_H
#define NANODNS_CHASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay.h"
#include "wire.h"

/* CNAME links in one answer, ours and the upstream's together: answer.c's
 * CNAME_CHAIN_MAX, across forwarding. */
#define CHASE_LINKS_MAX 8
/* Steps (our data or a forwarded query) after the first: every step but
 * the last adds a link, so this is never the limit that stops a chain. */
#define CHASE_STEPS_MAX (CHASE_LINKS_MAX + 1)
/* One SOA, uncompressed: owner, fixed part, two names, 20 octets. */
#define CHASE_SOA_MAX (3 * WIRE_NAME_MAX + 10 + 20)

/* The answer so far: the answer-section records of every step, in order,
 * and what the last step says of itself. buf is the caller's (cap octets). */
struct chase_answer {
    uint8_t *buf;
    size_t len, cap;
    uint16_t answer_count;
    uint16_t rcode;     /* the last step's (RFC 6604 §2: the last name's) */
    bool authoritative; /* every step was ours and said AA */
    unsigned steps;
    /* The last step's SOA from its authority section (RFC 2308: kept for
     * NXDOMAIN and NODATA); authority_len 0 when it had none. */
    uint8_t authority[CHASE_SOA_MAX];
    size_t authority_len;
};

/* Start an empty answer in buf[0..cap). */
void chase_answer_init(struct chase_answer *a, uint8_t *buf, size_t cap);

/* Append step message msg[0..len) (an answer to a question for the chain's
 * current end: ours, cached or the upstream's): its answer records, names
 * decompressed, its rcode and its authority SOA. ours: from our data (its
 * AA counts). Returns 0; -1 when msg does not parse; -2 when buf has no
 * room (a unchanged either way). */
int chase_append(struct chase_answer *a, const uint8_t *msg, size_t len, bool ours);

/* Where the chain from qname (lowercase wire form) ends, when it ends in a
 * CNAME whose target has no qtype record in the answer: that target,
 * copied into target (WIRE_NAME_MAX octets, lowercase), *target_len set.
 * false when the chain is answered, has no CNAME, loops (a name seen
 * twice), or already has more than CHASE_LINKS_MAX links. */
bool chase_next(const struct chase_answer *a, const uint8_t *qname, size_t qname_len,
                uint16_t qtype, uint8_t *target, size_t *target_len);

/* The client's answer into out (ANSWER_BUFFER_SIZE octets): its ID and
 * question, QR, RD and CD as it asked, RA, AA only when every step was
 * ours; the answer records; the last step's SOA in authority; an OPT
 * (payload edns_payload, its DO bit) when it sent one; rcode the last
 * step's. Over limit octets: header, question (and OPT) with TC=1
 * (RFC 2181 §9), *truncated set. Returns the length. */
size_t chase_finish(const struct chase_answer *a, const struct relay_client *client,
                    uint16_t edns_payload, size_t limit, uint8_t *out, bool *truncated);

#endif
