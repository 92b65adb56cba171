/* libFuzzer target for the query path: wire_parse_query on any bytes, then,
 * for a good query, what the answer code does with its qname (compressed
 * writes into a response, text round trip). Crashes, sanitizer reports and
 * the abort()s below on a broken invariant are all findings. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define RESPONSE_MAX 1232

/* Write name compressed at *pos, then read it back: it must be the same name. */
static void write_and_check(uint8_t *response, size_t cap, size_t *pos, const uint8_t *name,
                            size_t name_len, struct wire_compressor *c)
{
    size_t before = *pos;
    unsigned count = c->count;
    if (wire_name_write(response, cap, pos, name, name_len, c) < 0) {
        if (*pos != before || c->count != count)
            abort();
        return;
    }
    if (*pos <= before || *pos > cap)
        abort();

    uint8_t parsed[WIRE_NAME_MAX];
    size_t parsed_len = 0;
    size_t off = before;
    if (wire_name_parse(response, *pos, &off, parsed, &parsed_len) < 0)
        abort();
    if (off != *pos || !wire_name_equal(parsed, parsed_len, name, name_len))
        abort();
}

static void check_text_round_trip(const uint8_t *name, size_t name_len)
{
    char text[WIRE_NAME_MAX * 4 + 1]; /* every octet as \DDD at worst */
    int text_len = wire_name_to_text(name, name_len, text, sizeof(text));
    if (text_len < 0 || (size_t)text_len != strlen(text))
        abort();

    uint8_t back[WIRE_NAME_MAX];
    size_t back_len = 0;
    char err[256];
    if (wire_name_from_text(text, back, &back_len, err, sizeof(err)) < 0)
        abort();
    if (back_len != name_len || memcmp(back, name, name_len) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wire_query q;
    enum wire_verdict verdict = wire_parse_query(data, size, &q);

    if (q.qname_len > 0) {
        if (!wire_name_valid(q.qname_lower, q.qname_len))
            abort();
        if (q.question_end > size || q.question_end != WIRE_HEADER_SIZE + q.qname_len + 4u)
            abort();
    }
    if (verdict != WIRE_QUERY_OK)
        return 0;

    check_text_round_trip(q.qname_lower, q.qname_len);

    /* A response as the answer code builds it: header, the question as sent
     * at offset 12 and remembered, then names that compress against it. */
    uint8_t response[RESPONSE_MAX];
    size_t question_len = q.question_end - WIRE_HEADER_SIZE;
    memcpy(response, data, WIRE_HEADER_SIZE);
    memcpy(response + WIRE_HEADER_SIZE, data + WIRE_HEADER_SIZE, question_len);
    size_t pos = q.question_end;
    struct wire_compressor c;
    wire_compressor_init(&c);
    wire_compressor_add(&c, response, WIRE_HEADER_SIZE);

    /* the qname itself (any case) must become one pointer to the question */
    size_t at = pos;
    write_and_check(response, sizeof(response), &pos, q.qname_lower, q.qname_len, &c);
    if (q.qname_len > 1 && (pos - at != 2 || wire_get16(response + at) != 0xC000 + 12))
        abort();

    /* a name one label longer, then every suffix of it: each must compress */
    uint8_t longer[WIRE_NAME_MAX];
    size_t longer_len = q.qname_len + 4;
    if (longer_len <= WIRE_NAME_MAX) {
        memcpy(longer, "\3Mx1", 4);
        memcpy(longer + 4, q.qname_lower, q.qname_len);
        write_and_check(response, sizeof(response), &pos, longer, longer_len, &c);
        write_and_check(response, sizeof(response), &pos, longer, longer_len, &c);
    }
    uint8_t starts[WIRE_LABELS_MAX];
    unsigned labels = wire_name_labels(q.qname_lower, q.qname_len, starts);
    for (unsigned i = 0; i < labels; i++) {
        write_and_check(response, sizeof(response), &pos, q.qname_lower + starts[i],
                        q.qname_len - starts[i], &c);
    }

    /* the rest of the input, read as names, written into a tight buffer
     * to reach the does-not-fit and table-full paths */
    size_t in = q.question_end;
    size_t cap = pos + (size > in ? data[in] : 0);
    if (cap > sizeof(response))
        cap = sizeof(response);
    for (unsigned rounds = 0; rounds < 80; rounds++) {
        uint8_t name[WIRE_NAME_MAX];
        size_t name_len = 0;
        size_t next = in + 1;
        if (next >= size || wire_name_parse(data, size, &next, name, &name_len) < 0)
            break;
        write_and_check(response, cap, &pos, name, name_len, &c);
        in = next;
    }
    return 0;
}
