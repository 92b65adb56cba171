/* The pull: 10 s after start and every 30 s after, each due peer is asked
 * for its version (GET /health); the config of the one furthest ahead is
 * fetched (GET /config/raw, signed by that peer's listed key) and put in
 * force. A pull lives until that config is applied or refused. See sync.h. */
#include "sync_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "node.h"
#include "peer_client.h"
#include "peer_health.h"

#define PULL_INTERVAL_S 30 /* as the original */
#define PULL_SOON_S 1      /* a peer told us it is ahead: ask it now, not in 30 s */
/* A pulled config. Larger than a push can carry (the API takes request
 * bodies up to 1 MiB): a config too large to push still converges by pull. */
#define PULL_MAX_CONFIG_SIZE (64 * 1024 * 1024)

struct pull_probe {
    struct pull *pull;
    char *address;
    struct peer_request *request; /* NULL once answered */
    bool ok;
    uint64_t version;
    uint8_t hash[ENVELOPE_HASH_SIZE];
};

struct pull {
    struct sync *sync;
    size_t count, pending;
    struct peer_request *fetch; /* GET /config/raw of the peer ahead */
    char *fetch_address;
    struct pull_probe probes[];
};

void sync_pull_free(struct pull *pull)
{
    for (size_t i = 0; i < pull->count; i++) {
        peer_request_free(pull->probes[i].request);
        free(pull->probes[i].address);
    }
    peer_request_free(pull->fetch);
    free(pull->fetch_address);
    if (pull->sync->pull == pull)
        pull->sync->pull = NULL;
    free(pull);
}

/* The listed key of the peer at address, or NULL. */
static const uint8_t *pull_peer_key(const struct sync *sync, const char *address)
{
    const struct config_server *server = &sync->node->config.server;
    for (size_t i = 0; i < server->peer_count; i++) {
        if (strcmp(server->peers[i], address) == 0 && server->peer_has_key != NULL &&
            server->peer_has_key[i])
            return server->peer_keys[i];
    }
    return NULL;
}

/* A header of the /config/raw answer, or NULL with why in reason. */
static const char *fetch_header(struct peer_request *request, const char *name, char *reason,
                                size_t reason_len)
{
    const char *value = peer_request_header(request, name);
    if (value == NULL)
        snprintf(reason, reason_len, "its /config/raw is not signed (no %s)", name);
    return value;
}

/* The /config/raw answer of the peer at address: signed by that peer's
 * listed key, with the version and hash it says. 0, or -1 with why. */
static int fetch_check(struct sync *sync, const char *address, struct peer_request *request,
                       uint64_t *version, uint8_t hash[ENVELOPE_HASH_SIZE], char *reason,
                       size_t reason_len)
{
    const struct peer_answer *answer = peer_request_answer(request);
    if (!answer->answered) {
        snprintf(reason, reason_len, "GET /config/raw: %s", answer->error);
        return -1;
    }
    if (answer->code != SYNC_HTTP_OK) {
        snprintf(reason, reason_len, "GET /config/raw: HTTP %d", answer->code);
        return -1;
    }
    const char *version_text, *hash_text, *signer_text, *signature_text;
    if ((version_text = fetch_header(request, "X-NanoDNS-Version", reason, reason_len)) == NULL ||
        (hash_text = fetch_header(request, "X-NanoDNS-Hash", reason, reason_len)) == NULL ||
        (signer_text = fetch_header(request, "X-NanoDNS-Signer", reason, reason_len)) == NULL ||
        (signature_text = fetch_header(request, "X-NanoDNS-Signature", reason, reason_len)) == NULL)
        return -1;

    const uint8_t *listed = pull_peer_key(sync, address);
    uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE];
    if (listed == NULL) {
        snprintf(reason, reason_len, "it is no longer listed with a key");
        return -1;
    }
    if (envelope_public_key_parse(signer_text, signer) < 0 ||
        sodium_memcmp(signer, listed, sizeof(signer)) != 0) {
        snprintf(reason, reason_len, "its /config/raw is signed by %s, not by its listed key",
                 signer_text);
        return -1;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(version_text, &end, 10);
    if (version_text[0] < '0' || version_text[0] > '9' || errno != 0 || *end != '\0' ||
        v >= INT64_MAX) {
        snprintf(reason, reason_len, "X-NanoDNS-Version is not a version");
        return -1;
    }
    uint8_t actual[ENVELOPE_HASH_SIZE];
    envelope_config_hash(answer->body, answer->body_len, actual);
    if (sync_hash_parse(hash_text, hash) < 0 || sodium_memcmp(hash, actual, sizeof(actual)) != 0) {
        snprintf(reason, reason_len, "X-NanoDNS-Hash is not the SHA-256 of the config");
        return -1;
    }
    uint8_t signature[ENVELOPE_SIGNATURE_SIZE + 3];
    if (envelope_base64_decode(signature_text, signature, sizeof(signature)) !=
            ENVELOPE_SIGNATURE_SIZE ||
        !envelope_verify_config(signer, (uint64_t)v, answer->body, answer->body_len, signature)) {
        snprintf(reason, reason_len, "the signature of its /config/raw does not verify");
        return -1;
    }
    *version = (uint64_t)v;
    return 0;
}

static void on_pull_fetch(struct peer_request *request, void *arg)
{
    struct pull *pull = arg;
    struct sync *sync = pull->sync;
    struct node *node = sync->node;
    const char *address = pull->fetch_address;
    uint64_t version;
    uint8_t hash[ENVELOPE_HASH_SIZE];
    char reason[512];
    if (fetch_check(sync, address, request, &version, hash, reason, sizeof(reason)) < 0) {
        sync_peer_failed(sync, address, peer_request_answer(request)->answered, reason);
        sync_pull_free(pull);
        return;
    }
    sync_peer_local_seen(sync, address, peer_request_answer(request)->body,
                         peer_request_answer(request)->body_len);
    /* Ours may have moved on since its /health answered. Judged against
     * the version floor, as a push is (sync_receive.c). */
    enum sync_status status =
        sync_compare_floor(node->floor.version, node->floor.hash, node->config_hash, version, hash);
    /* The same version with other node-local settings is ours already. */
    if (status == SYNC_APPLY && version == node->version && version == node->floor.version &&
        sync_same_shared(peer_request_answer(request)->body, peer_request_answer(request)->body_len,
                         node->config_text, node->config_len)) {
        status = SYNC_ALREADY_CURRENT;
        sync_peer_shares(sync, address, hash);
    }
    if (status != SYNC_APPLY) {
        log_debug("sync: %s's version %" PRIu64 " is no longer ahead of ours (%s)", address,
                  version, sync_status_name(status));
        sync_peer_succeeded(sync, address);
        sync_pull_free(pull);
        return;
    }
    const struct peer_answer *answer = peer_request_answer(request);
    struct node_reload_result result;
    int rc = sync_apply(node, answer->body, answer->body_len, version, &result);
    if (rc == 0) {
        log_info("applied version %" PRIu64 " from %s (pull)", version, address);
        sync_peer_succeeded(sync, address);
        sync_peer_shares(sync, address, hash);
    } else {
        snprintf(reason, sizeof(reason), "its version %" PRIu64 " %s%s%s", version,
                 rc == -1 ? "does not validate" : "cannot be published",
                 result.error_count > 0 ? ": " : "",
                 result.error_count > 0 ? result.errors[0] : "");
        sync_peer_failed(sync, address, true, reason);
    }
    node_reload_result_free(&result);
    sync_pull_free(pull);
}

/* Every /health is in: fetch the config of the peer furthest ahead. */
static void pull_choose(struct pull *pull)
{
    struct sync *sync = pull->sync;
    struct node *node = sync->node;
    struct pull_probe *best = NULL;
    for (size_t i = 0; i < pull->count; i++) {
        struct pull_probe *p = &pull->probes[i];
        if (!p->ok ||
            sync_compare_floor(node->floor.version, node->floor.hash, node->config_hash, p->version,
                               p->hash) != SYNC_APPLY ||
            (p->version == node->version && sync_peer_same_config(sync, p->address, p->hash)))
            continue;
        if (best == NULL ||
            sync_compare(best->version, best->hash, p->version, p->hash) == SYNC_APPLY)
            best = p;
    }
    if (best == NULL) {
        log_debug("sync: no peer is ahead of version %" PRIu64, node->floor.version);
        sync_pull_free(pull);
        return;
    }
    log_info("sync: %s is ahead (version %" PRIu64 "); fetching its config", best->address,
             best->version);
    pull->fetch_address = strdup(best->address);
    /* Signed for that peer (its listed key): a node gives its config only
     * to loopback and to listed keys, each signed request once. */
    struct sync_request_headers signed_by;
    const char *headers[] = {"X-NanoDNS-Signer",
                             signed_by.signer,
                             "X-NanoDNS-Time",
                             signed_by.time,
                             "X-NanoDNS-Nonce",
                             signed_by.nonce,
                             "X-NanoDNS-Target",
                             signed_by.target,
                             "X-NanoDNS-Signature",
                             signed_by.signature,
                             NULL};
    const uint8_t *target = pull_peer_key(sync, best->address);
    static const uint8_t no_key[ENVELOPE_PUBLIC_KEY_SIZE];
    sync_request_sign(&sync->identity.key, target != NULL ? target : no_key, (uint64_t)time(NULL),
                      "GET", "/config/raw", &signed_by);
    if (pull->fetch_address != NULL)
        pull->fetch = peer_request_start_with_headers(sync->client, best->address, EVHTTP_REQ_GET,
                                                      "/config/raw", headers, NULL, 0,
                                                      PULL_MAX_CONFIG_SIZE, on_pull_fetch, pull);
    if (pull->fetch == NULL) {
        log_error("sync: out of memory: no pull");
        sync_pull_free(pull);
    }
}

/* A peer's /health: its version and hash (peer_health.c reads it). */
static int health_read(const struct peer_answer *answer, uint64_t *version,
                       uint8_t hash[ENVELOPE_HASH_SIZE], char *reason, size_t reason_len)
{
    if (!answer->answered) {
        snprintf(reason, reason_len, "GET /health: %s", answer->error);
        return -1;
    }
    struct peer_health health;
    peer_health_parse(answer->body, answer->body_len, &health);
    if (!health.has_version) {
        snprintf(reason, reason_len, "GET /health: HTTP %d without a version", answer->code);
        return -1;
    }
    if (!health.has_hash) {
        snprintf(reason, reason_len, "GET /health: no config hash (a node without sync?)");
        return -1;
    }
    *version = health.version;
    memcpy(hash, health.hash, ENVELOPE_HASH_SIZE);
    return 0;
}

static void on_pull_health(struct peer_request *request, void *arg)
{
    struct pull_probe *probe = arg;
    struct pull *pull = probe->pull;
    char reason[256];
    if (health_read(peer_request_answer(request), &probe->version, probe->hash, reason,
                    sizeof(reason)) == 0)
        probe->ok = true;
    else
        sync_peer_failed(pull->sync, probe->address, peer_request_answer(request)->answered,
                         reason);
    peer_request_free(request);
    probe->request = NULL;
    if (--pull->pending == 0)
        pull_choose(pull);
}

/* Ask every peer that is due (listed with a key, not this node, not
 * backing off) for its version. */
static void pull_start(struct sync *sync)
{
    struct node *node = sync->node;
    const struct config_server *server = &node->config.server;
    sync_peers_follow(sync);
    if (sync->peer_count != server->peer_count || server->peer_has_key == NULL)
        return; /* out of memory following the list, or no peers at all */
    size_t count = 0;
    for (size_t i = 0; i < sync->peer_count; i++)
        count += server->peer_has_key[i] && (long)i != sync->identity.self_peer &&
                 sync_peer_due(&sync->peers[i]);
    if (count == 0)
        return;
    struct pull *pull = calloc(1, sizeof(*pull) + count * sizeof(pull->probes[0]));
    if (pull == NULL) {
        log_error("sync: out of memory: no pull");
        return;
    }
    pull->sync = sync;
    sync->pull = pull;
    for (size_t i = 0; i < sync->peer_count; i++) {
        if (!server->peer_has_key[i] || (long)i == sync->identity.self_peer ||
            !sync_peer_due(&sync->peers[i]))
            continue;
        struct pull_probe *probe = &pull->probes[pull->count++];
        probe->pull = pull;
        probe->address = strdup(sync->peers[i].address);
        pull->pending++;
    }
    log_debug("sync: asking %zu peer%s for their version", count, count == 1 ? "" : "s");
    for (size_t i = 0; i < pull->count; i++) {
        struct pull_probe *probe = &pull->probes[i];
        if (probe->address != NULL)
            probe->request =
                peer_request_start(sync->client, probe->address, EVHTTP_REQ_GET, "/health", NULL, 0,
                                   PEER_HEALTH_MAX_SIZE, on_pull_health, probe);
        if (probe->request == NULL)
            pull->pending--; /* out of memory: that peer is left out this time */
    }
    if (pull->pending == 0) {
        log_error("sync: out of memory: no pull");
        sync_pull_free(pull);
    }
}

void sync_pull_timer_set(struct sync *sync, long seconds)
{
    struct timeval when = {.tv_sec = seconds};
    if (event_add(sync->pull_timer, &when) != 0)
        log_error("sync: cannot set the pull timer");
}

void sync_pull_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sync *sync = arg;
    sync_pull_timer_set(sync, PULL_INTERVAL_S);
    if (sync->pull != NULL) {
        log_debug("sync: the last pull is still under way");
        return;
    }
    pull_start(sync);
}

/* A peer says it is ahead: pull in a second rather than at the next turn
 * (the pull then runs every 30 s from there). */
void sync_pull_soon(struct sync *sync)
{
    if (sync->pull == NULL)
        sync_pull_timer_set(sync, PULL_SOON_S);
}
