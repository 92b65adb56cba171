/* Text edits to a config that keep its layout, and its checksum. See
 * config_edit.h. The edit works on the text, not on json-c's tree: a
 * re-serialised file would lose the operator's order, spacing and number
 * spellings, and the reload writes the file back after every change. */
#include "config_edit.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_locate.h"

/* Offset just past the JSON string whose opening quote is at pos. */
static size_t skip_string(const char *text, size_t len, size_t pos)
{
    pos++;
    while (pos < len && text[pos] != '"')
        pos += text[pos] == '\\' ? 2 : 1;
    return pos < len ? pos + 1 : len;
}

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
    size_t name_end = skip_string(text, loc->len, key);
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

void config_checksum(const void *data, size_t len, char out[CONFIG_CHECKSUM_LEN + 1])
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, data, len);
    sodium_bin2hex(out, CONFIG_CHECKSUM_LEN + 1, hash, CONFIG_CHECKSUM_LEN / 2);
}
