/* Which upstream servers are failing: a small table of failures in a row,
 * so that forwarding tries the healthy servers first (forward.c). The
 * caller owns the table and passes the time: no allocation, no clock. */
#ifndef NANODNS_UPSTREAM_HEALTH_H
#define NANODNS_UPSTREAM_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "image.h"

/* Servers whose failures are remembered; the least recently used slot
 * makes room. */
#define UPSTREAM_HEALTH_SLOTS 64
/* A server that failed this many times in a row is put last for a while. */
#define UPSTREAM_FAILURES_TO_SKIP 3
#define UPSTREAM_SKIP_MS 30000

struct upstream_health_slot {
    struct image_upstream server; /* family, port, addr: the key */
    bool used;
    unsigned failures;      /* in a row */
    uint64_t skip_until_ms; /* put last until then */
    uint64_t last_used_ms;
};

/* Zero-initialised: every server healthy. */
struct upstream_health {
    struct upstream_health_slot slots[UPSTREAM_HEALTH_SLOTS];
};

/* One attempt at server ended, at now_ms: ok, or a failure (timeout,
 * error, broken answer). */
void upstream_health_record(struct upstream_health *health, const struct image_upstream *server,
                            bool ok, uint64_t now_ms);

/* Has server failed UPSTREAM_FAILURES_TO_SKIP times in a row within the
 * last UPSTREAM_SKIP_MS? */
bool upstream_health_skipped(const struct upstream_health *health,
                             const struct image_upstream *server, uint64_t now_ms);

/* The order to try servers[0..count) in, as indices into order[0..count):
 * those not skipped first, in the configured order, then the skipped ones,
 * so they are tried only when every other server fails too. */
void upstream_health_order(const struct upstream_health *health,
                           const struct image_upstream *servers, unsigned count, unsigned *order,
                           uint64_t now_ms);

#endif
