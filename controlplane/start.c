/* `nanodns start`: load the config, publish the image, open the sockets,
 * run the data plane (supervisor.c) and watch it (dataplane_link.c), the
 * HTTP API, reloads (node.c, config_watch.c), the cluster sync (sync.h).
 * struct daemon owns them all and carries the node's events to the rest.
 * One process, one libevent loop, no threads: every field of struct daemon
 * is touched only from that loop (or before it runs). */
#include "start.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "api.h"
#include "config.h"
#include "config_watch.h"
#include "dataplane_link.h"
#include "hostport.h"
#include "log.h"
#include "node.h"
#include "sd_notify.h"
#include "state_dir.h"
#include "control_socket.h"
#include "supervisor.h"
#include "sync.h"
#include "workers.h"

#define LISTEN_BACKLOG 1024
_Static_assert(SUPERVISOR_UDP_MAX == WORKERS_MAX, "a UDP socket for every worker");
#define STATE_DIR_MODE 0755 /* the data plane may run as another user */
#define LOCK_FILE_NAME "nanodns.lock"

/* Users the data plane runs as when we are root and server.user is not
 * set: the packaged one, else the one every system has. */
#define DATAPLANE_USER "nanodns"
#define DATAPLANE_USER_FALLBACK "nobody"

struct daemon {
    const struct start_options *opts;
    struct event_base *base;
    struct node node;
    struct dataplane_link *link;
    struct supervisor *sup; /* NULL with --external-dataplane */
    struct config_watch *watch;
    struct api *api;
    struct sync *sync;

    char state_dir[PATH_MAX];
    bool state_dir_shared; /* the /tmp fallback: its owner is checked */
    char dataplane_path[PATH_MAX];
    char dataplane_user[64];
    char listen_text[300]; /* "127.0.0.1:53", "[::1]:5353" */

    /* Kept open for restarts: a UDP socket per worker, one TCP socket. */
    int udp_fds[SUPERVISOR_UDP_MAX];
    size_t udp_count;
    int tcp_fd;
    int lock_fd;

    bool stopping;
    struct event *signal_events[3];
    int exit_code;
};

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* ---- state directory ---- */

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

/* Which directory, without touching it yet. */
static int state_dir_choose(struct daemon *d)
{
    if (d->opts->state_dir != NULL) {
        if (snprintf(d->state_dir, sizeof(d->state_dir), "%s", d->opts->state_dir) >=
            (int)sizeof(d->state_dir)) {
            log_error("state directory name too long: %s", d->opts->state_dir);
            return -1;
        }
        return 0;
    }
    int shared = state_dir_default(d->state_dir, sizeof(d->state_dir));
    if (shared < 0) {
        log_error("state directory name too long");
        return -1;
    }
    d->state_dir_shared = shared == 1;
    return 0;
}

static int state_dir_setup(struct daemon *d)
{
    if (directory_create(d->state_dir, STATE_DIR_MODE) < 0)
        return -1;
    if (d->state_dir_shared) {
        /* In /tmp anyone could have made the directory first. */
        struct stat st;
        if (lstat(d->state_dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
            log_error("state directory %s is not a directory owned by this user; use --state-dir",
                      d->state_dir);
            return -1;
        }
    }

    /* Two control planes publishing into one directory would overwrite
     * each other's image. The lock dies with the process. */
    char lock_path[PATH_MAX + sizeof(LOCK_FILE_NAME) + 1];
    snprintf(lock_path, sizeof(lock_path), "%s/%s", d->state_dir, LOCK_FILE_NAME);
    d->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d->lock_fd < 0) {
        log_error("cannot open %s: %s", lock_path, strerror(errno));
        return -1;
    }
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            log_error("state directory %s is in use by another nanodns; use --state-dir",
                      d->state_dir);
        else
            log_error("cannot lock %s: %s", lock_path, strerror(errno));
        return -1;
    }

    log_info("state directory: %s", d->state_dir);
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

/* reuse_port: one of several UDP sockets on the same address, one per
 * worker; the kernel spreads the datagrams between them by their source
 * address and port (SO_REUSEPORT), so every worker reads its own. */
static int socket_open(const struct addrinfo *ai, int type, bool reuse_port, const char *where)
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
    if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
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

static int listen_open(struct daemon *d, const char *host, uint16_t port)
{
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
    hostport_format(host, port, d->listen_text, sizeof(d->listen_text));

    /* TCP first: another server on the port (even one of ours, whose UDP
     * sockets would let ours join their SO_REUSEPORT group when it runs as
     * the same user) makes this fail before any UDP socket is bound. */
    unsigned workers = workers_resolve(d->node.config.server.workers);
    d->tcp_fd = socket_open(ai, SOCK_STREAM, false, d->listen_text);
    for (unsigned i = 0; d->tcp_fd >= 0 && i < workers; i++) {
        int fd = socket_open(ai, SOCK_DGRAM, workers > 1, d->listen_text);
        if (fd < 0)
            break;
        d->udp_fds[d->udp_count++] = fd;
    }
    freeaddrinfo(ai);
    if (d->tcp_fd < 0 || d->udp_count < workers)
        return -1;
    if (workers > 1)
        log_info("%u workers: %u UDP sockets on %s (SO_REUSEPORT), one TCP socket", workers,
                 workers, d->listen_text);
    return 0;
}

/* ---- the data plane ---- */

/* Started as root, the data plane becomes server.user, else nanodns when
 * that user exists, else nobody. Not root: it stays who we are, and the
 * process facing the network has every right we have: said loudly (and
 * by /metrics, nanodns_dataplane_privilege_separated 0). */
static const char *dataplane_user(struct daemon *d)
{
    if (geteuid() != 0) {
        if (d->node.config.server.user != NULL)
            log_info("server.user %s not used: not started as root", d->node.config.server.user);
        const struct passwd *pw = getpwuid(geteuid());
        log_warning("NO PRIVILEGE SEPARATION: not started as root, so the data plane (the process "
                    "facing the network) runs as %s (uid %lu) like the control plane: it can read "
                    "this node's key and rewrite the config. Start nanodns as root (the data "
                    "plane then runs as server.user) or run the two planes as two users "
                    "(systemd/)",
                    pw != NULL ? pw->pw_name : "this user", (unsigned long)geteuid());
        return NULL;
    }
    const char *user = d->node.config.server.user;
    if (user == NULL)
        user = getpwnam(DATAPLANE_USER) != NULL ? DATAPLANE_USER : DATAPLANE_USER_FALLBACK;
    snprintf(d->dataplane_user, sizeof(d->dataplane_user), "%s", user);
    return d->dataplane_user;
}

static void serving_say(struct daemon *d)
{
    const struct config *cfg = &d->node.config;
    if (d->sup != NULL)
        log_info("serving %zu record%s in %zu zone%s on %s (config version %llu)",
                 cfg->record_count, plural(cfg->record_count), cfg->zone_count,
                 plural(cfg->zone_count), d->listen_text, (unsigned long long)d->node.version);
    else
        log_info("serving %zu record%s in %zu zone%s through the data plane that serves %s "
                 "(config version %llu)",
                 cfg->record_count, plural(cfg->record_count), cfg->zone_count,
                 plural(cfg->zone_count), d->state_dir, (unsigned long long)d->node.version);
    if (d->node.config_invalid)
        log_error("CONFIG FILE IS INVALID: %s does not validate; serving the last good config "
                  "(version %llu)",
                  d->node.config_path, (unsigned long long)d->node.version);
    if (sd_notify_send("READY=1") < 0)
        log_warning("cannot notify the service manager: %s", strerror(errno));
    d->node.service_ready = true;
}

static void on_dataplane_ready(void *arg, bool first)
{
    struct daemon *d = arg;
    dataplane_link_child_ready(d->link);
    if (first)
        serving_say(d);
    else
        log_info("data plane (pid %ld) is serving again on %s", (long)supervisor_child(d->sup),
                 d->listen_text);
}

static void on_dataplane_failed(void *arg)
{
    struct daemon *d = arg;
    d->exit_code = 1;
    event_base_loopbreak(d->base);
}

static uint64_t on_dataplane_heartbeat(void *arg, pid_t child)
{
    struct daemon *d = arg;
    return dataplane_link_heartbeat(d->link, child);
}

/* The data plane could not serve zone.img (changed in place, removed):
 * the config in force is the last good one; publish it again. */
static void on_dataplane_image_refused(void *arg)
{
    struct daemon *d = arg;
    if (node_publish(&d->node) < 0)
        log_error("cannot publish the image again; the data plane will keep failing until a "
                  "reload");
}

static void on_dataplane_stopped(void *arg)
{
    struct daemon *d = arg;
    event_base_loopbreak(d->base);
}

/* ---- signals ---- */

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct daemon *d = arg;
    if (d->stopping)
        return;
    d->stopping = true;
    log_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    sd_notify_send("STOPPING=1");
    if (d->sup != NULL)
        supervisor_stop(d->sup); /* on_dataplane_stopped ends the loop */
    else
        event_base_loopbreak(d->base);
}

/* Exactly POST /reload: a file that does not validate changes nothing. */
static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct daemon *d = arg;
    if (d->stopping)
        return;
    log_info("SIGHUP: reload");
    node_reload(&d->node, NULL);
}

static int signals_setup(struct daemon *d)
{
    d->signal_events[0] = evsignal_new(d->base, SIGHUP, on_sighup, d);
    d->signal_events[1] = evsignal_new(d->base, SIGINT, on_stop_signal, d);
    d->signal_events[2] = evsignal_new(d->base, SIGTERM, on_stop_signal, d);
    for (size_t i = 0; i < 3; i++) {
        if (d->signal_events[i] == NULL || evsignal_add(d->signal_events[i], NULL) < 0) {
            log_error("cannot install the signal handlers");
            return -1;
        }
    }
    return 0;
}

/* ---- the node's events ---- */

static void on_config_changed(void *arg)
{
    struct daemon *d = arg;
    /* The sockets are opened once, at start; a data plane started later
     * spreads its workers over them as it can (dataplane/worker.c). */
    unsigned workers = workers_resolve(d->node.config.server.workers);
    if (d->udp_count > 0 && workers != d->udp_count)
        log_warning("server.workers is now %u: it takes effect when nanodns is started again "
                    "(serving with %zu)",
                    workers, d->udp_count);
    sync_config_changed(d->sync);
    config_watch_follow(d->watch);
}

static void on_image_published(void *arg)
{
    struct daemon *d = arg;
    dataplane_link_image_published(d->link);
}

static void on_reloaded(void *arg)
{
    struct daemon *d = arg;
    sync_push_config(d->sync);
}

/* ---- the whole run ---- */

static void daemon_free(struct daemon *d)
{
    if (d->api != NULL)
        api_free(d->api); /* lets go of the pushes it waits for */
    config_watch_free(d->watch);
    sync_free(d->sync);
    supervisor_free(d->sup); /* kills a data plane left by a failed start */
    dataplane_link_free(d->link);
    node_free(&d->node);
    for (size_t i = 0; i < 3; i++) {
        if (d->signal_events[i] != NULL)
            event_free(d->signal_events[i]);
    }
    if (d->base != NULL)
        event_base_free(d->base);
    int fds[] = {d->tcp_fd, d->lock_fd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (fds[i] >= 0)
            close(fds[i]);
    }
    for (size_t i = 0; i < d->udp_count; i++)
        close(d->udp_fds[i]);
}

/* The state directory chosen and the config loaded, its log level set. */
static int daemon_load(struct daemon *d)
{
    const struct start_options *opts = d->opts;
    struct node_overrides overrides = {
        .host = opts->host,
        .port = opts->port,
        .log_level = opts->log_level,
        .no_cache = opts->no_cache,
        .mgmt_host = opts->mgmt_host,
        .mgmt_port = opts->mgmt_port,
    };
    if (state_dir_choose(d) < 0)
        return -1;
    if (node_init(&d->node, opts->config_path, d->state_dir, &overrides) < 0) {
        log_error("a path is too long: %s", opts->config_path ? opts->config_path : d->state_dir);
        return -1;
    }
    if (node_load_initial(&d->node) < 0)
        return -1;
    int level = log_level_parse(d->node.config.server.log_level);
    log_set_level(level < 0 ? LOG_LEVEL_INFO : (enum log_level)level);
    log_info("nanodns %s starting (config %s)", NANODNS_VERSION,
             opts->config_path != NULL ? opts->config_path : "built-in defaults");
    if (opts->config_path == NULL)
        log_warning("no --config given: running on the built-in defaults");
    return 0;
}

/* The loop and everything on it but the data plane: signals, the data
 * plane's stats, hot reload, the sync (pushes after each local reload, a
 * pull 10 s from now and every 30 s), the API; then the node's events. */
static int daemon_services_start(struct daemon *d)
{
    const struct config_server *server = &d->node.config.server;
    d->base = event_base_new();
    if (d->base == NULL) {
        log_error("cannot create the event loop");
        return -1;
    }
    if (signals_setup(d) < 0)
        return -1;
    d->link = dataplane_link_new(d->base, d->state_dir);
    if (d->link == NULL)
        return -1;
    d->watch = config_watch_start(&d->node, d->base);
    if (d->watch == NULL)
        return -1;
    d->sync = sync_start(&d->node, d->base);
    if (d->sync == NULL) {
        log_error("cannot start the cluster sync: out of memory");
        return -1;
    }
    /* The control socket always; TCP unless mgmt_port is 0. */
    char control_path[PATH_MAX], err[PATH_MAX + 256];
    if (control_socket_path(d->state_dir, control_path, sizeof(control_path)) < 0) {
        log_error("state directory name too long for its control socket: %s", d->state_dir);
        return -1;
    }
    struct api_context context = {
        .base = d->base, .node = &d->node, .sync = d->sync, .link = d->link};
    d->api = api_start(&context, server->mgmt_port != 0 ? server->mgmt_host : NULL,
                       server->mgmt_port, control_path, err, sizeof(err));
    if (d->api == NULL) {
        log_error("cannot start the management API: %s", err);
        return -1;
    }
    d->node.events = (struct node_events){
        .config_changed = on_config_changed,
        .image_published = on_image_published,
        .reloaded = on_reloaded,
        .arg = d,
    };
    return 0;
}

/* The data plane, with the sockets; under systemd, the one that runs is
 * told about the image just published. */
static int daemon_dataplane_start(struct daemon *d)
{
    if (d->opts->external_dataplane) {
        dataplane_link_image_published(d->link);
        serving_say(d);
        return 0;
    }
    if (supervisor_find_dataplane(d->dataplane_path, sizeof(d->dataplane_path)) < 0)
        return -1;
    struct supervisor_config sc = {
        .base = d->base,
        .dataplane_path = d->dataplane_path,
        .state_dir = d->state_dir,
        .stats_path = dataplane_link_stats_path(d->link),
        .user = dataplane_user(d),
        .log_level = d->opts->log_level,
        .udp_fds = d->udp_fds,
        .udp_count = d->udp_count,
        .tcp_fd = d->tcp_fd,
        .on_ready = on_dataplane_ready,
        .on_failed = on_dataplane_failed,
        .on_stopped = on_dataplane_stopped,
        .heartbeat = on_dataplane_heartbeat,
        .on_image_refused = on_dataplane_image_refused,
        .arg = d,
    };
    d->sup = supervisor_create(&sc);
    if (d->sup == NULL)
        return -1;
    dataplane_link_attach(d->link, d->sup);
    return supervisor_spawn(d->sup);
}

/* Everything up to the loop. Returns -1 after logging. */
static int daemon_setup(struct daemon *d)
{
    if (daemon_load(d) < 0)
        return -1;
    const struct config_server *server = &d->node.config.server;
    if (!d->opts->external_dataplane) {
        /* The sockets before the state directory: a second instance on the
         * same port fails here, before it touches the first one's files. */
        if (server->port == 0) {
            log_error("port 0 is not allowed: give --port or server.port");
            return -1;
        }
        if (listen_open(d, server->host, server->port) < 0)
            return -1;
    }
    if (state_dir_setup(d) < 0 || node_publish(&d->node) < 0)
        return -1;
    if (daemon_services_start(d) < 0)
        return -1;
    return daemon_dataplane_start(d);
}

int start_run(const struct start_options *opts)
{
    struct daemon d = {
        .opts = opts,
        .tcp_fd = -1,
        .lock_fd = -1,
        .exit_code = 0,
    };
    log_init("nanodns", opts->log_level >= 0 ? (enum log_level)opts->log_level : LOG_LEVEL_INFO);
    if (sodium_init() < 0) {
        log_error("cannot initialise libsodium");
        return 1;
    }
    if (daemon_setup(&d) < 0) {
        daemon_free(&d);
        return 1;
    }
    if (event_base_dispatch(d.base) < 0) {
        log_error("event loop failed");
        d.exit_code = 1;
    }
    if (d.exit_code == 0)
        log_info("stopped");
    int rc = d.exit_code;
    daemon_free(&d);
    return rc;
}
