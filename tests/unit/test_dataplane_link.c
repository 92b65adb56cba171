/* The data plane as the control plane sees it (controlplane/dataplane_link.c),
 * from a stats file written here as the data plane would: it is answering
 * while its heartbeat is fresh and its pid alive; it is told about a new
 * image only at a pid /proc says is a data plane (never this test, which
 * SIGHUP would kill). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dataplane_link.h"
#include "log.h"
#include "stats.h"

struct fixture {
    char dir[64];
    struct event_base *base;
    struct dataplane_link *link;
    struct stats_file *stats; /* the data plane's side */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_dataplane_link.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->base = event_base_new();
    assert_non_null(f->base);
    f->link = dataplane_link_new(f->base, f->dir);
    assert_non_null(f->link);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dataplane_link_free(f->link);
    if (f->stats != NULL)
        stats_close(f->stats);
    event_base_free(f->base);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", f->dir, STATS_FILE_NAME);
    unlink(path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* The data plane's stats file, with pid and a heartbeat age_ms old. */
static void dataplane_writes(struct fixture *f, uint64_t pid, int64_t age_ms, uint64_t version)
{
    char err[256];
    if (f->stats == NULL) {
        f->stats = stats_open_writer(dataplane_link_stats_path(f->link), err, sizeof(err));
        assert_non_null(f->stats);
    }
    stats_set(&f->stats->pid, pid);
    stats_set(&f->stats->heartbeat_unix_ms, (uint64_t)((int64_t)stats_now_unix_ms() - age_ms));
    stats_set(&f->stats->image_version, version);
    dataplane_link_stats_open(f->link);
}

static void test_the_stats_file_is_in_the_state_directory(void **state)
{
    struct fixture *f = *state;
    char want[PATH_MAX];
    snprintf(want, sizeof(want), "%s/%s", f->dir, STATS_FILE_NAME);
    assert_string_equal(dataplane_link_stats_path(f->link), want);
}

static void test_a_data_plane_that_has_not_started_is_not_answering(void **state)
{
    struct fixture *f = *state;
    dataplane_link_stats_open(f->link); /* no file yet: quiet */
    assert_null(dataplane_link_stats(f->link));
    assert_false(dataplane_link_alive(f->link));
    assert_int_equal(dataplane_link_version(f->link), 0);
    char reason[128];
    dataplane_link_down_reason(f->link, reason, sizeof(reason));
    assert_string_equal(reason, "the data plane has not started");
}

static void test_a_fresh_heartbeat_and_a_live_pid_is_answering(void **state)
{
    struct fixture *f = *state;
    dataplane_writes(f, (uint64_t)getpid(), 100, 7);
    assert_non_null(dataplane_link_stats(f->link));
    assert_true(dataplane_link_alive(f->link));
    assert_int_equal(dataplane_link_version(f->link), 7);
}

/* The supervisor's watchdog reads only its own child's heartbeat. */
static void test_the_heartbeat_is_the_one_its_pid_wrote(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(dataplane_link_heartbeat(f->link, getpid()), 0); /* no file yet */
    dataplane_writes(f, (uint64_t)getpid(), 100, 7);
    uint64_t beat = stats_get(&f->stats->heartbeat_unix_ms);
    assert_int_equal(dataplane_link_heartbeat(f->link, getpid()), beat);
    assert_int_equal(dataplane_link_heartbeat(f->link, getpid() + 1), 0);
    assert_int_equal(dataplane_link_heartbeat(f->link, -1), 0);
}

/* A data plane running as our own user (this test is one) is not separated. */
static void test_a_data_plane_of_our_own_user_is_not_privilege_separated(void **state)
{
    struct fixture *f = *state;
    assert_false(dataplane_link_privilege_separated(f->link)); /* none */
    dataplane_writes(f, (uint64_t)getpid(), 100, 7);
    assert_true(dataplane_link_alive(f->link));
    assert_false(dataplane_link_privilege_separated(f->link));
}

static void test_a_stale_heartbeat_is_not_answering(void **state)
{
    struct fixture *f = *state;
    dataplane_writes(f, (uint64_t)getpid(), STATS_HEARTBEAT_MAX_AGE_MS + 2000, 7);
    assert_false(dataplane_link_alive(f->link));
    char reason[128];
    dataplane_link_down_reason(f->link, reason, sizeof(reason));
    assert_non_null(strstr(reason, "heartbeat is"));
    assert_non_null(strstr(reason, "s old"));
}

static void test_a_heartbeat_from_the_future_is_not_answering(void **state)
{
    struct fixture *f = *state;
    dataplane_writes(f, (uint64_t)getpid(), -(STATS_HEARTBEAT_MAX_AGE_MS + 2000), 7);
    assert_false(dataplane_link_alive(f->link));
    char reason[128];
    dataplane_link_down_reason(f->link, reason, sizeof(reason));
    assert_non_null(strstr(reason, "in the future"));
}

static void test_a_dead_pid_is_not_answering(void **state)
{
    struct fixture *f = *state;
    dataplane_writes(f, (uint64_t)INT32_MAX, 100, 7); /* above any pid_max */
    assert_false(dataplane_link_alive(f->link));
    char reason[128];
    dataplane_link_down_reason(f->link, reason, sizeof(reason));
    assert_non_null(strstr(reason, "is not running"));
}

static void test_a_heartbeat_of_zero_has_not_reported(void **state)
{
    struct fixture *f = *state;
    dataplane_writes(f, (uint64_t)getpid(), 0, 0);
    stats_set(&f->stats->heartbeat_unix_ms, 0);
    assert_false(dataplane_link_alive(f->link));
    char reason[128];
    dataplane_link_down_reason(f->link, reason, sizeof(reason));
    assert_string_equal(reason, "the data plane has not reported yet");
}

/* The stats file names this test's pid, alive and with a fresh heartbeat:
 * it is no data plane, so a new image must not mean SIGHUP (which would
 * end this test). */
static void test_a_pid_that_is_not_a_data_plane_is_never_signalled(void **state)
{
    struct fixture *f = *state;
    dataplane_writes(f, (uint64_t)getpid(), 100, 7);
    assert_true(dataplane_link_alive(f->link));
    dataplane_link_image_published(f->link);
    dataplane_link_image_published(f->link);
}

static void test_with_no_data_plane_a_new_image_is_nobodys_business(void **state)
{
    struct fixture *f = *state;
    dataplane_link_image_published(f->link);
    assert_false(dataplane_link_alive(f->link));
}

int main(void)
{
    log_init("test_dataplane_link", LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_the_stats_file_is_in_the_state_directory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_data_plane_that_has_not_started_is_not_answering,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_fresh_heartbeat_and_a_live_pid_is_answering, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_heartbeat_is_the_one_its_pid_wrote, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_data_plane_of_our_own_user_is_not_privilege_separated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_stale_heartbeat_is_not_answering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_heartbeat_from_the_future_is_not_answering, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_dead_pid_is_not_answering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_heartbeat_of_zero_has_not_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_pid_that_is_not_a_data_plane_is_never_signalled,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_with_no_data_plane_a_new_image_is_nobodys_business,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
