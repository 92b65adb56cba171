/* The data plane as our child: spawn, readiness, restart with backoff,
 * stop. See supervisor.h. One event loop, no threads: every field of
 * struct supervisor is touched only from that loop (or before it runs). */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "image.h"
#include "log.h"
#include "sd_notify.h"

#define DATAPLANE_NAME "nanodns-dataplane"

/* Restart backoff after a data-plane crash: 200 ms doubling to 5 s, back
 * to 200 ms once a data plane has stayed up for 10 s. */
#define RESTART_BACKOFF_MIN_MS 200u
#define RESTART_BACKOFF_MAX_MS 5000u
#define RESTART_BACKOFF_RESET_S 10

#define STOP_TIMEOUT_S 5   /* SIGTERM, then this long, then SIGKILL */
#define READY_TIMEOUT_S 30 /* a data plane silent this long is killed */

/* A ready data plane moves its heartbeat every second; one whose heartbeat
 * has not moved for this long is hung (stopped, spinning, blocked) and is
 * killed and started again. Measured on our monotonic clock from the last
 * change we saw, so a step of the wall clock kills nothing. */
#define HEARTBEAT_TIMEOUT_MS 3000u
#define HEARTBEAT_CHECK_MS 250u

/* The names of the descriptors the data plane gets (LISTEN_FDNAMES). */
#define LISTEN_FD_NAME_UDP "dns-udp"
#define LISTEN_FD_NAME_TCP "dns-tcp"

struct supervisor {
    struct supervisor_config config;
    char notify_address[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* "@nanodns-notify-..." */
    int notify_fd;

    pid_t child;      /* the data plane, or -1 */
    bool child_ready; /* the running data plane sent READY=1 */
    bool ever_ready;  /* some data plane was ready once: later deaths are restarts */
    bool stopping;
    struct timespec child_started;
    unsigned backoff_ms;       /* delay before the next restart */
    uint64_t beat;             /* the child's last heartbeat seen, 0: none yet */
    struct timespec beat_seen; /* when it last changed */
    bool hung_killed;          /* we SIGKILLed the child for a stale heartbeat */

    struct event *sigchld_event;
    struct event *notify_event;
    struct event *restart_timer;
    struct event *stop_timer;
    struct event *ready_timer;
    struct event *heartbeat_timer;
};

static const char *level_name(int level)
{
    switch (level) {
    case LOG_LEVEL_DEBUG:
        return "DEBUG";
    case LOG_LEVEL_WARNING:
        return "WARNING";
    case LOG_LEVEL_ERROR:
        return "ERROR";
    default:
        return "INFO";
    }
}

static uint64_t elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms =
        (int64_t)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
    return ms > 0 ? (uint64_t)ms : 0;
}

static struct timeval timeval_ms(unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

/* ---- finding the program ---- */

static bool executable(const char *path)
{
    return access(path, X_OK) == 0;
}

/* Beside our own executable (a build tree, or one install), then the
 * install prefix; $NANODNS_DATAPLANE overrides both. */
int supervisor_find_dataplane(char *out, size_t out_len)
{
    const char *env = getenv("NANODNS_DATAPLANE");
    if (env != NULL && env[0] != '\0') {
        if (!executable(env)) {
            log_error("NANODNS_DATAPLANE=%s: %s", env, strerror(errno));
            return -1;
        }
        snprintf(out, out_len, "%s", env);
        return 0;
    }

    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            int len = snprintf(out, out_len, "%s/%s", self, DATAPLANE_NAME);
            if (len > 0 && (size_t)len < out_len && executable(out))
                return 0;
        }
    }

    static const char *const dirs[] = {
#ifdef NANODNS_INSTALL_BINDIR
        NANODNS_INSTALL_BINDIR,
#endif
        "/usr/local/bin",
        "/usr/bin",
    };
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(out, out_len, "%s/%s", dirs[i], DATAPLANE_NAME);
        if (executable(out))
            return 0;
    }
    log_error("cannot find %s beside %s or in the install directory; set NANODNS_DATAPLANE",
              DATAPLANE_NAME, n > 0 ? self : "this program");
    return -1;
}

/* ---- readiness notifications from the data plane ---- */

/* An abstract-namespace datagram socket: no file to clean up, no
 * permissions the unprivileged data plane could lack. Senders are checked
 * by their credentials, not by the name being secret. */
static int notify_open(struct supervisor *sup)
{
    uint32_t nonce;
    if (getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK) != (ssize_t)sizeof(nonce))
        nonce = (uint32_t)time(NULL) ^ (uint32_t)clock();
    snprintf(sup->notify_address, sizeof(sup->notify_address), "@nanodns-notify-%ld-%08x",
             (long)getpid(), nonce);

    sup->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (sup->notify_fd < 0) {
        log_error("cannot create the notify socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    size_t name_len = strlen(sup->notify_address);
    memcpy(addr.sun_path, sup->notify_address, name_len);
    addr.sun_path[0] = '\0'; /* abstract: the length below delimits the name, no NUL */
    socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + name_len);
    int one = 1;
    if (bind(sup->notify_fd, (struct sockaddr *)&addr, addr_len) < 0 ||
        setsockopt(sup->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
        log_error("cannot set up the notify socket %s: %s", sup->notify_address, strerror(errno));
        return -1;
    }
    return 0;
}

static void dataplane_ready(struct supervisor *sup)
{
    if (sup->child_ready)
        return; /* READY=1 after a reload (RELOADING=1 ... READY=1) */
    sup->child_ready = true;
    evtimer_del(sup->ready_timer);
    bool first = !sup->ever_ready;
    sup->ever_ready = true;
    sup->config.on_ready(sup->config.arg, first);
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct supervisor *sup = arg;
    for (;;) {
        char buf[4096];
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(8 * sizeof(int))];
        } control;
        struct msghdr msg = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = control.buf,
            .msg_controllen = sizeof(control.buf),
        };
        ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_warning("notify socket: %s", strerror(errno));
            return;
        }

        pid_t sender = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET)
                continue;
            if (c->cmsg_type == SCM_CREDENTIALS) {
                struct ucred cred;
                memcpy(&cred, CMSG_DATA(c), sizeof(cred));
                sender = cred.pid;
            } else if (c->cmsg_type == SCM_RIGHTS) {
                /* Nobody should pass us descriptors; do not leak them. */
                size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < count; i++) {
                    int passed;
                    memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                    close(passed);
                }
            }
        }
        /* As systemd's NotifyAccess=main: only the data plane itself. */
        if (sup->child <= 0 || sender != sup->child) {
            log_debug("ignoring a notification from pid %ld", (long)sender);
            continue;
        }

        buf[n] = '\0';
        for (char *line = buf, *next; line != NULL && *line != '\0'; line = next) {
            next = strchr(line, '\n');
            if (next != NULL)
                *next++ = '\0';
            if (strcmp(line, "READY=1") == 0)
                dataplane_ready(sup);
            else if (strncmp(line, "STATUS=", 7) == 0)
                log_debug("data plane status: %s", line + 7);
        }
    }
}

/* ---- the data plane process ---- */

/* In the forked child: hand over the sockets as systemd would and exec.
 * Only async-signal-safe work would be strictly required after fork(); the
 * control plane is single-threaded, so setenv and snprintf are safe here. */
static void dataplane_exec(const struct supervisor *sup)
{
    const struct supervisor_config *cfg = &sup->config;
    /* libevent's handlers would write into the parent's signal pipe. */
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);

    /* Copies above the target numbers first, so that no dup2 can
     * overwrite a socket still to be moved; dup2 clears FD_CLOEXEC on the
     * targets. LISTEN_FDS order: the UDP sockets, then the TCP one. */
    size_t count = cfg->udp_count + 1;
    int copies[SUPERVISOR_UDP_MAX + 1];
    char names[(SUPERVISOR_UDP_MAX + 1) * sizeof(LISTEN_FD_NAME_UDP)];
    names[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        int fd = i < cfg->udp_count ? cfg->udp_fds[i] : cfg->tcp_fd;
        copies[i] = fcntl(fd, F_DUPFD_CLOEXEC, SD_LISTEN_FDS_START + (int)count + 8);
        if (copies[i] < 0) {
            fprintf(stderr, "nanodns: cannot pass the sockets to the data plane: %s\n",
                    strerror(errno));
            _exit(127);
        }
        strcat(names, i == 0 ? "" : ":");
        strcat(names, i < cfg->udp_count ? LISTEN_FD_NAME_UDP : LISTEN_FD_NAME_TCP);
    }
    for (size_t i = 0; i < count; i++) {
        if (dup2(copies[i], SD_LISTEN_FDS_START + (int)i) < 0) {
            fprintf(stderr, "nanodns: cannot pass the sockets to the data plane: %s\n",
                    strerror(errno));
            _exit(127);
        }
    }

    char pid_text[24], count_text[24];
    snprintf(pid_text, sizeof(pid_text), "%ld", (long)getpid());
    snprintf(count_text, sizeof(count_text), "%zu", count);
    if (setenv("LISTEN_FDS", count_text, 1) < 0 || setenv("LISTEN_PID", pid_text, 1) < 0 ||
        setenv("LISTEN_FDNAMES", names, 1) < 0 ||
        setenv("NOTIFY_SOCKET", sup->notify_address, 1) < 0) {
        fprintf(stderr, "nanodns: cannot set the data plane's environment: %s\n", strerror(errno));
        _exit(127);
    }

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    char *argv[12];
    size_t argc = 0;
    argv[argc++] = (char *)cfg->dataplane_path;
    argv[argc++] = "--state-dir";
    argv[argc++] = (char *)cfg->state_dir;
    argv[argc++] = "--stats";
    argv[argc++] = (char *)cfg->stats_path;
    if (cfg->user != NULL) {
        argv[argc++] = "--user";
        argv[argc++] = (char *)cfg->user;
    }
    /* Only a level from our command line: otherwise the data plane
     * follows the image's, which changes with reloads. */
    if (cfg->log_level >= 0) {
        argv[argc++] = "--log-level";
        argv[argc++] = (char *)level_name(cfg->log_level);
    }
    argv[argc] = NULL;
    execv(cfg->dataplane_path, argv);
    fprintf(stderr, "nanodns: cannot run %s: %s\n", cfg->dataplane_path, strerror(errno));
    _exit(127);
}

int supervisor_spawn(struct supervisor *sup)
{
    /* Signals stay blocked across fork() until the child has reset its
     * handlers: a signal in between must not reach libevent's in the child. */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        dataplane_exec(sup);
    int saved_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        log_error("cannot start the data plane: fork: %s", strerror(saved_errno));
        return -1;
    }
    sup->child = pid;
    sup->child_ready = false;
    sup->beat = 0;
    sup->hung_killed = false;
    clock_gettime(CLOCK_MONOTONIC, &sup->child_started);
    log_info("started %s (pid %ld)", sup->config.dataplane_path, (long)pid);
    struct timeval tv = {.tv_sec = READY_TIMEOUT_S};
    evtimer_add(sup->ready_timer, &tv);
    return 0;
}

static void exit_status_describe(int status, char *out, size_t out_len)
{
    if (WIFEXITED(status))
        snprintf(out, out_len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, out_len, "was killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
    else
        snprintf(out, out_len, "ended with wait status %d", status);
}

static void dataplane_exited(struct supervisor *sup, int status)
{
    char why[128];
    exit_status_describe(status, why, sizeof(why));
    pid_t pid = sup->child;
    sup->child = -1;
    sup->child_ready = false;
    evtimer_del(sup->ready_timer);

    if (sup->stopping) {
        log_info("data plane (pid %ld) %s", (long)pid, why);
        evtimer_del(sup->stop_timer);
        sup->config.on_stopped(sup->config.arg);
        return;
    }
    if (!sup->ever_ready) {
        log_error("data plane (pid %ld) %s before it was ready", (long)pid, why);
        sup->config.on_failed(sup->config.arg);
        return;
    }

    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - sup->child_started.tv_sec >= RESTART_BACKOFF_RESET_S)
        sup->backoff_ms = RESTART_BACKOFF_MIN_MS;
    unsigned delay = sup->backoff_ms;
    sup->backoff_ms = delay * 2 > RESTART_BACKOFF_MAX_MS ? RESTART_BACKOFF_MAX_MS : delay * 2;
    log_error("data plane (pid %ld) %s; restarting it in %u ms", (long)pid, why, delay);
    if (WIFEXITED(status) && WEXITSTATUS(status) == IMAGE_REFUSED_EXIT_STATUS &&
        sup->config.on_image_refused != NULL) {
        /* It could not serve the published image (changed in place,
         * removed, unreadable): without a new one every restart fails. */
        log_error("data plane (pid %ld) could not serve the published image; publishing the "
                  "config in force again",
                  (long)pid);
        sup->config.on_image_refused(sup->config.arg);
    }
    struct timeval tv = timeval_ms(delay);
    evtimer_add(sup->restart_timer, &tv);
}

static void on_restart_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct supervisor *sup = arg;
    if (sup->stopping || sup->child > 0)
        return;
    if (supervisor_spawn(sup) < 0) {
        struct timeval tv = timeval_ms(sup->backoff_ms);
        evtimer_add(sup->restart_timer, &tv);
    }
}

static void on_ready_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct supervisor *sup = arg;
    if (sup->child <= 0 || sup->child_ready)
        return;
    /* Its exit (SIGCHLD) then decides: give up at start, restart later. */
    log_error("data plane (pid %ld) did not report ready within %d s; killing it", (long)sup->child,
              READY_TIMEOUT_S);
    kill(sup->child, SIGKILL);
}

/* The watchdog: only for our own ready child, from its first heartbeat on;
 * the kill is then an ordinary death, restarted with the usual backoff. */
static void on_heartbeat_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct supervisor *sup = arg;
    if (sup->stopping || sup->child <= 0 || !sup->child_ready || sup->hung_killed ||
        sup->config.heartbeat == NULL)
        return;
    uint64_t beat = sup->config.heartbeat(sup->config.arg, sup->child);
    if (beat == 0)
        return; /* no heartbeat of this child's yet */
    if (beat != sup->beat) {
        sup->beat = beat;
        clock_gettime(CLOCK_MONOTONIC, &sup->beat_seen);
        return;
    }
    uint64_t stale = elapsed_ms(&sup->beat_seen);
    if (stale <= HEARTBEAT_TIMEOUT_MS)
        return;
    log_error("data plane (pid %ld) is hung: no heartbeat for %.1f s; killing it", (long)sup->child,
              (double)stale / 1000.0);
    sup->hung_killed = true;
    if (kill(sup->child, SIGKILL) < 0)
        log_warning("cannot kill the data plane: %s", strerror(errno));
}

static void on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct supervisor *sup = arg;
    if (sup->child <= 0)
        return;
    log_warning("data plane (pid %ld) did not stop within %d s; killing it", (long)sup->child,
                STOP_TIMEOUT_S);
    kill(sup->child, SIGKILL);
    int status;
    if (waitpid(sup->child, &status, 0) == sup->child)
        dataplane_exited(sup, status);
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct supervisor *sup = arg;
    int status;
    pid_t pid;
    /* One SIGCHLD may stand for several exits. */
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == sup->child)
            dataplane_exited(sup, status);
    }
}

void supervisor_stop(struct supervisor *sup)
{
    if (sup->stopping)
        return;
    sup->stopping = true;
    evtimer_del(sup->restart_timer);
    evtimer_del(sup->ready_timer);
    if (sup->child <= 0) {
        sup->config.on_stopped(sup->config.arg);
        return;
    }
    if (kill(sup->child, SIGTERM) < 0)
        log_warning("cannot signal the data plane: %s", strerror(errno));
    struct timeval tv = {.tv_sec = STOP_TIMEOUT_S};
    evtimer_add(sup->stop_timer, &tv);
}

pid_t supervisor_child(const struct supervisor *sup)
{
    return sup->child;
}

bool supervisor_child_ready(const struct supervisor *sup)
{
    return sup->child > 0 && sup->child_ready;
}

struct supervisor *supervisor_create(const struct supervisor_config *config)
{
    struct supervisor *sup = calloc(1, sizeof(*sup));
    if (sup == NULL) {
        log_error("out of memory");
        return NULL;
    }
    sup->config = *config;
    sup->notify_fd = -1;
    sup->child = -1;
    sup->backoff_ms = RESTART_BACKOFF_MIN_MS;
    if (notify_open(sup) < 0) {
        supervisor_free(sup);
        return NULL;
    }
    struct event_base *base = config->base;
    sup->sigchld_event = evsignal_new(base, SIGCHLD, on_sigchld, sup);
    sup->notify_event = event_new(base, sup->notify_fd, EV_READ | EV_PERSIST, on_notify, sup);
    sup->restart_timer = evtimer_new(base, on_restart_timer, sup);
    sup->stop_timer = evtimer_new(base, on_stop_timer, sup);
    sup->ready_timer = evtimer_new(base, on_ready_timer, sup);
    sup->heartbeat_timer = event_new(base, -1, EV_PERSIST, on_heartbeat_timer, sup);
    struct timeval check = timeval_ms(HEARTBEAT_CHECK_MS);
    if (sup->sigchld_event == NULL || sup->notify_event == NULL || sup->restart_timer == NULL ||
        sup->stop_timer == NULL || sup->ready_timer == NULL || sup->heartbeat_timer == NULL ||
        evsignal_add(sup->sigchld_event, NULL) < 0 || event_add(sup->notify_event, NULL) < 0 ||
        event_add(sup->heartbeat_timer, &check) < 0) {
        log_error("cannot set up the data plane's events");
        supervisor_free(sup);
        return NULL;
    }
    return sup;
}

void supervisor_free(struct supervisor *sup)
{
    if (sup == NULL)
        return;
    if (sup->child > 0) {
        /* Only on a failed start: the loop did not stop it. */
        kill(sup->child, SIGKILL);
        waitpid(sup->child, NULL, 0);
    }
    struct event *events[] = {sup->sigchld_event, sup->notify_event, sup->restart_timer,
                              sup->stop_timer,    sup->ready_timer,  sup->heartbeat_timer};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        if (events[i] != NULL)
            event_free(events[i]);
    }
    if (sup->notify_fd >= 0)
        close(sup->notify_fd);
    free(sup);
}
