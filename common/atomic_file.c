/* Crash-safe file replacement (see atomic_file.h). The sequence is the one
 * every careful writer uses: a new file beside the target (same directory,
 * so rename(2) is atomic), fsync it, rename it over the target, fsync the
 * directory so the rename itself is durable. The target is never opened for
 * writing: a reader that has it mapped keeps the old contents. */
#include "atomic_file.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The directory part of path ("." when there is none). */
static void directory_of(const char *path, char *dir, size_t dir_len)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        snprintf(dir, dir_len, ".");
    } else if (slash == path) {
        snprintf(dir, dir_len, "/");
    } else {
        snprintf(dir, dir_len, "%.*s", (int)(slash - path), path);
    }
}

static int directory_sync(const char *path, char *err, size_t err_len)
{
    char dir[PATH_MAX];
    directory_of(path, dir, sizeof(dir));
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        error_set(err, err_len, "open directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (fsync(fd) < 0) {
        int saved = errno;
        close(fd);
        error_set(err, err_len, "fsync directory %s: %s", dir, strerror(saved));
        return -1;
    }
    close(fd);
    return 0;
}

int atomic_file_write(const char *path, const void *data, size_t len, mode_t mode, char *err,
                      size_t err_len)
{
    /* mkostemp picks a name no other writer holds (O_EXCL), with no state
     * of ours: common/ keeps none. */
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        error_set(err, err_len, "create %s: %s", path, strerror(ENAMETOOLONG));
        return -1;
    }

    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        error_set(err, err_len, "create %s: %s", tmp, strerror(errno));
        return -1;
    }
    /* mkostemp creates the file 0600; the caller asked for exactly this mode. */
    if (fchmod(fd, mode) < 0) {
        error_set(err, err_len, "chmod %s: %s", tmp, strerror(errno));
        goto fail_open;
    }
    if (write_all(fd, data, len) < 0) {
        error_set(err, err_len, "write %s: %s", tmp, strerror(errno));
        goto fail_open;
    }
    if (fsync(fd) < 0) {
        error_set(err, err_len, "fsync %s: %s", tmp, strerror(errno));
        goto fail_open;
    }
    /* close() can report a deferred write error (NFS): it counts. */
    if (close(fd) < 0) {
        error_set(err, err_len, "close %s: %s", tmp, strerror(errno));
        goto fail_closed;
    }
    if (rename(tmp, path) < 0) {
        error_set(err, err_len, "rename %s to %s: %s", tmp, path, strerror(errno));
        goto fail_closed;
    }
    /* The new file is in place; without this fsync a crash could bring back
     * the old name. Nothing is left to clean up if it fails. */
    return directory_sync(path, err, err_len);

fail_open:
    close(fd);
fail_closed:
    unlink(tmp);
    return -1;
}

int atomic_file_read(const char *path, char **data, size_t *len, char *err, size_t err_len)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_set(err, err_len, "open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        error_set(err, err_len, "stat %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        error_set(err, err_len, "read %s: %s", path, strerror(EISDIR));
        close(fd);
        return -1;
    }

    /* st_size is only a hint (the file may grow, or be a pipe): read to EOF. */
    size_t capacity = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    size_t used = 0;
    char *buf = malloc(capacity);
    if (buf == NULL) {
        error_set(err, err_len, "read %s: %s", path, strerror(ENOMEM));
        close(fd);
        return -1;
    }
    for (;;) {
        char probe;
        char *dst = buf + used;
        size_t room = capacity - used - 1; /* one octet kept for the NUL */
        if (room == 0) {
            /* Full at the size fstat gave: usually EOF is next, and a
             * one-octet read finds out without doubling the buffer. */
            dst = &probe;
            room = 1;
        }
        ssize_t n = read(fd, dst, room);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            error_set(err, err_len, "read %s: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        if (dst == &probe) {
            if (capacity > SIZE_MAX / 2) {
                error_set(err, err_len, "read %s: %s", path, strerror(EFBIG));
                goto fail;
            }
            char *bigger = realloc(buf, capacity * 2);
            if (bigger == NULL) {
                error_set(err, err_len, "read %s: %s", path, strerror(ENOMEM));
                goto fail;
            }
            buf = bigger;
            capacity *= 2;
            buf[used] = probe;
        }
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    *data = buf;
    *len = used;
    return 0;

fail:
    free(buf);
    close(fd);
    return -1;
}

/* The mapping's size: the file and at least one octet after it, which
 * is the NUL. */
static size_t map_size(size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (len / page + 1) * page;
}

int atomic_file_map(const char *path, const char **data, size_t *len, char *err, size_t err_len)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return error_set(err, err_len, "open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        error_set(err, err_len, "stat %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        error_set(err, err_len, "map %s: not a regular file with content", path);
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    /* Zero pages first, the file over them: the octet after the file
     * reads as NUL even when the file ends on a page boundary. */
    uint8_t *area =
        mmap(NULL, map_size(size), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (area == MAP_FAILED) {
        error_set(err, err_len, "map %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (mmap(area, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) == MAP_FAILED) {
        error_set(err, err_len, "map %s: %s", path, strerror(errno));
        munmap(area, map_size(size));
        close(fd);
        return -1;
    }
    close(fd);
    *data = (const char *)area;
    *len = size;
    return 0;
}

void atomic_file_unmap(const char *data, size_t len)
{
    if (data != NULL)
        munmap((void *)data, map_size(len));
}
