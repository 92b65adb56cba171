/* The HTTP management API (evhttp): /health, /ready, /metrics, /config/raw, /cluster, /reload,
 * /sync. On the daemon's event loop; it borrows the node, the sync and the data-plane link. */
#ifndef NANODNS_API_H
#define NANODNS_API_H

/* Served on mgmt_host:mgmt_port and on the control socket in the state
 * directory (control_socket.h, mode 0600). /health, /ready, /metrics and
 * /cluster answer anyone who can reach them. GET /config/raw answers the
 * control socket and loopback; POST /reload the control socket, unsigned.
 * Over TCP both also answer, on a node with a sync key, requests signed by
 * a listed key for this node, each once (403 unsigned, 401 badly signed or
 * for another node, 409 replayed): an unsigned change over TCP is refused
 * even from loopback, where any local user or a web page could send it.
 * POST /sync answers anyone, and changes something only for a push signed
 * by a listed key (sync.c). Requests from web pages (Origin,
 * Sec-Fetch-Site, a Host naming another host) are refused everywhere. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dataplane_link;
struct event_base;
struct node;
struct sockaddr;
struct sync;
struct api;

/* What the API reports on and acts through. */
struct api_context {
    struct event_base *base;
    struct node *node;
    struct sync *sync;           /* NULL: POST /sync answers 503 */
    struct dataplane_link *link; /* the data plane's stats */
};

/* Listen on host:port (host NULL: no TCP) and on the control socket at
 * control_path (NULL: none). Returns NULL with a message in err (for
 * example when the port is taken). */
struct api *api_start(const struct api_context *context, const char *host, uint16_t port,
                      const char *control_path, char *err, size_t err_len);
/* Stops listening, closes every client (a GET /cluster still waiting for
 * its peers and a POST /reload waiting for its push included) and frees
 * api. Before sync_free. */
void api_free(struct api *api);

/* Whether a client may use the endpoints that change anything: 127.0.0.0/8,
 * ::1, or 127.0.0.0/8 mapped into IPv6 (RFC 4291 §2.5.5.2). */
bool api_client_is_loopback(const struct sockaddr *address);

#endif
