/* Node-local settings: what a peer's config may never change on this node
 * (who is trusted, where and how it runs), kept from this node's own
 * config by a text edit that keeps the peer's layout. Pure functions over
 * caller-owned text, unit-tested in tests/unit/test_sync.c. See sync.h. */
#include "sync.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config_edit.h"
#include "json_locate.h"

/* README "Cluster sync": a push may change what names answer, never who
 * is trusted (peers, sync_key) or how the node runs (addresses, ports,
 * user, access lists, logging, connection limits, worker count). */
const char *const SYNC_LOCAL_KEYS[] = {
    "peers",         "sync_key",
    "user",          "host",
    "port",          "mgmt_host",
    "mgmt_port",     "allow_recursion",
    "allow_query",   "log_level",
    "log_queries",   "log_format",
    "hot_reload",    "tcp_max_connections",
    "max_inflight",  "tcp_idle_timeout",
    "rrl_ratelimit", "rrl_slip",
    "workers",
};
const size_t SYNC_LOCAL_KEY_COUNT = sizeof(SYNC_LOCAL_KEYS) / sizeof(SYNC_LOCAL_KEYS[0]);

/* A member of "server": where its name and its value start and end. */
struct member {
    bool found;
    size_t key, value, end;
};

static struct member member_find(const char *text, size_t len, const char *name)
{
    struct member m = {0};
    struct json_locator loc;
    json_locator_init(&loc, text, len);
    struct json_locate_step path[] = {{"server", 6, 0}, {name, strlen(name), 0}};
    m.key = json_locate(&loc, path, 2, true);
    m.found = loc.last_found;
    if (m.found) {
        m.value = json_locate(&loc, path, 2, false);
        m.end = json_skip_value(text, len, m.value);
    }
    json_locator_free(&loc);
    return m;
}

/* text[0..at) + insert + text[from..len), replacing *text. */
static int splice(char **text, size_t *len, size_t at, size_t from, const char *insert,
                  size_t insert_len)
{
    size_t total = at + insert_len + (*len - from);
    char *buf = malloc(total + 1);
    if (buf == NULL)
        return -1;
    memcpy(buf, *text, at);
    memcpy(buf + at, insert, insert_len);
    memcpy(buf + at + insert_len, *text + from, *len - from);
    buf[total] = '\0';
    free(*text);
    *text = buf;
    *len = total;
    return 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Remove a member with the comma that tied it to its neighbour. */
static int member_remove(char **text, size_t *len, const struct member *m)
{
    size_t before = m->key;
    while (before > 0 && is_space((*text)[before - 1]))
        before--;
    if (before > 0 && (*text)[before - 1] == ',')
        return splice(text, len, before - 1, m->end, "", 0);
    size_t after = json_skip_whitespace(*text, *len, m->end);
    if (after < *len && (*text)[after] == ',')
        return splice(text, len, m->key, json_skip_whitespace(*text, *len, after + 1), "", 0);
    return splice(text, len, m->key, m->end, "", 0);
}

/* Add `"name": value` as the first member of "server" (which exists). */
static int member_add(char **text, size_t *len, const char *name, const char *value,
                      size_t value_len)
{
    struct json_locator loc;
    json_locator_init(&loc, *text, *len);
    struct json_locate_step path[] = {{"server", 6, 0}};
    size_t server = json_locate(&loc, path, 1, false);
    bool found = loc.last_found && server < *len && (*text)[server] == '{';
    size_t cursor = server, first = 0;
    bool others = found && json_locate_next_member(&loc, &cursor, &first);
    json_locator_free(&loc);
    if (!found)
        return -1;
    size_t indent = others ? first - server - 1 : 0;
    size_t need = strlen(name) + value_len + indent + 8;
    char *member = malloc(need);
    if (member == NULL)
        return -1;
    size_t n = 0;
    member[n++] = '"';
    memcpy(member + n, name, strlen(name));
    n += strlen(name);
    memcpy(member + n, "\": ", 3);
    n += 3;
    memcpy(member + n, value, value_len);
    n += value_len;
    if (others) {
        member[n++] = ',';
        memcpy(member + n, *text + server + 1, indent);
        n += indent;
    }
    int rc = splice(text, len, others ? first : server + 1, others ? first : server + 1, member, n);
    free(member);
    return rc;
}

static bool checked(const char *text, size_t len)
{
    size_t offset;
    const char *why;
    size_t top = json_skip_whitespace(text, len, 0);
    return json_locate_check(text, len, &offset, &why) == 0 && top < len && text[top] == '{';
}

int sync_local_keep(const char *theirs, size_t theirs_len, const char *ours, size_t ours_len,
                    char **out, size_t *out_len)
{
    if (!checked(theirs, theirs_len) || !checked(ours, ours_len))
        return -1;
    char *text = malloc(theirs_len + 1);
    if (text == NULL)
        return -1;
    memcpy(text, theirs, theirs_len);
    text[theirs_len] = '\0';
    size_t len = theirs_len;
    for (size_t i = 0; i < SYNC_LOCAL_KEY_COUNT; i++) {
        const char *name = SYNC_LOCAL_KEYS[i];
        struct member mine = member_find(ours, ours_len, name);
        struct member their = member_find(text, len, name);
        int rc = 0;
        if (mine.found && their.found)
            rc = splice(&text, &len, their.value, their.end, ours + mine.value,
                        mine.end - mine.value);
        else if (their.found)
            /* Every copy: with the last one gone, an earlier duplicate
             * would be the one in force. Each pass shortens the text. */
            for (; rc == 0 && their.found; their = member_find(text, len, name))
                rc = member_remove(&text, &len, &their);
        else if (mine.found)
            rc = member_add(&text, &len, name, ours + mine.value, mine.end - mine.value);
        if (rc < 0) {
            free(text);
            return -1;
        }
    }
    if (!checked(text, len)) {
        free(text);
        return -1;
    }
    *out = text;
    *out_len = len;
    return 0;
}

int sync_shared_digest(const char *text, size_t len, uint8_t out[SYNC_SHARED_DIGEST_SIZE])
{
    if (len > INT32_MAX)
        return -1;
    struct json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return -1;
    struct json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    bool ok = root != NULL && json_tokener_get_error(tok) == json_tokener_success &&
              json_object_is_type(root, json_type_object);
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(root);
        return -1;
    }
    struct json_object *server;
    if (json_object_object_get_ex(root, "server", &server) &&
        json_object_is_type(server, json_type_object))
        for (size_t i = 0; i < SYNC_LOCAL_KEY_COUNT; i++)
            json_object_object_del(server, SYNC_LOCAL_KEYS[i]);
    config_digest(root, out);
    json_object_put(root);
    return 0;
}

/* The "server" object of text, parsed (the caller puts root), or NULL. */
static struct json_object *server_of(const char *text, size_t len, struct json_object **root)
{
    *root = NULL;
    if (len > INT32_MAX)
        return NULL;
    struct json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return NULL;
    *root = json_tokener_parse_ex(tok, text, (int)len);
    bool ok = *root != NULL && json_tokener_get_error(tok) == json_tokener_success &&
              json_object_is_type(*root, json_type_object);
    json_tokener_free(tok);
    if (!ok)
        return NULL;
    struct json_object *server = NULL;
    if (json_object_object_get_ex(*root, "server", &server) &&
        json_object_is_type(server, json_type_object))
        return server;
    return NULL;
}

uint32_t sync_local_differences(const char *theirs, size_t theirs_len, const char *ours,
                                size_t ours_len)
{
    _Static_assert(sizeof(SYNC_LOCAL_KEYS) / sizeof(SYNC_LOCAL_KEYS[0]) <= 32,
                   "one bit per node-local key");
    struct json_object *their_root, *our_root;
    struct json_object *their_server = server_of(theirs, theirs_len, &their_root);
    struct json_object *our_server = server_of(ours, ours_len, &our_root);
    uint32_t differences = 0;
    bool their_ok = their_root != NULL && json_object_is_type(their_root, json_type_object);
    bool our_ok = our_root != NULL && json_object_is_type(our_root, json_type_object);
    for (size_t i = 0; i < SYNC_LOCAL_KEY_COUNT; i++) {
        struct json_object *a = NULL, *b = NULL;
        if (their_server != NULL)
            json_object_object_get_ex(their_server, SYNC_LOCAL_KEYS[i], &a);
        if (our_server != NULL)
            json_object_object_get_ex(our_server, SYNC_LOCAL_KEYS[i], &b);
        if (!their_ok || !our_ok || !json_object_equal(a, b))
            differences |= UINT32_C(1) << i;
    }
    json_object_put(their_root);
    json_object_put(our_root);
    return differences;
}

bool sync_same_shared(const char *a, size_t a_len, const char *b, size_t b_len)
{
    uint8_t da[SYNC_SHARED_DIGEST_SIZE], db[SYNC_SHARED_DIGEST_SIZE];
    return sync_shared_digest(a, a_len, da) == 0 && sync_shared_digest(b, b_len, db) == 0 &&
           memcmp(da, db, sizeof(da)) == 0;
}
