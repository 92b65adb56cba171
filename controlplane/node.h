/* The config this node serves: the one in force, how a reload changes it, its publishing.
 * One struct node lives in start_run for the daemon's life; one event loop thread, no locks. */
#ifndef NANODNS_NODE_H
#define NANODNS_NODE_H

/* The load at start (with the state directory's last good config when the
 * file is broken), the reload (validate, bump config_version, write the
 * file back, publish) and the commit of a config from elsewhere (a peer's:
 * sync_apply.c). What follows a change (telling the data plane, the sync
 * key, the hot-reload poll, the push) belongs to others: the node tells
 * them through struct node_events. */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "envelope.h"
#include "message_list.h"
#include "version_floor.h"

/* In the state directory beside zone.img: the exact config bytes the
 * published image was compiled from (what a start with a broken file falls
 * back to). Written before zone.img, both replaced atomically. */
#define NODE_CONFIG_FILE_NAME "config.json"

/* Mode of what only the control plane reads in the state directory. */
#define NODE_PRIVATE_FILE_MODE 0600

/* Command-line values that win over the file's, at start and on every
 * reload (the image carries the log level and cache setting, so they are
 * applied to the config before it is compiled). */
struct node_overrides {
    const char *host;      /* NULL: server.host */
    uint16_t port;         /* 0: server.port */
    int log_level;         /* enum log_level, or -1: server.log_level */
    bool no_cache;         /* server.cache_enabled = false */
    const char *mgmt_host; /* NULL: server.mgmt_host */
    int32_t mgmt_port;     /* -1: server.mgmt_port (0 turns the API off) */
};

/* What the rest of the daemon hears from the node (start.c wires them).
 * Each may be NULL; each runs inside the node call that caused it. */
struct node_events {
    /* A config went in force (a reload, a peer's), or a reload found the
     * file saying nothing new: what is read from the config or from the
     * files it names (the sync key, the hot-reload poll) is read again. */
    void (*config_changed)(void *arg);
    /* A new image is published after a reload or a peer's config: tell
     * the data plane. */
    void (*image_published)(void *arg);
    /* A LOCAL reload (POST /reload, SIGHUP, hot reload) put a new config
     * in force: push it to the peers. Never after a peer's config (no push
     * storms), nor after a reload that found nothing new. */
    void (*reloaded)(void *arg);
    void *arg;
};

struct node {
    char config_path[PATH_MAX]; /* the operator's file; "" when running on defaults */
    char state_dir[PATH_MAX];

    /* The config in force: its exact bytes (what /config/raw serves and
     * peers copy), parsed form, version and checksum. config has the
     * command-line overrides applied; config_text is the file's bytes,
     * NUL-terminated: malloc'd until STATE/config.json holds them, then
     * that file mapped (a large config is not held twice, and its text
     * costs memory only while it is read). */
    const char *config_text;
    size_t config_len;
    struct config config;
    uint64_t version;
    char checksum[17]; /* first 16 hex digits of the SHA-256 of config_text, as the original */
    uint8_t config_hash[ENVELOPE_HASH_SIZE]; /* the whole SHA-256 of config_text */

    /* The highest version accepted and the hash of its config, kept in
     * STATE/version (version_floor.h) and never lowered: what a pushed or
     * pulled config is judged against (sync_compare_floor). It is (version,
     * config_hash) but after a start on a config older than it, or other
     * than the one accepted at it (STATE/config.json lost, a file edited
     * without a reload): that config is then served as version
     * floor.version, and the next reload goes past it. */
    struct version_floor floor;

    struct timespec started_monotonic;
    uint64_t reloads; /* images published after the first */
    uint64_t
        reload_failures; /* reloads refused: the file did not validate or could not be published */
    /* The file on disk does not validate: we serve the last good config.
     * Set at start (serving from the state directory) and by failed reloads;
     * cleared by the next good one. */
    bool config_invalid;
    char *last_error; /* every finding of the last failed load, one per line; NULL when none */

    struct node_events events;

    /* READY=1 went to the service manager: reloads are announced to it
     * with RELOADING=1 ... READY=1. */
    bool service_ready;

    /* ---- private to node.c ---- */
    struct node_overrides overrides;
    char image_path[PATH_MAX];
    char saved_config_path[PATH_MAX]; /* STATE/config.json */
    char floor_path[PATH_MAX];        /* STATE/version */
    /* floor is not in STATE/version yet (a first start, a start on a newer
     * config): node_publish writes it. */
    bool floor_unsaved;
    /* What we last loaded, wrote or refused from the operator's file
     * (SHA-256): the hot-reload poll takes only other content for a change,
     * so our own write-back is none and a broken file is reported once. */
    unsigned char file_hash[32];
    bool file_hash_known;
    bool config_text_mapped; /* config_text is STATE/config.json mapped, not malloc'd */
};

/* Fill node for config_path (NULL: the built-in defaults) and state_dir.
 * Nothing is read yet. Returns -1 when a path does not fit. */
int node_init(struct node *node, const char *config_path, const char *state_dir,
              const struct node_overrides *overrides);
void node_free(struct node *node);

/* The config at start: the file, as it is (its version is not bumped).
 * When it does not validate, its findings go to stderr; then the last
 * config published into the state directory is served if there is one
 * (config_invalid set, said loudly in the log), else -1. The state
 * directory's config is served too when it is newer than the file. Then
 * the version floor (STATE/version) is read: a config below it is served
 * as the floor's version, with a warning (see struct node's floor); a
 * floor file that is there but cannot be trusted (damaged, unreadable,
 * not ours) is logged and the start refused (-1): only its removal by
 * the operator starts the node without it. */
int node_load_initial(struct node *node);

/* Compile the config in force and publish it: STATE/version when the floor
 * is new, STATE/config.json, then STATE/zone.img, each replaced
 * atomically. The state directory exists. */
int node_publish(struct node *node);

/* The result of a reload, as POST /reload and nanoctl report it. */
struct node_reload_result {
    bool ok;
    bool unchanged;   /* ok, and the file said nothing new: nothing was published */
    uint64_t version; /* the version now served */
    size_t records;
    char **errors; /* "nanodns.json:14:22: records[3].value: ..." when !ok */
    size_t error_count;
};

/* Reload as POST /reload does (RFC-free, the original's semantics): read and
 * validate the file; on success set config_version to max(version on disk,
 * version in memory, version floor) + 1, write the file back atomically, publish the image,
 * then events.image_published and events.reloaded. A file that says what the
 * config in force says (the same config_digest: only its layout or
 * server.config_version differ) changes nothing of that: out->unchanged,
 * and only a failure it showed before is cleared. On failure nothing
 * changes but the failure counters and last_error. Returns 0 when reloaded
 * or unchanged, -1 otherwise. out may be NULL; otherwise free it with
 * node_reload_result_free. */
int node_reload(struct node *node, struct node_reload_result *out);
/* The same with the file's bytes as just read (taken over): the hot-reload
 * poll read them already. */
int node_reload_text(struct node *node, char *text, size_t len, struct node_reload_result *out);
void node_reload_result_free(struct node_reload_result *result);

/* Whether text is what the node last loaded, wrote back or refused from
 * the operator's file (the hot-reload poll's test for a change). */
bool node_file_unchanged(const struct node *node, const char *text, size_t len);

/* Seconds since the control plane started. */
double node_uptime(const struct node *node);

/* ---- a config from elsewhere put in force (sync_apply.c) ---- */

/* What would go in force: the text, its config, its image. Owned by
 * whoever prepares it until node_commit, which frees it either way. */
struct node_candidate {
    char *text;
    size_t len;
    uint8_t hash[ENVELOPE_HASH_SIZE]; /* SHA-256 of text, from node_candidate_compile on */
    struct config cfg;
    uint8_t *image;
    size_t image_len;
};
void node_candidate_free(struct node_candidate *c);

/* The operator's file, as the config loader takes it (a relative
 * server.sync_key is resolved against its folder); NULL on the defaults. */
const char *node_file_path(const struct node *node);

/* Apply the command line's overrides to a validated candidate (its text
 * and config set) and compile its image; its hash with it. On failure the candidate is freed and errors say why (name:
 * the config's origin, for the message). */
int node_candidate_compile(struct node *node, struct node_candidate *c, const char *name,
                           struct message_list *errors);

/* Put c in force (its file is written already): the state directory
 * (STATE/version first: the version is recorded before it is published or
 * acknowledged), then memory, then events.config_changed and
 * events.image_published. A version below the floor is refused. c is
 * freed either way; on failure nothing changed but the state directory
 * writes that went through (a floor recorded stays: never lowered), and
 * errors say why. */
int node_commit(struct node *node, struct node_candidate *c, struct message_list *errors);

/* Replace the operator's file with text, keeping its mode and owner (a
 * symbolic link is followed: its target is replaced). On success it is
 * what the hot-reload poll knows. hash: text's SHA-256 when the caller
 * has it (a large config is not hashed again), else NULL. -1 with why in
 * err. */
int node_file_write(struct node *node, const char *text, size_t len, const uint8_t *hash,
                    char *err, size_t err_len);

/* The file validates again: config_invalid and last_error are cleared. */
void node_failure_clear(struct node *node);

/* RELOADING=1 and READY=1 around a change, once the service manager was
 * told READY=1 (sd_notify(3)). */
void node_notify_reloading(const struct node *node);
void node_notify_ready(const struct node *node);

#endif
