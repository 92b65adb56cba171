/* The config at start (see node_load_initial in node.h): the operator's
 * file; the state directory's last good config when the file is broken or
 * older; then the version floor (STATE/version) it is held to. */
#include "node.h"
#include "node_internal.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "log.h"
#include "version_floor.h"

/* The config last published into the state directory, if it is there
 * (with its image), ours, and still valid. */
static int saved_config_load(struct node *node, char **text, size_t *len, struct config *cfg)
{
    struct stat st;
    if (lstat(node->saved_config_path, &st) < 0)
        return -1;
    /* Only what we wrote: a file anyone else could have put there is no
     * config to serve (the state directory may be a shared /tmp one). */
    if (!S_ISREG(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0) ||
        (st.st_mode & 022) != 0) {
        log_error("%s is not a file only this user can write; not serving it",
                  node->saved_config_path);
        return -1;
    }
    if (access(node->image_path, F_OK) < 0)
        return -1;
    char err[512];
    if (atomic_file_read(node->saved_config_path, text, len, err, sizeof(err)) < 0) {
        log_error("cannot read %s", err);
        return -1;
    }
    struct config_diags diags;
    config_diags_init(&diags, node->saved_config_path);
    int rc = config_load_buffer_at(*text, *len, node_file_path(node), cfg, &diags);
    if (rc < 0) {
        log_error("%s does not validate either:", node->saved_config_path);
        config_diags_print(&diags, stderr);
    } else if (node_overrides_apply(cfg, &node->overrides) < 0) {
        log_error("out of memory");
        config_free(cfg);
        rc = -1;
    }
    config_diags_free(&diags);
    if (rc < 0) {
        free(*text);
        *text = NULL;
    }
    return rc;
}

/* The file (or the built-in defaults) into text and cfg: 0; -1 with the
 * findings in diags and a failure to read in *read_error; -2 out of memory
 * (logged). diags is initialised either way. */
static int initial_read(struct node *node, char **text, size_t *len, struct config *cfg,
                        struct config_diags *diags, char **read_error)
{
    if (node->config_path[0] == '\0') {
        /* The original runs on its defaults when no file is given. */
        config_diags_init(diags, "(built-in defaults)");
        *text = strdup("{}");
        if (*text == NULL) {
            log_error("out of memory");
            return -2;
        }
        *len = 2;
        return config_load_buffer_at(*text, *len, NULL, cfg, diags);
    }
    config_diags_init(diags, node->config_path);
    char err[512];
    if (atomic_file_read(node->config_path, text, len, err, sizeof(err)) < 0) {
        if (asprintf(read_error, "%s: cannot read: %s", node->config_path, err) < 0)
            *read_error = NULL;
        diags->errors++;
        return -1;
    }
    node_file_hash_set(node, *text, *len);
    return config_load_buffer_at(*text, *len, node_file_path(node), cfg, diags);
}

/* The file is broken: serve the state directory's last good config, with
 * the file's findings in last_error. -1 when there is none. */
static int initial_fall_back(struct node *node, const struct config_diags *diags,
                             const char *read_error)
{
    char *saved_text;
    size_t saved_len;
    struct config cfg;
    if (node->config_path[0] == '\0' || saved_config_load(node, &saved_text, &saved_len, &cfg) < 0)
        return -1;
    node_install(node, saved_text, saved_len, NULL, &cfg);
    log_error("CONFIG FILE IS INVALID: serving the last good config (version %" PRIu64 ") from %s",
              node->version, node->saved_config_path);
    struct message_list m = {0};
    if (read_error != NULL)
        message_list_add(&m, read_error);
    else
        message_list_add_diags(&m, diags);
    for (size_t i = 0; i < m.count; i++)
        log_error("%s", m.items[i]);
    log_error("fix %s, then reload (SIGHUP or POST /reload)", node->config_path);
    node->config_invalid = true;
    node->last_error = message_list_join(&m);
    message_list_free(&m);
    return 0;
}

/* Anti-rollback across restarts: the state directory holds the last
 * config put in force. When it is newer than the file (a read-only file,
 * a failed write-back), it is served instead, so that a restart never goes
 * back to an older version nor accepts an envelope below the one in
 * force before it. The file is left as it is. true when installed. */
static bool initial_newer_saved(struct node *node, const struct config *file_cfg)
{
    char *saved_text;
    size_t saved_len;
    struct config cfg;
    if (node->config_path[0] == '\0' || access(node->saved_config_path, F_OK) < 0 ||
        saved_config_load(node, &saved_text, &saved_len, &cfg) < 0)
        return false;
    if (cfg.server.config_version <= file_cfg->server.config_version) {
        config_free(&cfg);
        free(saved_text);
        return false;
    }
    node_install(node, saved_text, saved_len, NULL, &cfg);
    log_warning("%s is at version %" PRIu64 ", older than the version %" PRIu64
                " last in force: serving that one from %s; copy it into the file before the "
                "next reload",
                node->config_path, file_cfg->server.config_version, node->version,
                node->saved_config_path);
    return true;
}

/* The config (the file's, or the state directory's when it is newer or
 * the file is broken) installed: 0, with where it came from in *source;
 * -1 when there is none to serve. */
static int initial_config(struct node *node, const char **source)
{
    char *text = NULL, *read_error = NULL;
    size_t len = 0;
    struct config cfg;
    struct config_diags diags;
    *source = node->config_path[0] != '\0' ? node->config_path : "(built-in defaults)";
    int rc = initial_read(node, &text, &len, &cfg, &diags, &read_error);
    if (rc == 0) {
        config_diags_print(&diags, stderr); /* warnings */
        config_diags_free(&diags);
        if (node_overrides_apply(&cfg, &node->overrides) < 0) {
            log_error("out of memory");
            config_free(&cfg);
            free(text);
            return -1;
        }
        if (initial_newer_saved(node, &cfg)) {
            *source = node->saved_config_path;
            config_free(&cfg);
            free(text);
            return 0;
        }
        /* initial_read hashed the file's bytes for the hot-reload poll */
        node_install(node, text, len, node->file_hash_known ? node->file_hash : NULL, &cfg);
        return 0;
    }
    free(text);
    if (rc == -2) {
        config_diags_free(&diags);
        return -1;
    }
    rc = initial_fall_back(node, &diags, read_error);
    if (rc == 0)
        *source = node->saved_config_path;
    if (rc < 0) {
        if (read_error != NULL)
            fprintf(stderr, "%s\n", read_error);
        config_diags_print(&diags, stderr);
        fprintf(stderr, "FAIL Config error: %zu error(s)\n", diags.errors);
    }
    free(read_error);
    config_diags_free(&diags);
    return rc;
}

/* ---- the version floor at start ---- */

/* STATE/version, before any config is read: 0, with *known saying whether
 * there is one; -1 (logged) when it is there but cannot be trusted.
 *
 * A damaged or foreign floor file stops the start rather than being
 * skipped: the file exists only to keep the anti-rollback promise across
 * restarts, and a node that quietly started without it would take back
 * the very envelopes it refused before (as NSD and Knot stop on state they
 * cannot read rather than serve without it). The operator decides: put a
 * good copy back, or remove the file, and the node then starts from the
 * versions of STATE/config.json and the file alone. A missing file is no
 * damage: a first start, or a state directory from before the file. */
static int floor_load(struct node *node, bool *known)
{
    char err[512];
    int rc = version_floor_read(node->floor_path, &node->floor, err, sizeof(err));
    if (rc < 0) {
        log_error("%s: %s", node->floor_path, err);
        log_error("%s keeps the highest config version this node accepted (anti-rollback): not "
                  "starting without it; put back a good copy, or remove it to start from the "
                  "versions in %s and the config file alone",
                  node->floor_path, node->saved_config_path);
        return -1;
    }
    *known = rc == 0;
    return 0;
}

/* The config just installed (from source) against the floor: a newer one
 * raises it (written by node_publish); one below it is served as the
 * floor's version, so that nothing at or below the floor is taken from a
 * peer and the next reload goes past it; one of the floor's version but
 * not the config accepted at it (an edit made without a reload, another
 * node's file, a fork) is served as it is, and said. */
static void floor_settle(struct node *node, bool known, const char *source)
{
    struct version_floor *floor = &node->floor;
    if (!known || node->version > floor->version) {
        if (known)
            log_info("%s is at version %" PRIu64 ", above the version %" PRIu64
                     " last accepted: it is accepted",
                     source, node->version, floor->version);
        floor->version = node->version;
        memcpy(floor->hash, node->config_hash, sizeof(floor->hash));
        node->floor_unsaved = true;
        return;
    }
    if (version_floor_is(floor, node->version, node->config_hash))
        return;
    char floor_hex[2 * ENVELOPE_HASH_SIZE + 1], ours_hex[2 * ENVELOPE_HASH_SIZE + 1];
    sodium_bin2hex(floor_hex, sizeof(floor_hex), floor->hash, sizeof(floor->hash));
    sodium_bin2hex(ours_hex, sizeof(ours_hex), node->config_hash, sizeof(node->config_hash));
    if (node->version == floor->version) {
        /* Not the accepted config under the accepted version: a peer's
         * config of that version is judged against the accepted one, and
         * only that one is taken (sync_compare_floor); the next change
         * of the file, reloaded, gets a version of its own. */
        log_warning("%s is at version %" PRIu64 ", the version last accepted (%s), but it is not "
                    "the config accepted at that version (SHA-256 %.16s..., not %.16s...): "
                    "serving it; no other config of version %" PRIu64 " is taken from a peer",
                    source, node->version, node->floor_path, ours_hex, floor_hex, floor->version);
        return;
    }
    log_warning("%s is at version %" PRIu64 ", below version %" PRIu64
                " last accepted (%s): serving it as version %" PRIu64
                ", refusing any older config from a peer; the next change of the file, "
                "reloaded, gets version %" PRIu64 " or above (%s is missing or older)",
                source, node->version, floor->version, node->floor_path, floor->version,
                floor->version + 1, node->saved_config_path);
    node->version = floor->version;
    /* The image and its SOA serials follow: a serial never goes back. */
    node->config.server.config_version = floor->version;
}

int node_load_initial(struct node *node)
{
    bool known = false;
    const char *source = NULL;
    if (floor_load(node, &known) < 0 || initial_config(node, &source) < 0)
        return -1;
    floor_settle(node, known, source);
    return 0;
}
