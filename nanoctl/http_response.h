/* Reading an HTTP/1.0 answer from a buffer: status line, the headers we need, where the body ends.
 * Pure functions over (pointer, length): nothing is read past len and no NUL is expected. */
#ifndef NANOCTL_HTTP_RESPONSE_H
#define NANOCTL_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

#include "http_client.h"

/* Whether buf[0..len) holds a whole answer. */
enum http_parse_result {
    HTTP_PARSE_ERROR = -1, /* not HTTP, malformed, too large or cut short: the reason is in err */
    HTTP_PARSE_MORE = 0,   /* not all there yet: read more (never at eof) */
    HTTP_PARSE_DONE = 1,   /* out is filled; its body is malloc'd (http_response_free) */
};

/* Parse the answer received so far. eof: the server has closed the
 * connection, so an answer without Content-Length ends at len. */
enum http_parse_result http_response_parse(const char *buf, size_t len, bool eof,
                                           struct http_response *out, char *err, size_t err_len);

#endif
