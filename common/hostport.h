/* HOST:PORT text, one parser for all: config upstreams and peers, nanoctl -s, dataplane --listen.
 * Pure functions over caller-owned buffers: no allocation, no name lookup, no state. */
#ifndef NANODNS_HOSTPORT_H
#define NANODNS_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Always accepted: "IPv4:PORT" and "[IPv6]:PORT", PORT being 1 to 5 digits
 * worth 1..65535. A bare IPv6 address with a port ("::1:53") is ambiguous
 * and never accepted: it needs the brackets, as in URLs (RFC 3986 §3.2.2).
 * The flags accept more: */
#define HOSTPORT_PORT_OPTIONAL 0x1u /* "IPv4", "[IPv6]" and a bare "IPv6": port 0 */
#define HOSTPORT_NAME 0x2u          /* a host name as the host: "ns1.example:9053" */
#define HOSTPORT_ZONE 0x4u          /* an IPv6 zone (RFC 4007 §11): "[fe80::1%eth0]:53" */

#define HOSTPORT_HOST_MAX 256                     /* a host name of 253 octets, with the NUL */
#define HOSTPORT_TEXT_MAX (HOSTPORT_HOST_MAX + 9) /* "[" host "]:" port, with the NUL */

struct hostport {
    char host[HOSTPORT_HOST_MAX]; /* as written, without brackets, the zone kept */
    uint16_t port;                /* 0 when the text has none (HOSTPORT_PORT_OPTIONAL) */
    int family;                   /* AF_INET, AF_INET6, or AF_UNSPEC for a host name */
    uint8_t addr[16];             /* the address (AF_INET: the first 4 octets); zeros for a name */
};

/* Parse text[0..len) as the flags allow. A host name follows RFC 1123 §2.1
 * (letters, digits and '-', and '_' as container names carry it; an
 * all-numeric name must be an IPv4 address). Returns 0, or -1 for text that
 * is not one of the accepted forms (a NUL octet included); callers say in
 * their own words what they expected. */
int hostport_parse(const char *text, size_t len, unsigned flags, struct hostport *out);

/* Whether text[0..len) is an IPv4 or IPv6 address literal (no port, no
 * brackets, no zone). */
bool hostport_is_address(const char *text, size_t len);

/* The socket address of a parsed address (not a host name); an IPv6 zone
 * names an interface or is its number. Returns 0, or -1 for a host name or
 * an interface that does not exist. */
int hostport_to_sockaddr(const struct hostport *hp, struct sockaddr_storage *out,
                         socklen_t *out_len);

/* host and port as one text, the way hostport_parse reads it back:
 * "192.0.2.1:53", "ns1.example:9053", "[2001:db8::1]:53" (brackets where the
 * host holds a colon). Cut short to fit cap. */
void hostport_format(const char *host, uint16_t port, char *out, size_t cap);

#endif
