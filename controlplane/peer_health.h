/* A peer's GET /health answer: the one parser for it, used by GET /cluster and by the pull.
 * Pure: reads exactly the octets it is given; the result owns nothing. */
#ifndef NANODNS_PEER_HEALTH_H
#define NANODNS_PEER_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

/* The largest /health answer taken from a peer (peer_request_start's
 * max_answer): a few hundred octets are expected. */
#define PEER_HEALTH_MAX_SIZE (64 * 1024)

/* What a /health answer says, as api_status.c writes it:
 * {"status": "ok", "version": N, "hash": "<64 hex digits>",
 *  "blocklist_digest": "<64 hex digits>", ...}. */
struct peer_health {
    char status[32];  /* its "status" (cut to fit), or "invalid answer" */
    bool has_version; /* "version" is a whole number from 0 */
    uint64_t version;
    bool has_hash; /* "hash" is 64 hex digits (a node without sync has none) */
    uint8_t hash[ENVELOPE_HASH_SIZE];
    /* "blocklist_digest" is 64 hex digits (config_blocklists_digest); an
     * older node sends none: its lists are unknown, not different. */
    bool has_blocklist_digest;
    uint8_t blocklist_digest[ENVELOPE_HASH_SIZE];
};

/* Read the body of len octets (it need not end with a NUL, and nothing
 * past len is read). What is missing or malformed is left out: a body that
 * is no JSON object gives status "invalid answer" and nothing else. */
void peer_health_parse(const char *body, size_t len, struct peer_health *out);

#endif
