/* The config this node serves and how it changes: the reload (validate,
 * bump config_version, write the file back, publish), publishing (with
 * the version floor recorded first) and the commit of a candidate config.
 * The load at start is node_load.c. One event loop thread; see node.h. */
#include "node.h"
#include "node_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "compile.h"
#include "config_edit.h"
#include "image.h"
#include "log.h"
#include "sd_notify.h"
#include "version_floor.h"

#define IMAGE_MODE 0644 /* the data plane may run as another user */
/* Times a reload starts over when the file changes while it is being
 * reloaded, before it goes ahead with what it read last. */
#define RELOAD_RACE_RETRIES 3

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

void node_file_hash_set(struct node *node, const void *data, size_t len)
{
    crypto_hash_sha256(node->file_hash, data, len);
    node->file_hash_known = true;
}

bool node_file_unchanged(const struct node *node, const char *text, size_t len)
{
    unsigned char hash[32];
    crypto_hash_sha256(hash, (const unsigned char *)text, len);
    return node->file_hash_known && memcmp(hash, node->file_hash, sizeof(hash)) == 0;
}

const char *node_file_path(const struct node *node)
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
    clock_gettime(CLOCK_MONOTONIC, &node->started_monotonic);
    if (config_path != NULL && snprintf(node->config_path, sizeof(node->config_path), "%s",
                                        config_path) >= (int)sizeof(node->config_path))
        return -1;
    if (snprintf(node->state_dir, sizeof(node->state_dir), "%s", state_dir) >=
            (int)sizeof(node->state_dir) ||
        path_join(node->image_path, sizeof(node->image_path), state_dir, IMAGE_FILE_NAME) < 0 ||
        path_join(node->saved_config_path, sizeof(node->saved_config_path), state_dir,
                  NODE_CONFIG_FILE_NAME) < 0 ||
        path_join(node->floor_path, sizeof(node->floor_path), state_dir, VERSION_FLOOR_FILE_NAME) <
            0)
        return -1;
    return 0;
}

/* The config text in force let go, malloc'd or mapped. */
static void text_release(struct node *node)
{
    if (node->config_text_mapped)
        atomic_file_unmap(node->config_text, node->config_len);
    else
        free((char *)node->config_text);
    node->config_text = NULL;
    node->config_text_mapped = false;
}

/* STATE/config.json now holds the config text in force: serve the text
 * from it and free the copy. Kept as it is when the file cannot be
 * mapped or does not hold those bytes. */
static void text_map_saved(struct node *node)
{
    const char *mapped;
    size_t len;
    char err[512];
    if (node->config_text_mapped)
        return;
    if (atomic_file_map(node->saved_config_path, &mapped, &len, err, sizeof(err)) < 0) {
        log_debug("config text kept in memory: %s", err);
        return;
    }
    if (len != node->config_len) {
        atomic_file_unmap(mapped, len);
        return;
    }
    free((char *)node->config_text);
    node->config_text = mapped;
    node->config_text_mapped = true;
}

void node_free(struct node *node)
{
    text_release(node);
    config_free(&node->config);
    free(node->last_error);
    memset(node, 0, sizeof(*node));
}

double node_uptime(const struct node *node)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - node->started_monotonic.tv_sec) +
           (double)(now.tv_nsec - node->started_monotonic.tv_nsec) / 1e9;
}

static void event_config_changed(struct node *node)
{
    if (node->events.config_changed != NULL)
        node->events.config_changed(node->events.arg);
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

int node_overrides_apply(struct config *cfg, const struct node_overrides *ov)
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

void node_install(struct node *node, char *text, size_t len, const uint8_t *hash,
                  struct config *cfg)
{
    text_release(node);
    config_free(&node->config);
    node->config_text = text;
    node->config_len = len;
    node->config = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    node->version = node->config.server.config_version;
    if (hash != NULL)
        memcpy(node->config_hash, hash, sizeof(node->config_hash));
    else
        envelope_config_hash(text, len, node->config_hash);
    /* The original's checksum is the start of the same SHA-256. */
    config_checksum_of_hash(node->config_hash, node->checksum);
}

void node_failure_clear(struct node *node)
{
    node->config_invalid = false;
    free(node->last_error);
    node->last_error = NULL;
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

/* ---- publishing ---- */

/* STATE/version (when floor is not NULL), then STATE/config.json; the
 * image (image_write) comes after them: no version reaches the state
 * directory, let alone a client or a peer, before the floor covers it;
 * and whoever finds the image finds the config it came from beside it. */
static int config_write(struct node *node, const struct version_floor *floor, const char *text,
                        size_t len, char *err, size_t err_len)
{
    char why[512];
    if (floor != NULL) {
        if (version_floor_write(node->floor_path, floor, why, sizeof(why)) < 0) {
            snprintf(err, err_len, "cannot record version %" PRIu64 ": %s", floor->version, why);
            return -1;
        }
        /* What the file says from now on, whatever fails next. */
        node->floor = *floor;
        node->floor_unsaved = false;
    }
    if (atomic_file_write(node->saved_config_path, text, len, NODE_PRIVATE_FILE_MODE, why,
                          sizeof(why)) < 0) {
        snprintf(err, err_len, "cannot save the config: %s", why);
        return -1;
    }
    return 0;
}

static int image_write(struct node *node, const uint8_t *image, size_t image_len, char *err,
                       size_t err_len)
{
    char why[512];
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
    /* The config first: its text is then served from the file, and a
     * large config's text and image are never in memory together. */
    if (config_write(node, node->floor_unsaved ? &node->floor : NULL, node->config_text,
                     node->config_len, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return -1;
    }
    text_map_saved(node);
    if (compile_config(&node->config, &image, &image_len, err, sizeof(err)) < 0) {
        log_error("cannot compile the configuration: %s", err);
        return -1;
    }
    int rc = image_write(node, image, image_len, err, sizeof(err));
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

/* ---- candidates ---- */

void node_candidate_free(struct node_candidate *c)
{
    free(c->text);
    config_free(&c->cfg);
    free(c->image);
    memset(c, 0, sizeof(*c));
}

int node_candidate_compile(struct node *node, struct node_candidate *c, const char *name,
                           struct message_list *errors)
{
    if (node_overrides_apply(&c->cfg, &node->overrides) < 0) {
        message_list_add(errors, "out of memory");
        node_candidate_free(c);
        return -1;
    }
    char err[768];
    if (compile_config(&c->cfg, &c->image, &c->image_len, err, sizeof(err)) < 0) {
        message_list_addf(errors, "%s: cannot compile: %s", name, err);
        node_candidate_free(c);
        return -1;
    }
    envelope_config_hash(c->text, c->len, c->hash);
    return 0;
}

int node_commit(struct node *node, struct node_candidate *c, struct message_list *errors)
{
    char err[1024];
    struct version_floor next = {.version = c->cfg.server.config_version};
    memcpy(next.hash, c->hash, sizeof(next.hash));
    bool same = version_floor_is(&node->floor, next.version, next.hash);
    if (!same && !version_floor_admits(&node->floor, next.version, next.hash)) {
        /* The callers never get here (a reload goes past the floor, a
         * peer's config is judged against it): never lowered all the same. */
        message_list_addf(errors,
                          "version %" PRIu64 " is below version %" PRIu64
                          ", the highest accepted (%s): not put in force",
                          next.version, node->floor.version, node->floor_path);
        node_candidate_free(c);
        return -1;
    }
    if (config_write(node, same && !node->floor_unsaved ? NULL : &next, c->text, c->len, err,
                     sizeof(err)) < 0 ||
        image_write(node, c->image, c->image_len, err, sizeof(err)) < 0) {
        message_list_add(errors, err);
        node_candidate_free(c);
        return -1;
    }
    char *new_text = c->text;
    c->text = NULL;
    bool listen_changed = strcmp(c->cfg.server.host, node->config.server.host) != 0 ||
                          c->cfg.server.port != node->config.server.port;
    bool mgmt_changed = strcmp(c->cfg.server.mgmt_host, node->config.server.mgmt_host) != 0 ||
                        c->cfg.server.mgmt_port != node->config.server.mgmt_port;
    node_install(node, new_text, c->len, c->hash, &c->cfg);
    text_map_saved(node);
    node_candidate_free(c);
    node->reloads++;
    log_level_follow(&node->config);
    event_config_changed(node);
    if (node->events.image_published != NULL)
        node->events.image_published(node->events.arg);
    if (listen_changed)
        log_warning("server.host/server.port changed: the DNS sockets stay as they are until a "
                    "restart");
    if (mgmt_changed)
        log_warning("server.mgmt_host/server.mgmt_port changed: the API stays where it is until a "
                    "restart");
    return 0;
}

int node_file_write(struct node *node, const char *text, size_t len, const uint8_t *hash,
                    char *err, size_t err_len)
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
    if (hash != NULL) {
        memcpy(node->file_hash, hash, sizeof(node->file_hash));
        node->file_hash_known = true;
    } else {
        node_file_hash_set(node, text, len);
    }
    return 0;
}

void node_notify_reloading(const struct node *node)
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

void node_notify_ready(const struct node *node)
{
    if (node->service_ready)
        sd_notify_send("READY=1");
}

/* ---- reload ---- */

/* Validate text (the file's bytes) and build the candidate with the next
 * version. Returns 0; 1 when text says what the config in force says
 * (nothing is prepared); -1 when it does not validate, with the findings
 * in errors. */
static int candidate_prepare(struct node *node, const char *text, size_t len,
                             struct node_candidate *c, struct message_list *errors)
{
    memset(c, 0, sizeof(*c));
    struct config cfg;
    struct config_diags diags;
    config_diags_init(&diags, node->config_path);
    if (config_load_buffer_at(text, len, node_file_path(node), &cfg, &diags) < 0) {
        message_list_add_diags(errors, &diags);
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
    uint64_t base = on_disk > node->version ? on_disk : node->version;
    /* Above the floor too: a version once accepted is never given again. */
    if (node->floor.version > base)
        base = node->floor.version;
    if (base >= CONFIG_VERSION_MAX) {
        message_list_addf(errors, "%s: server.config_version %" PRIu64 " cannot go higher",
                          node->config_path, base);
        config_free(&cfg);
        return -1;
    }
    if (config_text_set_version(text, len, base + 1, &c->text, &c->len) < 0) {
        message_list_addf(errors, "%s: cannot set server.config_version (out of memory)",
                          node->config_path);
        config_free(&cfg);
        return -1;
    }
    /* The new text differs from the one just loaded in that number alone:
     * its config is this one with the new version, not a second load of a
     * large file. */
    cfg.server.config_version = base + 1;
    c->cfg = cfg;
    return node_candidate_compile(node, c, node->config_path, errors);
}

/* Validate text and prepare its candidate; when the file changed meanwhile
 * (an editor saving again while we worked: write back over the new text
 * and it would be lost without a trace), start over with the new text, a
 * few times at most. *text and *len follow what was read last. Returns as
 * candidate_prepare. */
static int candidate_prepare_settled(struct node *node, char **text, size_t *len,
                                     struct node_candidate *c, struct message_list *errors)
{
    for (int attempt = 0;; attempt++) {
        int prepared = candidate_prepare(node, *text, *len, c, errors);
        if (prepared != 0 || attempt >= RELOAD_RACE_RETRIES)
            return prepared;
        char *now;
        size_t now_len;
        char err[512];
        if (atomic_file_read(node->config_path, &now, &now_len, err, sizeof(err)) < 0)
            return 0;
        if (now_len == *len && memcmp(now, *text, *len) == 0) {
            free(now);
            return 0;
        }
        log_info("%s changed while it was being reloaded; reading it again", node->config_path);
        node_candidate_free(c);
        free(*text);
        *text = now;
        *len = now_len;
    }
}

static void reload_failed(struct node *node, struct message_list *m, struct node_reload_result *out)
{
    node->reload_failures++;
    for (size_t i = 0; i < m->count; i++)
        log_error("%s", m->items[i]);
    log_error("reload refused; still serving version %" PRIu64, node->version);
    free(node->last_error);
    node->last_error = message_list_join(m);
    if (out != NULL) {
        out->errors = m->items;
        out->error_count = m->count;
        m->items = NULL;
        m->count = 0;
    }
    message_list_free(m);
}

/* The file says nothing new (text taken over): no new version, no
 * write-back, no publish, no push. The file is good, though: a failure it
 * showed before is over. The key file is no part of the config; a reload
 * reads it again (events.config_changed). */
static void reload_unchanged(struct node *node, char *text, size_t len)
{
    node_file_hash_set(node, text, len);
    free(text);
    node_failure_clear(node);
    event_config_changed(node);
    log_info("reload: %s holds nothing new (the config of version %" PRIu64 "): nothing published",
             node->config_path, node->version);
}

/* Write c's text over the operator's file (text: what was read, taken
 * over), then put c in force. */
static int reload_commit(struct node *node, char *text, size_t len, struct node_candidate *c,
                         struct message_list *errors)
{
    char err[1024];
    if (node_file_write(node, c->text, c->len, c->hash, err, sizeof(err)) < 0) {
        /* A read-only file (a mounted ConfigMap, say) still reloads: the
         * version lives on in memory and in the state directory, and the
         * next reload goes past it all the same. */
        log_warning("cannot write config_version %" PRIu64 " back to %s: %s",
                    c->cfg.server.config_version, node->config_path, err);
        node_file_hash_set(node, text, len);
    }
    free(text);
    if (node_commit(node, c, errors) < 0)
        return -1;
    node_failure_clear(node);
    log_info("reloaded: version %" PRIu64 ", %zu record%s in %zu zone%s", node->version,
             node->config.record_count, plural(node->config.record_count), node->config.zone_count,
             plural(node->config.zone_count));
    return 0;
}

int node_reload_text(struct node *node, char *text, size_t len, struct node_reload_result *out)
{
    struct message_list m = {0};
    struct node_candidate c;
    bool ok = false, unchanged = false;
    node_notify_reloading(node);

    /* The very bytes in force say nothing new, without parsing them again:
     * validating a large config takes seconds, and this is every reload of
     * an untouched file (nanoctl reload, SIGHUP, a peer's push written back).
     * With blocklists, only when every list file still holds the bytes
     * loaded (a hash of each, not a parse): one edited, or one that cannot
     * be read, goes through the whole load, which reads or refuses it. */
    bool same_bytes = node->config_text != NULL && len == node->config_len &&
                      memcmp(text, node->config_text, len) == 0 &&
                      config_blocklists_recheck(&node->config, NULL, NULL, 0) == CONFIG_LISTS_SAME;
    int prepared = same_bytes ? 1 : candidate_prepare_settled(node, &text, &len, &c, &m);
    if (prepared < 0) {
        node_file_hash_set(node, text, len); /* the poll reports it no more */
        node->config_invalid = true;
        free(text);
        reload_failed(node, &m, out);
    } else if (prepared > 0) {
        reload_unchanged(node, text, len);
        ok = unchanged = true;
    } else if (reload_commit(node, text, len, &c, &m) < 0) {
        reload_failed(node, &m, out);
    } else {
        ok = true;
    }

    if (out != NULL) {
        out->ok = ok;
        out->unchanged = unchanged;
        out->version = node->version;
        out->records = node->config.record_count;
    }
    node_notify_ready(node);
    if (ok && !unchanged && node->events.reloaded != NULL)
        node->events.reloaded(node->events.arg);
    return ok ? 0 : -1;
}

int node_reload(struct node *node, struct node_reload_result *out)
{
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    struct message_list m = {0};
    if (node->config_path[0] == '\0') {
        message_list_add(&m, "started without --config: there is no file to reload");
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
        message_list_addf(&m, "%s: cannot read: %s", node->config_path, err);
        node->config_invalid = true;
        reload_failed(node, &m, out);
        if (out != NULL) {
            out->version = node->version;
            out->records = node->config.record_count;
        }
        return -1;
    }
    return node_reload_text(node, text, len, out);
}

void node_reload_result_free(struct node_reload_result *result)
{
    for (size_t i = 0; i < result->error_count; i++)
        free(result->errors[i]);
    free(result->errors);
    memset(result, 0, sizeof(*result));
}
