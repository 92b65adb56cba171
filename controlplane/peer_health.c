/* A peer's GET /health answer (see peer_health.h). */
#include "peer_health.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "sync.h"

/* The JSON value of body[0..len), or NULL. */
static struct json_object *json_parse_bounded(const char *body, size_t len)
{
    if (len > INT32_MAX)
        return NULL;
    struct json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return NULL;
    struct json_object *value = json_tokener_parse_ex(tok, body, (int)len);
    json_tokener_free(tok);
    return value;
}

void peer_health_parse(const char *body, size_t len, struct peer_health *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->status, sizeof(out->status), "invalid answer");
    struct json_object *health = json_parse_bounded(body, len);
    if (health == NULL)
        return;
    struct json_object *status = NULL, *version = NULL, *hash = NULL, *lists = NULL;
    if (json_object_object_get_ex(health, "status", &status) &&
        json_object_is_type(status, json_type_string))
        snprintf(out->status, sizeof(out->status), "%s", json_object_get_string(status));
    if (json_object_object_get_ex(health, "version", &version) &&
        json_object_is_type(version, json_type_int) && json_object_get_int64(version) >= 0) {
        out->has_version = true;
        out->version = json_object_get_uint64(version);
    }
    if (json_object_object_get_ex(health, "hash", &hash) &&
        json_object_is_type(hash, json_type_string) &&
        sync_hash_parse(json_object_get_string(hash), out->hash) == 0)
        out->has_hash = true;
    if (json_object_object_get_ex(health, "blocklist_digest", &lists) &&
        json_object_is_type(lists, json_type_string) &&
        sync_hash_parse(json_object_get_string(lists), out->blocklist_digest) == 0)
        out->has_blocklist_digest = true;
    json_object_put(health);
}
