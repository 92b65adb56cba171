/* The HTTP management API's server on libevent's evhttp: listening, the
 * connection limits and request deadline, routing and the replies every
 * handler uses (see api_internal.h for who answers what). One event loop
 * thread. */
#include "api_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <json-c/json.h>

#include "cidr.h"
#include "config.h"
#include "control_socket.h"
#include "hostport.h"
#include "log.h"
#include "node.h"
#include "peer_client.h"
#include "sync.h"

#define API_MAX_BODY_SIZE (1024 * 1024) /* larger request bodies get 413 */
#define API_MAX_HEADERS_SIZE (16 * 1024)
/* evhttp's own timeout between bytes; it still bounds a client that stops
 * reading our answer (the request deadline covers reading its request). */
#define API_TIMEOUT_S 10
/* While a handler has the request: the connection's timeout, out of the
 * way of any handler (the longest is a reload). */
#define API_HANDLER_TIMEOUT_S 3600

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

bool api_host_allowed(const char *host, const char *const *names, size_t name_count)
{
    if (host == NULL)
        return true; /* HTTP/1.0 without Host: no browser sends that */
    struct hostport hp;
    if (hostport_parse(host, strlen(host), HOSTPORT_PORT_OPTIONAL | HOSTPORT_NAME, &hp) < 0)
        return false;
    if (hp.family != AF_UNSPEC)
        return true; /* an address literal: no name to rebind */
    if (strcasecmp(hp.host, "localhost") == 0)
        return true;
    for (size_t i = 0; i < name_count; i++) {
        if (names[i] != NULL && strcasecmp(hp.host, names[i]) == 0)
            return true;
    }
    return false;
}

bool api_browser_refused(const char *origin, const char *fetch_site)
{
    /* Every current browser sends Origin with a POST and with any
     * cross-origin fetch, and Sec-Fetch-Site with every request; no
     * client of ours (nanoctl, peers, curl, scrapers) sends either, unless
     * told to. "none" is a URL typed by hand; "same-origin" a page of this
     * very origin, which the API does not serve (and a rebound name fails
     * the Host check). */
    if (origin != NULL)
        return true;
    return fetch_site != NULL && strcasecmp(fetch_site, "none") != 0 &&
           strcasecmp(fetch_site, "same-origin") != 0;
}

/* The host names (other than IP literals and localhost) a request may
 * carry in Host: mgmt_host and the hosts of the peers' addresses, under
 * which peers and operators reach this node. Refusing any other defeats
 * DNS rebinding: a browser led to a name an attacker controls sends
 * that name. Browsers are refused as well (CSRF). true to go on; false:
 * req has been answered. */
static bool request_origin_allowed(struct api *api, struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    if (api_browser_refused(evhttp_find_header(in, "Origin"),
                            evhttp_find_header(in, "Sec-Fetch-Site"))) {
        log_warning("api: a request sent by a web browser (Origin or Sec-Fetch-Site) refused");
        api_reply_json(req, HTTP_FORBIDDEN,
                       api_status_object("forbidden", "requests from web pages are refused"));
        return false;
    }
    const char *host = evhttp_find_header(in, "Host");
    const struct config_server *server = &api->context.node->config.server;
    const char *names[1 + API_MAX_HOST_NAMES];
    struct hostport peer_names[API_MAX_HOST_NAMES];
    size_t count = 0;
    names[count++] = api->host;
    for (size_t i = 0; i < server->peer_count && count < 1 + API_MAX_HOST_NAMES; i++) {
        struct hostport *peer = &peer_names[count - 1];
        if (hostport_parse(server->peers[i], strlen(server->peers[i]),
                           HOSTPORT_NAME | HOSTPORT_ZONE, peer) == 0)
            names[count++] = peer->host;
    }
    if (!api_host_allowed(host, names, count)) {
        log_warning("api: a request for Host %s refused: not this node's name (DNS rebinding?)",
                    host);
        api_reply_json(req, HTTP_FORBIDDEN,
                       api_status_object("forbidden", "the Host header does not name this node"));
        return false;
    }
    return true;
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
bool api_request_peer(struct evhttp_request *req, struct sockaddr_storage *address, char *text,
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
    if (address->ss_family == AF_UNIX) {
        snprintf(text, text_len, "the control socket");
        return true;
    }
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
    case HTTP_CONFLICT:
        return "Conflict";
    case HTTP_UNPROCESSABLE:
        return "Unprocessable Content";
    default:
        return NULL;
    }
}

/* Send body (the caller frees it) with the headers every answer carries.
 * HEAD gets the headers alone: evhttp 2.1 would send the body after them
 * (with no Content-Length), which a client takes for the next answer. */
void api_reply(struct evhttp_request *req, int code, const char *content_type,
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
void api_reply_json(struct evhttp_request *req, int code, struct json_object *body)
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
        api_reply(req, code, "application/json", out);
    if (out != NULL)
        evbuffer_free(out);
    json_object_put(body);
}

/* {"status": status} plus, when reason is not NULL, "reason". */
struct json_object *api_status_object(const char *status, const char *reason)
{
    struct json_object *body = json_object_new_object();
    if (body == NULL)
        return NULL;
    json_object_object_add(body, "status", json_object_new_string(status));
    if (reason != NULL)
        json_object_object_add(body, "reason", json_object_new_string(reason));
    return body;
}

struct json_object *api_hash_json(const uint8_t hash[32])
{
    char text[2 * ENVELOPE_HASH_SIZE + 1];
    sync_hash_hex(hash, text);
    return json_object_new_string(text);
}

/* -- routing --------------------------------------------------------------- */

struct route {
    const char *path;
    int methods; /* EVHTTP_REQ_* bits */
    const char *allow;
    void (*handle)(struct api *api, struct evhttp_request *req);
};

static const struct route ROUTES[] = {
    {"/health", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", api_handle_health},
    {"/ready", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", api_handle_ready},
    {"/metrics", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", api_handle_metrics},
    {"/config/raw", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", api_handle_config_raw},
    {"/cluster", EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "GET, HEAD", api_handle_cluster},
    {"/reload", EVHTTP_REQ_POST, "POST", api_handle_reload},
    {"/sync", EVHTTP_REQ_POST, "POST", api_handle_sync},
};

static void client_request_started(struct api *api, struct evhttp_request *req);

static void on_request(struct evhttp_request *req, void *arg)
{
    struct api *api = arg;
    client_request_started(api, req);
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || path[0] == '\0')
        path = "/";
    log_debug("api: %s %s", method_name(method), path);
    if (!request_origin_allowed(api, req))
        return;

    for (size_t i = 0; i < sizeof(ROUTES) / sizeof(ROUTES[0]); i++) {
        const struct route *route = &ROUTES[i];
        if (strcmp(path, route->path) != 0)
            continue;
        if (!(route->methods & (int)method)) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", route->allow);
            api_reply_json(req, HTTP_BADMETHOD, api_status_object("method_not_allowed", NULL));
            return;
        }
        route->handle(api, req);
        return;
    }
    api_reply_json(req, HTTP_NOTFOUND, api_status_object("not_found", NULL));
}

/* -- connection accounting ------------------------------------------------- */

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether a and b are one client for the per-client cap: one address, or
 * both on the control socket. */
static bool same_source(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family == AF_UNIX && b->ss_family == AF_UNIX)
        return true;
    return cidr_same_host(a, b);
}

/* The oldest idle client other than newcomer (of newcomer's source only,
 * when only_same). */
static struct api_client *oldest_idle(const struct api_client_list *clients,
                                      const struct api_client *newcomer, bool only_same)
{
    struct api_client *oldest = NULL, *client;
    TAILQ_FOREACH(client, clients, link)
    {
        if (client == newcomer || client->busy ||
            (only_same && !same_source(&client->address, &newcomer->address)))
            continue;
        if (oldest == NULL || client->since_ms < oldest->since_ms)
            oldest = client;
    }
    return oldest;
}

struct api_client *api_client_to_evict(const struct api_client_list *clients,
                                       const struct api_client *newcomer, unsigned per_client_max,
                                       unsigned total, unsigned total_max)
{
    unsigned same = 0;
    const struct api_client *client;
    TAILQ_FOREACH(client, clients, link)
    {
        if (same_source(&client->address, &newcomer->address))
            same++;
    }
    if (same > per_client_max) {
        struct api_client *victim = oldest_idle(clients, newcomer, true);
        return victim != NULL ? victim : (struct api_client *)newcomer;
    }
    if (total > total_max) {
        struct api_client *victim = oldest_idle(clients, newcomer, false);
        return victim != NULL ? victim : (struct api_client *)newcomer;
    }
    return NULL;
}

/* The listeners (TCP and the control socket) pause only when every slot
 * holds a request a handler is working on: then no connection can be
 * evicted, and new clients wait in the kernel's backlog until one is
 * answered. */
static void listener_update(struct api *api)
{
    if (api->stopping)
        return;
    struct evconnlistener *listeners[2] = {
        api->bound != NULL ? evhttp_bound_socket_get_listener(api->bound) : NULL,
        api->control_bound != NULL ? evhttp_bound_socket_get_listener(api->control_bound) : NULL,
    };
    bool full = api->busy >= API_MAX_CONNECTIONS;
    if (full && !api->listener_paused) {
        for (size_t i = 0; i < 2; i++) {
            if (listeners[i] != NULL)
                evconnlistener_disable(listeners[i]);
        }
        api->listener_paused = true;
        /* Loud once; a node at its cap would flap on every close. */
        log_msg(api->cap_reported ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING,
                "api: %u requests in progress, new clients wait until one is answered",
                api->busy);
        api->cap_reported = true;
    } else if (!full && api->listener_paused) {
        for (size_t i = 0; i < 2; i++) {
            if (listeners[i] != NULL)
                evconnlistener_enable(listeners[i]);
        }
        api->listener_paused = false;
    }
}

static void connection_gone(struct api *api)
{
    if (api->connections > 0)
        api->connections--;
    listener_update(api);
}

static void client_busy(struct api_client *client, bool busy)
{
    if (client->busy == busy)
        return;
    client->busy = busy;
    if (busy)
        client->api->busy++;
    else if (client->api->busy > 0)
        client->api->busy--;
}

/* evhttp is closing the connection: forget its client. */
static void on_connection_close(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    struct api_client *client = arg;
    struct api *api = client->api;
    client_busy(client, false);
    TAILQ_REMOVE(&api->clients, client, link);
    event_free(client->deadline);
    free(client);
    connection_gone(api);
}

/* Close a client's connection: on_connection_close frees client. */
static void client_close(struct api_client *client, const char *why)
{
    char text[INET6_ADDRSTRLEN] = "?";
    const struct sockaddr_storage *a = &client->address;
    if (a->ss_family == AF_UNIX)
        snprintf(text, sizeof(text), "the control socket");
    else if (a->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, text, sizeof(text));
    else if (a->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, text, sizeof(text));
    log_debug("api: closing the connection of %s: %s", text, why);
    evhttp_connection_free(client->conn);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    client_close(arg, "no whole request within the deadline");
}

static void deadline_start(struct api_client *client)
{
    static const struct timeval deadline = {.tv_sec = API_REQUEST_DEADLINE_S};
    client->since_ms = monotonic_ms();
    evtimer_add(client->deadline, &deadline);
}

static struct api_client *client_of(struct api *api, struct evhttp_connection *conn)
{
    struct api_client *client;
    TAILQ_FOREACH(client, &api->clients, link)
    {
        if (client->conn == conn)
            return client;
    }
    return NULL;
}

/* Its answer is sent: the connection may carry another request, which
 * has the deadline again, and the client's reads and writes evhttp's
 * timeout again. */
static void on_answer_sent(struct evhttp_request *req, void *arg)
{
    (void)req;
    struct api_client *client = arg;
    client_busy(client, false);
    evhttp_connection_set_timeout(client->conn, API_TIMEOUT_S);
    deadline_start(client);
    listener_update(client->api);
}

/* A whole request arrived: no deadline while a handler has it, and no
 * timeout of evhttp's either: a reload of a large config holds the loop
 * for longer than API_TIMEOUT_S, and the timeout that expired meanwhile
 * would close the connection before the answer went out. */
static void client_request_started(struct api *api, struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct api_client *client = conn != NULL ? client_of(api, conn) : NULL;
    if (client == NULL)
        return;
    evtimer_del(client->deadline);
    evhttp_connection_set_timeout(conn, API_HANDLER_TIMEOUT_S);
    client_busy(client, true);
    evhttp_request_set_on_complete_cb(req, on_answer_sent, client);
    listener_update(api);
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
    return bev;
}

/* A client for the evhttp_connection of bev, with its deadline running;
 * NULL when out of memory (the connection is then closed). */
static struct api_client *client_new(struct api *api, struct bufferevent *bev,
                                     struct evhttp_connection *conn)
{
    struct api_client *client = calloc(1, sizeof(*client));
    if (client == NULL)
        return NULL;
    client->api = api;
    client->conn = conn;
    client->deadline = evtimer_new(api->context.base, on_deadline, client);
    if (client->deadline == NULL) {
        free(client);
        return NULL;
    }
    socklen_t len = sizeof(client->address);
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&client->address, &len) != 0)
        client->address.ss_family = AF_UNSPEC; /* counted with no one else */
    TAILQ_INSERT_TAIL(&api->clients, client, link);
    evhttp_connection_set_closecb(conn, on_connection_close, client);
    deadline_start(client);
    return client;
}

/* By now evhttp has made each new bufferevent part of an evhttp_connection,
 * which it passes as the bufferevent's callback argument (libevent 2.1
 * http.c), or has freed it already (its callbacks are then cleared). Each
 * gets its client, and room is made for it by closing the oldest idle
 * connection of its address, or of all, past the caps. */
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
        struct api_client *client = NULL;
        if (event_cb != NULL && cb_arg != NULL) {
            client = client_new(api, bev, cb_arg);
            if (client == NULL) {
                log_warning("api: out of memory, closing a new connection");
                evhttp_connection_free(cb_arg); /* no close callback set: counted out below */
            }
        }
        bufferevent_decref(bev);
        if (client == NULL) {
            connection_gone(api);
            continue;
        }
        struct api_client *victim = api_client_to_evict(&api->clients, client, API_MAX_PER_CLIENT,
                                                        api->connections, API_MAX_CONNECTIONS);
        if (victim != NULL)
            client_close(victim, victim == client ? "every other connection is busy"
                                                  : "its slot is needed by a newer connection");
    }
    api->adopting_count = 0;
}

/* -- lifecycle ------------------------------------------------------------- */

/* Serve the control socket at path as well: an evhttp listener on a UNIX socket. */
static int control_listen(struct api *api, const char *path, char *err, size_t err_len)
{
    if (control_socket_listen(path, &api->control, err, err_len) < 0)
        return -1;
    api->control_bound = evhttp_accept_socket_with_handle(api->http, api->control.fd);
    if (api->control_bound == NULL) {
        snprintf(err, err_len, "cannot serve the control socket %s", path);
        return -1;
    }
    log_info("control socket %s (mode 0600: nanoctl on this host)", path);
    return 0;
}

struct api *api_start(const struct api_context *context, const char *host, uint16_t port,
                      const char *control_path, char *err, size_t err_len)
{
    struct api *api = calloc(1, sizeof(*api));
    if (api == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    api->context = *context;
    api->control = (struct control_socket){.fd = -1, .dir_fd = -1};
    api->host = strdup(host != NULL ? host : "localhost");
    api->started = (uint64_t)time(NULL);
    TAILQ_INIT(&api->clients);
    api->http = evhttp_new(context->base);
    api->adopt_event = event_new(context->base, -1, 0, on_adopt, api);
    if (api->http == NULL || api->adopt_event == NULL || api->host == NULL ||
        replay_cache_init(&api->replays, REPLAY_CACHE_SLOTS) < 0) {
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

    if (control_path != NULL && control_listen(api, control_path, err, err_len) < 0) {
        api_free(api);
        return NULL;
    }
    if (host == NULL)
        return api;
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
    api_cluster_cancel_all(api);
    api_reload_cancel_all(api);
    for (size_t i = 0; i < api->adopting_count; i++)
        bufferevent_decref(api->adopting[i]);
    api->adopting_count = 0;
    if (api->adopt_event != NULL)
        event_free(api->adopt_event);
    if (api->http != NULL)
        evhttp_free(api->http); /* closes the clients: on_connection_close frees them */
    /* evhttp_free closed the listening socket: only its file is left to remove. */
    if (api->control_bound != NULL)
        api->control.fd = -1;
    control_socket_close(&api->control);
    struct api_client *client;
    while ((client = TAILQ_FIRST(&api->clients)) != NULL) {
        TAILQ_REMOVE(&api->clients, client, link);
        event_free(client->deadline);
        free(client);
    }
    peer_client_free(api->client);
    free(api->adopting);
    free(api->host);
    replay_cache_free(&api->replays);
    free(api);
}
