/* A peer's config put in force (see sync_apply in sync_internal.h): its
 * node-local settings replaced by ours (sync_local.c: a peer changes what
 * names answer, never who we trust or how we run), validated, written
 * over the operator's file, committed through the node. No version bump
 * and no push: the version is inside the signed bytes, and the peer
 * pushes its own. */
#include "sync_internal.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "config.h"
#include "log.h"
#include "node.h"

/* In the state directory: the operator's file as it was when a peer's
 * config replaced it while it held changes never reloaded. */
#define REPLACED_FILE_NAME "replaced-config.json"

/* Validate a peer's bytes into c, as they are. Findings go to errors. */
static int apply_prepare(struct node *node, const char *bytes, size_t len, uint64_t version,
                         struct node_candidate *c, struct message_list *errors)
{
    memset(c, 0, sizeof(*c));
    const char *name = node->config_path[0] != '\0' ? node->config_path : "(the peer's config)";
    struct config_diags diags;
    config_diags_init(&diags, name);
    if (config_load_buffer_at(bytes, len, node_file_path(node), &c->cfg, &diags) < 0) {
        message_list_add_diags(errors, &diags);
        config_diags_free(&diags);
        return -1;
    }
    config_diags_free(&diags);
    /* The version is inside the bytes, and it is the one the signature
     * covers: a config that says otherwise would be served under another. */
    if (c->cfg.server.config_version != version) {
        message_list_addf(errors,
                          "%s: server.config_version is %" PRIu64 " but the config was sent as "
                          "version %" PRIu64,
                          name, c->cfg.server.config_version, version);
        node_candidate_free(c);
        return -1;
    }
    c->text = malloc(len + 1);
    if (c->text == NULL) {
        message_list_add(errors, "out of memory");
        node_candidate_free(c);
        return -1;
    }
    memcpy(c->text, bytes, len);
    c->text[len] = '\0';
    c->len = len;
    return node_candidate_compile(node, c, name, errors);
}

/* The operator's file holds something other than the config in force (an
 * edit not reloaded yet, a half-written file): keep it in the state
 * directory and say so loudly. The cluster's config wins, but nobody's
 * work disappears without a trace. */
static void apply_keep_aside(struct node *node, const char *text, size_t len)
{
    char *current = NULL;
    size_t current_len = 0;
    char err[1024];
    if (atomic_file_read(node->config_path, &current, &current_len, err, sizeof(err)) < 0)
        return;
    /* The config in force counts only when it is the one accepted at its
     * version: after a start below the version floor (or on a file edited
     * without a reload) the file is served but was never accepted, and a
     * peer's config replacing it keeps it aside as any unloaded edit. */
    bool in_force = current_len == node->config_len &&
                    memcmp(current, node->config_text, current_len) == 0 &&
                    version_floor_is(&node->floor, node->version, node->config_hash);
    bool same = current_len == len && memcmp(current, text, len) == 0;
    if (!in_force && !same) {
        char aside[PATH_MAX];
        int n = snprintf(aside, sizeof(aside), "%s/%s", node->state_dir, REPLACED_FILE_NAME);
        if (n >= 0 && (size_t)n < sizeof(aside) &&
            atomic_file_write(aside, current, current_len, NODE_PRIVATE_FILE_MODE, err,
                              sizeof(err)) == 0)
            log_warning("%s held changes that were never loaded; a peer's config replaces "
                        "them (the replaced text is kept in %s)",
                        node->config_path, aside);
        else
            log_warning("%s held changes that were never loaded; a peer's config replaces "
                        "them (and they could not be kept aside)",
                        node->config_path);
    }
    free(current);
}

/* The operator's file gets the peer's bytes (hash: their SHA-256). */
static void apply_write_file(struct node *node, const char *text, size_t len, const uint8_t *hash)
{
    apply_keep_aside(node, text, len);
    char err[1024];
    if (node_file_write(node, text, len, hash, err, sizeof(err)) == 0) {
        node_failure_clear(node);
    } else {
        /* Served all the same, from memory and the state directory; the
         * pull catches up again after a restart on the old file. */
        log_warning("cannot write the peer's config to %s: %s", node->config_path, err);
    }
}

int sync_apply(struct node *node, const char *bytes, size_t len, uint64_t version,
               struct node_reload_result *out)
{
    memset(out, 0, sizeof(*out));
    struct message_list m = {0};
    struct node_candidate c;
    int rc = 0;
    char *kept = NULL;
    size_t kept_len = 0;
    if (node->config_text != NULL &&
        sync_local_keep(bytes, len, node->config_text, node->config_len, &kept, &kept_len) < 0) {
        message_list_add(&m, "this node's own settings (peers, keys, addresses, access, "
                             "logging) cannot be kept in the peer's config: it is not a JSON "
                             "object with a \"server\" object, or memory ran out");
        rc = -1;
    } else if (kept != NULL) {
        bytes = kept;
        len = kept_len;
    }
    if (rc < 0) {
        /* refused above */
    } else if (apply_prepare(node, bytes, len, version, &c, &m) < 0) {
        rc = -1;
    } else {
        node_notify_reloading(node);
        if (node->config_path[0] != '\0')
            apply_write_file(node, c.text, c.len, c.hash);
        else
            node->config_invalid = false;
        if (node_commit(node, &c, &m) < 0)
            rc = -2;
        node_notify_ready(node);
    }
    free(kept);
    if (rc < 0)
        for (size_t i = 0; i < m.count; i++)
            log_warning("sync: %s", m.items[i]);
    out->ok = rc == 0;
    out->version = node->version;
    out->records = node->config.record_count;
    out->errors = m.items;
    out->error_count = m.count;
    return rc;
}
