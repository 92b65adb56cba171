/* A small scanner over JSON text: a strict RFC 8259 syntax check, and
 * finding the offset of the value a path names. See json_locate.h. */
#include "json_locate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool is_ws(char c)
{
    /* RFC 8259 §2: the four insignificant whitespace characters */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t json_skip_whitespace(const char *text, size_t len, size_t pos)
{
    while (pos < len && is_ws(text[pos]))
        pos++;
    return pos;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ---- strict syntax check ---- */

struct checker {
    const char *text;
    size_t len;
    size_t pos;
    const char *message;
};

static int check_fail(struct checker *c, const char *message)
{
    c->message = message;
    return -1;
}

/* Length of the UTF-8 sequence at p (RFC 3629 §4), or 0 when it is not
 * well formed: overlong forms, surrogates and code points above U+10FFFF
 * are refused. */
static size_t utf8_sequence(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    return n;
}

/* RFC 8259 §7 */
static int check_string(struct checker *c)
{
    if (c->text[c->pos] == '\'')
        return check_fail(c, "strings must be in double quotes");
    c->pos++; /* the opening quote */
    for (;;) {
        if (c->pos >= c->len)
            return check_fail(c, "unterminated string");
        /* the usual case first: printable ASCII */
        while (c->pos < c->len && (unsigned char)c->text[c->pos] >= 0x20 &&
               (unsigned char)c->text[c->pos] < 0x80 && c->text[c->pos] != '"' &&
               c->text[c->pos] != '\\')
            c->pos++;
        if (c->pos >= c->len)
            return check_fail(c, "unterminated string");
        unsigned char ch = (unsigned char)c->text[c->pos];
        if (ch == '"') {
            c->pos++;
            return 0;
        }
        if (ch < 0x20)
            return check_fail(c, "control character in a string (write it as an escape)");
        if (ch == '\\') {
            if (c->pos + 1 >= c->len)
                return check_fail(c, "unterminated string");
            char e = c->text[c->pos + 1];
            if (e == 'u') {
                for (size_t i = 2; i < 6; i++) {
                    if (c->pos + i >= c->len || hex_value(c->text[c->pos + i]) < 0) {
                        c->pos += 1;
                        return check_fail(c, "\\u must be followed by four hex digits");
                    }
                }
                c->pos += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == '\0') {
                c->pos++;
                return check_fail(c, "invalid escape in a string");
            }
            c->pos += 2;
            continue;
        }
        size_t n = utf8_sequence((const unsigned char *)c->text + c->pos, c->len - c->pos);
        if (n == 0)
            return check_fail(c, "invalid UTF-8 in a string");
        c->pos += n;
    }
}

/* RFC 8259 §6 */
static int check_number(struct checker *c)
{
    if (c->text[c->pos] == '-')
        c->pos++;
    if (c->pos >= c->len || !is_digit(c->text[c->pos])) {
        if (c->pos < c->len && c->text[c->pos] == 'I')
            return check_fail(c, "Infinity is not a JSON number");
        return check_fail(c, "a number needs a digit here");
    }
    if (c->text[c->pos] == '0') {
        c->pos++;
        if (c->pos < c->len && is_digit(c->text[c->pos]))
            return check_fail(c, "numbers must not have leading zeros");
    } else {
        while (c->pos < c->len && is_digit(c->text[c->pos]))
            c->pos++;
    }
    if (c->pos < c->len && c->text[c->pos] == '.') {
        c->pos++;
        if (c->pos >= c->len || !is_digit(c->text[c->pos]))
            return check_fail(c, "a number needs a digit after the decimal point");
        while (c->pos < c->len && is_digit(c->text[c->pos]))
            c->pos++;
    }
    if (c->pos < c->len && (c->text[c->pos] == 'e' || c->text[c->pos] == 'E')) {
        c->pos++;
        if (c->pos < c->len && (c->text[c->pos] == '+' || c->text[c->pos] == '-'))
            c->pos++;
        if (c->pos >= c->len || !is_digit(c->text[c->pos]))
            return check_fail(c, "a number needs a digit in its exponent");
        while (c->pos < c->len && is_digit(c->text[c->pos]))
            c->pos++;
    }
    return 0;
}

static int check_literal(struct checker *c)
{
    static const char *const literals[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(literals[i]);
        if (c->len - c->pos >= n && memcmp(c->text + c->pos, literals[i], n) == 0) {
            c->pos += n;
            return 0;
        }
    }
    if (c->text[c->pos] == 'N')
        return check_fail(c, "NaN is not a JSON number");
    if (c->text[c->pos] == 'I')
        return check_fail(c, "Infinity is not a JSON number");
    return check_fail(c, "unexpected character");
}

#define CHECK_MAX_DEPTH 512

int json_locate_check(const char *text, size_t len, size_t *error_offset, const char **message)
{
    return json_locate_check_members(text, len, error_offset, message, NULL, NULL);
}

int json_locate_check_members(const char *text, size_t len, size_t *error_offset,
                              const char **message, json_locate_member_fn *member, void *context)
{
    struct checker c = {text, len, 0, NULL};
    char stack[CHECK_MAX_DEPTH]; /* '{' or '[' for each open container */
    size_t depth = 0;
    size_t top_key = 0, top_value = 0; /* of the top-level member being checked */
    int rc = 0;

    c.pos = json_skip_whitespace(text, len, 0);
    for (;;) {
        /* A value is expected at c.pos. */
        if (c.pos >= len) {
            rc = check_fail(&c, "unexpected end of input");
            break;
        }
        char ch = text[c.pos];
        if (ch == '{' || ch == '[') {
            if (depth == CHECK_MAX_DEPTH) {
                rc = check_fail(&c, "nesting too deep");
                break;
            }
            stack[depth++] = ch;
            c.pos = json_skip_whitespace(text, len, c.pos + 1);
            if (c.pos < len && text[c.pos] == (ch == '{' ? '}' : ']')) {
                depth--;
                c.pos++;
            } else if (ch == '{') {
                goto member_name;
            } else {
                continue;
            }
        } else if (ch == '"' || ch == '\'') {
            rc = check_string(&c);
        } else if (ch == '-' || is_digit(ch)) {
            rc = check_number(&c);
        } else {
            rc = check_literal(&c);
        }
        if (rc < 0)
            break;

        /* After a value: a separator, the end of its container, or the end. */
        for (;;) {
            if (depth == 1 && member && stack[0] == '{')
                member(context, top_key, top_value, c.pos); /* a top-level member's value ends */
            c.pos = json_skip_whitespace(text, len, c.pos);
            if (depth == 0) {
                if (c.pos < len)
                    rc = check_fail(&c, "unexpected character after the JSON value");
                goto done;
            }
            if (c.pos >= len) {
                rc = check_fail(&c, "unexpected end of input");
                goto done;
            }
            char close = stack[depth - 1] == '{' ? '}' : ']';
            if (text[c.pos] == close) {
                depth--;
                c.pos++;
                continue;
            }
            if (text[c.pos] != ',') {
                rc = check_fail(&c, stack[depth - 1] == '{' ? "expected ',' or '}'"
                                                            : "expected ',' or ']'");
                goto done;
            }
            c.pos = json_skip_whitespace(text, len, c.pos + 1);
            if (c.pos < len && text[c.pos] == close) {
                rc = check_fail(&c, "trailing comma");
                goto done;
            }
            if (stack[depth - 1] == '[')
                break; /* next element */
        member_name:
            if (c.pos >= len) {
                rc = check_fail(&c, "unexpected end of input");
                goto done;
            }
            if (text[c.pos] != '"' && text[c.pos] != '\'') {
                rc = check_fail(&c, "expected a member name in double quotes");
                goto done;
            }
            top_key = depth == 1 ? c.pos : top_key;
            if ((rc = check_string(&c)) < 0)
                goto done;
            c.pos = json_skip_whitespace(text, len, c.pos);
            if (c.pos >= len || text[c.pos] != ':') {
                rc = check_fail(&c, "expected ':' after the member name");
                goto done;
            }
            c.pos = json_skip_whitespace(text, len, c.pos + 1);
            top_value = depth == 1 ? c.pos : top_value;
            break; /* the member's value */
        }
    }
done:
    if (rc < 0) {
        *error_offset = c.pos;
        *message = c.message;
    }
    return rc;
}

/* ---- scanning text that passed the check ---- */

size_t json_skip_string(const char *text, size_t len, size_t pos)
{
    /* Most strings are short: a plain loop over their first octets, then
     * memchr, which finds the next quote at memory speed; it ends the
     * string unless an odd run of backslashes escapes it (a run cannot
     * reach back past pos, which is never inside an escape) */
    pos++;
    size_t plain = len - pos > 32 ? pos + 32 : len;
    while (pos < plain) {
        if (text[pos] == '"')
            return pos + 1;
        pos += text[pos] == '\\' ? 2 : 1;
    }
    while (pos < len) {
        const char *q = memchr(text + pos, '"', len - pos);
        if (!q)
            return len;
        size_t at = (size_t)(q - text), run = at;
        while (run > pos && text[run - 1] == '\\')
            run--;
        if (((at - run) & 1) == 0)
            return at + 1;
        pos = at + 1;
    }
    return len;
}

/* The octets json_skip_value stops at inside a container. */
static const bool CONTAINER_SIGNIFICANT[256] = {
    ['"'] = true, ['{'] = true, ['['] = true, ['}'] = true, [']'] = true,
};

size_t json_skip_value(const char *text, size_t len, size_t pos)
{
    if (pos >= len)
        return len;
    char c = text[pos];
    if (c == '"')
        return json_skip_string(text, len, pos);
    if (c == '{' || c == '[') {
        size_t depth = 0;
        while (pos < len) {
            while (pos < len && !CONTAINER_SIGNIFICANT[(unsigned char)text[pos]])
                pos++;
            if (pos >= len)
                break;
            c = text[pos];
            if (c == '"') {
                pos = json_skip_string(text, len, pos);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (--depth == 0)
                return pos + 1;
            pos++;
        }
        return len;
    }
    while (pos < len && !is_ws(text[pos]) && text[pos] != ',' && text[pos] != ']' &&
           text[pos] != '}')
        pos++;
    return pos;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static bool read_u_escape(const char *text, size_t len, size_t pos, uint32_t *cp)
{
    if (pos + 6 > len || text[pos] != '\\' || text[pos + 1] != 'u')
        return false;
    uint32_t v = 0;
    for (size_t i = 2; i < 6; i++) {
        int h = hex_value(text[pos + i]);
        if (h < 0)
            return false;
        v = (v << 4) | (uint32_t)h;
    }
    *cp = v;
    return true;
}

/* Decode the next character of a string at *pos into out (1..4 octets);
 * 0 at the closing quote, which *pos then steps past. Lone surrogates
 * become U+FFFD, as json-c decodes them. */
static size_t decode_next(const char *text, size_t len, size_t *pos, char *out)
{
    size_t p = *pos;
    if (p >= len || text[p] == '"') {
        *pos = p < len ? p + 1 : len;
        return 0;
    }
    if (text[p] != '\\') {
        out[0] = text[p];
        *pos = p + 1;
        return 1;
    }
    if (p + 1 >= len) {
        *pos = len;
        return 0;
    }
    char e = text[p + 1];
    uint32_t cp;
    if (e != 'u' || !read_u_escape(text, len, p, &cp)) {
        static const char from[] = "bfnrt";
        static const char to[] = "\b\f\n\r\t";
        const char *m = e != '\0' ? strchr(from, e) : NULL;
        out[0] = m ? to[m - from] : e;
        *pos = p + 2;
        return 1;
    }
    p += 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t low;
        if (read_u_escape(text, len, p, &low) && low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            p += 6;
        } else {
            cp = 0xFFFD;
        }
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        cp = 0xFFFD;
    }
    *pos = p;
    return utf8_encode(cp, out);
}

size_t json_locate_decode_string(const struct json_locator *loc, size_t offset, char *out,
                                 size_t cap)
{
    size_t pos = offset + 1, total = 0, n;
    char buf[4];
    while ((n = decode_next(loc->text, loc->len, &pos, buf)) > 0) {
        for (size_t i = 0; i < n; i++, total++)
            if (total < cap)
                out[total] = buf[i];
    }
    return total;
}

bool json_locate_string_has_nul(const struct json_locator *loc, size_t offset)
{
    size_t pos = offset + 1, n;
    char buf[4];
    while ((n = decode_next(loc->text, loc->len, &pos, buf)) > 0)
        if (n == 1 && buf[0] == '\0')
            return true;
    return false;
}

/* Whether the string whose quote is at offset decodes to key[0..key_len). */
static bool key_equals(const char *text, size_t len, size_t offset, const char *key, size_t key_len)
{
    size_t pos = offset + 1, done = 0, n;
    char buf[4];
    while ((n = decode_next(text, len, &pos, buf)) > 0) {
        if (done + n > key_len || memcmp(key + done, buf, n) != 0)
            return false;
        done += n;
    }
    return done == key_len;
}

bool json_locate_next_member(const struct json_locator *loc, size_t *cursor, size_t *key_offset)
{
    const char *text = loc->text;
    size_t len = loc->len;
    size_t pos = *cursor;
    if (pos < len && text[pos] == '{') {
        pos++;
    } else {
        pos = json_skip_whitespace(text, len, pos);
        if (pos >= len || text[pos] != ',')
            return false;
        pos++;
    }
    pos = json_skip_whitespace(text, len, pos);
    if (pos >= len || text[pos] != '"')
        return false;
    *key_offset = pos;
    pos = json_skip_string(text, len, pos);
    pos = json_skip_whitespace(text, len, pos);
    if (pos < len && text[pos] == ':')
        pos++;
    pos = json_skip_whitespace(text, len, pos);
    *cursor = json_skip_value(text, len, pos);
    return true;
}

/* Find member key in the object at container; last occurrence wins. */
static bool find_member(const char *text, size_t len, size_t container, const char *key,
                        size_t key_len, size_t *key_offset, size_t *value_offset)
{
    if (container >= len || text[container] != '{')
        return false;
    bool found = false;
    size_t pos = json_skip_whitespace(text, len, container + 1);
    while (pos < len && text[pos] == '"') {
        size_t k = pos;
        pos = json_skip_whitespace(text, len, json_skip_string(text, len, pos));
        if (pos < len && text[pos] == ':')
            pos++;
        pos = json_skip_whitespace(text, len, pos);
        if (key_equals(text, len, k, key, key_len)) {
            *key_offset = k;
            *value_offset = pos;
            found = true;
        }
        pos = json_skip_whitespace(text, len, json_skip_value(text, len, pos));
        if (pos >= len || text[pos] != ',')
            break;
        pos = json_skip_whitespace(text, len, pos + 1);
    }
    return found;
}

/* Find element target of an array, starting from element `from` at offset
 * pos (the '[' itself for element 0 with from_bracket). */
static bool find_element(const char *text, size_t len, size_t pos, size_t from, bool from_bracket,
                         size_t target, size_t *value_offset)
{
    if (from_bracket) {
        if (pos >= len || text[pos] != '[')
            return false;
        pos = json_skip_whitespace(text, len, pos + 1);
        if (pos >= len || text[pos] == ']')
            return false;
    }
    while (from < target) {
        pos = json_skip_whitespace(text, len, json_skip_value(text, len, pos));
        if (pos >= len || text[pos] != ',')
            return false;
        pos = json_skip_whitespace(text, len, pos + 1);
        from++;
    }
    *value_offset = pos;
    return true;
}

static bool resolve_step(const char *text, size_t len, size_t container,
                         const struct json_locate_step *s, size_t *key_offset, size_t *value_offset)
{
    if (s->key)
        return find_member(text, len, container, s->key, s->key_len, key_offset, value_offset);
    *key_offset = container;
    return find_element(text, len, container, 0, true, s->index, value_offset);
}

size_t json_locate_within(const struct json_locator *loc, size_t base,
                          const struct json_locate_step *path, size_t depth, bool at_key,
                          bool *found)
{
    size_t cur = base, key = base;
    *found = true;
    for (size_t i = 0; i < depth; i++) {
        size_t k, v;
        if (!resolve_step(loc->text, loc->len, cur, &path[i], &k, &v)) {
            *found = false;
            return cur;
        }
        cur = v;
        key = path[i].key ? k : v;
    }
    return at_key ? key : cur;
}

size_t json_locate_from(const struct json_locator *loc, size_t base,
                        const struct json_locate_step *path, size_t depth, bool at_key)
{
    bool found;
    return json_locate_within(loc, base, path, depth, at_key, &found);
}

size_t json_locate(struct json_locator *loc, const struct json_locate_step *path, size_t depth,
                   bool at_key)
{
    const char *text = loc->text;
    size_t len = loc->len;
    size_t top = json_skip_whitespace(text, len, 0);
    size_t cur = top, key = top;
    size_t i = 0;

    if (depth > JSON_LOCATE_DEPTH)
        depth = JSON_LOCATE_DEPTH;
    /* The prefix shared with the last lookup costs nothing. */
    for (; i < depth && i < loc->cache_depth; i++) {
        const struct json_locate_step *s = &path[i];
        if (s->key) {
            if (loc->cache[i].is_index ||
                !key_equals(text, len, loc->cache[i].key_offset, s->key, s->key_len))
                break;
            key = loc->cache[i].key_offset;
        } else {
            if (!loc->cache[i].is_index || loc->cache[i].index != s->index)
                break;
            key = loc->cache[i].value_offset;
        }
        cur = loc->cache[i].value_offset;
    }

    bool complete = true;
    for (size_t j = i; j < depth; j++) {
        const struct json_locate_step *s = &path[j];
        size_t k = cur, v;
        bool ok;
        if (j == i && !s->key && j < loc->cache_depth && loc->cache[j].is_index &&
            loc->cache[j].index < s->index) {
            /* A later element of the same array: go on from the cached one. */
            ok = find_element(text, len, loc->cache[j].value_offset, loc->cache[j].index, false,
                              s->index, &v);
        } else {
            ok = resolve_step(text, len, cur, s, &k, &v);
        }
        if (!ok) {
            complete = false;
            loc->cache_depth = j;
            break;
        }
        loc->cache[j].is_index = s->key == NULL;
        loc->cache[j].index = s->index;
        loc->cache[j].key_offset = k;
        loc->cache[j].value_offset = v;
        cur = v;
        key = s->key ? k : v;
    }
    loc->last_found = complete;
    if (!complete)
        return cur;
    loc->cache_depth = depth;
    return at_key ? key : cur;
}

/* ---- positions ---- */

void json_locator_init(struct json_locator *loc, const char *text, size_t len)
{
    memset(loc, 0, sizeof(*loc));
    loc->text = text;
    loc->len = len;
}

void json_locator_free(struct json_locator *loc)
{
    free(loc->block_lines);
    free(loc->block_line_starts);
    loc->block_lines = loc->block_line_starts = NULL;
    loc->block_count = 0;
}

/* Count the newlines in text[from..to): *lines += them, *line_start past
 * the last one. memchr goes through the text at memory speed. */
static void count_lines(const char *text, size_t from, size_t to, size_t *lines, size_t *line_start)
{
    const char *p = text + from, *end = text + to;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        (*lines)++;
        p++;
        *line_start = (size_t)(p - text);
    }
}

static void build_block_index(struct json_locator *loc)
{
    size_t blocks = loc->len / JSON_LOCATE_BLOCK + 1;
    loc->block_lines = malloc(blocks * sizeof(size_t));
    loc->block_line_starts = malloc(blocks * sizeof(size_t));
    if (!loc->block_lines || !loc->block_line_starts) {
        free(loc->block_lines);
        free(loc->block_line_starts);
        loc->block_lines = loc->block_line_starts = NULL;
        loc->block_index_failed = true;
        return;
    }
    size_t lines = 0, line_start = 0;
    for (size_t b = 0; b < blocks; b++) {
        size_t from = b * JSON_LOCATE_BLOCK;
        loc->block_lines[b] = lines;
        loc->block_line_starts[b] = line_start;
        size_t to = from + JSON_LOCATE_BLOCK < loc->len ? from + JSON_LOCATE_BLOCK : loc->len;
        count_lines(loc->text, from, to, &lines, &line_start);
    }
    loc->block_count = blocks;
}

void json_locate_line_column(struct json_locator *loc, size_t offset, unsigned *line,
                             unsigned *column)
{
    if (offset > loc->len)
        offset = loc->len;
    size_t lines, start, from;
    if (offset >= loc->cursor_offset && offset - loc->cursor_offset <= 16 * JSON_LOCATE_BLOCK) {
        /* in document order: on from the last answer */
        lines = loc->cursor_line;
        start = loc->cursor_line_start;
        from = loc->cursor_offset;
    } else {
        if (!loc->block_lines && !loc->block_index_failed)
            build_block_index(loc);
        if (loc->block_lines) {
            size_t b = offset / JSON_LOCATE_BLOCK;
            lines = loc->block_lines[b];
            start = loc->block_line_starts[b];
            from = b * JSON_LOCATE_BLOCK;
        } else {
            lines = start = from = 0;
        }
    }
    count_lines(loc->text, from, offset, &lines, &start);
    loc->cursor_offset = offset;
    loc->cursor_line = lines;
    loc->cursor_line_start = start;
    *line = lines + 1 > UINT32_MAX ? UINT32_MAX : (unsigned)(lines + 1);
    *column = offset - start + 1 > UINT32_MAX ? UINT32_MAX : (unsigned)(offset - start + 1);
}
