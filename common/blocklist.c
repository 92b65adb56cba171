/* Blocklist lines (blocklist.h): each format reduced to the names it
 * lists; names checked as host names (letters, digits, '-', '_'), since a
 * line that is not one is a mistake in the list, not a rule. */
#include "blocklist.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "wire.h"

int blocklist_format_parse(const char *text, enum blocklist_format *out)
{
    if (strcasecmp(text, "domains") == 0)
        *out = BLOCKLIST_DOMAINS;
    else if (strcasecmp(text, "hosts") == 0)
        *out = BLOCKLIST_HOSTS;
    else if (strcasecmp(text, "adblock") == 0)
        *out = BLOCKLIST_ADBLOCK;
    else
        return -1;
    return 0;
}

const char *blocklist_format_name(enum blocklist_format format)
{
    switch (format) {
    case BLOCKLIST_HOSTS:
        return "hosts";
    case BLOCKLIST_ADBLOCK:
        return "adblock";
    case BLOCKLIST_DOMAINS:
    default:
        return "domains";
    }
}

void blocklist_parser_init(struct blocklist_parser *p, enum blocklist_format format,
                           const struct blocklist_sink *sink)
{
    *p = (struct blocklist_parser){format, sink, 0};
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* text[0..len) as a host name in wire form ("a.b", trailing dot
 * allowed, not the root). Returns the wire length, or 0 when it is no
 * such name. */
static size_t name_to_wire(const char *text, size_t len, uint8_t out[WIRE_NAME_MAX])
{
    if (len > 0 && text[len - 1] == '.')
        len--;
    if (len == 0 || len + 2 > WIRE_NAME_MAX)
        return 0;
    size_t at = 0, label = 0;
    out[0] = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '.') {
            if (out[label] == 0)
                return 0;
            label = ++at;
            out[label] = 0;
            continue;
        }
        if (!is_name_char(text[i]) || out[label] == 63)
            return 0;
        out[++at] = (uint8_t)text[i];
        out[label]++;
    }
    if (out[label] == 0)
        return 0;
    out[++at] = 0;
    return at + 1;
}

static int emit(struct blocklist_parser *p, const char *text, size_t len, bool allow)
{
    uint8_t wire[WIRE_NAME_MAX];
    size_t wire_len = name_to_wire(text, len, wire);
    if (wire_len == 0) {
        if (p->sink->skipped)
            p->sink->skipped(p->sink->context, p->line);
        return 0;
    }
    return p->sink->entry(p->sink->context, wire, wire_len, allow);
}

/* The names a hosts file maps for the machine itself: never a block. */
static bool is_local_host_name(const char *s, size_t n)
{
    static const char *const names[] = {
        "localhost",     "localhost.localdomain", "local",        "broadcasthost",
        "ip6-localhost", "ip6-loopback",          "ip6-localnet", "ip6-mcastprefix",
        "ip6-allnodes",  "ip6-allrouters",        "ip6-allhosts", "0.0.0.0",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == n && strncasecmp(s, names[i], n) == 0)
            return true;
    return false;
}

/* An IPv4 or IPv6 address (a "%zone" allowed) as a hosts line starts with. */
static bool is_address(const char *s, size_t n)
{
    char text[64];
    if (n == 0 || n >= sizeof(text))
        return false;
    memcpy(text, s, n);
    text[n] = '\0';
    char *zone = strchr(text, '%');
    if (zone)
        *zone = '\0';
    uint8_t addr[16];
    return inet_pton(AF_INET, text, addr) == 1 || inet_pton(AF_INET6, text, addr) == 1;
}

/* "ADDRESS NAME [NAME...]": every name after the address. */
static int parse_hosts(struct blocklist_parser *p, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && !is_space(s[i]))
        i++;
    if (!is_address(s, i) || i == n) {
        if (p->sink->skipped)
            p->sink->skipped(p->sink->context, p->line);
        return 0;
    }
    for (;;) {
        while (i < n && is_space(s[i]))
            i++;
        if (i == n)
            return 0;
        size_t start = i;
        while (i < n && !is_space(s[i]))
            i++;
        if (is_local_host_name(s + start, i - start))
            continue;
        if (emit(p, s + start, i - start, false) < 0)
            return -1;
    }
}

/* "||name^" and "@@||name^" (a trailing "|" allowed); any other rule
 * (cosmetic, paths, $modifiers, regular expressions) is not a DNS block
 * of a whole name and is passed over without a count. */
static int parse_adblock(struct blocklist_parser *p, const char *s, size_t n)
{
    bool allow = false;
    if (n >= 2 && s[0] == '@' && s[1] == '@') {
        allow = true;
        s += 2;
        n -= 2;
    }
    if (n < 3 || s[0] != '|' || s[1] != '|')
        return 0;
    s += 2;
    n -= 2;
    if (n > 0 && s[n - 1] == '|')
        n--;
    if (n == 0 || s[n - 1] != '^') {
        /* "||name" alone or with a path or modifiers: not a whole-name rule,
         * unless it is only a name gone wrong. */
        return 0;
    }
    return emit(p, s, n - 1, allow);
}

int blocklist_parse_line(struct blocklist_parser *p, const char *s, size_t n)
{
    p->line++;
    if (p->line == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        n -= 3;
    }
    while (n > 0 && is_space(s[n - 1]))
        n--;
    while (n > 0 && is_space(s[0])) {
        s++;
        n--;
    }
    if (n == 0 || s[0] == '#' || s[0] == '!')
        return 0;
    if (p->format == BLOCKLIST_ADBLOCK)
        return parse_adblock(p, s, n);
    /* "name # comment", "0.0.0.0 name # comment" */
    const char *hash = memchr(s, '#', n);
    if (hash) {
        n = (size_t)(hash - s);
        while (n > 0 && is_space(s[n - 1]))
            n--;
    }
    if (p->format == BLOCKLIST_HOSTS)
        return parse_hosts(p, s, n);
    return emit(p, s, n, false);
}

int blocklist_parse_text(struct blocklist_parser *p, const char *text, size_t len)
{
    size_t at = 0;
    while (at < len) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) + 1 : len;
        if (blocklist_parse_line(p, text + at, end - at) < 0)
            return -1;
        at = end;
    }
    return 0;
}
