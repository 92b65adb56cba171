/* The configuration model: load the original NanoDNS JSON format with
 * json-c, check it, and turn records into wire-form RDATA. See config.h.
 *
 * Loading is one pass over the json-c tree that reports every finding it
 * can (an error does not stop it), then the checks across records (CNAME
 * rules, RRset TTLs) and zones, done on sorted copies so that they stay
 * O(n log n). Any error and the whole model is freed. json-c keeps no
 * positions, so each finding's line and column come from json_locate,
 * which scans the text again. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "envelope.h"
#include "json_locate.h"

/* The deepest path the format has is zones.<zone>.soa.serial. */
#define PATH_DEPTH 8
/* How much of a value a message quotes. */
#define QUOTE_MAX 100
#define QUOTE_CAP (QUOTE_MAX * 4 + 8)

#define TTL_MAX 2147483647u /* RFC 2181 §8 */

struct loader {
    struct config *cfg;
    struct config_diags *diags;
    const char *config_path; /* where the text is from, for server.sync_key; may be NULL */
    struct json_locator loc;
    struct json_locate_step path[PATH_DEPTH];
    size_t depth;
    bool out_of_memory;
    /* Per record kept in cfg->records: its index in the "records" array,
     * the offset of its object in the text, and whether it is free of
     * errors, for the checks across records. A record whose name and type
     * are good is kept even when something else in it is wrong, so that
     * those checks still see it; the load fails then anyway. */
    size_t *record_index;
    size_t *record_offset;
    bool *record_ok;
};

/* ---- diagnostics ---- */

void config_diags_init(struct config_diags *d, const char *file)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->file, sizeof(d->file), "%s", file ? file : "");
}

void config_diags_free(struct config_diags *d)
{
    free(d->items);
    d->items = NULL;
    d->count = d->capacity = 0;
    d->errors = d->warnings = 0;
}

void config_diag_format(const struct config_diags *d, size_t i, char *out, size_t out_len)
{
    const struct config_diag *g = &d->items[i];
    char where[sizeof(d->file) + 32];
    if (g->line > 0)
        snprintf(where, sizeof(where), "%s:%u:%u", d->file, g->line, g->column);
    else
        snprintf(where, sizeof(where), "%s", d->file);
    snprintf(out, out_len, "%s: %s%s%s%s", where, g->severity == CONFIG_WARNING ? "warning: " : "",
             g->path, g->path[0] != '\0' ? ": " : "", g->message);
}

void config_diags_print(const struct config_diags *d, FILE *out)
{
    for (size_t i = 0; i < d->count; i++) {
        char line[CONFIG_DIAG_TEXT_MAX];
        config_diag_format(d, i, line, sizeof(line));
        fprintf(out, "%s\n", line);
    }
}

static void diags_add(struct config_diags *d, enum config_severity severity, unsigned line,
                      unsigned column, const char *path, const char *message)
{
    if (severity == CONFIG_ERROR)
        d->errors++;
    else
        d->warnings++;
    if (d->count == d->capacity) {
        size_t capacity = d->capacity ? d->capacity * 2 : 16;
        struct config_diag *items = realloc(d->items, capacity * sizeof(*items));
        if (!items)
            return; /* still counted, so the load fails as it should */
        d->items = items;
        d->capacity = capacity;
    }
    struct config_diag *g = &d->items[d->count++];
    g->severity = severity;
    g->line = line;
    g->column = column;
    snprintf(g->path, sizeof(g->path), "%s", path);
    snprintf(g->message, sizeof(g->message), "%s", message);
}

/* Append n octets of s to out, escaping what a terminal should not see. */
static void text_append(char *out, size_t cap, size_t *used, const char *s, size_t n,
                        bool escape_quote)
{
    for (size_t i = 0; i < n && *used + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        size_t k;
        if (c < 0x20 || c == 0x7F) {
            k = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
        } else if (escape_quote && (c == '"' || c == '\\')) {
            esc[0] = '\\';
            esc[1] = (char)c;
            k = 2;
        } else {
            esc[0] = (char)c;
            k = 1;
        }
        if (*used + k >= cap)
            break;
        memcpy(out + *used, esc, k);
        *used += k;
    }
    out[*used] = '\0';
}

/* A value for a message: in double quotes, escaped, cut after QUOTE_MAX
 * octets (at a UTF-8 character boundary). */
static const char *quote(char *buf, const char *s, size_t n)
{
    size_t used = 0;
    bool cut = n > QUOTE_MAX;
    if (cut) {
        n = QUOTE_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    text_append(buf, QUOTE_CAP, &used, "\"", 1, false);
    text_append(buf, QUOTE_CAP, &used, s, n, true);
    text_append(buf, QUOTE_CAP, &used, cut ? "...\"" : "\"", cut ? 4 : 1, false);
    return buf;
}

static void path_format(const struct json_locate_step *path, size_t depth, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < depth; i++) {
        if (path[i].key) {
            if (i > 0)
                text_append(out, cap, &used, ".", 1, false);
            text_append(out, cap, &used, path[i].key, path[i].key_len, false);
        } else {
            char index[32];
            int n = snprintf(index, sizeof(index), "[%zu]", path[i].index);
            text_append(out, cap, &used, index, (size_t)n, false);
        }
    }
}

static void emit_va(struct loader *ld, enum config_severity severity, size_t offset,
                    const struct json_locate_step *path, size_t depth, const char *fmt, va_list ap)
{
    char message[sizeof(((struct config_diag *)0)->message)];
    char path_text[sizeof(((struct config_diag *)0)->path)];
    unsigned line, column;
    if (depth > PATH_DEPTH)
        depth = PATH_DEPTH; /* cannot happen: the format is 5 levels deep at most */
    vsnprintf(message, sizeof(message), fmt, ap);
    path_format(path, depth, path_text, sizeof(path_text));
    json_locate_line_column(&ld->loc, offset, &line, &column);
    diags_add(ld->diags, severity, line, column, path_text, message);
}

/* A finding about the value at the current path (or its member name). */
__attribute__((format(printf, 4, 5))) static void
report(struct loader *ld, enum config_severity severity, bool at_key, const char *fmt, ...)
{
    size_t depth = ld->depth < PATH_DEPTH ? ld->depth : PATH_DEPTH;
    size_t offset = json_locate(&ld->loc, ld->path, depth, at_key);
    va_list ap;
    va_start(ap, fmt);
    emit_va(ld, severity, offset, ld->path, ld->depth, fmt, ap);
    va_end(ap);
}

/* A finding at a known offset, the current path naming it. */
__attribute__((format(printf, 4, 5))) static void
report_at(struct loader *ld, enum config_severity severity, size_t offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit_va(ld, severity, offset, ld->path, ld->depth, fmt, ap);
    va_end(ap);
}

/* A finding about a field of records[index], whose object is at offset:
 * used after the pass, when the locator's cache no longer helps. */
__attribute__((format(printf, 6, 7))) static void
report_record(struct loader *ld, enum config_severity severity, size_t index, size_t offset,
              const char *field, const char *fmt, ...)
{
    struct json_locate_step path[3] = {
        {"records", 7, 0}, {NULL, 0, index}, {field, field ? strlen(field) : 0, 0}};
    size_t depth = field ? 3 : 2;
    size_t at = json_locate_from(&ld->loc, offset, path + 2, depth - 2, false);
    va_list ap;
    va_start(ap, fmt);
    emit_va(ld, severity, at, path, depth, fmt, ap);
    va_end(ap);
}

static void report_out_of_memory(struct loader *ld)
{
    if (!ld->out_of_memory)
        report(ld, CONFIG_ERROR, false, "out of memory");
    ld->out_of_memory = true;
}

static void push_key_len(struct loader *ld, const char *key, size_t key_len)
{
    if (ld->depth < PATH_DEPTH)
        ld->path[ld->depth] = (struct json_locate_step){key, key_len, 0};
    ld->depth++;
}

static void push_key(struct loader *ld, const char *key)
{
    push_key_len(ld, key, strlen(key));
}

static void push_index(struct loader *ld, size_t index)
{
    if (ld->depth < PATH_DEPTH)
        ld->path[ld->depth] = (struct json_locate_step){NULL, 0, index};
    ld->depth++;
}

static void pop(struct loader *ld)
{
    ld->depth--;
}

/* ---- JSON values ---- */

static const char *type_name(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "a boolean";
    case json_type_double:
        return "a number with a fraction or exponent";
    case json_type_int:
        return "an integer";
    case json_type_object:
        return "an object";
    case json_type_array:
        return "an array";
    case json_type_string:
        return "a string";
    }
    return "something else";
}

static void report_type(struct loader *ld, struct json_object *v, const char *expected)
{
    report(ld, CONFIG_ERROR, false, "expected %s, got %s", expected, type_name(v));
}

/* Readers of one member of obj. Each returns 1 when the member is there and
 * valid (stored in *out), 0 when it is absent, -1 when it is there but
 * wrong (reported). */

static int read_uint(struct loader *ld, struct json_object *obj, const char *key, const char *what,
                     uint64_t min, uint64_t max, uint64_t *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(obj, key, &v))
        return 0;
    int rc = -1;
    push_key(ld, key);
    if (json_object_get_type(v) != json_type_int) {
        report_type(ld, v, "an integer");
    } else if (json_object_get_int64(v) < 0) {
        report(ld, CONFIG_ERROR, false, "%s %" PRId64 " is out of range (%" PRIu64 "..%" PRIu64 ")",
               what, json_object_get_int64(v), min, max);
    } else {
        uint64_t u = json_object_get_uint64(v);
        if (u < min || u > max) {
            report(ld, CONFIG_ERROR, false,
                   "%s %" PRIu64 " is out of range (%" PRIu64 "..%" PRIu64 ")", what, u, min, max);
        } else {
            *out = u;
            rc = 1;
        }
    }
    pop(ld);
    return rc;
}

static int read_u32(struct loader *ld, struct json_object *obj, const char *key, const char *what,
                    uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v;
    int rc = read_uint(ld, obj, key, what, min, max, &v);
    if (rc == 1)
        *out = (uint32_t)v;
    return rc;
}

static int read_u16(struct loader *ld, struct json_object *obj, const char *key, const char *what,
                    uint16_t min, uint16_t max, uint16_t *out)
{
    uint64_t v;
    int rc = read_uint(ld, obj, key, what, min, max, &v);
    if (rc == 1)
        *out = (uint16_t)v;
    return rc;
}

static int read_bool(struct loader *ld, struct json_object *obj, const char *key, bool *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(obj, key, &v))
        return 0;
    if (json_object_get_type(v) != json_type_boolean) {
        push_key(ld, key);
        report_type(ld, v, "a boolean (true or false)");
        pop(ld);
        return -1;
    }
    *out = json_object_get_boolean(v);
    return 1;
}

/* A string member. With c_string, one holding a NUL character is refused
 * (it is going to be used as a C string). The path is left pushed when
 * the member is there, so the caller can report about its value; the
 * caller pops it when the result is not 0. */
static int read_string_pushed(struct loader *ld, struct json_object *obj, const char *key,
                              bool c_string, const char **out, size_t *out_len)
{
    struct json_object *v;
    if (!json_object_object_get_ex(obj, key, &v))
        return 0;
    push_key(ld, key);
    if (json_object_get_type(v) != json_type_string) {
        report_type(ld, v, "a string");
        return -1;
    }
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (c_string && strlen(s) != len) {
        report(ld, CONFIG_ERROR, false, "a NUL character (\\u0000) is not allowed here");
        return -1;
    }
    *out = s;
    *out_len = len;
    return 1;
}

static void report_missing(struct loader *ld, const char *key)
{
    report(ld, CONFIG_ERROR, false, "missing required key \"%s\"", key);
}

/* ---- unknown and duplicate keys ---- */

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
        report_out_of_memory(ld);
        return;
    }
    size_t n = 0, cursor = object_offset, key_offset;
    while (n < count && json_locate_next_member(&ld->loc, &cursor, &key_offset)) {
        size_t len = json_locate_decode_string(&ld->loc, key_offset, NULL, 0);
        names[n].name = malloc(len + 1);
        if (!names[n].name) {
            report_out_of_memory(ld);
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
        quote(q, names[i].name, names[i].len);
        for (size_t k = i; k < last; k++) {
            push_key_len(ld, names[k].name, names[k].len);
            report_at(ld, CONFIG_ERROR, names[k].offset,
                      "duplicate key %s (again at %u:%u; JSON parsers would silently keep only "
                      "the last one)",
                      q, line, column);
            pop(ld);
        }
        i = last;
    }
out:
    for (size_t i = 0; i < count; i++)
        free(names[i].name);
    free(names);
}

/* Check the members of the object at the current path: unknown keys (with
 * a suggestion; no key is unknown when allowed is NULL) and duplicate
 * keys. Returns the object's offset. */
static size_t check_object(struct loader *ld, struct json_object *obj, const char *const *allowed,
                           size_t allowed_count)
{
    size_t depth = ld->depth < PATH_DEPTH ? ld->depth : PATH_DEPTH;
    size_t offset = json_locate(&ld->loc, ld->path, depth, false);
    bool found = ld->loc.last_found;
    json_object_object_foreach(obj, key, value)
    {
        (void)value;
        if (!allowed)
            break;
        bool known = false;
        for (size_t i = 0; i < allowed_count && !known; i++)
            known = strcmp(key, allowed[i]) == 0;
        if (known)
            continue;
        char q[QUOTE_CAP];
        quote(q, key, strlen(key));
        const char *hint = suggest_key(key, allowed, allowed_count);
        push_key(ld, key);
        if (hint)
            report(ld, CONFIG_ERROR, true, "unknown key %s (did you mean \"%s\"?)", q, hint);
        else
            report(ld, CONFIG_ERROR, true, "unknown key %s", q);
        pop(ld);
    }
    /* An object whose own key json-c cut short (see below) is not found
     * in the text; its members are not looked at there, then. */
    if (!found)
        return offset;
    size_t members = 0, cursor = offset, key_offset;
    while (json_locate_next_member(&ld->loc, &cursor, &key_offset)) {
        members++;
        /* json-c cuts such a key short: "ttl\u0000x" would pass as "ttl" */
        if (json_locate_string_has_nul(&ld->loc, key_offset)) {
            char key[QUOTE_MAX];
            size_t len = json_locate_decode_string(&ld->loc, key_offset, key, sizeof(key));
            push_key_len(ld, key, len < sizeof(key) ? len : sizeof(key));
            report_at(ld, CONFIG_ERROR, key_offset,
                      "a NUL character (\\u0000) is not allowed in a key");
            pop(ld);
        }
    }
    if (members > (size_t)json_object_object_length(obj))
        report_duplicate_keys(ld, offset, members);
    return offset;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- names and addresses ---- */

/* Convert a presentation-form name, reporting at the current path with
 * wire_name_from_text's reason. */
static int name_from_text(struct loader *ld, const char *text, uint8_t *out, uint8_t *out_len,
                          bool at_key)
{
    char why[2048];
    size_t len;
    if (wire_name_from_text(text, out, &len, why, sizeof(why)) < 0) {
        /* The reason quotes the whole name, which can crowd out the rest
         * of it: quote it shortened instead. */
        size_t text_len = strlen(text);
        char *at = strstr(why, text);
        if (text_len > QUOTE_MAX && at && at > why && at[-1] == '"' && at[text_len] == '"') {
            char q[QUOTE_CAP];
            quote(q, text, text_len);
            report(ld, CONFIG_ERROR, at_key, "%.*s%s%s", (int)(at - 1 - why), why, q,
                   at + text_len + 1);
        } else {
            report(ld, CONFIG_ERROR, at_key, "%s", why);
        }
        return -1;
    }
    *out_len = (uint8_t)len;
    return 0;
}

static bool is_ipv4(const char *s, size_t n)
{
    char buf[INET_ADDRSTRLEN];
    struct in_addr a;
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(AF_INET, buf, &a) == 1;
}

static bool is_ipv6(const char *s, size_t n)
{
    char buf[INET6_ADDRSTRLEN];
    struct in6_addr a;
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, &a) == 1;
}

/* A host name for peers (RFC 1123 §2.1 letters, digits, hyphens; the
 * underscore too, since container names carry it). All-numeric names
 * must be IPv4 addresses. */
static bool is_hostname(const char *s, size_t n)
{
    bool numeric = true;
    size_t label = 0;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && c != '_')
            return false;
        if (c == '-' && label == 0)
            return false;
        if (!(c >= '0' && c <= '9'))
            numeric = false;
        if (++label > 63)
            return false;
    }
    if (label == 0 || s[n - 1] == '-')
        return false;
    return !numeric || is_ipv4(s, n);
}

static bool parse_port(const char *s, size_t n, unsigned *port)
{
    unsigned v = 0;
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return false;
    *port = v;
    return true;
}

/* "IP", "IP:port", "[IPv6]:port" or a bare IPv6 address (upstreams), or
 * "host:port" / "[IPv6]:port" (peers, port_required). */
static bool endpoint_valid(const char *s, size_t n, bool port_required, bool allow_hostname)
{
    unsigned port;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || !is_ipv6(s + 1, (size_t)(close - s - 1)))
            return false;
        size_t rest = n - (size_t)(close - s) - 1;
        if (rest == 0)
            return !port_required;
        return close[1] == ':' && parse_port(close + 2, rest - 1, &port);
    }
    const char *colon = memchr(s, ':', n);
    if (!colon) {
        if (port_required)
            return false;
        return is_ipv4(s, n) || (allow_hostname && is_hostname(s, n));
    }
    if (memchr(colon + 1, ':', n - (size_t)(colon - s) - 1))
        return !port_required && is_ipv6(s, n); /* a bare IPv6 address */
    size_t host_len = (size_t)(colon - s);
    bool host_ok = is_ipv4(s, host_len) || (allow_hostname && is_hostname(s, host_len));
    return host_ok && parse_port(colon + 1, n - host_len - 1, &port);
}

/* Parse an address endpoint_valid accepts for upstreams ("IP",
 * "IP:port", "[IPv6]", "[IPv6]:port", bare IPv6) into u; port 0 when the
 * text has none. */
static bool upstream_parse(const char *s, size_t n, struct image_upstream *u)
{
    const char *host = s, *port = NULL;
    size_t host_len = n, port_len = 0;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return false;
        host = s + 1;
        host_len = (size_t)(close - s - 1);
        size_t rest = n - (size_t)(close - s) - 1;
        if (rest > 0) {
            if (close[1] != ':')
                return false;
            port = close + 2;
            port_len = rest - 1;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon && !memchr(colon + 1, ':', n - (size_t)(colon - s) - 1)) {
            host_len = (size_t)(colon - s);
            port = colon + 1;
            port_len = n - host_len - 1;
        }
    }
    char buf[INET6_ADDRSTRLEN];
    if (host_len == 0 || host_len >= sizeof(buf))
        return false;
    memcpy(buf, host, host_len);
    buf[host_len] = '\0';
    memset(u, 0, sizeof(*u));
    u->family = host != s || memchr(buf, ':', host_len) ? 6 : 4;
    if (inet_pton(u->family == 6 ? AF_INET6 : AF_INET, buf, u->addr) != 1)
        return false;
    unsigned p = 0;
    if (port && !parse_port(port, port_len, &p))
        return false;
    u->port = (uint16_t)p;
    return true;
}

#define UPSTREAM_FORMS "\"IP\", \"IP:port\" or \"[IPv6]:port\", with a port of 1..65535"

/* ---- server ---- */

/* A name useradd would take: the POSIX portable filename characters, not
 * starting with '-' (it would read as an option), at most 32 (the utmp
 * limit), with Samba's trailing '$' for machine accounts. */
static bool is_user_name(const char *s, size_t n)
{
    if (n == 0 || n > 32 || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.' || (c == '$' && i == n - 1 && n > 1);
        if (!ok)
            return false;
    }
    /* "." and ".." are not names; all digits would read as a uid. */
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    size_t digits = 0;
    while (digits < n && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    return digits < n;
}

static const char *const SERVER_KEYS[] = {"host",
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
                                          "log_format"};

/* Replace *slot with a copy of s. */
static int set_string(struct loader *ld, char **slot, const char *s, size_t n)
{
    char *copy = malloc(n + 1);
    if (!copy) {
        report_out_of_memory(ld);
        return -1;
    }
    memcpy(copy, s, n);
    copy[n] = '\0';
    free(*slot);
    *slot = copy;
    return 0;
}

static void free_strings(char **list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(list[i]);
    free(list);
}

static void load_ip_string(struct loader *ld, struct json_object *server, const char *key,
                           char **slot)
{
    const char *s;
    size_t n;
    int rc = read_string_pushed(ld, server, key, true, &s, &n);
    if (rc == 1) {
        char q[QUOTE_CAP];
        if (!is_ipv4(s, n) && !is_ipv6(s, n))
            report(ld, CONFIG_ERROR, false, "%s is not an IP address", quote(q, s, n));
        else
            set_string(ld, slot, s, n);
    }
    if (rc != 0)
        pop(ld);
}

/* A list of endpoint strings (upstream; peers is load_peers). */
static void load_endpoints(struct loader *ld, struct json_object *server, const char *key,
                           bool peers, char ***list, size_t *count)
{
    struct json_object *array;
    if (!json_object_object_get_ex(server, key, &array))
        return;
    push_key(ld, key);
    if (json_object_get_type(array) != json_type_array) {
        report_type(ld, array,
                    peers ? "an array of \"host:port\" strings" : "an array of address strings");
        pop(ld);
        return;
    }
    size_t n = json_object_array_length(array);
    char **items = calloc(n ? n : 1, sizeof(*items));
    if (!items) {
        report_out_of_memory(ld);
        pop(ld);
        return;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(array, i);
        push_index(ld, i);
        char q[QUOTE_CAP];
        if (json_object_get_type(v) != json_type_string) {
            report_type(ld, v, "a string");
        } else {
            const char *s = json_object_get_string(v);
            size_t len = (size_t)json_object_get_string_len(v);
            if (strlen(s) != len || !endpoint_valid(s, len, peers, peers))
                report(ld, CONFIG_ERROR, false,
                       peers ? "%s is not \"host:port\" (or \"[IPv6]:port\") with a port of "
                               "1..65535"
                             : "%s is not an upstream address: " UPSTREAM_FORMS,
                       quote(q, s, len));
            else if (set_string(ld, &items[kept], s, len) == 0)
                kept++;
        }
        pop(ld);
    }
    free_strings(*list, *count);
    *list = items;
    *count = kept;
    pop(ld);
}

static const char *const PEER_KEYS[] = {"address", "public_key"};

/* One entry of server.peers: the original's "host:port" string, or
 * {"address": "host:port", "public_key": "<base64>"}. Returns 0 with
 * *address set (malloc'd) when it is valid. */
static int load_peer(struct loader *ld, struct json_object *v, char **address, bool *has_key,
                     uint8_t key[ENVELOPE_PUBLIC_KEY_SIZE])
{
    char q[QUOTE_CAP];
    const char *s;
    size_t len;
    *has_key = false;
    if (json_object_get_type(v) == json_type_string) {
        s = json_object_get_string(v);
        len = (size_t)json_object_get_string_len(v);
        if (strlen(s) != len || !endpoint_valid(s, len, true, true)) {
            report(ld, CONFIG_ERROR, false,
                   "%s is not \"host:port\" (or \"[IPv6]:port\") with a port of 1..65535",
                   quote(q, s, len));
            return -1;
        }
        return set_string(ld, address, s, len);
    }
    if (json_object_get_type(v) != json_type_object) {
        report_type(ld, v, "a \"host:port\" string or an {\"address\", \"public_key\"} object");
        return -1;
    }
    size_t errors = ld->diags->errors;
    check_object(ld, v, PEER_KEYS, COUNT(PEER_KEYS));
    int rc = read_string_pushed(ld, v, "address", true, &s, &len);
    if (rc == 0) {
        report_missing(ld, "address");
    } else if (rc == 1) {
        if (!endpoint_valid(s, len, true, true))
            report(ld, CONFIG_ERROR, false,
                   "%s is not \"host:port\" (or \"[IPv6]:port\") with a port of 1..65535",
                   quote(q, s, len));
        else
            set_string(ld, address, s, len);
    }
    if (rc != 0)
        pop(ld);
    rc = read_string_pushed(ld, v, "public_key", true, &s, &len);
    if (rc == 0) {
        report(ld, CONFIG_ERROR, false,
               "missing required key \"public_key\" (a peer without a key is written as the "
               "plain \"host:port\" string)");
    } else if (rc == 1) {
        if (envelope_public_key_parse(s, key) < 0)
            report(ld, CONFIG_ERROR, false,
                   "%s is not a public key (the 44 characters of base64 that nanodns keygen "
                   "prints)",
                   quote(q, s, len));
        else
            *has_key = true;
    }
    if (rc != 0)
        pop(ld);
    if (ld->diags->errors != errors) {
        free(*address);
        *address = NULL;
        return -1;
    }
    return 0;
}

/* server.peers, replacing the (empty) defaults. */
static void load_peers(struct loader *ld, struct json_object *server)
{
    struct config_server *cs = &ld->cfg->server;
    struct json_object *array;
    if (!json_object_object_get_ex(server, "peers", &array))
        return;
    push_key(ld, "peers");
    if (json_object_get_type(array) != json_type_array) {
        report_type(ld, array,
                    "an array of \"host:port\" strings and {\"address\", \"public_key\"} "
                    "objects");
        pop(ld);
        return;
    }
    size_t n = json_object_array_length(array);
    cs->peers = calloc(n ? n : 1, sizeof(*cs->peers));
    cs->peer_has_key = calloc(n ? n : 1, sizeof(*cs->peer_has_key));
    cs->peer_keys = calloc(n ? n : 1, sizeof(*cs->peer_keys));
    if (!cs->peers || !cs->peer_has_key || !cs->peer_keys) {
        report_out_of_memory(ld);
        pop(ld);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        push_index(ld, i);
        size_t k = cs->peer_count;
        if (load_peer(ld, json_object_array_get_idx(array, i), &cs->peers[k], &cs->peer_has_key[k],
                      cs->peer_keys[k]) == 0) {
            /* A node finds its own entry by its key: two entries with one
             * key would make that ambiguous. */
            for (size_t j = 0; j < k && cs->peer_has_key[k]; j++) {
                if (cs->peer_has_key[j] &&
                    memcmp(cs->peer_keys[j], cs->peer_keys[k], ENVELOPE_PUBLIC_KEY_SIZE) == 0) {
                    push_key(ld, "public_key");
                    report(ld, CONFIG_ERROR, false,
                           "the same public key as the peer %s: each node needs its own key",
                           cs->peers[j]);
                    pop(ld);
                    break;
                }
            }
            if (!cs->peer_has_key[k])
                report(ld, CONFIG_WARNING, false,
                       "sync needs keys: a peer without a public_key is shown in /cluster but "
                       "never trusted");
            cs->peer_count++;
        }
        pop(ld);
    }
    pop(ld);
}

/* server.sync_key, a relative path taken against the config file's folder;
 * then the warning for keyed peers on a node that has no key. */
static void load_sync_key(struct loader *ld, struct json_object *server)
{
    struct config_server *s = &ld->cfg->server;
    const char *key;
    size_t key_len;
    int rc = read_string_pushed(ld, server, "sync_key", true, &key, &key_len);
    if (rc == 1) {
        if (key_len == 0)
            report(ld, CONFIG_ERROR, false,
                   "an empty sync_key names no file; leave the key out on a node without one");
        else if (key[0] == '/' || ld->config_path == NULL || strchr(ld->config_path, '/') == NULL)
            set_string(ld, &s->sync_key, key, key_len);
        else {
            /* Relative to the config file's folder, so one file serves
             * every node, each with its key beside its config. */
            const char *slash = strrchr(ld->config_path, '/');
            size_t dir_len = (size_t)(slash - ld->config_path) + 1;
            char *path = malloc(dir_len + key_len + 1);
            if (!path) {
                report_out_of_memory(ld);
            } else {
                memcpy(path, ld->config_path, dir_len);
                memcpy(path + dir_len, key, key_len);
                path[dir_len + key_len] = '\0';
                free(s->sync_key);
                s->sync_key = path;
            }
        }
    }
    if (rc != 0)
        pop(ld);
    bool keyed = false;
    for (size_t i = 0; i < s->peer_count; i++)
        keyed = keyed || s->peer_has_key[i];
    if (keyed && !s->sync_key) {
        push_key(ld, "peers");
        report(ld, CONFIG_WARNING, false,
               "peers have public keys but server.sync_key is absent: this node cannot sign, "
               "so it pushes nothing and serves /config/raw unsigned");
        pop(ld);
    }
}

/* A list of CIDR strings (allow_recursion, allow_query), replacing *list. */
static int load_cidrs(struct loader *ld, struct json_object *server, const char *key,
                      struct cidr **list, size_t *count)
{
    struct json_object *array;
    if (!json_object_object_get_ex(server, key, &array))
        return 0;
    push_key(ld, key);
    if (json_object_get_type(array) != json_type_array) {
        report_type(ld, array, "an array of address prefixes (\"10.0.0.0/8\", \"fc00::/7\")");
        pop(ld);
        return -1;
    }
    size_t n = json_object_array_length(array);
    struct cidr *items = calloc(n ? n : 1, sizeof(*items));
    if (!items) {
        report_out_of_memory(ld);
        pop(ld);
        return -1;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(array, i);
        push_index(ld, i);
        char why[256];
        if (json_object_get_type(v) != json_type_string)
            report_type(ld, v, "a string");
        else if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
            report(ld, CONFIG_ERROR, false, "a NUL character (\\u0000) is not allowed here");
        else if (json_object_get_string_len(v) > QUOTE_MAX)
            report(ld, CONFIG_ERROR, false, "%s is not an address prefix",
                   quote(why, json_object_get_string(v), (size_t)json_object_get_string_len(v)));
        else if (cidr_parse(json_object_get_string(v), &items[kept], why, sizeof(why)) < 0)
            report(ld, CONFIG_ERROR, false, "%s", why);
        else
            kept++;
        pop(ld);
    }
    free(*list);
    *list = items;
    *count = kept;
    pop(ld);
    return 1;
}

struct forward_zone_ref {
    uint8_t name[WIRE_NAME_MAX]; /* lowercase */
    uint8_t name_len;
    size_t index;
};

static int forward_zone_ref_compare(const void *a, const void *b)
{
    const struct forward_zone_ref *x = a, *y = b;
    if (x->name_len != y->name_len)
        return x->name_len < y->name_len ? -1 : 1;
    int c = memcmp(x->name, y->name, x->name_len);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void forward_zone_free(struct config_forward_zone *z)
{
    free(z->text);
    free(z->upstreams);
}

/* One member of server.forward_zones: a name and its servers. Kept in
 * s->forward_zones only when free of errors. */
static void load_forward_zone(struct loader *ld, const char *key, struct json_object *value)
{
    struct config_server *s = &ld->cfg->server;
    struct config_forward_zone z;
    memset(&z, 0, sizeof(z));
    size_t errors = ld->diags->errors;
    push_key(ld, key);
    name_from_text(ld, key, z.name, &z.name_len, true);
    size_t n = json_object_get_type(value) == json_type_array ? json_object_array_length(value) : 0;
    if (json_object_get_type(value) != json_type_array) {
        report_type(ld, value, "a non-empty array of server addresses");
    } else if (n == 0) {
        report(ld, CONFIG_ERROR, false,
               "a forward zone needs at least one server (leave the zone out to use upstream)");
    } else if (!(z.upstreams = calloc(n, sizeof(*z.upstreams)))) {
        report_out_of_memory(ld);
    } else {
        for (size_t i = 0; i < n; i++) {
            struct json_object *v = json_object_array_get_idx(value, i);
            push_index(ld, i);
            char q[QUOTE_CAP];
            if (json_object_get_type(v) != json_type_string) {
                report_type(ld, v, "a string");
            } else {
                const char *text = json_object_get_string(v);
                size_t len = (size_t)json_object_get_string_len(v);
                if (strlen(text) != len || !endpoint_valid(text, len, false, false) ||
                    !upstream_parse(text, len, &z.upstreams[z.upstream_count]))
                    report(ld, CONFIG_ERROR, false, "%s is not a server address: " UPSTREAM_FORMS,
                           quote(q, text, len));
                else
                    z.upstream_count++;
            }
            pop(ld);
        }
    }
    if (ld->diags->errors == errors && !(z.text = strdup(key)))
        report_out_of_memory(ld);
    if (ld->diags->errors == errors)
        s->forward_zones[s->forward_zone_count++] = z;
    else
        forward_zone_free(&z);
    pop(ld);
}

/* server.forward_zones: {"corp.example": ["10.1.1.1", "10.1.1.2:5353"]}.
 * Two keys that differ only in case name the same zone. */
static void load_forward_zones(struct loader *ld, struct json_object *server)
{
    struct config_server *s = &ld->cfg->server;
    struct json_object *obj;
    if (!json_object_object_get_ex(server, "forward_zones", &obj))
        return;
    push_key(ld, "forward_zones");
    if (json_object_get_type(obj) != json_type_object) {
        report_type(ld, obj, "an object: zone name -> array of server addresses");
        pop(ld);
        return;
    }
    check_object(ld, obj, NULL, 0);
    size_t n = (size_t)json_object_object_length(obj);
    s->forward_zones = calloc(n ? n : 1, sizeof(*s->forward_zones));
    if (!s->forward_zones) {
        report_out_of_memory(ld);
        pop(ld);
        return;
    }
    json_object_object_foreach(obj, key, value)
    {
        load_forward_zone(ld, key, value);
    }

    struct forward_zone_ref *refs = calloc(s->forward_zone_count + 1, sizeof(*refs));
    if (!refs) {
        report_out_of_memory(ld);
        pop(ld);
        return;
    }
    for (size_t i = 0; i < s->forward_zone_count; i++) {
        memcpy(refs[i].name, s->forward_zones[i].name, s->forward_zones[i].name_len);
        refs[i].name_len = s->forward_zones[i].name_len;
        wire_name_lower(refs[i].name, refs[i].name_len);
        refs[i].index = i;
    }
    qsort(refs, s->forward_zone_count, sizeof(*refs), forward_zone_ref_compare);
    for (size_t i = 1; i < s->forward_zone_count; i++) {
        if (refs[i].name_len != refs[i - 1].name_len ||
            memcmp(refs[i].name, refs[i - 1].name, refs[i].name_len) != 0)
            continue;
        size_t first = i - 1;
        while (first > 0 && refs[first - 1].name_len == refs[i].name_len &&
               memcmp(refs[first - 1].name, refs[i].name, refs[i].name_len) == 0)
            first--;
        char q[QUOTE_CAP], qe[QUOTE_CAP];
        const char *earlier = s->forward_zones[refs[first].index].text;
        const char *again = s->forward_zones[refs[i].index].text;
        push_key(ld, again);
        report(ld, CONFIG_ERROR, true,
               "forward zone %s is already defined as %s (zone names are case-insensitive)",
               quote(q, again, strlen(again)), quote(qe, earlier, strlen(earlier)));
        pop(ld);
    }
    free(refs);
    pop(ld);
}

static int server_defaults(struct loader *ld, struct config_server *s)
{
    static const char *const upstream[] = {"8.8.8.8", "1.1.1.1"};
    s->port = 53;
    s->upstream_timeout = 3;
    s->upstream_port = 53;
    s->cache_enabled = true;
    s->cache_ttl = 300;
    s->cache_size = 1000;
    s->log_queries = true;
    s->hot_reload = true;
    s->mgmt_port = 0;
    s->config_version = 1;
    s->edns_payload = 1232;
    s->tcp_idle_timeout = 10;
    s->tcp_max_connections = 256;
    s->max_inflight = 1024;
    s->log_format = IMAGE_LOG_TEXT;
    s->allow_recursion = calloc(CIDR_DEFAULT_RECURSION_COUNT, sizeof(*s->allow_recursion));
    if (!s->allow_recursion) {
        report_out_of_memory(ld);
        return -1;
    }
    for (size_t i = 0; i < CIDR_DEFAULT_RECURSION_COUNT; i++) {
        char why[256];
        if (cidr_parse(CIDR_DEFAULT_RECURSION[i], &s->allow_recursion[i], why, sizeof(why)) < 0)
            return -1; /* cannot happen: the defaults are tested */
        s->allow_recursion_count++;
    }
    s->upstream = calloc(COUNT(upstream), sizeof(char *));
    if (!s->upstream) {
        report_out_of_memory(ld);
        return -1;
    }
    for (size_t i = 0; i < COUNT(upstream); i++) {
        if (set_string(ld, &s->upstream[i], upstream[i], strlen(upstream[i])) < 0)
            return -1;
        s->upstream_count++;
    }
    /* mgmt_host stays the original's "0.0.0.0": its documented clusters
     * and health checks (HAProxy, Kubernetes probes) reach the API from
     * other hosts without naming it. `init` writes 127.0.0.1, and
     * check_mgmt_exposure warns where the default exposes a keyless node. */
    if (set_string(ld, &s->host, "0.0.0.0", 7) < 0 ||
        set_string(ld, &s->mgmt_host, "0.0.0.0", 7) < 0 ||
        set_string(ld, &s->log_level, "INFO", 4) < 0)
        return -1;
    return 0;
}

/* server.mgmt_host and server.mgmt_port: the node's API, and where
 * nanoctl finds it (config_load_management). */
static void load_mgmt(struct loader *ld, struct json_object *server)
{
    struct config_server *s = &ld->cfg->server;
    load_ip_string(ld, server, "mgmt_host", &s->mgmt_host);
    read_u16(ld, server, "mgmt_port", "management port", 0, 65535, &s->mgmt_port);
}

/* host is an address load_ip_string accepted. */
static bool is_loopback_address(const char *host)
{
    static const uint8_t loopback6[16] = {[15] = 1};
    static const uint8_t mapped_prefix[12] = {[10] = 0xff, [11] = 0xff};
    uint8_t a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127; /* 127.0.0.0/8, RFC 1122 §3.2.1.3 */
    if (inet_pton(AF_INET6, host, a) != 1)
        return false;
    return memcmp(a, loopback6, 16) == 0 || (memcmp(a, mapped_prefix, 12) == 0 && a[12] == 127);
}

/* With neither a sync_key nor keyed peers, nothing the API receives from
 * another host can be authenticated (api.c: reload is loopback-only then,
 * and /sync accepts only pushes signed by a listed key): all it offers
 * other hosts is this node's data, to anyone. Say so. */
static void check_mgmt_exposure(struct loader *ld, struct json_object *server)
{
    const struct config_server *s = &ld->cfg->server;
    bool keyed = s->sync_key != NULL;
    for (size_t i = 0; i < s->peer_count && !keyed; i++)
        keyed = s->peer_has_key[i];
    if (s->mgmt_port == 0 || keyed || is_loopback_address(s->mgmt_host))
        return;
    struct json_object *host;
    bool written = json_object_object_get_ex(server, "mgmt_host", &host);
    if (written && strcmp(json_object_get_string(host), s->mgmt_host) != 0)
        return; /* a bad mgmt_host, reported already */
    push_key(ld, written ? "mgmt_host" : "mgmt_port");
    report(ld, CONFIG_WARNING, false,
           "the API listens beyond loopback%s on a node without keys: any host reaching port "
           "%u reads the whole config (GET /config/raw) and metrics, and none can reload or "
           "sync; set mgmt_host to \"127.0.0.1\", or for a cluster give the nodes keys "
           "(sync_key, peers with public_key)",
           written ? "" : " (0.0.0.0: mgmt_host is absent)", (unsigned)s->mgmt_port);
    pop(ld);
}

/* Settings that only matter to forwarding, while nothing can be forwarded:
 * most likely an upstream list emptied by mistake. */
static void check_nothing_forwarded(struct loader *ld, struct json_object *server)
{
    static const char *const forwarding_keys[] = {
        "upstream_timeout", "upstream_port", "max_inflight", "allow_recursion",
        "cache_enabled",    "cache_ttl",     "cache_size"};
    struct json_object *v;
    if (!json_object_object_get_ex(server, "upstream", &v) ||
        json_object_get_type(v) != json_type_array || json_object_array_length(v) != 0)
        return;
    if (json_object_object_get_ex(server, "forward_zones", &v) &&
        (json_object_get_type(v) != json_type_object || json_object_object_length(v) > 0))
        return;
    char keys[160];
    size_t used = 0, count = 0;
    keys[0] = '\0';
    for (size_t i = 0; i < COUNT(forwarding_keys); i++) {
        const char *key = forwarding_keys[i];
        if (!json_object_object_get_ex(server, key, &v))
            continue;
        /* Turning them off says the same as the empty list. */
        if ((strcmp(key, "allow_recursion") == 0 && json_object_get_type(v) == json_type_array &&
             json_object_array_length(v) == 0) ||
            (strcmp(key, "cache_enabled") == 0 && json_object_get_type(v) == json_type_boolean &&
             !json_object_get_boolean(v)))
            continue;
        if (count++ > 0)
            text_append(keys, sizeof(keys), &used, ", ", 2, false);
        text_append(keys, sizeof(keys), &used, key, strlen(key), false);
    }
    if (count == 0)
        return;
    push_key(ld, "upstream");
    report(ld, CONFIG_WARNING, false,
           "empty, and there are no forward_zones: nothing is forwarded (names outside our "
           "zones get REFUSED), so %s %s no effect; add servers here, or remove %s",
           keys, count > 1 ? "have" : "has", count > 1 ? "those settings" : "that setting");
    pop(ld);
}

static void load_server(struct loader *ld, struct json_object *server)
{
    struct config_server *s = &ld->cfg->server;
    if (json_object_get_type(server) != json_type_object) {
        report_type(ld, server, "an object");
        return;
    }
    check_object(ld, server, SERVER_KEYS, COUNT(SERVER_KEYS));

    load_ip_string(ld, server, "host", &s->host);
    read_u16(ld, server, "port", "port", 1, 65535, &s->port);
    load_endpoints(ld, server, "upstream", false, &s->upstream, &s->upstream_count);

    struct json_object *v;
    if (json_object_object_get_ex(server, "upstream_timeout", &v)) {
        push_key(ld, "upstream_timeout");
        enum json_type t = json_object_get_type(v);
        if (t != json_type_int && t != json_type_double) {
            report_type(ld, v, "a number of seconds");
        } else {
            double d = json_object_get_double(v);
            /* An hour is far beyond any useful wait for one upstream. */
            if (!isfinite(d) || d <= 0 || d > 3600)
                report(ld, CONFIG_ERROR, false,
                       "upstream timeout %g is out of range (more than 0, at most 3600 seconds)",
                       d);
            else
                s->upstream_timeout = d;
        }
        pop(ld);
    }
    read_u16(ld, server, "upstream_port", "upstream port", 1, 65535, &s->upstream_port);
    read_bool(ld, server, "cache_enabled", &s->cache_enabled);
    read_u32(ld, server, "cache_ttl", "cache TTL", 0, TTL_MAX, &s->cache_ttl);
    read_u32(ld, server, "cache_size", "cache size", 0, UINT32_MAX, &s->cache_size);

    const char *level;
    size_t level_len;
    int rc = read_string_pushed(ld, server, "log_level", true, &level, &level_len);
    if (rc == 1) {
        static const char *const levels[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
        const char *found = NULL;
        for (size_t i = 0; i < COUNT(levels); i++)
            if (strcasecmp(level, levels[i]) == 0)
                found = levels[i];
        char q[QUOTE_CAP];
        if (found)
            set_string(ld, &s->log_level, found, strlen(found));
        else
            report(ld, CONFIG_ERROR, false,
                   "log level %s is not one of DEBUG, INFO, WARNING, ERROR",
                   quote(q, level, level_len));
    }
    if (rc != 0)
        pop(ld);

    read_bool(ld, server, "log_queries", &s->log_queries);
    read_bool(ld, server, "hot_reload", &s->hot_reload);
    load_mgmt(ld, server);
    load_peers(ld, server);
    load_sync_key(ld, server);
    check_mgmt_exposure(ld, server);
    /* json-c saturates integers from 2^64 up, so a bound below that is
     * the only way to see them; 2^63 - 1 versions are plenty. */
    read_uint(ld, server, "config_version", "config version", 0, INT64_MAX, &s->config_version);
    read_u16(ld, server, "edns_payload", "EDNS payload size", 512, 4096, &s->edns_payload);
    read_u32(ld, server, "tcp_idle_timeout", "TCP idle timeout", 1, 3600, &s->tcp_idle_timeout);
    read_u32(ld, server, "tcp_max_connections", "TCP connection limit", 1, 65535,
             &s->tcp_max_connections);

    const char *user;
    size_t user_len;
    rc = read_string_pushed(ld, server, "user", true, &user, &user_len);
    if (rc == 1) {
        char q[QUOTE_CAP];
        if (!is_user_name(user, user_len))
            report(ld, CONFIG_ERROR, false,
                   "%s is not a user name (letters, digits, '_', '-' and '.', not starting "
                   "with '-', at most 32)",
                   quote(q, user, user_len));
        else
            set_string(ld, &s->user, user, user_len);
    }
    if (rc != 0)
        pop(ld);

    load_forward_zones(ld, server);
    read_u32(ld, server, "max_inflight", "in-flight limit", 1, 1000000, &s->max_inflight);
    load_cidrs(ld, server, "allow_recursion", &s->allow_recursion, &s->allow_recursion_count);
    struct json_object *v_query;
    if (load_cidrs(ld, server, "allow_query", &s->allow_query, &s->allow_query_count) == 1 &&
        json_object_object_get_ex(server, "allow_query", &v_query) &&
        json_object_array_length(v_query) == 0) {
        push_key(ld, "allow_query");
        report(ld, CONFIG_ERROR, false,
               "an empty allow_query would refuse every client; leave the key out to let "
               "everyone query");
        pop(ld);
    }

    const char *format;
    size_t format_len;
    rc = read_string_pushed(ld, server, "log_format", true, &format, &format_len);
    if (rc == 1) {
        char q[QUOTE_CAP];
        if (strcasecmp(format, "text") == 0)
            s->log_format = IMAGE_LOG_TEXT;
        else if (strcasecmp(format, "json") == 0)
            s->log_format = IMAGE_LOG_JSON;
        else
            report(ld, CONFIG_ERROR, false,
                   "log format %s is not \"text\" or \"json\" (JSON Lines)",
                   quote(q, format, format_len));
    }
    if (rc != 0)
        pop(ld);
    check_nothing_forwarded(ld, server);
}

/* After the server section (present or not): the upstream strings in
 * parsed form, upstream_port where an entry names no port. */
static void server_finish(struct loader *ld, struct config_server *s)
{
    s->upstreams = calloc(s->upstream_count + 1, sizeof(*s->upstreams));
    if (!s->upstreams) {
        report_out_of_memory(ld);
        return;
    }
    for (size_t i = 0; i < s->upstream_count; i++) {
        /* every string here passed endpoint_valid */
        upstream_parse(s->upstream[i], strlen(s->upstream[i]), &s->upstreams[i]);
        if (s->upstreams[i].port == 0)
            s->upstreams[i].port = s->upstream_port;
    }
    for (size_t z = 0; z < s->forward_zone_count; z++)
        for (size_t i = 0; i < s->forward_zones[z].upstream_count; i++)
            if (s->forward_zones[z].upstreams[i].port == 0)
                s->forward_zones[z].upstreams[i].port = s->upstream_port;
}

/* ---- zones ---- */

static const char *const ZONE_KEYS[] = {"soa", "ns"};
static const char *const SOA_KEYS[] = {"mname", "rname",  "serial", "refresh",
                                       "retry", "expire", "minimum"};

/* label + "." + apex in wire form, for the default mname and rname. */
static int name_prepend(const char *label, const uint8_t *apex, size_t apex_len, uint8_t *out,
                        uint8_t *out_len)
{
    size_t n = strlen(label);
    if (1 + n + apex_len > WIRE_NAME_MAX)
        return -1;
    out[0] = (uint8_t)n;
    memcpy(out + 1, label, n);
    memcpy(out + 1 + n, apex, apex_len);
    *out_len = (uint8_t)(1 + n + apex_len);
    return 0;
}

/* A mailbox name (RFC 1035 §3.3.13) written as an e-mail address: say how
 * to write it, the local part's dots escaped. */
static void report_rname_email(struct loader *ld, const char *s, size_t n)
{
    char fixed[QUOTE_CAP];
    size_t used = 0;
    const char *at = memchr(s, '@', n);
    for (const char *p = s; p < at && used + 3 < sizeof(fixed); p++) {
        if (*p == '.')
            fixed[used++] = '\\';
        fixed[used++] = *p;
    }
    fixed[used] = '\0';
    text_append(fixed, sizeof(fixed), &used, ".", 1, false);
    text_append(fixed, sizeof(fixed), &used, at + 1, n - (size_t)(at - s) - 1, false);
    char q[QUOTE_CAP], qf[QUOTE_CAP];
    report(ld, CONFIG_ERROR, false,
           "%s is an e-mail address; rname is a name with the '@' written as a dot: %s "
           "(RFC 1035 §3.3.13)",
           quote(q, s, n), quote(qf, fixed, used));
}

static void load_soa(struct loader *ld, struct json_object *soa_obj, struct config_soa *soa)
{
    push_key(ld, "soa");
    if (json_object_get_type(soa_obj) != json_type_object) {
        report_type(ld, soa_obj, "an object");
        pop(ld);
        return;
    }
    check_object(ld, soa_obj, SOA_KEYS, COUNT(SOA_KEYS));
    const char *s;
    size_t n;
    int rc = read_string_pushed(ld, soa_obj, "mname", true, &s, &n);
    if (rc == 1)
        name_from_text(ld, s, soa->mname, &soa->mname_len, false);
    if (rc != 0)
        pop(ld);
    rc = read_string_pushed(ld, soa_obj, "rname", true, &s, &n);
    if (rc == 1) {
        if (memchr(s, '@', n))
            report_rname_email(ld, s, n);
        else
            name_from_text(ld, s, soa->rname, &soa->rname_len, false);
    }
    if (rc != 0)
        pop(ld);
    read_u32(ld, soa_obj, "serial", "serial", 0, UINT32_MAX, &soa->serial);
    read_u32(ld, soa_obj, "refresh", "refresh", 0, UINT32_MAX, &soa->refresh);
    read_u32(ld, soa_obj, "retry", "retry", 0, UINT32_MAX, &soa->retry);
    read_u32(ld, soa_obj, "expire", "expire", 0, UINT32_MAX, &soa->expire);
    read_u32(ld, soa_obj, "minimum", "minimum", 0, UINT32_MAX, &soa->minimum);
    pop(ld);
}

static void load_zone_ns(struct loader *ld, struct json_object *ns, struct config_zone *z)
{
    push_key(ld, "ns");
    if (json_object_get_type(ns) != json_type_array) {
        report_type(ld, ns, "an array of names");
        pop(ld);
        return;
    }
    size_t n = json_object_array_length(ns);
    z->ns = calloc(n ? n : 1, sizeof(*z->ns));
    z->ns_len = calloc(n ? n : 1, sizeof(*z->ns_len));
    if (!z->ns || !z->ns_len) {
        report_out_of_memory(ld);
        pop(ld);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(ns, i);
        push_index(ld, i);
        if (json_object_get_type(v) != json_type_string) {
            report_type(ld, v, "a string");
        } else if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
            report(ld, CONFIG_ERROR, false, "a NUL character (\\u0000) is not allowed here");
        } else if (name_from_text(ld, json_object_get_string(v), z->ns[z->ns_count],
                                  &z->ns_len[z->ns_count], false) == 0) {
            z->ns_count++;
        }
        pop(ld);
    }
    pop(ld);
}

static void zone_free(struct config_zone *z)
{
    free(z->name);
    free(z->ns);
    free(z->ns_len);
}

static void load_zone(struct loader *ld, const char *key, struct json_object *value)
{
    struct config *cfg = ld->cfg;
    size_t errors = ld->diags->errors;
    struct config_zone z;
    memset(&z, 0, sizeof(z));

    push_key(ld, key);
    bool have_apex = name_from_text(ld, key, z.apex, &z.apex_len, true) == 0;
    if (json_object_get_type(value) != json_type_object)
        report_type(ld, value, "an object (with \"soa\" and \"ns\", both optional)");
    else
        check_object(ld, value, ZONE_KEYS, COUNT(ZONE_KEYS));

    /* The original's defaults, used where "soa" or one of its fields is absent. */
    z.soa.serial = 2024010101;
    z.soa.refresh = 3600;
    z.soa.retry = 900;
    z.soa.expire = 604800;
    z.soa.minimum = 300;

    struct json_object *v;
    if (json_object_object_get_ex(value, "soa", &v))
        load_soa(ld, v, &z.soa);
    if (json_object_object_get_ex(value, "ns", &v))
        load_zone_ns(ld, v, &z);

    if (ld->diags->errors == errors) {
        if (z.soa.mname_len == 0 &&
            name_prepend("ns1", z.apex, z.apex_len, z.soa.mname, &z.soa.mname_len) < 0)
            report(ld, CONFIG_ERROR, true,
                   "the default SOA mname \"ns1.<zone>\" would be too long; set soa.mname");
        if (z.soa.rname_len == 0 &&
            name_prepend("admin", z.apex, z.apex_len, z.soa.rname, &z.soa.rname_len) < 0)
            report(ld, CONFIG_ERROR, true,
                   "the default SOA rname \"admin.<zone>\" would be too long; set soa.rname");
    }
    z.name = strdup(key);
    if (!z.name)
        report_out_of_memory(ld);
    pop(ld);
    /* Kept with other errors too, for the duplicate and apex checks. */
    if (!have_apex || !z.name) {
        zone_free(&z);
        return;
    }
    cfg->zones[cfg->zone_count++] = z;
}

static void load_zones(struct loader *ld, struct json_object *zones)
{
    if (json_object_get_type(zones) != json_type_object) {
        report_type(ld, zones, "an object (zone name: zone)");
        return;
    }
    size_t n = (size_t)json_object_object_length(zones);
    ld->cfg->zones = calloc(n ? n : 1, sizeof(*ld->cfg->zones));
    if (!ld->cfg->zones) {
        report_out_of_memory(ld);
        return;
    }
    /* Zone names are the keys: no key is unknown, but duplicates are. */
    check_object(ld, zones, NULL, 0);
    json_object_object_foreach(zones, key, value)
    {
        load_zone(ld, key, value);
    }
}

/* ---- records ---- */

static const char *const RECORD_KEYS[] = {"name",     "type",     "value",  "ttl",
                                          "priority", "weight",   "port",   "flags",
                                          "tag",      "wildcard", "comment"};

static const struct {
    const char *name;
    uint16_t type;
} RECORD_TYPES[] = {
    {"A", WIRE_TYPE_A},         {"AAAA", WIRE_TYPE_AAAA}, {"CAA", WIRE_TYPE_CAA},
    {"CNAME", WIRE_TYPE_CNAME}, {"MX", WIRE_TYPE_MX},     {"NS", WIRE_TYPE_NS},
    {"PTR", WIRE_TYPE_PTR},     {"SRV", WIRE_TYPE_SRV},   {"TXT", WIRE_TYPE_TXT},
};

static const char *record_type_name(uint16_t type)
{
    for (size_t i = 0; i < COUNT(RECORD_TYPES); i++)
        if (RECORD_TYPES[i].type == type)
            return RECORD_TYPES[i].name;
    return "?";
}

/* What one record object says, before it is turned into wire form. */
struct record_fields {
    const char *value;
    size_t value_len;
    uint32_t ttl;
    uint16_t priority, weight, port;
    uint16_t flags;
    const char *tag;
    size_t tag_len;
    bool has_port, has_tag;
};

/* Build the RDATA of a record of type t from its value (the path is at
 * "value"). Returns 0, or -1 having reported why. */
static int record_rdata(struct loader *ld, uint16_t type, const struct record_fields *f,
                        struct config_record *r)
{
    uint8_t buf[6 + WIRE_NAME_MAX];
    size_t len = 0;
    uint8_t name_len;
    char q[QUOTE_CAP];

    bool c_string = type != WIRE_TYPE_TXT && type != WIRE_TYPE_CAA;
    if (c_string && strlen(f->value) != f->value_len) {
        report(ld, CONFIG_ERROR, false, "a NUL character (\\u0000) is not allowed here");
        return -1;
    }
    switch (type) {
    case WIRE_TYPE_A: /* RFC 1035 §3.4.1 */
        if (inet_pton(AF_INET, f->value, buf) != 1) {
            report(ld, CONFIG_ERROR, false, "%s is not an IPv4 address",
                   quote(q, f->value, f->value_len));
            return -1;
        }
        len = 4;
        break;
    case WIRE_TYPE_AAAA: /* RFC 3596 §2.2 */
        if (inet_pton(AF_INET6, f->value, buf) != 1) {
            report(ld, CONFIG_ERROR, false, "%s is not an IPv6 address",
                   quote(q, f->value, f->value_len));
            return -1;
        }
        len = 16;
        break;
    case WIRE_TYPE_CNAME:
    case WIRE_TYPE_NS:
    case WIRE_TYPE_PTR:
        if (name_from_text(ld, f->value, buf, &name_len, false) < 0)
            return -1;
        len = name_len;
        break;
    case WIRE_TYPE_MX: /* RFC 1035 §3.3.9: PREFERENCE, EXCHANGE */
        if (name_from_text(ld, f->value, buf + 2, &name_len, false) < 0)
            return -1;
        wire_put16(buf, f->priority);
        len = 2u + name_len;
        break;
    case WIRE_TYPE_SRV: /* RFC 2782: priority, weight, port, target */
        if (name_from_text(ld, f->value, buf + 6, &name_len, false) < 0)
            return -1;
        wire_put16(buf, f->priority);
        wire_put16(buf + 2, f->weight);
        wire_put16(buf + 4, f->port);
        len = 6u + name_len;
        break;
    case WIRE_TYPE_TXT: {
        /* RFC 1035 §3.3.14: one or more <character-string>s of at most 255
         * octets; an empty value is one empty string. */
        size_t strings = f->value_len == 0 ? 1 : (f->value_len + 254) / 255;
        len = f->value_len + strings;
        if (len > UINT16_MAX) {
            report(ld, CONFIG_ERROR, false,
                   "a TXT value of %zu octets is too long (its RDATA would be %zu octets, "
                   "more than 65535)",
                   f->value_len, len);
            return -1;
        }
        uint8_t *rdata = malloc(len);
        if (!rdata) {
            report_out_of_memory(ld);
            return -1;
        }
        size_t w = 0, done = 0;
        do {
            size_t chunk = f->value_len - done > 255 ? 255 : f->value_len - done;
            rdata[w++] = (uint8_t)chunk;
            memcpy(rdata + w, f->value + done, chunk);
            w += chunk;
            done += chunk;
        } while (done < f->value_len);
        r->rdata = rdata;
        r->rdata_len = (uint16_t)len;
        return 0;
    }
    case WIRE_TYPE_CAA: { /* RFC 8659 §4.1: flags, tag length, tag, value */
        len = 2 + f->tag_len + f->value_len;
        if (len > UINT16_MAX) {
            report(ld, CONFIG_ERROR, false, "the CAA value is too long (%zu octets)", f->value_len);
            return -1;
        }
        uint8_t *rdata = malloc(len);
        if (!rdata) {
            report_out_of_memory(ld);
            return -1;
        }
        rdata[0] = (uint8_t)f->flags;
        rdata[1] = (uint8_t)f->tag_len;
        if (f->tag_len > 0)
            memcpy(rdata + 2, f->tag, f->tag_len);
        memcpy(rdata + 2 + f->tag_len, f->value, f->value_len);
        r->rdata = rdata;
        r->rdata_len = (uint16_t)len;
        return 0;
    }
    default:
        return -1;
    }
    r->rdata = malloc(len);
    if (!r->rdata) {
        report_out_of_memory(ld);
        return -1;
    }
    memcpy(r->rdata, buf, len);
    r->rdata_len = (uint16_t)len;
    return 0;
}

static bool caa_tag_valid(const char *tag, size_t n)
{
    /* RFC 8659 §4.1: 1 to 15 US-ASCII letters and digits */
    if (n == 0 || n > 15)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = tag[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

static void load_record(struct loader *ld, struct json_object *obj, size_t index)
{
    struct config *cfg = ld->cfg;
    size_t errors = ld->diags->errors;
    struct config_record r;
    struct record_fields f;
    memset(&r, 0, sizeof(r));
    memset(&f, 0, sizeof(f));

    push_index(ld, index);
    if (json_object_get_type(obj) != json_type_object) {
        report_type(ld, obj, "an object");
        pop(ld);
        return;
    }
    size_t offset = check_object(ld, obj, RECORD_KEYS, COUNT(RECORD_KEYS));
    json_locate_line_column(&ld->loc, offset, &r.line, &r.column);

    const char *s;
    size_t n;
    char q[QUOTE_CAP];
    bool have_name = false, have_type = false;
    int rc = read_string_pushed(ld, obj, "name", true, &s, &n);
    if (rc == 1)
        have_name = name_from_text(ld, s, r.owner, &r.owner_len, false) == 0;
    if (rc != 0)
        pop(ld);
    else
        report_missing(ld, "name");

    rc = read_string_pushed(ld, obj, "type", true, &s, &n);
    if (rc == 1) {
        for (size_t i = 0; i < COUNT(RECORD_TYPES) && !have_type; i++) {
            if (strcasecmp(s, RECORD_TYPES[i].name) == 0) {
                r.type = RECORD_TYPES[i].type;
                have_type = true;
            }
        }
        if (!have_type && strcasecmp(s, "SOA") == 0)
            report(ld, CONFIG_ERROR, false, "SOA comes from zones.<zone>.soa, not from records");
        else if (!have_type)
            report(ld, CONFIG_ERROR, false,
                   "unknown record type %s (supported: A, AAAA, CAA, CNAME, MX, NS, PTR, SRV, "
                   "TXT)",
                   quote(q, s, n));
    }
    if (rc != 0)
        pop(ld);
    else
        report_missing(ld, "type");

    /* Keys that do not apply to the type are checked but ignored, as the
     * original ignores them. */
    r.ttl = 300;
    read_u32(ld, obj, "ttl", "TTL", 0, TTL_MAX, &r.ttl);
    f.priority = 10;
    read_u16(ld, obj, "priority", "priority", 0, 65535, &f.priority);
    read_u16(ld, obj, "weight", "weight", 0, 65535, &f.weight);
    f.has_port = read_u16(ld, obj, "port", "port", 0, 65535, &f.port) != 0;
    read_u16(ld, obj, "flags", "CAA flags", 0, 255, &f.flags);
    read_bool(ld, obj, "wildcard", &r.wildcard);
    rc = read_string_pushed(ld, obj, "comment", false, &s, &n);
    if (rc != 0)
        pop(ld);
    rc = read_string_pushed(ld, obj, "tag", false, &f.tag, &f.tag_len);
    if (rc == 1 && r.type == WIRE_TYPE_CAA && !caa_tag_valid(f.tag, f.tag_len))
        report(ld, CONFIG_ERROR, false,
               "CAA tag %s must be 1 to 15 letters and digits, such as \"issue\", "
               "\"issuewild\" or \"iodef\" (RFC 8659 §4.1)",
               quote(q, f.tag, f.tag_len));
    if (rc != 0)
        pop(ld);
    f.has_tag = rc != 0;

    if (have_type && r.type == WIRE_TYPE_SRV && !f.has_port)
        report(ld, CONFIG_ERROR, false, "missing required key \"port\" (an SRV record needs one)");
    if (have_type && r.type == WIRE_TYPE_CAA && !f.has_tag)
        report(ld, CONFIG_ERROR, false,
               "missing required key \"tag\" (a CAA record needs one: \"issue\", \"issuewild\" "
               "or \"iodef\")");

    rc = read_string_pushed(ld, obj, "value", false, &f.value, &f.value_len);
    if (rc == 1 && have_type)
        record_rdata(ld, r.type, &f, &r);
    if (rc != 0)
        pop(ld);
    else
        report_missing(ld, "value");
    pop(ld);

    if (!have_name || !have_type) {
        free(r.rdata);
        return;
    }
    ld->record_index[cfg->record_count] = index;
    ld->record_offset[cfg->record_count] = offset;
    ld->record_ok[cfg->record_count] = ld->diags->errors == errors;
    cfg->records[cfg->record_count++] = r;
}

static void load_records(struct loader *ld, struct json_object *records)
{
    if (json_object_get_type(records) != json_type_array) {
        report_type(ld, records, "an array of record objects");
        return;
    }
    size_t n = json_object_array_length(records);
    struct config *cfg = ld->cfg;
    cfg->records = calloc(n ? n : 1, sizeof(*cfg->records));
    ld->record_index = calloc(n ? n : 1, sizeof(size_t));
    ld->record_offset = calloc(n ? n : 1, sizeof(size_t));
    ld->record_ok = calloc(n ? n : 1, sizeof(bool));
    if (!cfg->records || !ld->record_index || !ld->record_offset || !ld->record_ok) {
        report_out_of_memory(ld);
        return;
    }
    for (size_t i = 0; i < n; i++)
        load_record(ld, json_object_array_get_idx(records, i), i);
}

/* ---- rewrites ---- */

static const char *const REWRITE_KEYS[] = {"match", "action", "comment"};

static void load_rewrite(struct loader *ld, struct json_object *obj, size_t index)
{
    struct config *cfg = ld->cfg;
    size_t errors = ld->diags->errors;
    struct config_rewrite w;
    memset(&w, 0, sizeof(w));

    push_index(ld, index);
    if (json_object_get_type(obj) != json_type_object) {
        report_type(ld, obj, "an object");
        pop(ld);
        return;
    }
    check_object(ld, obj, REWRITE_KEYS, COUNT(REWRITE_KEYS));

    const char *s;
    size_t n;
    char q[QUOTE_CAP];
    int rc = read_string_pushed(ld, obj, "match", true, &s, &n);
    if (rc == 1) {
        const char *name = s;
        if (n >= 2 && s[0] == '*' && s[1] == '.') {
            w.below = true;
            name = s + 2;
        }
        if (strcmp(s, "*") == 0 || strcmp(s, "*.") == 0)
            report(ld, CONFIG_ERROR, false,
                   "%s would block every name; give a suffix such as \"*.ads.example.com\"",
                   quote(q, s, n));
        else if (strchr(name, '*'))
            report(ld, CONFIG_ERROR, false,
                   "%s: '*' is only allowed as a whole first label (\"*.ads.example.com\" "
                   "blocks every name below ads.example.com)",
                   quote(q, s, n));
        else if (name_from_text(ld, name, w.name, &w.name_len, false) == 0 && w.below &&
                 w.name_len == 1)
            report(ld, CONFIG_ERROR, false,
                   "%s would block every name; give a suffix such as \"*.ads.example.com\"",
                   quote(q, s, n));
    }
    if (rc != 0)
        pop(ld);
    else
        report_missing(ld, "match");

    rc = read_string_pushed(ld, obj, "action", true, &s, &n);
    if (rc == 1 && strcasecmp(s, "nxdomain") != 0)
        report(ld, CONFIG_ERROR, false, "action %s is not supported: only \"nxdomain\" is",
               quote(q, s, n));
    if (rc != 0)
        pop(ld);
    else
        report_missing(ld, "action");

    rc = read_string_pushed(ld, obj, "comment", false, &s, &n);
    if (rc != 0)
        pop(ld);
    pop(ld);
    if (ld->diags->errors == errors)
        cfg->rewrites[cfg->rewrite_count++] = w;
}

static void load_rewrites(struct loader *ld, struct json_object *rewrites)
{
    if (json_object_get_type(rewrites) != json_type_array) {
        report_type(ld, rewrites, "an array of rewrite objects");
        return;
    }
    size_t n = json_object_array_length(rewrites);
    ld->cfg->rewrites = calloc(n ? n : 1, sizeof(*ld->cfg->rewrites));
    if (!ld->cfg->rewrites) {
        report_out_of_memory(ld);
        return;
    }
    for (size_t i = 0; i < n; i++)
        load_rewrite(ld, json_object_array_get_idx(rewrites, i), i);
}

/* ---- checks across records and zones ---- */

static int name_compare(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    /* Case-insensitive; length octets are below 64, so lowering is safe. */
    size_t n = a_len < b_len ? a_len : b_len;
    for (size_t i = 0; i < n; i++) {
        uint8_t x = wire_lower(a[i]), y = wire_lower(b[i]);
        if (x != y)
            return x < y ? -1 : 1;
    }
    return a_len < b_len ? -1 : a_len > b_len;
}

struct record_ref {
    const struct config_record *r;
    size_t position; /* in cfg->records */
};

static int record_ref_compare(const void *a, const void *b)
{
    const struct record_ref *x = a, *y = b;
    int c = name_compare(x->r->owner, x->r->owner_len, y->r->owner, y->r->owner_len);
    if (c != 0)
        return c;
    if (x->r->type != y->r->type)
        return x->r->type < y->r->type ? -1 : 1;
    if (x->r->wildcard != y->r->wildcard)
        return x->r->wildcard ? 1 : -1;
    if (x->r->rdata_len != y->r->rdata_len)
        return x->r->rdata_len < y->r->rdata_len ? -1 : 1;
    if (x->r->rdata_len > 0) {
        c = memcmp(x->r->rdata, y->r->rdata, x->r->rdata_len);
        if (c != 0)
            return c;
    }
    return x->position < y->position ? -1 : x->position > y->position;
}

struct zone_ref {
    const struct config_zone *z;
    size_t position;
};

static int zone_ref_compare(const void *a, const void *b)
{
    const struct zone_ref *x = a, *y = b;
    int c = name_compare(x->z->apex, x->z->apex_len, y->z->apex, y->z->apex_len);
    if (c != 0)
        return c;
    return x->position < y->position ? -1 : x->position > y->position;
}

static const char *name_text(char *buf, const uint8_t *name, size_t len)
{
    char text[WIRE_NAME_MAX * 4 + 1];
    int n = wire_name_to_text(name, len, text, sizeof(text));
    if (n < 0)
        return quote(buf, "?", 1);
    return quote(buf, text, (size_t)n);
}

/* Zones sorted by apex; NULL-free when count is 0. Duplicates reported. */
static struct zone_ref *check_zones(struct loader *ld)
{
    struct config *cfg = ld->cfg;
    struct zone_ref *zones = calloc(cfg->zone_count ? cfg->zone_count : 1, sizeof(*zones));
    if (!zones) {
        report_out_of_memory(ld);
        return NULL;
    }
    for (size_t i = 0; i < cfg->zone_count; i++)
        zones[i] = (struct zone_ref){&cfg->zones[i], i};
    qsort(zones, cfg->zone_count, sizeof(*zones), zone_ref_compare);
    for (size_t i = 1; i < cfg->zone_count; i++) {
        const struct config_zone *first = zones[i - 1].z, *again = zones[i].z;
        if (name_compare(first->apex, first->apex_len, again->apex, again->apex_len) != 0)
            continue;
        /* zones[i - 1] has the lower position: it is the first written */
        char q1[QUOTE_CAP], q2[QUOTE_CAP];
        push_key(ld, "zones");
        push_key(ld, again->name);
        report(ld, CONFIG_ERROR, true,
               "zone %s is already defined as %s (zone names are case-insensitive)",
               quote(q1, again->name, strlen(again->name)),
               quote(q2, first->name, strlen(first->name)));
        pop(ld);
        pop(ld);
    }
    return zones;
}

/* The zone whose apex is name, or NULL; zones sorted by check_zones. */
static const struct config_zone *zone_at(const struct zone_ref *zones, size_t count,
                                         const uint8_t *name, size_t len)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_compare(name, len, zones[mid].z->apex, zones[mid].z->apex_len);
        if (c == 0)
            return zones[mid].z;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static bool is_apex(const struct zone_ref *zones, size_t count, const struct config_record *r)
{
    return zone_at(zones, count, r->owner, r->owner_len) != NULL;
}

/* The CNAME rules of one owner name, refs[begin..end). */
static void check_cname_group(struct loader *ld, const struct record_ref *refs, size_t begin,
                              size_t end, const struct zone_ref *zones, size_t zone_count)
{
    const struct config *cfg = ld->cfg;
    size_t first_cname = SIZE_MAX, first_other = SIZE_MAX;
    for (size_t k = begin; k < end; k++) {
        size_t *first = refs[k].r->type == WIRE_TYPE_CNAME ? &first_cname : &first_other;
        if (refs[k].position < *first)
            *first = refs[k].position;
    }
    if (first_cname == SIZE_MAX)
        return;
    for (size_t k = begin; k < end; k++) {
        const struct config_record *r = refs[k].r;
        size_t p = refs[k].position;
        if (r->type != WIRE_TYPE_CNAME)
            continue;
        char qn[QUOTE_CAP];
        name_text(qn, r->owner, r->owner_len);
        size_t index = ld->record_index[p], offset = ld->record_offset[p];
        if (p != first_cname)
            report_record(ld, CONFIG_ERROR, index, offset, "type",
                          "more than one CNAME at %s (records[%zu] is one already; RFC 2181 "
                          "§10.1)",
                          qn, ld->record_index[first_cname]);
        if (first_other != SIZE_MAX)
            report_record(ld, CONFIG_ERROR, index, offset, "type",
                          "a CNAME at %s beside other data: records[%zu] is %s at the same name "
                          "(RFC 1034 §3.6.2)",
                          qn, ld->record_index[first_other],
                          record_type_name(cfg->records[first_other].type));
        if (is_apex(zones, zone_count, r))
            report_record(ld, CONFIG_ERROR, index, offset, "type",
                          "a CNAME at the apex of zone %s, which has SOA and NS records (RFC "
                          "1034 §3.6.2)",
                          qn);
    }
}

/* TTLs and duplicates in one RRset, refs[begin..end) sorted by rdata. */
static void check_rrset(struct loader *ld, const struct record_ref *refs, size_t begin, size_t end)
{
    const struct config *cfg = ld->cfg;
    size_t first = SIZE_MAX;
    for (size_t k = begin; k < end; k++)
        if (refs[k].position < first)
            first = refs[k].position;
    const struct config_record *ref = &cfg->records[first];
    for (size_t k = begin; k < end; k++) {
        const struct config_record *r = refs[k].r;
        size_t p = refs[k].position;
        if (p != first && r->ttl != ref->ttl)
            report_record(ld, CONFIG_WARNING, ld->record_index[p], ld->record_offset[p], "ttl",
                          "TTL %" PRIu32 " differs from %" PRIu32
                          " of records[%zu] in the same RRset; the smallest is served (RFC 2181 "
                          "§5.2)",
                          r->ttl, ref->ttl, ld->record_index[first]);
        if (k > begin && refs[k - 1].r->rdata_len == r->rdata_len &&
            memcmp(refs[k - 1].r->rdata, r->rdata, r->rdata_len) == 0) {
            /* runs of equal data are sorted by position: find the run's first */
            size_t run = k - 1;
            while (run > begin && refs[run - 1].r->rdata_len == r->rdata_len &&
                   memcmp(refs[run - 1].r->rdata, r->rdata, r->rdata_len) == 0)
                run--;
            report_record(ld, CONFIG_WARNING, ld->record_index[p], ld->record_offset[p], NULL,
                          "the same record as records[%zu]; it is served once (an RRset is a "
                          "set, RFC 2181 §5)",
                          ld->record_index[refs[run].position]);
        }
    }
}

/* Runs of refs[0..n) with the same owner name (same RRset when rrsets). */
static size_t run_end(const struct record_ref *refs, size_t n, size_t i, bool rrsets)
{
    size_t j = i + 1;
    while (j < n &&
           name_compare(refs[i].r->owner, refs[i].r->owner_len, refs[j].r->owner,
                        refs[j].r->owner_len) == 0 &&
           (!rrsets ||
            (refs[j].r->type == refs[i].r->type && refs[j].r->wildcard == refs[i].r->wildcard)))
        j++;
    return j;
}

static void check_records(struct loader *ld, const struct zone_ref *zones)
{
    struct config *cfg = ld->cfg;
    size_t n = cfg->record_count, ok = 0;
    if (n == 0)
        return;
    /* all records with a good name and type, for the CNAME rules; and the
     * records without any error, for the RRset checks */
    struct record_ref *refs = malloc(n * sizeof(*refs));
    struct record_ref *good = malloc(n * sizeof(*good));
    if (!refs || !good) {
        report_out_of_memory(ld);
        free(refs);
        free(good);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        refs[i] = (struct record_ref){&cfg->records[i], i};
        if (ld->record_ok[i])
            good[ok++] = refs[i];
    }
    /* Sorted by owner, type, wildcard, rdata: owners and RRsets become
     * runs, and the whole is O(n log n) however large the config. */
    qsort(refs, n, sizeof(*refs), record_ref_compare);
    qsort(good, ok, sizeof(*good), record_ref_compare);
    for (size_t i = 0, j; i < n; i = j) {
        j = run_end(refs, n, i, false);
        check_cname_group(ld, refs, i, j, zones, cfg->zone_count);
    }
    for (size_t i = 0, j; i < ok; i = j) {
        j = run_end(good, ok, i, true);
        if (good[i].r->type != WIRE_TYPE_CNAME) /* several CNAMEs are an error already */
            check_rrset(ld, good, i, j);
    }
    free(refs);
    free(good);
}

/* ---- where the data is: records outside the zones, targets inside ---- */

/* Findings of one kind listed one by one; the first past them says how
 * many more there are (a zone-less config of the original's can have
 * thousands of records, each outside every zone). */
#define LISTED_MAX 10

/* A name in lowercase, the start of each suffix (k = labels: the root)
 * and the hash of each (image_name_suffix_hashes). */
struct name_view {
    uint8_t lower[WIRE_NAME_MAX];
    size_t len;
    unsigned labels;
    uint8_t starts[WIRE_LABELS_MAX];
    uint32_t hashes[WIRE_LABELS_MAX];
};

static void name_view_init(struct name_view *v, const uint8_t *name, size_t len)
{
    memcpy(v->lower, name, len);
    wire_name_lower(v->lower, len);
    v->len = len;
    v->labels = wire_name_labels(v->lower, len, v->starts);
    v->starts[v->labels] = (uint8_t)(len - 1);
    image_name_suffix_hashes(v->lower, len, v->starts, v->labels + 1, v->hashes);
}

/* The closest zone at or above v, its apex being suffix *apex_k of v. */
static const struct config_zone *zone_enclosing(const struct zone_ref *zones, size_t count,
                                                const struct name_view *v, unsigned *apex_k)
{
    for (unsigned k = 0; k <= v->labels && count > 0; k++) {
        const struct config_zone *z =
            zone_at(zones, count, v->lower + v->starts[k], v->len - v->starts[k]);
        if (z) {
            *apex_k = k;
            return z;
        }
    }
    return NULL;
}

#define NAME_DATA 1u           /* a record has this owner */
#define NAME_EXISTS 2u         /* an owner, or above one; the names above it are in the set */
#define NAME_WILDCARD_BELOW 4u /* a record here has the original's "wildcard": true */

/* Every record owner and every name above one, hashed: each target is
 * then a few probes, and the whole check O(records). The names point into
 * cfg->records, which outlives the set. */
struct name_entry {
    const uint8_t *name; /* NULL: a free slot */
    uint32_t hash;       /* image_name_hash of the name in lowercase */
    uint8_t len;
    uint8_t flags;
};

struct name_set {
    struct name_entry *slots;
    size_t mask; /* slots - 1; the table is at most half full */
    size_t count;
};

/* name's entry, or the free slot where it would go (flags 0). */
static struct name_entry *name_set_slot(const struct name_set *set, const uint8_t *name, size_t len,
                                        uint32_t hash)
{
    for (size_t i = hash & set->mask;; i = (i + 1) & set->mask) {
        struct name_entry *e = &set->slots[i];
        if (e->name == NULL ||
            (e->hash == hash && e->len == len && name_compare(e->name, e->len, name, len) == 0))
            return e;
    }
}

static unsigned name_set_flags(const struct name_set *set, const uint8_t *name, size_t len,
                               uint32_t hash)
{
    return set->slots ? name_set_slot(set, name, len, hash)->flags : 0; /* none: no records */
}

/* name's entry, added without flags when new; NULL when out of memory. */
static struct name_entry *name_set_add(struct name_set *set, const uint8_t *name, size_t len,
                                       uint32_t hash)
{
    if ((set->count + 1) * 2 > (set->slots ? set->mask + 1 : 0)) {
        size_t capacity = set->slots ? (set->mask + 1) * 2 : 1024;
        struct name_set bigger = {calloc(capacity, sizeof(struct name_entry)), capacity - 1,
                                  set->count};
        if (!bigger.slots)
            return NULL;
        for (size_t i = 0; set->slots && i <= set->mask; i++)
            if (set->slots[i].name)
                *name_set_slot(&bigger, set->slots[i].name, set->slots[i].len, set->slots[i].hash) =
                    set->slots[i];
        free(set->slots);
        *set = bigger;
    }
    struct name_entry *e = name_set_slot(set, name, len, hash);
    if (e->name == NULL) {
        *e = (struct name_entry){name, hash, (uint8_t)len, 0};
        set->count++;
    }
    return e;
}

static int name_set_build(struct name_set *set, const struct config *cfg)
{
    struct name_view v;
    for (size_t i = 0; i < cfg->record_count; i++) {
        const struct config_record *r = &cfg->records[i];
        name_view_init(&v, r->owner, r->owner_len);
        /* Up from the owner until a name whose ancestors are in already. */
        for (unsigned k = 0; k < v.labels; k++) {
            struct name_entry *e =
                name_set_add(set, r->owner + v.starts[k], r->owner_len - v.starts[k], v.hashes[k]);
            if (!e)
                return -1;
            if (k == 0)
                e->flags |= NAME_DATA | (r->wildcard ? NAME_WILDCARD_BELOW : 0);
            if (e->flags & NAME_EXISTS)
                break;
            e->flags |= NAME_EXISTS;
        }
    }
    return 0;
}

/* Whether v, in a zone whose apex is its suffix apex_k, has something to
 * answer with: the apex's SOA and NS, records of its own, the original's
 * wildcard on its parent, or else an RFC 4592 "*" child of its closest
 * encloser. *exists: it is a name without data (an empty non-terminal). */
static bool target_has_data(const struct name_set *set, const struct name_view *v, unsigned apex_k,
                            bool *exists)
{
    if (apex_k == 0)
        return true;
    unsigned flags = name_set_flags(set, v->lower, v->len, v->hashes[0]);
    *exists = (flags & NAME_EXISTS) != 0;
    if (flags & NAME_DATA)
        return true;
    if (name_set_flags(set, v->lower + v->starts[1], v->len - v->starts[1], v->hashes[1]) &
        NAME_WILDCARD_BELOW)
        return true;
    if (*exists)
        return false; /* RFC 4592 §2.2.2: a name that exists is no wildcard's */
    uint8_t star[WIRE_NAME_MAX] = {1, '*'};
    for (unsigned k = 1; k <= apex_k; k++) {
        const uint8_t *above = v->lower + v->starts[k];
        size_t n = v->len - v->starts[k];
        if (n + 2 <= WIRE_NAME_MAX) {
            memcpy(star + 2, above, n);
            if (name_set_flags(set, star, n + 2, image_name_hash(star, n + 2)) & NAME_DATA)
                return true;
        }
        /* RFC 4592 §3.3.1: only the closest encloser's wildcard applies */
        if (name_set_flags(set, above, n, v->hashes[k]) & NAME_EXISTS)
            return false;
    }
    return false;
}

/* Where a target is written: records[index] (its object at offset), or
 * zones.<zone>.ns[index]. */
struct target_place {
    const struct config_zone *zone; /* NULL: a record */
    size_t index, offset;
};

struct target_findings {
    size_t count;
    struct target_place first_unlisted;
};

__attribute__((format(printf, 3, 4))) static void
report_target(struct loader *ld, const struct target_place *at, const char *fmt, ...)
{
    char message[sizeof(((struct config_diag *)0)->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (!at->zone) {
        report_record(ld, CONFIG_WARNING, at->index, at->offset, "value", "%s", message);
        return;
    }
    push_key(ld, "zones");
    push_key(ld, at->zone->name);
    push_key(ld, "ns");
    push_index(ld, at->index);
    report(ld, CONFIG_WARNING, false, "%s", message);
    for (int i = 0; i < 4; i++)
        pop(ld);
}

/* A name that a CNAME, MX, NS or SRV record points at: when it is inside
 * one of our zones, we are the ones who must hold its data. */
static void check_target(struct loader *ld, const struct zone_ref *zones,
                         const struct name_set *set, uint16_t type, const uint8_t *target,
                         size_t len, const struct target_place *at, struct target_findings *found)
{
    struct name_view v;
    unsigned apex_k;
    bool exists = false;
    name_view_init(&v, target, len);
    const struct config_zone *zone = zone_enclosing(zones, ld->cfg->zone_count, &v, &apex_k);
    if (!zone || target_has_data(set, &v, apex_k, &exists))
        return;
    if (found->count++ == LISTED_MAX)
        found->first_unlisted = *at;
    if (found->count > LISTED_MAX)
        return;
    char qt[QUOTE_CAP], qz[QUOTE_CAP];
    report_target(ld, at,
                  "%s target %s is inside zone %s but has no records, so whoever follows it "
                  "gets %s; add %s",
                  record_type_name(type), name_text(qt, target, len),
                  quote(qz, zone->name, strlen(zone->name)), exists ? "no data" : "NXDOMAIN",
                  type == WIRE_TYPE_CNAME ? "its records" : "its A or AAAA record");
}

/* Targets of zones.<zone>.ns (when that list loaded whole: with_zone_ns)
 * and of the records. */
static void check_targets(struct loader *ld, const struct zone_ref *zones, bool with_zone_ns)
{
    const struct config *cfg = ld->cfg;
    if (cfg->zone_count == 0)
        return; /* nothing is inside our zones */
    struct name_set set = {0};
    if (name_set_build(&set, cfg) < 0) {
        free(set.slots);
        report_out_of_memory(ld);
        return;
    }
    struct target_findings found = {0};
    for (size_t z = 0; z < cfg->zone_count && with_zone_ns; z++)
        for (size_t k = 0; k < cfg->zones[z].ns_count; k++)
            check_target(ld, zones, &set, WIRE_TYPE_NS, cfg->zones[z].ns[k],
                         cfg->zones[z].ns_len[k], &(struct target_place){&cfg->zones[z], k, 0},
                         &found);
    for (size_t p = 0; p < cfg->record_count; p++) {
        const struct config_record *r = &cfg->records[p];
        struct wire_rdata_layout layout;
        bool pointer = r->type == WIRE_TYPE_CNAME || r->type == WIRE_TYPE_MX ||
                       r->type == WIRE_TYPE_NS || r->type == WIRE_TYPE_SRV;
        if (!ld->record_ok[p] || !pointer || !wire_rdata_layout(r->type, &layout) ||
            r->rdata_len <= layout.names_offset)
            continue;
        check_target(ld, zones, &set, r->type, r->rdata + layout.names_offset,
                     r->rdata_len - layout.names_offset,
                     &(struct target_place){NULL, ld->record_index[p], ld->record_offset[p]},
                     &found);
    }
    if (found.count > LISTED_MAX)
        report_target(ld, &found.first_unlisted,
                      "%zu more CNAME, MX, NS or SRV targets from here on are inside our zones "
                      "but have no records (only the first %d are listed)",
                      found.count - LISTED_MAX, LISTED_MAX);
    free(set.slots);
}

/* The original answers every record, zone or not; so do we, and say what
 * a name outside the zones misses. */
static void check_outside_zones(struct loader *ld, const struct zone_ref *zones)
{
    const struct config *cfg = ld->cfg;
    size_t count = 0, first_unlisted = 0;
    struct name_view v;
    unsigned apex_k;
    for (size_t p = 0; p < cfg->record_count; p++) {
        const struct config_record *r = &cfg->records[p];
        if (!ld->record_ok[p])
            continue;
        name_view_init(&v, r->owner, r->owner_len);
        if (zone_enclosing(zones, cfg->zone_count, &v, &apex_k))
            continue;
        if (count++ == LISTED_MAX)
            first_unlisted = p;
        if (count > LISTED_MAX)
            continue;
        char q[QUOTE_CAP];
        report_record(ld, CONFIG_WARNING, ld->record_index[p], ld->record_offset[p], "name",
                      "%s is outside every zone: it is answered anyway, as the original does, "
                      "but that name is never forwarded and its negative answers carry no SOA; "
                      "add its zone to \"zones\" if the name is ours",
                      name_text(q, r->owner, r->owner_len));
    }
    if (count > LISTED_MAX)
        report_record(ld, CONFIG_WARNING, ld->record_index[first_unlisted],
                      ld->record_offset[first_unlisted], "name",
                      "%zu more records from here on are outside every zone (answered anyway, as "
                      "the original does; only the first %d are listed)",
                      count - LISTED_MAX, LISTED_MAX);
}

/* ---- loading ---- */

static int diag_pointer_compare(const void *a, const void *b)
{
    const struct config_diag *x = *(const struct config_diag *const *)a;
    const struct config_diag *y = *(const struct config_diag *const *)b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x < y ? -1 : x > y; /* found first, shown first */
}

/* Put the findings from first on in the order of the file: the checks
 * across records come last but belong among the others. */
static void diags_sort(struct config_diags *d, size_t first)
{
    size_t n = d->count - first;
    if (n < 2)
        return;
    const struct config_diag **order = malloc(n * sizeof(*order));
    struct config_diag *sorted = malloc(n * sizeof(*sorted));
    if (order && sorted) {
        for (size_t i = 0; i < n; i++)
            order[i] = &d->items[first + i];
        qsort(order, n, sizeof(*order), diag_pointer_compare);
        for (size_t i = 0; i < n; i++)
            sorted[i] = *order[i];
        memcpy(d->items + first, sorted, n * sizeof(*sorted));
    }
    free(order);
    free(sorted);
}

static const char *const TOP_KEYS[] = {"server", "zones", "records", "rewrites"};

/* Every table check_object is given: what the man page must document
 * (tests/unit/test_config.c checks nanodns.8 against it). */
static const struct config_key_table KEY_TABLES[] = {
    {"", TOP_KEYS, COUNT(TOP_KEYS)},
    {"server", SERVER_KEYS, COUNT(SERVER_KEYS)},
    {"server.peers[]", PEER_KEYS, COUNT(PEER_KEYS)},
    {"zones.<zone>", ZONE_KEYS, COUNT(ZONE_KEYS)},
    {"zones.<zone>.soa", SOA_KEYS, COUNT(SOA_KEYS)},
    {"records[]", RECORD_KEYS, COUNT(RECORD_KEYS)},
    {"rewrites[]", REWRITE_KEYS, COUNT(REWRITE_KEYS)},
};

const struct config_key_table *config_key_tables(size_t *count)
{
    *count = COUNT(KEY_TABLES);
    return KEY_TABLES;
}

void config_free(struct config *cfg)
{
    struct config_server *s = &cfg->server;
    free(s->host);
    free(s->log_level);
    free(s->mgmt_host);
    free(s->user);
    free_strings(s->upstream, s->upstream_count);
    free_strings(s->peers, s->peer_count);
    free(s->peer_has_key);
    free(s->peer_keys);
    free(s->sync_key);
    free(s->upstreams);
    for (size_t i = 0; i < s->forward_zone_count; i++)
        forward_zone_free(&s->forward_zones[i]);
    free(s->forward_zones);
    free(s->allow_recursion);
    free(s->allow_query);
    for (size_t i = 0; i < cfg->zone_count; i++)
        zone_free(&cfg->zones[i]);
    free(cfg->zones);
    for (size_t i = 0; i < cfg->record_count; i++)
        free(cfg->records[i].rdata);
    free(cfg->records);
    free(cfg->rewrites);
    memset(cfg, 0, sizeof(*cfg));
}

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
    diags_add(ld->diags, CONFIG_ERROR, line, column, "", text);
}

/* Parse with json-c (RFC 8259, strict), then with json_locate_check for
 * what json-c's strict mode still lets through. NULL when refused; *ok
 * tells a refusal from the valid JSON text "null". */
static struct json_object *parse(struct loader *ld, const char *text, size_t len, bool *ok)
{
    *ok = false;
    if (len > INT_MAX) {
        diags_add(ld->diags, CONFIG_ERROR, 0, 0, "", "file too large");
        return NULL;
    }
    struct json_tokener *tok = json_tokener_new();
    if (!tok) {
        diags_add(ld->diags, CONFIG_ERROR, 0, 0, "", "out of memory");
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
            diags_add(ld->diags, CONFIG_ERROR, line, column, "",
                      c == 'n'               ? "the configuration must be a JSON object ({} is the "
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

int config_load_buffer(const char *text, size_t len, struct config *cfg, struct config_diags *diags)
{
    return config_load_buffer_at(text, len, NULL, cfg, diags);
}

int config_load_buffer_at(const char *text, size_t len, const char *config_path, struct config *cfg,
                          struct config_diags *diags)
{
    struct loader ld;
    memset(&ld, 0, sizeof(ld));
    memset(cfg, 0, sizeof(*cfg));
    ld.cfg = cfg;
    ld.diags = diags;
    ld.config_path = config_path;
    json_locator_init(&ld.loc, text, len);
    size_t errors = diags->errors, first_diag = diags->count;

    bool parsed;
    struct json_object *root = parse(&ld, text, len, &parsed);
    if (parsed && server_defaults(&ld, &cfg->server) == 0) {
        if (json_object_get_type(root) != json_type_object) {
            report(&ld, CONFIG_ERROR, false,
                   "the configuration must be a JSON object ({} is the smallest), not %s",
                   type_name(root));
        } else {
            check_object(&ld, root, TOP_KEYS, COUNT(TOP_KEYS));
            struct json_object *v;
            if (json_object_object_get_ex(root, "server", &v)) {
                push_key(&ld, "server");
                load_server(&ld, v);
                pop(&ld);
            }
            server_finish(&ld, &cfg->server);
            if (json_object_object_get_ex(root, "zones", &v)) {
                push_key(&ld, "zones");
                load_zones(&ld, v);
                pop(&ld);
            }
            if (json_object_object_get_ex(root, "records", &v)) {
                push_key(&ld, "records");
                load_records(&ld, v);
                pop(&ld);
            }
            if (json_object_object_get_ex(root, "rewrites", &v)) {
                push_key(&ld, "rewrites");
                load_rewrites(&ld, v);
                pop(&ld);
            }
            struct zone_ref *zones = check_zones(&ld);
            if (zones) {
                check_records(&ld, zones);
                check_outside_zones(&ld, zones);
                check_targets(&ld, zones, diags->errors == errors);
            }
            free(zones);
            config_digest(root, cfg->digest);
        }
    }
    json_object_put(root);
    free(ld.record_index);
    free(ld.record_offset);
    free(ld.record_ok);
    json_locator_free(&ld.loc);
    diags_sort(diags, first_diag);
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
        diags_add(diags, CONFIG_ERROR, 0, 0, "", message);
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
        diags_add(diags, CONFIG_ERROR, 0, 0, "", message);
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
    memset(&ld, 0, sizeof(ld));
    ld.cfg = cfg;
    ld.diags = diags;
    ld.config_path = path;
    json_locator_init(&ld.loc, text, len);
    size_t errors = diags->errors;

    bool parsed;
    struct json_object *root = parse(&ld, text, len, &parsed);
    if (parsed && server_defaults(&ld, &cfg->server) == 0) {
        struct json_object *server;
        if (json_object_get_type(root) != json_type_object) {
            report(&ld, CONFIG_ERROR, false,
                   "the configuration must be a JSON object ({} is the smallest), not %s",
                   type_name(root));
        } else if (json_object_object_get_ex(root, "server", &server)) {
            push_key(&ld, "server");
            if (json_object_get_type(server) != json_type_object) {
                report_type(&ld, server, "an object");
            } else {
                load_mgmt(&ld, server);
                load_sync_key(&ld, server);
            }
            pop(&ld);
        }
    }
    json_object_put(root);
    json_locator_free(&ld.loc);
    free(text);
    if (diags->errors != errors) {
        config_free(cfg);
        return -1;
    }
    return 0;
}

/* ---- output ---- */

/* A string the way Python's repr() writes it, as the original prints its
 * upstream list with it. */
static void print_python_repr(FILE *out, const char *s)
{
    char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    fputc(q, out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == (unsigned char)q)
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\r')
            fputs("\\r", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20 || *p == 0x7F)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
    fputc(q, out);
}

static bool owner_is_wildcard(const struct config_record *r)
{
    return r->owner_len > 2 && r->owner[0] == 1 && r->owner[1] == '*';
}

/* By owner, then by place in the config. */
static int record_owner_compare(const void *a, const void *b)
{
    const struct config_record *x = *(const struct config_record *const *)a;
    const struct config_record *y = *(const struct config_record *const *)b;
    int c = name_compare(x->owner, x->owner_len, y->owner, y->owner_len);
    return c != 0 ? c : (x > y) - (x < y);
}

/* One line per RFC 4592 wildcard owner ("*.x"), each once, in the order
 * of the config: a "*" is not a literal name, and the summary says so. */
static void print_wildcards(const struct config *cfg, FILE *out)
{
    size_t count = 0;
    for (size_t i = 0; i < cfg->record_count; i++)
        count += owner_is_wildcard(&cfg->records[i]);
    if (count == 0)
        return;
    const struct config_record **owners = malloc(count * sizeof(*owners));
    bool *first = calloc(cfg->record_count, sizeof(*first));
    if (!owners || !first) {
        fprintf(out, "  Wildcard: %zu records\n", count);
        free(owners);
        free(first);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < cfg->record_count; i++)
        if (owner_is_wildcard(&cfg->records[i]))
            owners[n++] = &cfg->records[i];
    /* sorted by name, then place: the first of each name is its first use */
    qsort(owners, n, sizeof(*owners), record_owner_compare);
    for (size_t i = 0; i < n; i++)
        first[owners[i] - cfg->records] =
            i == 0 || name_compare(owners[i - 1]->owner, owners[i - 1]->owner_len, owners[i]->owner,
                                   owners[i]->owner_len) != 0;
    for (size_t i = 0; i < cfg->record_count; i++) {
        char text[WIRE_NAME_MAX * 4 + 1];
        if (first[i] && wire_name_to_text(cfg->records[i].owner, cfg->records[i].owner_len, text,
                                          sizeof(text)) >= 0)
            fprintf(out, "  Wildcard: %s\n", text);
    }
    free(owners);
    free(first);
}

void config_print_summary(const struct config *cfg, FILE *out)
{
    fputs("OK Config is valid.\n", out);
    fprintf(out, "  Records : %zu\n", cfg->record_count);
    fprintf(out, "  Zones   : %zu\n", cfg->zone_count);
    fprintf(out, "  Rewrites: %zu\n", cfg->rewrite_count);
    fputs("  Upstream: [", out);
    for (size_t i = 0; i < cfg->server.upstream_count; i++) {
        if (i > 0)
            fputs(", ", out);
        print_python_repr(out, cfg->server.upstream[i]);
    }
    fputs("]\n", out);
    fprintf(out, "  Listen  : %s:%u\n", cfg->server.host ? cfg->server.host : "",
            (unsigned)cfg->server.port);
    /* The serial served is the configured one plus config_version, modulo
     * 2^32 (RFC 1982 serial arithmetic wraps there): every published
     * config_version bump is a new serial to caches and secondaries. */
    for (size_t i = 0; i < cfg->zone_count; i++) {
        uint32_t serial = (uint32_t)(cfg->zones[i].soa.serial + cfg->server.config_version);
        fprintf(out, "  Serial  : %s %" PRIu32 "\n", cfg->zones[i].name, serial);
    }
    print_wildcards(cfg, out);
}

/* What json.dump(EXAMPLE_CONFIG, f, indent=2) of the original writes. */
const char CONFIG_EXAMPLE_JSON[] = "{\n"
                                   "  \"server\": {\n"
                                   "    \"host\": \"0.0.0.0\",\n"
                                   "    \"port\": 53,\n"
                                   "    \"upstream\": [\n"
                                   "      \"8.8.8.8\",\n"
                                   "      \"1.1.1.1\"\n"
                                   "    ],\n"
                                   "    \"upstream_timeout\": 3,\n"
                                   "    \"upstream_port\": 53,\n"
                                   "    \"cache_enabled\": true,\n"
                                   "    \"cache_ttl\": 300,\n"
                                   "    \"cache_size\": 1000,\n"
                                   "    \"log_level\": \"INFO\",\n"
                                   "    \"log_queries\": true,\n"
                                   "    \"hot_reload\": true,\n"
                                   "    \"mgmt_host\": \"127.0.0.1\",\n"
                                   "    \"mgmt_port\": 9053,\n"
                                   "    \"peers\": [],\n"
                                   "    \"config_version\": 1\n"
                                   "  },\n"
                                   "  \"zones\": {\n"
                                   "    \"internal.lan\": {\n"
                                   "      \"soa\": {\n"
                                   "        \"mname\": \"ns1.internal.lan\",\n"
                                   "        \"rname\": \"admin.internal.lan\",\n"
                                   "        \"serial\": 2024010101,\n"
                                   "        \"refresh\": 3600,\n"
                                   "        \"retry\": 900,\n"
                                   "        \"expire\": 604800,\n"
                                   "        \"minimum\": 300\n"
                                   "      },\n"
                                   "      \"ns\": [\n"
                                   "        \"ns1.internal.lan\"\n"
                                   "      ]\n"
                                   "    }\n"
                                   "  },\n"
                                   "  \"records\": [\n"
                                   "    {\n"
                                   "      \"name\": \"ns1.internal.lan\",\n"
                                   "      \"type\": \"A\",\n"
                                   "      \"value\": \"192.168.1.10\",\n"
                                   "      \"ttl\": 3600\n"
                                   "    },\n"
                                   "    {\n"
                                   "      \"name\": \"web.internal.lan\",\n"
                                   "      \"type\": \"A\",\n"
                                   "      \"value\": \"192.168.1.100\",\n"
                                   "      \"ttl\": 300,\n"
                                   "      \"comment\": \"Internal web server\"\n"
                                   "    },\n"
                                   "    {\n"
                                   "      \"name\": \"db.internal.lan\",\n"
                                   "      \"type\": \"A\",\n"
                                   "      \"value\": \"192.168.1.101\",\n"
                                   "      \"ttl\": 300\n"
                                   "    },\n"
                                   "    {\n"
                                   "      \"name\": \"api.internal.lan\",\n"
                                   "      \"type\": \"CNAME\",\n"
                                   "      \"value\": \"web.internal.lan\",\n"
                                   "      \"ttl\": 300\n"
                                   "    },\n"
                                   "    {\n"
                                   "      \"name\": \"internal.lan\",\n"
                                   "      \"type\": \"MX\",\n"
                                   "      \"value\": \"mail.internal.lan\",\n"
                                   "      \"priority\": 10,\n"
                                   "      \"ttl\": 3600\n"
                                   "    },\n"
                                   "    {\n"
                                   "      \"name\": \"mail.internal.lan\",\n"
                                   "      \"type\": \"A\",\n"
                                   "      \"value\": \"192.168.1.25\",\n"
                                   "      \"ttl\": 3600\n"
                                   "    },\n"
                                   "    {\n"
                                   "      \"name\": \"internal.lan\",\n"
                                   "      \"type\": \"TXT\",\n"
                                   "      \"value\": \"v=spf1 ip4:192.168.1.0/24 ~all\",\n"
                                   "      \"ttl\": 3600\n"
                                   "    },\n"
                                   "    {\n"
                                   "      \"name\": \"ipv6host.internal.lan\",\n"
                                   "      \"type\": \"AAAA\",\n"
                                   "      \"value\": \"fd00::1\",\n"
                                   "      \"ttl\": 300\n"
                                   "    },\n"
                                   "    {\n"
                                   "      \"name\": \"wildcard.internal.lan\",\n"
                                   "      \"type\": \"A\",\n"
                                   "      \"value\": \"192.168.1.200\",\n"
                                   "      \"ttl\": 300,\n"
                                   "      \"wildcard\": true,\n"
                                   "      \"comment\": \"Matches *.wildcard.internal.lan\"\n"
                                   "    }\n"
                                   "  ],\n"
                                   "  \"rewrites\": [\n"
                                   "    {\n"
                                   "      \"match\": \"blocked.example.com\",\n"
                                   "      \"action\": \"nxdomain\",\n"
                                   "      \"comment\": \"Block this domain\"\n"
                                   "    },\n"
                                   "    {\n"
                                   "      \"match\": \"*.ads.example.com\",\n"
                                   "      \"action\": \"nxdomain\"\n"
                                   "    }\n"
                                   "  ]\n"
                                   "}\n";
