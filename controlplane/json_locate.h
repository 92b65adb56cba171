/* Where things stand in JSON text (json-c keeps no positions): a line and column per finding.
 * A locator borrows the text (the caller keeps it alive) and owns only its line index. */
#ifndef NANODNS_JSON_LOCATE_H
#define NANODNS_JSON_LOCATE_H

#include <stdbool.h>
#include <stddef.h>

/* One component of a path: an object member name (decoded, as json-c hands
 * it out) or, when key is NULL, an array index. */
struct json_locate_step {
    const char *key;
    size_t key_len;
    size_t index;
};

#define JSON_LOCATE_DEPTH 16

/* The offset of the first octet at or after pos that is not JSON
 * whitespace (len when there is none). */
size_t json_skip_whitespace(const char *text, size_t len, size_t pos);

/* Offsets just past the string whose opening quote is at pos, and past the
 * value (string, number, literal, object or array) that starts at pos, in
 * text that passed json_locate_check; len when the text ends first. */
size_t json_skip_string(const char *text, size_t len, size_t pos);
size_t json_skip_value(const char *text, size_t len, size_t pos);

struct json_locator {
    const char *text;
    size_t len;
    /* The last path resolved from the top. Lookups made in document order
     * (records[0].ttl, records[1].name, ...) resume from it, so a whole
     * pass over a large file costs linear time rather than quadratic. */
    struct {
        size_t index;        /* array steps */
        size_t key_offset;   /* object steps: the member name's opening quote */
        size_t value_offset; /* first byte of the value this step reaches */
        bool is_index;
    } cache[JSON_LOCATE_DEPTH];
    size_t cache_depth;
    bool last_found; /* whether the last json_locate reached its whole path */
    /* Lines are counted only when a position is asked for. Calls in
     * document order count on from the last one (the cursor); others start
     * from a sparse index built on first need: per block of
     * JSON_LOCATE_BLOCK octets, the lines before it and where the last of
     * them starts, so one answer never scans more than a block or two. */
    size_t cursor_offset, cursor_line, cursor_line_start; /* line 0-based */
    size_t *block_lines;                                  /* NULL until needed */
    size_t *block_line_starts; /* the start of the line each block begins in */
    size_t block_count;
    bool block_index_failed;
};

#define JSON_LOCATE_BLOCK 4096

/* Check that text is exactly one JSON value as RFC 8259 defines it (json-c
 * lets single quotes, NaN, Infinity, "1." and raw control characters
 * through even in strict mode). Returns 0, or -1 with the offset of the
 * first offending byte and a message. */
int json_locate_check(const char *text, size_t len, size_t *error_offset, const char **message);

/* json_locate_check, telling member (when not NULL) of each member of a
 * top-level object as the check passes it: where its name's quote, its
 * value and the end of its value are. So one pass over the text both
 * checks it and finds its top level, large arrays and all. The calls
 * stand only when the result is 0. */
typedef void json_locate_member_fn(void *context, size_t key_offset, size_t value_offset,
                                   size_t value_end);
int json_locate_check_members(const char *text, size_t len, size_t *error_offset,
                              const char **message, json_locate_member_fn *member, void *context);

/* The locator functions below expect text that json_locate_check accepted. */
void json_locator_init(struct json_locator *loc, const char *text, size_t len);
void json_locator_free(struct json_locator *loc);

/* Offset of the value the path leads to from the top-level value, or of its
 * member name (the opening quote) when at_key. Where the path leads nowhere
 * (a member that is absent), the offset of the deepest value that exists.
 * With duplicate member names the last one counts, as in json-c. */
size_t json_locate(struct json_locator *loc, const struct json_locate_step *path, size_t depth,
                   bool at_key);

/* The same, starting from the value at offset base instead of the top. */
size_t json_locate_from(const struct json_locator *loc, size_t base,
                        const struct json_locate_step *path, size_t depth, bool at_key);

/* json_locate_from, *found telling whether the whole path is there. */
size_t json_locate_within(const struct json_locator *loc, size_t base,
                          const struct json_locate_step *path, size_t depth, bool at_key,
                          bool *found);

/* 1-based line and column (in bytes) of offset: cheap for offsets asked
 * in document order, a block's scan at most for the others. */
void json_locate_line_column(struct json_locator *loc, size_t offset, unsigned *line,
                             unsigned *column);

/* Walk the members of the object whose '{' is at offset: set *cursor to
 * offset, then each call stores the next member name's offset in
 * *key_offset and returns true; false after the last member. */
bool json_locate_next_member(const struct json_locator *loc, size_t *cursor, size_t *key_offset);

/* Decode the JSON string whose opening quote is at offset into out (at most
 * cap octets, not terminated). Returns the decoded length, which may be
 * larger than cap. */
size_t json_locate_decode_string(const struct json_locator *loc, size_t offset, char *out,
                                 size_t cap);

/* Whether the JSON string whose opening quote is at offset holds a NUL
 * character (written \u0000), which a C string would cut short. */
bool json_locate_string_has_nul(const struct json_locator *loc, size_t offset);

#endif
