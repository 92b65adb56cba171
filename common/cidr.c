/* Address prefixes for access lists; see cidr.h. */
#include "cidr.h"

#include "error.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const CIDR_DEFAULT_RECURSION[] = {
    "127.0.0.0/8",    /* RFC 1122 §3.2.1.3 loopback */
    "::1/128",        /* RFC 4291 §2.5.3 loopback */
    "10.0.0.0/8",     /* RFC 1918 §3 */
    "172.16.0.0/12",  /* RFC 1918 §3 */
    "192.168.0.0/16", /* RFC 1918 §3 */
    "100.64.0.0/10",  /* RFC 6598 shared address space (carrier-grade NAT) */
    "fc00::/7",       /* RFC 4193 unique local */
    "fe80::/10",      /* RFC 4291 §2.5.6 link-local */
};
const size_t CIDR_DEFAULT_RECURSION_COUNT =
    sizeof CIDR_DEFAULT_RECURSION / sizeof CIDR_DEFAULT_RECURSION[0];

/* Zero the bits of addr past prefix_len. */
static void cidr_mask(uint8_t *addr, size_t addr_len, unsigned prefix_len)
{
    for (size_t i = 0; i < addr_len; i++) {
        unsigned bits = prefix_len > i * 8 ? prefix_len - (unsigned)i * 8 : 0;
        if (bits < 8)
            addr[i] &= (uint8_t)(0xFF00u >> bits);
    }
}

int cidr_parse(const char *text, struct cidr *out, char *err, size_t err_len)
{
    char addr_text[INET6_ADDRSTRLEN];
    const char *slash = strchr(text, '/');
    size_t addr_len = slash ? (size_t)(slash - text) : strlen(text);
    if (addr_len == 0 || addr_len >= sizeof addr_text)
        return error_set(err, err_len,
                         "\"%s\" is not an address prefix (\"10.0.0.0/8\", \"fc00::/7\")", text);
    memcpy(addr_text, text, addr_len);
    addr_text[addr_len] = '\0';

    struct cidr c = {0};
    unsigned max;
    if (inet_pton(AF_INET, addr_text, c.addr) == 1) {
        c.family = 4;
        max = 32;
    } else if (inet_pton(AF_INET6, addr_text, c.addr) == 1) {
        c.family = 6;
        max = 128;
    } else {
        return error_set(err, err_len,
                         "\"%s\" is not an address prefix (\"10.0.0.0/8\", \"fc00::/7\")", text);
    }

    unsigned prefix_len = max;
    if (slash) {
        const char *p = slash + 1;
        size_t n = strlen(p);
        /* digits only, no sign or space, no leading zeros past one digit */
        bool ok = n > 0 && n <= 3 && !(n > 1 && p[0] == '0');
        unsigned v = 0;
        for (size_t i = 0; ok && i < n; i++) {
            ok = p[i] >= '0' && p[i] <= '9';
            v = v * 10 + (unsigned)(p[i] - '0');
        }
        if (!ok || v > max)
            return error_set(err, err_len, "\"%s\": the prefix length must be 0..%u", text, max);
        prefix_len = v;
    }
    c.prefix_len = (uint8_t)prefix_len;

    struct cidr masked = c;
    cidr_mask(masked.addr, c.family == 4 ? 4 : 16, prefix_len);
    if (memcmp(masked.addr, c.addr, sizeof c.addr) != 0) {
        char net[INET6_ADDRSTRLEN];
        inet_ntop(c.family == 4 ? AF_INET : AF_INET6, masked.addr, net, sizeof net);
        return error_set(err, err_len,
                         "\"%s\" has bits set past the prefix length (did you mean %s/%u?)", text,
                         net, prefix_len);
    }
    *out = c;
    return 0;
}

/* Do the first prefix_len bits of a and b agree? */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix_len)
{
    size_t whole = prefix_len / 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    unsigned rest = prefix_len % 8;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xFF00u >> rest);
    return (a[whole] & mask) == (b[whole] & mask);
}

bool cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
    static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    const uint8_t *addr;
    unsigned family;
    if (sa->sa_family == AF_INET) {
        addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        family = 4;
    } else if (sa->sa_family == AF_INET6) {
        addr = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        family = 6;
        /* RFC 4291 §2.5.5.2: a dual-stack socket shows IPv4 clients so */
        if (c->family == 4 && memcmp(addr, v4_mapped, sizeof v4_mapped) == 0) {
            addr += sizeof v4_mapped;
            family = 4;
        }
    } else {
        return false;
    }
    if (family != c->family)
        return false;
    return prefix_equal(addr, c->addr, c->prefix_len);
}

bool cidr_list_match(const struct cidr *list, size_t count, const struct sockaddr *sa)
{
    for (size_t i = 0; i < count; i++)
        if (cidr_match(&list[i], sa))
            return true;
    return false;
}

bool cidr_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return false;
}
