/* Requests from this node to its peers' management APIs (evhttp client), each bounded in time.
 * A request belongs to whoever started it; everything runs on the node's one event loop. */
#ifndef NANODNS_PEER_CLIENT_H
#define NANODNS_PEER_CLIENT_H

/* One connection per request, a bounded time for each, the answer copied
 * out. Used by GET /cluster (api_cluster.c) and by the push and pull of the
 * cluster sync (sync_push.c, sync_pull.c).
 *
 * Ownership: a request belongs to whoever started it, who frees it with
 * peer_request_free, from its done callback or later. The done callback
 * runs exactly once, never inside libevent's own callbacks (libevent 2.1
 * still uses a connection after its request callback returns, so it must
 * not be freed there), and never from inside peer_request_start. */

#include <stdbool.h>
#include <stddef.h>

#include <event2/http.h>

#define PEER_TIMEOUT_S 2 /* connect, send, and each wait for the answer */
/* A request gives up by then, whatever it is doing (name resolution is not
 * covered by the connection's timeout). */
#define PEER_DEADLINE_MS (PEER_TIMEOUT_S * 1000 + 500)
#define PEER_MAX_HEADERS_SIZE (16 * 1024)

struct event_base;
struct peer_client;
struct peer_request;

/* What came back. */
struct peer_answer {
    bool answered; /* an HTTP answer came; false: the peer is unreachable, error says why */
    int code;      /* its status code */
    char *body;    /* its body, NUL-terminated (the NUL not counted); never NULL when answered */
    size_t body_len;
    char error[96]; /* "timed out", "connection refused"... when !answered */
};

typedef void (*peer_request_done_cb)(struct peer_request *request, void *arg);

struct peer_client *peer_client_new(struct event_base *base);
/* Every request it started must be freed first. */
void peer_client_free(struct peer_client *client);

/* Send method path to address ("host:port" or "[v6]:port") with body
 * (JSON; NULL for none). An answer body larger than max_answer counts as
 * no answer. done runs once it is known. Returns NULL only when memory
 * runs out (done will not run). */
struct peer_request *peer_request_start(struct peer_client *client, const char *address,
                                        enum evhttp_cmd_type method, const char *path,
                                        const char *body, size_t body_len, size_t max_answer,
                                        peer_request_done_cb done, void *arg);

/* The same with extra request headers: name, value, name, value..., NULL
 * (copied). */
struct peer_request *peer_request_start_with_headers(struct peer_client *client,
                                                     const char *address,
                                                     enum evhttp_cmd_type method, const char *path,
                                                     const char *const *extra, const char *body,
                                                     size_t body_len, size_t max_answer,
                                                     peer_request_done_cb done, void *arg);

const struct peer_answer *peer_request_answer(const struct peer_request *request);
/* A header of the answer (case-insensitive name), or NULL. */
const char *peer_request_header(const struct peer_request *request, const char *name);
const char *peer_request_address(const struct peer_request *request);

/* Cancels it when it is still under way (done then never runs). */
void peer_request_free(struct peer_request *request);

#endif
