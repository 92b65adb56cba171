/* sd_notify and socket activation, as sd_notify(3) and sd_listen_fds(3)
 * describe them, without libsystemd. */
#include "sd_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sd_notify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0')
        return 0;
    if (state == NULL) {
        errno = EINVAL;
        return -1;
    }

    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    size_t path_len = strlen(path);
    /* Only the two AF_UNIX forms: a filesystem path, or '@' for the
     * abstract namespace, where the name starts with a NUL octet and its
     * length is the address length (no terminating NUL). */
    if ((path[0] != '/' && path[0] != '@') || path_len >= sizeof(addr.sun_path)) {
        errno = EINVAL;
        return -1;
    }
    memcpy(addr.sun_path, path, path_len);
    socklen_t addr_len;
    if (path[0] == '@') {
        addr.sun_path[0] = '\0';
        addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);
    } else {
        addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len + 1);
    }

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    size_t state_len = strlen(state);
    ssize_t sent;
    do {
        sent = sendto(fd, state, state_len, MSG_NOSIGNAL, (const struct sockaddr *)&addr, addr_len);
    } while (sent < 0 && errno == EINTR);
    int saved_errno = errno;
    close(fd);
    if (sent < 0) {
        errno = saved_errno;
        return -1;
    }
    if ((size_t)sent != state_len) {
        errno = EMSGSIZE;
        return -1;
    }
    return 1;
}

/* A non-negative decimal that fits an int, nothing else. */
static int parse_count(const char *text, long max, long *out)
{
    if (text == NULL || text[0] < '0' || text[0] > '9')
        return -1;
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < 0 || value > max)
        return -1;
    *out = value;
    return 0;
}

int sd_listen_fds(void)
{
    int result = 0;
    long pid, count;

    const char *pid_text = getenv("LISTEN_PID");
    const char *fds_text = getenv("LISTEN_FDS");
    if (pid_text == NULL || fds_text == NULL)
        goto done;
    if (parse_count(pid_text, LONG_MAX, &pid) < 0 ||
        parse_count(fds_text, INT_MAX - 3, &count) < 0) {
        errno = EINVAL;
        result = -1;
        goto done;
    }
    /* The variables may have been inherited by a child that was not meant
     * to get the descriptors: they are ours only if LISTEN_PID says so. */
    if ((pid_t)pid != getpid())
        goto done;

    for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + (int)count; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
            result = -1;
            goto done;
        }
    }
    result = (int)count;

done:;
    int saved_errno = errno;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    errno = saved_errno;
    return result;
}
