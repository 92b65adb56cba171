/* nanoctl/http_response.c: reading the API's answer from a buffer that is
 * not NUL-terminated. Inputs sit at the very end of a readable page, just
 * before an inaccessible one, so a scan one octet too far crashes the test
 * (issue 12, finding 11) without valgrind or a sanitizer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "http_response.h"

#define GUARDED_MAX (64u * 1024)

static char *region;
static size_t region_len, page;

static int setup(void **state)
{
    (void)state;
    page = (size_t)sysconf(_SC_PAGESIZE);
    size_t readable = (GUARDED_MAX + page - 1) / page * page;
    region_len = readable + page;
    region = mmap(NULL, region_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        return -1;
    return mprotect(region + readable, page, PROT_NONE);
}

static int teardown(void **state)
{
    (void)state;
    return munmap(region, region_len);
}

/* text copied so that its last octet is the last readable one. */
static const char *guarded(const char *text, size_t len)
{
    assert_true(len <= GUARDED_MAX);
    char *at = region + (region_len - page) - len;
    memcpy(at, text, len);
    return at;
}

static enum http_parse_result parse(const char *text, size_t len, bool eof,
                                    struct http_response *out, char *err)
{
    return http_response_parse(guarded(text, len), len, eof, out, err, 256);
}

static void test_answer_filling_the_buffer_exactly_is_read_within_it(void **state)
{
    (void)state;
    /* 8,192 octets, no NUL anywhere: nanoctl's first read buffer, full. */
    static char text[8192];
    static const char head[] = "HTTP/1.0 200 OK\r\nContent-Length: 8151\r\n\r\n";
    memset(text, 'x', sizeof(text));
    memcpy(text, head, sizeof(head) - 1);
    struct http_response out;
    char err[256] = "";
    assert_int_equal(parse(text, sizeof(text), false, &out, err), HTTP_PARSE_DONE);
    assert_int_equal(out.status, 200);
    assert_int_equal(out.body_len, 8192 - (sizeof(head) - 1));
    http_response_free(&out);
}

static void test_status_line_alone_at_the_buffer_end_is_read_within_it(void **state)
{
    (void)state;
    static const char text[] = "HTTP/1.1 503\n\n";
    struct http_response out;
    char err[256] = "";
    assert_int_equal(parse(text, sizeof(text) - 1, true, &out, err), HTTP_PARSE_DONE);
    assert_int_equal(out.status, 503);
    assert_int_equal(out.body_len, 0);
    http_response_free(&out);
}

static void test_content_length_followed_by_blanks_is_read_within_the_line(void **state)
{
    (void)state;
    /* strtoull would skip the line ends and the body's blanks to the end. */
    static const char text[] = "HTTP/1.0 200 OK\r\nContent-Length: \r\n\r\n     ";
    struct http_response out;
    char err[256] = "";
    assert_int_equal(parse(text, sizeof(text) - 1, false, &out, err), HTTP_PARSE_ERROR);
    assert_string_equal(err, "the answer has a malformed Content-Length");
}

static void test_body_ends_at_content_length(void **state)
{
    (void)state;
    static const char text[] = "HTTP/1.0 200 OK\r\ncontent-length:  4 \r\n\r\n{}\n\nnext";
    struct http_response out;
    char err[256] = "";
    assert_int_equal(parse(text, sizeof(text) - 1, false, &out, err), HTTP_PARSE_DONE);
    assert_int_equal(out.body_len, 4);
    assert_string_equal(out.body, "{}\n\n");
    http_response_free(&out);
}

static void test_body_without_length_ends_when_the_server_closes(void **state)
{
    (void)state;
    static const char text[] = "HTTP/1.0 404 Not Found\n\nnope";
    struct http_response out;
    char err[256] = "";
    assert_int_equal(parse(text, sizeof(text) - 1, false, &out, err), HTTP_PARSE_MORE);
    assert_int_equal(parse(text, sizeof(text) - 1, true, &out, err), HTTP_PARSE_DONE);
    assert_int_equal(out.status, 404);
    assert_string_equal(out.body, "nope");
    http_response_free(&out);
}

static void test_short_body_at_close_is_an_error(void **state)
{
    (void)state;
    static const char text[] = "HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    struct http_response out;
    char err[256] = "";
    assert_int_equal(parse(text, sizeof(text) - 1, true, &out, err), HTTP_PARSE_ERROR);
    assert_string_equal(err, "the connection closed in the middle of the answer");
}

static void test_incomplete_head_asks_for_more(void **state)
{
    (void)state;
    static const char text[] = "HTTP/1.0 200 OK\r\nContent-Le";
    struct http_response out;
    char err[256] = "";
    assert_int_equal(parse(text, sizeof(text) - 1, false, &out, err), HTTP_PARSE_MORE);
    assert_int_equal(parse(text, 3, false, &out, err), HTTP_PARSE_MORE);
}

static void test_other_protocols_are_not_http(void **state)
{
    (void)state;
    struct http_response out;
    char err[256] = "";
    assert_int_equal(parse("\x00\x1c\x12\x34\x81", 5, false, &out, err), HTTP_PARSE_ERROR);
    assert_string_equal(err, "the answer is not HTTP (wrong port?)");
    assert_int_equal(parse("HTTP/x.0 200 OK\n\n", 17, false, &out, err), HTTP_PARSE_ERROR);
    assert_int_equal(parse("HTTP/1.0 2000 OK\n\n", 18, false, &out, err), HTTP_PARSE_ERROR);
    assert_int_equal(parse("HTTP/1.0 099 OK\n\n", 17, false, &out, err), HTTP_PARSE_ERROR);
}

static void test_transfer_coding_is_refused(void **state)
{
    (void)state;
    static const char text[] = "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    struct http_response out;
    char err[256] = "";
    assert_int_equal(parse(text, sizeof(text) - 1, false, &out, err), HTTP_PARSE_ERROR);
}

static void test_content_length_above_the_limit_is_refused(void **state)
{
    (void)state;
    static const char text[] =
        "HTTP/1.0 200 OK\r\nContent-Length: 99999999999999999999999999\r\n\r\n";
    struct http_response out;
    char err[256] = "";
    assert_int_equal(parse(text, sizeof(text) - 1, false, &out, err), HTTP_PARSE_ERROR);
    assert_non_null(strstr(err, "larger than"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_filling_the_buffer_exactly_is_read_within_it),
        cmocka_unit_test(test_status_line_alone_at_the_buffer_end_is_read_within_it),
        cmocka_unit_test(test_content_length_followed_by_blanks_is_read_within_the_line),
        cmocka_unit_test(test_body_ends_at_content_length),
        cmocka_unit_test(test_body_without_length_ends_when_the_server_closes),
        cmocka_unit_test(test_short_body_at_close_is_an_error),
        cmocka_unit_test(test_incomplete_head_asks_for_more),
        cmocka_unit_test(test_other_protocols_are_not_http),
        cmocka_unit_test(test_transfer_coding_is_refused),
        cmocka_unit_test(test_content_length_above_the_limit_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
