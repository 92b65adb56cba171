/* The HTTP management API (libevent evhttp): /health, /ready, /metrics,
 * /config/raw, /cluster, POST /reload. Read-only endpoints answer anyone
 * who can reach mgmt_host; endpoints that change anything answer only
 * loopback clients (403 otherwise) until signed requests exist. */
#ifndef NANODNS_API_H
#define NANODNS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct node;
struct api;
struct sockaddr;

/* Listen on host:port on node->base. Returns NULL with a message in err
 * (for example when the port is taken). */
struct api *api_start(struct node *node, const char *host, uint16_t port, char *err,
                      size_t err_len);
/* Stops listening, closes every client (a GET /cluster still waiting for
 * its peers included) and frees api. */
void api_free(struct api *api);

/* Whether a client may use the endpoints that change anything: 127.0.0.0/8,
 * ::1, or 127.0.0.0/8 mapped into IPv6 (RFC 4291 §2.5.5.2). */
bool api_client_is_loopback(const struct sockaddr *address);

#endif
