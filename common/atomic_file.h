/* Crash-safe file replacement: write a temporary file beside the target,
 * fsync it, rename it over the target, fsync the directory. A reader sees
 * the old file or the new one, never a mix, and a published file is never
 * written again. */
#ifndef NANODNS_ATOMIC_FILE_H
#define NANODNS_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Replace path with data[0..len) with the given mode. Returns 0, or -1 with
 * a message (naming the step and errno text) in err. */
int atomic_file_write(const char *path, const void *data, size_t len, mode_t mode, char *err,
                      size_t err_len);

/* Read a whole file into a malloc'd buffer (NUL-terminated, not counted in
 * *len). Returns 0, or -1 with a message in err. */
int atomic_file_read(const char *path, char **data, size_t *len, char *err, size_t err_len);

#endif
