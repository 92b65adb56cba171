/* Signed config sync between the nodes of a cluster (DESIGN.md "Cluster sync").
 * Judging is pure, over caller-owned buffers; the running sync lives on the node's event loop. */
#ifndef NANODNS_SYNC_H
#define NANODNS_SYNC_H

/* How a POST /sync is judged is sync.c (unit-tested). The running sync:
 * the answer to a push (sync_receive.c), the push to every peer after a
 * local reload (sync_push.c), the pull 10 s after start and every 30 s
 * after (sync_pull.c), a peer's config put in force (sync_apply.c), this
 * node's key and place among the peers (sync_identity.c), and the state
 * they share (sync_run.c). One struct sync lives beside the node in
 * start_run; no peer, slow or dead, ever blocks the loop, the API or DNS. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "envelope.h"

struct config_server;
struct event_base;
struct json_object;
struct node;
struct sync;
struct sync_identity;

/* What a POST /sync comes to, in the order the checks are made. */
enum sync_status {
    SYNC_BAD_REQUEST,       /* 400: the body is not an envelope */
    SYNC_UNAUTHORIZED,      /* 401: not signed by a listed peer, or not what it says */
    SYNC_REJECTED_STALE,    /* 409: older than ours (anti-rollback) */
    SYNC_REJECTED_TOO_FAR,  /* 409: more than SYNC_VERSION_STEP_MAX above ours */
    SYNC_ALREADY_CURRENT,   /* 200: ours already */
    SYNC_REJECTED_CONFLICT, /* 409: same version, other config, and ours wins */
    SYNC_APPLY,             /* newer, or the same version and it wins: validate and apply */
};

/* A POST /sync body, decoded. config is malloc'd (NUL-terminated, the NUL
 * not counted) and owned by the envelope. */
struct sync_envelope {
    uint64_t version;
    uint8_t hash[ENVELOPE_HASH_SIZE];
    uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE];
    uint8_t signature[ENVELOPE_SIGNATURE_SIZE];
    char *config;
    size_t config_len;
};

/* {"version": N, "hash": "<hex SHA-256>", "signer": "<base64>",
 *  "signature": "<base64>", "config": "<base64>"}: 0, or -1 with why in
 * reason (nothing to free then). */
int sync_envelope_parse(const char *body, size_t len, struct sync_envelope *env, char *reason,
                        size_t reason_len);
void sync_envelope_free(struct sync_envelope *env);

/* The JSON body of a push of config at version with signature, the
 * signer's (envelope_sign_config), as sync_envelope_parse reads it (malloc'd,
 * NUL-terminated, its length in *out_len), or NULL when memory runs out. */
char *sync_envelope_format(const uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE], uint64_t version,
                           const uint8_t signature[ENVELOPE_SIGNATURE_SIZE], const char *config,
                           size_t config_len, size_t *out_len);

/* The index in server->peers of the peer listed with public key key, or
 * -1 (plain "host:port" peers have no key and are never found). */
long sync_member_find(const struct config_server *server,
                      const uint8_t key[ENVELOPE_PUBLIC_KEY_SIZE]);

/* Step 2: signed by a listed peer, the signature good for exactly these
 * version and bytes, and the hash theirs. false with why in reason. */
bool sync_envelope_authentic(const struct config_server *server, const struct sync_envelope *env,
                             char *reason, size_t reason_len);

/* The furthest a push or pull may move our version in one step (2^20: a
 * million reloads). A signed version near 2^63 would otherwise leave no
 * room for any later change, on every node, for good. */
#define SYNC_VERSION_STEP_MAX (UINT64_C(1) << 20)

/* Steps 3 to 5: theirs against ours. SYNC_APPLY means theirs wins. */
enum sync_status sync_compare(uint64_t our_version, const uint8_t our_hash[ENVELOPE_HASH_SIZE],
                              uint64_t their_version, const uint8_t their_hash[ENVELOPE_HASH_SIZE]);

/* Steps 3 to 5 against the node's version floor (version_floor.h: the
 * highest version it accepted and that config's hash, kept across
 * restarts) rather than against what it serves, which is the same config
 * but after a start below the floor or on another config of its version
 * (serving: the hash of the config served). Then sync_compare(floor),
 * except at the floor's version while serving another config: the
 * accepted config itself is taken back (SYNC_APPLY: no rollback, and the
 * node serves the cluster's config again), any other is refused as a
 * fork (SYNC_REJECTED_CONFLICT): without the accepted config's bytes the
 * node cannot tell the winner of a same-version race from a config that
 * lost it, so only a higher version moves it. */
enum sync_status sync_compare_floor(uint64_t floor_version,
                                    const uint8_t floor_hash[ENVELOPE_HASH_SIZE],
                                    const uint8_t serving[ENVELOPE_HASH_SIZE],
                                    uint64_t their_version,
                                    const uint8_t their_hash[ENVELOPE_HASH_SIZE]);

/* Steps 1 to 5 of a POST /sync against our config (server: our peers;
 * our_version, our_hash: the version floor; serving: the hash of the
 * config we serve, as sync_compare_floor). env is filled (free it with
 * sync_envelope_free) unless SYNC_BAD_REQUEST; reason says why for
 * SYNC_BAD_REQUEST and SYNC_UNAUTHORIZED. */
enum sync_status sync_judge(const struct config_server *server, uint64_t our_version,
                            const uint8_t our_hash[ENVELOPE_HASH_SIZE],
                            const uint8_t serving[ENVELOPE_HASH_SIZE], const char *body, size_t len,
                            struct sync_envelope *env, char *reason, size_t reason_len);

/* A signed request's headers as given (NULL: absent): X-NanoDNS-Signer,
 * -Time, -Nonce, -Target and -Signature. */
struct sync_request_text {
    const char *signer, *time, *nonce, *target, *signature;
};
/* What a signed request that checked out says: the replay cache's key. */
struct sync_request_signed {
    uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE];
    uint8_t nonce[ENVELOPE_NONCE_SIZE];
    uint64_t time;
};

/* A signed request (POST /reload, GET /config/raw). 0 when the signer is a
 * listed peer, the target is self (this node's public key; NULL: it has
 * none, and no request is for it) and the signature is good for method and
 * path at that time, within ENVELOPE_REQUEST_WINDOW_S of now; out is then
 * filled. -1 with why in reason. Whether the nonce is new is the caller's
 * question (replay_cache.h). */
int sync_request_check(const struct config_server *server,
                       const uint8_t self[ENVELOPE_PUBLIC_KEY_SIZE],
                       const struct sync_request_text *in, uint64_t now, const char *method,
                       const char *path, struct sync_request_signed *out, char *reason,
                       size_t reason_len);

/* The headers of a request signed with key for the node whose public key
 * is target, made now, with a fresh nonce: as sync_request_check reads
 * them. */
struct sync_request_headers {
    char signer[ENVELOPE_PUBLIC_KEY_TEXT];
    char time[24];
    char nonce[ENVELOPE_NONCE_TEXT];
    char target[ENVELOPE_PUBLIC_KEY_TEXT];
    char signature[ENVELOPE_SIGNATURE_TEXT];
};
void sync_request_sign(const struct envelope_key *key,
                       const uint8_t target[ENVELOPE_PUBLIC_KEY_SIZE], uint64_t now,
                       const char *method, const char *path, struct sync_request_headers *out);

/* "applied", "rejected_stale"... as the answers say it. */
const char *sync_status_name(enum sync_status status);

/* Lowercase hex of a hash (65 octets with the NUL), and back (-1 when
 * text is not 64 hex digits). */
void sync_hash_hex(const uint8_t hash[ENVELOPE_HASH_SIZE], char text[2 * ENVELOPE_HASH_SIZE + 1]);
int sync_hash_parse(const char *text, uint8_t hash[ENVELOPE_HASH_SIZE]);

/* ---- node-local settings (sync_local.c) ---- */

/* The members of "server" a peer's config never changes on this node:
 * who is trusted and how the node runs (README "Cluster sync"). */
extern const char *const SYNC_LOCAL_KEYS[];
extern const size_t SYNC_LOCAL_KEY_COUNT;

/* theirs (a peer's config) with every node-local member of "server" as
 * ours has it: replaced by our value, removed where ours has none, added
 * where theirs has none; the rest of theirs as it is written. Both must
 * be JSON objects. 0 with a NUL-terminated malloc'd *out, or -1. */
int sync_local_keep(const char *theirs, size_t theirs_len, const char *ours, size_t ours_len,
                    char **out, size_t *out_len);

/* What a config says leaving out its node-local settings, its layout and
 * config_version (config_digest over the rest): equal on two nodes that
 * serve the same version of the cluster's config. -1 when not JSON. */
#define SYNC_SHARED_DIGEST_SIZE 32
int sync_shared_digest(const char *text, size_t len, uint8_t out[SYNC_SHARED_DIGEST_SIZE]);
bool sync_same_shared(const char *a, size_t a_len, const char *b, size_t b_len);

/* Which node-local settings theirs and ours set differently (bit i:
 * SYNC_LOCAL_KEYS[i]; absent on both is the same). All bits when either
 * is not a JSON object. */
uint32_t sync_local_differences(const char *theirs, size_t theirs_len, const char *ours,
                                size_t ours_len);

/* ---- the running sync ---- */

/* Start for node on base: read this node's identity and set the pull
 * timer (first pull after 10 s, then every 30 s). NULL when memory runs
 * out. */
struct sync *sync_start(struct node *node, struct event_base *base);
/* Cancels whatever is under way. Call after api_free (which lets go of
 * every push it waits for) and before node_free. */
void sync_free(struct sync *sync);

/* The node's events.config_changed: the config in force changed (or its
 * key file may have): read this node's identity again. */
void sync_config_changed(struct sync *sync);

/* The node's events.reloaded: a local reload put a new config in force;
 * push it to every peer but this node (nothing without a key). */
void sync_push_config(struct sync *sync);

/* This node's key, entry in server.peers and signature of the config in
 * force (sync_identity.h), as last read. */
const struct sync_identity *sync_identity_of(const struct sync *sync);

/* POST /sync with body from remote (its address, for the log): the status
 * code and the JSON answer (*answer: the caller puts it). */
int sync_receive(struct sync *sync, const char *body, size_t len, const char *remote,
                 struct json_object **answer);

/* The push of version started by the local reload that just ended: done
 * runs once each peer has answered or timed out, with the "peers" object
 * of the POST /reload answer (taken over by done). Returns 0 when done
 * will run; -1 when there is no push of that version under way (no key,
 * no peer), and the caller answers with no peers. Never calls done from
 * inside this call. */
typedef void (*sync_push_done_cb)(void *arg, struct json_object *peers);
int sync_push_wait(struct sync *sync, uint64_t version, sync_push_done_cb done, void *arg);
/* done will not run for arg (its client is gone, or the API is stopping). */
void sync_push_unwait(struct sync *sync, void *arg);

/* What sync knows of the peer at address, for GET /cluster: the unix time
 * of the last successful push to it or pull from it (or the last push it
 * made to us that we accepted), 0 when none. */
time_t sync_peer_last_sync(const struct sync *sync, const char *address);

/* Where the peer at address sets node-local settings otherwise than we do
 * (sync_local_differences), as its last push or pulled config said;
 * *known false when none was seen yet. */
uint32_t sync_peer_local_differences(const struct sync *sync, const char *address, bool *known);

/* Whether the peer at address, saying hash theirs, serves the config we
 * serve: the same bytes, or the same version with other node-local
 * settings as seen when it last sent that config. */
bool sync_peer_same_config(const struct sync *sync, const char *address,
                           const uint8_t theirs[ENVELOPE_HASH_SIZE]);

#endif
