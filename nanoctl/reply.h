/* The API's answers as nanoctl reads them: fields may be missing or of another type (an older
 * node), so each reader says whether it found one. Results point into the caller's object. */
#ifndef NANOCTL_REPLY_H
#define NANOCTL_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* body[0..len) as a JSON object (the caller puts it), or NULL. */
struct json_object *reply_parse(const char *body, size_t len);

/* obj's member key of any type, or NULL (obj may be NULL). */
struct json_object *reply_field(struct json_object *obj, const char *key);

/* A number, integer or not. */
bool reply_number(struct json_object *obj, const char *key, double *out);

/* Counters and versions: unsigned 64-bit integers in the API. */
bool reply_count(struct json_object *obj, const char *key, uint64_t *out);

/* A string, or NULL. */
const char *reply_string(struct json_object *obj, const char *key);

/* 1 or 0; -1 when absent or not a boolean. */
int reply_bool(struct json_object *obj, const char *key);

/* An object, or NULL. */
struct json_object *reply_object(struct json_object *obj, const char *key);

#endif
