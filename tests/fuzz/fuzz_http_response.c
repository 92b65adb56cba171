/* libFuzzer target: nanoctl's reading of an HTTP answer (http_response.c)
 * from arbitrary octets, as received so far and as complete at close. The
 * input is not NUL-terminated, as nanoctl's recv buffer is not. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    for (int eof = 0; eof <= 1; eof++) {
        struct http_response out;
        enum http_parse_result result =
            http_response_parse((const char *)data, size, eof != 0, &out, err, sizeof(err));
        if (result == HTTP_PARSE_DONE) {
            /* The body is a NUL-terminated copy of what the answer holds. */
            if (out.body_len > size || out.body[out.body_len] != '\0' ||
                (out.body_len > 0 && memmem(data, size, out.body, out.body_len) == NULL))
                abort();
            http_response_free(&out);
        } else if (result == HTTP_PARSE_MORE && eof) {
            abort(); /* at close an answer is whole or an error */
        }
    }
    return 0;
}
