/* Unit tests of controlplane/json_elements.c: the elements of an array, each parsed on its own
 * by json-c, with errors at their offsets; one value parsed at an offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "json_elements.h"
#include "json_locate.h"

/* The elements of the array at the start of text, strict: how many, and
 * the result of the last json_elements_next. */
struct scan {
    size_t count;
    int last;
    size_t error_offset;
    const char *error_message;
    size_t end; /* it.pos after the last element */
};

static struct scan scan_text(const char *text, size_t len, bool strict,
                             struct json_object **keep_first)
{
    struct json_elements it;
    struct scan s = {0};
    size_t start = json_skip_whitespace(text, len, 0);
    s.last = json_elements_begin(&it, text, len, start, 1, strict);
    struct json_object *element;
    size_t offset;
    while (s.last == 0 && (s.last = json_elements_next(&it, &element, &offset)) == 1) {
        if (s.count == 0 && keep_first)
            *keep_first = element;
        else
            json_object_put(element);
        s.count++;
        s.last = 0;
    }
    s.error_offset = it.error_offset;
    s.error_message = it.error_message;
    s.end = it.pos;
    json_elements_end(&it);
    return s;
}

static struct scan scan(const char *text)
{
    return scan_text(text, strlen(text), true, NULL);
}

static void test_elements_of_an_empty_array(void **state)
{
    (void)state;
    struct scan s = scan(" [ ] ");
    assert_int_equal(s.last, 0);
    assert_int_equal(s.count, 0);
    assert_int_equal(s.end, 4);
}

static void test_elements_hold_escaped_quotes_and_brackets_in_strings(void **state)
{
    (void)state;
    const char *text = "[{\"a\": \"x\\\"]}[\\\\\", \"b\": [\"]\", \"{\"]}, \"\\\\\", \"q\\\"\"]";
    struct json_object *first = NULL;
    struct scan s = scan_text(text, strlen(text), true, &first);
    assert_int_equal(s.last, 0);
    assert_int_equal(s.count, 3);
    assert_int_equal(s.end, strlen(text));
    struct json_object *a;
    assert_true(json_object_object_get_ex(first, "a", &a));
    assert_string_equal(json_object_get_string(a), "x\"]}[\\");
    json_object_put(first);
}

static void test_elements_of_every_type(void **state)
{
    (void)state;
    struct scan s = scan("[1, -2.5e3, true, false, null, \"s\", [], {}, [[1], {\"k\": [2]}]]");
    assert_int_equal(s.last, 0);
    assert_int_equal(s.count, 9);
}

static void test_number_last_in_a_truncated_array_is_an_end_of_input(void **state)
{
    (void)state;
    struct scan s = scan("[1, 2");
    assert_int_equal(s.last, -1);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.error_offset, 5);
    assert_string_equal(s.error_message, "unexpected end of input");
}

static void test_truncated_element_is_an_end_of_input(void **state)
{
    (void)state;
    struct scan s = scan("[{\"a\": 1}, {\"b\": [1, ");
    assert_int_equal(s.last, -1);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.error_offset, strlen("[{\"a\": 1}, {\"b\": [1, "));
    assert_string_equal(s.error_message, "unexpected end of input");
}

static void test_truncated_string_is_an_end_of_input(void **state)
{
    (void)state;
    struct scan s = scan("[\"abc");
    assert_int_equal(s.last, -1);
    assert_string_equal(s.error_message, "unexpected end of input");
}

static void test_trailing_comma_is_refused_at_the_bracket(void **state)
{
    (void)state;
    struct scan s = scan("[1, 2, ]");
    assert_int_equal(s.last, -1);
    assert_int_equal(s.count, 2);
    assert_int_equal(s.error_offset, 7);
    assert_string_equal(s.error_message, "trailing comma");
}

static void test_missing_comma_is_refused_where_it_belongs(void **state)
{
    (void)state;
    struct scan s = scan("[1 2]");
    assert_int_equal(s.last, -1);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.error_offset, 3);
    assert_string_equal(s.error_message, "expected ',' or ']'");
}

static void test_garbage_after_the_array_is_left_to_the_caller(void **state)
{
    (void)state;
    /* the scanner stops just past ']': what follows is not its business */
    struct scan s = scan("[1] x");
    assert_int_equal(s.last, 0);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.end, 3);
}

static void test_strict_elements_refuse_what_json_c_lets_through(void **state)
{
    (void)state;
    struct scan s = scan("[{\"a\": 1}, {'b': 2}]");
    assert_int_equal(s.last, -1);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.error_offset, 12);
    assert_string_equal(s.error_message, "strings must be in double quotes");
}

static void test_json_c_error_inside_an_element_is_at_its_offset(void **state)
{
    (void)state;
    /* json-c stops at the 2 where the ':' should be */
    struct scan s = scan("[{\"a\": 1},\n {\"b\" 2}]");
    assert_int_equal(s.last, -1);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.error_offset, 17);
    assert_string_equal(s.error_message, "object property name separator ':' expected");
}

static void test_nesting_limit_counts_the_arrays_own_depth(void **state)
{
    (void)state;
    /* json-c's default limit is 32 levels, the array's own included:
     * elements of a top-level array may nest 31 deep, not 32 */
    char text[128];
    size_t n = 0;
    text[n++] = '[';
    for (int i = 0; i < 31; i++)
        text[n++] = '[';
    for (int i = 0; i < 31; i++)
        text[n++] = ']';
    text[n++] = ']';
    assert_int_equal(scan_text(text, n, true, NULL).last, 0);
    n = 0;
    text[n++] = '[';
    for (int i = 0; i < 32; i++)
        text[n++] = '[';
    for (int i = 0; i < 32; i++)
        text[n++] = ']';
    text[n++] = ']';
    struct scan s = scan_text(text, n, true, NULL);
    assert_int_equal(s.last, -1);
    assert_string_equal(s.error_message, "nesting too deep");
}

static void test_huge_array_is_scanned_element_by_element(void **state)
{
    (void)state;
    enum { ELEMENTS = 1000000 };
    size_t cap = (size_t)ELEMENTS * 16 + 8, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    text[len++] = '[';
    for (int i = 0; i < ELEMENTS; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s{\"i\": %d}", i ? ",\n" : "", i);
    text[len++] = ']';
    struct scan s = scan_text(text, len, false, NULL);
    assert_int_equal(s.last, 0);
    assert_int_equal(s.count, ELEMENTS);
    assert_int_equal(s.end, len);
    free(text);
}

static void test_value_at_an_offset_parses_a_number_at_the_end(void **state)
{
    (void)state;
    const char *text = "{\"a\": 12";
    struct json_object *v = NULL;
    size_t end, bad;
    const char *why;
    assert_int_equal(json_parse_value_at(text, strlen(text), 6, 1, &v, &end, &bad, &why), 0);
    assert_int_equal(json_object_get_int(v), 12);
    assert_int_equal(end, 8);
    json_object_put(v);
}

/* Line and column the slow way. */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elements_of_an_empty_array),
        cmocka_unit_test(test_elements_hold_escaped_quotes_and_brackets_in_strings),
        cmocka_unit_test(test_elements_of_every_type),
        cmocka_unit_test(test_number_last_in_a_truncated_array_is_an_end_of_input),
        cmocka_unit_test(test_truncated_element_is_an_end_of_input),
        cmocka_unit_test(test_truncated_string_is_an_end_of_input),
        cmocka_unit_test(test_trailing_comma_is_refused_at_the_bracket),
        cmocka_unit_test(test_missing_comma_is_refused_where_it_belongs),
        cmocka_unit_test(test_garbage_after_the_array_is_left_to_the_caller),
        cmocka_unit_test(test_strict_elements_refuse_what_json_c_lets_through),
        cmocka_unit_test(test_json_c_error_inside_an_element_is_at_its_offset),
        cmocka_unit_test(test_nesting_limit_counts_the_arrays_own_depth),
        cmocka_unit_test(test_huge_array_is_scanned_element_by_element),
        cmocka_unit_test(test_value_at_an_offset_parses_a_number_at_the_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
