/* What node.c and node_load.c share beyond node.h: private to them.
 * The same contract as node.h: one event loop thread, no locks. */
#ifndef NANODNS_NODE_INTERNAL_H
#define NANODNS_NODE_INTERNAL_H

#include <stddef.h>

#include "config.h"
#include "node.h"

/* The config in force becomes text/cfg (both taken over): its version,
 * checksum and hash with it (hash: text's SHA-256 when the caller has
 * it, else NULL). */
void node_install(struct node *node, char *text, size_t len, const uint8_t *hash,
                  struct config *cfg);

/* The command line's overrides applied to cfg: 0, or -1 out of memory. */
int node_overrides_apply(struct config *cfg, const struct node_overrides *ov);

/* data is what the operator's file now holds, as far as the hot-reload poll is concerned. */
void node_file_hash_set(struct node *node, const void *data, size_t len);

#endif
