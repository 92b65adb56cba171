/* The elements of a JSON array in text, each parsed on its own by json-c, so that no tree of a
 * large array is ever held. A scanner borrows the text (the caller keeps it) and owns its tokener.
 */
#ifndef NANODNS_JSON_ELEMENTS_H
#define NANODNS_JSON_ELEMENTS_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct json_tokener;

/* Walks the array whose '[' is at an offset of text, handing out each
 * element parsed on its own by json-c (strict mode, UTF-8 checked) so that
 * no tree of the whole array is ever held. Borrows the text; owns its
 * tokener. Elements are nested depth levels deep in their document (1 for
 * the elements of a top-level array), so json-c's depth limit applies as
 * it would to the whole document. With strict, each element also passes
 * json_locate_check (what json-c's strict mode lets through); without it,
 * the caller has checked the whole text. */
struct json_elements {
    const char *text;
    size_t len;
    size_t pos;   /* where the next element, a separator or the ']' is looked for */
    size_t index; /* elements handed out so far */
    bool strict, done;
    struct json_tokener *tok;
    size_t error_offset;       /* after -1: where the text is wrong */
    const char *error_message; /* after -1: what is wrong (static text) */
};

/* Returns 0, or -1 when there is no '[' at array_offset or memory runs out
 * (error_offset and error_message set; json_elements_end is still due). */
int json_elements_begin(struct json_elements *it, const char *text, size_t len, size_t array_offset,
                        int depth, bool strict);

/* The next element: 1 with it in *element (the caller puts it; NULL for a
 * JSON null) and its offset in *offset; 0 after the last one, it->pos
 * then just past the ']'; -1 on a syntax error (error_offset,
 * error_message), after which it stays at -1. */
int json_elements_next(struct json_elements *it, struct json_object **element, size_t *offset);

void json_elements_end(struct json_elements *it);

/* Parse the one value at text[offset..) with json-c (strict mode, UTF-8
 * checked), nested depth levels deep in its document: 0 with it in *value
 * (the caller puts it) and the offset just past it in *end, or -1 with
 * *error_offset and *message (json-c's description). */
int json_parse_value_at(const char *text, size_t len, size_t offset, int depth,
                        struct json_object **value, size_t *end, size_t *error_offset,
                        const char **message);

#endif
