/* Loading a config: the text checked (json_locate_check: strict RFC 8259),
 * its top level walked here and each member parsed on its own by json-c
 * (strict), the large "records" and "rewrites" arrays one element at a
 * time, so the cost grows with the data and no tree of the whole document
 * is ever held; then each section read by its own file (config_server.c,
 * config_zones.c, ...) and the checks across them run. Text that fails
 * the check is parsed whole as before, for the same syntax error. Every
 * finding is reported, an error does not stop the pass; any error and the
 * whole model is freed. See config.h. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_loader.h"

/* A syntax error: the whole text is refused at its first one. */
static void report_syntax(struct loader *ld, size_t offset, const char *message, const char *detail)
{
    unsigned line, column;
    char text[sizeof(((struct config_diag *)0)->message)];
    if (detail && strcmp(detail, message) != 0)
        snprintf(text, sizeof(text), "JSON syntax error: %s (%s)", message, detail);
    else
        snprintf(text, sizeof(text), "JSON syntax error: %s", message);
    json_locate_line_column(&ld->loc, offset, &line, &column);
    config_diags_add(ld->diags, CONFIG_ERROR, line, column, "", text);
}

/* Parse with json-c (RFC 8259, strict), then with json_locate_check for
 * what json-c's strict mode still lets through. NULL when refused; *ok
 * tells a refusal from the valid JSON text "null". */
static struct json_object *parse(struct loader *ld, const char *text, size_t len, bool *ok)
{
    *ok = false;
    if (len > INT_MAX) {
        config_diags_add(ld->diags, CONFIG_ERROR, 0, 0, "", "file too large");
        return NULL;
    }
    struct json_tokener *tok = json_tokener_new();
    if (!tok) {
        config_diags_add(ld->diags, CONFIG_ERROR, 0, 0, "", "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    struct json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error err = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);

    size_t check_offset;
    const char *check_message;
    int checked = json_locate_check(text, len, &check_offset, &check_message);
    if (err == json_tokener_continue) {
        /* json-c stops at the end of the text waiting for more; a lone
         * number or literal is complete, though, and only the wrong type. */
        if (checked == 0) {
            unsigned line, column;
            size_t top = json_locate(&ld->loc, NULL, 0, false);
            char c = top < len ? text[top] : '\0';
            json_locate_line_column(&ld->loc, top, &line, &column);
            config_diags_add(ld->diags, CONFIG_ERROR, line, column, "",
                             c == 'n' ? "the configuration must be a JSON object ({} is the "
                                        "smallest), not null"
                             : c == 't' || c == 'f' ? "the configuration must be a JSON object ({} "
                                                      "is the smallest), not a boolean"
                                                    : "the configuration must be a JSON object ({} "
                                                      "is the smallest), not a number");
            return NULL;
        }
        report_syntax(ld, check_offset, check_message, NULL);
        return NULL;
    }
    if (err != json_tokener_success) {
        const char *desc = json_tokener_error_desc(err);
        const char *nul = memchr(text, '\0', end < len ? end + 1 : len);
        if (nul)
            report_syntax(ld, (size_t)(nul - text), desc, "the file holds a NUL byte");
        else if (end == 0 && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
            report_syntax(ld, 0, desc,
                          "the file starts with a byte order mark, which JSON "
                          "does not allow: RFC 8259 §8.1");
        else
            report_syntax(ld, end, desc, checked < 0 && check_offset == end ? check_message : NULL);
        json_object_put(root);
        return NULL;
    }
    if (checked < 0) {
        report_syntax(ld, check_offset, check_message, NULL);
        json_object_put(root);
        return NULL;
    }
    *ok = true;
    return root;
}

/* A loader for text, cfg emptied. */
static void loader_begin(struct loader *ld, const char *text, size_t len, const char *config_path,
                         struct config *cfg, struct config_diags *diags)
{
    memset(ld, 0, sizeof(*ld));
    memset(cfg, 0, sizeof(*cfg));
    ld->cfg = cfg;
    ld->diags = diags;
    ld->config_path = config_path;
    json_locator_init(&ld->loc, text, len);
}

static void loader_end(struct loader *ld)
{
    for (size_t i = 0; i < ld->top_count; i++)
        free(ld->top_members[i].key);
    free(ld->top_members);
    free(ld->record_index);
    free(ld->record_offset);
    free(ld->record_ok);
    json_locator_free(&ld->loc);
}

/* The members of the top-level object, as json_locate_check_members
 * found them in its pass over the text. */
struct top_spans {
    struct top_span {
        size_t key, value, end;
    } * items;
    size_t count, capacity;
    bool out_of_memory;
};

static void top_span_add(void *context, size_t key, size_t value, size_t end)
{
    struct top_spans *spans = context;
    if (spans->count == spans->capacity) {
        size_t capacity = spans->capacity ? spans->capacity * 2 : 8;
        struct top_span *more = realloc(spans->items, capacity * sizeof(*more));
        if (!more) {
            spans->out_of_memory = true;
            return;
        }
        spans->items = more;
        spans->capacity = capacity;
    }
    spans->items[spans->count++] = (struct top_span){key, value, end};
}

/* The top level of text that passed json_locate_check, from its members'
 * spans: each member's value parsed on its own by json-c, except the
 * "records" and "rewrites" arrays, which get an empty array in the root
 * as a placeholder and are read element by element later
 * (config_records_load_text). With duplicate names the last one counts,
 * as in json-c. NULL when json-c refuses a value (reported). */
static struct json_object *root_from_members(struct loader *ld, size_t top,
                                             const struct top_spans *spans)
{
    const char *text = ld->loc.text;
    size_t len = ld->loc.len;
    struct json_object *root = json_object_new_object();
    ld->top_offset = top;
    ld->top_members = calloc(spans->count ? spans->count : 1, sizeof(*ld->top_members));
    if (!root || !ld->top_members) {
        config_diags_add(ld->diags, CONFIG_ERROR, 0, 0, "", "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < spans->count; i++) {
        size_t key_offset = spans->items[i].key, value = spans->items[i].value;
        size_t key_len = json_locate_decode_string(&ld->loc, key_offset, NULL, 0);
        char *key = malloc(key_len + 1);
        if (!key) {
            config_diags_add(ld->diags, CONFIG_ERROR, 0, 0, "", "out of memory");
            goto fail;
        }
        json_locate_decode_string(&ld->loc, key_offset, key, key_len);
        key[key_len] = '\0'; /* json-c cuts a key at a NUL too */
        ld->top_members[ld->top_count++] = (struct loader_member){key, key_len, key_offset, value};
        struct loader_array *streamed = strcmp(key, "records") == 0    ? &ld->records_text
                                        : strcmp(key, "rewrites") == 0 ? &ld->rewrites_text
                                                                       : NULL;
        struct json_object *v;
        if (streamed && text[value] == '[') {
            streamed->present = true;
            streamed->offset = value;
            v = json_object_new_array();
            if (!v) {
                config_diags_add(ld->diags, CONFIG_ERROR, 0, 0, "", "out of memory");
                goto fail;
            }
        } else {
            size_t end, bad;
            const char *why;
            if (json_parse_value_at(text, len, value, 1, &v, &end, &bad, &why) < 0) {
                report_syntax(ld, bad, why, NULL);
                goto fail;
            }
            if (streamed)
                streamed->present = false; /* a later one that is no array wins */
        }
        json_object_object_add(root, key, v);
    }
    return root;
fail:
    json_object_put(root);
    return NULL;
}

/* The parsed text, over the defaults: NULL when it is refused (reported),
 * or not an object (reported too, *root kept for the caller to put).
 * Text that is a JSON object and passes json_locate_check is walked
 * member by member (root_from_members), its large arrays left in the
 * text; anything else is parsed whole, as it is either small or wrong,
 * and the error json-c and json_locate_check report for it is the one
 * shown. */
static struct json_object *load_root(struct loader *ld, const char *text, size_t len,
                                     struct json_object **root)
{
    size_t bad;
    const char *why;
    size_t top = json_skip_whitespace(text, len, 0);
    struct top_spans spans = {0};
    if (len <= INT_MAX && top < len && text[top] == '{' &&
        json_locate_check_members(text, len, &bad, &why, top_span_add, &spans) == 0) {
        *root = NULL;
        if (spans.out_of_memory)
            config_diags_add(ld->diags, CONFIG_ERROR, 0, 0, "", "out of memory");
        else
            *root = root_from_members(ld, top, &spans);
        free(spans.items);
        if (!*root || config_server_defaults(ld, &ld->cfg->server) < 0)
            return NULL;
        return *root;
    }
    free(spans.items);
    bool parsed;
    *root = parse(ld, text, len, &parsed);
    if (!parsed || config_server_defaults(ld, &ld->cfg->server) < 0)
        return NULL;
    if (json_object_get_type(*root) != json_type_object) {
        loader_report(ld, CONFIG_ERROR, false,
                      "the configuration must be a JSON object ({} is the smallest), not %s",
                      loader_type_name(*root));
        return NULL;
    }
    return *root;
}

/* A top-level section, read with the path at its key. */
static void load_section(struct loader *ld, struct json_object *root, const char *key,
                         void (*load)(struct loader *ld, struct json_object *section))
{
    struct json_object *v;
    if (!json_object_object_get_ex(root, key, &v))
        return;
    loader_push_key(ld, key);
    load(ld, v);
    loader_pop(ld);
}

/* A top-level array left in the text, read element by element. */
static void load_section_text(struct loader *ld, const char *key, void (*load)(struct loader *ld))
{
    if (ld->syntax_failed)
        return;
    loader_push_key(ld, key);
    load(ld);
    loader_pop(ld);
}

static void load_sections(struct loader *ld, struct json_object *root)
{
    loader_check_object(ld, root, CONFIG_TOP_KEYS, COUNT(CONFIG_TOP_KEYS));
    load_section(ld, root, "server", config_server_load);
    /* The upstreams once the server section is read (present or not):
     * upstream_port may come after them. */
    config_upstreams_finish(ld);
    load_section(ld, root, "zones", config_zones_load);
    if (ld->records_text.present)
        load_section_text(ld, "records", config_records_load_text);
    else
        load_section(ld, root, "records", config_records_load);
    if (ld->rewrites_text.present)
        load_section_text(ld, "rewrites", config_rewrites_load_text);
    else
        load_section(ld, root, "rewrites", config_rewrites_load);
    load_section(ld, root, "allowlist", config_allowlist_load);
    load_section(ld, root, "blocklists", config_blocklists_load);
}

/* The findings from first on dropped but the syntax error that stopped
 * the load: a document json-c refuses gets that one error, as when it was
 * parsed whole. */
static void keep_only_syntax_error(struct config_diags *d, size_t first, size_t errors_before)
{
    struct config_diag last = d->items[d->count - 1];
    d->count = first;
    d->errors = errors_before;
    config_diags_add(d, last.severity, last.line, last.column, last.path, last.message);
}

/* The checks across records and zones; the targets of zones.<zone>.ns
 * only when no error came before (a list that did not load whole would
 * make them wrong). */
static void check_across(struct loader *ld, size_t errors_before)
{
    struct zone_ref *zones = config_check_zones(ld);
    if (zones) {
        config_check_records(ld, zones);
        config_check_outside_zones(ld, zones);
        config_check_targets(ld, zones, ld->diags->errors == errors_before);
    }
    free(zones);
}

int config_load_buffer(const char *text, size_t len, struct config *cfg, struct config_diags *diags)
{
    return config_load_buffer_at(text, len, NULL, cfg, diags);
}

int config_load_buffer_at(const char *text, size_t len, const char *config_path, struct config *cfg,
                          struct config_diags *diags)
{
    struct loader ld;
    loader_begin(&ld, text, len, config_path, cfg, diags);
    size_t errors = diags->errors, first_diag = diags->count;
    size_t warnings = diags->warnings;
    struct json_object *root;
    if (load_root(&ld, text, len, &root)) {
        load_sections(&ld, root);
        if (ld.syntax_failed) {
            diags->warnings = warnings;
            keep_only_syntax_error(diags, first_diag, errors);
        } else {
            check_across(&ld, errors);
            struct config_digest_part parts[2];
            size_t part_count = 0;
            if (ld.records_text.present)
                parts[part_count++] =
                    (struct config_digest_part){"records", ld.records_text.digest};
            if (ld.rewrites_text.present)
                parts[part_count++] =
                    (struct config_digest_part){"rewrites", ld.rewrites_text.digest};
            config_digest_parts(root, parts, part_count, cfg->digest);
            if (ld.lists_read) {
                /* The list files are part of what this node serves: an
                 * edit of one alone is a new config to reload. */
                crypto_generichash_state st;
                crypto_generichash_init(&st, NULL, 0, CONFIG_DIGEST_SIZE);
                crypto_generichash_update(&st, cfg->digest, CONFIG_DIGEST_SIZE);
                crypto_generichash_update(&st, ld.lists_digest, CONFIG_DIGEST_SIZE);
                crypto_generichash_final(&st, cfg->digest, CONFIG_DIGEST_SIZE);
            }
            config_blocklists_digest(cfg, cfg->blocklist_digest);
        }
    }
    json_object_put(root);
    loader_end(&ld);
    config_diags_sort(diags, first_diag);
    if (diags->errors != errors) {
        config_free(cfg);
        return -1;
    }
    return 0;
}

/* The whole file at path into *text (malloc'd); a failure is one error
 * with line 0. */
static int file_read(const char *path, char **text_out, size_t *len_out, struct config_diags *diags)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        char message[sizeof(((struct config_diag *)0)->message)];
        snprintf(message, sizeof(message), "cannot open: %s", strerror(errno));
        config_diags_add(diags, CONFIG_ERROR, 0, 0, "", message);
        return -1;
    }
    /* Read to the end rather than trusting st_size: pipes and /proc files
     * have none. */
    size_t len = 0, cap = 65536;
    char *text = malloc(cap);
    int saved = 0;
    for (;;) {
        if (!text) {
            saved = ENOMEM;
            break;
        }
        if (len == cap) {
            char *bigger = cap <= SIZE_MAX / 2 ? realloc(text, cap * 2) : NULL;
            if (!bigger) {
                saved = ENOMEM;
                break;
            }
            text = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, text + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            saved = errno;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (saved != 0) {
        char message[sizeof(((struct config_diag *)0)->message)];
        snprintf(message, sizeof(message), "cannot read: %s", strerror(saved));
        config_diags_add(diags, CONFIG_ERROR, 0, 0, "", message);
        free(text);
        return -1;
    }
    *text_out = text;
    *len_out = len;
    return 0;
}

int config_load_file(const char *path, struct config *cfg, struct config_diags *diags)
{
    memset(cfg, 0, sizeof(*cfg));
    char *text;
    size_t len;
    if (file_read(path, &text, &len, diags) < 0)
        return -1;
    int rc = config_load_buffer_at(text, len, path, cfg, diags);
    free(text);
    return rc;
}

int config_load_management(const char *path, struct config *cfg, struct config_diags *diags)
{
    memset(cfg, 0, sizeof(*cfg));
    char *text;
    size_t len;
    if (file_read(path, &text, &len, diags) < 0)
        return -1;
    struct loader ld;
    loader_begin(&ld, text, len, path, cfg, diags);
    size_t errors = diags->errors;
    struct json_object *root, *server;
    if (load_root(&ld, text, len, &root) && json_object_object_get_ex(root, "server", &server)) {
        loader_push_key(&ld, "server");
        if (json_object_get_type(server) != json_type_object) {
            loader_report_type(&ld, server, "an object");
        } else {
            config_server_load_mgmt(&ld, server);
            config_peers_load_sync_key(&ld, server);
        }
        loader_pop(&ld);
    }
    json_object_put(root);
    loader_end(&ld);
    free(text);
    if (diags->errors != errors) {
        config_free(cfg);
        return -1;
    }
    return 0;
}

void config_free(struct config *cfg)
{
    config_server_free(&cfg->server);
    for (size_t i = 0; i < cfg->zone_count; i++)
        config_zone_free(&cfg->zones[i]);
    free(cfg->zones);
    free(cfg->records);
    config_pool_free(&cfg->pool);
    free(cfg->rewrites);
    for (size_t i = 0; i < cfg->blocklist_count; i++)
        free(cfg->blocklists[i].path);
    free(cfg->blocklists);
    free(cfg->list_entries);
    free(cfg->allowlist);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- the record pool ---- */

/* Big enough that a million records take a few dozen blocks; a block is
 * larger only for an item that would not fit (RDATA is at most 64 KiB). */
#define POOL_BLOCK_SIZE (1u << 20)

struct config_pool_block {
    struct config_pool_block *next;
    uint8_t data[];
};

const uint8_t *config_pool_add(struct config_pool *pool, const void *data, size_t len)
{
    if (!pool->blocks || pool->capacity - pool->used < len) {
        size_t capacity = len > POOL_BLOCK_SIZE ? len : POOL_BLOCK_SIZE;
        struct config_pool_block *b = malloc(sizeof(*b) + capacity);
        if (!b)
            return NULL;
        b->next = pool->blocks;
        pool->blocks = b;
        pool->used = 0;
        pool->capacity = capacity;
    }
    uint8_t *at = pool->blocks->data + pool->used;
    if (len > 0)
        memcpy(at, data, len);
    pool->used += len;
    return at;
}

void config_pool_free(struct config_pool *pool)
{
    while (pool->blocks) {
        struct config_pool_block *next = pool->blocks->next;
        free(pool->blocks);
        pool->blocks = next;
    }
    pool->used = pool->capacity = 0;
}
