/* What this node serves, as the control plane knows it: the config in
 * force, its version and checksum, reload history, and the data plane's
 * stats mapping. One struct node lives in start_run for the life of the
 * daemon; everything here runs on its one event loop thread. */
#ifndef NANODNS_NODE_H
#define NANODNS_NODE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "envelope.h"
#include "stats.h"

struct event;
struct sync;
struct event_base;

/* In the state directory beside zone.img: the exact config bytes the
 * published image was compiled from (what a start with a broken file falls
 * back to). Written before zone.img, both replaced atomically. */
#define NODE_CONFIG_FILE_NAME "config.json"

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

struct node {
    struct event_base *base;
    char config_path[PATH_MAX]; /* the operator's file; "" when running on defaults */
    char state_dir[PATH_MAX];

    /* The config in force: its exact bytes (what /config/raw serves and
     * peers copy), parsed form, version and checksum. config has the
     * command-line overrides applied; config_text is the file's bytes. */
    char *config_text;
    size_t config_len;
    struct config config;
    uint64_t version;
    char checksum[17]; /* first 16 hex digits of the SHA-256 of config_text, as the original */
    uint8_t config_hash[ENVELOPE_HASH_SIZE]; /* the whole SHA-256 of config_text */

    /* This node's sync identity, read again with every config put in
     * force (server.sync_key may change): its key, its own entry in
     * server.peers (the one listing its public key; -1 when none), and
     * the signature of config_text at version (what /config/raw and a push
     * carry). has_key false: no sync_key, or it cannot be read; the node
     * then signs nothing and pushes nothing. */
    bool has_key;
    struct envelope_key key;
    long self_peer;
    uint8_t config_signature[ENVELOPE_SIGNATURE_SIZE];

    time_t started_unix;
    struct timespec started_monotonic;
    uint64_t reloads; /* images published after the first */
    uint64_t
        reload_failures; /* reloads refused: the file did not validate or could not be published */
    /* The file on disk does not validate: we serve the last good config.
     * Set at start (serving from the state directory) and by failed reloads;
     * cleared by the next good one. */
    bool config_invalid;
    char *last_error; /* every finding of the last failed load, one per line; NULL when none */

    const struct stats_file *stats; /* the data plane's counters; NULL until it exists */

    /* ---- private to node.c and start.c ---- */
    struct node_overrides overrides;
    char image_path[PATH_MAX];
    char saved_config_path[PATH_MAX]; /* STATE/config.json */
    char stats_path[PATH_MAX];        /* STATE/stats */
    dev_t stats_dev;                  /* of the file node->stats maps */
    ino_t stats_ino;

    /* How to tell the data plane that a new image is published: set by
     * start.c when it runs the data plane itself (it knows its child and
     * whether it is ready yet). NULL: the data plane runs on its own (under
     * systemd), and gets SIGHUP at the pid its stats file gives. */
    void (*dataplane_notify)(void *arg);
    void *dataplane_notify_arg;

    /* Called after every successful LOCAL reload (POST /reload, SIGHUP,
     * hot reload), once the new config is in force: sync.c pushes it to
     * the peers. Never after node_apply_remote (no push storms), nor after
     * a reload that found nothing new. */
    void (*on_reloaded)(void *arg);
    void *on_reloaded_arg;
    /* The cluster sync (sync.c) when it runs; for the API. */
    struct sync *sync;

    /* READY=1 went to the service manager: reloads are announced to it
     * with RELOADING=1 ... READY=1. */
    bool service_ready;

    /* Hot reload compares the file's content with what we last loaded,
     * wrote back or refused (SHA-256), so our own write-back is not a
     * change and a broken file is reported once, not every 5 s. */
    unsigned char file_hash[32];
    bool file_hash_known;
    bool file_unreadable; /* the last poll could not read the file (reported once) */
    char *key_error;      /* why sync_key could not be read, as last reported (reported once) */
    struct event *hot_reload_timer;
    struct event *stats_timer;
};

/* Fill node for config_path (NULL: the built-in defaults) and state_dir.
 * Nothing is read yet. Returns -1 when a path does not fit. */
int node_init(struct node *node, const char *config_path, const char *state_dir,
              const struct node_overrides *overrides);
void node_free(struct node *node);

/* The config at start: the file, as it is (its version is not bumped).
 * When it does not validate, its findings go to stderr; then the last
 * config published into the state directory is served if there is one
 * (config_invalid set, said loudly in the log), else -1. */
int node_load_initial(struct node *node);

/* Compile the config in force and publish it: STATE/config.json, then
 * STATE/zone.img, each replaced atomically. The state directory exists. */
int node_publish(struct node *node);

/* Start the hot-reload poll (when server.hot_reload and there is a file)
 * and the stats watch on node->base. */
int node_watch_start(struct node *node);

/* Tell the data plane that a new image is published: the dataplane_notify
 * hook, else SIGHUP at the pid in the stats file (when that process is a
 * live data plane and we may signal it). */
void node_tell_dataplane(struct node *node);

/* Map the data plane's stats file when it is not mapped yet (or was
 * replaced). Quiet when it does not exist yet. */
void node_stats_open(struct node *node);

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
 * version in memory) + 1, write the file back atomically, publish the image,
 * tell the data plane and call on_reloaded. A file that says what the
 * config in force says (the same config_digest: only its layout or
 * server.config_version differ) changes nothing of that: out->unchanged,
 * and only a failure it showed before is cleared. On failure nothing
 * changes but the failure counters and last_error. Returns 0 when reloaded
 * or unchanged, -1 otherwise. out may be NULL; otherwise free it with
 * node_reload_result_free. */
int node_reload(struct node *node, struct node_reload_result *out);
void node_reload_result_free(struct node_reload_result *result);

/* Put in force a config a peer sent or we pulled, already authenticated
 * and judged to win over ours (sync.c): validate bytes (their
 * server.config_version must be version), write them over the operator's
 * file atomically as they are (no version bump: the version is inside),
 * publish, tell the data plane. The hot-reload poll does not take this
 * write for a local change, and on_reloaded is not called. Returns 0; -1
 * when bytes do not validate (out->errors says why), and nothing
 * changes; -2 when they could not be published (the operator's file may
 * hold them already, as after a reload that fails the same way). out as
 * for node_reload. */
int node_apply_remote(struct node *node, const char *bytes, size_t len, uint64_t version,
                      struct node_reload_result *out);

/* Where this node is reached: its own entry in server.peers, else
 * mgmt_host:mgmt_port. */
void node_self_address(const struct node *node, char *out, size_t out_len);

/* Seconds since the control plane started. */
double node_uptime(const struct node *node);

/* The data plane's state from the stats file: answering (heartbeat within
 * 3 s, and its pid alive), and the image version it serves (0 when none). */
bool node_dataplane_alive(const struct node *node);
uint64_t node_dataplane_version(const struct node *node);

#endif
