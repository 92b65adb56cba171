/* nanoctl's HTTP client: one blocking HTTP/1.0 request to a node's API, one deadline for it all.
 * The answer's body is malloc'd and the caller's (http_response_free). */
#ifndef NANOCTL_HTTP_CLIENT_H
#define NANOCTL_HTTP_CLIENT_H

#include <stddef.h>

/* Bodies larger than this are refused: the API's answers are a few KiB. */
#define HTTP_RESPONSE_MAX (16u * 1024 * 1024)

struct http_response {
    int status; /* 200, 422, 503, ... */
    char *body; /* NUL-terminated copy of the body (body_len octets before the NUL) */
    size_t body_len;
};

/* METHOD PATH (no request body) to host:port, or over the UNIX socket at
 * socket_path when it is not NULL or "" (the node's control socket; Host
 * is then localhost), answered within timeout_ms.
 * host is a name or an address literal without brackets. headers, when not
 * NULL, are more header lines to send, each ending in "\r\n" (a request
 * signature, say). Returns 0 when an
 * HTTP answer came, whatever its status; -1 when none did (no address,
 * connection refused, timed out, closed early, not HTTP), with the reason
 * in err. */
int http_request(const char *socket_path, const char *host, const char *port, const char *method,
                 const char *path, const char *headers, int timeout_ms, struct http_response *out,
                 char *err, size_t err_len);

void http_response_free(struct http_response *response);

#endif
