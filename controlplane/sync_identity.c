/* This node's identity in the cluster sync (see sync_identity.h). */
#include "sync_identity.h"

#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hostport.h"
#include "log.h"
#include "sync.h"

void sync_identity_init(struct sync_identity *identity)
{
    memset(identity, 0, sizeof(*identity));
    identity->self_peer = -1;
}

void sync_identity_free(struct sync_identity *identity)
{
    sodium_memzero(&identity->key, sizeof(identity->key));
    free(identity->key_error);
    identity->key_error = NULL;
    identity->has_key = false;
    identity->self_peer = -1;
}

/* Why the key cannot be used (NULL: it can), said once per new reason. */
static void key_error_set(struct sync_identity *identity, const char *text)
{
    if (text == NULL || (identity->key_error != NULL && strcmp(identity->key_error, text) == 0)) {
        if (text == NULL) {
            free(identity->key_error);
            identity->key_error = NULL;
        }
        return;
    }
    log_error("sync: %s; this node signs nothing and pushes nothing", text);
    free(identity->key_error);
    identity->key_error = strdup(text);
}

static void key_drop(struct sync_identity *identity, const char *why)
{
    identity->has_key = false;
    sodium_memzero(&identity->key, sizeof(identity->key));
    key_error_set(identity, why);
}

/* Which peer this node is, said when its key is new. */
static void self_find(struct sync_identity *identity, const struct config_server *server,
                      bool key_changed)
{
    identity->self_peer = sync_member_find(server, identity->key.public_key);
    if (!key_changed)
        return;
    char public_text[ENVELOPE_PUBLIC_KEY_TEXT];
    envelope_public_key_text(identity->key.public_key, public_text);
    if (identity->self_peer >= 0)
        log_info("sync: this node is %s (public key %s)", server->peers[identity->self_peer],
                 public_text);
    else
        log_warning("sync: this node's public key %s is not in server.peers; every peer "
                    "listed is pushed to",
                    public_text);
}

void sync_identity_refresh(struct sync_identity *identity, const struct config_server *server,
                           uint64_t version, const char *config, size_t config_len)
{
    identity->self_peer = -1;
    if (server->sync_key == NULL) {
        if (identity->has_key)
            log_warning("sync: server.sync_key is gone: this node signs nothing and pushes "
                        "nothing");
        key_drop(identity, NULL);
        return;
    }
    /* A relative path is taken against the operator's file's folder by
     * config_load_buffer_at. */
    char err[PATH_MAX + 256], text[PATH_MAX + 512];
    struct envelope_key key;
    if (envelope_key_read(server->sync_key, &key, err, sizeof(err)) < 0) {
        snprintf(text, sizeof(text), "server.sync_key: %s", err);
        key_drop(identity, text);
        return;
    }
    bool changed = !identity->has_key ||
                   memcmp(identity->key.public_key, key.public_key, sizeof(key.public_key)) != 0;
    identity->key = key;
    sodium_memzero(&key, sizeof(key));
    identity->has_key = true;
    key_error_set(identity, NULL);
    self_find(identity, server, changed);
    envelope_sign_config(&identity->key, version, config, config_len, identity->config_signature);
}

void sync_identity_self_address(const struct sync_identity *identity,
                                const struct config_server *server, char *out, size_t out_len)
{
    if (identity != NULL && identity->self_peer >= 0 &&
        (size_t)identity->self_peer < server->peer_count) {
        snprintf(out, out_len, "%s", server->peers[identity->self_peer]);
        return;
    }
    const char *host = server->mgmt_host != NULL ? server->mgmt_host : "";
    hostport_format(host, server->mgmt_port, out, out_len);
}
