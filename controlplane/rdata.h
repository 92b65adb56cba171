/* Record text in the config's terms (type, value, MX/SRV/CAA fields) to wire-form RDATA. Pure:
 * a refusal comes back as a message for the caller to place; RDATA is malloc'd, the caller's. */
#ifndef NANODNS_RDATA_H
#define NANODNS_RDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Room for any message below (a config finding holds less). */
#define RDATA_ERROR_MAX 512

/* Results besides 0. */
#define RDATA_INVALID (-1)   /* the text is wrong: the message says why */
#define RDATA_NO_MEMORY (-2) /* the message is "out of memory" */

/* The types a config may hold, by name (case-insensitive): A, AAAA, CAA,
 * CNAME, MX, NS, PTR, SRV, TXT. Returns whether name is one. */
bool rdata_type_from_text(const char *name, uint16_t *type);

/* The name of one of those types, "?" for any other. */
const char *rdata_type_name(uint16_t type);

/* A name in presentation form ("www.example.lan", trailing dot optional) in
 * wire form, case kept, or RDATA_INVALID with wire_name_from_text's reason
 * (the name quoted short when it is long). */
int rdata_name_from_text(const char *text, uint8_t out[WIRE_NAME_MAX], uint8_t *out_len, char *err,
                         size_t err_len);

/* RFC 8659 §4.1: a CAA tag is 1 to 15 US-ASCII letters and digits. */
bool rdata_caa_tag_valid(const char *tag, size_t len);

/* What one record says besides its owner, type and TTL. */
struct rdata_fields {
    const char *value; /* value_len octets, NUL after them; TXT and CAA may hold NULs */
    size_t value_len;
    uint16_t priority, weight, port; /* MX: priority; SRV: all three */
    uint16_t flags;                  /* CAA */
    const char *tag;                 /* CAA, tag_len octets */
    size_t tag_len;
};

/* The RDATA of a record of type (one rdata_type_from_text gives) into *out
 * (malloc'd, *out_len octets): A and AAAA addresses, names for CNAME, NS,
 * PTR, MX and SRV, TXT split into strings of at most 255 octets, CAA as
 * flags, tag and value. Returns 0, RDATA_INVALID or RDATA_NO_MEMORY, with
 * the message in err. */
int rdata_from_text(uint16_t type, const struct rdata_fields *fields, uint8_t **out,
                    uint16_t *out_len, char *err, size_t err_len);

#endif
