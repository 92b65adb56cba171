/* Messages for people: a function that fails fills a caller-owned buffer
 * and returns a negative code; this writes the message. */
#ifndef NANODNS_ERROR_H
#define NANODNS_ERROR_H

#include <stddef.h>

/* printf into err (nothing when err is NULL or err_len 0). Returns -1, so
 * `return error_set(err, err_len, ...);` reads as the failure it is. */
int error_set(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
