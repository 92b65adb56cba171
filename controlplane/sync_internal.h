/* What the running sync's files share (sync_run.c, sync_receive.c, sync_push.c, sync_pull.c).
 * Private to them; everything here is touched only from the node's one event loop. */
#ifndef NANODNS_SYNC_INTERNAL_H
#define NANODNS_SYNC_INTERNAL_H

/* Lifetimes: a push round lives from the reload that started it until its
 * last peer has answered (or timed out) and its waiters are told; a pull
 * lives from its timer until the config it fetched is applied or refused.
 * Both own their peer requests and are freed from those requests' done
 * callbacks (which peer_client.c runs outside evhttp's own). sync_free
 * frees whatever is still under way. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/util.h>

#include "sync.h"
#include "sync_identity.h"

struct config_server;
struct event;
struct json_object;
struct node;
struct node_reload_result;
struct peer_client;
struct push_round;
struct pull;

/* Status codes of the answers to a push. */
#define SYNC_HTTP_OK 200
#define SYNC_HTTP_BAD_REQUEST 400
#define SYNC_HTTP_UNAUTHORIZED 401
#define SYNC_HTTP_CONFLICT 409
#define SYNC_HTTP_UNPROCESSABLE 422
#define SYNC_HTTP_INTERNAL 500

/* What we know of one peer, kept across reloads by address. */
struct peer_state {
    char *address;
    unsigned failures; /* in a row */
    time_t retry_at;   /* monotonic seconds: not pulled from before */
    time_t last_sync;  /* unix time of the last good exchange, 0 when none */
    /* Its node-local settings against ours (bit i: SYNC_LOCAL_KEYS[i]
     * differs), as its last push or pulled config said; known once seen. */
    uint32_t local_differences;
    bool local_known;
    /* Its config of our version said what ours says but for node-local
     * settings: its hash and ours then (sync_peer_same_config). */
    bool shares;
    uint8_t shares_theirs[ENVELOPE_HASH_SIZE], shares_ours[ENVELOPE_HASH_SIZE];
};

/* Peer address's config with hash theirs is ours but for node-local
 * settings: remember it, so that it is neither fetched again nor shown as
 * disagreeing. */
void sync_peer_shares(struct sync *sync, const char *address,
                      const uint8_t theirs[ENVELOPE_HASH_SIZE]);

/* The config peer address sent (its own, pushed or pulled): note where
 * its node-local settings differ from ours, for GET /cluster. */
void sync_peer_local_seen(struct sync *sync, const char *address, const char *config, size_t len);

struct sync {
    struct node *node;
    struct event_base *base;
    struct peer_client *client;
    struct sync_identity identity;
    struct event *pull_timer;
    struct peer_state *peers; /* follows server.peers (sync_peers_follow) */
    size_t peer_count;
    struct push_round *rounds; /* under way */
    struct pull *pull;         /* under way, or NULL */
};

/* ---- the peer table (sync_run.c) ---- */

/* The table follows server.peers (a reload or a peer's config may change
 * it), keeping what it knew of the addresses that stay. */
void sync_peers_follow(struct sync *sync);
/* The exchange with address went well: its failures are forgotten. */
void sync_peer_succeeded(struct sync *sync, const char *address);
/* A pull from address failed (it did not answer) or was refused (what it
 * answered does not hold): skip it 30 s x 2^k (k failures before), at most
 * 5 min. */
void sync_peer_failed(struct sync *sync, const char *address, bool refused, const char *what);
/* Whether to pull from the peer now. */
bool sync_peer_due(const struct peer_state *st);
/* The listed address of signer, for the log; "an unknown signer" else. */
const char *sync_signer_address(const struct config_server *server,
                                const uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE]);
/* {"status": status}, or NULL out of memory. */
struct json_object *sync_answer_status(const char *status);

/* ---- a peer's config (sync_apply.c) ---- */

/* Put in force a config a peer sent or we pulled, already authenticated
 * and judged to win over ours: validate bytes (their
 * server.config_version must be version), write them over the operator's
 * file atomically as they are (no version bump: the version is inside),
 * publish, tell the data plane. The hot-reload poll does not take this
 * write for a local change, and nothing is pushed. Returns 0; -1 when
 * bytes do not validate (out->errors says why), and nothing changes; -2
 * when they could not be published (the operator's file may hold them
 * already, as after a reload that fails the same way). Free out with
 * node_reload_result_free. */
int sync_apply(struct node *node, const char *bytes, size_t len, uint64_t version,
               struct node_reload_result *out);

/* ---- push (sync_push.c) and pull (sync_pull.c) ---- */

void sync_push_rounds_free(struct sync *sync);
/* The pull timer's callback: pull now, and again in 30 s. */
void sync_pull_on_timer(evutil_socket_t fd, short what, void *arg);
void sync_pull_timer_set(struct sync *sync, long seconds);
/* A peer says it is ahead: pull in a second rather than at the next turn. */
void sync_pull_soon(struct sync *sync);
void sync_pull_free(struct pull *pull);

#endif
