/* Address prefixes (CIDR) for access lists: parsed by the control plane,
 * stored in the image as they are, matched by the data plane per query
 * without allocation. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, as a
 * dual-stack socket reports IPv4 clients) matches IPv4 prefixes. */
#ifndef NANODNS_CIDR_H
#define NANODNS_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
    uint8_t family;     /* 4 or 6 */
    uint8_t prefix_len; /* 0..32 or 0..128 */
    uint8_t reserved[2];
    uint8_t addr[16]; /* network order; bits past prefix_len are zero */
};

/* "10.0.0.0/8", "fc00::/7", "192.168.1.7" (a /32), "::1" (a /128). Host
 * bits set past the prefix are an error ("10.0.0.1/8": did you mean
 * 10.0.0.0/8?). Returns 0, or -1 with a message in err. */
int cidr_parse(const char *text, struct cidr *out, char *err, size_t err_len);

/* Does the address in sa (AF_INET or AF_INET6) fall inside c? */
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);

/* Does it fall inside any of list[0..count)? */
bool cidr_list_match(const struct cidr *list, size_t count, const struct sockaddr *sa);

/* Whether two socket addresses are the same host (the port aside): what a
 * per-client connection cap counts by. */
bool cidr_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/* The default allow_recursion list: loopback, RFC 1918, RFC 6598 shared
 * space, RFC 4193 unique local and link-local. */
extern const char *const CIDR_DEFAULT_RECURSION[];
extern const size_t CIDR_DEFAULT_RECURSION_COUNT;

#endif
