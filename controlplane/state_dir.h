/* Where a node keeps its state (image, last good config, control socket) when no --state-dir is
 * given: the one rule nanodns start and nanoctl share. */
#ifndef NANODNS_STATE_DIR_H
#define NANODNS_STATE_DIR_H

#include <stddef.h>

/* /var/lib/nanodns for root, else $XDG_STATE_HOME/nanodns, else $HOME/.local/state/nanodns,
 * else /tmp/nanodns-UID. Returns 0, 1 when the answer is the shared /tmp fallback (whose owner
 * must then be checked), or -1 when it does not fit. */
int state_dir_default(char *out, size_t out_len);

#endif
