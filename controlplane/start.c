/* `nanodns start`: publish the image, open the sockets, run and supervise
 * the data plane. One process, one libevent loop, no threads: every field
 * of struct supervisor is touched only from that loop (or before it runs). */
#include "start.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "atomic_file.h"
#include "compile.h"
#include "config.h"
#include "image.h"
#include "log.h"
#include "sd_notify.h"

#define DATAPLANE_NAME "nanodns-dataplane"
#define LISTEN_BACKLOG 1024
#define STATE_DIR_MODE 0755
#define IMAGE_MODE 0644 /* the data plane may run as another user */
#define LOCK_FILE_NAME "nanodns.lock"

/* Restart backoff after a data-plane crash: 200 ms doubling to 5 s, back
 * to 200 ms once a data plane has stayed up for 10 s. */
#define RESTART_BACKOFF_MIN_MS 200u
#define RESTART_BACKOFF_MAX_MS 5000u
#define RESTART_BACKOFF_RESET_S 10

#define STOP_TIMEOUT_S 5   /* SIGTERM, then this long, then SIGKILL */
#define READY_TIMEOUT_S 30 /* a data plane silent this long is killed */

/* The descriptors the data plane gets, in the LISTEN_FDS order. */
#define LISTEN_FD_NAMES "dns-udp:dns-tcp"

struct supervisor {
    struct event_base *base;
    const struct start_options *opts;

    char state_dir[PATH_MAX];
    char image_path[PATH_MAX];
    char dataplane_path[PATH_MAX];
    char notify_address[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* "@nanodns-notify-..." */
    char listen_host[256]; /* as configured: reloads compare against it */
    uint16_t listen_port;
    char listen_text[300]; /* "127.0.0.1:53", "[::1]:5353" */
    enum log_level level;

    int udp_fd, tcp_fd; /* kept open for restarts */
    int notify_fd;
    int lock_fd;

    pid_t child;         /* the data plane, or -1 */
    bool child_ready;    /* the running data plane sent READY=1 */
    bool ever_ready;     /* the "serving" line has been logged */
    bool reload_pending; /* published while the child was starting: SIGHUP it once ready */
    bool stopping;
    struct timespec child_started;
    unsigned backoff_ms; /* delay before the next restart */

    size_t record_count, zone_count; /* of the published config, for log lines */
    uint64_t config_version;

    struct event *signal_events[4];
    struct event *notify_event;
    struct event *restart_timer;
    struct event *stop_timer;
    struct event *ready_timer;

    int exit_code;
};

static const char *level_name(enum log_level level)
{
    switch (level) {
    case LOG_LEVEL_DEBUG:
        return "DEBUG";
    case LOG_LEVEL_WARNING:
        return "WARNING";
    case LOG_LEVEL_ERROR:
        return "ERROR";
    case LOG_LEVEL_INFO:
    default:
        return "INFO";
    }
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

static struct timeval timeval_ms(unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

/* ---- configuration ---- */

static int config_apply_overrides(struct config *cfg, const struct start_options *opts)
{
    if (opts->host != NULL) {
        char *host = strdup(opts->host);
        if (host == NULL)
            return -1;
        free(cfg->server.host);
        cfg->server.host = host;
    }
    if (opts->port != 0)
        cfg->server.port = opts->port;
    if (opts->log_level >= 0) {
        /* In the config too: the compiled image carries the level. */
        char *level = strdup(level_name((enum log_level)opts->log_level));
        if (level == NULL)
            return -1;
        free(cfg->server.log_level);
        cfg->server.log_level = level;
    }
    if (opts->no_cache)
        cfg->server.cache_enabled = false;
    return 0;
}

/* Load, validate and apply the command-line overrides. Findings go to
 * stderr as `nanodns check` prints them. Returns 0 with cfg to free, or -1. */
static int config_prepare(const struct start_options *opts, struct config *cfg)
{
    struct config_diags diags;
    int rc;
    if (opts->config_path != NULL) {
        config_diags_init(&diags, opts->config_path);
        rc = config_load_file(opts->config_path, cfg, &diags);
    } else {
        /* The original runs on its defaults when no file is given. */
        static const char defaults[] = "{}";
        config_diags_init(&diags, "(built-in defaults)");
        rc = config_load_buffer(defaults, sizeof(defaults) - 1, cfg, &diags);
    }
    config_diags_print(&diags, stderr);
    if (rc < 0) {
        fprintf(stderr, "FAIL Config error: %zu error(s)\n", diags.errors);
        config_diags_free(&diags);
        return -1;
    }
    config_diags_free(&diags);
    if (config_apply_overrides(cfg, opts) < 0) {
        log_error("out of memory");
        config_free(cfg);
        return -1;
    }
    return 0;
}

static enum log_level config_log_level(const struct config *cfg)
{
    int level = log_level_parse(cfg->server.log_level);
    return level < 0 ? LOG_LEVEL_INFO : (enum log_level)level;
}

/* Compile cfg and replace the published image. A new file is renamed over
 * the old one: the data plane has the old one mapped and keeps reading it
 * until it switches. */
static int image_publish(struct supervisor *sup, const struct config *cfg)
{
    uint8_t *image = NULL;
    size_t image_len = 0;
    char err[512];
    if (compile_config(cfg, &image, &image_len, err, sizeof(err)) < 0) {
        log_error("cannot compile the configuration: %s", err);
        return -1;
    }
    int rc = atomic_file_write(sup->image_path, image, image_len, IMAGE_MODE, err, sizeof(err));
    free(image);
    if (rc < 0) {
        log_error("cannot publish the zone image: %s", err);
        return -1;
    }
    sup->record_count = cfg->record_count;
    sup->zone_count = cfg->zone_count;
    sup->config_version = cfg->server.config_version;
    log_info("published %s (config version %llu, %zu octets)", sup->image_path,
             (unsigned long long)cfg->server.config_version, image_len);
    return 0;
}

/* ---- state directory ---- */

int start_default_state_dir(char *out, size_t out_len)
{
    int n;
    int shared = 0;
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    if (geteuid() == 0) {
        n = snprintf(out, out_len, "/var/lib/nanodns");
    } else if (xdg != NULL && xdg[0] == '/') { /* relative values are invalid (XDG spec) */
        n = snprintf(out, out_len, "%s/nanodns", xdg);
    } else if (home != NULL && home[0] == '/') {
        n = snprintf(out, out_len, "%s/.local/state/nanodns", home);
    } else {
        n = snprintf(out, out_len, "/tmp/nanodns-%lu", (unsigned long)geteuid());
        shared = 1;
    }
    if (n < 0 || (size_t)n >= out_len)
        return -1;
    return shared;
}

/* mkdir -p: the missing components get mode. */
static int directory_create(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
        log_error("state directory name too long: %s", path);
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST) {
            log_error("cannot create state directory %s: %s", buf, strerror(errno));
            return -1;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
        log_error("state directory %s is not a directory", path);
        return -1;
    }
    return 0;
}

static int state_dir_setup(struct supervisor *sup)
{
    int shared = 0;
    if (sup->opts->state_dir != NULL) {
        if (snprintf(sup->state_dir, sizeof(sup->state_dir), "%s", sup->opts->state_dir) >=
            (int)sizeof(sup->state_dir)) {
            log_error("state directory name too long: %s", sup->opts->state_dir);
            return -1;
        }
    } else {
        shared = start_default_state_dir(sup->state_dir, sizeof(sup->state_dir));
        if (shared < 0) {
            log_error("state directory name too long");
            return -1;
        }
    }
    if (directory_create(sup->state_dir, STATE_DIR_MODE) < 0)
        return -1;
    if (shared) {
        /* In /tmp anyone could have made the directory first. */
        struct stat st;
        if (lstat(sup->state_dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
            log_error("state directory %s is not a directory owned by this user; use --state-dir",
                      sup->state_dir);
            return -1;
        }
    }

    /* Two control planes publishing into one directory would overwrite
     * each other's image. The lock dies with the process. */
    char lock_path[PATH_MAX + sizeof(LOCK_FILE_NAME) + 1];
    snprintf(lock_path, sizeof(lock_path), "%s/%s", sup->state_dir, LOCK_FILE_NAME);
    sup->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (sup->lock_fd < 0) {
        log_error("cannot open %s: %s", lock_path, strerror(errno));
        return -1;
    }
    if (flock(sup->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            log_error("state directory %s is in use by another nanodns; use --state-dir",
                      sup->state_dir);
        else
            log_error("cannot lock %s: %s", lock_path, strerror(errno));
        return -1;
    }

    if (snprintf(sup->image_path, sizeof(sup->image_path), "%s/%s", sup->state_dir,
                 IMAGE_FILE_NAME) >= (int)sizeof(sup->image_path)) {
        log_error("state directory name too long: %s", sup->state_dir);
        return -1;
    }
    log_info("state directory: %s", sup->state_dir);
    return 0;
}

/* ---- DNS sockets ---- */

static void bind_error(int error, const char *proto, const char *where)
{
    if (error == EACCES)
        log_error("permission denied binding %s: use --port 5353, or run as root or with "
                  "CAP_NET_BIND_SERVICE",
                  where);
    else if (error == EADDRINUSE)
        log_error("address already in use: %s (another DNS server running? use --port)", where);
    else
        log_error("cannot listen on %s (%s): %s", where, proto, strerror(error));
}

static int socket_open(const struct addrinfo *ai, int type, const char *where)
{
    const char *proto = type == SOCK_DGRAM ? "UDP" : "TCP";
    /* Non-blocking: the data plane runs them in its event loop. */
    int fd = socket(ai->ai_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        log_error("cannot create the %s socket for %s: %s", proto, where, strerror(errno));
        return -1;
    }
    int one = 1, zero = 0;
    if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail_setsockopt;
    /* "::" serves IPv4 too, whatever net.ipv6.bindv6only says. */
    if (ai->ai_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)
        goto fail_setsockopt;
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        bind_error(errno, proto, where);
        close(fd);
        return -1;
    }
    if (type == SOCK_STREAM && listen(fd, LISTEN_BACKLOG) < 0) {
        bind_error(errno, proto, where);
        close(fd);
        return -1;
    }
    return fd;

fail_setsockopt:
    log_error("cannot set up the %s socket for %s: %s", proto, where, strerror(errno));
    close(fd);
    return -1;
}

static int listen_open(struct supervisor *sup, const char *host, uint16_t port)
{
    snprintf(sup->listen_host, sizeof(sup->listen_host), "%s", host);
    sup->listen_port = port;

    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_DGRAM,
        .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
    };
    char port_text[8];
    snprintf(port_text, sizeof(port_text), "%u", (unsigned)port);
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, port_text, &hints, &ai);
    if (rc != 0) {
        log_error("listen address \"%s\" is not an IPv4 or IPv6 address: %s", host,
                  gai_strerror(rc));
        return -1;
    }
    if (ai->ai_family == AF_INET6)
        snprintf(sup->listen_text, sizeof(sup->listen_text), "[%s]:%u", host, (unsigned)port);
    else
        snprintf(sup->listen_text, sizeof(sup->listen_text), "%s:%u", host, (unsigned)port);

    sup->udp_fd = socket_open(ai, SOCK_DGRAM, sup->listen_text);
    if (sup->udp_fd >= 0)
        sup->tcp_fd = socket_open(ai, SOCK_STREAM, sup->listen_text);
    freeaddrinfo(ai);
    return sup->udp_fd >= 0 && sup->tcp_fd >= 0 ? 0 : -1;
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
    if (!sup->ever_ready) {
        sup->ever_ready = true;
        log_info("serving %zu record%s in %zu zone%s on %s", sup->record_count,
                 plural(sup->record_count), sup->zone_count, plural(sup->zone_count),
                 sup->listen_text);
        if (sd_notify_send("READY=1") < 0)
            log_warning("cannot notify the service manager: %s", strerror(errno));
    } else {
        log_info("data plane (pid %ld) is serving again on %s", (long)sup->child, sup->listen_text);
    }
    if (sup->reload_pending) {
        sup->reload_pending = false;
        if (kill(sup->child, SIGHUP) < 0)
            log_warning("cannot signal the data plane: %s", strerror(errno));
    }
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

static bool executable(const char *path)
{
    return access(path, X_OK) == 0;
}

/* Beside our own executable (a build tree, or one install), then the
 * install prefix; $NANODNS_DATAPLANE overrides both. */
static int dataplane_find(struct supervisor *sup)
{
    char *out = sup->dataplane_path;
    size_t out_len = sizeof(sup->dataplane_path);
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

/* In the forked child: hand over the sockets as systemd would and exec.
 * Only async-signal-safe work would be strictly required after fork(); the
 * control plane is single-threaded, so setenv and snprintf are safe here. */
static void dataplane_exec(const struct supervisor *sup)
{
    /* libevent's handlers would write into the parent's signal pipe. */
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);

    /* Copies above the target numbers first, so that neither dup2 can
     * overwrite the other socket; dup2 clears FD_CLOEXEC on 3 and 4. */
    int udp = fcntl(sup->udp_fd, F_DUPFD_CLOEXEC, 10);
    int tcp = fcntl(sup->tcp_fd, F_DUPFD_CLOEXEC, 10);
    if (udp < 0 || tcp < 0 || dup2(udp, SD_LISTEN_FDS_START) < 0 ||
        dup2(tcp, SD_LISTEN_FDS_START + 1) < 0) {
        fprintf(stderr, "nanodns: cannot pass the sockets to the data plane: %s\n",
                strerror(errno));
        _exit(127);
    }

    char pid_text[24];
    snprintf(pid_text, sizeof(pid_text), "%ld", (long)getpid());
    if (setenv("LISTEN_FDS", "2", 1) < 0 || setenv("LISTEN_PID", pid_text, 1) < 0 ||
        setenv("LISTEN_FDNAMES", LISTEN_FD_NAMES, 1) < 0 ||
        setenv("NOTIFY_SOCKET", sup->notify_address, 1) < 0) {
        fprintf(stderr, "nanodns: cannot set the data plane's environment: %s\n", strerror(errno));
        _exit(127);
    }

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    char *const argv[] = {
        (char *)sup->dataplane_path,    "--state-dir", (char *)sup->state_dir, "--log-level",
        (char *)level_name(sup->level), NULL,
    };
    execv(sup->dataplane_path, argv);
    fprintf(stderr, "nanodns: cannot run %s: %s\n", sup->dataplane_path, strerror(errno));
    _exit(127);
}

static int dataplane_spawn(struct supervisor *sup)
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
    clock_gettime(CLOCK_MONOTONIC, &sup->child_started);
    log_info("started %s (pid %ld)", sup->dataplane_path, (long)pid);
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
        event_base_loopbreak(sup->base);
        return;
    }
    if (!sup->ever_ready) {
        log_error("data plane (pid %ld) %s before it was ready", (long)pid, why);
        sup->exit_code = 1;
        event_base_loopbreak(sup->base);
        return;
    }

    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - sup->child_started.tv_sec >= RESTART_BACKOFF_RESET_S)
        sup->backoff_ms = RESTART_BACKOFF_MIN_MS;
    unsigned delay = sup->backoff_ms;
    sup->backoff_ms = delay * 2 > RESTART_BACKOFF_MAX_MS ? RESTART_BACKOFF_MAX_MS : delay * 2;
    log_error("data plane (pid %ld) %s; restarting it in %u ms", (long)pid, why, delay);
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
    if (dataplane_spawn(sup) < 0) {
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

/* ---- signals ---- */

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

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct supervisor *sup = arg;
    if (sup->stopping)
        return;
    sup->stopping = true;
    log_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    sd_notify_send("STOPPING=1");
    evtimer_del(sup->restart_timer);
    evtimer_del(sup->ready_timer);
    if (sup->child <= 0) {
        event_base_loopbreak(sup->base);
        return;
    }
    if (kill(sup->child, SIGTERM) < 0)
        log_warning("cannot signal the data plane: %s", strerror(errno));
    struct timeval tv = {.tv_sec = STOP_TIMEOUT_S};
    evtimer_add(sup->stop_timer, &tv);
}

/* Re-read the file, publish it, tell the data plane. A file that does not
 * validate changes nothing: the running image keeps serving. */
static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct supervisor *sup = arg;
    if (sup->stopping)
        return;
    if (sup->opts->config_path == NULL) {
        log_warning("SIGHUP: started without --config, nothing to reload");
        return;
    }
    log_info("SIGHUP: reloading %s", sup->opts->config_path);
    sd_notify_send("RELOADING=1");

    struct config cfg;
    if (config_prepare(sup->opts, &cfg) < 0) {
        log_error("reload failed; still serving the previous configuration");
        sd_notify_send("READY=1");
        return;
    }
    if (strcmp(cfg.server.host, sup->listen_host) != 0 || cfg.server.port != sup->listen_port)
        log_warning("server.host/server.port changed; still listening on %s until restarted",
                    sup->listen_text);
    if (image_publish(sup, &cfg) < 0) {
        log_error("reload failed; still serving the previous configuration");
        config_free(&cfg);
        sd_notify_send("READY=1");
        return;
    }
    sup->level = config_log_level(&cfg);
    log_set_level(sup->level);
    config_free(&cfg);

    if (sup->child > 0 && sup->child_ready) {
        if (kill(sup->child, SIGHUP) < 0)
            log_warning("cannot signal the data plane: %s", strerror(errno));
    } else if (sup->child > 0) {
        sup->reload_pending = true;
    }
    log_info("reloaded: %zu record%s in %zu zone%s (config version %llu)", sup->record_count,
             plural(sup->record_count), sup->zone_count, plural(sup->zone_count),
             (unsigned long long)sup->config_version);
    sd_notify_send("READY=1");
}

/* ---- the whole run ---- */

static int events_setup(struct supervisor *sup)
{
    sup->base = event_base_new();
    if (sup->base == NULL) {
        log_error("cannot create the event loop");
        return -1;
    }
    sup->signal_events[0] = evsignal_new(sup->base, SIGCHLD, on_sigchld, sup);
    sup->signal_events[1] = evsignal_new(sup->base, SIGHUP, on_sighup, sup);
    sup->signal_events[2] = evsignal_new(sup->base, SIGINT, on_stop_signal, sup);
    sup->signal_events[3] = evsignal_new(sup->base, SIGTERM, on_stop_signal, sup);
    sup->notify_event = event_new(sup->base, sup->notify_fd, EV_READ | EV_PERSIST, on_notify, sup);
    sup->restart_timer = evtimer_new(sup->base, on_restart_timer, sup);
    sup->stop_timer = evtimer_new(sup->base, on_stop_timer, sup);
    sup->ready_timer = evtimer_new(sup->base, on_ready_timer, sup);
    if (sup->notify_event == NULL || sup->restart_timer == NULL || sup->stop_timer == NULL ||
        sup->ready_timer == NULL) {
        log_error("cannot create the event loop's events");
        return -1;
    }
    for (size_t i = 0; i < 4; i++) {
        if (sup->signal_events[i] == NULL || evsignal_add(sup->signal_events[i], NULL) < 0) {
            log_error("cannot install the signal handlers");
            return -1;
        }
    }
    if (event_add(sup->notify_event, NULL) < 0) {
        log_error("cannot watch the notify socket");
        return -1;
    }
    return 0;
}

static void supervisor_free(struct supervisor *sup)
{
    if (sup->child > 0) {
        /* Only on a failed start: the loop did not stop it. */
        kill(sup->child, SIGKILL);
        waitpid(sup->child, NULL, 0);
    }
    for (size_t i = 0; i < 4; i++) {
        if (sup->signal_events[i] != NULL)
            event_free(sup->signal_events[i]);
    }
    if (sup->notify_event != NULL)
        event_free(sup->notify_event);
    if (sup->restart_timer != NULL)
        event_free(sup->restart_timer);
    if (sup->stop_timer != NULL)
        event_free(sup->stop_timer);
    if (sup->ready_timer != NULL)
        event_free(sup->ready_timer);
    if (sup->base != NULL)
        event_base_free(sup->base);
    int fds[] = {sup->udp_fd, sup->tcp_fd, sup->notify_fd, sup->lock_fd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (fds[i] >= 0)
            close(fds[i]);
    }
}

int start_run(const struct start_options *opts)
{
    struct supervisor sup = {
        .opts = opts,
        .udp_fd = -1,
        .tcp_fd = -1,
        .notify_fd = -1,
        .lock_fd = -1,
        .child = -1,
        .backoff_ms = RESTART_BACKOFF_MIN_MS,
        .exit_code = 1,
    };
    log_init("nanodns", opts->log_level >= 0 ? (enum log_level)opts->log_level : LOG_LEVEL_INFO);

    struct config cfg;
    if (config_prepare(opts, &cfg) < 0)
        return 1;
    sup.level = config_log_level(&cfg);
    log_set_level(sup.level);
    log_info("nanodns %s starting (config %s)", NANODNS_VERSION,
             opts->config_path != NULL ? opts->config_path : "built-in defaults");
    if (opts->config_path == NULL)
        log_warning("no --config given: running on the built-in defaults");

    /* The sockets before the state directory: a second instance on the same
     * port fails here, before it touches the first one's files. */
    int rc = -1;
    if (cfg.server.port == 0) {
        log_error("port 0 is not allowed: give --port or server.port");
        goto out;
    }
    if (listen_open(&sup, cfg.server.host, cfg.server.port) < 0)
        goto out;
    if (state_dir_setup(&sup) < 0 || image_publish(&sup, &cfg) < 0)
        goto out;
    if (dataplane_find(&sup) < 0 || notify_open(&sup) < 0 || events_setup(&sup) < 0)
        goto out;
    config_free(&cfg);

    if (dataplane_spawn(&sup) < 0) {
        supervisor_free(&sup);
        return 1;
    }
    sup.exit_code = 0;
    if (event_base_dispatch(sup.base) < 0) {
        log_error("event loop failed");
        sup.exit_code = 1;
    }
    if (sup.exit_code == 0)
        log_info("stopped");
    rc = sup.exit_code;
    supervisor_free(&sup);
    return rc;

out:
    config_free(&cfg);
    supervisor_free(&sup);
    return 1;
}
