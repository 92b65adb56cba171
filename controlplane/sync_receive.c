/* POST /sync: a peer's push judged (sync.c) and answered; one that wins
 * is put in force (sync_apply.c). See sync.h. */
#include "sync_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "log.h"
#include "node.h"

/* A push that wins over ours: put it in force. The status code; *out
 * becomes the answer with the errors when it does not go in force. */
static int receive_apply(struct sync *sync, const struct sync_envelope *env, const char *from,
                         struct json_object **out)
{
    const struct config_server *server = &sync->node->config.server;
    char address[256];
    snprintf(address, sizeof(address), "%s", sync_signer_address(server, env->signer));
    struct node_reload_result result;
    int rc = sync_apply(sync->node, env->config, env->config_len, env->version, &result);
    int code = SYNC_HTTP_OK;
    if (rc == 0) {
        log_info("applied version %" PRIu64 " from %s (push)", env->version, address);
        sync_peer_succeeded(sync, address);
        sync_peer_shares(sync, address, env->hash);
        if (*out != NULL)
            json_object_object_add(*out, "version", json_object_new_uint64(env->version));
    } else {
        code = rc == -1 ? SYNC_HTTP_UNPROCESSABLE : SYNC_HTTP_INTERNAL;
        log_warning("sync: push of version %" PRIu64 " from %s refused: %s", env->version, from,
                    rc == -1 ? "it does not validate" : "it cannot be published");
        json_object_put(*out);
        *out = sync_answer_status(rc == -1 ? "invalid" : "error");
        struct json_object *errors = json_object_new_array();
        for (size_t i = 0; errors != NULL && i < result.error_count; i++)
            json_object_array_add(errors, json_object_new_string(result.errors[i]));
        if (*out != NULL && errors != NULL)
            json_object_object_add(*out, "errors", errors);
        else
            json_object_put(errors);
    }
    node_reload_result_free(&result);
    return code;
}

int sync_receive(struct sync *sync, const char *body, size_t len, const char *remote,
                 struct json_object **answer)
{
    struct node *node = sync->node;
    const struct config_server *server = &node->config.server;
    struct sync_envelope env;
    char reason[256];
    /* Judged against the highest version accepted (kept across restarts),
     * not only the one served: see struct node's floor. */
    const struct version_floor *floor = &node->floor;
    enum sync_status status = sync_judge(server, floor->version, floor->hash, node->config_hash,
                                         body, len, &env, reason, sizeof(reason));
    /* Our copy of the same version carries our own node-local settings,
     * so its bytes differ from the sender's: what they share decides. */
    if ((status == SYNC_APPLY || status == SYNC_REJECTED_CONFLICT) &&
        env.version == node->version && env.version == floor->version &&
        sync_same_shared(env.config, env.config_len, node->config_text, node->config_len)) {
        status = SYNC_ALREADY_CURRENT;
        sync_peer_shares(sync, sync_signer_address(server, env.signer), env.hash);
    }
    struct json_object *out = sync_answer_status(sync_status_name(status));
    int code = SYNC_HTTP_OK;
    char from[300];
    if (status != SYNC_BAD_REQUEST)
        snprintf(from, sizeof(from), "%s (%s)", sync_signer_address(server, env.signer), remote);
    if (status != SYNC_BAD_REQUEST && status != SYNC_UNAUTHORIZED)
        sync_peer_local_seen(sync, sync_signer_address(server, env.signer), env.config,
                             env.config_len);
    switch (status) {
    case SYNC_BAD_REQUEST:
    case SYNC_UNAUTHORIZED:
        code = status == SYNC_BAD_REQUEST ? SYNC_HTTP_BAD_REQUEST : SYNC_HTTP_UNAUTHORIZED;
        log_warning("sync: push from %s refused: %s", remote, reason);
        if (out != NULL)
            json_object_object_add(out, "reason", json_object_new_string(reason));
        break;
    case SYNC_REJECTED_STALE:
    case SYNC_REJECTED_TOO_FAR:
        code = SYNC_HTTP_CONFLICT;
        log_warning("sync: push of version %" PRIu64 " from %s refused: we have version %" PRIu64
                    "%s",
                    env.version, from, floor->version,
                    status == SYNC_REJECTED_TOO_FAR ? ", and no step may be larger than 2^20" : "");
        if (out != NULL)
            json_object_object_add(out, "version", json_object_new_uint64(floor->version));
        break;
    case SYNC_ALREADY_CURRENT:
        log_debug("sync: push of version %" PRIu64 " from %s: already current", env.version, from);
        sync_peer_succeeded(sync, sync_signer_address(server, env.signer));
        if (out != NULL)
            json_object_object_add(out, "version", json_object_new_uint64(env.version));
        break;
    case SYNC_REJECTED_CONFLICT: {
        char hex[2 * ENVELOPE_HASH_SIZE + 1];
        sync_hash_hex(floor->hash, hex);
        code = SYNC_HTTP_CONFLICT;
        if (memcmp(node->config_hash, floor->hash, ENVELOPE_HASH_SIZE) == 0)
            log_warning("sync: push of version %" PRIu64 " from %s refused: our config of the "
                        "same version wins",
                        env.version, from);
        else
            log_warning("sync: push of version %" PRIu64 " from %s refused: it is not the config "
                        "this node accepted at that version",
                        env.version, from);
        if (out != NULL) {
            json_object_object_add(out, "version", json_object_new_uint64(env.version));
            json_object_object_add(out, "hash", json_object_new_string(hex));
        }
        break;
    }
    case SYNC_APPLY:
        code = receive_apply(sync, &env, from, &out);
        break;
    }
    if (status != SYNC_BAD_REQUEST)
        sync_envelope_free(&env);
    *answer = out;
    return code;
}
