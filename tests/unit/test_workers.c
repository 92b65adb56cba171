/* Unit tests for common/workers.c: the default worker count is one per CPU
 * the process may run on, at least 1 and at most the stats file's slots;
 * a configured count is kept. */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "workers.h"

static void test_a_cpu_count_becomes_as_many_workers(void **state)
{
    (void)state;
    assert_int_equal(workers_for_cpus(1), 1);
    assert_int_equal(workers_for_cpus(2), 2);
    assert_int_equal(workers_for_cpus(WORKERS_MAX), WORKERS_MAX);
}

static void test_an_unknown_cpu_count_is_one_worker(void **state)
{
    (void)state;
    assert_int_equal(workers_for_cpus(0), 1);
    assert_int_equal(workers_for_cpus(-1), 1);
}

static void test_more_cpus_than_stats_slots_are_capped(void **state)
{
    (void)state;
    assert_int_equal(WORKERS_MAX, STATS_WORKERS_MAX);
    assert_int_equal(workers_for_cpus(STATS_WORKERS_MAX + 1), STATS_WORKERS_MAX);
    assert_int_equal(workers_for_cpus(1024), STATS_WORKERS_MAX);
}

static void test_the_default_follows_the_affinity_mask(void **state)
{
    (void)state;
    cpu_set_t set;
    CPU_ZERO(&set);
    assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
    unsigned expected = workers_for_cpus(CPU_COUNT(&set));
    assert_int_equal(workers_default(), expected);
    assert_int_equal(workers_resolve(0), expected);

    /* Pinned to one CPU, as taskset -c 0 would: one worker. */
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &set)) {
            CPU_SET(cpu, &one);
            break;
        }
    assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
    assert_int_equal(workers_default(), 1);
    assert_int_equal(sched_setaffinity(0, sizeof(set), &set), 0);
    assert_int_equal(workers_default(), expected);
}

static void test_a_configured_count_is_kept(void **state)
{
    (void)state;
    assert_int_equal(workers_resolve(1), 1);
    assert_int_equal(workers_resolve(3), 3);
    assert_int_equal(workers_resolve(WORKERS_MAX), WORKERS_MAX);
    assert_int_equal(workers_resolve(WORKERS_MAX + 1), WORKERS_MAX); /* check refuses it first */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_cpu_count_becomes_as_many_workers),
        cmocka_unit_test(test_an_unknown_cpu_count_is_one_worker),
        cmocka_unit_test(test_more_cpus_than_stats_slots_are_capped),
        cmocka_unit_test(test_the_default_follows_the_affinity_mask),
        cmocka_unit_test(test_a_configured_count_is_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
