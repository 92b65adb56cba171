/* The nonces of signed requests a node has accepted, kept while a replay could still pass the
 * time window. Pure: the caller gives the time; one owner, no locking (the event loop's). */
#ifndef NANODNS_REPLAY_CACHE_H
#define NANODNS_REPLAY_CACHE_H

/* Issue 12, finding 3. A signed request is good within
 * ENVELOPE_REQUEST_WINDOW_S of its time; a (signer, nonce) accepted once is
 * refused for as long as the request could still verify. The table is
 * bounded: when every slot holds a nonce whose request is still valid, a
 * new request is refused, never admitted by forgetting an old nonce,
 * because the request of a forgotten nonce could be replayed. Only
 * requests that verified under a listed key get this far, so only a
 * listed key can fill the table, and every slot frees itself within the
 * window. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

/* Room for 4096 signed requests per window: every pull of 64 peers each
 * 5 s, or a reload every 75 ms, well above what a cluster sends. */
#define REPLAY_CACHE_SLOTS 4096

enum replay_verdict {
    REPLAY_NEW,  /* remembered now: go on */
    REPLAY_SEEN, /* this signer used this nonce within the window */
    REPLAY_FULL, /* no free slot: refused, try again later */
};

struct replay_entry {
    uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE];
    uint8_t nonce[ENVELOPE_NONCE_SIZE];
    uint64_t expires; /* unix seconds after which the request no longer verifies; 0: free */
};

struct replay_cache {
    struct replay_entry *entries; /* capacity slots, owned */
    size_t capacity;
};

/* 0, or -1 when out of memory. */
int replay_cache_init(struct replay_cache *cache, size_t capacity);
void replay_cache_free(struct replay_cache *cache);

/* Admit (signer, nonce) of a request made at time (already verified, so
 * within the window of now): REPLAY_NEW remembers it until time +
 * ENVELOPE_REQUEST_WINDOW_S. */
enum replay_verdict replay_cache_admit(struct replay_cache *cache,
                                       const uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE],
                                       const uint8_t nonce[ENVELOPE_NONCE_SIZE], uint64_t time,
                                       uint64_t now);

#endif
