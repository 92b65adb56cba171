/* GET /cluster: this node and what each peer's /health says, asked
 * without blocking the loop (see api_internal.h). A query lives until its
 * last peer has answered or timed out, or the API stops. */
#include "api_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "config.h"
#include "dataplane_link.h"
#include "node.h"
#include "peer_client.h"
#include "peer_health.h"
#include "sync.h"
#include "sync_identity.h"

/* A blocklist digest travels in /health as a config hash does. */
_Static_assert(CONFIG_DIGEST_SIZE == ENVELOPE_HASH_SIZE, "a blocklist digest is a 32-octet hash");

/* One peer asked for its /health on behalf of a GET /cluster. */
struct peer_probe {
    struct cluster_query *query;
    char *name;   /* "host:port" as configured (a copy: a reload may free the config) */
    bool trusted; /* listed with a public key */
    struct peer_request *request; /* ours until it has answered (peer_client.h) */
    bool reachable;
    int http_status;
    struct peer_health health; /* its status: "unreachable" when it did not answer */
    char error[96];
};

struct cluster_query {
    struct api *api;
    struct cluster_query *next;
    struct evhttp_request *req; /* the client's; answered exactly once, by cluster_finish */
    size_t pending;
    size_t count;
    struct peer_probe probes[];
};

/* This node's key and entry in server.peers; NULL when no sync runs. */
static const struct sync_identity *cluster_identity(const struct api *api)
{
    return api->context.sync != NULL ? sync_identity_of(api->context.sync) : NULL;
}

/* -- GET /cluster ---------------------------------------------------------- */

static struct json_object *probe_json(const struct peer_probe *probe, const struct node *node,
                                      const struct sync *sync)
{
    struct json_object *entry = json_object_new_object();
    if (entry == NULL)
        return NULL;
    json_object_object_add(entry, "reachable", json_object_new_boolean(probe->reachable));
    const struct peer_health *health = &probe->health;
    json_object_object_add(entry, "version",
                           health->has_version ? json_object_new_uint64(health->version) : NULL);
    json_object_object_add(entry, "hash", health->has_hash ? api_hash_json(health->hash) : NULL);
    json_object_object_add(entry, "status", json_object_new_string(health->status));
    json_object_object_add(entry, "trusted", json_object_new_boolean(probe->trusted));
    time_t last_sync = sync_peer_last_sync(sync, probe->name);
    json_object_object_add(entry, "last_sync",
                           last_sync != 0 ? json_object_new_int64((int64_t)last_sync) : NULL);
    /* The same config, node-local settings aside (README "Cluster sync"). */
    bool agrees = probe->reachable && health->has_version && health->version == node->version &&
                  health->has_hash &&
                  (memcmp(health->hash, node->config_hash, ENVELOPE_HASH_SIZE) == 0 ||
                   sync_peer_same_config(sync, probe->name, health->hash));
    json_object_object_add(entry, "agrees", json_object_new_boolean(agrees));
    /* Lists are node-local files sync never carries: the same digest says
     * the peer blocks what we block. null when it did not say (an older
     * node, or no answer): unknown, not different. */
    bool lists_known = probe->reachable && health->has_blocklist_digest;
    bool lists_agree =
        lists_known && memcmp(health->blocklist_digest, node->config.blocklist_digest,
                              sizeof(health->blocklist_digest)) == 0;
    json_object_object_add(entry, "blocklist_digest",
                           lists_known ? api_hash_json(health->blocklist_digest) : NULL);
    json_object_object_add(entry, "blocklists_agree",
                           lists_known ? json_object_new_boolean(lists_agree) : NULL);
    /* Where it runs otherwise than we do (README "Cluster sync"): the
     * node-local settings its last config sent us set differently. */
    bool known;
    uint32_t differences = sync_peer_local_differences(sync, probe->name, &known);
    struct json_object *differ = known ? json_object_new_array() : NULL;
    for (size_t i = 0; differ != NULL && i < SYNC_LOCAL_KEY_COUNT; i++)
        if (differences & (UINT32_C(1) << i))
            json_object_array_add(differ, json_object_new_string(SYNC_LOCAL_KEYS[i]));
    json_object_object_add(entry, "node_local_differs", differ);
    if (probe->http_status != 0)
        json_object_object_add(entry, "http_status", json_object_new_int(probe->http_status));
    if (probe->error[0] != '\0')
        json_object_object_add(entry, "error", json_object_new_string(probe->error));
    return entry;
}

static void cluster_query_free(struct cluster_query *query)
{
    struct api *api = query->api;
    for (struct cluster_query **p = &api->queries; *p != NULL; p = &(*p)->next) {
        if (*p == query) {
            *p = query->next;
            break;
        }
    }
    for (size_t i = 0; i < query->count; i++) {
        peer_request_free(query->probes[i].request);
        free(query->probes[i].name);
    }
    free(query);
}

/* Answer the client with what the probes found, then free the query. A
 * client that went away meanwhile is fine: evhttp frees the request. */
static void cluster_finish(struct cluster_query *query)
{
    struct api *api = query->api;
    const struct node *node = api->context.node;
    struct json_object *body = json_object_new_object();
    struct json_object *self = json_object_new_object();
    struct json_object *peers = json_object_new_object();
    if (body == NULL || self == NULL || peers == NULL) {
        json_object_put(body);
        json_object_put(self);
        json_object_put(peers);
        evhttp_send_error(query->req, HTTP_INTERNAL, NULL);
        cluster_query_free(query);
        return;
    }
    char address[300];
    sync_identity_self_address(cluster_identity(api), &node->config.server, address,
                               sizeof(address));
    bool alive = dataplane_link_alive(api->context.link);
    json_object_object_add(self, "address", json_object_new_string(address));
    json_object_object_add(self, "status", json_object_new_string(alive ? "ok" : "unavailable"));
    json_object_object_add(self, "version", json_object_new_uint64(node->version));
    json_object_object_add(self, "hash", api_hash_json(node->config_hash));
    json_object_object_add(self, "records", json_object_new_uint64(node->config.record_count));
    json_object_object_add(self, "blocklist_digest", api_hash_json(node->config.blocklist_digest));
    json_object_object_add(body, "self", self);
    for (size_t i = 0; i < query->count; i++)
        json_object_object_add(peers, query->probes[i].name,
                               probe_json(&query->probes[i], node, api->context.sync));
    json_object_object_add(body, "peers", peers);
    api_reply_json(query->req, HTTP_OK, body);
    cluster_query_free(query);
}

/* A probe's answer (or its absence): peer_client runs this outside
 * evhttp's callbacks, so the request and the query may be freed here. */
static void on_peer_health(struct peer_request *request, void *arg)
{
    struct peer_probe *probe = arg;
    struct cluster_query *query = probe->query;
    const struct peer_answer *answer = peer_request_answer(request);
    if (answer->answered) {
        probe->reachable = true;
        probe->http_status = answer->code;
        peer_health_parse(answer->body, answer->body_len, &probe->health);
    } else {
        probe->reachable = false;
        snprintf(probe->health.status, sizeof(probe->health.status), "unreachable");
        snprintf(probe->error, sizeof(probe->error), "%s", answer->error);
    }
    peer_request_free(request);
    probe->request = NULL;
    if (--query->pending == 0)
        cluster_finish(query);
}

void api_handle_cluster(struct api *api, struct evhttp_request *req)
{
    const struct config_server *server = &api->context.node->config.server;
    const struct sync_identity *identity = cluster_identity(api);
    long self_peer = identity != NULL ? identity->self_peer : -1;
    /* Every member but this node (found by its key). */
    size_t count = 0;
    for (size_t i = 0; i < server->peer_count; i++)
        count += (long)i != self_peer;
    struct cluster_query *query = calloc(1, sizeof(*query) + count * sizeof(query->probes[0]));
    if (query == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    query->api = api;
    query->req = req;
    query->next = api->queries;
    api->queries = query;
    for (size_t i = 0; i < server->peer_count; i++) {
        if ((long)i == self_peer)
            continue;
        struct peer_probe *probe = &query->probes[query->count++];
        probe->query = query;
        probe->trusted = server->peer_has_key != NULL && server->peer_has_key[i];
        probe->name = strdup(server->peers[i]);
        if (probe->name == NULL) {
            evhttp_send_error(req, HTTP_INTERNAL, NULL);
            cluster_query_free(query);
            return;
        }
    }
    if (api->client == NULL && count > 0 &&
        (api->client = peer_client_new(api->context.base)) == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        cluster_query_free(query);
        return;
    }
    /* Each request reports later, from the loop (within PEER_DEADLINE_MS). */
    for (size_t i = 0; i < query->count; i++) {
        struct peer_probe *probe = &query->probes[i];
        probe->request = peer_request_start(api->client, probe->name, EVHTTP_REQ_GET, "/health",
                                            NULL, 0, PEER_HEALTH_MAX_SIZE, on_peer_health, probe);
        if (probe->request != NULL) {
            query->pending++;
        } else {
            snprintf(probe->health.status, sizeof(probe->health.status), "unreachable");
            snprintf(probe->error, sizeof(probe->error), "out of memory");
        }
    }
    if (query->pending == 0)
        cluster_finish(query);
}

void api_cluster_cancel_all(struct api *api)
{
    while (api->queries != NULL) {
        struct cluster_query *query = api->queries;
        api_reply_json(query->req, HTTP_SERVUNAVAIL,
                       api_status_object("unavailable", "the node is stopping"));
        cluster_query_free(query);
    }
}
