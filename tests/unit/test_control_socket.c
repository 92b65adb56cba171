/* control_socket: the node's local channel is a socket only its user can use, replaces what an
 * earlier run left, refuses to replace anything else, works beyond sun_path's 108 octets, and
 * removes only its own file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control_socket.h"

struct fixture {
    char dir[64];
    char path[100]; /* fits sun_path */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_control_socket.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    if (control_socket_path(f->dir, f->path, sizeof(f->path)) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char command[PATH_MAX + 16];
    snprintf(command, sizeof(command), "rm -rf '%s'", f->dir);
    int rc = system(command);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void listen_ok(const char *path, struct control_socket *s)
{
    char err[PATH_MAX + 256] = "";
    int rc = control_socket_listen(path, s, err, sizeof(err));
    if (rc != 0)
        fail_msg("control_socket_listen(%s): %s", path, err);
    assert_true(s->fd >= 0);
}

/* A round trip: what the client sends, the accepted connection reads. */
static void assert_connects(const char *path, const struct control_socket *s)
{
    int client = control_socket_connect(path);
    assert_true(client >= 0);
    int server = -1;
    for (int i = 0; i < 1000 && server < 0; i++) { /* non-blocking listener: bounded retries */
        server = accept(s->fd, NULL, NULL);
        if (server < 0)
            assert_int_equal(errno, EAGAIN);
    }
    assert_true(server >= 0);
    assert_int_equal(write(client, "hi", 2), 2);
    char buf[2];
    assert_int_equal(read(server, buf, 2), 2);
    assert_memory_equal(buf, "hi", 2);
    close(client);
    close(server);
}

static void test_the_socket_is_0600_and_answers(void **state)
{
    struct fixture *f = *state;
    struct control_socket s;
    listen_ok(f->path, &s);
    struct stat st;
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, geteuid());
    assert_int_equal(fcntl(s.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    assert_connects(f->path, &s);
    control_socket_close(&s);
    assert_int_equal(s.fd, -1);
    assert_int_equal(lstat(f->path, &st), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_a_stale_socket_is_replaced(void **state)
{
    struct fixture *f = *state;
    /* What a killed node leaves: a socket file nobody listens on. */
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
    assert_int_equal(bind(stale, (struct sockaddr *)&sun, sizeof(sun)), 0);
    close(stale);
    assert_int_equal(control_socket_connect(f->path), -1);
    assert_int_equal(errno, ECONNREFUSED);

    struct control_socket s;
    listen_ok(f->path, &s);
    assert_connects(f->path, &s);
    control_socket_close(&s);
}

static void test_anything_else_at_the_path_is_refused_and_kept(void **state)
{
    struct fixture *f = *state;
    int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "keep", 4), 4);
    close(fd);
    struct control_socket s;
    char err[PATH_MAX + 256] = "";
    assert_int_equal(control_socket_listen(f->path, &s, err, sizeof(err)), -1);
    assert_int_equal(s.fd, -1);
    assert_non_null(strstr(err, "is not a socket"));
    assert_non_null(strstr(err, f->path));
    struct stat st;
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 4);

    assert_int_equal(unlink(f->path), 0);
    assert_int_equal(mkdir(f->path, 0700), 0);
    assert_int_equal(control_socket_listen(f->path, &s, err, sizeof(err)), -1);
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
}

static void test_a_path_longer_than_sun_path_works(void **state)
{
    struct fixture *f = *state;
    char deep[PATH_MAX], path[PATH_MAX];
    snprintf(deep, sizeof(deep), "%s/%0150d", f->dir, 0);
    assert_int_equal(mkdir(deep, 0700), 0);
    assert_int_equal(control_socket_path(deep, path, sizeof(path)), 0);
    assert_true(strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path));
    struct control_socket s;
    listen_ok(path, &s);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_connects(path, &s);
    control_socket_close(&s);
    assert_int_equal(lstat(path, &st), -1);
}

static void test_close_leaves_a_file_that_is_not_its_own(void **state)
{
    struct fixture *f = *state;
    struct control_socket s;
    listen_ok(f->path, &s);
    /* Someone replaced the entry (another node on this directory after a
     * forced unlock, an operator): not ours to remove. */
    assert_int_equal(unlink(f->path), 0);
    int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    control_socket_close(&s);
    struct stat st;
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
}

static void test_a_full_backlog_refuses_at_once(void **state)
{
    struct fixture *f = *state;
    struct control_socket s;
    listen_ok(f->path, &s);
    /* Nobody accepts (a hung node): connecting must not wait for ever. */
    int fds[64], n = 0;
    int last = 0;
    while (n < 64) {
        fds[n] = control_socket_connect(f->path);
        if (fds[n] < 0) {
            last = errno;
            break;
        }
        n++;
    }
    assert_true(n < 64);
    assert_int_equal(last, EAGAIN);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    control_socket_close(&s);
}

static void test_connect_says_why_it_cannot(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(control_socket_connect(f->path), -1);
    assert_int_equal(errno, ENOENT);
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/no/such/dir/control.sock", f->dir);
    assert_int_equal(control_socket_connect(missing), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_the_path_is_in_the_state_directory(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(control_socket_path("/var/lib/nanodns", out, sizeof(out)), 0);
    assert_string_equal(out, "/var/lib/nanodns/control.sock");
    assert_int_equal(control_socket_path("/var/lib/nanodns", out, 10), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_the_socket_is_0600_and_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_stale_socket_is_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anything_else_at_the_path_is_refused_and_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_path_longer_than_sun_path_works, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_leaves_a_file_that_is_not_its_own, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_full_backlog_refuses_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_says_why_it_cannot, setup, teardown),
        cmocka_unit_test(test_the_path_is_in_the_state_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
