/* What the image writer (image_build.c) and reader (image.c) share beyond image.h.
 * Pure functions and constants: no state; private to common/image*.c. */
#ifndef NANODNS_IMAGE_INTERNAL_H
#define NANODNS_IMAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "image.h"

/* The header's content hash: BLAKE2b-256 of the buf with the hash field
 * zeroed (libsodium must be initialised). */
void image_content_hash(const uint8_t *buf, size_t len, uint8_t out[32]);

/* "*." + name into out (WIRE_NAME_MAX octets): its length, or 0 when it
 * would be too long a name. */
static inline size_t image_wildcard_name(uint8_t *out, const uint8_t *name, size_t len)
{
    if (len + 2 > WIRE_NAME_MAX)
        return 0;
    out[0] = 1;
    out[1] = '*';
    memcpy(out + 2, name, len);
    return len + 2;
}

/* True when the name's first label is "*". */
static inline bool image_wildcard_owner(const uint8_t *name, size_t len)
{
    return len > 2 && name[0] == 1 && name[1] == '*';
}

static inline bool image_upstream_valid(const struct image_upstream *u)
{
    return u->family == 4 || u->family == 6;
}

static inline bool image_cidr_valid(const struct cidr *c)
{
    return (c->family == 4 && c->prefix_len <= 32) || (c->family == 6 && c->prefix_len <= 128);
}

#endif
