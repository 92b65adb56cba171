/* The config this node serves and how it changes: the load at start (with
 * the state directory's last good config when the file is broken), the
 * reload (validate, bump config_version, write the file back, publish,
 * tell the data plane), a peer's config put in force as it is, the node's
 * sync key, the hot-reload poll and the stats mapping. One event loop
 * thread; see node.h. */
#include "node.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "atomic_file.h"
#include "compile.h"
#include "config_edit.h"
#include "image.h"
#include "log.h"
#include "sd_notify.h"

#define HOT_RELOAD_INTERVAL_S 5 /* as the original */
#define STATS_WATCH_INTERVAL_S 1
#define SAVED_CONFIG_MODE 0600 /* only the control plane reads it */
#define IMAGE_MODE 0644        /* the data plane may run as another user */
/* Times a reload starts over when the file changes while it is being
 * reloaded, before it goes ahead with what it read last. */
#define RELOAD_RACE_RETRIES 3
/* /proc/PID/comm holds the first 15 octets of the program name. */
#define DATAPLANE_COMM "nanodns-datapla"
/* In the state directory: the operator's file as it was when a peer's
 * config replaced it while it held changes never reloaded. */
#define REPLACED_FILE_NAME "replaced-config.json"

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

static void sha256(const void *data, size_t len, unsigned char out[32])
{
    crypto_hash_sha256(out, data, len);
}

static void file_hash_set(struct node *node, const void *data, size_t len)
{
    sha256(data, len, node->file_hash);
    node->file_hash_known = true;
}

/* The operator's file, as the config loader takes it (it resolves a
 * relative server.sync_key against its folder); NULL on the defaults. */
static const char *file_path(const struct node *node)
{
    return node->config_path[0] != '\0' ? node->config_path : NULL;
}

static int path_join(char *out, size_t out_len, const char *dir, const char *name)
{
    int n = snprintf(out, out_len, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= out_len ? -1 : 0;
}

int node_init(struct node *node, const char *config_path, const char *state_dir,
              const struct node_overrides *overrides)
{
    memset(node, 0, sizeof(*node));
    node->overrides = *overrides;
    node->self_peer = -1;
    node->started_unix = time(NULL);
    clock_gettime(CLOCK_MONOTONIC, &node->started_monotonic);
    if (config_path != NULL && snprintf(node->config_path, sizeof(node->config_path), "%s",
                                        config_path) >= (int)sizeof(node->config_path))
        return -1;
    if (snprintf(node->state_dir, sizeof(node->state_dir), "%s", state_dir) >=
            (int)sizeof(node->state_dir) ||
        path_join(node->image_path, sizeof(node->image_path), state_dir, IMAGE_FILE_NAME) < 0 ||
        path_join(node->saved_config_path, sizeof(node->saved_config_path), state_dir,
                  NODE_CONFIG_FILE_NAME) < 0 ||
        path_join(node->stats_path, sizeof(node->stats_path), state_dir, STATS_FILE_NAME) < 0)
        return -1;
    return 0;
}

void node_free(struct node *node)
{
    sodium_memzero(&node->key, sizeof(node->key));
    free(node->key_error);
    if (node->hot_reload_timer != NULL)
        event_free(node->hot_reload_timer);
    if (node->stats_timer != NULL)
        event_free(node->stats_timer);
    if (node->stats != NULL)
        stats_close(node->stats);
    free(node->config_text);
    config_free(&node->config);
    free(node->last_error);
    memset(node, 0, sizeof(*node));
}

/* ---- configs ---- */

static const char *level_name(enum log_level level)
{
    static const char *const names[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
    return level <= LOG_LEVEL_ERROR ? names[level] : "INFO";
}

static int string_replace(char **slot, const char *value)
{
    char *copy = strdup(value);
    if (copy == NULL)
        return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

static int overrides_apply(struct config *cfg, const struct node_overrides *ov)
{
    if (ov->host != NULL && string_replace(&cfg->server.host, ov->host) < 0)
        return -1;
    if (ov->port != 0)
        cfg->server.port = ov->port;
    /* In the config too: the compiled image carries the level. */
    if (ov->log_level >= 0 &&
        string_replace(&cfg->server.log_level, level_name((enum log_level)ov->log_level)) < 0)
        return -1;
    if (ov->no_cache)
        cfg->server.cache_enabled = false;
    if (ov->mgmt_host != NULL && string_replace(&cfg->server.mgmt_host, ov->mgmt_host) < 0)
        return -1;
    if (ov->mgmt_port >= 0)
        cfg->server.mgmt_port = (uint16_t)ov->mgmt_port;
    return 0;
}

static void log_level_follow(const struct config *cfg)
{
    int level = log_level_parse(cfg->server.log_level);
    log_set_level(level < 0 ? LOG_LEVEL_INFO : (enum log_level)level);
}

/* ---- the sync key ---- */

/* Why the key cannot be used (NULL: it can), said once per new reason. */
static void key_error_set(struct node *node, const char *text)
{
    if (text == NULL || (node->key_error != NULL && strcmp(node->key_error, text) == 0)) {
        if (text == NULL) {
            free(node->key_error);
            node->key_error = NULL;
        }
        return;
    }
    log_error("sync: %s; this node signs nothing and pushes nothing", text);
    free(node->key_error);
    node->key_error = strdup(text);
}

/* The key server.sync_key names, this node's entry in server.peers and
 * the signature of the config in force. */
static void identity_refresh(struct node *node)
{
    const struct config_server *server = &node->config.server;
    node->self_peer = -1;
    if (server->sync_key == NULL) {
        if (node->has_key)
            log_warning("sync: server.sync_key is gone: this node signs nothing and pushes "
                        "nothing");
        node->has_key = false;
        sodium_memzero(&node->key, sizeof(node->key));
        key_error_set(node, NULL);
        return;
    }
    /* A relative path is taken against the operator's file's folder by
     * config_load_buffer_at. */
    char err[PATH_MAX + 256], text[PATH_MAX + 512];
    struct envelope_key key;
    if (envelope_key_read(server->sync_key, &key, err, sizeof(err)) < 0) {
        snprintf(text, sizeof(text), "server.sync_key: %s", err);
        goto unusable;
    }
    bool changed =
        !node->has_key || memcmp(node->key.public_key, key.public_key, sizeof(key.public_key)) != 0;
    node->key = key;
    sodium_memzero(&key, sizeof(key));
    node->has_key = true;
    key_error_set(node, NULL);
    for (size_t i = 0; i < server->peer_count; i++) {
        if (server->peer_has_key != NULL && server->peer_has_key[i] &&
            memcmp(server->peer_keys[i], node->key.public_key, ENVELOPE_PUBLIC_KEY_SIZE) == 0) {
            node->self_peer = (long)i;
            break;
        }
    }
    if (changed) {
        char public_text[ENVELOPE_PUBLIC_KEY_TEXT];
        envelope_public_key_text(node->key.public_key, public_text);
        if (node->self_peer >= 0)
            log_info("sync: this node is %s (public key %s)", server->peers[node->self_peer],
                     public_text);
        else
            log_warning("sync: this node's public key %s is not in server.peers; every peer "
                        "listed is pushed to",
                        public_text);
    }
    envelope_sign_config(&node->key, node->version, node->config_text, node->config_len,
                         node->config_signature);
    return;

unusable:
    node->has_key = false;
    sodium_memzero(&node->key, sizeof(node->key));
    key_error_set(node, text);
}

void node_self_address(const struct node *node, char *out, size_t out_len)
{
    const struct config_server *server = &node->config.server;
    if (node->self_peer >= 0 && (size_t)node->self_peer < server->peer_count) {
        snprintf(out, out_len, "%s", server->peers[node->self_peer]);
        return;
    }
    const char *host = server->mgmt_host != NULL ? server->mgmt_host : "";
    snprintf(out, out_len, strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host,
             (unsigned)server->mgmt_port);
}

/* The config in force becomes text/cfg (both taken over). */
static void node_install(struct node *node, char *text, size_t len, struct config *cfg)
{
    free(node->config_text);
    config_free(&node->config);
    node->config_text = text;
    node->config_len = len;
    node->config = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    node->version = node->config.server.config_version;
    config_checksum(text, len, node->checksum);
    envelope_config_hash(text, len, node->config_hash);
    identity_refresh(node);
}

/* A list of messages (error lines) being gathered for a result. */
struct messages {
    char **items;
    size_t count;
};

static void messages_add(struct messages *m, const char *text)
{
    char **items = realloc(m->items, (m->count + 1) * sizeof(*items));
    if (items == NULL)
        return;
    m->items = items;
    char *copy = strdup(text);
    if (copy != NULL)
        m->items[m->count++] = copy;
}

__attribute__((format(printf, 2, 3))) static void messages_addf(struct messages *m, const char *fmt,
                                                                ...)
{
    char *text;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    messages_add(m, text);
    free(text);
}

static void messages_free(struct messages *m)
{
    for (size_t i = 0; i < m->count; i++)
        free(m->items[i]);
    free(m->items);
    m->items = NULL;
    m->count = 0;
}

/* The error findings of diags, as config_diags_print writes them. */
static void messages_from_diags(struct messages *m, const struct config_diags *diags)
{
    for (size_t i = 0; i < diags->count; i++) {
        if (diags->items[i].severity != CONFIG_ERROR)
            continue;
        char line[CONFIG_DIAG_TEXT_MAX];
        config_diag_format(diags, i, line, sizeof(line));
        messages_add(m, line);
    }
    if (m->count == 0 && diags->errors > 0) /* findings lost to a failed allocation */
        messages_add(m, "the configuration does not validate");
}

static char *messages_join(const struct messages *m)
{
    size_t total = 1;
    for (size_t i = 0; i < m->count; i++)
        total += strlen(m->items[i]) + 1;
    char *out = malloc(total);
    if (out == NULL)
        return NULL;
    size_t used = 0;
    for (size_t i = 0; i < m->count; i++) {
        size_t n = strlen(m->items[i]);
        memcpy(out + used, m->items[i], n);
        out[used + n] = '\n';
        used += n + 1;
    }
    out[used] = '\0';
    return out;
}

static void diags_log_warnings(const struct config_diags *diags)
{
    for (size_t i = 0; i < diags->count; i++) {
        if (diags->items[i].severity != CONFIG_WARNING)
            continue;
        char line[CONFIG_DIAG_TEXT_MAX];
        config_diag_format(diags, i, line, sizeof(line));
        log_warning("%s", line);
    }
}

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
    int rc = config_load_buffer_at(*text, *len, file_path(node), cfg, &diags);
    if (rc < 0) {
        log_error("%s does not validate either:", node->saved_config_path);
        config_diags_print(&diags, stderr);
    } else if (overrides_apply(cfg, &node->overrides) < 0) {
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

int node_load_initial(struct node *node)
{
    char *text = NULL;
    size_t len = 0;
    struct config cfg;
    struct config_diags diags;
    char *read_error = NULL;
    int rc;
    if (node->config_path[0] == '\0') {
        /* The original runs on its defaults when no file is given. */
        text = strdup("{}");
        if (text == NULL) {
            log_error("out of memory");
            return -1;
        }
        len = 2;
        config_diags_init(&diags, "(built-in defaults)");
        rc = config_load_buffer_at(text, len, file_path(node), &cfg, &diags);
    } else {
        config_diags_init(&diags, node->config_path);
        char err[512];
        if (atomic_file_read(node->config_path, &text, &len, err, sizeof(err)) < 0) {
            if (asprintf(&read_error, "%s: cannot read: %s", node->config_path, err) < 0)
                read_error = NULL;
            diags.errors++;
            rc = -1;
        } else {
            file_hash_set(node, text, len);
            rc = config_load_buffer_at(text, len, file_path(node), &cfg, &diags);
        }
    }

    if (rc == 0) {
        config_diags_print(&diags, stderr); /* warnings */
        config_diags_free(&diags);
        if (overrides_apply(&cfg, &node->overrides) < 0) {
            log_error("out of memory");
            config_free(&cfg);
            free(text);
            return -1;
        }
        node_install(node, text, len, &cfg);
        return 0;
    }
    free(text);

    char *saved_text;
    size_t saved_len;
    if (node->config_path[0] == '\0' ||
        saved_config_load(node, &saved_text, &saved_len, &cfg) < 0) {
        if (read_error != NULL)
            fprintf(stderr, "%s\n", read_error);
        free(read_error);
        config_diags_print(&diags, stderr);
        fprintf(stderr, "FAIL Config error: %zu error(s)\n", diags.errors);
        config_diags_free(&diags);
        return -1;
    }
    node_install(node, saved_text, saved_len, &cfg);
    log_error("CONFIG FILE IS INVALID: serving the last good config (version %" PRIu64 ") from %s",
              node->version, node->saved_config_path);
    struct messages m = {0};
    if (read_error != NULL)
        messages_add(&m, read_error);
    else
        messages_from_diags(&m, &diags);
    free(read_error);
    for (size_t i = 0; i < m.count; i++)
        log_error("%s", m.items[i]);
    log_error("fix %s, then reload (SIGHUP or POST /reload)", node->config_path);
    node->config_invalid = true;
    node->last_error = messages_join(&m);
    messages_free(&m);
    config_diags_free(&diags);
    return 0;
}

/* ---- publishing ---- */

/* STATE/config.json, then STATE/zone.img: whoever finds the image finds
 * the config it came from beside it. */
static int state_write(struct node *node, const char *text, size_t len, const uint8_t *image,
                       size_t image_len, char *err, size_t err_len)
{
    char why[512];
    if (atomic_file_write(node->saved_config_path, text, len, SAVED_CONFIG_MODE, why, sizeof(why)) <
        0) {
        snprintf(err, err_len, "cannot save the config: %s", why);
        return -1;
    }
    if (atomic_file_write(node->image_path, image, image_len, IMAGE_MODE, why, sizeof(why)) < 0) {
        snprintf(err, err_len, "cannot publish the zone image: %s", why);
        return -1;
    }
    return 0;
}

int node_publish(struct node *node)
{
    uint8_t *image = NULL;
    size_t image_len = 0;
    char err[768];
    if (compile_config(&node->config, &image, &image_len, err, sizeof(err)) < 0) {
        log_error("cannot compile the configuration: %s", err);
        return -1;
    }
    int rc =
        state_write(node, node->config_text, node->config_len, image, image_len, err, sizeof(err));
    free(image);
    /* Parsing and compiling a large config leaves the heap full of freed
     * blocks; hand them back so a quiet control plane stays small. */
    malloc_trim(0);
    if (rc < 0) {
        log_error("%s", err);
        return -1;
    }
    log_info("published %s (config version %" PRIu64 ", %zu octets)", node->image_path,
             node->version, image_len);
    return 0;
}

/* ---- the data plane ---- */

void node_stats_open(struct node *node)
{
    struct stat st;
    if (stat(node->stats_path, &st) < 0)
        return; /* not yet: the data plane creates it */
    if (node->stats != NULL && st.st_dev == node->stats_dev && st.st_ino == node->stats_ino)
        return;
    char err[256];
    const struct stats_file *stats = stats_open_reader(node->stats_path, err, sizeof(err));
    if (stats == NULL) {
        log_debug("stats file: %s", err);
        return;
    }
    if (node->stats != NULL)
        stats_close(node->stats);
    node->stats = stats;
    node->stats_dev = st.st_dev;
    node->stats_ino = st.st_ino;
}

static bool pid_alive(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

bool node_dataplane_alive(const struct node *node)
{
    if (node->stats == NULL)
        return false;
    uint64_t heartbeat = stats_get(&node->stats->heartbeat_unix_ms);
    uint64_t now = stats_now_unix_ms();
    /* Either way: a clock stepped back makes the heartbeat look new. */
    if (heartbeat == 0 || now > heartbeat + STATS_HEARTBEAT_MAX_AGE_MS ||
        heartbeat > now + STATS_HEARTBEAT_MAX_AGE_MS)
        return false;
    uint64_t pid = stats_get(&node->stats->pid);
    return pid <= INT32_MAX && pid_alive((pid_t)pid);
}

uint64_t node_dataplane_version(const struct node *node)
{
    return node->stats != NULL ? stats_get(&node->stats->image_version) : 0;
}

/* Whether pid runs the data plane: the stats file may name a pid that has
 * since been given to another program, which SIGHUP would kill. */
static bool pid_is_dataplane(pid_t pid)
{
    char path[64], comm[32];
    snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    bool match = fgets(comm, sizeof(comm), f) != NULL &&
                 strncmp(comm, DATAPLANE_COMM, strlen(DATAPLANE_COMM)) == 0;
    fclose(f);
    return match;
}

/* A data plane we did not start (systemd runs it): SIGHUP at the pid its
 * stats file gives. Not allowed to signal it (another user) or no live
 * one: its 1 s check of zone.img picks the image up anyway. */
static void dataplane_signal_external(struct node *node)
{
    node_stats_open(node);
    if (!node_dataplane_alive(node)) {
        log_debug("no live data plane to signal; it checks %s every second", node->image_path);
        return;
    }
    pid_t pid = (pid_t)stats_get(&node->stats->pid);
    if (!pid_is_dataplane(pid)) {
        log_debug("pid %ld is not a data plane; not signalling it", (long)pid);
        return;
    }
    if (kill(pid, SIGHUP) < 0 && errno != EPERM && errno != ESRCH)
        log_warning("cannot signal the data plane (pid %ld): %s", (long)pid, strerror(errno));
}

void node_tell_dataplane(struct node *node)
{
    if (node->dataplane_notify != NULL)
        node->dataplane_notify(node->dataplane_notify_arg);
    else
        dataplane_signal_external(node);
}

/* ---- reload ---- */

/* What a reload would put in force: the edited text, its config, its
 * image. Owned here until installed. */
struct candidate {
    char *text;
    size_t len;
    struct config cfg;
    uint8_t *image;
    size_t image_len;
};

static void candidate_free(struct candidate *c)
{
    free(c->text);
    config_free(&c->cfg);
    free(c->image);
    memset(c, 0, sizeof(*c));
}

/* Apply the command line's overrides to a validated candidate and compile
 * its image. On failure the candidate is freed and m says why (name: the
 * config's origin, for the message). */
static int candidate_compile(struct node *node, struct candidate *c, const char *name,
                             struct messages *m)
{
    if (overrides_apply(&c->cfg, &node->overrides) < 0) {
        messages_add(m, "out of memory");
        candidate_free(c);
        return -1;
    }
    char err[768];
    if (compile_config(&c->cfg, &c->image, &c->image_len, err, sizeof(err)) < 0) {
        messages_addf(m, "%s: cannot compile: %s", name, err);
        candidate_free(c);
        return -1;
    }
    return 0;
}

/* Validate text (the file's bytes) and build the candidate with the next
 * version. Returns 0; 1 when text says what the config in force says
 * (nothing is prepared); -1 when it does not validate, with the findings
 * in m. */
static int candidate_prepare(struct node *node, const char *text, size_t len, struct candidate *c,
                             struct messages *m)
{
    memset(c, 0, sizeof(*c));
    struct config cfg;
    struct config_diags diags;
    config_diags_init(&diags, node->config_path);
    if (config_load_buffer_at(text, len, file_path(node), &cfg, &diags) < 0) {
        messages_from_diags(m, &diags);
        config_diags_free(&diags);
        return -1;
    }
    diags_log_warnings(&diags);
    config_diags_free(&diags);

    /* Our own write-back, a peer's config we wrote, a reload without an
     * edit, an edit of white space or member order, a version bumped by
     * hand: the same config. A new version for it would be a new serial
     * and a push for nothing. */
    if (memcmp(cfg.digest, node->config.digest, sizeof(cfg.digest)) == 0) {
        config_free(&cfg);
        return 1;
    }

    /* The original's rule: max(version on disk, version in memory) + 1, so
     * an operator's own bump counts and a version never goes back. */
    uint64_t on_disk = cfg.server.config_version;
    config_free(&cfg);
    uint64_t base = on_disk > node->version ? on_disk : node->version;
    if (base >= INT64_MAX) {
        messages_addf(m, "%s: server.config_version %" PRIu64 " cannot go higher",
                      node->config_path, base);
        return -1;
    }
    if (config_text_set_version(text, len, base + 1, &c->text, &c->len) < 0) {
        messages_addf(m, "%s: cannot set server.config_version (out of memory)", node->config_path);
        return -1;
    }

    config_diags_init(&diags, node->config_path);
    if (config_load_buffer_at(c->text, c->len, file_path(node), &c->cfg, &diags) < 0) {
        /* The edit only touches the number: this is a bug, not the file. */
        messages_from_diags(m, &diags);
        messages_add(m, "internal error: the config with its new version does not validate");
        config_diags_free(&diags);
        candidate_free(c);
        return -1;
    }
    config_diags_free(&diags);
    if (candidate_compile(node, c, node->config_path, m) < 0)
        return -1;
    return 0;
}

/* Replace the operator's file with text, keeping its mode and owner; a
 * symbolic link is followed (its target is replaced, not the link). */
static int file_write_back(struct node *node, const char *text, size_t len, char *err,
                           size_t err_len)
{
    char target[PATH_MAX];
    struct stat st;
    if (realpath(node->config_path, target) == NULL || stat(target, &st) < 0) {
        snprintf(err, err_len, "%s", strerror(errno));
        return -1;
    }
    if (atomic_file_write(target, text, len, st.st_mode & 07777, err, err_len) < 0)
        return -1;
    if (geteuid() == 0 && (st.st_uid != 0 || st.st_gid != 0) &&
        chown(target, st.st_uid, st.st_gid) < 0)
        log_warning("cannot give %s back to uid %ld gid %ld: %s", target, (long)st.st_uid,
                    (long)st.st_gid, strerror(errno));
    return 0;
}

static void reload_failed(struct node *node, struct messages *m, struct node_reload_result *out)
{
    node->reload_failures++;
    for (size_t i = 0; i < m->count; i++)
        log_error("%s", m->items[i]);
    log_error("reload refused; still serving version %" PRIu64, node->version);
    free(node->last_error);
    node->last_error = messages_join(m);
    if (out != NULL) {
        out->errors = m->items;
        out->error_count = m->count;
        m->items = NULL;
        m->count = 0;
    }
    messages_free(m);
}

static void service_notify_reloading(struct node *node)
{
    if (!node->service_ready)
        return;
    /* sd_notify(3): RELOADING=1 goes with the monotonic time it began. */
    char state[64];
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    sd_notify_send(state);
}

static void hot_reload_follow(struct node *node);

/* Put c in force (its file is written already): the state directory, then
 * memory, then the data plane. c is freed either way; on failure nothing
 * changed but the state directory write that failed, and m says why. */
static int candidate_commit(struct node *node, struct candidate *c, struct messages *m)
{
    char err[1024];
    if (state_write(node, c->text, c->len, c->image, c->image_len, err, sizeof(err)) < 0) {
        messages_add(m, err);
        candidate_free(c);
        return -1;
    }
    char *new_text = c->text;
    c->text = NULL;
    bool listen_changed = strcmp(c->cfg.server.host, node->config.server.host) != 0 ||
                          c->cfg.server.port != node->config.server.port;
    bool mgmt_changed = strcmp(c->cfg.server.mgmt_host, node->config.server.mgmt_host) != 0 ||
                        c->cfg.server.mgmt_port != node->config.server.mgmt_port;
    node_install(node, new_text, c->len, &c->cfg);
    candidate_free(c);
    node->reloads++;
    log_level_follow(&node->config);
    hot_reload_follow(node);
    node_tell_dataplane(node);
    if (listen_changed)
        log_warning("server.host/server.port changed: the DNS sockets stay as they are until a "
                    "restart");
    if (mgmt_changed)
        log_warning("server.mgmt_host/server.mgmt_port changed: the API stays where it is until a "
                    "restart");
    return 0;
}

/* Reload from text, the file's bytes as just read (taken over). */
static int reload_text(struct node *node, char *text, size_t len, struct node_reload_result *out)
{
    struct messages m = {0};
    struct candidate c;
    bool ok = false, unchanged = false;
    service_notify_reloading(node);

    for (int attempt = 0;; attempt++) {
        int prepared = candidate_prepare(node, text, len, &c, &m);
        if (prepared < 0) {
            file_hash_set(node, text, len); /* the poll reports it no more */
            node->config_invalid = true;
            free(text);
            reload_failed(node, &m, out);
            goto done;
        }
        if (prepared > 0) {
            /* No new version, no write-back, no publish, no push. The file
             * is good, though: a failure it showed before is over. The key
             * file is no part of the config; a reload reads it again. */
            file_hash_set(node, text, len);
            free(text);
            node->config_invalid = false;
            free(node->last_error);
            node->last_error = NULL;
            identity_refresh(node);
            log_info("reload: %s holds nothing new (the config of version %" PRIu64
                     "): nothing published",
                     node->config_path, node->version);
            ok = unchanged = true;
            goto done;
        }
        /* An editor saving again while we worked: write back over the
         * new text and it would be lost without a trace. Start over. */
        char *now;
        size_t now_len;
        char err[512];
        if (attempt < RELOAD_RACE_RETRIES &&
            atomic_file_read(node->config_path, &now, &now_len, err, sizeof(err)) == 0) {
            if (now_len != len || memcmp(now, text, len) != 0) {
                log_info("%s changed while it was being reloaded; reading it again",
                         node->config_path);
                candidate_free(&c);
                free(text);
                text = now;
                len = now_len;
                continue;
            }
            free(now);
        }
        break;
    }

    char err[1024];
    if (file_write_back(node, c.text, c.len, err, sizeof(err)) == 0) {
        file_hash_set(node, c.text, c.len);
    } else {
        /* A read-only file (a mounted ConfigMap, say) still reloads: the
         * version lives on in memory and in the state directory, and the
         * next reload goes past it all the same. */
        log_warning("cannot write config_version %" PRIu64 " back to %s: %s",
                    c.cfg.server.config_version, node->config_path, err);
        file_hash_set(node, text, len);
    }
    free(text);

    if (candidate_commit(node, &c, &m) < 0) {
        reload_failed(node, &m, out);
        goto done;
    }
    node->config_invalid = false;
    free(node->last_error);
    node->last_error = NULL;
    log_info("reloaded: version %" PRIu64 ", %zu record%s in %zu zone%s", node->version,
             node->config.record_count, plural(node->config.record_count), node->config.zone_count,
             plural(node->config.zone_count));
    ok = true;

done:
    if (out != NULL) {
        out->ok = ok;
        out->unchanged = unchanged;
        out->version = node->version;
        out->records = node->config.record_count;
    }
    if (node->service_ready)
        sd_notify_send("READY=1");
    if (ok && !unchanged && node->on_reloaded != NULL)
        node->on_reloaded(node->on_reloaded_arg);
    return ok ? 0 : -1;
}

int node_reload(struct node *node, struct node_reload_result *out)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    struct messages m = {0};
    if (node->config_path[0] == '\0') {
        messages_add(&m, "started without --config: there is no file to reload");
        reload_failed(node, &m, out);
        if (out != NULL) {
            out->version = node->version;
            out->records = node->config.record_count;
        }
        return -1;
    }
    log_info("reloading %s", node->config_path);
    char *text;
    size_t len;
    char err[512];
    if (atomic_file_read(node->config_path, &text, &len, err, sizeof(err)) < 0) {
        messages_addf(&m, "%s: cannot read: %s", node->config_path, err);
        node->config_invalid = true;
        reload_failed(node, &m, out);
        if (out != NULL) {
            out->version = node->version;
            out->records = node->config.record_count;
        }
        return -1;
    }
    return reload_text(node, text, len, out);
}

void node_reload_result_free(struct node_reload_result *result)
{
    for (size_t i = 0; i < result->error_count; i++)
        free(result->errors[i]);
    free(result->errors);
    memset(result, 0, sizeof(*result));
}

/* ---- a peer's config ---- */

/* Validate a peer's bytes into c, as they are. Findings go to m. */
static int remote_prepare(struct node *node, const char *bytes, size_t len, uint64_t version,
                          struct candidate *c, struct messages *m)
{
    memset(c, 0, sizeof(*c));
    const char *name = node->config_path[0] != '\0' ? node->config_path : "(the peer's config)";
    struct config_diags diags;
    config_diags_init(&diags, name);
    if (config_load_buffer_at(bytes, len, file_path(node), &c->cfg, &diags) < 0) {
        messages_from_diags(m, &diags);
        config_diags_free(&diags);
        return -1;
    }
    config_diags_free(&diags);
    /* The version is inside the bytes, and it is the one the signature
     * covers: a config that says otherwise would be served under another. */
    if (c->cfg.server.config_version != version) {
        messages_addf(m,
                      "%s: server.config_version is %" PRIu64 " but the config was sent as "
                      "version %" PRIu64,
                      name, c->cfg.server.config_version, version);
        candidate_free(c);
        return -1;
    }
    if (candidate_compile(node, c, name, m) < 0)
        return -1;
    c->text = malloc(len + 1);
    if (c->text == NULL) {
        messages_add(m, "out of memory");
        candidate_free(c);
        return -1;
    }
    memcpy(c->text, bytes, len);
    c->text[len] = '\0';
    c->len = len;
    return 0;
}

/* The operator's file gets the peer's bytes. When it holds something
 * other than the config in force (an edit not reloaded yet, a half-written
 * file), that is kept in the state directory first and said loudly: the
 * cluster's config wins, but nobody's work disappears without a trace. */
static void remote_write_file(struct node *node, const char *text, size_t len)
{
    char *current = NULL;
    size_t current_len = 0;
    char err[1024];
    if (atomic_file_read(node->config_path, &current, &current_len, err, sizeof(err)) == 0) {
        bool in_force =
            current_len == node->config_len && memcmp(current, node->config_text, current_len) == 0;
        bool same = current_len == len && memcmp(current, text, len) == 0;
        if (!in_force && !same) {
            char aside[PATH_MAX];
            if (path_join(aside, sizeof(aside), node->state_dir, REPLACED_FILE_NAME) == 0 &&
                atomic_file_write(aside, current, current_len, SAVED_CONFIG_MODE, err,
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
    if (file_write_back(node, text, len, err, sizeof(err)) == 0) {
        file_hash_set(node, text, len); /* the hot-reload poll sees no change */
        node->config_invalid = false;
        free(node->last_error);
        node->last_error = NULL;
    } else {
        /* Served all the same, from memory and the state directory; the
         * pull catches up again after a restart on the old file. */
        log_warning("cannot write the peer's config to %s: %s", node->config_path, err);
    }
}

int node_apply_remote(struct node *node, const char *bytes, size_t len, uint64_t version,
                      struct node_reload_result *out)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    struct messages m = {0};
    struct candidate c;
    int rc = 0;
    if (remote_prepare(node, bytes, len, version, &c, &m) < 0) {
        rc = -1;
        goto done;
    }
    service_notify_reloading(node);
    if (node->config_path[0] != '\0') {
        remote_write_file(node, c.text, c.len);
    } else {
        node->config_invalid = false;
    }
    if (candidate_commit(node, &c, &m) < 0)
        rc = -2;
    if (node->service_ready)
        sd_notify_send("READY=1");

done:
    if (rc < 0)
        for (size_t i = 0; i < m.count; i++)
            log_warning("sync: %s", m.items[i]);
    if (out != NULL) {
        out->ok = rc == 0;
        out->version = node->version;
        out->records = node->config.record_count;
        out->errors = m.items;
        out->error_count = m.count;
    } else {
        messages_free(&m);
    }
    return rc;
}

/* ---- watching ---- */

static void on_hot_reload(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct node *node = arg;
    char *text;
    size_t len;
    char err[512];
    if (atomic_file_read(node->config_path, &text, &len, err, sizeof(err)) < 0) {
        if (!node->file_unreadable)
            log_warning("hot reload: cannot read %s; still serving version %" PRIu64, err,
                        node->version);
        node->file_unreadable = true;
        return;
    }
    node->file_unreadable = false;
    unsigned char hash[32];
    sha256(text, len, hash);
    /* Content, not mtime: a touch is no change, and an edit within the
     * same second as the last one is. */
    if (node->file_hash_known && memcmp(hash, node->file_hash, sizeof(hash)) == 0) {
        log_debug("hot reload: %s unchanged", node->config_path);
        free(text);
        return;
    }
    log_info("%s changed: reloading", node->config_path);
    reload_text(node, text, len, NULL);
}

/* The poll runs while the config in force asks for it. */
static void hot_reload_follow(struct node *node)
{
    if (node->hot_reload_timer == NULL)
        return;
    bool want = node->config.server.hot_reload;
    bool running = evtimer_pending(node->hot_reload_timer, NULL);
    if (want && !running) {
        struct timeval interval = {.tv_sec = HOT_RELOAD_INTERVAL_S};
        event_add(node->hot_reload_timer, &interval);
        log_info("hot reload: checking %s every %d s", node->config_path, HOT_RELOAD_INTERVAL_S);
    } else if (!want && running) {
        event_del(node->hot_reload_timer);
        log_info("hot reload: off");
    }
}

static void on_stats_watch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node_stats_open(arg);
}

int node_watch_start(struct node *node)
{
    node->stats_timer = event_new(node->base, -1, EV_PERSIST, on_stats_watch, node);
    struct timeval second = {.tv_sec = STATS_WATCH_INTERVAL_S};
    if (node->stats_timer == NULL || event_add(node->stats_timer, &second) < 0) {
        log_error("cannot create the stats watch");
        return -1;
    }
    if (node->config_path[0] == '\0')
        return 0;
    node->hot_reload_timer = event_new(node->base, -1, EV_PERSIST, on_hot_reload, node);
    if (node->hot_reload_timer == NULL) {
        log_error("cannot create the hot-reload timer");
        return -1;
    }
    hot_reload_follow(node);
    return 0;
}

double node_uptime(const struct node *node)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - node->started_monotonic.tv_sec) +
           (double)(now.tv_nsec - node->started_monotonic.tv_nsec) / 1e9;
}
