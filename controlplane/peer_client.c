/* Requests to the peers' management APIs (see peer_client.h). Each request
 * owns its connection and one event: the event fires at the deadline, or
 * is made active once evhttp has given the answer, so the owner's callback
 * (and any free it does) runs outside evhttp's callbacks. */
#include "peer_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>

#include "hostport.h"
#include "log.h"

struct peer_client {
    struct event_base *base;
    struct evdns_base *dns; /* resolves peer names without blocking; made on first use */
    size_t requests;        /* started and not freed yet */
};

struct peer_request {
    struct peer_client *client;
    char *address;
    /* Ours until peer_request_free; never freed inside an evhttp callback. */
    struct evhttp_connection *conn;
    struct event *wake;
    bool done;     /* the answer (or its absence) is known */
    bool reported; /* done ran */
    struct peer_answer answer;
    struct evkeyvalq headers; /* the answer's, copied */
    peer_request_done_cb on_done;
    void *arg;
};

struct peer_client *peer_client_new(struct event_base *base)
{
    struct peer_client *client = calloc(1, sizeof(*client));
    if (client != NULL)
        client->base = base;
    return client;
}

void peer_client_free(struct peer_client *client)
{
    if (client == NULL)
        return;
    if (client->requests != 0)
        log_error("internal error: %zu peer requests outlive their client", client->requests);
    if (client->dns != NULL)
        evdns_base_free(client->dns, 0);
    free(client);
}

/* The answer (or its absence) is known: wake the owner from the loop. */
static void request_settle(struct peer_request *r)
{
    if (r->done)
        return;
    r->done = true;
    event_active(r->wake, EV_TIMEOUT, 0);
}

static void request_fail(struct peer_request *r, const char *error)
{
    if (r->done)
        return;
    r->answer.answered = false;
    if (r->answer.error[0] == '\0' || error != NULL)
        snprintf(r->answer.error, sizeof(r->answer.error), "%s", error ? error : "cannot connect");
    request_settle(r);
}

static void on_error(enum evhttp_request_error error, void *arg)
{
    struct peer_request *r = arg;
    const char *what = "no answer";
    switch (error) {
    case EVREQ_HTTP_TIMEOUT:
        what = "timed out";
        break;
    case EVREQ_HTTP_EOF:
        what = "connection closed";
        break;
    case EVREQ_HTTP_INVALID_HEADER:
        what = "invalid HTTP answer";
        break;
    case EVREQ_HTTP_BUFFER_ERROR:
        what = "connection failed";
        break;
    case EVREQ_HTTP_REQUEST_CANCEL:
        what = "cancelled";
        break;
    case EVREQ_HTTP_DATA_TOO_LONG:
        what = "answer too long";
        break;
    }
    if (!r->done)
        snprintf(r->answer.error, sizeof(r->answer.error), "%s", what);
}

/* evhttp's completion callback: with the answer, or with NULL or a code
 * of 0 when there was none. Copies what is needed; frees nothing. */
static void on_response(struct evhttp_request *res, void *arg)
{
    struct peer_request *r = arg;
    if (r->done)
        return;
    if (res == NULL || evhttp_request_get_response_code(res) == 0) {
        request_fail(r, NULL);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(res);
    size_t len = in != NULL ? evbuffer_get_length(in) : 0;
    char *body = malloc(len + 1);
    if (body == NULL) {
        request_fail(r, "out of memory");
        return;
    }
    if (len > 0 && evbuffer_copyout(in, body, len) != (ev_ssize_t)len) {
        free(body);
        request_fail(r, "cannot read the answer");
        return;
    }
    body[len] = '\0';
    struct evkeyvalq *headers = evhttp_request_get_input_headers(res);
    struct evkeyval *h;
    TAILQ_FOREACH(h, headers, next)
    {
        if (evhttp_add_header(&r->headers, h->key, h->value) != 0)
            break; /* a header value evhttp refuses: not one of ours */
    }
    r->answer.answered = true;
    r->answer.code = evhttp_request_get_response_code(res);
    r->answer.body = body;
    r->answer.body_len = len;
    r->answer.error[0] = '\0';
    request_settle(r);
}

/* The deadline, or the answer is known: tell the owner. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct peer_request *r = arg;
    if (r->reported)
        return;
    if (!r->done) {
        r->done = true; /* a late evhttp callback changes nothing */
        r->answer.answered = false;
        snprintf(r->answer.error, sizeof(r->answer.error), "timed out");
    }
    r->reported = true;
    r->on_done(r, r->arg); /* may free r */
}

struct peer_request *peer_request_start(struct peer_client *client, const char *address,
                                        enum evhttp_cmd_type method, const char *path,
                                        const char *body, size_t body_len, size_t max_answer,
                                        peer_request_done_cb done, void *arg)
{
    return peer_request_start_with_headers(client, address, method, path, NULL, body, body_len,
                                           max_answer, done, arg);
}

struct peer_request *peer_request_start_with_headers(struct peer_client *client,
                                                     const char *address,
                                                     enum evhttp_cmd_type method, const char *path,
                                                     const char *const *extra, const char *body,
                                                     size_t body_len, size_t max_answer,
                                                     peer_request_done_cb done, void *arg)
{
    struct peer_request *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    TAILQ_INIT(&r->headers);
    r->client = client;
    r->on_done = done;
    r->arg = arg;
    r->address = strdup(address);
    r->wake = event_new(client->base, -1, 0, on_wake, r);
    struct timeval deadline = {PEER_DEADLINE_MS / 1000, (PEER_DEADLINE_MS % 1000) * 1000};
    if (r->address == NULL || r->wake == NULL || event_add(r->wake, &deadline) != 0) {
        if (r->wake != NULL)
            event_free(r->wake);
        free(r->address);
        free(r);
        return NULL;
    }
    client->requests++;

    struct hostport target;
    if (hostport_parse(address, strlen(address), HOSTPORT_NAME, &target) != 0) {
        request_fail(r, "not host:port");
        return r;
    }
    if (client->dns == NULL) {
        client->dns = evdns_base_new(client->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        if (client->dns == NULL)
            log_warning("no DNS resolver for peer names; numeric peers still work");
    }
    struct evhttp_connection *conn =
        evhttp_connection_base_new(client->base, client->dns, target.host, target.port);
    struct evhttp_request *req = conn != NULL ? evhttp_request_new(on_response, r) : NULL;
    if (req == NULL) {
        if (conn != NULL)
            evhttp_connection_free(conn);
        request_fail(r, "out of memory");
        return r;
    }
    evhttp_connection_set_timeout(conn, PEER_TIMEOUT_S);
    evhttp_connection_set_retries(conn, 0);
    evhttp_connection_set_max_body_size(conn, (ev_ssize_t)max_answer);
    evhttp_connection_set_max_headers_size(conn, PEER_MAX_HEADERS_SIZE);
    evhttp_request_set_error_cb(req, on_error);
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    char host_header[HOSTPORT_TEXT_MAX];
    hostport_format(target.host, target.port, host_header, sizeof(host_header));
    evhttp_add_header(headers, "Host", host_header);
    evhttp_add_header(headers, "Accept", "application/json");
    evhttp_add_header(headers, "Connection", "close"); /* one request per connection */
    for (size_t i = 0; extra != NULL && extra[i] != NULL && extra[i + 1] != NULL; i += 2)
        evhttp_add_header(headers, extra[i], extra[i + 1]);
    if (body != NULL) {
        evhttp_add_header(headers, "Content-Type", "application/json");
        if (evbuffer_add(evhttp_request_get_output_buffer(req), body, body_len) != 0) {
            evhttp_request_free(req);
            evhttp_connection_free(conn);
            request_fail(r, "out of memory");
            return r;
        }
    }
    r->conn = conn;
    /* req is conn's from here, freed by libevent even when this fails. */
    if (evhttp_make_request(conn, req, method, path) != 0)
        request_fail(r, "cannot connect");
    return r;
}

const struct peer_answer *peer_request_answer(const struct peer_request *request)
{
    return &request->answer;
}

const char *peer_request_header(const struct peer_request *request, const char *name)
{
    /* evhttp_find_header takes a non-const list; it only reads it. */
    return evhttp_find_header((struct evkeyvalq *)&request->headers, name);
}

const char *peer_request_address(const struct peer_request *request)
{
    return request->address;
}

void peer_request_free(struct peer_request *request)
{
    if (request == NULL)
        return;
    request->done = true; /* a callback during the free below changes nothing */
    request->reported = true;
    if (request->conn != NULL)
        evhttp_connection_free(request->conn); /* frees a request still under way, silently */
    event_free(request->wake);
    evhttp_clear_headers(&request->headers);
    free(request->answer.body);
    free(request->address);
    request->client->requests--;
    free(request);
}
