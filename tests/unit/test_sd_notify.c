/* sd_notify: state strings arrive as one datagram on $NOTIFY_SOCKET (path
 * or abstract); socket activation hands over descriptors only to the
 * process LISTEN_PID names, and leaves no variables behind for children. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sd_notify.h"

struct fixture {
    char dir[64];
    char path[96]; /* fits sun_path */
    int fd;        /* the "service manager" end: a datagram socket bound to path */
};

static int bind_datagram(struct fixture *f, const struct sockaddr_un *addr, socklen_t len)
{
    f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (f->fd < 0)
        return -1;
    return bind(f->fd, (const struct sockaddr *)addr, len);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->fd = -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_sd_notify.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/notify", f->dir);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->fd >= 0)
        close(f->fd);
    unlink(f->path);
    rmdir(f->dir);
    unsetenv("NOTIFY_SOCKET");
    free(f);
    return 0;
}

/* The next datagram on the fixture's socket, NUL-terminated; its length. */
static ssize_t receive(struct fixture *f, char *buf, size_t size)
{
    ssize_t n = recv(f->fd, buf, size - 1, MSG_DONTWAIT);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

static void test_notify_sends_state_to_path_socket(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f->path);
    assert_int_equal(bind_datagram(f, &addr, sizeof(addr)), 0);
    setenv("NOTIFY_SOCKET", f->path, 1);

    assert_int_equal(sd_notify_send("READY=1"), 1);

    char buf[256];
    assert_int_equal(receive(f, buf, sizeof(buf)), 7);
    assert_string_equal(buf, "READY=1");
}

static void test_notify_sends_each_state_as_its_own_datagram(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f->path);
    assert_int_equal(bind_datagram(f, &addr, sizeof(addr)), 0);
    setenv("NOTIFY_SOCKET", f->path, 1);

    assert_int_equal(sd_notify_send("RELOADING=1\nMONOTONIC_USEC=1"), 1);
    assert_int_equal(sd_notify_send("READY=1"), 1);

    char buf[256];
    receive(f, buf, sizeof(buf));
    assert_string_equal(buf, "RELOADING=1\nMONOTONIC_USEC=1");
    receive(f, buf, sizeof(buf));
    assert_string_equal(buf, "READY=1");
}

static void test_notify_at_sign_means_abstract_namespace(void **state)
{
    struct fixture *f = *state;
    /* Abstract name: a NUL, then the name; the address length delimits it. */
    char name[64];
    snprintf(name, sizeof(name), "test_sd_notify.%ld", (long)getpid());
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path + 1, name, strlen(name));
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
    assert_int_equal(bind_datagram(f, &addr, len), 0);
    char variable[80];
    snprintf(variable, sizeof(variable), "@%s", name);
    setenv("NOTIFY_SOCKET", variable, 1);

    assert_int_equal(sd_notify_send("STOPPING=1"), 1);

    char buf[256];
    receive(f, buf, sizeof(buf));
    assert_string_equal(buf, "STOPPING=1");
}

static void test_notify_without_notify_socket_does_nothing(void **state)
{
    (void)state;
    assert_int_equal(sd_notify_send("READY=1"), 0);
}

static void test_notify_to_missing_socket_is_an_error(void **state)
{
    struct fixture *f = *state;
    setenv("NOTIFY_SOCKET", f->path, 1); /* nothing bound there */
    assert_int_equal(sd_notify_send("READY=1"), -1);
}

static void test_notify_relative_path_is_an_error(void **state)
{
    (void)state;
    setenv("NOTIFY_SOCKET", "notify", 1);
    assert_int_equal(sd_notify_send("READY=1"), -1);
}

static void test_listen_fds_without_variables_is_zero(void **state)
{
    (void)state;
    assert_int_equal(sd_listen_fds(), 0);
}

static void test_listen_fds_for_another_process_is_zero(void **state)
{
    (void)state;
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "2", 1);

    assert_int_equal(sd_listen_fds(), 0);
}

static void test_listen_fds_unsets_variables(void **state)
{
    (void)state;
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "2", 1);
    setenv("LISTEN_FDNAMES", "dns:dns", 1);

    sd_listen_fds();

    assert_null(getenv("LISTEN_PID"));
    assert_null(getenv("LISTEN_FDS"));
    assert_null(getenv("LISTEN_FDNAMES"));
}

static void test_listen_fds_for_this_process_counts_and_sets_cloexec(void **state)
{
    (void)state;
    /* Whatever the test runner left at fd 3 and 4 is put back afterwards. */
    int saved[2];
    for (int i = 0; i < 2; i++)
        saved[i] = fcntl(SD_LISTEN_FDS_START + i, F_DUPFD_CLOEXEC, 64);
    int pair[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, pair), 0);
    /* Put the passed descriptors where systemd puts them: from fd 3. */
    int high[2];
    for (int i = 0; i < 2; i++) {
        high[i] = fcntl(pair[i], F_DUPFD, 64); /* out of the way first: pair may be 3 and 4 */
        close(pair[i]);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(dup2(high[i], SD_LISTEN_FDS_START + i), SD_LISTEN_FDS_START + i);
        close(high[i]);
    }
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "2", 1);

    assert_int_equal(sd_listen_fds(), 2);

    assert_true(fcntl(SD_LISTEN_FDS_START, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(SD_LISTEN_FDS_START + 1, F_GETFD) & FD_CLOEXEC);
    assert_null(getenv("LISTEN_FDS"));
    for (int i = 0; i < 2; i++) {
        close(SD_LISTEN_FDS_START + i);
        if (saved[i] >= 0) {
            dup2(saved[i], SD_LISTEN_FDS_START + i);
            close(saved[i]);
        }
    }
}

static void test_listen_fds_malformed_count_is_an_error(void **state)
{
    (void)state;
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "two", 1);

    assert_int_equal(sd_listen_fds(), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_notify_sends_state_to_path_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_sends_each_state_as_its_own_datagram, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_notify_at_sign_means_abstract_namespace, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_notify_without_notify_socket_does_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_notify_to_missing_socket_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_relative_path_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_fds_without_variables_is_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_fds_for_another_process_is_zero, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_listen_fds_unsets_variables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_fds_for_this_process_counts_and_sets_cloexec,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_fds_malformed_count_is_an_error, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
