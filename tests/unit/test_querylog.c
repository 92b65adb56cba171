/* Unit tests for dataplane/querylog.c: the line formats (text and JSON
 * Lines) and the buffer that goes out in one write per flush, which drops
 * and counts lines rather than wait for a slow reader. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "querylog.h"
#include "wire.h"

static size_t name_wire(const char *text, uint8_t *out)
{
    size_t len;
    char err[128];
    if (wire_name_from_text(text, out, &len, err, sizeof err) < 0)
        fail_msg("bad name %s: %s", text, err);
    return len;
}

static struct querylog_entry entry_for(const struct sockaddr *client, const uint8_t *qname,
                                       size_t qname_len)
{
    /* 2026-11-26T10:00:00.123Z */
    return (struct querylog_entry){.time_ms = 1795687200123ull,
                                   .client = client,
                                   .qname = qname,
                                   .qname_len = qname_len,
                                   .qtype = WIRE_TYPE_A,
                                   .rcode = WIRE_RCODE_NOERROR,
                                   .source = ANSWER_SOURCE_UPSTREAM,
                                   .latency_ns = 1234567};
}

static struct sockaddr_in loopback_client(void)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(53124)};
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    return in;
}

static void test_log_line_in_text(void **state)
{
    (void)state;
    struct sockaddr_in client = loopback_client();
    uint8_t name[WIRE_NAME_MAX];
    size_t len = name_wire("www.example.com", name);
    struct querylog_entry e = entry_for((struct sockaddr *)&client, name, len);
    char line[QUERYLOG_LINE_MAX];
    size_t n = querylog_format(&e, QUERYLOG_TEXT, line, sizeof line);
    assert_int_equal(n, strlen(line));
    assert_string_equal(line, "2026-11-26T10:00:00.123Z 127.0.0.1#53124 www.example.com. A "
                              "NOERROR upstream 1.234ms\n");
}

static void test_log_line_in_json(void **state)
{
    (void)state;
    struct sockaddr_in client = loopback_client();
    uint8_t name[WIRE_NAME_MAX];
    size_t len = name_wire("www.example.com", name);
    struct querylog_entry e = entry_for((struct sockaddr *)&client, name, len);
    char line[QUERYLOG_LINE_MAX];
    querylog_format(&e, QUERYLOG_JSON, line, sizeof line);
    assert_string_equal(line,
                        "{\"time\":\"2026-11-26T10:00:00.123Z\",\"client\":\"127.0.0.1#53124\","
                        "\"qname\":\"www.example.com.\",\"qtype\":\"A\",\"rcode\":\"NOERROR\","
                        "\"source\":\"upstream\",\"latency_ms\":1.234}\n");
}

static void test_log_json_escapes_backslashes_and_quotes_in_names(void **state)
{
    (void)state;
    struct sockaddr_in client = loopback_client();
    const uint8_t name[] = "\004a\"b.\003com"; /* labels: a"b. and com */
    struct querylog_entry e = entry_for((struct sockaddr *)&client, name, sizeof name);
    char line[QUERYLOG_LINE_MAX];
    querylog_format(&e, QUERYLOG_JSON, line, sizeof line);
    assert_non_null(strstr(line, "\"qname\":\"a\\\"b\\\\..com.\""));
}

static void test_log_names_the_root_with_one_dot(void **state)
{
    (void)state;
    struct sockaddr_in client = loopback_client();
    const uint8_t root[] = {0};
    struct querylog_entry e = entry_for((struct sockaddr *)&client, root, 1);
    e.qtype = WIRE_TYPE_NS;
    e.source = ANSWER_SOURCE_CACHE;
    char line[QUERYLOG_LINE_MAX];
    querylog_format(&e, QUERYLOG_TEXT, line, sizeof line);
    assert_non_null(strstr(line, " . NS NOERROR cache "));
}

static void test_log_without_a_question_writes_dashes_and_nulls(void **state)
{
    (void)state;
    struct sockaddr_in client = loopback_client();
    struct querylog_entry e = entry_for((struct sockaddr *)&client, NULL, 0);
    e.rcode = WIRE_RCODE_FORMERR;
    e.source = ANSWER_SOURCE_ERROR;
    char line[QUERYLOG_LINE_MAX];
    querylog_format(&e, QUERYLOG_TEXT, line, sizeof line);
    assert_non_null(strstr(line, " 127.0.0.1#53124 - - FORMERR error "));
    querylog_format(&e, QUERYLOG_JSON, line, sizeof line);
    assert_non_null(strstr(line, "\"qname\":null,\"qtype\":null,\"rcode\":\"FORMERR\""));
}

static void test_log_writes_ipv6_clients_and_unknown_types(void **state)
{
    (void)state;
    struct sockaddr_in6 client = {.sin6_family = AF_INET6, .sin6_port = htons(5353)};
    inet_pton(AF_INET6, "::1", &client.sin6_addr);
    uint8_t name[WIRE_NAME_MAX];
    size_t len = name_wire("x.example", name);
    struct querylog_entry e = entry_for((struct sockaddr *)&client, name, len);
    e.qtype = 65534;
    e.rcode = 12;
    e.source = ANSWER_SOURCE_REFUSED;
    e.latency_ns = 0;
    char line[QUERYLOG_LINE_MAX];
    querylog_format(&e, QUERYLOG_TEXT, line, sizeof line);
    assert_non_null(strstr(line, " ::1#5353 x.example. TYPE65534 RCODE12 refused 0.000ms\n"));
}

static void test_log_names_every_source(void **state)
{
    (void)state;
    assert_string_equal(querylog_source_name(ANSWER_SOURCE_LOCAL), "local");
    assert_string_equal(querylog_source_name(ANSWER_SOURCE_CACHE), "cache");
    assert_string_equal(querylog_source_name(ANSWER_SOURCE_UPSTREAM), "upstream");
    assert_string_equal(querylog_source_name(ANSWER_SOURCE_BLOCKED), "blocked");
    assert_string_equal(querylog_source_name(ANSWER_SOURCE_REFUSED), "refused");
    assert_string_equal(querylog_source_name(ANSWER_SOURCE_ERROR), "error");
}

/* A pipe: lines go in the write end, the test reads the other. */
static struct querylog *pipe_log(int fds[2])
{
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    struct querylog *log = querylog_new(fds[1], false);
    assert_non_null(log);
    return log;
}

static void test_log_lines_wait_in_the_buffer_until_a_flush(void **state)
{
    (void)state;
    int fds[2];
    struct querylog *log = pipe_log(fds);
    struct sockaddr_in client = loopback_client();
    uint8_t name[WIRE_NAME_MAX];
    size_t len = name_wire("www.example.com", name);
    struct querylog_entry e = entry_for((struct sockaddr *)&client, name, len);
    assert_int_equal(querylog_record(log, &e, QUERYLOG_TEXT), 0);
    assert_int_equal(querylog_record(log, &e, QUERYLOG_TEXT), 0);
    char buf[4096];
    assert_int_equal(read(fds[0], buf, sizeof buf), -1); /* nothing written yet */
    assert_int_equal(errno, EAGAIN);
    querylog_flush(log);
    ssize_t n = read(fds[0], buf, sizeof buf);
    assert_int_equal(n, 2 * strlen("2026-11-26T10:00:00.123Z 127.0.0.1#53124 www.example.com. A "
                                   "NOERROR upstream 1.234ms\n"));
    querylog_free(log);
    close(fds[0]);
}

static void test_log_drops_and_counts_lines_when_the_reader_is_behind(void **state)
{
    (void)state;
    int fds[2];
    struct querylog *log = pipe_log(fds);
    assert_true(fcntl(fds[1], F_SETPIPE_SZ, 4096) > 0);
    struct sockaddr_in client = loopback_client();
    uint8_t name[WIRE_NAME_MAX];
    size_t len = name_wire("www.example.com", name);
    struct querylog_entry e = entry_for((struct sockaddr *)&client, name, len);
    /* Nobody reads: the pipe fills, then the buffer, and the call never blocks. */
    unsigned dropped = 0;
    for (int i = 0; i < 5000; i++)
        dropped += querylog_record(log, &e, QUERYLOG_TEXT) < 0;
    assert_true(dropped > 0);
    assert_int_equal(querylog_dropped(log), dropped);
    char buf[4096];
    assert_true(read(fds[0], buf, sizeof buf) > 0); /* what fitted went out */
    querylog_free(log);
    close(fds[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_line_in_text),
        cmocka_unit_test(test_log_line_in_json),
        cmocka_unit_test(test_log_json_escapes_backslashes_and_quotes_in_names),
        cmocka_unit_test(test_log_names_the_root_with_one_dot),
        cmocka_unit_test(test_log_without_a_question_writes_dashes_and_nulls),
        cmocka_unit_test(test_log_writes_ipv6_clients_and_unknown_types),
        cmocka_unit_test(test_log_names_every_source),
        cmocka_unit_test(test_log_lines_wait_in_the_buffer_until_a_flush),
        cmocka_unit_test(test_log_drops_and_counts_lines_when_the_reader_is_behind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
