/* atomic_file: replacing a file is all-or-nothing, leaves nothing behind,
 * and never touches the file a reader already has open. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"

struct fixture {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_atomic_file.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/zone.img", f->dir);
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Names in the fixture directory, other than "." and "..". */
static int directory_entry_count(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            count++;
    }
    closedir(d);
    return count;
}

static void assert_file_contains(const char *path, const char *expected)
{
    char *data = NULL;
    size_t len = 0;
    char err[256] = "";
    assert_int_equal(atomic_file_read(path, &data, &len, err, sizeof(err)), 0);
    assert_int_equal(len, strlen(expected));
    assert_string_equal(data, expected);
    free(data);
}

static void test_write_then_read_returns_same_bytes(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    assert_int_equal(atomic_file_write(f->path, "hello\n", 6, 0644, err, sizeof(err)), 0);
    assert_file_contains(f->path, "hello\n");
}

static void test_write_keeps_binary_data_with_nul_octets(void **state)
{
    struct fixture *f = *state;
    const uint8_t bytes[] = {0x4e, 0x00, 0xff, 0x00, 0x01};
    char err[256] = "";
    assert_int_equal(atomic_file_write(f->path, bytes, sizeof(bytes), 0644, err, sizeof(err)), 0);

    char *data = NULL;
    size_t len = 0;
    assert_int_equal(atomic_file_read(f->path, &data, &len, err, sizeof(err)), 0);
    assert_int_equal(len, sizeof(bytes));
    assert_memory_equal(data, bytes, sizeof(bytes));
    free(data);
}

static void test_write_of_zero_octets_creates_empty_file(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    assert_int_equal(atomic_file_write(f->path, "", 0, 0644, err, sizeof(err)), 0);
    assert_file_contains(f->path, "");
}

static void test_write_replaces_existing_file(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    assert_int_equal(atomic_file_write(f->path, "old contents", 12, 0644, err, sizeof(err)), 0);
    assert_int_equal(atomic_file_write(f->path, "new", 3, 0644, err, sizeof(err)), 0);
    assert_file_contains(f->path, "new");
}

static void test_write_does_not_touch_a_file_a_reader_holds_open(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    assert_int_equal(atomic_file_write(f->path, "version 1", 9, 0644, err, sizeof(err)), 0);
    int reader = open(f->path, O_RDONLY);
    assert_true(reader >= 0);

    assert_int_equal(atomic_file_write(f->path, "version 2!", 10, 0644, err, sizeof(err)), 0);

    char buf[32] = "";
    assert_int_equal(pread(reader, buf, sizeof(buf) - 1, 0), 9);
    assert_string_equal(buf, "version 1");
    close(reader);
    assert_file_contains(f->path, "version 2!");
}

static void test_write_leaves_no_temporary_files(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    for (int i = 0; i < 3; i++)
        assert_int_equal(atomic_file_write(f->path, "x", 1, 0644, err, sizeof(err)), 0);
    assert_int_equal(directory_entry_count(f->dir), 1);
}

static void test_write_into_missing_directory_fails_with_message(void **state)
{
    struct fixture *f = *state;
    char path[256];
    snprintf(path, sizeof(path), "%s/missing/zone.img", f->dir);
    char err[256] = "";
    assert_int_equal(atomic_file_write(path, "x", 1, 0644, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "missing/zone.img"));
    assert_non_null(strstr(err, strerror(ENOENT)));
    assert_int_equal(directory_entry_count(f->dir), 0);
}

static void test_failed_rename_leaves_target_and_no_temporary_file(void **state)
{
    struct fixture *f = *state;
    /* A non-empty directory at the target path: rename(2) must fail. */
    assert_int_equal(mkdir(f->path, 0755), 0);
    char inside[256];
    snprintf(inside, sizeof(inside), "%s/keep", f->path);
    char err[256] = "";
    assert_int_equal(atomic_file_write(inside, "k", 1, 0644, err, sizeof(err)), 0);

    assert_int_equal(atomic_file_write(f->path, "x", 1, 0644, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "rename"));
    assert_int_equal(directory_entry_count(f->dir), 1);
    assert_file_contains(inside, "k");
}

static void test_write_gives_the_requested_mode_whatever_the_umask(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    struct stat st;
    mode_t old_umask = umask(077);
    int rc = atomic_file_write(f->path, "x", 1, 0644, err, sizeof(err));
    umask(old_umask);
    assert_int_equal(rc, 0);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);

    assert_int_equal(atomic_file_write(f->path, "y", 1, 0600, err, sizeof(err)), 0);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_read_of_missing_file_fails_with_message(void **state)
{
    struct fixture *f = *state;
    char *data = (char *)"not touched";
    size_t len = 99;
    char err[256] = "";
    assert_int_equal(atomic_file_read(f->path, &data, &len, err, sizeof(err)), -1);
    assert_null(data);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err, f->path));
    assert_non_null(strstr(err, strerror(ENOENT)));
}

static void test_read_of_directory_fails(void **state)
{
    struct fixture *f = *state;
    char *data = NULL;
    size_t len = 0;
    char err[256] = "";
    assert_int_equal(atomic_file_read(f->dir, &data, &len, err, sizeof(err)), -1);
    assert_null(data);
    assert_non_null(strstr(err, f->dir));
}

static void test_read_returns_nul_terminated_contents(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    assert_int_equal(atomic_file_write(f->path, "abc", 3, 0644, err, sizeof(err)), 0);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(atomic_file_read(f->path, &data, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 3);
    assert_int_equal(data[3], '\0');
    free(data);
}

static void test_read_handles_files_whose_size_is_not_known_in_advance(void **state)
{
    (void)state;
    /* /proc files report st_size 0 but have contents. */
    char *data = NULL;
    size_t len = 0;
    char err[256] = "";
    assert_int_equal(atomic_file_read("/proc/self/status", &data, &len, err, sizeof(err)), 0);
    assert_true(len > 0);
    assert_int_equal(strlen(data), len);
    assert_non_null(strstr(data, "Pid:"));
    free(data);
}

static void test_large_file_round_trips(void **state)
{
    struct fixture *f = *state;
    size_t size = 3 * 1024 * 1024 + 7;
    uint8_t *bytes = malloc(size);
    assert_non_null(bytes);
    for (size_t i = 0; i < size; i++)
        bytes[i] = (uint8_t)(i * 31 + (i >> 11));
    char err[256] = "";
    assert_int_equal(atomic_file_write(f->path, bytes, size, 0644, err, sizeof(err)), 0);

    char *data = NULL;
    size_t len = 0;
    assert_int_equal(atomic_file_read(f->path, &data, &len, err, sizeof(err)), 0);
    assert_int_equal(len, size);
    assert_memory_equal(data, bytes, size);
    free(data);
    free(bytes);
}

static void test_map_gives_the_file_nul_terminated(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    assert_int_equal(atomic_file_write(f->path, "{\"a\": 1}", 8, 0600, err, sizeof(err)), 0);
    const char *data = NULL;
    size_t len = 0;
    assert_int_equal(atomic_file_map(f->path, &data, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 8);
    assert_memory_equal(data, "{\"a\": 1}", 8);
    assert_int_equal(data[8], '\0');
    atomic_file_unmap(data, len);
}

static void test_map_of_a_file_that_ends_on_a_page_boundary_still_ends_in_nul(void **state)
{
    struct fixture *f = *state;
    size_t size = 2 * (size_t)sysconf(_SC_PAGESIZE);
    char *bytes = malloc(size);
    assert_non_null(bytes);
    memset(bytes, 'x', size);
    char err[256] = "";
    assert_int_equal(atomic_file_write(f->path, bytes, size, 0600, err, sizeof(err)), 0);
    const char *data = NULL;
    size_t len = 0;
    assert_int_equal(atomic_file_map(f->path, &data, &len, err, sizeof(err)), 0);
    assert_int_equal(len, size);
    assert_memory_equal(data, bytes, size);
    assert_int_equal(data[size], '\0');
    atomic_file_unmap(data, len);
    free(bytes);
}

static void test_a_mapping_keeps_its_bytes_when_the_file_is_replaced(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    assert_int_equal(atomic_file_write(f->path, "old", 3, 0600, err, sizeof(err)), 0);
    const char *data = NULL;
    size_t len = 0;
    assert_int_equal(atomic_file_map(f->path, &data, &len, err, sizeof(err)), 0);
    assert_int_equal(atomic_file_write(f->path, "a new text", 10, 0600, err, sizeof(err)), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "old", 3);
    atomic_file_unmap(data, len);
}

static void test_map_of_missing_or_empty_file_or_directory_fails_with_message(void **state)
{
    struct fixture *f = *state;
    const char *data = "not touched";
    size_t len = 99;
    char err[256] = "";
    assert_int_equal(atomic_file_map(f->path, &data, &len, err, sizeof(err)), -1);
    assert_null(data);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err, f->path));
    assert_non_null(strstr(err, strerror(ENOENT)));

    assert_int_equal(atomic_file_write(f->path, "", 0, 0600, err, sizeof(err)), 0);
    err[0] = '\0';
    assert_int_equal(atomic_file_map(f->path, &data, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, f->path));

    err[0] = '\0';
    assert_int_equal(atomic_file_map(f->dir, &data, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, f->dir));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_then_read_returns_same_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_keeps_binary_data_with_nul_octets, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_write_of_zero_octets_creates_empty_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_write_replaces_existing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_does_not_touch_a_file_a_reader_holds_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_write_leaves_no_temporary_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_into_missing_directory_fails_with_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_rename_leaves_target_and_no_temporary_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_gives_the_requested_mode_whatever_the_umask,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_of_missing_file_fails_with_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_of_directory_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_returns_nul_terminated_contents, setup, teardown),
        cmocka_unit_test(test_read_handles_files_whose_size_is_not_known_in_advance),
        cmocka_unit_test_setup_teardown(test_large_file_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_gives_the_file_nul_terminated, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_map_of_a_file_that_ends_on_a_page_boundary_still_ends_in_nul, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_mapping_keeps_its_bytes_when_the_file_is_replaced,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_map_of_missing_or_empty_file_or_directory_fails_with_message, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
