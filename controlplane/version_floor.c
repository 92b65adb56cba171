/* The version floor in STATE/version (see version_floor.h): its one line
 * read strictly, written through atomic_file_write. */
#include "version_floor.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"

#define FLOOR_FILE_MODE 0600 /* only the control plane reads it */

int version_floor_format(const struct version_floor *floor, char *out, size_t out_len)
{
    char hex[2 * ENVELOPE_HASH_SIZE + 1];
    for (size_t i = 0; i < ENVELOPE_HASH_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", floor->hash[i]);
    int n = snprintf(out, out_len, "%s %d %" PRIu64 " %s\n", VERSION_FLOOR_MAGIC,
                     VERSION_FLOOR_FORMAT, floor->version, hex);
    return n < 0 || (size_t)n >= out_len ? -1 : n;
}

/* The word at *at up to the next space or the end: its length. */
static size_t word_length(const char *at, const char *end)
{
    const char *p = at;
    while (p < end && *p != ' ')
        p++;
    return (size_t)(p - at);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* uppercase too: we write lowercase, so anything else is damage */
}

static int parse_version(const char *word, size_t len, uint64_t *out, char *err, size_t err_len)
{
    if (len == 0 || len > 16 || (len > 1 && word[0] == '0'))
        return error_set(err, err_len, "the version \"%.*s\" is not a whole number", (int)len,
                         word);
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (word[i] < '0' || word[i] > '9')
            return error_set(err, err_len, "the version \"%.*s\" is not a whole number", (int)len,
                             word);
        v = v * 10 + (uint64_t)(word[i] - '0');
    }
    if (v > VERSION_FLOOR_VERSION_MAX)
        return error_set(err, err_len, "the version %" PRIu64 " is above 2^53 - 1", v);
    *out = v;
    return 0;
}

int version_floor_parse(const char *text, size_t len, struct version_floor *floor, char *err,
                        size_t err_len)
{
    memset(floor, 0, sizeof(*floor));
    if (len > 0 && text[len - 1] == '\n')
        len--;
    if (len == 0)
        return error_set(err, err_len, "it is empty");
    if (memchr(text, '\n', len) != NULL || memchr(text, '\0', len) != NULL)
        return error_set(err, err_len, "it is not one line of text");
    const char *end = text + len;
    const char *at = text;
    size_t n = word_length(at, end);
    if (n != strlen(VERSION_FLOOR_MAGIC) || memcmp(at, VERSION_FLOOR_MAGIC, n) != 0)
        return error_set(err, err_len, "it does not start with \"%s \"", VERSION_FLOOR_MAGIC);
    at += n;
    if (at >= end || *at++ != ' ' || (n = word_length(at, end)) == 0)
        return error_set(err, err_len, "the format number is missing");
    if (n != 1 || at[0] != '0' + VERSION_FLOOR_FORMAT)
        return error_set(err, err_len,
                         "format \"%.*s\" is not one this nanodns reads (%d): was it written by "
                         "a newer one?",
                         (int)n, at, VERSION_FLOOR_FORMAT);
    at += n;
    if (at >= end || *at++ != ' ' || (n = word_length(at, end)) == 0)
        return error_set(err, err_len, "the version is missing");
    if (parse_version(at, n, &floor->version, err, err_len) < 0)
        return -1;
    at += n;
    if (at >= end || *at++ != ' ' || (n = word_length(at, end)) == 0)
        return error_set(err, err_len, "the hash is missing");
    if (n != 2 * ENVELOPE_HASH_SIZE)
        return error_set(err, err_len, "the hash is not 64 hex digits");
    for (size_t i = 0; i < ENVELOPE_HASH_SIZE; i++) {
        int hi = hex_value(at[2 * i]), lo = hex_value(at[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return error_set(err, err_len, "the hash is not 64 lowercase hex digits");
        floor->hash[i] = (uint8_t)(hi << 4 | lo);
    }
    at += n;
    if (at != end)
        return error_set(err, err_len, "there is more after the hash");
    return 0;
}

int version_floor_read(const char *path, struct version_floor *floor, char *err, size_t err_len)
{
    memset(floor, 0, sizeof(*floor));
    /* No symbolic link, and no blocking on a FIFO put in its place. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        return error_set(err, err_len, "cannot open it: %s", strerror(errno));
    }
    struct stat st;
    int rc = -1;
    char text[VERSION_FLOOR_TEXT_MAX + 1];
    ssize_t got = 0;
    if (fstat(fd, &st) < 0) {
        error_set(err, err_len, "cannot stat it: %s", strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        error_set(err, err_len, "it is not a regular file");
    } else if (st.st_uid != geteuid() && st.st_uid != 0) {
        /* As STATE/config.json: only what we (or root) wrote is trusted. */
        error_set(err, err_len, "it belongs to uid %ld, neither this user nor root",
                  (long)st.st_uid);
    } else if ((st.st_mode & 022) != 0) {
        error_set(err, err_len, "it is writable by group or others (mode %04o)",
                  (unsigned)(st.st_mode & 07777));
    } else if (st.st_size > VERSION_FLOOR_TEXT_MAX) {
        error_set(err, err_len, "it is %lld octets long, more than one line of it can be",
                  (long long)st.st_size);
    } else {
        /* A regular file: one read up to its size, then EOF. */
        size_t used = 0;
        for (;;) {
            got = read(fd, text + used, sizeof(text) - 1 - used);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0 || (used += (size_t)got) >= sizeof(text) - 1)
                break;
        }
        if (got < 0)
            error_set(err, err_len, "cannot read it: %s", strerror(errno));
        else
            rc = version_floor_parse(text, used, floor, err, err_len);
    }
    close(fd);
    return rc;
}

int version_floor_write(const char *path, const struct version_floor *floor, char *err,
                        size_t err_len)
{
    char text[VERSION_FLOOR_TEXT_MAX];
    int n = version_floor_format(floor, text, sizeof(text));
    if (n < 0)
        return error_set(err, err_len, "the version does not fit in a line");
    return atomic_file_write(path, text, (size_t)n, FLOOR_FILE_MODE, err, err_len);
}

bool version_floor_admits(const struct version_floor *floor, uint64_t version,
                          const uint8_t hash[ENVELOPE_HASH_SIZE])
{
    if (version != floor->version)
        return version > floor->version;
    return memcmp(hash, floor->hash, ENVELOPE_HASH_SIZE) != 0;
}

bool version_floor_is(const struct version_floor *floor, uint64_t version,
                      const uint8_t hash[ENVELOPE_HASH_SIZE])
{
    return version == floor->version && memcmp(hash, floor->hash, ENVELOPE_HASH_SIZE) == 0;
}
