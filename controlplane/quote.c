/* Values quoted in messages. See quote.h. */
#include "quote.h"

#include <stdio.h>
#include <string.h>

void quote_append(char *out, size_t cap, size_t *used, const char *s, size_t n, bool escape_quote)
{
    for (size_t i = 0; i < n && *used + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        size_t k;
        if (c < 0x20 || c == 0x7F) {
            k = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
        } else if (escape_quote && (c == '"' || c == '\\')) {
            esc[0] = '\\';
            esc[1] = (char)c;
            k = 2;
        } else {
            esc[0] = (char)c;
            k = 1;
        }
        if (*used + k >= cap)
            break;
        memcpy(out + *used, esc, k);
        *used += k;
    }
    out[*used] = '\0';
}

const char *quote_text(char *buf, const char *s, size_t n)
{
    size_t used = 0;
    bool cut = n > QUOTE_MAX;
    if (cut) {
        n = QUOTE_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    quote_append(buf, QUOTE_CAP, &used, "\"", 1, false);
    quote_append(buf, QUOTE_CAP, &used, s, n, true);
    quote_append(buf, QUOTE_CAP, &used, cut ? "...\"" : "\"", cut ? 4 : 1, false);
    return buf;
}
