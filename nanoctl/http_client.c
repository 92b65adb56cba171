/* A blocking HTTP/1.0 client, just enough for the management API: one
 * request per connection, the answer delimited by Content-Length or by the
 * server closing the connection (http_response.c reads it). Asking in
 * HTTP/1.0 means the server must not answer with chunked transfer coding
 * (RFC 9112 §6.1), so there is none to decode. */
#include "http_client.h"
#include "http_response.h"
#include "control_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 8192

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for events or the deadline passes (errno
 * ETIMEDOUT). */
static int fd_wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd pfd = {.fd = fd, .events = events};
        int rc = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* A connected socket to one address, or -1 with errno. */
static int connect_address(const struct addrinfo *ai, int64_t deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS || fd_wait(fd, POLLOUT, deadline) < 0)
            goto fail;
        int so_error = 0;
        socklen_t len = sizeof(so_error);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
            goto fail;
        if (so_error != 0) {
            errno = so_error;
            goto fail;
        }
    }
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/* Try every address of host:port in turn, as long as the deadline allows. */
static int connect_host(const char *host, const char *port, int64_t deadline, char *err,
                        size_t err_len)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_NUMERICSERV,
    };
    struct addrinfo *list;
    int rc = getaddrinfo(host, port, &hints, &list);
    if (rc != 0) {
        snprintf(err, err_len, "cannot resolve %s: %s", host,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    int last_errno = 0;
    for (const struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = connect_address(ai, deadline);
        if (fd < 0)
            last_errno = errno;
        if (last_errno == ETIMEDOUT)
            break;
    }
    freeaddrinfo(list);
    if (fd < 0) {
        if (last_errno == ETIMEDOUT)
            snprintf(err, err_len, "timed out while connecting");
        else
            snprintf(err, err_len, "%s", strerror(last_errno));
    }
    return fd;
}

static int send_all(int fd, const char *data, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if ((errno != EAGAIN && errno != EWOULDBLOCK) || fd_wait(fd, POLLOUT, deadline) < 0)
                return -1;
            continue;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int response_read(int fd, int64_t deadline, struct http_response *out, char *err,
                         size_t err_len)
{
    size_t cap = READ_CHUNK, len = 0;
    char *buf = malloc(cap);
    bool eof = false;
    if (buf == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    for (;;) {
        enum http_parse_result parsed = http_response_parse(buf, len, eof, out, err, err_len);
        if (parsed != HTTP_PARSE_MORE) {
            free(buf);
            return parsed == HTTP_PARSE_DONE ? 0 : -1;
        }
        if (cap - len < READ_CHUNK) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                snprintf(err, err_len, "out of memory");
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + len, cap - len, 0);
        if (n > 0) {
            len += (size_t)n;
        } else if (n == 0) {
            eof = true;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (fd_wait(fd, POLLIN, deadline) < 0) {
                if (errno == ETIMEDOUT)
                    snprintf(err, err_len, "timed out waiting for the answer");
                else
                    snprintf(err, err_len, "cannot read the answer: %s", strerror(errno));
                break;
            }
        } else if (errno != EINTR) {
            snprintf(err, err_len, "cannot read the answer: %s", strerror(errno));
            break;
        }
    }
    free(buf);
    return -1;
}

/* The control socket. A full backlog (a node busy or hung) refuses a
 * connection at once, so it is asked again every 10 ms until the deadline. */
static int connect_local(const char *path, int64_t deadline, char *err, size_t err_len)
{
    for (;;) {
        int fd = control_socket_connect(path);
        if (fd >= 0)
            return fd;
        if (errno != EAGAIN) {
            if (errno == EACCES)
                snprintf(err, err_len, "%s (the control socket is the node's user's and root's)",
                         strerror(errno));
            else
                snprintf(err, err_len, "%s", strerror(errno));
            return -1;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            snprintf(err, err_len, "timed out while connecting (the node's backlog is full)");
            return -1;
        }
        poll(NULL, 0, left < 10 ? (int)left : 10);
    }
}

int http_request(const char *socket_path, const char *host, const char *port, const char *method,
                 const char *path, const char *headers, int timeout_ms, struct http_response *out,
                 char *err, size_t err_len)
{
    *out = (struct http_response){0};
    int64_t deadline = now_ms() + timeout_ms;
    bool local = socket_path != NULL && socket_path[0] != '\0';
    int fd = local ? connect_local(socket_path, deadline, err, err_len)
                   : connect_host(host, port, deadline, err, err_len);
    if (fd < 0)
        return -1;

    /* Accept: the API answers /metrics in the Prometheus format to clients
     * that ask for text; we want its JSON. */
    bool literal6 = !local && strchr(host, ':') != NULL;
    char request[2048];
    int n = snprintf(request, sizeof(request),
                     "%s %s HTTP/1.0\r\n"
                     "Host: %s%s%s%s%s\r\n"
                     "Accept: application/json\r\n"
                     "User-Agent: nanoctl/%s\r\n"
                     "%s%s"
                     "\r\n",
                     method, path, literal6 ? "[" : "", local ? "localhost" : host,
                     literal6 ? "]" : "", local ? "" : ":", local ? "" : port,
                     NANODNS_VERSION, strcmp(method, "POST") == 0 ? "Content-Length: 0\r\n" : "",
                     headers != NULL ? headers : "");
    if (n < 0 || (size_t)n >= sizeof(request)) {
        snprintf(err, err_len, "request too long");
        close(fd);
        return -1;
    }
    if (send_all(fd, request, (size_t)n, deadline) < 0) {
        if (errno == ETIMEDOUT)
            snprintf(err, err_len, "timed out sending the request");
        else
            snprintf(err, err_len, "cannot send the request: %s", strerror(errno));
        close(fd);
        return -1;
    }
    int rc = response_read(fd, deadline, out, err, err_len);
    close(fd);
    return rc;
}
