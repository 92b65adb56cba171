/* The running sync's state (see sync.h and sync_internal.h): its start and
 * end, this node's identity, and the table of peers with their backoff. */
#include "sync_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "config.h"
#include "log.h"
#include "node.h"
#include "peer_client.h"

#define PULL_FIRST_S 10   /* after start, as the original */
#define BACKOFF_BASE_S 30 /* a failing peer is skipped 30 s x 2^k ... */
#define BACKOFF_MAX_S 300 /* ... up to 5 min */

/* ---- the peer table ---- */

static time_t monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void peer_states_free(struct peer_state *peers, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(peers[i].address);
    free(peers);
}

void sync_peers_follow(struct sync *sync)
{
    const struct config_server *server = &sync->node->config.server;
    bool same = server->peer_count == sync->peer_count;
    for (size_t i = 0; same && i < server->peer_count; i++)
        same = strcmp(server->peers[i], sync->peers[i].address) == 0;
    if (same)
        return;
    struct peer_state *peers = calloc(server->peer_count ? server->peer_count : 1, sizeof(*peers));
    if (peers == NULL)
        return;
    for (size_t i = 0; i < server->peer_count; i++) {
        for (size_t j = 0; j < sync->peer_count; j++) {
            if (sync->peers[j].address != NULL &&
                strcmp(sync->peers[j].address, server->peers[i]) == 0) {
                peers[i] = sync->peers[j];
                sync->peers[j].address = NULL;
                break;
            }
        }
        if (peers[i].address == NULL && (peers[i].address = strdup(server->peers[i])) == NULL) {
            peer_states_free(peers, i);
            return;
        }
    }
    peer_states_free(sync->peers, sync->peer_count);
    sync->peers = peers;
    sync->peer_count = server->peer_count;
}

static struct peer_state *peer_state_find(struct sync *sync, const char *address)
{
    sync_peers_follow(sync);
    for (size_t i = 0; i < sync->peer_count; i++) {
        if (strcmp(sync->peers[i].address, address) == 0)
            return &sync->peers[i];
    }
    return NULL;
}

time_t sync_peer_last_sync(const struct sync *sync, const char *address)
{
    for (size_t i = 0; sync != NULL && i < sync->peer_count; i++) {
        if (strcmp(sync->peers[i].address, address) == 0)
            return sync->peers[i].last_sync;
    }
    return 0;
}

void sync_peer_local_seen(struct sync *sync, const char *address, const char *config, size_t len)
{
    struct peer_state *st = peer_state_find(sync, address);
    if (st == NULL || sync->node->config_text == NULL)
        return;
    st->local_differences =
        sync_local_differences(config, len, sync->node->config_text, sync->node->config_len);
    st->local_known = true;
}

uint32_t sync_peer_local_differences(const struct sync *sync, const char *address, bool *known)
{
    *known = false;
    for (size_t i = 0; sync != NULL && i < sync->peer_count; i++) {
        if (strcmp(sync->peers[i].address, address) == 0) {
            *known = sync->peers[i].local_known;
            return sync->peers[i].local_differences;
        }
    }
    return 0;
}

void sync_peer_shares(struct sync *sync, const char *address,
                      const uint8_t theirs[ENVELOPE_HASH_SIZE])
{
    struct peer_state *st = peer_state_find(sync, address);
    if (st == NULL)
        return;
    st->shares = true;
    memcpy(st->shares_theirs, theirs, ENVELOPE_HASH_SIZE);
    memcpy(st->shares_ours, sync->node->config_hash, ENVELOPE_HASH_SIZE);
}

bool sync_peer_same_config(const struct sync *sync, const char *address,
                           const uint8_t theirs[ENVELOPE_HASH_SIZE])
{
    if (sync == NULL)
        return false;
    if (memcmp(theirs, sync->node->config_hash, ENVELOPE_HASH_SIZE) == 0)
        return true;
    for (size_t i = 0; i < sync->peer_count; i++) {
        const struct peer_state *st = &sync->peers[i];
        if (strcmp(st->address, address) == 0)
            return st->shares && memcmp(st->shares_theirs, theirs, ENVELOPE_HASH_SIZE) == 0 &&
                   memcmp(st->shares_ours, sync->node->config_hash, ENVELOPE_HASH_SIZE) == 0;
    }
    return false;
}

void sync_peer_succeeded(struct sync *sync, const char *address)
{
    struct peer_state *st = peer_state_find(sync, address);
    if (st == NULL)
        return;
    if (st->failures > 0)
        log_info("sync: %s answers again", address);
    st->failures = 0;
    st->retry_at = 0;
    st->last_sync = time(NULL);
}

void sync_peer_failed(struct sync *sync, const char *address, bool refused, const char *what)
{
    struct peer_state *st = peer_state_find(sync, address);
    long delay = BACKOFF_BASE_S;
    if (st != NULL) {
        unsigned k = st->failures < 4 ? st->failures : 4;
        delay = (long)BACKOFF_BASE_S << k;
        if (delay > BACKOFF_MAX_S)
            delay = BACKOFF_MAX_S;
        st->failures++;
        st->retry_at = monotonic_now() + delay;
    }
    log_warning("sync: pull from %s %s: %s (next try in %ld s)", address,
                refused ? "refused" : "failed", what, delay);
}

/* A second early is on time: timers are not exact. */
bool sync_peer_due(const struct peer_state *st)
{
    return st->failures == 0 || monotonic_now() + 1 >= st->retry_at;
}

const char *sync_signer_address(const struct config_server *server,
                                const uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE])
{
    long i = sync_member_find(server, signer);
    return i >= 0 ? server->peers[i] : "an unknown signer";
}

struct json_object *sync_answer_status(const char *status)
{
    struct json_object *body = json_object_new_object();
    if (body != NULL)
        json_object_object_add(body, "status", json_object_new_string(status));
    return body;
}

/* ---- identity ---- */

void sync_config_changed(struct sync *sync)
{
    const struct node *node = sync->node;
    sync_identity_refresh(&sync->identity, &node->config.server, node->version, node->config_text,
                          node->config_len);
}

const struct sync_identity *sync_identity_of(const struct sync *sync)
{
    return &sync->identity;
}

/* ---- lifecycle ---- */

struct sync *sync_start(struct node *node, struct event_base *base)
{
    struct sync *sync = calloc(1, sizeof(*sync));
    if (sync == NULL)
        return NULL;
    sync->node = node;
    sync->base = base;
    sync_identity_init(&sync->identity);
    sync->client = peer_client_new(base);
    sync->pull_timer = evtimer_new(base, sync_pull_on_timer, sync);
    if (sync->client == NULL || sync->pull_timer == NULL) {
        sync_free(sync);
        return NULL;
    }
    sync_config_changed(sync);
    sync_peers_follow(sync);
    sync_pull_timer_set(sync, PULL_FIRST_S);
    return sync;
}

void sync_free(struct sync *sync)
{
    if (sync == NULL)
        return;
    /* Whoever still waits is gone already (api_free lets go first). */
    sync_push_rounds_free(sync);
    if (sync->pull != NULL)
        sync_pull_free(sync->pull);
    if (sync->pull_timer != NULL)
        event_free(sync->pull_timer);
    peer_client_free(sync->client);
    peer_states_free(sync->peers, sync->peer_count);
    sync_identity_free(&sync->identity);
    free(sync);
}
