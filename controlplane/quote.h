/* Values quoted in messages for people (config findings): in double
 * quotes, escaped, cut short. Pure functions over caller-owned buffers. */
#ifndef NANODNS_QUOTE_H
#define NANODNS_QUOTE_H

#include <stdbool.h>
#include <stddef.h>

/* How much of a value a message quotes, and the buffer quote_text needs. */
#define QUOTE_MAX 100
#define QUOTE_CAP (QUOTE_MAX * 4 + 8)

/* Append n octets of s to out (cap octets, *used of them taken, kept
 * NUL-terminated), escaping control characters as \xNN and, with
 * escape_quote, '"' and '\\'. What does not fit is dropped. */
void quote_append(char *out, size_t cap, size_t *used, const char *s, size_t n, bool escape_quote);

/* s[0..n) in double quotes, escaped, cut after QUOTE_MAX octets (at a UTF-8
 * character boundary, "..." marking the cut), into buf (QUOTE_CAP octets).
 * Returns buf. */
const char *quote_text(char *buf, const char *s, size_t n);

#endif
