/* Unit tests of controlplane/json_locate.c: skipping values, the syntax check's pass over the
 * top level, and lines and columns counted only when asked for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_locate.h"

static void test_skip_value_steps_over_escaped_backslashes(void **state)
{
    (void)state;
    const char *text = "[\"a\\\\\", \"b\\\"]\", {\"c\": \"\\\\\\\"\"}] tail";
    assert_int_equal(json_skip_value(text, strlen(text), 0), strlen(text) - 5);
    assert_int_equal(json_skip_string(text, strlen(text), 1), 6);
}

static void naive_line_column(const char *text, size_t offset, unsigned *line, unsigned *column)
{
    unsigned l = 1;
    size_t start = 0;
    for (size_t i = 0; i < offset; i++)
        if (text[i] == '\n') {
            l++;
            start = i + 1;
        }
    *line = l;
    *column = (unsigned)(offset - start + 1);
}

static void test_line_and_column_in_any_order_match_a_count(void **state)
{
    (void)state;
    /* lines of varied length over many blocks, and one line longer than a block */
    size_t len = 0, cap = 40 * JSON_LOCATE_BLOCK;
    char *text = malloc(cap);
    assert_non_null(text);
    for (unsigned i = 0; len + 3 * JSON_LOCATE_BLOCK < cap; i++) {
        size_t n = i == 50 ? 3 * JSON_LOCATE_BLOCK : i % 97;
        memset(text + len, ' ', n);
        len += n;
        text[len++] = '\n';
    }
    struct json_locator loc;
    json_locator_init(&loc, text, len);
    size_t offsets[] = {0,
                        1,
                        5,
                        100,
                        4095,
                        4096,
                        4097,
                        9000,
                        20000,
                        7,
                        len - 1,
                        len,
                        30000,
                        12,
                        3 * JSON_LOCATE_BLOCK + 5,
                        2 * JSON_LOCATE_BLOCK,
                        len / 2};
    for (size_t k = 0; k < sizeof(offsets) / sizeof(offsets[0]); k++) {
        unsigned line, column, want_line, want_column;
        json_locate_line_column(&loc, offsets[k], &line, &column);
        naive_line_column(text, offsets[k], &want_line, &want_column);
        assert_int_equal(line, want_line);
        assert_int_equal(column, want_column);
    }
    /* in document order, every offset */
    for (size_t o = 0; o <= len; o += 37) {
        unsigned line, column, want_line, want_column;
        json_locate_line_column(&loc, o, &line, &column);
        naive_line_column(text, o, &want_line, &want_column);
        assert_int_equal(line, want_line);
        assert_int_equal(column, want_column);
    }
    json_locator_free(&loc);
    free(text);
}

static void test_column_on_one_long_line(void **state)
{
    (void)state;
    size_t len = 10 * JSON_LOCATE_BLOCK;
    char *text = malloc(len);
    assert_non_null(text);
    memset(text, ' ', len);
    struct json_locator loc;
    json_locator_init(&loc, text, len);
    unsigned line, column;
    json_locate_line_column(&loc, len - 1, &line, &column);
    assert_int_equal(line, 1);
    assert_int_equal(column, len);
    json_locate_line_column(&loc, 3, &line, &column);
    assert_int_equal(column, 4);
    json_locator_free(&loc);
    free(text);
}

struct member_seen {
    size_t count;
    size_t key[4], value[4], end[4];
};

static void member_record(void *context, size_t key, size_t value, size_t end)
{
    struct member_seen *m = context;
    if (m->count < 4) {
        m->key[m->count] = key;
        m->value[m->count] = value;
        m->end[m->count] = end;
    }
    m->count++;
}

static void test_check_names_each_top_level_member_and_its_value(void **state)
{
    (void)state;
    const char *text = "{\"a\": [1, {\"b\": \"]\"}] , \"c\":{}, \"d\" : 5}";
    struct member_seen m = {0};
    size_t bad;
    const char *why;
    assert_int_equal(json_locate_check_members(text, strlen(text), &bad, &why, member_record, &m),
                     0);
    assert_int_equal(m.count, 3);
    assert_int_equal(m.key[0], 1);
    assert_int_equal(m.value[0], 6);
    assert_int_equal(m.end[0], 21);
    assert_int_equal(m.key[1], 24);
    assert_int_equal(m.value[1], 28);
    assert_int_equal(m.end[1], 30);
    assert_int_equal(m.value[2], 38);
    assert_int_equal(m.end[2], 39);
}

static void test_check_of_a_top_level_array_names_no_member(void **state)
{
    (void)state;
    const char *text = "[{\"a\": 1}]";
    struct member_seen m = {0};
    size_t bad;
    const char *why;
    assert_int_equal(json_locate_check_members(text, strlen(text), &bad, &why, member_record, &m),
                     0);
    assert_int_equal(m.count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skip_value_steps_over_escaped_backslashes),
        cmocka_unit_test(test_check_names_each_top_level_member_and_its_value),
        cmocka_unit_test(test_check_of_a_top_level_array_names_no_member),
        cmocka_unit_test(test_line_and_column_in_any_order_match_a_count),
        cmocka_unit_test(test_column_on_one_long_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
