/* Unit tests for dataplane/upstream_health.c: which upstream servers are
 * put last after failing, for how long, and in what order the rest are
 * tried. Servers and times are made up; nothing is sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "upstream_health.h"

static struct image_upstream server(uint8_t last_octet)
{
    struct image_upstream s;
    memset(&s, 0, sizeof s);
    s.family = 4;
    s.port = 53;
    s.addr[0] = 192;
    s.addr[1] = 0;
    s.addr[2] = 2;
    s.addr[3] = last_octet;
    return s;
}

static void fail_times(struct upstream_health *h, const struct image_upstream *s, int n,
                       uint64_t now)
{
    for (int i = 0; i < n; i++)
        upstream_health_record(h, s, false, now);
}

static void test_a_server_is_skipped_after_three_failures_in_a_row(void **state)
{
    (void)state;
    struct upstream_health h = {0};
    struct image_upstream a = server(1);
    fail_times(&h, &a, UPSTREAM_FAILURES_TO_SKIP - 1, 1000);
    assert_false(upstream_health_skipped(&h, &a, 1000));
    fail_times(&h, &a, 1, 1000);
    assert_true(upstream_health_skipped(&h, &a, 1000));
}

static void test_a_success_clears_the_failures(void **state)
{
    (void)state;
    struct upstream_health h = {0};
    struct image_upstream a = server(1);
    fail_times(&h, &a, UPSTREAM_FAILURES_TO_SKIP - 1, 1000);
    upstream_health_record(&h, &a, true, 1000);
    fail_times(&h, &a, 1, 1000);
    assert_false(upstream_health_skipped(&h, &a, 1000));
}

static void test_a_skipped_server_is_tried_again_after_the_skip_time(void **state)
{
    (void)state;
    struct upstream_health h = {0};
    struct image_upstream a = server(1);
    fail_times(&h, &a, UPSTREAM_FAILURES_TO_SKIP, 1000);
    assert_true(upstream_health_skipped(&h, &a, 1000 + UPSTREAM_SKIP_MS - 1));
    assert_false(upstream_health_skipped(&h, &a, 1000 + UPSTREAM_SKIP_MS));
}

static void test_servers_differing_by_port_are_told_apart(void **state)
{
    (void)state;
    struct upstream_health h = {0};
    struct image_upstream a = server(1), b = server(1);
    b.port = 5353;
    fail_times(&h, &a, UPSTREAM_FAILURES_TO_SKIP, 1000);
    assert_false(upstream_health_skipped(&h, &b, 1000));
}

static void test_healthy_servers_keep_their_order_and_skipped_ones_go_last(void **state)
{
    (void)state;
    struct upstream_health h = {0};
    struct image_upstream servers[5] = {server(1), server(2), server(3), server(4), server(5)};
    fail_times(&h, &servers[0], UPSTREAM_FAILURES_TO_SKIP, 1000);
    fail_times(&h, &servers[2], UPSTREAM_FAILURES_TO_SKIP, 1000);
    unsigned order[5];
    upstream_health_order(&h, servers, 5, order, 1000);
    unsigned expected[5] = {1, 3, 4, 0, 2};
    assert_memory_equal(order, expected, sizeof expected);
}

static void test_with_every_server_skipped_the_configured_order_stays(void **state)
{
    (void)state;
    struct upstream_health h = {0};
    struct image_upstream servers[3] = {server(1), server(2), server(3)};
    for (int i = 0; i < 3; i++)
        fail_times(&h, &servers[i], UPSTREAM_FAILURES_TO_SKIP, 1000);
    unsigned order[3];
    upstream_health_order(&h, servers, 3, order, 1000);
    unsigned expected[3] = {0, 1, 2};
    assert_memory_equal(order, expected, sizeof expected);
}

static void test_the_least_recently_used_server_makes_room(void **state)
{
    (void)state;
    struct upstream_health h = {0};
    struct image_upstream first = server(0);
    fail_times(&h, &first, UPSTREAM_FAILURES_TO_SKIP, 1000);
    for (unsigned i = 1; i <= UPSTREAM_HEALTH_SLOTS; i++) {
        struct image_upstream s = server((uint8_t)i);
        fail_times(&h, &s, 1, 1000 + i);
    }
    /* first was the oldest: its failures are forgotten */
    assert_false(upstream_health_skipped(&h, &first, 2000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_server_is_skipped_after_three_failures_in_a_row),
        cmocka_unit_test(test_a_success_clears_the_failures),
        cmocka_unit_test(test_a_skipped_server_is_tried_again_after_the_skip_time),
        cmocka_unit_test(test_servers_differing_by_port_are_told_apart),
        cmocka_unit_test(test_healthy_servers_keep_their_order_and_skipped_ones_go_last),
        cmocka_unit_test(test_with_every_server_skipped_the_configured_order_stays),
        cmocka_unit_test(test_the_least_recently_used_server_makes_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
