/* Reading the API's answers. See reply.h. */
#include "reply.h"

#include <json-c/json.h>

struct json_object *reply_parse(const char *body, size_t len)
{
    if (len == 0 || len > INT32_MAX)
        return NULL;
    struct json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return NULL;
    struct json_object *obj = json_tokener_parse_ex(tok, body, (int)len);
    bool ok = json_tokener_get_error(tok) == json_tokener_success &&
              json_object_is_type(obj, json_type_object);
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(obj);
        return NULL;
    }
    return obj;
}

struct json_object *reply_field(struct json_object *obj, const char *key)
{
    struct json_object *value;
    if (obj == NULL || !json_object_object_get_ex(obj, key, &value))
        return NULL;
    return value;
}

bool reply_number(struct json_object *obj, const char *key, double *out)
{
    struct json_object *v = reply_field(obj, key);
    if (v == NULL ||
        !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
        return false;
    *out = json_object_get_double(v);
    return true;
}

bool reply_count(struct json_object *obj, const char *key, uint64_t *out)
{
    struct json_object *v = reply_field(obj, key);
    if (v == NULL || !json_object_is_type(v, json_type_int))
        return false;
    *out = json_object_get_uint64(v);
    return true;
}

const char *reply_string(struct json_object *obj, const char *key)
{
    struct json_object *v = reply_field(obj, key);
    return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int reply_bool(struct json_object *obj, const char *key)
{
    struct json_object *v = reply_field(obj, key);
    if (v == NULL || !json_object_is_type(v, json_type_boolean))
        return -1;
    return json_object_get_boolean(v) ? 1 : 0;
}

struct json_object *reply_object(struct json_object *obj, const char *key)
{
    struct json_object *v = reply_field(obj, key);
    return v != NULL && json_object_is_type(v, json_type_object) ? v : NULL;
}
