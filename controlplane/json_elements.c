/* The elements of a JSON array, each parsed on its own by json-c (strict
 * mode, UTF-8 checked), and one value parsed at an offset. See
 * json_elements.h. */
#include "json_elements.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "json_locate.h"

/* json-c's depth limit for a value nested depth levels deep, so that the
 * value fails where it would fail inside the whole document. */
static struct json_tokener *tokener_at_depth(int depth)
{
    int max = JSON_TOKENER_DEFAULT_DEPTH - depth;
    struct json_tokener *tok = json_tokener_new_ex(max > 1 ? max : 1);
    if (tok)
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    return tok;
}

/* One value at text[offset..) with tok (reset first). json-c's strict
 * mode refuses anything after the value, so it is given the value alone:
 * its extent from json_skip_value (json-c then reports whatever is wrong
 * inside it), and a NUL after a number or literal, which json-c cannot
 * tell complete otherwise (json_tokener_parse does the same). */
static int parse_value(struct json_tokener *tok, const char *text, size_t len, size_t offset,
                       struct json_object **value, size_t *end, size_t *error_offset,
                       const char **message)
{
    size_t span = json_skip_value(text, len, offset) - offset;
    json_tokener_reset(tok);
    struct json_object *v =
        json_tokener_parse_ex(tok, text + offset, span > INT_MAX ? INT_MAX : (int)span);
    enum json_tokener_error err = json_tokener_get_error(tok);
    size_t parsed = json_tokener_get_parse_end(tok);
    char first = text[offset];
    if (err == json_tokener_continue && first != '{' && first != '[' && first != '"') {
        v = json_tokener_parse_ex(tok, "", 1);
        err = json_tokener_get_error(tok);
        parsed = span;
    }
    if (err == json_tokener_success) {
        *value = v;
        *end = offset + parsed;
        return 0;
    }
    json_object_put(v);
    if (err == json_tokener_continue) {
        /* the text ends inside the value */
        *error_offset = len;
        *message = "unexpected end of input";
    } else {
        *error_offset = offset + parsed;
        *message = json_tokener_error_desc(err);
    }
    return -1;
}

int json_parse_value_at(const char *text, size_t len, size_t offset, int depth,
                        struct json_object **value, size_t *end, size_t *error_offset,
                        const char **message)
{
    *value = NULL;
    if (offset >= len) {
        *error_offset = len;
        *message = "unexpected end of input";
        return -1;
    }
    struct json_tokener *tok = tokener_at_depth(depth);
    if (!tok) {
        *error_offset = offset;
        *message = "out of memory";
        return -1;
    }
    int rc = parse_value(tok, text, len, offset, value, end, error_offset, message);
    json_tokener_free(tok);
    return rc;
}

static int elements_fail(struct json_elements *it, size_t offset, const char *message)
{
    it->error_offset = offset;
    it->error_message = message;
    it->done = true;
    it->pos = SIZE_MAX; /* marks the failure: next calls return -1 again */
    return -1;
}

int json_elements_begin(struct json_elements *it, const char *text, size_t len, size_t array_offset,
                        int depth, bool strict)
{
    memset(it, 0, sizeof(*it));
    it->text = text;
    it->len = len;
    it->strict = strict;
    if (array_offset >= len || text[array_offset] != '[')
        return elements_fail(it, array_offset < len ? array_offset : len, "expected '['");
    it->tok = tokener_at_depth(depth);
    if (!it->tok)
        return elements_fail(it, array_offset, "out of memory");
    it->pos = array_offset + 1;
    return 0;
}

int json_elements_next(struct json_elements *it, struct json_object **element, size_t *offset)
{
    *element = NULL;
    if (it->pos == SIZE_MAX)
        return -1;
    if (it->done)
        return 0;
    const char *text = it->text;
    size_t len = it->len;
    size_t p = json_skip_whitespace(text, len, it->pos);
    if (p >= len)
        return elements_fail(it, len, "unexpected end of input");
    if (text[p] == ']' && it->index == 0) {
        it->done = true;
        it->pos = p + 1;
        return 0;
    }
    if (it->index > 0) {
        if (text[p] == ']') {
            it->done = true;
            it->pos = p + 1;
            return 0;
        }
        if (text[p] != ',')
            return elements_fail(it, p, "expected ',' or ']'");
        p = json_skip_whitespace(text, len, p + 1);
        if (p >= len)
            return elements_fail(it, len, "unexpected end of input");
        if (text[p] == ']')
            return elements_fail(it, p, "trailing comma");
    }
    size_t end, bad;
    const char *why;
    if (it->strict) {
        /* the element alone: its end first, from json-c, then the check */
        struct json_object *v;
        if (parse_value(it->tok, text, len, p, &v, &end, &bad, &why) < 0)
            return elements_fail(it, bad, why);
        if (json_locate_check(text + p, end - p, &bad, &why) < 0) {
            json_object_put(v);
            return elements_fail(it, p + bad, why);
        }
        *element = v;
    } else if (parse_value(it->tok, text, len, p, element, &end, &bad, &why) < 0) {
        return elements_fail(it, bad, why);
    }
    *offset = p;
    it->pos = end;
    it->index++;
    return 1;
}

void json_elements_end(struct json_elements *it)
{
    if (it->tok)
        json_tokener_free(it->tok);
    it->tok = NULL;
}
