/* Blocklist files, one line at a time: the "domains", "hosts" and "adblock" formats their users
 * already have. Pure functions over the caller's buffers; a parser holds no memory of its own. */
#ifndef NANODNS_BLOCKLIST_H
#define NANODNS_BLOCKLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum blocklist_format {
    BLOCKLIST_DOMAINS, /* "ads.example.com", one name a line */
    BLOCKLIST_HOSTS,   /* "0.0.0.0 ads.example.com tracker.example.com" (Pi-hole, StevenBlack) */
    BLOCKLIST_ADBLOCK, /* "||ads.example.com^", "@@||ok.example.com^" (AdGuard Home, Blocky) */
};

/* "domains", "hosts", "adblock" (any case). Returns 0, or -1 for another word. */
int blocklist_format_parse(const char *text, enum blocklist_format *out);

/* "domains", "hosts" or "adblock": the word blocklist_format_parse takes. */
const char *blocklist_format_name(enum blocklist_format format);

/* Where a parser puts what it reads. entry gets each name in wire form,
 * case as written; allow is true for an adblock exception ("@@||name^").
 * An entry that returns < 0 (out of memory) stops the parse. skipped gets
 * the number of each line that holds neither a name, a comment nor
 * (adblock) another rule. */
struct blocklist_sink {
    void *context;
    int (*entry)(void *context, const uint8_t *name, size_t len, bool allow);
    void (*skipped)(void *context, unsigned long line);
};

struct blocklist_parser {
    enum blocklist_format format;
    const struct blocklist_sink *sink;
    unsigned long line; /* of the last line given */
};

void blocklist_parser_init(struct blocklist_parser *p, enum blocklist_format format,
                           const struct blocklist_sink *sink);

/* One line, with or without its "\n" or "\r\n"; the first one may start
 * with a UTF-8 byte order mark. Returns 0, or -1 when the sink's entry
 * did. */
int blocklist_parse_line(struct blocklist_parser *p, const char *line, size_t len);

/* Every line of text[0..len) (the last one need not end with "\n"). */
int blocklist_parse_text(struct blocklist_parser *p, const char *text, size_t len);

#endif
