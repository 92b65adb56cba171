/* The version floor: the highest config version accepted and its SHA-256, in STATE/version.
 * Plain values and file I/O, no process state: struct node holds the one in force. */
#ifndef NANODNS_VERSION_FLOOR_H
#define NANODNS_VERSION_FLOOR_H

/* Why a file of its own: STATE/config.json keeps the last config in force,
 * and a restart on an older file serves it; but when it is lost (deleted,
 * corrupt, a fresh volume with an old ConfigMap) the version it carried was
 * the only memory of what the node had accepted, and a signed envelope
 * older than that would be taken again. This small file keeps that
 * promise on its own: it is written (atomically, durably) before any new
 * version is published or acknowledged, read at start, and never lowered.
 *
 * The file is one line of text:
 *
 *     nanodns-version 1 <version> <hash>\n
 *
 * "nanodns-version" names the file, 1 is the format of the line,
 * <version> the config_version in decimal (0 to 2^53 - 1, no sign, no
 * leading zero), <hash> the 64 lowercase hex digits of the SHA-256 of the
 * config text accepted at that version (envelope_config_hash: the hash a
 * push carries and GET /health shows). The final newline may be missing;
 * nothing else is accepted (no other spacing, no comment, one line), so
 * that a damaged file is told from a good one. A format other than 1 is
 * refused as unknown: a newer nanodns may have written it. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

/* In the state directory, beside config.json and zone.img. */
#define VERSION_FLOOR_FILE_NAME "version"
#define VERSION_FLOOR_MAGIC "nanodns-version"
#define VERSION_FLOOR_FORMAT 1
/* As server.config_version (config_server.c): 2^53 - 1 at most. */
#define VERSION_FLOOR_VERSION_MAX ((UINT64_C(1) << 53) - 1)
/* The longest good line, with its newline: magic, format, 16 digits, 64 hex digits. */
#define VERSION_FLOOR_TEXT_MAX 128

struct version_floor {
    uint64_t version;
    uint8_t hash[ENVELOPE_HASH_SIZE];
};

/* The file's line for floor, NUL-terminated, into out (VERSION_FLOOR_TEXT_MAX
 * octets are enough). Returns its length without the NUL, or -1 when out is
 * too small. */
int version_floor_format(const struct version_floor *floor, char *out, size_t out_len);

/* text[0..len) as the file's line: 0, or -1 with what is wrong in err. */
int version_floor_parse(const char *text, size_t len, struct version_floor *floor, char *err,
                        size_t err_len);

/* Read the file at path: 0 when read, 1 when there is none (a first start,
 * or a state directory from a nanodns without it), -1 with why in err when
 * it is there but cannot be trusted: unreadable, not a regular file (a
 * symbolic link is not followed), owned by a user other than ours or root,
 * writable by group or others, or not a good line. */
int version_floor_read(const char *path, struct version_floor *floor, char *err, size_t err_len);

/* Replace the file at path with floor's line: temporary file, fsync, rename,
 * fsync of the directory (atomic_file_write), mode 0600. 0, or -1 with why. */
int version_floor_write(const char *path, const struct version_floor *floor, char *err,
                        size_t err_len);

/* Whether a config of version with hash may replace floor as the one
 * accepted: a higher version, or the same version with another hash (two
 * edits of one version settle on one config, sync_compare; the winner
 * replaces the loser). Never a lower version. */
bool version_floor_admits(const struct version_floor *floor, uint64_t version,
                          const uint8_t hash[ENVELOPE_HASH_SIZE]);

/* Whether floor says exactly version and hash. */
bool version_floor_is(const struct version_floor *floor, uint64_t version,
                      const uint8_t hash[ENVELOPE_HASH_SIZE]);

#endif
