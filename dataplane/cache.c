/* The forwarding cache: a chained hash table over the key (SipHash with a
 * random key, so clients cannot aim many names at one bucket) and a doubly
 * linked LRU list. Each entry is one allocation: the entry header, the
 * offsets of the response's TTL fields, the response, then the qname.
 * Every public function takes the cache's mutex: the workers share one. */
#include "cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define CACHE_BUCKETS_MAX ((size_t)1 << 24)
#define CACHE_RESPONSE_MAX 65535  /* TTL offsets are kept as 16 bits */
#define CACHE_TTL_MAX 0x7fffffffu /* RFC 2181 §8: a TTL with the top bit set means 0 */

struct cache_entry {
    struct cache_entry *hash_next;
    struct cache_entry *lru_prev, *lru_next; /* lru_prev is toward the most recently used */
    uint64_t hash;
    uint64_t stored_ms;
    uint64_t expires_ms;
    uint16_t len;       /* octets of the response */
    uint16_t ttl_count; /* TTL fields to count down (every record's but the OPT's) */
    uint16_t qtype;
    uint16_t qclass;
    uint8_t qname_len;
    uint8_t flags;
    uint16_t ttl_offsets[]; /* then the response, then the qname */
};

struct cache {
    /* Held by every public function, for a hash probe and a copy (or an
     * insertion); never across a system call. */
    pthread_mutex_t lock;
    uint64_t generation; /* moved by every flush (cache_generation) */
    cache_observer_fn observer;
    void *observer_arg;
    struct cache_entry **buckets;
    size_t bucket_mask;
    size_t max_entries;
    uint32_t ttl_cap;
    uint64_t stale_ms; /* expired entries are kept this long for cache_lookup_stale */
    struct cache_entry *lru_head, *lru_tail; /* head: most recently used */
    struct cache_stats stats;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
};

static uint8_t *entry_response(struct cache_entry *e)
{
    return (uint8_t *)(e->ttl_offsets + e->ttl_count);
}

static uint8_t *entry_qname(struct cache_entry *e)
{
    return entry_response(e) + e->len;
}

/* Limits and an empty table for them (the cache holds no entry). -1 when
 * out of memory: the cache then stores nothing. */
static int cache_size(struct cache *cache, size_t max_entries, uint32_t ttl_cap)
{
    cache->ttl_cap = ttl_cap > CACHE_TTL_MAX ? CACHE_TTL_MAX : ttl_cap;
    /* Load factor at most 1 when full. */
    size_t buckets = 16;
    while (buckets < max_entries && buckets < CACHE_BUCKETS_MAX)
        buckets <<= 1;
    if (max_entries > 0 && (cache->buckets == NULL || cache->bucket_mask + 1 != buckets)) {
        free(cache->buckets);
        cache->buckets = calloc(buckets, sizeof(*cache->buckets));
        cache->bucket_mask = cache->buckets != NULL ? buckets - 1 : 0;
    }
    cache->max_entries = cache->buckets != NULL ? max_entries : 0;
    return max_entries > 0 && cache->buckets == NULL ? -1 : 0;
}

struct cache *cache_new(size_t max_entries, uint32_t ttl_cap)
{
    if (sodium_init() < 0)
        return NULL;
    struct cache *cache = calloc(1, sizeof(*cache));
    if (cache == NULL)
        return NULL;
    randombytes_buf(cache->hash_key, sizeof(cache->hash_key));
    if (cache_size(cache, max_entries, ttl_cap) < 0 ||
        pthread_mutex_init(&cache->lock, NULL) != 0) {
        free(cache->buckets);
        free(cache);
        return NULL;
    }
    return cache;
}

static void cache_drop_all(struct cache *cache)
{
    struct cache_entry *e = cache->lru_head;
    while (e != NULL) {
        struct cache_entry *next = e->lru_next;
        free(e);
        e = next;
    }
    cache->lru_head = cache->lru_tail = NULL;
    if (cache->buckets != NULL)
        memset(cache->buckets, 0, (cache->bucket_mask + 1) * sizeof(*cache->buckets));
    cache->stats.entries = 0;
}

/* After a change of the counters, under the lock: the observer sees them
 * in the order they changed. */
static void cache_observe(struct cache *cache)
{
    if (cache->observer != NULL)
        cache->observer(cache->observer_arg, &cache->stats);
}

void cache_free(struct cache *cache)
{
    if (cache == NULL)
        return;
    cache_drop_all(cache);
    free(cache->buckets);
    pthread_mutex_destroy(&cache->lock);
    free(cache);
}

void cache_flush(struct cache *cache)
{
    pthread_mutex_lock(&cache->lock);
    cache_drop_all(cache);
    cache->generation++;
    cache_observe(cache);
    pthread_mutex_unlock(&cache->lock);
}

int cache_configure(struct cache *cache, size_t max_entries, uint32_t ttl_cap, uint32_t serve_stale)
{
    pthread_mutex_lock(&cache->lock);
    cache_drop_all(cache);
    cache->generation++;
    int rc = cache_size(cache, max_entries, ttl_cap);
    cache->stale_ms = (uint64_t)serve_stale * 1000;
    cache_observe(cache);
    pthread_mutex_unlock(&cache->lock);
    return rc;
}

uint64_t cache_generation(struct cache *cache)
{
    pthread_mutex_lock(&cache->lock);
    uint64_t generation = cache->generation;
    pthread_mutex_unlock(&cache->lock);
    return generation;
}

void cache_set_observer(struct cache *cache, cache_observer_fn observer, void *arg)
{
    pthread_mutex_lock(&cache->lock);
    cache->observer = observer;
    cache->observer_arg = arg;
    cache_observe(cache);
    pthread_mutex_unlock(&cache->lock);
}

void cache_get_stats(struct cache *cache, struct cache_stats *out)
{
    pthread_mutex_lock(&cache->lock);
    *out = cache->stats;
    pthread_mutex_unlock(&cache->lock);
}

static bool key_valid(const struct cache_key *key)
{
    return key->qname_len >= 1 && wire_name_valid(key->qname, key->qname_len);
}

/* The hash covers the lowercased qname, so a caller that forgot to lower it
 * still finds its entry. */
static uint64_t key_hash(const struct cache *cache, const struct cache_key *key)
{
    uint8_t buf[WIRE_NAME_MAX + 5];
    size_t n = key->qname_len;
    for (size_t i = 0; i < n; i++)
        buf[i] = wire_lower(key->qname[i]);
    buf[n++] = key->flags;
    wire_put16(buf + n, key->qtype);
    n += 2;
    wire_put16(buf + n, key->qclass);
    n += 2;
    uint8_t out[crypto_shorthash_BYTES];
    crypto_shorthash(out, buf, n, cache->hash_key);
    uint64_t h;
    memcpy(&h, out, sizeof(h));
    return h;
}

static bool entry_matches(struct cache_entry *e, uint64_t hash, const struct cache_key *key)
{
    return e->hash == hash && e->qtype == key->qtype && e->qclass == key->qclass &&
           e->flags == key->flags &&
           wire_name_equal(entry_qname(e), e->qname_len, key->qname, key->qname_len);
}

static struct cache_entry **bucket_of(struct cache *cache, uint64_t hash)
{
    return &cache->buckets[hash & cache->bucket_mask];
}

static void lru_unlink(struct cache *cache, struct cache_entry *e)
{
    if (e->lru_prev != NULL)
        e->lru_prev->lru_next = e->lru_next;
    else
        cache->lru_head = e->lru_next;
    if (e->lru_next != NULL)
        e->lru_next->lru_prev = e->lru_prev;
    else
        cache->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct cache *cache, struct cache_entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = cache->lru_head;
    if (cache->lru_head != NULL)
        cache->lru_head->lru_prev = e;
    else
        cache->lru_tail = e;
    cache->lru_head = e;
}

static void entry_remove(struct cache *cache, struct cache_entry *e)
{
    struct cache_entry **link = bucket_of(cache, e->hash);
    while (*link != e)
        link = &(*link)->hash_next;
    *link = e->hash_next;
    lru_unlink(cache, e);
    free(e);
    cache->stats.entries--;
}

/* What cache_store learns from a response. */
struct response_scan {
    uint32_t lifetime;
    size_t ttl_count;
    size_t soa_ttl_offset; /* negative answers: the SOA whose TTL gets min(TTL, minimum) */
    uint32_t negative_ttl;
};

static uint32_t ttl_read(const uint8_t *p)
{
    uint32_t ttl = wire_get32(p);
    return ttl > CACHE_TTL_MAX ? 0 : ttl;
}

/* Read the SOA MINIMUM field of the RDATA at packet[rdata .. rdata+rdlength):
 * MNAME, RNAME (either may be compressed, RFC 1035 §4.1.4), then five 32-bit
 * fields, MINIMUM last. */
static int soa_minimum(const uint8_t *packet, size_t len, size_t rdata, size_t rdlength,
                       uint32_t *minimum)
{
    uint8_t name[WIRE_NAME_MAX];
    size_t name_len;
    size_t pos = rdata;
    if (wire_name_parse(packet, len, &pos, name, &name_len) < 0 ||
        wire_name_parse(packet, len, &pos, name, &name_len) < 0)
        return -1;
    if (pos + 20 != rdata + rdlength)
        return -1;
    *minimum = ttl_read(packet + pos + 16);
    return 0;
}

/* Check the response and compute its lifetime; when ttl_offsets is not NULL
 * also record where each TTL field stands. Returns 0 when cacheable, 1 when
 * not. */
static int response_scan(const struct cache_key *key, const uint8_t *packet, size_t len,
                         uint16_t *ttl_offsets, struct response_scan *scan)
{
    if (len < WIRE_HEADER_SIZE || len > CACHE_RESPONSE_MAX)
        return 1;
    uint16_t flags = wire_get16(packet + 2);
    if (!(flags & WIRE_FLAG_QR) || (flags & WIRE_FLAG_TC) || WIRE_OPCODE(flags) != 0)
        return 1;
    unsigned rcode = flags & 0xF;
    if (wire_get16(packet + 4) != 1)
        return 1;
    size_t counts[3] = {wire_get16(packet + 6), wire_get16(packet + 8), wire_get16(packet + 10)};

    /* The question must be the one the entry is filed under: a hit is
     * served with only its ID, case and flags changed. */
    uint8_t name[WIRE_NAME_MAX];
    size_t name_len;
    size_t pos = WIRE_HEADER_SIZE;
    if (wire_name_parse(packet, len, &pos, name, &name_len) < 0 || pos + 4 > len)
        return 1;
    if (!wire_name_equal(name, name_len, key->qname, key->qname_len) ||
        wire_get16(packet + pos) != key->qtype || wire_get16(packet + pos + 2) != key->qclass)
        return 1;
    pos += 4;

    uint32_t min_ttl = UINT32_MAX; /* over answer and authority records */
    bool have_soa = false, have_opt = false;
    size_t ttl_count = 0;
    scan->negative_ttl = 0;
    scan->soa_ttl_offset = 0;
    for (int section = 0; section < 3; section++) {
        for (size_t i = 0; i < counts[section]; i++) {
            bool at_root = pos < len && packet[pos] == 0;
            if (wire_name_parse(packet, len, &pos, name, &name_len) < 0 || pos + 10 > len)
                return 1;
            uint16_t type = wire_get16(packet + pos);
            size_t ttl_at = pos + 4;
            size_t rdlength = wire_get16(packet + pos + 8);
            size_t rdata = pos + 10;
            if (rdata + rdlength > len)
                return 1;
            pos = rdata + rdlength;
            if (type == WIRE_TYPE_OPT) {
                /* RFC 6891 §6.1.1: one OPT, in the additional section, owned by the root. */
                if (section != 2 || have_opt || !at_root)
                    return 1;
                have_opt = true;
                rcode |= (unsigned)packet[ttl_at] << 4; /* extended RCODE, RFC 6891 §6.1.3 */
                continue;
            }
            if (ttl_offsets != NULL)
                ttl_offsets[ttl_count] = (uint16_t)ttl_at;
            ttl_count++;
            if (section == 2)
                continue; /* additional data does not shorten the answer's life */
            uint32_t ttl = ttl_read(packet + ttl_at);
            if (ttl < min_ttl)
                min_ttl = ttl;
            if (section == 1 && type == WIRE_TYPE_SOA && !have_soa) {
                uint32_t minimum;
                if (soa_minimum(packet, len, rdata, rdlength, &minimum) < 0)
                    return 1;
                have_soa = true;
                scan->soa_ttl_offset = ttl_at;
                scan->negative_ttl = ttl < minimum ? ttl : minimum;
            }
        }
    }
    if (pos != len)
        return 1;

    uint32_t lifetime;
    if (rcode == WIRE_RCODE_NXDOMAIN || (rcode == WIRE_RCODE_NOERROR && counts[0] == 0)) {
        /* RFC 2308 §5: a negative answer lives min(SOA TTL, SOA MINIMUM);
         * without an SOA it is not cached at all. Answer records (a CNAME
         * chain ending in NXDOMAIN) still bound it. */
        if (!have_soa)
            return 1;
        lifetime = scan->negative_ttl;
        if (counts[0] > 0 && min_ttl < lifetime)
            lifetime = min_ttl;
    } else if (rcode == WIRE_RCODE_NOERROR) {
        lifetime = min_ttl;
        scan->soa_ttl_offset = 0; /* a positive answer's SOA keeps its own TTL */
    } else {
        return 1;
    }
    scan->lifetime = lifetime;
    scan->ttl_count = ttl_count;
    return lifetime == 0 ? 1 : 0;
}

static int cache_store_locked(struct cache *cache, const struct cache_key *key,
                              const uint8_t *response, size_t len, uint64_t now_ms)
{
    if (cache->max_entries == 0 || !key_valid(key))
        return 1;
    struct response_scan scan;
    if (response_scan(key, response, len, NULL, &scan) != 0)
        return 1;
    uint32_t lifetime = scan.lifetime < cache->ttl_cap ? scan.lifetime : cache->ttl_cap;
    if (lifetime == 0)
        return 1;

    size_t size =
        sizeof(struct cache_entry) + scan.ttl_count * sizeof(uint16_t) + len + key->qname_len;
    struct cache_entry *e = malloc(size);
    if (e == NULL)
        return -1;
    e->hash = key_hash(cache, key);
    e->stored_ms = now_ms;
    e->expires_ms = now_ms + (uint64_t)lifetime * 1000;
    e->len = (uint16_t)len;
    e->ttl_count = (uint16_t)scan.ttl_count;
    e->qtype = key->qtype;
    e->qclass = key->qclass;
    e->flags = key->flags;
    e->qname_len = key->qname_len;
    response_scan(key, response, len, e->ttl_offsets, &scan);
    uint8_t *stored = entry_response(e);
    memcpy(stored, response, len);
    for (size_t i = 0; i < key->qname_len; i++)
        entry_qname(e)[i] = wire_lower(key->qname[i]);

    /* Served TTLs never exceed what the entry is kept for by policy: capped
     * at ttl_cap, and the negative answer's SOA at min(TTL, minimum)
     * (RFC 2308 §3). */
    if (scan.soa_ttl_offset != 0)
        wire_put32(stored + scan.soa_ttl_offset, scan.negative_ttl);
    for (size_t i = 0; i < e->ttl_count; i++) {
        uint8_t *p = stored + e->ttl_offsets[i];
        uint32_t ttl = ttl_read(p);
        wire_put32(p, ttl < cache->ttl_cap ? ttl : cache->ttl_cap);
    }

    struct cache_entry **bucket = bucket_of(cache, e->hash);
    for (struct cache_entry *old = *bucket; old != NULL; old = old->hash_next) {
        if (entry_matches(old, e->hash, key)) {
            entry_remove(cache, old);
            break;
        }
    }
    if (cache->stats.entries >= cache->max_entries && cache->lru_tail != NULL) {
        entry_remove(cache, cache->lru_tail);
        cache->stats.evictions++;
    }
    e->hash_next = *bucket;
    *bucket = e;
    lru_push_front(cache, e);
    cache->stats.entries++;
    return 0;
}

int cache_store_since(struct cache *cache, uint64_t generation, const struct cache_key *key,
                      const uint8_t *response, size_t len, uint64_t now_ms)
{
    pthread_mutex_lock(&cache->lock);
    int rc = 1; /* flushed since the answer was asked for: not kept */
    if (generation == cache->generation) {
        rc = cache_store_locked(cache, key, response, len, now_ms);
        cache_observe(cache);
    }
    pthread_mutex_unlock(&cache->lock);
    return rc;
}

int cache_store(struct cache *cache, const struct cache_key *key, const uint8_t *response,
                size_t len, uint64_t now_ms)
{
    pthread_mutex_lock(&cache->lock);
    int rc = cache_store_locked(cache, key, response, len, now_ms);
    cache_observe(cache);
    pthread_mutex_unlock(&cache->lock);
    return rc;
}

/* The entry for key, if it may still be served at now_ms: fresh, or (with
 * stale_ok) expired less than stale_ms ago. An entry past that is dropped;
 * an expired one within it is kept for cache_lookup_stale. */
static struct cache_entry *entry_find(struct cache *cache, const struct cache_key *key,
                                      uint64_t now_ms, bool stale_ok)
{
    if (cache->max_entries == 0 || !key_valid(key))
        return NULL;
    uint64_t hash = key_hash(cache, key);
    struct cache_entry *e = *bucket_of(cache, hash);
    while (e != NULL && !entry_matches(e, hash, key))
        e = e->hash_next;
    if (e == NULL || now_ms < e->expires_ms)
        return e;
    if (now_ms - e->expires_ms >= cache->stale_ms) {
        entry_remove(cache, e);
        return NULL;
    }
    return stale_ok ? e : NULL;
}

/* Copy e's response into out: every TTL (but the OPT's) counted down by
 * the whole seconds it has been kept, or, stale, set to stale_ttl. Marks
 * it most recently used. */
static size_t entry_copy_out(struct cache *cache, struct cache_entry *e, uint64_t now_ms,
                             uint8_t *out, bool stale, uint32_t stale_ttl)
{
    uint64_t elapsed = now_ms > e->stored_ms ? (now_ms - e->stored_ms) / 1000 : 0;
    memcpy(out, entry_response(e), e->len);
    for (size_t i = 0; i < e->ttl_count; i++) {
        uint8_t *p = out + e->ttl_offsets[i];
        uint32_t ttl = wire_get32(p);
        if (stale)
            ttl = stale_ttl;
        else
            ttl = ttl > elapsed ? (uint32_t)(ttl - elapsed) : 0;
        wire_put32(p, ttl);
    }
    lru_unlink(cache, e);
    lru_push_front(cache, e);
    return e->len;
}

static size_t cache_lookup_locked(struct cache *cache, const struct cache_key *key, uint64_t now_ms,
                                  uint8_t *out, size_t cap)
{
    struct cache_entry *e = entry_find(cache, key, now_ms, false);
    if (e == NULL || e->len > cap) {
        cache->stats.misses++;
        return 0;
    }
    cache->stats.hits++;
    return entry_copy_out(cache, e, now_ms, out, false, 0);
}

size_t cache_lookup(struct cache *cache, const struct cache_key *key, uint64_t now_ms, uint8_t *out,
                    size_t cap)
{
    pthread_mutex_lock(&cache->lock);
    size_t len = cache_lookup_locked(cache, key, now_ms, out, cap);
    cache_observe(cache);
    pthread_mutex_unlock(&cache->lock);
    return len;
}

size_t cache_lookup_stale(struct cache *cache, const struct cache_key *key, uint64_t now_ms,
                          uint8_t *out, size_t cap, bool *stale)
{
    pthread_mutex_lock(&cache->lock);
    size_t len = 0;
    *stale = false;
    uint64_t entries = cache->stats.entries;
    struct cache_entry *e = entry_find(cache, key, now_ms, true);
    if (e != NULL && e->len <= cap) {
        *stale = now_ms >= e->expires_ms;
        uint32_t stale_ttl = CACHE_STALE_TTL < cache->ttl_cap ? CACHE_STALE_TTL : cache->ttl_cap;
        len = entry_copy_out(cache, e, now_ms, out, *stale, stale_ttl);
    }
    if (cache->stats.entries != entries)
        cache_observe(cache); /* an entry past its window went */
    pthread_mutex_unlock(&cache->lock);
    return len;
}
