/* The HTTP management API on libevent's evhttp. Everything runs on the
 * node's one event loop thread. Two requests stay pending: a GET /cluster
 * while this node asks its peers (struct cluster_query owns that state),
 * and a POST /reload while its push goes to the peers (struct reload_wait).
 * api_free answers and frees whatever is still pending before evhttp goes
 * away. */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <json-c/json.h>

#include "envelope.h"
#include "log.h"
#include "metrics.h"
#include "node.h"
#include "peer_client.h"
#include "sync.h"

#define API_MAX_BODY_SIZE (1024 * 1024) /* larger request bodies get 413 */
#define API_MAX_HEADERS_SIZE (16 * 1024)
#define API_TIMEOUT_S 10 /* a client silent this long is disconnected */
/* Simultaneous client connections. Past this the listener pauses and new
 * clients wait in the kernel's backlog until one closes. */
#define API_MAX_CONNECTIONS 64

#define PEER_HEALTH_MAX_SIZE (64 * 1024) /* a peer's /health answer */

/* Status codes event2/http.h has no name for. */
#define HTTP_UNAUTHORIZED 401
#define HTTP_FORBIDDEN 403
#define HTTP_UNPROCESSABLE 422 /* RFC 9110 §15.5.21: the file is at fault, not the request */

struct cluster_query;
struct reload_wait;

struct api {
    struct node *node;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct peer_client *client; /* GET /cluster's requests to the peers */

    /* Connection accounting (libevent 2.1 has no evhttp_set_max_connections):
     * each new connection's bufferevent is held (incref) until the adopt
     * event, which runs once evhttp's accept callback has returned, finds
     * its evhttp_connection and sets a close callback that counts it out. */
    unsigned connections;
    bool listener_paused;
    bool cap_reported; /* the first pause was logged as a warning */
    bool stopping;     /* api_free has begun: close callbacks only count */
    struct event *adopt_event;
    struct bufferevent **adopting;
    size_t adopting_count, adopting_capacity;

    struct cluster_query *queries; /* GET /cluster requests still waiting for peers */
    struct reload_wait *reloads;   /* POST /reload answers waiting for their push */
};

/* One peer asked for its /health on behalf of a GET /cluster. */
struct peer_probe {
    struct cluster_query *query;
    char *name;   /* "host:port" as configured (a copy: a reload may free the config) */
    bool trusted; /* listed with a public key */
    struct peer_request *request; /* ours until it has answered (peer_client.h) */
    bool reachable;
    int http_status;
    char status[32];
    bool has_version;
    uint64_t version;
    bool has_hash;
    uint8_t hash[ENVELOPE_HASH_SIZE];
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

/* A POST /reload that reloaded and now waits for its push to the peers
 * (sync_push_wait): answered exactly once, by on_push_done or api_free. */
struct reload_wait {
    struct api *api;
    struct reload_wait *next;
    struct evhttp_request *req;
    struct json_object *body; /* the answer, without "peers" yet */
};

/* -- helpers --------------------------------------------------------------- */

bool api_client_is_loopback(const struct sockaddr *address)
{
    if (address == NULL)
        return false;
    if (address->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)address;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127; /* 127.0.0.0/8, RFC 1122 §3.2.1.3 */
    }
    if (address->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)address)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        /* An IPv4 client of a dual-stack socket arrives as ::ffff:a.b.c.d. */
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

static const char *method_name(enum evhttp_cmd_type method)
{
    switch (method) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "?";
}

/* The client's address, from the socket itself (getpeername), as a
 * sockaddr and as text; false when it cannot be known. */
static bool request_peer(struct evhttp_request *req, struct sockaddr_storage *address, char *text,
                         size_t text_len)
{
    text[0] = '\0';
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    if (conn == NULL)
        return false;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
    evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
    socklen_t len = sizeof(*address);
    if (fd < 0 || getpeername(fd, (struct sockaddr *)address, &len) != 0)
        return false;
    const void *raw = address->ss_family == AF_INET
                          ? (const void *)&((struct sockaddr_in *)address)->sin_addr
                          : (const void *)&((struct sockaddr_in6 *)address)->sin6_addr;
    if (inet_ntop(address->ss_family, raw, text, (socklen_t)text_len) == NULL)
        text[0] = '\0';
    return true;
}

/* evhttp knows the phrases of the codes it names, not these. */
static const char *reason_phrase(int code)
{
    switch (code) {
    case HTTP_FORBIDDEN:
        return "Forbidden";
    case HTTP_UNPROCESSABLE:
        return "Unprocessable Content";
    default:
        return NULL;
    }
}

/* Send body (the caller frees it) with the headers every answer carries.
 * HEAD gets the headers alone: evhttp 2.1 would send the body after them
 * (with no Content-Length), which a client takes for the next answer. */
static void reply(struct evhttp_request *req, int code, const char *content_type,
                  struct evbuffer *body)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", content_type);
    evhttp_add_header(headers, "Cache-Control", "no-store");
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        char length[32];
        snprintf(length, sizeof(length), "%zu", evbuffer_get_length(body));
        evhttp_add_header(headers, "Content-Length", length);
        evhttp_send_reply(req, code, reason_phrase(code), NULL);
        return;
    }
    evhttp_send_reply(req, code, reason_phrase(code), body);
}

/* Answer req with a JSON document and put it. Takes ownership of body. */
static void reply_json(struct evhttp_request *req, int code, struct json_object *body)
{
    struct evbuffer *out = evbuffer_new();
    size_t len = 0;
    const char *text =
        body != NULL ? json_object_to_json_string_length(
                           body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len)
                     : NULL;
    if (out == NULL || text == NULL || evbuffer_add(out, text, len) != 0 ||
        evbuffer_add(out, "\n", 1) != 0)
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
    else
        reply(req, code, "application/json", out);
    if (out != NULL)
        evbuffer_free(out);
    json_object_put(body);
}

/* {"status": status} plus, when reason is not NULL, "reason". */
static struct json_object *status_object(const char *status, const char *reason)
{
    struct json_object *body = json_object_new_object();
    if (body == NULL)
        return NULL;
    json_object_object_add(body, "status", json_object_new_string(status));
    if (reason != NULL)
        json_object_object_add(body, "reason", json_object_new_string(reason));
    return body;
}

/* uptime_s with one decimal, as the original rounds it. */
static struct json_object *json_uptime(double seconds)
{
    char text[32];
    snprintf(text, sizeof(text), "%.1f", seconds);
    return json_object_new_double_s(seconds, text);
}

/* Why /health says unavailable, for the operator reading it. */
static void dataplane_down_reason(const struct node *node, char *out, size_t out_len)
{
    if (node->stats == NULL) {
        snprintf(out, out_len, "the data plane has not started");
        return;
    }
    uint64_t heartbeat = stats_get(&node->stats->heartbeat_unix_ms);
    uint64_t now = stats_now_unix_ms();
    if (heartbeat == 0)
        snprintf(out, out_len, "the data plane has not reported yet");
    else if (now > heartbeat && now - heartbeat > STATS_HEARTBEAT_MAX_AGE_MS)
        snprintf(out, out_len, "the data plane's heartbeat is %.1f s old",
                 (double)(now - heartbeat) / 1000.0);
    else if (heartbeat > now + STATS_HEARTBEAT_MAX_AGE_MS)
        snprintf(out, out_len, "the data plane's heartbeat is in the future (clock stepped back?)");
    else
        snprintf(out, out_len, "the data plane (pid %llu) is not running",
                 (unsigned long long)stats_get(&node->stats->pid));
}

/* -- GET /health, /ready --------------------------------------------------- */

static void handle_health(struct api *api, struct evhttp_request *req)
{
    struct node *node = api->node;
    bool alive = node_dataplane_alive(node);
    struct json_object *body = status_object(alive ? "ok" : "unavailable", NULL);
    if (body != NULL) {
        char hash[2 * ENVELOPE_HASH_SIZE + 1];
        sync_hash_hex(node->config_hash, hash);
        json_object_object_add(body, "version", json_object_new_uint64(node->version));
        json_object_object_add(body, "hash", json_object_new_string(hash));
        json_object_object_add(body, "uptime_s", json_uptime(node_uptime(node)));
        if (!alive) {
            char reason[128];
            dataplane_down_reason(node, reason, sizeof(reason));
            json_object_object_add(body, "reason", json_object_new_string(reason));
        }
    }
    reply_json(req, alive ? HTTP_OK : HTTP_SERVUNAVAIL, body);
}

static void handle_ready(struct api *api, struct evhttp_request *req)
{
    uint64_t served = node_dataplane_version(api->node);
    if (served == 0) {
        reply_json(req, HTTP_SERVUNAVAIL, status_object("not_ready", NULL));
        return;
    }
    struct json_object *body = status_object("ready", NULL);
    if (body != NULL)
        json_object_object_add(body, "version", json_object_new_uint64(served));
    reply_json(req, HTTP_OK, body);
}

/* -- GET /metrics ---------------------------------------------------------- */

static void handle_metrics(struct api *api, struct evhttp_request *req)
{
    const struct node *node = api->node;
    const struct config *cfg = &node->config;
    struct metrics_zone_serial *serials = NULL;
    if (cfg->zone_count > 0) {
        serials = calloc(cfg->zone_count, sizeof(*serials));
        if (serials == NULL) {
            evhttp_send_error(req, HTTP_INTERNAL, NULL);
            return;
        }
    }
    for (size_t i = 0; i < cfg->zone_count; i++) {
        serials[i].zone = cfg->zones[i].name;
        /* As compile.c writes it: every published version moves the serial. */
        serials[i].serial = (uint32_t)(cfg->zones[i].soa.serial + node->version);
    }
    struct metrics_snapshot m = {
        .uptime_s = node_uptime(node),
        .version = node->version,
        .checksum = node->checksum,
        .serials = serials,
        .zone_count = cfg->zone_count,
        .records = cfg->record_count,
        .rewrites = cfg->rewrite_count,
        .config_valid = !node->config_invalid,
        .last_error = node->last_error,
        .reloads = node->reloads,
        .reload_failures = node->reload_failures,
        .dataplane_alive = node_dataplane_alive(node),
        .dataplane_image_version = node_dataplane_version(node),
    };
    if (node->stats != NULL) {
        m.dataplane_pid = stats_get(&node->stats->pid);
        stats_sum(node->stats, &m.totals);
    }

    const char *accept = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
    if (!metrics_accept_prefers_text(accept)) {
        reply_json(req, HTTP_OK, metrics_to_json(&m));
        free(serials);
        return;
    }
    size_t len = 0;
    char *text = metrics_to_prometheus(&m, &len);
    free(serials);
    struct evbuffer *out = evbuffer_new();
    if (text == NULL || out == NULL || evbuffer_add(out, text, len) != 0) {
        free(text);
        if (out != NULL)
            evbuffer_free(out);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    free(text);
    reply(req, HTTP_OK, METRICS_PROMETHEUS_CONTENT_TYPE, out);
    evbuffer_free(out);
}

/* -- GET /config/raw ------------------------------------------------------- */

static void handle_config_raw(struct api *api, struct evhttp_request *req)
{
    const struct node *node = api->node;
    if (node->config_text == NULL) {
        reply_json(req, HTTP_NOTFOUND, status_object("not_found", "no config text is in force"));
        return;
    }
    struct evbuffer *out = evbuffer_new();
    /* A copy, not a reference: a reload may free config_text while the
     * answer is still being written. */
    if (out == NULL || evbuffer_add(out, node->config_text, node->config_len) != 0) {
        if (out != NULL)
            evbuffer_free(out);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    char version[32];
    snprintf(version, sizeof(version), "%llu", (unsigned long long)node->version);
    evhttp_add_header(headers, "X-NanoDNS-Version", version);
    evhttp_add_header(headers, "X-NanoDNS-Checksum", node->checksum);
    if (node->has_key) {
        /* What a pulling peer checks: this node's listed key signed these
         * bytes at this version (node_install signed them). */
        char hash[2 * ENVELOPE_HASH_SIZE + 1], signer[ENVELOPE_PUBLIC_KEY_TEXT],
            signature[ENVELOPE_SIGNATURE_TEXT];
        sync_hash_hex(node->config_hash, hash);
        envelope_public_key_text(node->key.public_key, signer);
        envelope_base64_encode(node->config_signature, ENVELOPE_SIGNATURE_SIZE, signature,
                               sizeof(signature));
        evhttp_add_header(headers, "X-NanoDNS-Hash", hash);
        evhttp_add_header(headers, "X-NanoDNS-Signer", signer);
        evhttp_add_header(headers, "X-NanoDNS-Signature", signature);
    }
    reply(req, HTTP_OK, "application/json", out);
    evbuffer_free(out);
}

/* -- POST /reload ---------------------------------------------------------- */

/* The body of a refusal with why in "reason". */
static void refuse(struct evhttp_request *req, int code, const char *status, const char *reason)
{
    reply_json(req, code, status_object(status, reason));
}

/* Who may reload: loopback clients, as ever; with this node's sync key,
 * other hosts too when the request is signed by a listed key. A request
 * that carries a signature must carry a good one, from anywhere. Returns
 * true when req may go on; otherwise it has been answered. */
static bool reload_allowed(struct api *api, struct evhttp_request *req)
{
    struct node *node = api->node;
    struct sockaddr_storage peer;
    char peer_text[INET6_ADDRSTRLEN];
    bool known = request_peer(req, &peer, peer_text, sizeof(peer_text));
    const char *who = peer_text[0] != '\0' ? peer_text : "an unknown address";
    bool loopback = known && api_client_is_loopback((const struct sockaddr *)&peer);
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *signer = evhttp_find_header(in, "X-NanoDNS-Signer");
    const char *when = evhttp_find_header(in, "X-NanoDNS-Time");
    const char *signature = evhttp_find_header(in, "X-NanoDNS-Signature");
    bool signed_request = signer != NULL || when != NULL || signature != NULL;

    if (!loopback && !node->has_key) {
        log_warning("api: POST /reload from %s refused: this node has no sync key, so only "
                    "loopback clients may reload",
                    who);
        refuse(req, HTTP_FORBIDDEN, "forbidden", "POST /reload is accepted only from loopback");
        return false;
    }
    if (signed_request) {
        char reason[256];
        if (sync_request_check(&node->config.server, signer, when, signature, (uint64_t)time(NULL),
                               "POST", "/reload", reason, sizeof(reason)) < 0) {
            log_warning("api: POST /reload from %s refused: %s", who, reason);
            refuse(req, HTTP_UNAUTHORIZED, "unauthorized", reason);
            return false;
        }
        return true;
    }
    if (!loopback) {
        log_warning("api: POST /reload from %s refused: it is not signed", who);
        refuse(req, HTTP_FORBIDDEN, "forbidden",
               "POST /reload from another host must be signed by a listed key");
        return false;
    }
    return true;
}

static void reload_wait_unlink(struct reload_wait *wait)
{
    for (struct reload_wait **p = &wait->api->reloads; *p != NULL; p = &(*p)->next) {
        if (*p == wait) {
            *p = wait->next;
            break;
        }
    }
}

/* Every peer has answered the push (or timed out): answer the client. */
static void on_push_done(void *arg, struct json_object *peers)
{
    struct reload_wait *wait = arg;
    reload_wait_unlink(wait);
    if (wait->body != NULL)
        json_object_object_add(wait->body, "peers",
                               peers != NULL ? peers : json_object_new_object());
    else
        json_object_put(peers);
    reply_json(wait->req, HTTP_OK, wait->body);
    free(wait);
}

static void handle_reload(struct api *api, struct evhttp_request *req)
{
    if (!reload_allowed(api, req))
        return;

    struct node *node = api->node;
    struct node_reload_result result = {0};
    int rc = node_reload(node, &result);
    struct json_object *body;
    int code;
    if (rc == 0 && result.ok && result.unchanged) {
        /* Nothing was published, so nothing was pushed: no peers to wait
         * for (a round still out for this version is an earlier reload's). */
        code = HTTP_OK;
        body = status_object("unchanged", NULL);
        if (body != NULL) {
            json_object_object_add(body, "version", json_object_new_uint64(result.version));
            json_object_object_add(body, "records", json_object_new_uint64(result.records));
        }
    } else if (rc == 0 && result.ok) {
        code = HTTP_OK;
        body = status_object("reloaded", NULL);
        if (body != NULL) {
            json_object_object_add(body, "version", json_object_new_uint64(result.version));
            json_object_object_add(body, "records", json_object_new_uint64(result.records));
        }
        /* The reload started a push to the peers: answer when they have
         * (each within its timeout), without holding up the loop. */
        struct reload_wait *wait = body != NULL ? calloc(1, sizeof(*wait)) : NULL;
        if (wait != NULL) {
            wait->api = api;
            wait->req = req;
            wait->body = body;
            if (node->sync != NULL &&
                sync_push_wait(node->sync, result.version, on_push_done, wait) == 0) {
                wait->next = api->reloads;
                api->reloads = wait;
                node_reload_result_free(&result);
                return;
            }
            free(wait);
        }
        if (body != NULL)
            json_object_object_add(body, "peers", json_object_new_object());
    } else {
        code = HTTP_UNPROCESSABLE;
        body = status_object("invalid", NULL);
        struct json_object *errors = json_object_new_array();
        for (size_t i = 0; errors != NULL && i < result.error_count; i++)
            json_object_array_add(errors, json_object_new_string(result.errors[i]));
        if (body != NULL && errors != NULL)
            json_object_object_add(body, "errors", errors);
        else
            json_object_put(errors);
    }
    node_reload_result_free(&result);
    reply_json(req, code, body);
}

/* -- POST /sync ------------------------------------------------------------ */

/* A peer's signed push (sync.c judges and applies it). Open to any
 * address: only the signature of a listed key gets anything changed. */
static void handle_sync(struct api *api, struct evhttp_request *req)
{
    struct sync *sync = api->node->sync;
    if (sync == NULL) {
        refuse(req, HTTP_SERVUNAVAIL, "unavailable", "sync is not running");
        return;
    }
    struct sockaddr_storage peer;
    char peer_text[INET6_ADDRSTRLEN];
    if (!request_peer(req, &peer, peer_text, sizeof(peer_text)) || peer_text[0] == '\0')
        snprintf(peer_text, sizeof(peer_text), "an unknown address");
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = in != NULL ? evbuffer_get_length(in) : 0;
    const char *body = len > 0 ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
    if (body == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    struct json_object *answer = NULL;
    int code = sync_receive(sync, body, len, peer_text, &answer);
    reply_json(req, code, answer);
}

/* -- GET /cluster ---------------------------------------------------------- */

static struct json_object *hash_json(const uint8_t hash[ENVELOPE_HASH_SIZE])
{
    char text[2 * ENVELOPE_HASH_SIZE + 1];
    sync_hash_hex(hash, text);
    return json_object_new_string(text);
}

static struct json_object *probe_json(const struct peer_probe *probe, const struct node *node)
{
    struct json_object *entry = json_object_new_object();
    if (entry == NULL)
        return NULL;
    json_object_object_add(entry, "reachable", json_object_new_boolean(probe->reachable));
    json_object_object_add(entry, "version",
                           probe->has_version ? json_object_new_uint64(probe->version) : NULL);
    json_object_object_add(entry, "hash", probe->has_hash ? hash_json(probe->hash) : NULL);
    json_object_object_add(entry, "status", json_object_new_string(probe->status));
    json_object_object_add(entry, "trusted", json_object_new_boolean(probe->trusted));
    time_t last_sync = sync_peer_last_sync(node->sync, probe->name);
    json_object_object_add(entry, "last_sync",
                           last_sync != 0 ? json_object_new_int64((int64_t)last_sync) : NULL);
    bool agrees = probe->reachable && probe->has_version && probe->version == node->version &&
                  probe->has_hash &&
                  memcmp(probe->hash, node->config_hash, ENVELOPE_HASH_SIZE) == 0;
    json_object_object_add(entry, "agrees", json_object_new_boolean(agrees));
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
    struct node *node = api->node;
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
    node_self_address(node, address, sizeof(address));
    bool alive = node_dataplane_alive(node);
    json_object_object_add(self, "address", json_object_new_string(address));
    json_object_object_add(self, "status", json_object_new_string(alive ? "ok" : "unavailable"));
    json_object_object_add(self, "version", json_object_new_uint64(node->version));
    json_object_object_add(self, "hash", hash_json(node->config_hash));
    json_object_object_add(self, "records", json_object_new_uint64(node->config.record_count));
    json_object_object_add(body, "self", self);
    for (size_t i = 0; i < query->count; i++)
        json_object_object_add(peers, query->probes[i].name, probe_json(&query->probes[i], node));
    json_object_object_add(body, "peers", peers);
    reply_json(query->req, HTTP_OK, body);
    cluster_query_free(query);
}

/* The peer's /health answer, parsed as this API writes it. */
static void probe_read_health(struct peer_probe *probe, const struct peer_answer *answer)
{
    probe->reachable = true;
    probe->http_status = answer->code;
    snprintf(probe->status, sizeof(probe->status), "invalid answer");
    struct json_tokener *tok = json_tokener_new();
    struct json_object *health =
        tok != NULL ? json_tokener_parse_ex(tok, answer->body, (int)answer->body_len) : NULL;
    if (tok != NULL)
        json_tokener_free(tok);
    struct json_object *status = NULL, *version = NULL, *hash = NULL;
    if (health != NULL && json_object_object_get_ex(health, "status", &status) &&
        json_object_is_type(status, json_type_string))
        snprintf(probe->status, sizeof(probe->status), "%s", json_object_get_string(status));
    if (health != NULL && json_object_object_get_ex(health, "version", &version) &&
        json_object_is_type(version, json_type_int) && json_object_get_int64(version) >= 0) {
        probe->has_version = true;
        probe->version = json_object_get_uint64(version);
    }
    if (health != NULL && json_object_object_get_ex(health, "hash", &hash) &&
        json_object_is_type(hash, json_type_string) &&
        sync_hash_parse(json_object_get_string(hash), probe->hash) == 0)
        probe->has_hash = true;
    json_object_put(health);
}

/* A probe's answer (or its absence): peer_client runs this outside
 * evhttp's callbacks, so the request and the query may be freed here. */
static void on_peer_health(struct peer_request *request, void *arg)
{
    struct peer_probe *probe = arg;
    struct cluster_query *query = probe->query;
    const struct peer_answer *answer = peer_request_answer(request);
    if (answer->answered) {
        probe_read_health(probe, answer);
    } else {
        probe->reachable = false;
        snprintf(probe->status, sizeof(probe->status), "unreachable");
        snprintf(probe->error, sizeof(probe->error), "%s", answer->error);
    }
    peer_request_free(request);
    probe->request = NULL;
    if (--query->pending == 0)
        cluster_finish(query);
}

static void handle_cluster(struct api *api, struct evhttp_request *req)
{
    const struct node *node = api->node;
    const struct config_server *server = &node->config.server;
    /* Every member but this node (found by its key). */
    size_t count = 0;
    for (size_t i = 0; i < server->peer_count; i++)
        count += (long)i != node->self_peer;
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
        if ((long)i == node->self_peer)
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
        (api->client = peer_client_new(api->node->base)) == NULL) {
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
            snprintf(probe->status, sizeof(probe->status), "unreachable");
            snprintf(probe->error, sizeof(probe->error), "out of memory");
        }
    }
    if (query->pending == 0)
        cluster_finish(query);
}

/* -- routing --------------------------------------------------------------- */

struct route {
    const char *path;
    int methods; /* EVHTTP_REQ_* bits */
    const char *allow;
    void (*handle)(struct api *api, struct evhttp_request *req);
};

static const struct route ROUTES[] = {
    {"/health", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", handle_health},
    {"/ready", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", handle_ready},
    {"/metrics", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", handle_metrics},
    {"/config/raw", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", handle_config_raw},
    {"/cluster", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", handle_cluster},
    {"/reload", EVHTTP_REQ_POST, "POST", handle_reload},
    {"/sync", EVHTTP_REQ_POST, "POST", handle_sync},
};

static void on_request(struct evhttp_request *req, void *arg)
{
    struct api *api = arg;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || path[0] == '\0')
        path = "/";
    log_debug("api: %s %s", method_name(method), path);

    for (size_t i = 0; i < sizeof(ROUTES) / sizeof(ROUTES[0]); i++) {
        const struct route *route = &ROUTES[i];
        if (strcmp(path, route->path) != 0)
            continue;
        if (!(route->methods & (int)method)) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", route->allow);
            reply_json(req, HTTP_BADMETHOD, status_object("method_not_allowed", NULL));
            return;
        }
        route->handle(api, req);
        return;
    }
    reply_json(req, HTTP_NOTFOUND, status_object("not_found", NULL));
}

/* -- connection accounting ------------------------------------------------- */

static void listener_update(struct api *api)
{
    if (api->stopping || api->bound == NULL)
        return;
    struct evconnlistener *listener = evhttp_bound_socket_get_listener(api->bound);
    if (listener == NULL)
        return;
    bool full = api->connections >= API_MAX_CONNECTIONS;
    if (full && !api->listener_paused) {
        if (evconnlistener_disable(listener) == 0) {
            api->listener_paused = true;
            /* Loud once; a node at its cap would flap on every close. */
            log_msg(api->cap_reported ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING,
                    "api: %u connections open, new clients wait until one closes",
                    api->connections);
            api->cap_reported = true;
        }
    } else if (!full && api->listener_paused) {
        if (evconnlistener_enable(listener) == 0)
            api->listener_paused = false;
    }
}

static void connection_gone(struct api *api)
{
    if (api->connections > 0)
        api->connections--;
    listener_update(api);
}

static void on_connection_close(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    connection_gone(arg);
}

/* The bufferevent evhttp will use for a new client connection: counted in
 * here, counted out by on_connection_close. */
static struct bufferevent *on_new_connection(struct event_base *base, void *arg)
{
    struct api *api = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL)
        return NULL; /* evhttp tries to make its own; that one goes uncounted */
    if (api->adopting_count == api->adopting_capacity) {
        size_t capacity = api->adopting_capacity ? api->adopting_capacity * 2 : 8;
        struct bufferevent **grown = realloc(api->adopting, capacity * sizeof(*grown));
        if (grown == NULL)
            return bev; /* uncounted, but served */
        api->adopting = grown;
        api->adopting_capacity = capacity;
    }
    bufferevent_incref(bev);
    api->adopting[api->adopting_count++] = bev;
    api->connections++;
    event_active(api->adopt_event, EV_TIMEOUT, 0);
    listener_update(api);
    return bev;
}

/* By now evhttp has made each new bufferevent part of an evhttp_connection,
 * which it passes as the bufferevent's callback argument (libevent 2.1
 * http.c), or has freed it already (its callbacks are then cleared). */
static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct api *api = arg;
    for (size_t i = 0; i < api->adopting_count; i++) {
        struct bufferevent *bev = api->adopting[i];
        bufferevent_event_cb event_cb = NULL;
        void *cb_arg = NULL;
        bufferevent_getcb(bev, NULL, NULL, &event_cb, &cb_arg);
        if (event_cb != NULL && cb_arg != NULL)
            evhttp_connection_set_closecb(cb_arg, on_connection_close, api);
        else
            connection_gone(api);
        bufferevent_decref(bev);
    }
    api->adopting_count = 0;
}

/* -- lifecycle ------------------------------------------------------------- */

struct api *api_start(struct node *node, const char *host, uint16_t port, char *err, size_t err_len)
{
    struct api *api = calloc(1, sizeof(*api));
    if (api == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    api->node = node;
    api->http = evhttp_new(node->base);
    api->adopt_event = event_new(node->base, -1, 0, on_adopt, api);
    if (api->http == NULL || api->adopt_event == NULL) {
        snprintf(err, err_len, "out of memory");
        api_free(api);
        return NULL;
    }
    evhttp_set_max_body_size(api->http, API_MAX_BODY_SIZE);
    evhttp_set_max_headers_size(api->http, API_MAX_HEADERS_SIZE);
    evhttp_set_timeout(api->http, API_TIMEOUT_S);
    /* Every method reaches on_request, which answers 405 with Allow. */
    evhttp_set_allowed_methods(api->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                              EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(api->http, on_request, api);
    evhttp_set_bevcb(api->http, on_new_connection, api);

    errno = 0;
    api->bound = evhttp_bind_socket_with_handle(api->http, host, port);
    if (api->bound == NULL) {
        int error = errno;
        snprintf(err, err_len, "cannot listen on %s%s%s:%u: %s", strchr(host, ':') ? "[" : "", host,
                 strchr(host, ':') ? "]" : "", (unsigned)port,
                 error != 0 ? strerror(error) : "bind failed");
        api_free(api);
        return NULL;
    }
    log_info("management API on %s%s%s:%u", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", (unsigned)port);
    return api;
}

void api_free(struct api *api)
{
    if (api == NULL)
        return;
    api->stopping = true;
    /* Answer what still waits for peers, before evhttp_free closes the
     * connections: the answer likely never leaves, but replying is what
     * frees a request whose client is already gone (evhttp_send). */
    while (api->queries != NULL) {
        struct cluster_query *query = api->queries;
        reply_json(query->req, HTTP_SERVUNAVAIL,
                   status_object("unavailable", "the node is stopping"));
        cluster_query_free(query);
    }
    /* A reload that waits for its push did reload: say so, without the
     * peers' answers. */
    while (api->reloads != NULL) {
        struct reload_wait *wait = api->reloads;
        api->reloads = wait->next;
        if (api->node->sync != NULL)
            sync_push_unwait(api->node->sync, wait);
        if (wait->body != NULL)
            json_object_object_add(wait->body, "peers", json_object_new_object());
        reply_json(wait->req, HTTP_OK, wait->body);
        free(wait);
    }
    for (size_t i = 0; i < api->adopting_count; i++)
        bufferevent_decref(api->adopting[i]);
    api->adopting_count = 0;
    if (api->adopt_event != NULL)
        event_free(api->adopt_event);
    if (api->http != NULL)
        evhttp_free(api->http); /* closes the clients: on_connection_close only counts */
    peer_client_free(api->client);
    free(api->adopting);
    free(api);
}
