/* The forwarding cache: upstream answers kept in wire form, LRU-evicted at
 * max_entries, TTLs capped at ttl_cap and counted down when served (RFC 1035
 * §3.2.1; negative answers per RFC 2308 §5), and kept serve_stale seconds
 * past their expiry for when every upstream fails (RFC 8767). One cache for the whole data
 * plane, shared by its workers: every function takes the cache's mutex,
 * for a hash probe and a copy, never across a system call (the way to an
 * answer from our own data never comes here). Each entry owns a copy of
 * its answer; a hit copies it out, so nothing points into the cache after a
 * call returns. */
#ifndef NANODNS_CACHE_H
#define NANODNS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define CACHE_KEY_DO 0x01 /* the client asked with the DNSSEC OK bit */
#define CACHE_KEY_CD 0x02 /* checking disabled */

/* RFC 8767 §4: the TTL of a stale answer (at most the cache's ttl_cap). */
#define CACHE_STALE_TTL 30

struct cache_key {
    uint8_t qname[WIRE_NAME_MAX]; /* lowercase wire form */
    uint8_t qname_len;
    uint8_t flags; /* CACHE_KEY_* */
    uint16_t qtype;
    uint16_t qclass;
};

struct cache_stats {
    uint64_t hits, misses, entries, evictions;
};

struct cache;

/* NULL when out of memory. max_entries 0 makes a cache that stores nothing.
 * It serves nothing stale until cache_configure says otherwise. */
struct cache *cache_new(size_t max_entries, uint32_t ttl_cap);
void cache_free(struct cache *cache);

/* Drop every entry (a new image was mapped). Counters are kept. Moves
 * the generation. */
void cache_flush(struct cache *cache);

/* Flush, and hold at most max_entries from now on with TTLs capped at
 * ttl_cap, keeping expired entries serve_stale seconds more for
 * cache_lookup_stale (0: dropped at expiry) (a new image's settings). -1
 * when out of memory: it then stores nothing until configured again. */
int cache_configure(struct cache *cache, size_t max_entries, uint32_t ttl_cap,
                    uint32_t serve_stale);

/* Moved by every flush: an answer asked for before a flush is not kept
 * after it (cache_store_since). */
uint64_t cache_generation(struct cache *cache);

/* Called with the counters after every change, under the cache's lock
 * (so calls come one at a time, in order): where the stats file gets
 * them. NULL: nobody. */
typedef void (*cache_observer_fn)(void *arg, const struct cache_stats *now);
void cache_set_observer(struct cache *cache, cache_observer_fn observer, void *arg);

/* Keep an upstream response for key, received at now_ms (monotonic). Its
 * lifetime is the smallest TTL of the answer and authority records (for
 * NXDOMAIN and NODATA: min(SOA TTL, SOA minimum) of the authority SOA,
 * RFC 2308 §5), capped at ttl_cap. Only NOERROR and NXDOMAIN answers that
 * are not truncated are kept, and not when that lifetime is 0. Returns 0
 * when stored, 1 when not cacheable, -1 when out of memory. */
int cache_store(struct cache *cache, const struct cache_key *key, const uint8_t *response,
                size_t len, uint64_t now_ms);

/* cache_store, but only while the cache's generation is still
 * generation (taken when the query went upstream); 1 (not kept) after a
 * flush. */
int cache_store_since(struct cache *cache, uint64_t generation, const struct cache_key *key,
                      const uint8_t *response, size_t len, uint64_t now_ms);

/* On a hit, copy the response into out (cap octets) with every TTL (but the
 * OPT's) lowered by the whole seconds it spent in the cache, mark it most
 * recently used and return its length. The caller then sets the ID, the
 * question's case and the flags for its client. 0 on a miss, an expired
 * entry or when it does not fit in cap. An expired entry is kept while
 * cache_lookup_stale may still serve it (it goes upstream first: a fresh
 * answer replaces it), dropped after. */
size_t cache_lookup(struct cache *cache, const struct cache_key *key, uint64_t now_ms, uint8_t *out,
                    size_t cap);

/* Once resolution failed (every upstream failed or timed out, RFC 8767
 * §5): the entry for key, copied into out as cache_lookup does, if it is
 * fresh (another query refreshed it meanwhile) or expired less than
 * serve_stale seconds ago; then every TTL (but the OPT's) is
 * CACHE_STALE_TTL, capped at ttl_cap (RFC 8767 §4), and *stale is set.
 * Marks it most recently used. 0 when there is none, it does not fit, or
 * it expired longer ago (dropped). Counts no hit and no miss: the lookup
 * that sent the query upstream counted its miss. */
size_t cache_lookup_stale(struct cache *cache, const struct cache_key *key, uint64_t now_ms,
                          uint8_t *out, size_t cap, bool *stale);

void cache_get_stats(struct cache *cache, struct cache_stats *out);

#endif
