/* The top-level "blocklists" (list files, node-local, read line by line
 * with common/blocklist.c: memory for the names they give, never for the
 * file) and "allowlist" (names no list or rewrite blocks); the digests of
 * the lists in force and the hot-reload poll's second reading of them. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blocklist.h"
#include "config_loader.h"

/* Line numbers a warning names before "...". */
#define SKIPPED_SHOWN CONFIG_LIST_SKIPPED_SHOWN

/* The read size of config_blocklist_file_digest. */
#define DIGEST_CHUNK 65536

/* One list file being read. */
struct list_read {
    struct loader *ld;
    struct config_blocklist *list;
};

static int list_entry_add(void *context, const uint8_t *name, size_t len, bool allow)
{
    struct list_read *r = context;
    struct loader *ld = r->ld;
    struct config *cfg = ld->cfg;
    if (cfg->list_entry_count == ld->list_entry_capacity) {
        size_t capacity = ld->list_entry_capacity ? ld->list_entry_capacity * 2 : 1024;
        struct config_list_entry *more = realloc(cfg->list_entries, capacity * sizeof(*more));
        if (!more)
            return -1;
        cfg->list_entries = more;
        ld->list_entry_capacity = capacity;
    }
    const uint8_t *kept = config_pool_add(&cfg->pool, name, len);
    if (!kept)
        return -1;
    cfg->list_entries[cfg->list_entry_count++] =
        (struct config_list_entry){kept, (uint8_t)len, allow};
    r->list->entries++;
    return 0;
}

static void list_line_skipped(void *context, unsigned long line)
{
    struct list_read *r = context;
    if (r->list->skipped < SKIPPED_SHOWN)
        r->list->skipped_lines[r->list->skipped] = line;
    r->list->skipped++;
}

/* path as written, against the config file's folder when relative. */
static char *list_path_resolve(const struct loader *ld, const char *path, size_t len)
{
    size_t dir_len = 0;
    if (path[0] != '/' && ld->config_path != NULL && strrchr(ld->config_path, '/') != NULL)
        dir_len = (size_t)(strrchr(ld->config_path, '/') - ld->config_path) + 1;
    char *out = malloc(dir_len + len + 1);
    if (!out)
        return NULL;
    memcpy(out, ld->config_path ? ld->config_path : "", dir_len);
    memcpy(out + dir_len, path, len);
    out[dir_len + len] = '\0';
    return out;
}

/* The list file at path for reading, or NULL with the reason in *why
 * (an errno; EINVAL: not a regular file). Regular files only, opened
 * without blocking: a FIFO or a device (/dev/zero: one endless line) would
 * hang or fill the load, and the hot-reload poll that reads it again. */
static FILE *list_file_open(const char *path, int *why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    int saved = fd < 0 ? errno : fstat(fd, &st) < 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : 0;
    FILE *f = saved == 0 ? fdopen(fd, "r") : NULL;
    if (!f) {
        if (saved == 0)
            saved = errno;
        if (fd >= 0)
            close(fd);
    }
    *why = saved;
    return f;
}

/* "cannot open the list file "PATH": WHY", as the loader and the poll say it. */
static void list_open_message(char *out, size_t out_len, const char *path, int why)
{
    char q[QUOTE_CAP];
    snprintf(out, out_len, "cannot open the list file %s: %s", quote_text(q, path, strlen(path)),
             why == EINVAL ? "not a regular file" : strerror(why));
}

/* The file at list->path into cfg->list_entries, the digest of its bytes
 * into list->digest. Reported at the current path ("blocklists[i].path"). */
static void list_file_read(struct loader *ld, struct config_blocklist *list, const char *as_written)
{
    char q[QUOTE_CAP];
    int why;
    FILE *f = list_file_open(list->path, &why);
    if (!f) {
        char message[sizeof(((struct config_diag *)0)->message)];
        list_open_message(message, sizeof(message), list->path, why);
        loader_report(ld, CONFIG_ERROR, false, "%s", message);
        return;
    }
    struct list_read r = {.ld = ld, .list = list};
    struct blocklist_sink sink = {&r, list_entry_add, list_line_skipped};
    struct blocklist_parser parser;
    blocklist_parser_init(&parser, list->format, &sink);
    crypto_generichash_state content;
    crypto_generichash_init(&content, NULL, 0, CONFIG_DIGEST_SIZE);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    errno = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        crypto_generichash_update(&content, (const unsigned char *)line, (size_t)n);
        rc = blocklist_parse_line(&parser, line, (size_t)n);
    }
    int read_errno = rc == 0 && ferror(f) ? errno : 0;
    free(line);
    fclose(f);
    crypto_generichash_final(&content, list->digest, CONFIG_DIGEST_SIZE);
    if (rc < 0) {
        loader_out_of_memory(ld);
        return;
    }
    if (read_errno != 0) {
        loader_report(ld, CONFIG_ERROR, false, "cannot read the list file %s: %s",
                      quote_text(q, list->path, strlen(list->path)), strerror(read_errno));
        return;
    }
    if (list->skipped > 0) {
        char lines[128] = "";
        size_t at = 0, shown = list->skipped < SKIPPED_SHOWN ? list->skipped : SKIPPED_SHOWN;
        for (size_t i = 0; i < shown && at < sizeof(lines); i++)
            at += (size_t)snprintf(lines + at, sizeof(lines) - at, "%s%lu", i ? ", " : "",
                                   list->skipped_lines[i]);
        loader_report(ld, CONFIG_WARNING, false, "%s: %zu line%s skipped, not a name (line%s %s%s)",
                      as_written, list->skipped, list->skipped == 1 ? "" : "s",
                      shown == 1 ? "" : "s", lines, list->skipped > shown ? ", ..." : "");
    }
}

/* blocklists[index]: {"path": ..., "format": ...}. */
static void blocklist_load(struct loader *ld, struct json_object *obj, size_t index,
                           crypto_generichash_state *hash)
{
    struct config *cfg = ld->cfg;
    (void)index;
    if (json_object_get_type(obj) != json_type_object) {
        loader_report_type(ld, obj, "an object");
        return;
    }
    loader_check_object(ld, obj, CONFIG_BLOCKLIST_KEYS, COUNT(CONFIG_BLOCKLIST_KEYS));
    size_t errors = ld->diags->errors;
    char q[QUOTE_CAP];
    const char *s;
    size_t n;
    enum blocklist_format format = BLOCKLIST_DOMAINS;
    int rc = loader_read_string_pushed(ld, obj, "format", true, &s, &n);
    if (rc == 1 && blocklist_format_parse(s, &format) < 0)
        loader_report(ld, CONFIG_ERROR, false,
                      "list format %s is not \"domains\", \"hosts\" or \"adblock\"",
                      quote_text(q, s, n));
    if (rc != 0)
        loader_pop(ld);

    rc = loader_read_string_pushed(ld, obj, "path", true, &s, &n);
    if (rc == 0) {
        loader_report_missing(ld, "path");
        return;
    }
    if (rc == 1 && n == 0)
        loader_report(ld, CONFIG_ERROR, false, "an empty path names no list file");
    if (rc == 1 && ld->diags->errors == errors) {
        struct config_blocklist *list = &cfg->blocklists[cfg->blocklist_count];
        *list = (struct config_blocklist){.path = list_path_resolve(ld, s, n), .format = format};
        if (!list->path) {
            loader_out_of_memory(ld);
        } else {
            cfg->blocklist_count++;
            list_file_read(ld, list, quote_text(q, s, n));
            /* Where, how and what: an edit of any of them is a new config. */
            crypto_generichash_update(hash, (const unsigned char *)list->path,
                                      strlen(list->path) + 1);
            crypto_generichash_update(hash, (const unsigned char *)&format, sizeof(format));
            crypto_generichash_update(hash, list->digest, CONFIG_DIGEST_SIZE);
        }
    }
    loader_pop(ld);
}

void config_blocklists_load(struct loader *ld, struct json_object *blocklists)
{
    struct config *cfg = ld->cfg;
    if (json_object_get_type(blocklists) != json_type_array) {
        loader_report_type(ld, blocklists, "an array of list objects");
        return;
    }
    size_t count = json_object_array_length(blocklists);
    cfg->blocklists = calloc(count ? count : 1, sizeof(*cfg->blocklists));
    if (!cfg->blocklists) {
        loader_out_of_memory(ld);
        return;
    }
    crypto_generichash_state hash;
    crypto_generichash_init(&hash, NULL, 0, CONFIG_DIGEST_SIZE);
    for (size_t i = 0; i < count; i++) {
        loader_push_index(ld, i);
        blocklist_load(ld, json_object_array_get_idx(blocklists, i), i, &hash);
        loader_pop(ld);
    }
    crypto_generichash_final(&hash, ld->lists_digest, CONFIG_DIGEST_SIZE);
    ld->lists_read = true;
}

void config_allowlist_load(struct loader *ld, struct json_object *allowlist)
{
    struct config *cfg = ld->cfg;
    if (json_object_get_type(allowlist) != json_type_array) {
        loader_report_type(ld, allowlist, "an array of names");
        return;
    }
    size_t count = json_object_array_length(allowlist);
    cfg->allowlist = calloc(count ? count : 1, sizeof(*cfg->allowlist));
    if (!cfg->allowlist) {
        loader_out_of_memory(ld);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        struct json_object *v = json_object_array_get_idx(allowlist, i);
        loader_push_index(ld, i);
        if (json_object_get_type(v) != json_type_string) {
            loader_report_type(ld, v, "a name");
        } else {
            char q[QUOTE_CAP];
            const char *s = json_object_get_string(v);
            size_t n = (size_t)json_object_get_string_len(v);
            struct config_rewrite *a = &cfg->allowlist[cfg->allowlist_count];
            const char *name = s;
            a->below = false;
            if (n >= 2 && s[0] == '*' && s[1] == '.') {
                a->below = true;
                name = s + 2;
            }
            if (memchr(s, '\0', n) || strchr(name, '*'))
                loader_report(ld, CONFIG_ERROR, false,
                              "%s: '*' is only allowed as a whole first label (\"*.example.com\" "
                              "allows every name at or below example.com)",
                              quote_text(q, s, n));
            else if (loader_name_from_text(ld, name, a->name, &a->name_len, false) == 0)
                cfg->allowlist_count++;
        }
        loader_pop(ld);
    }
}

/* ---- digests (config.h) ---- */

static void digest_count(crypto_generichash_state *st, uint64_t n)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(n >> (8 * i));
    crypto_generichash_update(st, le, sizeof(le));
}

void config_blocklists_digest(const struct config *cfg, uint8_t out[CONFIG_DIGEST_SIZE])
{
    static const char context[] = "nanodns-blocklists-v1";
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, CONFIG_DIGEST_SIZE);
    crypto_generichash_update(&st, (const unsigned char *)context, sizeof(context));
    digest_count(&st, cfg->blocklist_count);
    for (size_t i = 0; i < cfg->blocklist_count; i++) {
        uint8_t format = (uint8_t)cfg->blocklists[i].format;
        crypto_generichash_update(&st, &format, 1);
        crypto_generichash_update(&st, cfg->blocklists[i].digest, CONFIG_DIGEST_SIZE);
    }
    digest_count(&st, cfg->allowlist_count);
    for (size_t i = 0; i < cfg->allowlist_count; i++) {
        const struct config_rewrite *a = &cfg->allowlist[i];
        /* Names compare without regard to case: so do the digests. Length
         * octets are below 64, never an upper-case letter. */
        uint8_t entry[2 + WIRE_NAME_MAX];
        entry[0] = a->below;
        entry[1] = a->name_len;
        for (size_t j = 0; j < a->name_len; j++) {
            uint8_t c = a->name[j];
            entry[2 + j] = c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
        }
        crypto_generichash_update(&st, entry, 2 + (size_t)a->name_len);
    }
    crypto_generichash_final(&st, out, CONFIG_DIGEST_SIZE);
}

int config_blocklist_file_digest(const char *path, uint8_t out[CONFIG_DIGEST_SIZE], char *err,
                                 size_t err_len)
{
    int why;
    FILE *f = list_file_open(path, &why);
    if (!f) {
        if (err != NULL)
            list_open_message(err, err_len, path, why);
        return -1;
    }
    unsigned char *chunk = malloc(DIGEST_CHUNK);
    if (chunk == NULL) {
        fclose(f);
        if (err != NULL)
            snprintf(err, err_len, "out of memory");
        return -1;
    }
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, CONFIG_DIGEST_SIZE);
    size_t n;
    while ((n = fread(chunk, 1, DIGEST_CHUNK, f)) > 0)
        crypto_generichash_update(&st, chunk, n);
    int read_errno = ferror(f) ? errno : 0;
    free(chunk);
    fclose(f);
    if (read_errno != 0) {
        if (err != NULL) {
            char q[QUOTE_CAP];
            snprintf(err, err_len, "cannot read the list file %s: %s",
                     quote_text(q, path, strlen(path)), strerror(read_errno));
        }
        return -1;
    }
    crypto_generichash_final(&st, out, CONFIG_DIGEST_SIZE);
    return 0;
}

enum config_lists_state config_blocklists_recheck(const struct config *cfg,
                                                  uint8_t now[CONFIG_DIGEST_SIZE], char *err,
                                                  size_t err_len)
{
    crypto_generichash_state all;
    crypto_generichash_init(&all, NULL, 0, CONFIG_DIGEST_SIZE);
    enum config_lists_state state = CONFIG_LISTS_SAME;
    for (size_t i = 0; i < cfg->blocklist_count; i++) {
        uint8_t digest[CONFIG_DIGEST_SIZE];
        if (config_blocklist_file_digest(cfg->blocklists[i].path, digest, err, err_len) < 0)
            return CONFIG_LISTS_UNREADABLE;
        crypto_generichash_update(&all, digest, sizeof(digest));
        if (memcmp(digest, cfg->blocklists[i].digest, sizeof(digest)) != 0)
            state = CONFIG_LISTS_CHANGED;
    }
    if (now != NULL)
        crypto_generichash_final(&all, now, CONFIG_DIGEST_SIZE);
    return state;
}
