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

/* A file that only atomic_file_write replaces, mapped read-only instead of
 * read: its inode is never written again, so the mapping cannot change or
 * shrink under the reader, and its pages are the page cache's (dropped and
 * read again as memory needs, not held by the process). NUL-terminated
 * like atomic_file_read's buffer. Returns 0, or -1 with a message in err;
 * atomic_file_unmap takes it back. */
int atomic_file_map(const char *path, const char **data, size_t *len, char *err, size_t err_len);
void atomic_file_unmap(const char *data, size_t len);

#endif
