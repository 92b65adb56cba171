/* Text edits to a config that keep its layout, its checksum and its
 * digest. See config_edit.h. The edit works on the text, not on json-c's
 * tree (the digest does, being about what the text says): a
 * re-serialised file would lose the operator's order, spacing and number
 * spellings, and the reload writes the file back after every change. */
#include "config_edit.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_locate.h"

/* text[0..at) + insert + text[from..len) into a new buffer. */
static int splice(const char *text, size_t len, size_t at, size_t from, const char *insert,
                  size_t insert_len, char **out, size_t *out_len)
{
    size_t total = at + insert_len + (len - from);
    char *buf = malloc(total + 1);
    if (buf == NULL)
        return -1;
    memcpy(buf, text, at);
    memcpy(buf + at, insert, insert_len);
    memcpy(buf + at + insert_len, text + from, len - from);
    buf[total] = '\0';
    *out = buf;
    *out_len = total;
    return 0;
}

/* How the object at offset lays out its members: the white space before
 * the first name ("\n    "), what separates a name from its value
 * (": "), and what separates two members (",\n    ", ", "). False when the
 * object is empty (the outputs are left as they are). */
struct layout {
    const char *indent, *colon, *between;
    size_t indent_len, colon_len, between_len;
};

/* An odd layout is not worth copying at any length. */
#define LAYOUT_MAX 16

static bool layout_read(const struct json_locator *loc, size_t object, struct layout *out)
{
    size_t cursor = object, key;
    if (!json_locate_next_member(loc, &cursor, &key))
        return false;
    const char *text = loc->text;
    out->indent = text + object + 1;
    out->indent_len = key - object - 1;
    size_t name_end = json_skip_string(text, loc->len, key);
    size_t value = json_skip_whitespace(text, loc->len, name_end);
    if (value < loc->len && text[value] == ':')
        value = json_skip_whitespace(text, loc->len, value + 1);
    if (value - name_end <= LAYOUT_MAX) {
        out->colon = text + name_end;
        out->colon_len = value - name_end;
    }
    size_t first_end = cursor, next_key;
    if (json_locate_next_member(loc, &cursor, &next_key) && next_key - first_end <= LAYOUT_MAX) {
        out->between = text + first_end;
        out->between_len = next_key - first_end;
    } else {
        out->between = NULL; /* one member: a comma, then the first one's indent */
    }
    return true;
}

/* Add `"name"<colon>value` as the first member of the object at offset:
 * at the first name's place, followed by what stood between the first two
 * members (or a comma and the first one's indent), so the old first
 * member sits where a second one would. */
static int member_insert(const struct json_locator *loc, size_t object, const char *name,
                         const char *value, char **out, size_t *out_len)
{
    struct layout l = {.indent = "", .colon = ": ", .colon_len = 2};
    bool others = layout_read(loc, object, &l);
    size_t need = strlen(name) + l.colon_len + strlen(value) + 1 + l.indent_len + LAYOUT_MAX + 8;
    char *member = malloc(need);
    if (member == NULL)
        return -1;
    int n;
    if (!others)
        n = snprintf(member, need, "\"%s\"%.*s%s", name, (int)l.colon_len, l.colon, value);
    else if (l.between != NULL)
        n = snprintf(member, need, "\"%s\"%.*s%s%.*s", name, (int)l.colon_len, l.colon, value,
                     (int)l.between_len, l.between);
    else
        n = snprintf(member, need, "\"%s\"%.*s%s,%.*s", name, (int)l.colon_len, l.colon, value,
                     (int)l.indent_len, l.indent);
    size_t at = object + 1 + (others ? l.indent_len : 0);
    int rc = n < 0 ? -1 : splice(loc->text, loc->len, at, at, member, (size_t)n, out, out_len);
    free(member);
    return rc;
}

int config_text_set_version(const char *text, size_t len, uint64_t version, char **out,
                            size_t *out_len)
{
    size_t bad_offset;
    const char *why;
    if (json_locate_check(text, len, &bad_offset, &why) < 0)
        return -1;
    size_t top = json_skip_whitespace(text, len, 0);
    if (top >= len || text[top] != '{')
        return -1;

    char number[24];
    snprintf(number, sizeof(number), "%" PRIu64, version);
    struct json_locator loc;
    json_locator_init(&loc, text, len);
    static const struct json_locate_step path[] = {{"server", 6, 0}, {"config_version", 14, 0}};
    int rc = -1;

    size_t at = json_locate(&loc, path, 2, false);
    if (loc.last_found) {
        /* Replace the number token, whatever its spelling (1, 1e2, -0). */
        size_t end = at;
        while (end < len && strchr("+-.0123456789eE", text[end]) != NULL && text[end] != '\0')
            end++;
        if (end > at)
            rc = splice(text, len, at, end, number, strlen(number), out, out_len);
        goto done;
    }
    size_t server = json_locate(&loc, path, 1, false);
    if (loc.last_found) {
        if (server < len && text[server] == '{')
            rc = member_insert(&loc, server, "config_version", number, out, out_len);
        goto done;
    }
    char object[64];
    struct layout l = {.indent = "", .colon = ": ", .colon_len = 2};
    layout_read(&loc, top, &l);
    snprintf(object, sizeof(object), "{\"config_version\"%.*s%s}", (int)l.colon_len, l.colon,
             number);
    rc = member_insert(&loc, top, "server", object, out, out_len);

done:
    json_locator_free(&loc);
    return rc;
}

void config_checksum_of_hash(const unsigned char sha256[32], char out[CONFIG_CHECKSUM_LEN + 1])
{
    sodium_bin2hex(out, CONFIG_CHECKSUM_LEN + 1, sha256, CONFIG_CHECKSUM_LEN / 2);
}

void config_checksum(const void *data, size_t len, char out[CONFIG_CHECKSUM_LEN + 1])
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, data, len);
    config_checksum_of_hash(hash, out);
}

/* ---- the digest ---- */

/* Members sorted without an allocation up to this many (a record, the
 * server section); larger objects (zones) get a malloc'd array. */
#define DIGEST_MEMBERS_ON_STACK 16

/* The hash fed through a buffer: a record's dozen tags and strings cost
 * one BLAKE2b update, not a dozen. The digest is the same as unbuffered. */
struct digest_sink {
    crypto_generichash_state state;
    size_t used;
    uint8_t buf[2048];
};

static void digest_flush(struct digest_sink *sink)
{
    crypto_generichash_update(&sink->state, sink->buf, sink->used);
    sink->used = 0;
}

static void digest_put(struct digest_sink *sink, const void *data, size_t len)
{
    if (sink->used + len > sizeof(sink->buf)) {
        digest_flush(sink);
        if (len > sizeof(sink->buf)) {
            crypto_generichash_update(&sink->state, data, len);
            return;
        }
    }
    memcpy(sink->buf + sink->used, data, len);
    sink->used += len;
}

static void digest_sink_init(struct digest_sink *sink)
{
    crypto_generichash_init(&sink->state, NULL, 0, CONFIG_DIGEST_SIZE);
    sink->used = 0;
}

static void digest_sink_final(struct digest_sink *sink, uint8_t out[CONFIG_DIGEST_SIZE])
{
    digest_flush(sink);
    crypto_generichash_final(&sink->state, out, CONFIG_DIGEST_SIZE);
}

/* Each value goes in as a tag, then a length or the value itself, so that
 * no two different trees feed the hash the same octets. */
static void digest_tag(struct digest_sink *st, char tag, uint64_t n)
{
    uint8_t buf[9];
    buf[0] = (uint8_t)tag;
    for (int i = 0; i < 8; i++)
        buf[1 + i] = (uint8_t)(n >> (8 * i));
    digest_put(st, buf, sizeof(buf));
}

static void digest_string(struct digest_sink *st, char tag, const char *s, size_t len)
{
    digest_tag(st, tag, len);
    digest_put(st, s, len);
}

/* A member as json-c holds it: its name and value, no lookup needed. */
struct digest_member {
    const char *name;
    struct json_object *value;
};

static int member_name_order(const void *a, const void *b)
{
    return strcmp(((const struct digest_member *)a)->name, ((const struct digest_member *)b)->name);
}

/* Members in name order: an insertion sort for a record's handful, qsort
 * past that. */
static void members_sort(struct digest_member *m, size_t n)
{
    if (n > DIGEST_MEMBERS_ON_STACK) {
        qsort(m, n, sizeof(*m), member_name_order);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        struct digest_member x = m[i];
        size_t j = i;
        for (; j > 0 && strcmp(m[j - 1].name, x.name) > 0; j--)
            m[j] = m[j - 1];
        m[j] = x;
    }
}

/* Whether the root member name with value v is left out: a "server" that
 * holds nothing but config_version is the same config as none. */
static bool digest_skips_server(const char *name, struct json_object *v)
{
    if (strcmp(name, "server") != 0 || !json_object_is_type(v, json_type_object))
        return false;
    int n = json_object_object_length(v);
    return n == 0 || (n == 1 && json_object_object_get_ex(v, "config_version", NULL));
}

static int digest_value(struct digest_sink *st, struct json_object *v, int depth);

/* A root member the caller digested already, or NULL. */
struct digest_parts {
    const struct config_digest_part *parts;
    size_t count;
};

static const uint8_t *digest_part(const struct digest_parts *p, const char *name)
{
    for (size_t i = 0; p && i < p->count; i++)
        if (strcmp(p->parts[i].name, name) == 0)
            return p->parts[i].digest;
    return NULL;
}

/* The root's "records" and "rewrites" arrays go in as the digest of their
 * elements (config_array_digest), which a loader can compute one element
 * at a time. */
static bool digest_as_array_part(const char *name, struct json_object *v)
{
    return (strcmp(name, "records") == 0 || strcmp(name, "rewrites") == 0) &&
           json_object_is_type(v, json_type_array);
}

static int digest_array_part(struct json_object *array, uint8_t out[CONFIG_DIGEST_SIZE])
{
    struct config_array_digest d;
    config_array_digest_begin(&d);
    size_t n = json_object_array_length(array);
    for (size_t i = 0; i < n; i++)
        config_array_digest_add(&d, json_object_array_get_idx(array, i));
    bool ok = d.state != NULL;
    config_array_digest_end(&d, out);
    return ok ? 0 : -1;
}

/* An object's members in name order (json-c keeps them as written).
 * depth 0 is the root, 1 a member of the root; in_server: this is the
 * root's "server", whose config_version is left out. */
static int digest_object(struct digest_sink *st, struct json_object *obj, int depth, bool in_server,
                         const struct digest_parts *parts)
{
    size_t count = (size_t)json_object_object_length(obj);
    struct digest_member on_stack[DIGEST_MEMBERS_ON_STACK];
    struct digest_member *members = on_stack;
    if (count > DIGEST_MEMBERS_ON_STACK && (members = malloc(count * sizeof(*members))) == NULL)
        return -1;
    size_t n = 0;
    json_object_object_foreach(obj, name, value)
    {
        if (in_server && strcmp(name, "config_version") == 0)
            continue;
        if (depth == 0 && digest_skips_server(name, value))
            continue;
        members[n++] = (struct digest_member){name, value};
    }
    members_sort(members, n);
    digest_tag(st, 'o', n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *member = members[i].name;
        struct json_object *value = members[i].value;
        digest_string(st, 'k', member, strlen(member));
        const uint8_t *done = depth == 0 ? digest_part(parts, member) : NULL;
        uint8_t part[CONFIG_DIGEST_SIZE];
        if (done) {
            digest_tag(st, 'A', CONFIG_DIGEST_SIZE);
            digest_put(st, done, CONFIG_DIGEST_SIZE);
        } else if (depth == 0 && digest_as_array_part(member, value)) {
            rc = digest_array_part(value, part);
            digest_tag(st, 'A', CONFIG_DIGEST_SIZE);
            digest_put(st, part, CONFIG_DIGEST_SIZE);
        } else if (depth == 0 && strcmp(member, "server") == 0 &&
                   json_object_is_type(value, json_type_object)) {
            rc = digest_object(st, value, depth + 1, true, NULL);
        } else {
            rc = digest_value(st, value, depth + 1);
        }
    }
    if (members != on_stack)
        free(members);
    return rc;
}

static int digest_value(struct digest_sink *st, struct json_object *v, int depth)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        digest_tag(st, 'n', 0);
        return 0;
    case json_type_boolean:
        digest_tag(st, 'b', json_object_get_boolean(v) ? 1 : 0);
        return 0;
    case json_type_int:
        /* Both readings: int64 saturates above 2^63 - 1, uint64 at 0
         * below 0; together they name any integer json-c holds. */
        digest_tag(st, 'i', (uint64_t)json_object_get_int64(v));
        digest_tag(st, 'u', json_object_get_uint64(v));
        return 0;
    case json_type_double: {
        /* The value, not its spelling: 1.5 and 1.50 are one number. */
        double d = json_object_get_double(v);
        uint64_t bits;
        memcpy(&bits, &d, sizeof(bits));
        digest_tag(st, 'd', bits);
        return 0;
    }
    case json_type_string:
        digest_string(st, 's', json_object_get_string(v), (size_t)json_object_get_string_len(v));
        return 0;
    case json_type_array: {
        size_t n = json_object_array_length(v);
        digest_tag(st, 'a', n);
        for (size_t i = 0; i < n; i++)
            if (digest_value(st, json_object_array_get_idx(v, i), depth + 1) < 0)
                return -1;
        return 0;
    }
    case json_type_object:
        return digest_object(st, v, depth, false, NULL);
    }
    return -1;
}

void config_array_digest_begin(struct config_array_digest *d)
{
    d->count = 0;
    /* the state wants 64-octet alignment; aligned_alloc wants a multiple of it */
    size_t size = (sizeof(struct digest_sink) + 63) / 64 * 64;
    d->state = aligned_alloc(64, size);
    if (d->state)
        digest_sink_init(d->state);
}

void config_array_digest_add(struct config_array_digest *d, struct json_object *element)
{
    if (!d->state)
        return;
    if (digest_value(d->state, element, 2) < 0) {
        free(d->state);
        d->state = NULL;
        return;
    }
    d->count++;
}

void config_array_digest_end(struct config_array_digest *d, uint8_t out[CONFIG_DIGEST_SIZE])
{
    if (!d->state) {
        randombytes_buf(out, CONFIG_DIGEST_SIZE);
        return;
    }
    digest_tag(d->state, 'a', d->count);
    digest_sink_final(d->state, out);
    free(d->state);
    d->state = NULL;
}

void config_digest_parts(struct json_object *root, const struct config_digest_part *parts,
                         size_t part_count, uint8_t out[CONFIG_DIGEST_SIZE])
{
    struct digest_sink st;
    digest_sink_init(&st);
    struct digest_parts p = {parts, part_count};
    int rc = json_object_is_type(root, json_type_object) ? digest_object(&st, root, 0, false, &p)
                                                         : digest_value(&st, root, 0);
    if (rc < 0) {
        randombytes_buf(out, CONFIG_DIGEST_SIZE);
        return;
    }
    digest_sink_final(&st, out);
}

void config_digest(struct json_object *root, uint8_t out[CONFIG_DIGEST_SIZE])
{
    config_digest_parts(root, NULL, 0, out);
}
