/* The replay cache (see replay_cache.h): a flat table scanned whole. Signed
 * requests are rare (reloads, and each peer's pull at most every second),
 * so a scan of a few thousand slots costs less than keeping a hash. */
#include "replay_cache.h"

#include <stdlib.h>
#include <string.h>

int replay_cache_init(struct replay_cache *cache, size_t capacity)
{
    cache->entries = calloc(capacity, sizeof(*cache->entries));
    cache->capacity = cache->entries != NULL ? capacity : 0;
    return cache->entries != NULL ? 0 : -1;
}

void replay_cache_free(struct replay_cache *cache)
{
    free(cache->entries);
    cache->entries = NULL;
    cache->capacity = 0;
}

enum replay_verdict replay_cache_admit(struct replay_cache *cache,
                                       const uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE],
                                       const uint8_t nonce[ENVELOPE_NONCE_SIZE], uint64_t time,
                                       uint64_t now)
{
    struct replay_entry *free_slot = NULL;
    for (size_t i = 0; i < cache->capacity; i++) {
        struct replay_entry *e = &cache->entries[i];
        if (e->expires < now || e->expires == 0) {
            /* Its request no longer verifies: the slot is free. */
            if (free_slot == NULL)
                free_slot = e;
            continue;
        }
        if (memcmp(e->nonce, nonce, ENVELOPE_NONCE_SIZE) == 0 &&
            memcmp(e->signer, signer, ENVELOPE_PUBLIC_KEY_SIZE) == 0)
            return REPLAY_SEEN;
    }
    if (free_slot == NULL)
        return REPLAY_FULL;
    memcpy(free_slot->signer, signer, ENVELOPE_PUBLIC_KEY_SIZE);
    memcpy(free_slot->nonce, nonce, ENVELOPE_NONCE_SIZE);
    /* Valid while |time - now| <= window: until time + window. At least 1,
     * so a slot in use is never taken for free. */
    uint64_t expires = time + ENVELOPE_REQUEST_WINDOW_S;
    free_slot->expires = expires < time ? UINT64_MAX : (expires == 0 ? 1 : expires);
    return REPLAY_NEW;
}
