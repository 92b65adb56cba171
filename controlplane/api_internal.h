/* What the API's files share: struct api, the reply helpers and the handlers api.c routes to.
 * Private to controlplane/api*.c; everything runs on the daemon's one event loop. */
#ifndef NANODNS_API_INTERNAL_H
#define NANODNS_API_INTERNAL_H

/* api.c serves (listening, connection limits and the request deadline,
 * routing, replies);
 * api_status.c answers /health, /ready, /metrics and /config/raw;
 * api_reload.c POST /reload and POST /sync; api_cluster.c GET /cluster.
 * Two kinds of request stay pending: a GET /cluster while this node asks
 * its peers, a POST /reload while its push goes out. Each is answered
 * exactly once, by its own file or by api_free through the *_cancel_all
 * functions below. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/http.h>

#include "api.h"
#include "control_socket.h"
#include "replay_cache.h"

struct bufferevent;
struct event;
struct evbuffer;
struct json_object;
struct cluster_query;
struct reload_wait;

/* Status codes event2/http.h has no name for. */
#define HTTP_UNAUTHORIZED 401
#define HTTP_FORBIDDEN 403
#define HTTP_CONFLICT 409
#define HTTP_UNPROCESSABLE 422 /* RFC 9110 §15.5.21: the file is at fault, not the request */

/* Connection limits (issue 12, finding 5): slow clients must not keep the
 * API from anyone else. */
#define API_MAX_CONNECTIONS 64 /* all clients together */
#define API_MAX_PER_CLIENT 16  /* from one source address */
/* From accepting a connection (or answering its previous request) to
 * having its whole next request, headers and body: a deadline, not a
 * timeout between bytes. */
#define API_REQUEST_DEADLINE_S 5

/* One client connection, from its adoption (api.c) until evhttp closes it. */
struct api_client {
    TAILQ_ENTRY(api_client) link; /* api->clients, oldest first */
    struct api *api;
    struct evhttp_connection *conn; /* evhttp's; this entry is freed by its close callback */
    struct event *deadline;         /* API_REQUEST_DEADLINE_S for the request being read */
    struct sockaddr_storage address;
    int64_t since_ms; /* accepted, or its last answer sent (monotonic) */
    bool busy;        /* a handler holds its request: never evicted */
};
TAILQ_HEAD(api_client_list, api_client);

/* Which connection to close now that newcomer (already in clients) is
 * there: the oldest idle one of newcomer's address when it has more than
 * per_client_max, else the oldest idle one of all when total passes
 * total_max; newcomer itself only when every other candidate is busy.
 * NULL when nothing needs closing. */
struct api_client *api_client_to_evict(const struct api_client_list *clients,
                                       const struct api_client *newcomer, unsigned per_client_max,
                                       unsigned total, unsigned total_max);

struct api {
    struct api_context context;
    char *host;                  /* mgmt_host as bound: a name Host may carry */
    struct replay_cache replays; /* nonces of the signed requests taken (api_request_allowed) */
    uint64_t started;            /* unix time of api_start: older signed requests are refused */
    struct evhttp *http;
    struct evhttp_bound_socket *bound;         /* mgmt_host:mgmt_port; NULL when mgmt_port is 0 */
    struct control_socket control;             /* the local channel (control_socket.h) */
    struct evhttp_bound_socket *control_bound; /* its listener; NULL: none */
    struct peer_client *client; /* GET /cluster's requests to the peers; made on first use */

    /* Connection accounting (libevent 2.1 has no evhttp_set_max_connections):
     * each new connection's bufferevent is held (incref) until the adopt
     * event, which runs once evhttp's accept callback has returned, finds
     * its evhttp_connection, gives it an api_client and sets a close
     * callback that counts it out. */
    unsigned connections; /* accepted and not yet closed, adopted or not */
    unsigned busy;        /* clients whose request a handler holds */
    struct api_client_list clients;
    bool listener_paused;
    bool cap_reported; /* the first pause was logged as a warning */
    bool stopping;     /* api_free has begun: close callbacks leave the listener alone */
    struct event *adopt_event;
    struct bufferevent **adopting;
    size_t adopting_count, adopting_capacity;

    struct cluster_query *queries; /* GET /cluster requests still waiting for peers */
    struct reload_wait *reloads;   /* POST /reload answers waiting for their push */
};

/* ---- who may ask (api.c) ---- */

/* At most this many peers' host names are accepted in Host. */
#define API_MAX_HOST_NAMES 64
/* Whether a Host header value (NULL: none) names this node: an IP
 * literal, localhost, or one of names, with or without a port
 * (DNS rebinding, issue 12 finding 6). */
bool api_host_allowed(const char *host, const char *const *names, size_t name_count);
/* Whether a request comes from a web page: an Origin header, or a
 * Sec-Fetch-Site other than none or same-origin (CSRF). */
bool api_browser_refused(const char *origin, const char *fetch_site);
/* Whether req (method path) may be answered: over the control socket; from
 * loopback, unsigned only when it changes nothing; or signed by a listed
 * key for this node (sync_request_check), once. false: answered (403,
 * 401, 409, 503). In api_reload.c. */
bool api_request_allowed(struct api *api, struct evhttp_request *req, const char *method,
                         const char *path, bool changes);

/* ---- replies (api.c) ---- */

/* Send body (the caller frees it) with the headers every answer carries. */
void api_reply(struct evhttp_request *req, int code, const char *content_type,
               struct evbuffer *body);
/* Answer req with a JSON document and put it. Takes ownership of body. */
void api_reply_json(struct evhttp_request *req, int code, struct json_object *body);
/* {"status": status} plus, when reason is not NULL, "reason". */
struct json_object *api_status_object(const char *status, const char *reason);
/* The client's address, from the socket itself (getpeername), as a
 * sockaddr and as text ("the control socket" for AF_UNIX); false when it
 * cannot be known. */
bool api_request_peer(struct evhttp_request *req, struct sockaddr_storage *address, char *text,
                      size_t text_len);
/* The lowercase hex of a config hash as a JSON string. */
struct json_object *api_hash_json(const uint8_t hash[32]);

/* ---- handlers ---- */

void api_handle_health(struct api *api, struct evhttp_request *req);
void api_handle_ready(struct api *api, struct evhttp_request *req);
void api_handle_metrics(struct api *api, struct evhttp_request *req);
void api_handle_config_raw(struct api *api, struct evhttp_request *req);
void api_handle_cluster(struct api *api, struct evhttp_request *req);
void api_handle_reload(struct api *api, struct evhttp_request *req);
void api_handle_sync(struct api *api, struct evhttp_request *req);

/* ---- pending requests, answered and freed when the API stops ---- */

void api_cluster_cancel_all(struct api *api);
void api_reload_cancel_all(struct api *api);

#endif
