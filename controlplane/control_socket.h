/* The node's local control channel: a UNIX stream socket in the state directory, mode 0600, that
 * nanoctl uses on the same host (as knotc uses knot.sock). Only the node's own user and root can
 * connect to it, so the API takes changes over it without a signature; no web page can reach it.
 * Paths longer than sun_path (108 octets) are reached through /proc/self/fd/N/NAME. */
#ifndef NANODNS_CONTROL_SOCKET_H
#define NANODNS_CONTROL_SOCKET_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#define CONTROL_SOCKET_NAME "control.sock"

/* STATE_DIR/control.sock into out. Returns 0, or -1 when it does not fit. */
int control_socket_path(const char *state_dir, char *out, size_t out_len);

/* A listening socket and the directory entry it made. */
struct control_socket {
    int fd;     /* listening, non-blocking, close-on-exec; -1: none */
    int dir_fd; /* O_PATH of the folder, to bind, chmod and unlink by name */
    char name[NAME_MAX + 1];
    char path[PATH_MAX];
    dev_t dev; /* the socket file we bound: unlinked at close only if still ours */
    ino_t ino;
};

/* Listen at path with mode 0600. A socket file already there (left by a run that did not stop
 * cleanly) is replaced; anything else there is an error. The caller holds the state directory's
 * lock, so no live node owns that socket. Returns 0, or -1 with the reason in err (s->fd -1). */
int control_socket_listen(const char *path, struct control_socket *s, char *err, size_t err_len);

/* Remove the socket file if it is still the one we made, and close fd (set it to -1 first when
 * someone else, an evhttp listener, closed it already). */
void control_socket_close(struct control_socket *s);

/* A stream socket connected to path (non-blocking, close-on-exec), or -1 with errno (ENOENT:
 * nothing there; ECONNREFUSED: nobody listening; EACCES: not ours to use; EAGAIN: a node is
 * there but its backlog is full, busy or hung: try again later). Never waits: a blocking
 * connect to a full backlog would wait for ever. */
int control_socket_connect(const char *path);

#endif
