/* The version floor (controlplane/version_floor.c): STATE/version is one
 * strict line, read back as written, refused when damaged, foreign or not
 * a regular file; and a pushed or pulled config is judged against the
 * floor (sync_compare_floor). What the node does with it: test_node.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "envelope.h"
#include "log.h"
#include "sync.h"
#include "version_floor.h"

#define HASH_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

struct fixture {
    char dir[64];
    char config_path[PATH_MAX];
    char state_dir[PATH_MAX];
    char floor_path[PATH_MAX + 16];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_version_floor.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->config_path, sizeof(f->config_path), "%s/nanodns.json", f->dir);
    snprintf(f->state_dir, sizeof(f->state_dir), "%s/state", f->dir);
    snprintf(f->floor_path, sizeof(f->floor_path), "%s/%s", f->state_dir, VERSION_FLOOR_FILE_NAME);
    assert_int_equal(mkdir(f->state_dir, 0755), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char command[PATH_MAX + 16];
    snprintf(command, sizeof(command), "rm -rf '%s'", f->dir);
    if (system(command) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f);
    return 0;
}

static void file_put(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    assert_true(fputs(text, file) >= 0);
    assert_int_equal(fclose(file), 0);
}

static char *file_get(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    char err[256];
    assert_int_equal(atomic_file_read(path, &text, &len, err, sizeof(err)), 0);
    return text;
}

static int parse(const char *text, struct version_floor *floor)
{
    char err[256] = "";
    int rc = version_floor_parse(text, strlen(text), floor, err, sizeof(err));
    if (rc < 0)
        assert_true(err[0] != '\0'); /* every refusal says why */
    return rc;
}

static void hash_fill(uint8_t hash[ENVELOPE_HASH_SIZE], uint8_t value)
{
    memset(hash, value, ENVELOPE_HASH_SIZE);
}

/* ---- the line ---- */

static void test_the_line_reads_back_as_it_was_written(void **state)
{
    (void)state;
    struct version_floor floor = {.version = 9007199254740991u}, back;
    for (size_t i = 0; i < ENVELOPE_HASH_SIZE; i++)
        floor.hash[i] = (uint8_t)(i * 7);
    char text[VERSION_FLOOR_TEXT_MAX];
    int n = version_floor_format(&floor, text, sizeof(text));
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(text));
    assert_int_equal(strncmp(text, "nanodns-version 1 9007199254740991 ", 35), 0);
    assert_int_equal(text[n - 1], '\n');
    assert_int_equal(parse(text, &back), 0);
    assert_int_equal(back.version, floor.version);
    assert_memory_equal(back.hash, floor.hash, ENVELOPE_HASH_SIZE);
}

static void test_a_line_without_its_newline_is_read(void **state)
{
    (void)state;
    struct version_floor floor;
    assert_int_equal(parse("nanodns-version 1 6 " HASH_HEX, &floor), 0);
    assert_int_equal(floor.version, 6);
    assert_int_equal(floor.hash[0], 0x00);
    assert_int_equal(floor.hash[1], 0x11);
    assert_int_equal(floor.hash[31], 0xff);
}

static void test_a_damaged_line_is_refused(void **state)
{
    (void)state;
    static const char *const damaged[] = {
        "",
        "\n",
        "nanodns-version\n",
        "nanodns-versio 1 6 " HASH_HEX "\n",
        "nanodns-version 1 6\n",
        "nanodns-version 1 " HASH_HEX "\n",
        "nanodns-version  1 6 " HASH_HEX "\n",
        "nanodns-version 1 6 " HASH_HEX " \n",
        "nanodns-version 1 6 " HASH_HEX "\n\n",
        "nanodns-version 1 6 " HASH_HEX "\nnanodns-version 1 7 " HASH_HEX "\n",
        "nanodns-version 1 06 " HASH_HEX "\n",
        "nanodns-version 1 -6 " HASH_HEX "\n",
        "nanodns-version 1 6x " HASH_HEX "\n",
        "nanodns-version 1 9007199254740992 " HASH_HEX "\n", /* above 2^53 - 1 */
        "nanodns-version 1 99999999999999999999 " HASH_HEX "\n",
        "nanodns-version 1 6 00112233\n",
        "nanodns-version 1 6 " HASH_HEX "00\n",
        "nanodns-version 1 6 00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n",
        "nanodns-version 1 6 0011223344556677889gaabbccddeeff00112233445566778899aabbccddeeff\n",
        "\tnanodns-version 1 6 " HASH_HEX "\n",
    };
    for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
        struct version_floor floor;
        if (parse(damaged[i], &floor) != -1)
            fail_msg("read as good: \"%s\"", damaged[i]);
    }
}

static void test_a_newer_format_is_refused_by_name(void **state)
{
    (void)state;
    struct version_floor floor;
    char err[256];
    const char *text = "nanodns-version 2 6 " HASH_HEX "\n";
    assert_int_equal(version_floor_parse(text, strlen(text), &floor, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "format"));
}

static void test_a_nul_inside_the_line_is_refused(void **state)
{
    (void)state;
    struct version_floor floor;
    char err[256];
    const char text[] = "nanodns-version 1 6\0 " HASH_HEX;
    assert_int_equal(version_floor_parse(text, sizeof(text) - 1, &floor, err, sizeof(err)), -1);
}

/* ---- the file ---- */

static void test_no_file_is_no_floor(void **state)
{
    struct fixture *f = *state;
    struct version_floor floor;
    char err[256];
    assert_int_equal(version_floor_read(f->floor_path, &floor, err, sizeof(err)), 1);
}

static void test_a_written_file_reads_back_with_mode_0600(void **state)
{
    struct fixture *f = *state;
    struct version_floor floor = {.version = 42}, back;
    hash_fill(floor.hash, 0xab);
    char err[256];
    assert_int_equal(version_floor_write(f->floor_path, &floor, err, sizeof(err)), 0);
    assert_int_equal(version_floor_read(f->floor_path, &back, err, sizeof(err)), 0);
    assert_int_equal(back.version, 42);
    assert_memory_equal(back.hash, floor.hash, ENVELOPE_HASH_SIZE);
    struct stat st;
    assert_int_equal(stat(f->floor_path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    char *text = file_get(f->floor_path);
    assert_string_equal(text, "nanodns-version 1 42 "
                              "abababababababababababababababababababababababababababababababab\n");
    free(text);
}

static void test_a_damaged_file_is_an_error(void **state)
{
    struct fixture *f = *state;
    file_put(f->floor_path, "nanodns-version 1 6 garbage\n");
    chmod(f->floor_path, 0600);
    struct version_floor floor;
    char err[256] = "";
    assert_int_equal(version_floor_read(f->floor_path, &floor, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "hash"));
}

static void test_an_empty_file_is_an_error(void **state)
{
    struct fixture *f = *state;
    file_put(f->floor_path, "");
    chmod(f->floor_path, 0600);
    struct version_floor floor;
    char err[256];
    assert_int_equal(version_floor_read(f->floor_path, &floor, err, sizeof(err)), -1);
}

static void test_a_file_others_may_write_is_an_error(void **state)
{
    struct fixture *f = *state;
    file_put(f->floor_path, "nanodns-version 1 6 " HASH_HEX "\n");
    assert_int_equal(chmod(f->floor_path, 0666), 0);
    struct version_floor floor;
    char err[256];
    assert_int_equal(version_floor_read(f->floor_path, &floor, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "writable"));
}

static void test_a_symbolic_link_is_not_followed(void **state)
{
    struct fixture *f = *state;
    char target[PATH_MAX + 16];
    snprintf(target, sizeof(target), "%s/elsewhere", f->dir);
    file_put(target, "nanodns-version 1 6 " HASH_HEX "\n");
    chmod(target, 0600);
    assert_int_equal(symlink(target, f->floor_path), 0);
    struct version_floor floor;
    char err[256];
    assert_int_equal(version_floor_read(f->floor_path, &floor, err, sizeof(err)), -1);
}

static void test_a_directory_is_an_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(mkdir(f->floor_path, 0700), 0);
    struct version_floor floor;
    char err[256];
    assert_int_equal(version_floor_read(f->floor_path, &floor, err, sizeof(err)), -1);
}

static void test_a_file_longer_than_a_line_is_an_error(void **state)
{
    struct fixture *f = *state;
    char text[400];
    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    file_put(f->floor_path, text);
    chmod(f->floor_path, 0600);
    struct version_floor floor;
    char err[256];
    assert_int_equal(version_floor_read(f->floor_path, &floor, err, sizeof(err)), -1);
}

/* ---- never lowered ---- */

static void test_only_a_higher_version_or_another_config_of_it_replaces_the_floor(void **state)
{
    (void)state;
    struct version_floor floor = {.version = 6};
    hash_fill(floor.hash, 0x66);
    uint8_t same[ENVELOPE_HASH_SIZE], other[ENVELOPE_HASH_SIZE];
    hash_fill(same, 0x66);
    hash_fill(other, 0x77);
    assert_true(version_floor_admits(&floor, 7, same));
    assert_true(version_floor_admits(&floor, 6, other));
    assert_false(version_floor_admits(&floor, 6, same));
    assert_false(version_floor_admits(&floor, 5, other));
    assert_false(version_floor_admits(&floor, 0, same));
    assert_true(version_floor_is(&floor, 6, same));
    assert_false(version_floor_is(&floor, 6, other));
    assert_false(version_floor_is(&floor, 7, same));
}

/* ---- judging a pushed or pulled config against the floor ---- */

static void test_a_node_serving_its_floor_judges_as_before(void **state)
{
    (void)state;
    uint8_t ours[ENVELOPE_HASH_SIZE], low[ENVELOPE_HASH_SIZE], high[ENVELOPE_HASH_SIZE];
    hash_fill(ours, 0x50);
    hash_fill(low, 0x10);
    hash_fill(high, 0x90);
    assert_int_equal(sync_compare_floor(6, ours, ours, 5, high), SYNC_REJECTED_STALE);
    assert_int_equal(sync_compare_floor(6, ours, ours, 7, low), SYNC_APPLY);
    assert_int_equal(sync_compare_floor(6, ours, ours, 6, ours), SYNC_ALREADY_CURRENT);
    /* Two edits of one version: the larger hash wins on every node. */
    assert_int_equal(sync_compare_floor(6, ours, ours, 6, high), SYNC_APPLY);
    assert_int_equal(sync_compare_floor(6, ours, ours, 6, low), SYNC_REJECTED_CONFLICT);
    assert_int_equal(sync_compare_floor(6, ours, ours, 6 + SYNC_VERSION_STEP_MAX + 1, high),
                     SYNC_REJECTED_TOO_FAR);
}

static void test_a_node_below_its_floor_refuses_older_and_forked_configs(void **state)
{
    (void)state;
    /* Serving the file of version 1 as version 6: STATE/config.json was lost. */
    uint8_t floor[ENVELOPE_HASH_SIZE], serving[ENVELOPE_HASH_SIZE], fork[ENVELOPE_HASH_SIZE];
    hash_fill(floor, 0x50);
    hash_fill(serving, 0x01);
    hash_fill(fork, 0xff); /* would win the hash order: refused all the same */
    assert_int_equal(sync_compare_floor(6, floor, serving, 5, fork), SYNC_REJECTED_STALE);
    assert_int_equal(sync_compare_floor(6, floor, serving, 1, serving), SYNC_REJECTED_STALE);
    assert_int_equal(sync_compare_floor(6, floor, serving, 6, fork), SYNC_REJECTED_CONFLICT);
    assert_int_equal(sync_compare_floor(6, floor, serving, 6, serving), SYNC_REJECTED_CONFLICT);
    /* The config accepted at 6 comes back; anything newer goes in. */
    assert_int_equal(sync_compare_floor(6, floor, serving, 6, floor), SYNC_APPLY);
    assert_int_equal(sync_compare_floor(6, floor, serving, 7, fork), SYNC_APPLY);
}

int main(void)
{
    log_init("test_version_floor", LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_line_reads_back_as_it_was_written),
        cmocka_unit_test(test_a_line_without_its_newline_is_read),
        cmocka_unit_test(test_a_damaged_line_is_refused),
        cmocka_unit_test(test_a_newer_format_is_refused_by_name),
        cmocka_unit_test(test_a_nul_inside_the_line_is_refused),
        cmocka_unit_test_setup_teardown(test_no_file_is_no_floor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_written_file_reads_back_with_mode_0600, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_damaged_file_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_empty_file_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_file_others_may_write_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_symbolic_link_is_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_directory_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_file_longer_than_a_line_is_an_error, setup,
                                        teardown),
        cmocka_unit_test(test_only_a_higher_version_or_another_config_of_it_replaces_the_floor),
        cmocka_unit_test(test_a_node_serving_its_floor_judges_as_before),
        cmocka_unit_test(test_a_node_below_its_floor_refuses_older_and_forked_configs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
