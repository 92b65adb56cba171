/* Locally served zones (RFC 6303, RFC 6761 localhost, RFC 8375 home.arpa, invalid, test) as
 * zones of the image. Pure: compile.c owns the struct it fills; nothing is allocated inside. */
#ifndef NANODNS_LOCAL_ZONES_H
#define NANODNS_LOCAL_ZONES_H

/* Why zones in the image rather than a table the data plane scans: a
 * locally served zone is then found by the very hash probes that find
 * our own zones (no per-query list, no second lookup), its negative
 * answers carry its SOA as any zone's do (RFC 2308), and "our data wins"
 * falls out of the compile: a zone of ours at or above one replaces it, a
 * zone of ours below one is its child, our records inside one are its
 * data. The image marks them (IMAGE_ZONE_LOCAL) so that a forward zone
 * below one still gets its names (answer.c). */

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "image.h"
#include "wire.h"

/* RFC 6303 §4 (89 IPv4 zones with RFC 6598's, 8 IPv6), home.arpa,
 * localhost, invalid, test. */
#define LOCAL_ZONES_MAX 101

/* RFC 6303 §3: the synthesized SOA and NS, TTL 10800. */
#define LOCAL_ZONE_TTL 10800
#define LOCAL_ZONE_SOA_SIZE (WIRE_NAME_MAX + 16 + 20) /* MNAME, "nobody.invalid.", five numbers */

/* RRs per zone (SOA, NS) and localhost's A and AAAA at the name and below it. */
#define LOCAL_ZONE_RRS_MAX (2 * LOCAL_ZONES_MAX + 4)

struct local_zones {
    size_t zone_count;
    uint8_t apex[LOCAL_ZONES_MAX][WIRE_NAME_MAX]; /* lowercase wire form */
    uint8_t apex_len[LOCAL_ZONES_MAX];
    uint8_t soa[LOCAL_ZONES_MAX][LOCAL_ZONE_SOA_SIZE];
    size_t rr_count;
    struct image_input_rr rrs[LOCAL_ZONE_RRS_MAX]; /* point into this struct */
    uint8_t star_localhost[WIRE_NAME_MAX];         /* "*.localhost" */
};

/* The locally served zones cfg leaves to us, into out (the caller's, kept
 * in place while out->rrs are used): none when server.local_zones is
 * false; one is left out when a zone of ours or a server.forward_zones
 * entry is at or above it. localhost gets A 127.0.0.1 and AAAA ::1 at
 * its name and (an RFC 4592 wildcard) every name below it, except where
 * the config holds records of that owner. Every RR is marked
 * IMAGE_NODE_SYNTHESIZED. */
void local_zones_compile(const struct config *cfg, struct local_zones *out);

/* Whether a wire-form name (any case) is at or below one of the zones of
 * lz: cheap for the names that end in none of their top-level labels. */
bool local_zones_cover(const struct local_zones *lz, const uint8_t *name, size_t len);

/* Whether the wire-form name is parent or below it (case-insensitive). */
bool local_name_at_or_below(const uint8_t *name, size_t len, const uint8_t *parent,
                            size_t parent_len);

#endif
