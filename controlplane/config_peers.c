/* The cluster as this node knows it: server.peers (the original's
 * "host:port" strings, or {"address", "public_key"} objects, which sync
 * trusts) and server.sync_key, this node's own key file. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "config_loader.h"
#include "envelope.h"
#include "hostport.h"

#define PEER_FORMS "\"host:port\" (or \"[IPv6]:port\") with a port of 1..65535"

/* "host:port" or "[IPv6]:port", the host a name or an address. */
static bool peer_address_valid(const char *text, size_t len)
{
    struct hostport hp;
    return hostport_parse(text, len, HOSTPORT_NAME, &hp) == 0;
}

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
        if (!peer_address_valid(s, len)) {
            loader_report(ld, CONFIG_ERROR, false, "%s is not " PEER_FORMS, quote_text(q, s, len));
            return -1;
        }
        return loader_set_string(ld, address, s, len);
    }
    if (json_object_get_type(v) != json_type_object) {
        loader_report_type(ld, v,
                           "a \"host:port\" string or an {\"address\", \"public_key\"} object");
        return -1;
    }
    size_t errors = ld->diags->errors;
    loader_check_object(ld, v, CONFIG_PEER_KEYS, COUNT(CONFIG_PEER_KEYS));
    int rc = loader_read_string_pushed(ld, v, "address", true, &s, &len);
    if (rc == 0) {
        loader_report_missing(ld, "address");
    } else if (rc == 1) {
        if (!peer_address_valid(s, len))
            loader_report(ld, CONFIG_ERROR, false, "%s is not " PEER_FORMS, quote_text(q, s, len));
        else
            loader_set_string(ld, address, s, len);
    }
    if (rc != 0)
        loader_pop(ld);
    rc = loader_read_string_pushed(ld, v, "public_key", true, &s, &len);
    if (rc == 0) {
        loader_report(ld, CONFIG_ERROR, false,
                      "missing required key \"public_key\" (a peer without a key is written as the "
                      "plain \"host:port\" string)");
    } else if (rc == 1) {
        if (envelope_public_key_parse(s, key) < 0)
            loader_report(ld, CONFIG_ERROR, false,
                          "%s is not a public key (the 44 characters of base64 that nanodns keygen "
                          "prints)",
                          quote_text(q, s, len));
        else
            *has_key = true;
    }
    if (rc != 0)
        loader_pop(ld);
    if (ld->diags->errors != errors) {
        free(*address);
        *address = NULL;
        return -1;
    }
    return 0;
}

/* server.peers, replacing the (empty) defaults. */
void config_peers_load(struct loader *ld, struct json_object *server)
{
    struct config_server *cs = &ld->cfg->server;
    struct json_object *array;
    if (!json_object_object_get_ex(server, "peers", &array))
        return;
    loader_push_key(ld, "peers");
    if (json_object_get_type(array) != json_type_array) {
        loader_report_type(ld, array,
                           "an array of \"host:port\" strings and {\"address\", \"public_key\"} "
                           "objects");
        loader_pop(ld);
        return;
    }
    size_t n = json_object_array_length(array);
    cs->peers = calloc(n ? n : 1, sizeof(*cs->peers));
    cs->peer_has_key = calloc(n ? n : 1, sizeof(*cs->peer_has_key));
    cs->peer_keys = calloc(n ? n : 1, sizeof(*cs->peer_keys));
    if (!cs->peers || !cs->peer_has_key || !cs->peer_keys) {
        loader_out_of_memory(ld);
        loader_pop(ld);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        loader_push_index(ld, i);
        size_t k = cs->peer_count;
        if (load_peer(ld, json_object_array_get_idx(array, i), &cs->peers[k], &cs->peer_has_key[k],
                      cs->peer_keys[k]) == 0) {
            /* A node finds its own entry by its key: two entries with one
             * key would make that ambiguous. */
            for (size_t j = 0; j < k && cs->peer_has_key[k]; j++) {
                if (cs->peer_has_key[j] &&
                    memcmp(cs->peer_keys[j], cs->peer_keys[k], ENVELOPE_PUBLIC_KEY_SIZE) == 0) {
                    loader_push_key(ld, "public_key");
                    loader_report(ld, CONFIG_ERROR, false,
                                  "the same public key as the peer %s: each node needs its own key",
                                  cs->peers[j]);
                    loader_pop(ld);
                    break;
                }
            }
            if (!cs->peer_has_key[k])
                loader_report(
                    ld, CONFIG_WARNING, false,
                    "sync needs keys: a peer without a public_key is shown in /cluster but "
                    "never trusted");
            cs->peer_count++;
        }
        loader_pop(ld);
    }
    loader_pop(ld);
}

/* server.sync_key, a relative path taken against the config file's folder;
 * then the warning for keyed peers on a node that has no key. */
void config_peers_load_sync_key(struct loader *ld, struct json_object *server)
{
    struct config_server *s = &ld->cfg->server;
    const char *key;
    size_t key_len;
    int rc = loader_read_string_pushed(ld, server, "sync_key", true, &key, &key_len);
    if (rc == 1) {
        if (key_len == 0)
            loader_report(
                ld, CONFIG_ERROR, false,
                "an empty sync_key names no file; leave the key out on a node without one");
        else if (key[0] == '/' || ld->config_path == NULL || strchr(ld->config_path, '/') == NULL)
            loader_set_string(ld, &s->sync_key, key, key_len);
        else {
            /* Relative to the config file's folder, so one file serves
             * every node, each with its key beside its config. */
            const char *slash = strrchr(ld->config_path, '/');
            size_t dir_len = (size_t)(slash - ld->config_path) + 1;
            char *path = malloc(dir_len + key_len + 1);
            if (!path) {
                loader_out_of_memory(ld);
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
        loader_pop(ld);
    bool keyed = false;
    for (size_t i = 0; i < s->peer_count; i++)
        keyed = keyed || s->peer_has_key[i];
    if (keyed && !s->sync_key) {
        loader_push_key(ld, "peers");
        loader_report(
            ld, CONFIG_WARNING, false,
            "peers have public keys but server.sync_key is absent: this node cannot sign, "
            "so it pushes nothing and serves /config/raw unsigned");
        loader_pop(ld);
    }
}
