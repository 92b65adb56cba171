/* Automatic PTRs (server.auto_ptr): a PTR to its name for the address of each A and AAAA record.
 * auto_ptr_compile fills a struct auto_ptrs that owns its memory; auto_ptr_free frees it. */
#ifndef NANODNS_AUTO_PTR_H
#define NANODNS_AUTO_PTR_H

/* They are compiled into the image as PTR RRs of their own nodes
 * (IMAGE_NODE_AUTO_PTR), so a reverse lookup is the same hash probe as
 * any other name: nothing is scanned per query. */

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "image.h"

struct auto_ptrs {
    struct image_input_rr *rrs; /* owners point into names, RDATA into the config's records */
    size_t count;
    uint8_t *names; /* the reverse names, one after another */
};

/* The PTRs for cfg (none when server.auto_ptr is false): one per address,
 * to the owner of its first A or AAAA record in config order, with that
 * record's TTL. Addresses whose reverse name holds a PTR or a CNAME of
 * ours get none (ours wins), nor do wildcard records (the original's
 * "wildcard" and "*" owners). Returns 0, or -1 with a message in err. */
int auto_ptr_compile(const struct config *cfg, struct auto_ptrs *out, char *err, size_t err_len);
void auto_ptr_free(struct auto_ptrs *ptrs);

/* The reverse name of an address (family 4 or 6) in wire form: in-addr.arpa
 * or ip6.arpa (RFC 1035 §3.5, RFC 3596 §2.5). out holds WIRE_NAME_MAX
 * octets; returns the length. */
size_t auto_ptr_reverse_name(uint8_t family, const uint8_t *addr, uint8_t *out);

/* The address a full reverse name stands for (any case), or false when it
 * is none (a shorter in-addr.arpa name, say). */
bool auto_ptr_address_of(const uint8_t *name, size_t len, uint8_t *family, uint8_t addr[16]);

#endif
