/* HOST:PORT text. See hostport.h. */
#include "hostport.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* text[0..len) as a C string in buf (cap octets), or false when it does
 * not fit or holds a NUL (which would cut it short). */
static bool copy_text(char *buf, size_t cap, const char *text, size_t len)
{
    if (len == 0 || len >= cap || memchr(text, '\0', len) != NULL)
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    return true;
}

static bool parse_ipv4(const char *text, size_t len, uint8_t addr[4])
{
    char buf[INET_ADDRSTRLEN];
    return copy_text(buf, sizeof(buf), text, len) && inet_pton(AF_INET, buf, addr) == 1;
}

static bool parse_ipv6(const char *text, size_t len, uint8_t addr[16])
{
    char buf[INET6_ADDRSTRLEN];
    return copy_text(buf, sizeof(buf), text, len) && inet_pton(AF_INET6, buf, addr) == 1;
}

bool hostport_is_address(const char *text, size_t len)
{
    uint8_t addr[16];
    return parse_ipv4(text, len, addr) || parse_ipv6(text, len, addr);
}

/* An IPv6 address with an optional "%zone" (an interface name, at most
 * IF_NAMESIZE - 1 octets, or its number). */
static bool parse_ipv6_zoned(const char *text, size_t len, uint8_t addr[16])
{
    const char *percent = memchr(text, '%', len);
    if (percent == NULL)
        return parse_ipv6(text, len, addr);
    size_t zone_len = len - (size_t)(percent - text) - 1;
    if (zone_len == 0 || zone_len >= IF_NAMESIZE)
        return false;
    for (size_t i = 0; i < zone_len; i++)
        if (percent[1 + i] == '/' || (unsigned char)percent[1 + i] <= ' ' ||
            (unsigned char)percent[1 + i] == 0x7F)
            return false;
    return parse_ipv6(text, (size_t)(percent - text), addr);
}

/* RFC 1123 §2.1 letters, digits, hyphens; the underscore too, since
 * container names carry it. All-numeric names must be IPv4 addresses. */
static bool is_host_name(const char *s, size_t n)
{
    bool numeric = true;
    size_t label = 0;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && c != '_')
            return false;
        if (c == '-' && label == 0)
            return false;
        if (!(c >= '0' && c <= '9'))
            numeric = false;
        if (++label > 63)
            return false;
    }
    if (label == 0 || s[n - 1] == '-')
        return false;
    uint8_t addr[4];
    return !numeric || parse_ipv4(s, n, addr);
}

/* 1 to 5 digits, 1..65535: no sign, no space. */
static bool parse_port(const char *s, size_t n, uint16_t *port)
{
    unsigned v = 0;
    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* An unbracketed host: an IPv4 address, or a host name where allowed. */
static bool parse_plain_host(const char *s, size_t n, unsigned flags, struct hostport *out)
{
    if (parse_ipv4(s, n, out->addr))
        out->family = AF_INET;
    else if ((flags & HOSTPORT_NAME) && is_host_name(s, n))
        out->family = AF_UNSPEC;
    else
        return false;
    return copy_text(out->host, sizeof(out->host), s, n);
}

/* "[IPv6]" and "[IPv6]:PORT". */
static int parse_bracketed(const char *text, size_t len, unsigned flags, struct hostport *out)
{
    const char *close = memchr(text, ']', len);
    if (close == NULL)
        return -1;
    const char *inner = text + 1;
    size_t inner_len = (size_t)(close - inner);
    bool ok = (flags & HOSTPORT_ZONE) ? parse_ipv6_zoned(inner, inner_len, out->addr)
                                      : parse_ipv6(inner, inner_len, out->addr);
    if (!ok || !copy_text(out->host, sizeof(out->host), inner, inner_len))
        return -1;
    out->family = AF_INET6;
    size_t rest = len - (size_t)(close - text) - 1;
    if (rest == 0)
        return (flags & HOSTPORT_PORT_OPTIONAL) ? 0 : -1;
    if (close[1] != ':' || !parse_port(close + 2, rest - 1, &out->port))
        return -1;
    return 0;
}

static int parse_text(const char *text, size_t len, unsigned flags, struct hostport *out)
{
    if (len == 0 || memchr(text, '\0', len) != NULL)
        return -1;
    if (text[0] == '[')
        return parse_bracketed(text, len, flags, out);
    const char *colon = memchr(text, ':', len);
    if (colon == NULL) {
        if (!(flags & HOSTPORT_PORT_OPTIONAL))
            return -1;
        return parse_plain_host(text, len, flags, out) ? 0 : -1;
    }
    size_t host_len = (size_t)(colon - text);
    if (memchr(colon + 1, ':', len - host_len - 1) != NULL) {
        /* a bare IPv6 address: no port, or it would be ambiguous */
        if (!(flags & HOSTPORT_PORT_OPTIONAL) || !parse_ipv6(text, len, out->addr))
            return -1;
        out->family = AF_INET6;
        return copy_text(out->host, sizeof(out->host), text, len) ? 0 : -1;
    }
    if (!parse_plain_host(text, host_len, flags, out) ||
        !parse_port(colon + 1, len - host_len - 1, &out->port))
        return -1;
    return 0;
}

int hostport_parse(const char *text, size_t len, unsigned flags, struct hostport *out)
{
    memset(out, 0, sizeof(*out));
    out->family = AF_UNSPEC;
    if (parse_text(text, len, flags, out) == 0)
        return 0;
    memset(out, 0, sizeof(*out));
    out->family = AF_UNSPEC;
    return -1;
}

int hostport_to_sockaddr(const struct hostport *hp, struct sockaddr_storage *out,
                         socklen_t *out_len)
{
    memset(out, 0, sizeof(*out));
    if (hp->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)out;
        in->sin_family = AF_INET;
        in->sin_port = htons(hp->port);
        memcpy(&in->sin_addr, hp->addr, 4);
        *out_len = sizeof(*in);
        return 0;
    }
    if (hp->family != AF_INET6)
        return -1;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(hp->port);
    memcpy(&in6->sin6_addr, hp->addr, 16);
    const char *zone = strchr(hp->host, '%');
    if (zone != NULL) {
        zone++;
        size_t digits = strspn(zone, "0123456789");
        if (zone[digits] == '\0' && digits <= 9) {
            unsigned long index = 0;
            for (size_t i = 0; i < digits; i++)
                index = index * 10 + (unsigned long)(zone[i] - '0');
            in6->sin6_scope_id = (uint32_t)index;
        } else if ((in6->sin6_scope_id = if_nametoindex(zone)) == 0) {
            return -1;
        }
    }
    *out_len = sizeof(*in6);
    return 0;
}

void hostport_format(const char *host, uint16_t port, char *out, size_t cap)
{
    bool brackets = strchr(host, ':') != NULL;
    snprintf(out, cap, "%s%s%s:%u", brackets ? "[" : "", host, brackets ? "]" : "", (unsigned)port);
}
