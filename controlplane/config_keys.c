/* The keys each object of the format may have (the schema the man page
 * documents), and the check of an object's members against them: unknown
 * keys with a suggestion, duplicate keys, keys holding a NUL. */
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_loader.h"
#include "wire.h"

const char *const CONFIG_TOP_KEYS[] = {"server",   "zones",      "records",
                                       "rewrites", "blocklists", "allowlist"};
const char *const CONFIG_SERVER_KEYS[] = {"host",
                                          "port",
                                          "upstream",
                                          "upstream_timeout",
                                          "upstream_port",
                                          "cache_enabled",
                                          "cache_ttl",
                                          "cache_size",
                                          "log_level",
                                          "log_queries",
                                          "hot_reload",
                                          "mgmt_host",
                                          "mgmt_port",
                                          "peers",
                                          "sync_key",
                                          "config_version",
                                          "edns_payload",
                                          "tcp_idle_timeout",
                                          "tcp_max_connections",
                                          "user",
                                          "forward_zones",
                                          "max_inflight",
                                          "allow_recursion",
                                          "allow_query",
                                          "log_format",
                                          "rrl_ratelimit",
                                          "rrl_slip",
                                          "workers",
                                          "block_response",
                                          "serve_stale",
                                          "local_zones",
                                          "domain_needed",
                                          "search_domain",
                                          "auto_ptr",
                                          "rebind_protection"};

const char *const CONFIG_PEER_KEYS[] = {"address", "public_key"};

const char *const CONFIG_ZONE_KEYS[] = {"soa", "ns"};
const char *const CONFIG_SOA_KEYS[] = {"mname", "rname",  "serial", "refresh",
                                       "retry", "expire", "minimum"};

const char *const CONFIG_RECORD_KEYS[] = {"name",     "type",     "value",  "ttl",
                                          "priority", "weight",   "port",   "flags",
                                          "tag",      "wildcard", "comment"};

const char *const CONFIG_REWRITE_KEYS[] = {"match", "action", "comment"};

const char *const CONFIG_BLOCKLIST_KEYS[] = {"path", "format"};

/* Every table loader_check_object is given: what the man page must
 * document (tests/unit/test_config.c checks nanodns.8 against it). */
static const struct config_key_table KEY_TABLES[] = {
    {"", CONFIG_TOP_KEYS, COUNT(CONFIG_TOP_KEYS)},
    {"server", CONFIG_SERVER_KEYS, COUNT(CONFIG_SERVER_KEYS)},
    {"server.peers[]", CONFIG_PEER_KEYS, COUNT(CONFIG_PEER_KEYS)},
    {"blocklists[]", CONFIG_BLOCKLIST_KEYS, COUNT(CONFIG_BLOCKLIST_KEYS)},
    {"zones.<zone>", CONFIG_ZONE_KEYS, COUNT(CONFIG_ZONE_KEYS)},
    {"zones.<zone>.soa", CONFIG_SOA_KEYS, COUNT(CONFIG_SOA_KEYS)},
    {"records[]", CONFIG_RECORD_KEYS, COUNT(CONFIG_RECORD_KEYS)},
    {"rewrites[]", CONFIG_REWRITE_KEYS, COUNT(CONFIG_REWRITE_KEYS)},
};

const struct config_key_table *config_key_tables(size_t *count)
{
    *count = COUNT(KEY_TABLES);
    return KEY_TABLES;
}

/* ---- checking an object's keys ---- */

static unsigned edit_distance(const char *a, const char *b)
{
    /* Levenshtein, case-insensitive; keys are short, anything long is far */
    size_t la = strlen(a), lb = strlen(b);
    unsigned row[65];
    if (la > 64 || lb > 64)
        return UINT_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diagonal = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned above = row[j];
            unsigned cost = wire_lower((uint8_t)a[i - 1]) == wire_lower((uint8_t)b[j - 1]) ? 0 : 1;
            unsigned best = diagonal + cost;
            if (above + 1 < best)
                best = above + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[lb];
}

static const char *suggest_key(const char *key, const char *const *allowed, size_t count)
{
    const char *best = NULL;
    unsigned best_distance = 3; /* suggest at distance 2 or less */
    for (size_t i = 0; i < count; i++) {
        unsigned d = edit_distance(key, allowed[i]);
        /* a key must keep something of the one it was meant to be: "x"
         * is no typo of "ns" */
        if (d < best_distance && d < strlen(key) && d < strlen(allowed[i])) {
            best = allowed[i];
            best_distance = d;
        }
    }
    if (best)
        return best;
    /* "upstream_time" is the start of "upstream_timeout"; failing that,
     * "ttl_seconds" starts with "ttl" (the longest such key wins) */
    size_t len = strlen(key), best_len = 0;
    if (len < 3)
        return NULL;
    for (size_t i = 0; i < count; i++)
        if (strncasecmp(key, allowed[i], len) == 0)
            return allowed[i];
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(allowed[i]);
        if (n >= 3 && n > best_len && strncasecmp(key, allowed[i], n) == 0) {
            best = allowed[i];
            best_len = n;
        }
    }
    return best;
}

struct member_name {
    char *name;
    size_t len;
    size_t offset;
};

static int member_name_compare(const void *a, const void *b)
{
    const struct member_name *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);
    if (c != 0)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* RFC 8259 §4 leaves duplicate member names to the parser: json-c and
 * Python keep the last one silently, so a second "ttl" or a second
 * "records" would hide the first. We refuse them. */
static void report_duplicate_keys(struct loader *ld, size_t object_offset, size_t count)
{
    struct member_name *names = calloc(count, sizeof(*names));
    if (!names) {
        loader_out_of_memory(ld);
        return;
    }
    size_t n = 0, cursor = object_offset, key_offset;
    while (n < count && json_locate_next_member(&ld->loc, &cursor, &key_offset)) {
        size_t len = json_locate_decode_string(&ld->loc, key_offset, NULL, 0);
        names[n].name = malloc(len + 1);
        if (!names[n].name) {
            loader_out_of_memory(ld);
            goto out;
        }
        json_locate_decode_string(&ld->loc, key_offset, names[n].name, len);
        names[n].name[len] = '\0';
        names[n].len = len;
        names[n].offset = key_offset;
        n++;
    }
    qsort(names, n, sizeof(*names), member_name_compare);
    for (size_t i = 0; i + 1 < n; i++) {
        if (member_name_compare(&(struct member_name){names[i].name, names[i].len, 0},
                                &(struct member_name){names[i + 1].name, names[i + 1].len, 0}) != 0)
            continue;
        /* names[i] is followed by a later occurrence; the last one is at the
         * end of the run. */
        size_t last = i + 1;
        while (last + 1 < n && names[last + 1].len == names[i].len &&
               memcmp(names[last + 1].name, names[i].name, names[i].len) == 0)
            last++;
        unsigned line, column;
        json_locate_line_column(&ld->loc, names[last].offset, &line, &column);
        char q[QUOTE_CAP];
        quote_text(q, names[i].name, names[i].len);
        for (size_t k = i; k < last; k++) {
            loader_push_key_len(ld, names[k].name, names[k].len);
            loader_report_at(
                ld, CONFIG_ERROR, names[k].offset,
                "duplicate key %s (again at %u:%u; JSON parsers would silently keep only "
                "the last one)",
                q, line, column);
            loader_pop(ld);
        }
        i = last;
    }
out:
    for (size_t i = 0; i < count; i++)
        free(names[i].name);
    free(names);
}

/* Whether the key whose quote is at offset may hold a \u0000: only one
 * written with an escape can, so that the exact check (which decodes)
 * runs only then. */
static bool key_may_hold_nul(const struct json_locator *loc, size_t offset)
{
    size_t end = json_skip_string(loc->text, loc->len, offset);
    return memchr(loc->text + offset, '\\', end - offset) != NULL;
}

/* Check the members of the object at the current path: unknown keys (with
 * a suggestion; no key is unknown when allowed is NULL) and duplicate
 * keys. Returns the object's offset. */
size_t loader_check_object(struct loader *ld, struct json_object *obj, const char *const *allowed,
                           size_t allowed_count)
{
    bool found;
    size_t offset = loader_locate(ld, false, &found);
    json_object_object_foreach(obj, key, value)
    {
        (void)value;
        if (!allowed)
            break;
        bool known = false;
        for (size_t i = 0; i < allowed_count && !known; i++)
            known = key[0] == allowed[i][0] && strcmp(key, allowed[i]) == 0;
        if (known)
            continue;
        char q[QUOTE_CAP];
        quote_text(q, key, strlen(key));
        const char *hint = suggest_key(key, allowed, allowed_count);
        loader_push_key(ld, key);
        if (hint)
            loader_report(ld, CONFIG_ERROR, true, "unknown key %s (did you mean \"%s\"?)", q, hint);
        else
            loader_report(ld, CONFIG_ERROR, true, "unknown key %s", q);
        loader_pop(ld);
    }
    /* An object whose own key json-c cut short (see below) is not found
     * in the text; its members are not looked at there, then. */
    if (!found)
        return offset;
    size_t members = 0, cursor = offset, key_offset;
    /* the top level as config_load walked it: its members are known, and
     * walking them again would skip the large arrays again */
    bool top = ld->depth == 0 && ld->top_members;
    while (top ? members < ld->top_count
               : json_locate_next_member(&ld->loc, &cursor, &key_offset)) {
        if (top)
            key_offset = ld->top_members[members].key_offset;
        members++;
        /* json-c cuts such a key short: "ttl\u0000x" would pass as "ttl" */
        if (key_may_hold_nul(&ld->loc, key_offset) &&
            json_locate_string_has_nul(&ld->loc, key_offset)) {
            char key[QUOTE_MAX];
            size_t len = json_locate_decode_string(&ld->loc, key_offset, key, sizeof(key));
            loader_push_key_len(ld, key, len < sizeof(key) ? len : sizeof(key));
            loader_report_at(ld, CONFIG_ERROR, key_offset,
                             "a NUL character (\\u0000) is not allowed in a key");
            loader_pop(ld);
        }
    }
    if (members > (size_t)json_object_object_length(obj))
        report_duplicate_keys(ld, offset, members);
    return offset;
}
