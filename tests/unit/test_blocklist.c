/* common/blocklist.c: the three list formats, comments, and the lines that are skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blocklist.h"
#include "wire.h"

#define MAX_SEEN 16

/* What a parse gave: names as text, exceptions marked "@@", skipped lines. */
struct seen {
    char names[MAX_SEEN][WIRE_NAME_MAX + 4];
    size_t name_count;
    unsigned long skipped[MAX_SEEN];
    size_t skipped_count;
};

static int seen_entry(void *context, const uint8_t *name, size_t len, bool allow)
{
    struct seen *s = context;
    assert_true(s->name_count < MAX_SEEN);
    assert_true(wire_name_valid(name, len));
    char *out = s->names[s->name_count++];
    size_t at = 0;
    if (allow) {
        memcpy(out, "@@", 2);
        at = 2;
    }
    assert_true(wire_name_to_text(name, len, out + at, WIRE_NAME_MAX + 2) > 0);
    return 0;
}

static void seen_skipped(void *context, unsigned long line)
{
    struct seen *s = context;
    assert_true(s->skipped_count < MAX_SEEN);
    s->skipped[s->skipped_count++] = line;
}

static struct seen parse(enum blocklist_format format, const char *text, size_t len)
{
    struct seen s;
    memset(&s, 0, sizeof s);
    struct blocklist_sink sink = {&s, seen_entry, seen_skipped};
    struct blocklist_parser p;
    blocklist_parser_init(&p, format, &sink);
    assert_int_equal(blocklist_parse_text(&p, text, len), 0);
    return s;
}

static struct seen parse_string(enum blocklist_format format, const char *text)
{
    return parse(format, text, strlen(text));
}

static void test_format_names_are_parsed_in_any_case(void **state)
{
    (void)state;
    enum blocklist_format f;
    assert_int_equal(blocklist_format_parse("domains", &f), 0);
    assert_int_equal(f, BLOCKLIST_DOMAINS);
    assert_int_equal(blocklist_format_parse("HOSTS", &f), 0);
    assert_int_equal(f, BLOCKLIST_HOSTS);
    assert_int_equal(blocklist_format_parse("AdBlock", &f), 0);
    assert_int_equal(f, BLOCKLIST_ADBLOCK);
    assert_int_equal(blocklist_format_parse("dnsmasq", &f), -1);
}

static void test_format_names_are_the_words_parsed(void **state)
{
    (void)state;
    static const enum blocklist_format formats[] = {BLOCKLIST_DOMAINS, BLOCKLIST_HOSTS,
                                                    BLOCKLIST_ADBLOCK};
    assert_string_equal(blocklist_format_name(BLOCKLIST_HOSTS), "hosts");
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        enum blocklist_format f;
        assert_int_equal(blocklist_format_parse(blocklist_format_name(formats[i]), &f), 0);
        assert_int_equal(f, formats[i]);
    }
}

static void test_domains_one_name_a_line_case_kept_trailing_dot_accepted(void **state)
{
    (void)state;
    struct seen s =
        parse_string(BLOCKLIST_DOMAINS, "ads.example.com\nTracker.Example.\n  x_y.z  \n");
    assert_int_equal(s.name_count, 3);
    assert_string_equal(s.names[0], "ads.example.com");
    assert_string_equal(s.names[1], "Tracker.Example");
    assert_string_equal(s.names[2], "x_y.z");
    assert_int_equal(s.skipped_count, 0);
}

static void test_domains_comments_whole_line_and_trailing(void **state)
{
    (void)state;
    struct seen s = parse_string(BLOCKLIST_DOMAINS,
                                 "# a list\n! also a comment\nads.example # the ads\n\n   \n");
    assert_int_equal(s.name_count, 1);
    assert_string_equal(s.names[0], "ads.example");
    assert_int_equal(s.skipped_count, 0);
}

static void test_domains_bad_lines_are_skipped_with_their_numbers(void **state)
{
    (void)state;
    struct seen s =
        parse_string(BLOCKLIST_DOMAINS, "good.example\nbad..example\ntwo names.example\n"
                                        "*.wild.example\nok.example\n-\xC3\xA9.example\n.\n");
    assert_int_equal(s.name_count, 2);
    assert_string_equal(s.names[0], "good.example");
    assert_string_equal(s.names[1], "ok.example");
    assert_int_equal(s.skipped_count, 5);
    assert_int_equal(s.skipped[0], 2);
    assert_int_equal(s.skipped[1], 3);
    assert_int_equal(s.skipped[2], 4);
    assert_int_equal(s.skipped[3], 6);
    assert_int_equal(s.skipped[4], 7);
}

static void test_crlf_line_ends_are_accepted(void **state)
{
    (void)state;
    struct seen s = parse_string(BLOCKLIST_DOMAINS, "a.example\r\nb.example\r\n");
    assert_int_equal(s.name_count, 2);
    assert_string_equal(s.names[1], "b.example");
    assert_int_equal(s.skipped_count, 0);
}

static void test_byte_order_mark_at_the_start_is_ignored(void **state)
{
    (void)state;
    struct seen s = parse_string(BLOCKLIST_DOMAINS, "\xEF\xBB\xBF"
                                                    "a.example\n");
    assert_int_equal(s.name_count, 1);
    assert_string_equal(s.names[0], "a.example");
}

static void test_last_line_without_a_newline_counts(void **state)
{
    (void)state;
    struct seen s = parse_string(BLOCKLIST_DOMAINS, "a.example\nb.example");
    assert_int_equal(s.name_count, 2);
}

static void test_empty_file_gives_nothing(void **state)
{
    (void)state;
    struct seen s = parse(BLOCKLIST_DOMAINS, "", 0);
    assert_int_equal(s.name_count, 0);
    assert_int_equal(s.skipped_count, 0);
}

static void test_very_long_line_is_skipped_not_cut(void **state)
{
    (void)state;
    size_t len = 100000;
    char *text = malloc(len + 32);
    assert_non_null(text);
    for (size_t i = 0; i < len; i++)
        text[i] = (i % 10 == 9) ? '.' : 'a';
    strcpy(text + len, "\nafter.example\n");
    struct seen s = parse_string(BLOCKLIST_DOMAINS, text);
    free(text);
    assert_int_equal(s.name_count, 1);
    assert_string_equal(s.names[0], "after.example");
    assert_int_equal(s.skipped_count, 1);
    assert_int_equal(s.skipped[0], 1);
}

static void test_label_of_64_octets_is_not_a_name(void **state)
{
    (void)state;
    char text[128];
    memset(text, 'a', 64);
    strcpy(text + 64, ".example\n");
    struct seen s = parse_string(BLOCKLIST_DOMAINS, text);
    assert_int_equal(s.name_count, 0);
    assert_int_equal(s.skipped_count, 1);
}

static void test_hosts_every_name_after_the_address(void **state)
{
    (void)state;
    struct seen s =
        parse_string(BLOCKLIST_HOSTS, "0.0.0.0 a.example\n127.0.0.1\tb.example c.example\n"
                                      ":: d.example # v6\n");
    assert_int_equal(s.name_count, 4);
    assert_string_equal(s.names[0], "a.example");
    assert_string_equal(s.names[1], "b.example");
    assert_string_equal(s.names[2], "c.example");
    assert_string_equal(s.names[3], "d.example");
    assert_int_equal(s.skipped_count, 0);
}

static void test_hosts_local_names_of_the_machine_are_not_blocked(void **state)
{
    (void)state;
    struct seen s =
        parse_string(BLOCKLIST_HOSTS, "127.0.0.1 localhost\n::1 localhost ip6-localhost\n"
                                      "255.255.255.255 broadcasthost\nfe80::1%lo0 localhost\n"
                                      "0.0.0.0 0.0.0.0\n");
    assert_int_equal(s.name_count, 0);
    assert_int_equal(s.skipped_count, 0);
}

static void test_hosts_line_without_an_address_or_name_is_skipped(void **state)
{
    (void)state;
    struct seen s =
        parse_string(BLOCKLIST_HOSTS, "ads.example\n0.0.0.0\n0.0.0.0 bad..name good.example\n");
    assert_int_equal(s.name_count, 1);
    assert_string_equal(s.names[0], "good.example");
    assert_int_equal(s.skipped_count, 3);
    assert_int_equal(s.skipped[0], 1);
    assert_int_equal(s.skipped[1], 2);
    assert_int_equal(s.skipped[2], 3);
}

static void test_adblock_rules_and_exceptions(void **state)
{
    (void)state;
    struct seen s =
        parse_string(BLOCKLIST_ADBLOCK, "[Adblock Plus 2.0]\n! Title: test\n||ads.example^\n"
                                        "@@||ok.ads.example^\n||tracker.example^|\n");
    assert_int_equal(s.name_count, 3);
    assert_string_equal(s.names[0], "ads.example");
    assert_string_equal(s.names[1], "@@ok.ads.example");
    assert_string_equal(s.names[2], "tracker.example");
    assert_int_equal(s.skipped_count, 0);
}

static void test_adblock_other_syntax_is_passed_over_uncounted(void **state)
{
    (void)state;
    struct seen s =
        parse_string(BLOCKLIST_ADBLOCK, "example.com##.banner\n/ads/*\n||ads.example^$third-party\n"
                                        "||ads.example/path\n|http://x.example|\n# comment\n");
    assert_int_equal(s.name_count, 0);
    assert_int_equal(s.skipped_count, 0);
}

static void test_adblock_rule_with_a_bad_name_is_counted(void **state)
{
    (void)state;
    struct seen s = parse_string(BLOCKLIST_ADBLOCK, "||good.example^\n||*.bad.example^\n");
    assert_int_equal(s.name_count, 1);
    assert_int_equal(s.skipped_count, 1);
    assert_int_equal(s.skipped[0], 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_names_are_parsed_in_any_case),
        cmocka_unit_test(test_format_names_are_the_words_parsed),
        cmocka_unit_test(test_domains_one_name_a_line_case_kept_trailing_dot_accepted),
        cmocka_unit_test(test_domains_comments_whole_line_and_trailing),
        cmocka_unit_test(test_domains_bad_lines_are_skipped_with_their_numbers),
        cmocka_unit_test(test_crlf_line_ends_are_accepted),
        cmocka_unit_test(test_byte_order_mark_at_the_start_is_ignored),
        cmocka_unit_test(test_last_line_without_a_newline_counts),
        cmocka_unit_test(test_empty_file_gives_nothing),
        cmocka_unit_test(test_very_long_line_is_skipped_not_cut),
        cmocka_unit_test(test_label_of_64_octets_is_not_a_name),
        cmocka_unit_test(test_hosts_every_name_after_the_address),
        cmocka_unit_test(test_hosts_local_names_of_the_machine_are_not_blocked),
        cmocka_unit_test(test_hosts_line_without_an_address_or_name_is_skipped),
        cmocka_unit_test(test_adblock_rules_and_exceptions),
        cmocka_unit_test(test_adblock_other_syntax_is_passed_over_uncounted),
        cmocka_unit_test(test_adblock_rule_with_a_bad_name_is_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
