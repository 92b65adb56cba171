/* Walking the JSON tree of a config: the path of the value being read,
 * findings reported at it with their line and column, and the readers of
 * members. See config_loader.h. */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_loader.h"
#include "rdata.h"

static void path_format(const struct json_locate_step *path, size_t depth, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < depth; i++) {
        if (path[i].key) {
            if (i > 0)
                quote_append(out, cap, &used, ".", 1, false);
            quote_append(out, cap, &used, path[i].key, path[i].key_len, false);
        } else {
            char index[32];
            int n = snprintf(index, sizeof(index), "[%zu]", path[i].index);
            quote_append(out, cap, &used, index, (size_t)n, false);
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
    config_diags_add(ld->diags, severity, line, column, path_text, message);
}

/* A finding about the value at the current path (or its member name). */
/* The path from the top-level member it starts with (the last one of that
 * name, as json-c keeps it). */
static size_t locate_from_top_members(struct loader *ld, size_t depth, bool at_key, bool *found)
{
    *found = true;
    if (depth == 0)
        return ld->top_offset;
    const struct json_locate_step *first = &ld->path[0];
    const struct loader_member *m = NULL;
    for (size_t i = ld->top_count; i-- > 0 && first->key;) {
        if (ld->top_members[i].key_len == first->key_len &&
            memcmp(ld->top_members[i].key, first->key, first->key_len) == 0) {
            m = &ld->top_members[i];
            break;
        }
    }
    if (!m) {
        *found = false;
        return ld->top_offset;
    }
    if (depth == 1)
        return at_key ? m->key_offset : m->value_offset;
    return json_locate_within(&ld->loc, m->value_offset, ld->path + 1, depth - 1, at_key, found);
}

size_t loader_locate(struct loader *ld, bool at_key, bool *found)
{
    size_t depth = ld->depth < PATH_DEPTH ? ld->depth : PATH_DEPTH;
    if (ld->has_base && depth >= ld->base_depth)
        return json_locate_within(&ld->loc, ld->base_offset, ld->path + ld->base_depth,
                                  depth - ld->base_depth, at_key, found);
    if (ld->top_members)
        return locate_from_top_members(ld, depth, at_key, found);
    size_t offset = json_locate(&ld->loc, ld->path, depth, at_key);
    *found = ld->loc.last_found;
    return offset;
}

void loader_report(struct loader *ld, enum config_severity severity, bool at_key, const char *fmt,
                   ...)
{
    bool found;
    size_t offset = loader_locate(ld, at_key, &found);
    va_list ap;
    va_start(ap, fmt);
    emit_va(ld, severity, offset, ld->path, ld->depth, fmt, ap);
    va_end(ap);
}

/* A finding at a known offset, the current path naming it. */
void loader_report_at(struct loader *ld, enum config_severity severity, size_t offset,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit_va(ld, severity, offset, ld->path, ld->depth, fmt, ap);
    va_end(ap);
}

/* A finding about a field of records[index], whose object is at offset:
 * used after the pass, when the locator's cache no longer helps. */
void loader_report_record(struct loader *ld, enum config_severity severity, size_t index,
                          size_t offset, const char *field, const char *fmt, ...)
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

void loader_out_of_memory(struct loader *ld)
{
    if (!ld->out_of_memory)
        loader_report(ld, CONFIG_ERROR, false, "out of memory");
    ld->out_of_memory = true;
}

void loader_push_key_len(struct loader *ld, const char *key, size_t key_len)
{
    if (ld->depth < PATH_DEPTH)
        ld->path[ld->depth] = (struct json_locate_step){key, key_len, 0};
    ld->depth++;
}

void loader_push_key(struct loader *ld, const char *key)
{
    loader_push_key_len(ld, key, strlen(key));
}

void loader_push_index(struct loader *ld, size_t index)
{
    if (ld->depth < PATH_DEPTH)
        ld->path[ld->depth] = (struct json_locate_step){NULL, 0, index};
    ld->depth++;
}

void loader_pop(struct loader *ld)
{
    ld->depth--;
}

const char *loader_type_name(struct json_object *v)
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

void loader_report_type(struct loader *ld, struct json_object *v, const char *expected)
{
    loader_report(ld, CONFIG_ERROR, false, "expected %s, got %s", expected, loader_type_name(v));
}

int loader_read_uint(struct loader *ld, struct json_object *obj, const char *key, const char *what,
                     uint64_t min, uint64_t max, uint64_t *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(obj, key, &v))
        return 0;
    int rc = -1;
    loader_push_key(ld, key);
    if (json_object_get_type(v) != json_type_int) {
        loader_report_type(ld, v, "an integer");
    } else if (json_object_get_int64(v) < 0) {
        loader_report(ld, CONFIG_ERROR, false,
                      "%s %" PRId64 " is out of range (%" PRIu64 "..%" PRIu64 ")", what,
                      json_object_get_int64(v), min, max);
    } else {
        uint64_t u = json_object_get_uint64(v);
        if (u < min || u > max) {
            loader_report(ld, CONFIG_ERROR, false,
                          "%s %" PRIu64 " is out of range (%" PRIu64 "..%" PRIu64 ")", what, u, min,
                          max);
        } else {
            *out = u;
            rc = 1;
        }
    }
    loader_pop(ld);
    return rc;
}

int loader_read_u32(struct loader *ld, struct json_object *obj, const char *key, const char *what,
                    uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v;
    int rc = loader_read_uint(ld, obj, key, what, min, max, &v);
    if (rc == 1)
        *out = (uint32_t)v;
    return rc;
}

int loader_read_u16(struct loader *ld, struct json_object *obj, const char *key, const char *what,
                    uint16_t min, uint16_t max, uint16_t *out)
{
    uint64_t v;
    int rc = loader_read_uint(ld, obj, key, what, min, max, &v);
    if (rc == 1)
        *out = (uint16_t)v;
    return rc;
}

int loader_read_bool(struct loader *ld, struct json_object *obj, const char *key, bool *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(obj, key, &v))
        return 0;
    if (json_object_get_type(v) != json_type_boolean) {
        loader_push_key(ld, key);
        loader_report_type(ld, v, "a boolean (true or false)");
        loader_pop(ld);
        return -1;
    }
    *out = json_object_get_boolean(v);
    return 1;
}

/* A string member. With c_string, one holding a NUL character is refused
 * (it is going to be used as a C string). The path is left pushed when
 * the member is there, so the caller can report about its value; the
 * caller pops it when the result is not 0. */
int loader_read_string_pushed(struct loader *ld, struct json_object *obj, const char *key,
                              bool c_string, const char **out, size_t *out_len)
{
    struct json_object *v;
    if (!json_object_object_get_ex(obj, key, &v))
        return 0;
    loader_push_key(ld, key);
    if (json_object_get_type(v) != json_type_string) {
        loader_report_type(ld, v, "a string");
        return -1;
    }
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (c_string && strlen(s) != len) {
        loader_report(ld, CONFIG_ERROR, false, "a NUL character (\\u0000) is not allowed here");
        return -1;
    }
    *out = s;
    *out_len = len;
    return 1;
}

void loader_report_missing(struct loader *ld, const char *key)
{
    loader_report(ld, CONFIG_ERROR, false, "missing required key \"%s\"", key);
}

/* Replace *slot with a copy of s. */
int loader_set_string(struct loader *ld, char **slot, const char *s, size_t n)
{
    char *copy = malloc(n + 1);
    if (!copy) {
        loader_out_of_memory(ld);
        return -1;
    }
    memcpy(copy, s, n);
    copy[n] = '\0';
    free(*slot);
    *slot = copy;
    return 0;
}

void loader_strings_free(char **list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(list[i]);
    free(list);
}

int loader_name_from_text(struct loader *ld, const char *text, uint8_t *out, uint8_t *out_len,
                          bool at_key)
{
    char why[RDATA_ERROR_MAX];
    if (rdata_name_from_text(text, out, out_len, why, sizeof(why)) < 0) {
        loader_report(ld, CONFIG_ERROR, at_key, "%s", why);
        return -1;
    }
    return 0;
}

/* A syntax error json-c found inside an element: as config_load reports
 * one, and the load stops there. */
static void report_element_syntax(struct loader *ld, size_t offset, const char *message)
{
    unsigned line, column;
    char text[sizeof(((struct config_diag *)0)->message)];
    snprintf(text, sizeof(text), "JSON syntax error: %s", message);
    json_locate_line_column(&ld->loc, offset, &line, &column);
    config_diags_add(ld->diags, CONFIG_ERROR, line, column, "", text);
    ld->syntax_failed = true;
}

int loader_array_read(struct loader *ld, struct loader_array *arr,
                      void (*each)(struct loader *ld, struct json_object *element, size_t index,
                                   size_t offset))
{
    struct json_elements it;
    struct config_array_digest digest;
    /* the text passed json_locate_check whole: json-c alone per element */
    int rc = json_elements_begin(&it, ld->loc.text, ld->loc.len, arr->offset, 2, false);
    config_array_digest_begin(&digest);
    struct json_object *element;
    size_t offset;
    while (rc == 0 && (rc = json_elements_next(&it, &element, &offset)) == 1) {
        config_array_digest_add(&digest, element);
        loader_push_index(ld, it.index - 1);
        ld->has_base = true;
        ld->base_offset = offset;
        ld->base_depth = ld->depth;
        each(ld, element, it.index - 1, offset);
        ld->has_base = false;
        loader_pop(ld);
        json_object_put(element);
        rc = 0;
    }
    config_array_digest_end(&digest, arr->digest);
    if (rc < 0)
        report_element_syntax(ld, it.error_offset, it.error_message);
    json_elements_end(&it);
    return rc < 0 ? -1 : 0;
}
