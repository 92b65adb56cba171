/* Signed config sync (see sync.h). The pure part judges envelopes; the
 * running part pushes after every local reload and pulls on a timer, over
 * peer_client.c, on the node's one event loop.
 *
 * Lifetimes: a push round lives from the reload that started it until its
 * last peer has answered (or timed out) and its waiters are told; a pull
 * lives from its timer until the config it fetched is applied or refused.
 * Both own their peer requests and are freed from those requests' done
 * callbacks (which peer_client.c runs outside evhttp's own). sync_free
 * frees whatever is still under way. */
#include "sync.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "config.h"
#include "log.h"
#include "node.h"
#include "peer_client.h"

#define PULL_FIRST_S 10    /* after start, as the original */
#define PULL_INTERVAL_S 30 /* as the original */
#define PULL_SOON_S 1      /* a peer told us it is ahead: ask it now, not in 30 s */
#define BACKOFF_BASE_S 30  /* a failing peer is skipped 30 s x 2^k ... */
#define BACKOFF_MAX_S 300  /* ... up to 5 min */
#define HEALTH_MAX_SIZE (64 * 1024)
/* A pulled config. Larger than a push can carry (the API takes request
 * bodies up to 1 MiB): a config too large to push still converges by pull. */
#define PULL_MAX_CONFIG_SIZE (64 * 1024 * 1024)
#define SYNC_ANSWER_MAX_SIZE (1024 * 1024) /* a peer's answer to a push: errors at most */

#define HTTP_OK 200
#define HTTP_BAD_REQUEST 400
#define HTTP_UNAUTHORIZED 401
#define HTTP_CONFLICT 409
#define HTTP_UNPROCESSABLE 422
#define HTTP_INTERNAL 500

/* ---- pure parts ---------------------------------------------------------- */

const char *sync_status_name(enum sync_status status)
{
    switch (status) {
    case SYNC_BAD_REQUEST:
        return "bad_request";
    case SYNC_UNAUTHORIZED:
        return "unauthorized";
    case SYNC_REJECTED_STALE:
        return "rejected_stale";
    case SYNC_ALREADY_CURRENT:
        return "already_current";
    case SYNC_REJECTED_CONFLICT:
        return "rejected_conflict";
    case SYNC_APPLY:
        return "applied";
    }
    return "?";
}

void sync_hash_hex(const uint8_t hash[ENVELOPE_HASH_SIZE], char text[2 * ENVELOPE_HASH_SIZE + 1])
{
    sodium_bin2hex(text, 2 * ENVELOPE_HASH_SIZE + 1, hash, ENVELOPE_HASH_SIZE);
}

int sync_hash_parse(const char *text, uint8_t hash[ENVELOPE_HASH_SIZE])
{
    size_t bin_len = 0;
    const char *end = NULL;
    if (strlen(text) != 2 * ENVELOPE_HASH_SIZE ||
        sodium_hex2bin(hash, ENVELOPE_HASH_SIZE, text, 2 * ENVELOPE_HASH_SIZE, NULL, &bin_len,
                       &end) != 0 ||
        bin_len != ENVELOPE_HASH_SIZE || *end != '\0')
        return -1;
    return 0;
}

/* A string member of obj, or NULL (with why in reason). */
static const char *member_string(struct json_object *obj, const char *name, char *reason,
                                 size_t reason_len)
{
    struct json_object *v;
    if (!json_object_object_get_ex(obj, name, &v) || v == NULL) {
        snprintf(reason, reason_len, "\"%s\" is missing", name);
        return NULL;
    }
    if (!json_object_is_type(v, json_type_string)) {
        snprintf(reason, reason_len, "\"%s\" is not a string", name);
        return NULL;
    }
    return json_object_get_string(v);
}

static int envelope_fields(struct json_object *obj, struct sync_envelope *env, char *reason,
                           size_t reason_len)
{
    struct json_object *v;
    if (!json_object_object_get_ex(obj, "version", &v) || v == NULL) {
        snprintf(reason, reason_len, "\"version\" is missing");
        return -1;
    }
    /* json-c saturates integers from 2^63 up: the bound below rules them out. */
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
        json_object_get_int64(v) == INT64_MAX) {
        snprintf(reason, reason_len, "\"version\" is not a whole number from 0 to 2^63 - 2");
        return -1;
    }
    env->version = (uint64_t)json_object_get_int64(v);

    const char *text = member_string(obj, "hash", reason, reason_len);
    if (text == NULL)
        return -1;
    if (sync_hash_parse(text, env->hash) < 0) {
        snprintf(reason, reason_len, "\"hash\" is not 64 hex digits");
        return -1;
    }
    if ((text = member_string(obj, "signer", reason, reason_len)) == NULL)
        return -1;
    if (envelope_public_key_parse(text, env->signer) < 0) {
        snprintf(reason, reason_len, "\"signer\" is not the base64 of a public key");
        return -1;
    }
    if ((text = member_string(obj, "signature", reason, reason_len)) == NULL)
        return -1;
    uint8_t signature[ENVELOPE_SIGNATURE_SIZE + 3];
    if (envelope_base64_decode(text, signature, sizeof(signature)) != ENVELOPE_SIGNATURE_SIZE) {
        snprintf(reason, reason_len, "\"signature\" is not the base64 of a signature");
        return -1;
    }
    memcpy(env->signature, signature, ENVELOPE_SIGNATURE_SIZE);

    if ((text = member_string(obj, "config", reason, reason_len)) == NULL)
        return -1;
    size_t text_len = strlen(text);
    size_t size = text_len / 4 * 3 + 4;
    env->config = malloc(size);
    if (env->config == NULL) {
        snprintf(reason, reason_len, "out of memory");
        return -1;
    }
    int n = envelope_base64_decode(text, (uint8_t *)env->config, size - 1);
    if (n < 0) {
        snprintf(reason, reason_len, "\"config\" is not base64");
        return -1;
    }
    env->config[n] = '\0';
    env->config_len = (size_t)n;
    return 0;
}

/* The body is not NUL-terminated: look at exactly len octets. */
static bool only_whitespace(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r' && text[i] != '\n')
            return false;
    return true;
}

int sync_envelope_parse(const char *body, size_t len, struct sync_envelope *env, char *reason,
                        size_t reason_len)
{
    memset(env, 0, sizeof(*env));
    if (len == 0 || len > INT32_MAX) {
        snprintf(reason, reason_len, len == 0 ? "the body is empty" : "the body is too large");
        return -1;
    }
    struct json_tokener *tok = json_tokener_new();
    if (tok == NULL) {
        snprintf(reason, reason_len, "out of memory");
        return -1;
    }
    struct json_object *obj = json_tokener_parse_ex(tok, body, (int)len);
    enum json_tokener_error error = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    int rc = -1;
    if (obj == NULL || error != json_tokener_success) {
        snprintf(reason, reason_len, "the body is not JSON: %s",
                 error != json_tokener_success && error != json_tokener_continue
                     ? json_tokener_error_desc(error)
                     : "it ends too soon");
    } else if (!only_whitespace(body + used, len - used)) {
        snprintf(reason, reason_len, "the body is not JSON: text after the object");
    } else if (!json_object_is_type(obj, json_type_object)) {
        snprintf(reason, reason_len, "the body is not a JSON object");
    } else {
        rc = envelope_fields(obj, env, reason, reason_len);
    }
    json_object_put(obj);
    if (rc < 0)
        sync_envelope_free(env);
    return rc;
}

void sync_envelope_free(struct sync_envelope *env)
{
    free(env->config);
    memset(env, 0, sizeof(*env));
}

static size_t base64_size(size_t len)
{
    return (len + 2) / 3 * 4 + 1;
}

char *sync_envelope_format(const uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE], uint64_t version,
                           const uint8_t signature[ENVELOPE_SIGNATURE_SIZE], const char *config,
                           size_t config_len, size_t *out_len)
{
    uint8_t hash[ENVELOPE_HASH_SIZE];
    char hex[2 * ENVELOPE_HASH_SIZE + 1], signer_text[ENVELOPE_PUBLIC_KEY_TEXT],
        signature_text[ENVELOPE_SIGNATURE_TEXT];
    envelope_config_hash(config, config_len, hash);
    sync_hash_hex(hash, hex);
    envelope_public_key_text(signer, signer_text);
    if (envelope_base64_encode(signature, ENVELOPE_SIGNATURE_SIZE, signature_text,
                               sizeof(signature_text)) < 0)
        return NULL;
    /* Every value is digits, hex or base64: nothing to escape. */
    char head[512];
    int head_len = snprintf(head, sizeof(head),
                            "{\"version\":%" PRIu64 ",\"hash\":\"%s\",\"signer\":\"%s\","
                            "\"signature\":\"%s\",\"config\":\"",
                            version, hex, signer_text, signature_text);
    if (head_len < 0 || (size_t)head_len >= sizeof(head))
        return NULL;
    size_t config_text = base64_size(config_len);
    size_t total = (size_t)head_len + config_text + 3;
    char *out = malloc(total);
    if (out == NULL)
        return NULL;
    memcpy(out, head, (size_t)head_len);
    if (envelope_base64_encode((const uint8_t *)config, config_len, out + head_len, config_text) <
        0) {
        free(out);
        return NULL;
    }
    size_t used = (size_t)head_len + strlen(out + head_len);
    memcpy(out + used, "\"}", 3);
    *out_len = used + 2;
    return out;
}

long sync_member_find(const struct config_server *server,
                      const uint8_t key[ENVELOPE_PUBLIC_KEY_SIZE])
{
    for (size_t i = 0; i < server->peer_count; i++) {
        if (server->peer_has_key != NULL && server->peer_has_key[i] &&
            sodium_memcmp(server->peer_keys[i], key, ENVELOPE_PUBLIC_KEY_SIZE) == 0)
            return (long)i;
    }
    return -1;
}

bool sync_envelope_authentic(const struct config_server *server, const struct sync_envelope *env,
                             char *reason, size_t reason_len)
{
    if (sync_member_find(server, env->signer) < 0) {
        char text[ENVELOPE_PUBLIC_KEY_TEXT];
        envelope_public_key_text(env->signer, text);
        snprintf(reason, reason_len, "the signer %s is not a peer listed with its key", text);
        return false;
    }
    uint8_t hash[ENVELOPE_HASH_SIZE];
    envelope_config_hash(env->config, env->config_len, hash);
    if (sodium_memcmp(hash, env->hash, sizeof(hash)) != 0) {
        snprintf(reason, reason_len, "the hash is not the SHA-256 of the config");
        return false;
    }
    if (!envelope_verify_config(env->signer, env->version, env->config, env->config_len,
                                env->signature)) {
        snprintf(reason, reason_len, "the signature does not verify");
        return false;
    }
    return true;
}

enum sync_status sync_compare(uint64_t our_version, const uint8_t our_hash[ENVELOPE_HASH_SIZE],
                              uint64_t their_version, const uint8_t their_hash[ENVELOPE_HASH_SIZE])
{
    if (their_version < our_version)
        return SYNC_REJECTED_STALE;
    if (their_version > our_version)
        return SYNC_APPLY;
    if (memcmp(their_hash, our_hash, ENVELOPE_HASH_SIZE) == 0)
        return SYNC_ALREADY_CURRENT;
    /* Two edits made the same version: every node keeps the same one. */
    return envelope_hash_wins(their_hash, our_hash) ? SYNC_APPLY : SYNC_REJECTED_CONFLICT;
}

enum sync_status sync_judge(const struct config_server *server, uint64_t our_version,
                            const uint8_t our_hash[ENVELOPE_HASH_SIZE], const char *body,
                            size_t len, struct sync_envelope *env, char *reason, size_t reason_len)
{
    reason[0] = '\0';
    if (sync_envelope_parse(body, len, env, reason, reason_len) < 0)
        return SYNC_BAD_REQUEST;
    if (!sync_envelope_authentic(server, env, reason, reason_len))
        return SYNC_UNAUTHORIZED;
    return sync_compare(our_version, our_hash, env->version, env->hash);
}

int sync_request_check(const struct config_server *server, const char *signer, const char *time,
                       const char *signature, uint64_t now, const char *method, const char *path,
                       char *reason, size_t reason_len)
{
    uint8_t key[ENVELOPE_PUBLIC_KEY_SIZE];
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE + 3];
    if (signer == NULL || time == NULL || signature == NULL) {
        snprintf(reason, reason_len,
                 "a signed request needs X-NanoDNS-Signer, X-NanoDNS-Time and "
                 "X-NanoDNS-Signature");
        return -1;
    }
    if (envelope_public_key_parse(signer, key) < 0) {
        snprintf(reason, reason_len, "X-NanoDNS-Signer is not the base64 of a public key");
        return -1;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long when = strtoull(time, &end, 10);
    if (time[0] < '0' || time[0] > '9' || errno != 0 || end == time || *end != '\0') {
        snprintf(reason, reason_len, "X-NanoDNS-Time is not unix seconds");
        return -1;
    }
    if (envelope_base64_decode(signature, sig, sizeof(sig)) != ENVELOPE_SIGNATURE_SIZE) {
        snprintf(reason, reason_len, "X-NanoDNS-Signature is not the base64 of a signature");
        return -1;
    }
    if (sync_member_find(server, key) < 0) {
        snprintf(reason, reason_len, "the signer %s is not a peer listed with its key", signer);
        return -1;
    }
    if (!envelope_verify_request(key, (uint64_t)when, now, method, path, sig)) {
        uint64_t skew = when > now ? when - now : now - when;
        if (skew > ENVELOPE_REQUEST_WINDOW_S)
            snprintf(reason, reason_len,
                     "X-NanoDNS-Time is %" PRIu64 " s from ours (at most %d s allowed)", skew,
                     ENVELOPE_REQUEST_WINDOW_S);
        else
            snprintf(reason, reason_len, "the signature does not verify");
        return -1;
    }
    return 0;
}

/* ---- the running sync ---------------------------------------------------- */

/* What we know of one peer, kept across reloads by address. */
struct peer_state {
    char *address;
    unsigned failures; /* in a row */
    time_t retry_at;   /* monotonic seconds: not pulled from before */
    time_t last_sync;  /* unix time of the last good exchange, 0 when none */
};

struct push_round;
struct pull;

struct sync {
    struct node *node;
    struct peer_client *client;
    struct event *pull_timer;
    struct peer_state *peers;
    size_t peer_count;
    struct push_round *rounds; /* under way */
    struct pull *pull;         /* under way, or NULL */
};

struct push_target {
    struct push_round *round;
    char *address;
    struct peer_request *request; /* NULL once answered */
    struct json_object *result;
};

struct push_waiter {
    struct push_waiter *next;
    sync_push_done_cb done;
    void *arg;
};

struct push_round {
    struct sync *sync;
    struct push_round *next;
    uint64_t version;
    size_t count, pending;
    struct push_waiter *waiters;
    struct push_target targets[];
};

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

/* The table follows server.peers (a reload or a peer's config may change
 * it), keeping what it knew of the addresses that stay. */
static void peers_follow(struct sync *sync)
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
    peers_follow(sync);
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

static void peer_succeeded(struct sync *sync, const char *address)
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

/* A pull from address failed (it did not answer) or was refused (what it
 * answered does not hold): skip it 30 s x 2^k (k failures before), at most
 * 5 min. */
static void peer_failed(struct sync *sync, const char *address, bool refused, const char *what)
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

/* Whether to pull from the peer now (a second early is on time: timers
 * are not exact). */
static bool peer_due(const struct peer_state *st)
{
    return st->failures == 0 || monotonic_now() + 1 >= st->retry_at;
}

/* The listed address of signer, for the log; "an unknown signer" else. */
static const char *signer_address(const struct config_server *server,
                                  const uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE])
{
    long i = sync_member_find(server, signer);
    return i >= 0 ? server->peers[i] : "an unknown signer";
}

static void pull_soon(struct sync *sync);

/* ---- POST /sync ---- */

static struct json_object *answer_status(const char *status)
{
    struct json_object *body = json_object_new_object();
    if (body != NULL)
        json_object_object_add(body, "status", json_object_new_string(status));
    return body;
}

int sync_receive(struct sync *sync, const char *body, size_t len, const char *remote,
                 struct json_object **answer)
{
    struct node *node = sync->node;
    const struct config_server *server = &node->config.server;
    struct sync_envelope env;
    char reason[256];
    enum sync_status status = sync_judge(server, node->version, node->config_hash, body, len, &env,
                                         reason, sizeof(reason));
    struct json_object *out = answer_status(sync_status_name(status));
    int code = HTTP_OK;
    char from[300];
    if (status != SYNC_BAD_REQUEST)
        snprintf(from, sizeof(from), "%s (%s)", signer_address(server, env.signer), remote);
    switch (status) {
    case SYNC_BAD_REQUEST:
    case SYNC_UNAUTHORIZED:
        code = status == SYNC_BAD_REQUEST ? HTTP_BAD_REQUEST : HTTP_UNAUTHORIZED;
        log_warning("sync: push from %s refused: %s", remote, reason);
        if (out != NULL)
            json_object_object_add(out, "reason", json_object_new_string(reason));
        break;
    case SYNC_REJECTED_STALE:
        code = HTTP_CONFLICT;
        log_warning("sync: push of version %" PRIu64 " from %s refused: we have version %" PRIu64,
                    env.version, from, node->version);
        if (out != NULL)
            json_object_object_add(out, "version", json_object_new_uint64(node->version));
        break;
    case SYNC_ALREADY_CURRENT:
        log_debug("sync: push of version %" PRIu64 " from %s: already current", env.version, from);
        peer_succeeded(sync, signer_address(server, env.signer));
        if (out != NULL)
            json_object_object_add(out, "version", json_object_new_uint64(env.version));
        break;
    case SYNC_REJECTED_CONFLICT: {
        char hex[2 * ENVELOPE_HASH_SIZE + 1];
        sync_hash_hex(node->config_hash, hex);
        code = HTTP_CONFLICT;
        log_warning("sync: push of version %" PRIu64 " from %s refused: our config of the same "
                    "version wins",
                    env.version, from);
        if (out != NULL) {
            json_object_object_add(out, "version", json_object_new_uint64(env.version));
            json_object_object_add(out, "hash", json_object_new_string(hex));
        }
        break;
    }
    case SYNC_APPLY: {
        char address[256];
        snprintf(address, sizeof(address), "%s", signer_address(server, env.signer));
        struct node_reload_result result;
        int rc = node_apply_remote(node, env.config, env.config_len, env.version, &result);
        if (rc == 0) {
            log_info("applied version %" PRIu64 " from %s (push)", env.version, address);
            peer_succeeded(sync, address);
            if (out != NULL)
                json_object_object_add(out, "version", json_object_new_uint64(env.version));
        } else {
            code = rc == -1 ? HTTP_UNPROCESSABLE : HTTP_INTERNAL;
            log_warning("sync: push of version %" PRIu64 " from %s refused: %s", env.version, from,
                        rc == -1 ? "it does not validate" : "it cannot be published");
            json_object_put(out);
            out = answer_status(rc == -1 ? "invalid" : "error");
            struct json_object *errors = json_object_new_array();
            for (size_t i = 0; errors != NULL && i < result.error_count; i++)
                json_object_array_add(errors, json_object_new_string(result.errors[i]));
            if (out != NULL && errors != NULL)
                json_object_object_add(out, "errors", errors);
            else
                json_object_put(errors);
        }
        node_reload_result_free(&result);
        break;
    }
    }
    if (status != SYNC_BAD_REQUEST)
        sync_envelope_free(&env);
    *answer = out;
    return code;
}

/* ---- push ---- */

static void round_free(struct push_round *round)
{
    struct sync *sync = round->sync;
    for (struct push_round **p = &sync->rounds; *p != NULL; p = &(*p)->next) {
        if (*p == round) {
            *p = round->next;
            break;
        }
    }
    for (size_t i = 0; i < round->count; i++) {
        peer_request_free(round->targets[i].request);
        free(round->targets[i].address);
        json_object_put(round->targets[i].result);
    }
    while (round->waiters != NULL) {
        struct push_waiter *w = round->waiters;
        round->waiters = w->next;
        free(w);
    }
    free(round);
}

/* Every peer has answered or timed out: tell whoever waits, then go. */
static void round_finish(struct push_round *round)
{
    struct json_object *peers = json_object_new_object();
    for (size_t i = 0; peers != NULL && i < round->count; i++) {
        struct push_target *t = &round->targets[i];
        if (t->address != NULL) /* NULL: out of memory before it was asked */
            json_object_object_add(peers, t->address, json_object_get(t->result));
    }
    while (round->waiters != NULL) {
        struct push_waiter *w = round->waiters;
        round->waiters = w->next;
        w->done(w->arg, json_object_get(peers));
        free(w);
    }
    json_object_put(peers);
    round_free(round);
}

/* The peer's answer to a push, as /reload reports it, and in the log. */
static struct json_object *push_result(struct sync *sync, uint64_t version, const char *address,
                                       const struct peer_answer *answer, bool *ahead)
{
    struct json_object *result = json_object_new_object();
    *ahead = false;
    if (result == NULL)
        return NULL;
    if (!answer->answered) {
        json_object_object_add(result, "status", json_object_new_string("unreachable"));
        json_object_object_add(result, "error", json_object_new_string(answer->error));
        log_warning("sync: push of version %" PRIu64 " to %s failed: %s", version, address,
                    answer->error);
        return result;
    }
    struct json_object *parsed = json_tokener_parse(answer->body);
    struct json_object *status = NULL, *their_version = NULL, *reason = NULL, *errors = NULL;
    if (parsed != NULL && json_object_is_type(parsed, json_type_object)) {
        json_object_object_get_ex(parsed, "status", &status);
        json_object_object_get_ex(parsed, "version", &their_version);
        json_object_object_get_ex(parsed, "reason", &reason);
        json_object_object_get_ex(parsed, "errors", &errors);
    }
    const char *name = status != NULL && json_object_is_type(status, json_type_string)
                           ? json_object_get_string(status)
                           : "invalid answer";
    json_object_object_add(result, "status", json_object_new_string(name));
    if (their_version != NULL && json_object_is_type(their_version, json_type_int))
        json_object_object_add(result, "version", json_object_get(their_version));
    if (answer->code != HTTP_OK)
        json_object_object_add(result, "http_status", json_object_new_int(answer->code));
    if (reason != NULL && json_object_is_type(reason, json_type_string))
        json_object_object_add(result, "reason", json_object_get(reason));
    if (errors != NULL && json_object_is_type(errors, json_type_array))
        json_object_object_add(result, "errors", json_object_get(errors));

    if (answer->code == HTTP_OK) {
        log_info("sync: pushed version %" PRIu64 " to %s: %s", version, address, name);
        peer_succeeded(sync, address);
    } else {
        const char *why = reason != NULL && json_object_is_type(reason, json_type_string)
                              ? json_object_get_string(reason)
                              : NULL;
        log_warning("sync: push of version %" PRIu64 " to %s refused: HTTP %d %s%s%s", version,
                    address, answer->code, name, why ? ": " : "", why ? why : "");
        /* It has a newer config, or ours lost a tie: take it now rather
         * than at the next pull. */
        *ahead = answer->code == HTTP_CONFLICT;
    }
    json_object_put(parsed);
    return result;
}

static void on_push_answer(struct peer_request *request, void *arg)
{
    struct push_target *t = arg;
    struct push_round *round = t->round;
    bool ahead;
    t->result =
        push_result(round->sync, round->version, t->address, peer_request_answer(request), &ahead);
    peer_request_free(request);
    t->request = NULL;
    if (ahead)
        pull_soon(round->sync);
    if (--round->pending == 0)
        round_finish(round);
}

/* node->on_reloaded: a local reload put a new config in force. */
static void on_reloaded(void *arg)
{
    struct sync *sync = arg;
    struct node *node = sync->node;
    if (!node->has_key)
        return; /* nothing to sign with: said when the key was read */
    peers_follow(sync);
    const struct config_server *server = &node->config.server;
    size_t count = 0;
    for (size_t i = 0; i < server->peer_count; i++)
        count += (long)i != node->self_peer;
    if (count == 0)
        return;
    size_t body_len = 0;
    char *body = sync_envelope_format(node->key.public_key, node->version, node->config_signature,
                                      node->config_text, node->config_len, &body_len);
    struct push_round *round = calloc(1, sizeof(*round) + count * sizeof(round->targets[0]));
    if (body == NULL || round == NULL) {
        log_error("sync: out of memory: version %" PRIu64 " is not pushed", node->version);
        free(body);
        free(round);
        return;
    }
    round->sync = sync;
    round->version = node->version;
    round->next = sync->rounds;
    sync->rounds = round;
    for (size_t i = 0; i < server->peer_count; i++) {
        if ((long)i == node->self_peer)
            continue;
        struct push_target *t = &round->targets[round->count++];
        t->round = round;
        t->address = strdup(server->peers[i]);
        round->pending++;
    }
    log_info("sync: pushing version %" PRIu64 " to %zu peer%s", round->version, count,
             count == 1 ? "" : "s");
    /* Every answer comes later, from the loop: the round is complete here. */
    for (size_t i = 0; i < round->count; i++) {
        struct push_target *t = &round->targets[i];
        if (t->address != NULL)
            t->request =
                peer_request_start(sync->client, t->address, EVHTTP_REQ_POST, "/sync", body,
                                   body_len, SYNC_ANSWER_MAX_SIZE, on_push_answer, t);
        if (t->request == NULL) {
            /* No request, no callback: count it out here, finishing last. */
            t->result = answer_status("error");
            round->pending--;
        }
    }
    free(body);
    if (round->pending == 0) {
        /* Nothing went out at all. Nobody can wait yet: sync_push_wait
         * comes after this returns. */
        round_free(round);
    }
}

int sync_push_wait(struct sync *sync, uint64_t version, sync_push_done_cb done, void *arg)
{
    for (struct push_round *round = sync->rounds; round != NULL; round = round->next) {
        if (round->version != version)
            continue;
        struct push_waiter *w = calloc(1, sizeof(*w));
        if (w == NULL)
            return -1;
        w->done = done;
        w->arg = arg;
        w->next = round->waiters;
        round->waiters = w;
        return 0;
    }
    return -1;
}

void sync_push_unwait(struct sync *sync, void *arg)
{
    for (struct push_round *round = sync->rounds; round != NULL; round = round->next) {
        for (struct push_waiter **p = &round->waiters; *p != NULL;) {
            if ((*p)->arg == arg) {
                struct push_waiter *w = *p;
                *p = w->next;
                free(w);
            } else {
                p = &(*p)->next;
            }
        }
    }
}

/* ---- pull ---- */

static void pull_free(struct pull *pull)
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
    if (answer->code != HTTP_OK) {
        snprintf(reason, reason_len, "GET /config/raw: HTTP %d", answer->code);
        return -1;
    }
    const char *version_text, *hash_text, *signer_text, *signature_text;
    if ((version_text = fetch_header(request, "X-NanoDNS-Version", reason, reason_len)) == NULL ||
        (hash_text = fetch_header(request, "X-NanoDNS-Hash", reason, reason_len)) == NULL ||
        (signer_text = fetch_header(request, "X-NanoDNS-Signer", reason, reason_len)) == NULL ||
        (signature_text = fetch_header(request, "X-NanoDNS-Signature", reason, reason_len)) == NULL)
        return -1;

    const struct config_server *server = &sync->node->config.server;
    long listed = -1;
    for (size_t i = 0; i < server->peer_count; i++) {
        if (strcmp(server->peers[i], address) == 0 && server->peer_has_key != NULL &&
            server->peer_has_key[i]) {
            listed = (long)i;
            break;
        }
    }
    uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE];
    if (listed < 0) {
        snprintf(reason, reason_len, "it is no longer listed with a key");
        return -1;
    }
    if (envelope_public_key_parse(signer_text, signer) < 0 ||
        sodium_memcmp(signer, server->peer_keys[listed], sizeof(signer)) != 0) {
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
        peer_failed(sync, address, peer_request_answer(request)->answered, reason);
        pull_free(pull);
        return;
    }
    /* Ours may have moved on since its /health answered. */
    enum sync_status status = sync_compare(node->version, node->config_hash, version, hash);
    if (status != SYNC_APPLY) {
        log_debug("sync: %s's version %" PRIu64 " is no longer ahead of ours (%s)", address,
                  version, sync_status_name(status));
        peer_succeeded(sync, address);
        pull_free(pull);
        return;
    }
    const struct peer_answer *answer = peer_request_answer(request);
    struct node_reload_result result;
    int rc = node_apply_remote(node, answer->body, answer->body_len, version, &result);
    if (rc == 0) {
        log_info("applied version %" PRIu64 " from %s (pull)", version, address);
        peer_succeeded(sync, address);
    } else {
        snprintf(reason, sizeof(reason), "its version %" PRIu64 " %s%s%s", version,
                 rc == -1 ? "does not validate" : "cannot be published",
                 result.error_count > 0 ? ": " : "",
                 result.error_count > 0 ? result.errors[0] : "");
        peer_failed(sync, address, true, reason);
    }
    node_reload_result_free(&result);
    pull_free(pull);
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
            sync_compare(node->version, node->config_hash, p->version, p->hash) != SYNC_APPLY)
            continue;
        if (best == NULL ||
            sync_compare(best->version, best->hash, p->version, p->hash) == SYNC_APPLY)
            best = p;
    }
    if (best == NULL) {
        log_debug("sync: no peer is ahead of version %" PRIu64, node->version);
        pull_free(pull);
        return;
    }
    log_info("sync: %s is ahead (version %" PRIu64 "); fetching its config", best->address,
             best->version);
    pull->fetch_address = strdup(best->address);
    if (pull->fetch_address != NULL)
        pull->fetch = peer_request_start(sync->client, best->address, EVHTTP_REQ_GET, "/config/raw",
                                         NULL, 0, PULL_MAX_CONFIG_SIZE, on_pull_fetch, pull);
    if (pull->fetch == NULL) {
        log_error("sync: out of memory: no pull");
        pull_free(pull);
    }
}

/* A peer's /health: its version and hash. */
static int health_read(const struct peer_answer *answer, uint64_t *version,
                       uint8_t hash[ENVELOPE_HASH_SIZE], char *reason, size_t reason_len)
{
    if (!answer->answered) {
        snprintf(reason, reason_len, "GET /health: %s", answer->error);
        return -1;
    }
    struct json_object *health = json_tokener_parse(answer->body);
    struct json_object *v = NULL, *h = NULL;
    int rc = -1;
    if (health == NULL || !json_object_is_type(health, json_type_object) ||
        !json_object_object_get_ex(health, "version", &v) || v == NULL ||
        !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
        snprintf(reason, reason_len, "GET /health: HTTP %d without a version", answer->code);
    } else if (!json_object_object_get_ex(health, "hash", &h) || h == NULL ||
               !json_object_is_type(h, json_type_string) ||
               sync_hash_parse(json_object_get_string(h), hash) < 0) {
        snprintf(reason, reason_len, "GET /health: no config hash (a node without sync?)");
    } else {
        *version = (uint64_t)json_object_get_int64(v);
        rc = 0;
    }
    json_object_put(health);
    return rc;
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
        peer_failed(pull->sync, probe->address, peer_request_answer(request)->answered, reason);
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
    peers_follow(sync);
    if (sync->peer_count != server->peer_count || server->peer_has_key == NULL)
        return; /* out of memory following the list, or no peers at all */
    size_t count = 0;
    for (size_t i = 0; i < sync->peer_count; i++)
        count += server->peer_has_key[i] && (long)i != node->self_peer && peer_due(&sync->peers[i]);
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
        if (!server->peer_has_key[i] || (long)i == node->self_peer || !peer_due(&sync->peers[i]))
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
                                   HEALTH_MAX_SIZE, on_pull_health, probe);
        if (probe->request == NULL)
            pull->pending--; /* out of memory: that peer is left out this time */
    }
    if (pull->pending == 0) {
        log_error("sync: out of memory: no pull");
        pull_free(pull);
    }
}

static void pull_timer_set(struct sync *sync, long seconds)
{
    struct timeval when = {.tv_sec = seconds};
    if (event_add(sync->pull_timer, &when) != 0)
        log_error("sync: cannot set the pull timer");
}

static void on_pull_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sync *sync = arg;
    pull_timer_set(sync, PULL_INTERVAL_S);
    if (sync->pull != NULL) {
        log_debug("sync: the last pull is still under way");
        return;
    }
    pull_start(sync);
}

/* A peer says it is ahead: pull in a second rather than at the next turn
 * (the pull then runs every 30 s from there). */
static void pull_soon(struct sync *sync)
{
    if (sync->pull == NULL)
        pull_timer_set(sync, PULL_SOON_S);
}

struct sync *sync_start(struct node *node)
{
    struct sync *sync = calloc(1, sizeof(*sync));
    if (sync == NULL)
        return NULL;
    sync->node = node;
    sync->client = peer_client_new(node->base);
    sync->pull_timer = evtimer_new(node->base, on_pull_timer, sync);
    if (sync->client == NULL || sync->pull_timer == NULL) {
        sync_free(sync);
        return NULL;
    }
    peers_follow(sync);
    pull_timer_set(sync, PULL_FIRST_S);
    node->on_reloaded = on_reloaded;
    node->on_reloaded_arg = sync;
    node->sync = sync;
    return sync;
}

void sync_free(struct sync *sync)
{
    if (sync == NULL)
        return;
    if (sync->node != NULL && sync->node->sync == sync) {
        sync->node->sync = NULL;
        sync->node->on_reloaded = NULL;
        sync->node->on_reloaded_arg = NULL;
    }
    /* Whoever still waits is gone already (api_free lets go first). */
    while (sync->rounds != NULL)
        round_free(sync->rounds);
    if (sync->pull != NULL)
        pull_free(sync->pull);
    if (sync->pull_timer != NULL)
        event_free(sync->pull_timer);
    peer_client_free(sync->client);
    peer_states_free(sync->peers, sync->peer_count);
    free(sync);
}
