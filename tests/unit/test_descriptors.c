/* Unit tests for dataplane/descriptors.c: the descriptor limit is raised
 * to the hard one, what is open is counted, and the rest is split between
 * TCP connections and upstream sockets with a reserve kept free. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "descriptors.h"

static void test_the_budget_keeps_the_reserve_and_what_is_open(void **state)
{
    (void)state;
    struct descriptor_budget b;
    descriptors_budget_split(&b, 64, 12);
    assert_int_equal(b.limit, 64);
    assert_int_equal(b.open, 12);
    assert_int_equal(b.tcp + b.upstream, 64 - 12 - DESCRIPTORS_RESERVE);
    assert_int_equal(b.tcp, (64 - 12 - DESCRIPTORS_RESERVE) / 3);
}

static void test_systemds_soft_default_leaves_room_below_the_defaults(void **state)
{
    (void)state;
    /* 1024, as systemd's soft default: 256 TCP connections and 1024 in
     * flight would not both fit; the shares do. */
    struct descriptor_budget b;
    descriptors_budget_split(&b, 1024, 20);
    assert_true(b.tcp + b.upstream + 20 + DESCRIPTORS_RESERVE <= 1024);
    assert_true(b.tcp >= 300);
    assert_true(b.upstream >= 600);
}

static void test_a_limit_below_what_is_open_leaves_one_of_each(void **state)
{
    (void)state;
    struct descriptor_budget b;
    descriptors_budget_split(&b, 20, 30);
    assert_int_equal(b.tcp, 1);
    assert_int_equal(b.upstream, 1);
}

static void test_the_soft_limit_is_raised_to_the_hard_one(void **state)
{
    (void)state;
    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    rlim_t hard = saved.rlim_max == RLIM_INFINITY || saved.rlim_max > 4096 ? 4096 : saved.rlim_max;
    struct rlimit low = {hard / 2, hard};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    unsigned before, after;
    char err[256];
    assert_int_equal(descriptors_raise_limit(&before, &after, err, sizeof err), 0);
    assert_int_equal(before, (unsigned)(hard / 2));
    assert_int_equal(after, (unsigned)hard);
    struct rlimit now;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &now), 0);
    assert_int_equal(now.rlim_cur, hard);
}

static void test_open_descriptors_are_counted(void **state)
{
    (void)state;
    unsigned before = descriptors_count_open(1024);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(descriptors_count_open(1024), before + 1);
    close(fd);
    assert_int_equal(descriptors_count_open(1024), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_budget_keeps_the_reserve_and_what_is_open),
        cmocka_unit_test(test_systemds_soft_default_leaves_room_below_the_defaults),
        cmocka_unit_test(test_a_limit_below_what_is_open_leaves_one_of_each),
        cmocka_unit_test(test_the_soft_limit_is_raised_to_the_hard_one),
        cmocka_unit_test(test_open_descriptors_are_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
