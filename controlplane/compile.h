/* Config to zone image: the one place the config model meets the image format (image.h).
 * Reads the config it is given; the image it makes is malloc'd and the caller's. */
#ifndef NANODNS_COMPILE_H
#define NANODNS_COMPILE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Compile cfg into a new image (malloc'd into *out, caller frees). The SOA
 * serial served is the configured serial plus config_version (mod 2^32), so
 * every published change is visible to caches and secondaries. Returns 0, or
 * -1 with a message in err. */
int compile_config(const struct config *cfg, uint8_t **out, size_t *out_len, char *err,
                   size_t err_len);

#endif
