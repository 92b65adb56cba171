/* The node's control socket. See control_socket.h. */
#include "control_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_SOCKET_BACKLOG 16

int control_socket_path(const char *state_dir, char *out, size_t out_len)
{
    int n = snprintf(out, out_len, "%s/%s", state_dir, CONTROL_SOCKET_NAME);
    return n < 0 || (size_t)n >= out_len ? -1 : 0;
}

/* path's folder (O_PATH) and last component. Returns the folder's fd, or -1 with errno. */
static int folder_open(const char *path, char *name, size_t name_len)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    char folder[PATH_MAX];
    if (slash == NULL)
        snprintf(folder, sizeof(folder), ".");
    else if (slash == path)
        snprintf(folder, sizeof(folder), "/");
    else if ((size_t)(slash - path) >= sizeof(folder)) {
        errno = ENAMETOOLONG;
        return -1;
    } else
        snprintf(folder, sizeof(folder), "%.*s", (int)(slash - path), path);
    if (base[0] == '\0' || strlen(base) >= name_len) {
        errno = base[0] == '\0' ? EINVAL : ENAMETOOLONG;
        return -1;
    }
    snprintf(name, name_len, "%s", base);
    return open(folder, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* The address of NAME in the folder dir_fd: path itself when it fits in sun_path, else the
 * folder through /proc/self/fd (Linux resolves that link for bind and connect alike). */
static int address_make(const char *path, int dir_fd, const char *name, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    int n = strlen(path) < sizeof(sun->sun_path)
                ? snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", path)
                : snprintf(sun->sun_path, sizeof(sun->sun_path), "/proc/self/fd/%d/%s", dir_fd,
                           name);
    if (n < 0 || (size_t)n >= sizeof(sun->sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

int control_socket_listen(const char *path, struct control_socket *s, char *err, size_t err_len)
{
    *s = (struct control_socket){.fd = -1, .dir_fd = -1};
    if (snprintf(s->path, sizeof(s->path), "%s", path) >= (int)sizeof(s->path)) {
        snprintf(err, err_len, "%s: name too long", path);
        return -1;
    }
    s->dir_fd = folder_open(path, s->name, sizeof(s->name));
    if (s->dir_fd < 0) {
        snprintf(err, err_len, "cannot open the folder of %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstatat(s->dir_fd, s->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, err_len, "%s exists and is not a socket; move it away", path);
            goto fail;
        }
        if (unlinkat(s->dir_fd, s->name, 0) < 0) {
            snprintf(err, err_len, "cannot remove the old socket %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    struct sockaddr_un sun;
    if (address_make(path, s->dir_fd, s->name, &sun) < 0) {
        snprintf(err, err_len, "%s: name too long", path);
        goto fail;
    }
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        snprintf(err, err_len, "cannot make a socket for %s: %s", path, strerror(errno));
        goto fail;
    }
    /* 0600 from the start: no moment in which another user could connect. */
    mode_t old_mask = umask(0177);
    int bound = bind(s->fd, (const struct sockaddr *)&sun, sizeof(sun));
    int bind_errno = errno;
    umask(old_mask);
    if (bound < 0) {
        snprintf(err, err_len, "cannot bind %s: %s", path, strerror(bind_errno));
        goto fail;
    }
    if (fchmodat(s->dir_fd, s->name, 0600, 0) < 0 ||
        fstatat(s->dir_fd, s->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        snprintf(err, err_len, "cannot set the mode of %s: %s", path, strerror(errno));
        unlinkat(s->dir_fd, s->name, 0);
        goto fail;
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    if (listen(s->fd, CONTROL_SOCKET_BACKLOG) < 0) {
        snprintf(err, err_len, "cannot listen on %s: %s", path, strerror(errno));
        unlinkat(s->dir_fd, s->name, 0);
        goto fail;
    }
    return 0;
fail:
    control_socket_close(s);
    return -1;
}

void control_socket_close(struct control_socket *s)
{
    struct stat st;
    if (s->dir_fd >= 0 && s->ino != 0 &&
        fstatat(s->dir_fd, s->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == s->dev &&
        st.st_ino == s->ino)
        unlinkat(s->dir_fd, s->name, 0);
    s->ino = 0;
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    if (s->dir_fd >= 0) {
        close(s->dir_fd);
        s->dir_fd = -1;
    }
}

int control_socket_connect(const char *path)
{
    char name[NAME_MAX + 1];
    int dir_fd = folder_open(path, name, sizeof(name));
    if (dir_fd < 0)
        return -1;
    struct sockaddr_un sun;
    int fd = -1;
    if (address_make(path, dir_fd, name, &sun) == 0 &&
        (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) >= 0 &&
        connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int saved = errno;
        close(fd);
        fd = -1;
        errno = saved;
    }
    int saved = errno;
    close(dir_fd);
    errno = saved;
    return fd;
}
