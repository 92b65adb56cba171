/* Edits to a config's text that keep the operator's layout (a reload
 * writes server.config_version back into the file), and the checksum a
 * config is shown with. Pure functions over caller-owned buffers; results
 * are malloc'd and owned by the caller. */
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

#endif
