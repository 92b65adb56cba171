/* This node's identity in the cluster sync: its key, its own entry in server.peers, its signature.
 * One lives in struct sync, read again with every config put in force; one event loop thread. */
#ifndef NANODNS_SYNC_IDENTITY_H
#define NANODNS_SYNC_IDENTITY_H

/* Nodes normally run the same file; a node recognises its own entry in
 * server.peers by its public key (DESIGN.md "Cluster sync"). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

struct config_server;

struct sync_identity {
    /* false: no server.sync_key, or it cannot be read; the node then signs
     * nothing and pushes nothing. */
    bool has_key;
    struct envelope_key key;
    long self_peer; /* the index in server.peers listing key's public key; -1 when none */
    /* key's signature of the config in force at its version: what
     * /config/raw and a push carry. */
    uint8_t config_signature[ENVELOPE_SIGNATURE_SIZE];
    char *key_error; /* why sync_key could not be read, as last reported (reported once) */
};

void sync_identity_init(struct sync_identity *identity);
/* Wipes the secret key. */
void sync_identity_free(struct sync_identity *identity);

/* Read the key server->sync_key names (a change or a failure is logged
 * once), find this node among server->peers, and sign config (the bytes in
 * force) at version. */
void sync_identity_refresh(struct sync_identity *identity, const struct config_server *server,
                           uint64_t version, const char *config, size_t config_len);

/* Where this node is reached: its own entry in server->peers, else
 * mgmt_host:mgmt_port (identity may be NULL: no entry). */
void sync_identity_self_address(const struct sync_identity *identity,
                                const struct config_server *server, char *out, size_t out_len);

#endif
