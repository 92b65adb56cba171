/* Signed config sync, the decisions (see sync.h): a POST /sync body read
 * and judged, a signed request checked. Pure functions over caller-owned
 * buffers, unit-tested in tests/unit/test_sync.c; the running sync (push,
 * pull, the answer to a push) is in sync_run.c and the files it names. */
#include "sync.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"

const char *sync_status_name(enum sync_status status)
{
    switch (status) {
    case SYNC_BAD_REQUEST:
        return "bad_request";
    case SYNC_UNAUTHORIZED:
        return "unauthorized";
    case SYNC_REJECTED_STALE:
        return "rejected_stale";
    case SYNC_REJECTED_TOO_FAR:
        return "rejected_too_far";
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
    if (their_version - our_version > SYNC_VERSION_STEP_MAX)
        return SYNC_REJECTED_TOO_FAR;
    if (their_version > our_version)
        return SYNC_APPLY;
    if (memcmp(their_hash, our_hash, ENVELOPE_HASH_SIZE) == 0)
        return SYNC_ALREADY_CURRENT;
    /* Two edits made the same version: every node keeps the same one. */
    return envelope_hash_wins(their_hash, our_hash) ? SYNC_APPLY : SYNC_REJECTED_CONFLICT;
}

enum sync_status sync_compare_floor(uint64_t floor_version,
                                    const uint8_t floor_hash[ENVELOPE_HASH_SIZE],
                                    const uint8_t serving[ENVELOPE_HASH_SIZE],
                                    uint64_t their_version,
                                    const uint8_t their_hash[ENVELOPE_HASH_SIZE])
{
    if (their_version != floor_version || memcmp(serving, floor_hash, ENVELOPE_HASH_SIZE) == 0)
        return sync_compare(floor_version, floor_hash, their_version, their_hash);
    return memcmp(their_hash, floor_hash, ENVELOPE_HASH_SIZE) == 0 ? SYNC_APPLY
                                                                   : SYNC_REJECTED_CONFLICT;
}

enum sync_status sync_judge(const struct config_server *server, uint64_t our_version,
                            const uint8_t our_hash[ENVELOPE_HASH_SIZE],
                            const uint8_t serving[ENVELOPE_HASH_SIZE], const char *body, size_t len,
                            struct sync_envelope *env, char *reason, size_t reason_len)
{
    reason[0] = '\0';
    if (sync_envelope_parse(body, len, env, reason, reason_len) < 0)
        return SYNC_BAD_REQUEST;
    if (!sync_envelope_authentic(server, env, reason, reason_len))
        return SYNC_UNAUTHORIZED;
    return sync_compare_floor(our_version, our_hash, serving, env->version, env->hash);
}

void sync_request_sign(const struct envelope_key *key,
                       const uint8_t target[ENVELOPE_PUBLIC_KEY_SIZE], uint64_t now,
                       const char *method, const char *path, struct sync_request_headers *out)
{
    struct envelope_request request = {.time = now, .method = method, .path = path};
    envelope_nonce_generate(request.nonce);
    memcpy(request.target, target, ENVELOPE_PUBLIC_KEY_SIZE);
    uint8_t signature[ENVELOPE_SIGNATURE_SIZE];
    envelope_sign_request(key, &request, signature);
    envelope_public_key_text(key->public_key, out->signer);
    envelope_public_key_text(target, out->target);
    snprintf(out->time, sizeof(out->time), "%" PRIu64, now);
    envelope_base64_encode(request.nonce, sizeof(request.nonce), out->nonce, sizeof(out->nonce));
    envelope_base64_encode(signature, sizeof(signature), out->signature, sizeof(out->signature));
}

int sync_request_check(const struct config_server *server,
                       const uint8_t self[ENVELOPE_PUBLIC_KEY_SIZE],
                       const struct sync_request_text *in, uint64_t now, const char *method,
                       const char *path, struct sync_request_signed *out, char *reason,
                       size_t reason_len)
{
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE + 3];
    uint8_t nonce[ENVELOPE_NONCE_SIZE + 3];
    struct envelope_request request = {.method = method, .path = path};
    if (in->signer == NULL || in->time == NULL || in->nonce == NULL || in->target == NULL ||
        in->signature == NULL) {
        snprintf(reason, reason_len,
                 "a signed request needs X-NanoDNS-Signer, X-NanoDNS-Time, X-NanoDNS-Nonce, "
                 "X-NanoDNS-Target and X-NanoDNS-Signature");
        return -1;
    }
    if (envelope_public_key_parse(in->signer, out->signer) < 0) {
        snprintf(reason, reason_len, "X-NanoDNS-Signer is not the base64 of a public key");
        return -1;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long when = strtoull(in->time, &end, 10);
    if (in->time[0] < '0' || in->time[0] > '9' || errno != 0 || end == in->time || *end != '\0') {
        snprintf(reason, reason_len, "X-NanoDNS-Time is not unix seconds");
        return -1;
    }
    request.time = (uint64_t)when;
    if (envelope_base64_decode(in->nonce, nonce, sizeof(nonce)) != ENVELOPE_NONCE_SIZE) {
        snprintf(reason, reason_len, "X-NanoDNS-Nonce is not the base64 of %d octets",
                 ENVELOPE_NONCE_SIZE);
        return -1;
    }
    memcpy(request.nonce, nonce, ENVELOPE_NONCE_SIZE);
    if (envelope_public_key_parse(in->target, request.target) < 0) {
        snprintf(reason, reason_len, "X-NanoDNS-Target is not the base64 of a public key");
        return -1;
    }
    if (envelope_base64_decode(in->signature, sig, sizeof(sig)) != ENVELOPE_SIGNATURE_SIZE) {
        snprintf(reason, reason_len, "X-NanoDNS-Signature is not the base64 of a signature");
        return -1;
    }
    if (sync_member_find(server, out->signer) < 0) {
        snprintf(reason, reason_len, "the signer %s is not a peer listed with its key", in->signer);
        return -1;
    }
    if (self == NULL) {
        snprintf(reason, reason_len,
                 "this node has no key (server.sync_key), so no signed request is for it");
        return -1;
    }
    /* Before the signature: the cheaper question, and the clearer answer
     * for a request sent to the wrong node. */
    if (sodium_memcmp(request.target, self, ENVELOPE_PUBLIC_KEY_SIZE) != 0) {
        char ours[ENVELOPE_PUBLIC_KEY_TEXT];
        envelope_public_key_text(self, ours);
        snprintf(reason, reason_len, "the request is for the node with key %s, not this one (%s)",
                 in->target, ours);
        return -1;
    }
    if (!envelope_verify_request(out->signer, &request, now, sig)) {
        uint64_t skew = when > now ? when - now : now - when;
        if (skew > ENVELOPE_REQUEST_WINDOW_S)
            snprintf(reason, reason_len,
                     "X-NanoDNS-Time is %" PRIu64 " s from ours (at most %d s allowed)", skew,
                     ENVELOPE_REQUEST_WINDOW_S);
        else
            snprintf(reason, reason_len, "the signature does not verify");
        return -1;
    }
    out->time = request.time;
    memcpy(out->nonce, request.nonce, ENVELOPE_NONCE_SIZE);
    return 0;
}
