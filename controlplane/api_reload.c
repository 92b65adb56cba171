/* The API's answers that change something: POST /reload (who may, and
 * the wait for the push that follows) and POST /sync (see api_internal.h). */
#include "api_internal.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#include "config.h"
#include "log.h"
#include "node.h"
#include "sync.h"
#include "sync_identity.h"

/* A POST /reload that reloaded and now waits for its push to the peers
 * (sync_push_wait): answered exactly once, by on_push_done or
 * api_reload_cancel_all. */
struct reload_wait {
    struct api *api;
    struct reload_wait *next;
    struct evhttp_request *req;
    struct json_object *body; /* the answer, without "peers" yet */
};

/* -- POST /reload ---------------------------------------------------------- */

/* The body of a refusal with why in "reason". */
static void refuse(struct evhttp_request *req, int code, const char *status, const char *reason)
{
    api_reply_json(req, code, api_status_object(status, reason));
}

/* Who may: the control socket, unsigned; loopback clients, unsigned for
 * what changes nothing (over TCP any local user, and a web page, can send
 * a request); with this node's sync key, anyone signed by a listed key.
 * A request that carries a signature must carry a good one, from anywhere.
 * Returns true when req may go on; otherwise it has been answered. */
bool api_request_allowed(struct api *api, struct evhttp_request *req, const char *method,
                         const char *path, bool changes)
{
    const struct node *node = api->context.node;
    const struct sync_identity *self =
        api->context.sync != NULL ? sync_identity_of(api->context.sync) : NULL;
    bool has_key = self != NULL && self->has_key;
    struct sockaddr_storage peer;
    char peer_text[INET6_ADDRSTRLEN];
    bool known = api_request_peer(req, &peer, peer_text, sizeof(peer_text));
    const char *who = peer_text[0] != '\0' ? peer_text : "an unknown address";
    bool local = known && peer.ss_family == AF_UNIX;
    bool loopback = known && api_client_is_loopback((const struct sockaddr *)&peer);
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct sync_request_text text = {
        .signer = evhttp_find_header(in, "X-NanoDNS-Signer"),
        .time = evhttp_find_header(in, "X-NanoDNS-Time"),
        .nonce = evhttp_find_header(in, "X-NanoDNS-Nonce"),
        .target = evhttp_find_header(in, "X-NanoDNS-Target"),
        .signature = evhttp_find_header(in, "X-NanoDNS-Signature"),
    };
    bool signed_request = text.signer != NULL || text.time != NULL || text.nonce != NULL ||
                          text.target != NULL || text.signature != NULL;
    char reason[PATH_MAX + 256];

    if (!local && !loopback && !has_key) {
        log_warning("api: %s %s from %s refused: this node has no sync key, so only "
                    "loopback clients may ask",
                    method, path, who);
        snprintf(reason, sizeof(reason), "%s %s is accepted only from loopback", method, path);
        refuse(req, HTTP_FORBIDDEN, "forbidden", reason);
        return false;
    }
    if (signed_request) {
        uint64_t now = (uint64_t)time(NULL);
        struct sync_request_signed seen;
        if (sync_request_check(&node->config.server, has_key ? self->key.public_key : NULL, &text,
                               now, method, path, &seen, reason, sizeof(reason)) < 0) {
            log_warning("api: %s %s from %s refused: %s", method, path, who, reason);
            refuse(req, HTTP_UNAUTHORIZED, "unauthorized", reason);
            return false;
        }
        /* The replay cache starts empty with this process: a request made
         * before it started may have been taken by the one before. */
        if (seen.time < api->started) {
            snprintf(reason, sizeof(reason),
                     "signed before this node started (at %" PRIu64 "); sign a new one",
                     api->started);
            log_warning("api: %s %s from %s refused: %s", method, path, who, reason);
            refuse(req, HTTP_UNAUTHORIZED, "unauthorized", reason);
            return false;
        }
        /* Issue 12, finding 3: each signed request once. */
        switch (replay_cache_admit(&api->replays, seen.signer, seen.nonce, seen.time, now)) {
        case REPLAY_NEW:
            return true;
        case REPLAY_SEEN:
            log_warning("api: %s %s from %s refused: a replay (its nonce was used already)", method,
                        path, who);
            refuse(req, HTTP_CONFLICT, "replayed",
                   "this signed request was accepted before; sign a new one");
            return false;
        case REPLAY_FULL:
            log_warning("api: %s %s from %s refused: %zu signed requests within %d s fill the "
                        "replay cache",
                        method, path, who, api->replays.capacity, ENVELOPE_REQUEST_WINDOW_S);
            evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "60");
            refuse(req, HTTP_SERVUNAVAIL, "busy",
                   "too many signed requests within the time window; try again later");
            return false;
        }
        return false;
    }
    if (local)
        return true;
    if (!loopback) {
        log_warning("api: %s %s from %s refused: it is not signed", method, path, who);
        snprintf(reason, sizeof(reason), "%s %s from another host must be signed by a listed key",
                 method, path);
        refuse(req, HTTP_FORBIDDEN, "forbidden", reason);
        return false;
    }
    if (changes) {
        char control_path[PATH_MAX];
        if (control_socket_path(node->state_dir, control_path, sizeof(control_path)) < 0)
            snprintf(control_path, sizeof(control_path), "STATE_DIR/%s", CONTROL_SOCKET_NAME);
        log_warning("api: %s %s from %s refused: unsigned, over TCP", method, path, who);
        snprintf(reason, sizeof(reason),
                 "an unsigned %s %s is taken only on the control socket (nanoctl %s, or curl "
                 "--unix-socket %s); over TCP it must be signed by a listed key",
                 method, path, path + 1, control_path);
        refuse(req, HTTP_FORBIDDEN, "forbidden", reason);
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
    api_reply_json(wait->req, HTTP_OK, wait->body);
    free(wait);
}

void api_handle_reload(struct api *api, struct evhttp_request *req)
{
    if (!api_request_allowed(api, req, "POST", "/reload", true))
        return;

    struct node_reload_result result = {0};
    int rc = node_reload(api->context.node, &result);
    struct json_object *body;
    int code;
    if (rc == 0 && result.ok && result.unchanged) {
        /* Nothing was published, so nothing was pushed: no peers to wait
         * for (a round still out for this version is an earlier reload's). */
        code = HTTP_OK;
        body = api_status_object("unchanged", NULL);
        if (body != NULL) {
            json_object_object_add(body, "version", json_object_new_uint64(result.version));
            json_object_object_add(body, "records", json_object_new_uint64(result.records));
        }
    } else if (rc == 0 && result.ok) {
        code = HTTP_OK;
        body = api_status_object("reloaded", NULL);
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
            if (api->context.sync != NULL &&
                sync_push_wait(api->context.sync, result.version, on_push_done, wait) == 0) {
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
        body = api_status_object("invalid", NULL);
        struct json_object *errors = json_object_new_array();
        for (size_t i = 0; errors != NULL && i < result.error_count; i++)
            json_object_array_add(errors, json_object_new_string(result.errors[i]));
        if (body != NULL && errors != NULL)
            json_object_object_add(body, "errors", errors);
        else
            json_object_put(errors);
    }
    node_reload_result_free(&result);
    api_reply_json(req, code, body);
}

/* -- POST /sync ------------------------------------------------------------ */

/* A peer's signed push (sync_receive.c judges and applies it). Open to any
 * address: only the signature of a listed key gets anything changed. */
void api_handle_sync(struct api *api, struct evhttp_request *req)
{
    struct sync *sync = api->context.sync;
    if (sync == NULL) {
        refuse(req, HTTP_SERVUNAVAIL, "unavailable", "sync is not running");
        return;
    }
    struct sockaddr_storage peer;
    char peer_text[INET6_ADDRSTRLEN];
    if (!api_request_peer(req, &peer, peer_text, sizeof(peer_text)) || peer_text[0] == '\0')
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
    api_reply_json(req, code, answer);
}

/* -- stopping -------------------------------------------------------------- */

void api_reload_cancel_all(struct api *api)
{
    /* A reload that waits for its push did reload: say so, without the
     * peers' answers. */
    while (api->reloads != NULL) {
        struct reload_wait *wait = api->reloads;
        api->reloads = wait->next;
        if (api->context.sync != NULL)
            sync_push_unwait(api->context.sync, wait);
        if (wait->body != NULL)
            json_object_object_add(wait->body, "peers", json_object_new_object());
        api_reply_json(wait->req, HTTP_OK, wait->body);
        free(wait);
    }
}
