/* Edits to a config's text that keep its layout (config_version written back); its checksum and
 * digest. Pure functions over caller-owned buffers and trees; results malloc'd, the caller's. */
#ifndef NANODNS_CONFIG_EDIT_H
#define NANODNS_CONFIG_EDIT_H

#include <stddef.h>
#include <stdint.h>

/* Set server.config_version in text[0..len) to version. Where the member
 * is, only its number changes; where it is missing, it is added as the
 * first member of "server" (and "server", when missing, as the first
 * member of the document), with the spacing of the members beside it.
 * text must be a JSON object (a config that validated). Returns 0 with a
 * NUL-terminated copy in *out (its length, without the NUL, in *out_len),
 * or -1 when text is not a JSON object or memory runs out. */
int config_text_set_version(const char *text, size_t len, uint64_t version, char **out,
                            size_t *out_len);

#define CONFIG_CHECKSUM_LEN 16

/* The first 16 hex digits of the SHA-256 of data, as the original shows a
 * config's checksum. */
void config_checksum(const void *data, size_t len, char out[CONFIG_CHECKSUM_LEN + 1]);

/* The same from the SHA-256 of the data, when the caller has it. */
void config_checksum_of_hash(const unsigned char sha256[32], char out[CONFIG_CHECKSUM_LEN + 1]);

struct json_object;

#define CONFIG_DIGEST_SIZE 32

/* What the parsed config root says, as a BLAKE2b-256 digest that leaves
 * out how it is written and its version: two texts differing only in
 * white space, member order, string escapes or server.config_version (a
 * "server" holding nothing else counts as absent) have the same digest.
 * Anything else that differs (a value, a number's type: 300 and 300.0, an
 * explicit default) changes it. Out of memory, out is random, so it
 * matches nothing. */
void config_digest(struct json_object *root, uint8_t out[CONFIG_DIGEST_SIZE]);

/* A top-level array ("records", "rewrites") digested element by element,
 * as config_digest digests it, so that a loader never holds the whole
 * array. begin, add each element in order, end (which frees the state). */
struct config_array_digest {
    void *state; /* NULL when memory ran out: the digest is then random */
    size_t count;
};
void config_array_digest_begin(struct config_array_digest *d);
void config_array_digest_add(struct config_array_digest *d, struct json_object *element);
void config_array_digest_end(struct config_array_digest *d, uint8_t out[CONFIG_DIGEST_SIZE]);

/* config_digest of root, where the root members named in parts hold
 * placeholders for arrays already digested (config_array_digest). */
struct config_digest_part {
    const char *name;
    const uint8_t *digest;
};
void config_digest_parts(struct json_object *root, const struct config_digest_part *parts,
                         size_t part_count, uint8_t out[CONFIG_DIGEST_SIZE]);

#endif
