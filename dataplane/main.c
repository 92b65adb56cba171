/* nanodns-dataplane: takes its sockets (LISTEN_FDS, or --listen for
 * development), maps STATE_DIR/zone.img and answers from it on one thread
 * and one event loop, forwarding what is not ours (forward.c). A new image is mapped on SIGHUP, or
 * when a 1-second stat of the file sees it replaced; a bad one is refused and the old one keeps
 * serving. Counters, a heartbeat and the version served go to the stats file. Started as root, it
 * drops to an unprivileged user once the sockets, the stats file and the first image are held. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "forward.h"
#include "image.h"
#include "log.h"
#include "querylog.h"
#include "sd_notify.h"
#include "server.h"
#include "stats.h"

#define EXIT_RUNTIME 1 /* the image or a socket could not be set up */
#define EXIT_USAGE 2   /* bad arguments, or no socket to serve on */

#define IMAGE_WATCH_INTERVAL_MS 1000
/* The control plane calls the data plane dead after 3 s without a beat. */
#define HEARTBEAT_INTERVAL_MS 1000

/* Users to run as when started as root without --user: the packaged one,
 * else the one every system has. */
#define DEFAULT_USER "nanodns"
#define FALLBACK_USER "nobody"

/* A socket to serve on, before the server takes it over. */
struct listen_socket {
    int fd;
    int type; /* SOCK_DGRAM or SOCK_STREAM */
};

struct dataplane {
    struct server server;
    char image_path[PATH_MAX];

    /* Shared with the control plane; mapped before the privilege drop and
     * kept to the end, so it stays writable whoever owns the file. */
    struct stats_file *stats;

    /* Two slots: the image being served (current) and the one being
     * loaded. server.image points at images[current]. */
    struct image images[2];
    void *maps[2];
    size_t map_lens[2];
    int current;

    /* The file last tried, served or refused: the watch timer reloads
     * when zone.img is no longer that file. */
    struct stat image_stat;
    bool last_load_failed;
    bool stat_failed;
    bool log_level_from_command_line;

    struct udp_listener **udp;
    size_t udp_count;
    struct tcp_listener **tcp;
    size_t tcp_count;

    struct event *on_hangup, *on_terminate, *on_interrupt, *watch, *heartbeat, *querylog_timer;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nanodns-dataplane --state-dir DIR [--listen ADDR:PORT]... "
            "[--stats FILE] [--user NAME] [--log-level LEVEL]\n"
            "  --state-dir DIR     serve DIR/" IMAGE_FILE_NAME "\n"
            "  --listen ADDR:PORT  UDP and TCP on ADDR:PORT (127.0.0.1:5353, [::1]:5353);\n"
            "                      without it, sockets come from systemd (LISTEN_FDS)\n"
            "  --stats FILE        counters and heartbeat for the control plane\n"
            "                      (default: DIR/" STATS_FILE_NAME ")\n"
            "  --user NAME         when started as root, run as NAME (default: " DEFAULT_USER "\n"
            "                      when that user exists, else " FALLBACK_USER ")\n"
            "  --log-level LEVEL   debug, info, warning or error (default: the image's)\n");
}

static void notify(const char *state)
{
    if (sd_notify_send(state) < 0)
        log_warning("sd_notify %s: %s", state, strerror(errno));
}

static unsigned long long image_version(const struct image *img)
{
    return (unsigned long long)img->header->config_version;
}

/* What the control plane's /ready and /metrics show of the image. */
static void stats_image_served(struct dataplane *dp)
{
    const struct image_header *h = dp->server.image->header;
    stats_set(&dp->stats->image_version, h->config_version);
    stats_set(&dp->stats->image_created_unix, h->created_unix);
    stats_add(&dp->stats->image_loads, 1);
}

static void apply_log_level(struct dataplane *dp)
{
    uint32_t level = dp->server.image->settings->log_level;
    if (!dp->log_level_from_command_line && level <= LOG_LEVEL_ERROR)
        log_set_level((enum log_level)level);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Map zone.img into the free slot. The stat comes first: if the file is
 * replaced between the stat and the map we load the newer file and the
 * next tick loads it once more, instead of missing it. */
static int image_load(struct dataplane *dp, int slot, char *err, size_t err_len)
{
    if (stat(dp->image_path, &dp->image_stat) < 0) {
        snprintf(err, err_len, "%s", strerror(errno));
        return -1;
    }
    if (image_map_file(dp->image_path, &dp->images[slot], &dp->maps[slot], &dp->map_lens[slot], err,
                       err_len) == 0)
        return 0;
    /* The reader may name the file itself; our log lines already do. */
    size_t path_len = strlen(dp->image_path);
    if (strncmp(err, dp->image_path, path_len) == 0 && err[path_len] == ':' &&
        err[path_len + 1] == ' ')
        memmove(err, err + path_len + 2, strlen(err + path_len + 2) + 1);
    return -1;
}

/* Switch to the file now at zone.img, if it is new (or forced after a
 * refusal) and passes the checks. Runs between events, so no answer is
 * being built from the old image while it is unmapped. */
static void image_reload(struct dataplane *dp, bool forced)
{
    const struct image *serving = dp->server.image;
    struct stat now;
    if (stat(dp->image_path, &now) < 0) {
        if (!dp->stat_failed || forced)
            log_warning("cannot stat %s: %s; still serving version %llu", dp->image_path,
                        strerror(errno), image_version(serving));
        dp->stat_failed = true;
        return;
    }
    dp->stat_failed = false;
    if (same_file(&now, &dp->image_stat) && !(forced && dp->last_load_failed)) {
        if (forced)
            log_info("image %s unchanged; serving version %llu", dp->image_path,
                     image_version(serving));
        return;
    }

    int slot = 1 - dp->current;
    char err[256];
    if (image_load(dp, slot, err, sizeof(err)) < 0) {
        log_error("refusing image %s: %s; still serving version %llu", dp->image_path, err,
                  image_version(serving));
        dp->last_load_failed = true;
        stats_add(&dp->stats->image_refusals, 1);
        return;
    }
    dp->last_load_failed = false;

    /* sd_notify(3): RELOADING=1 goes with the monotonic time it began. */
    char reloading[64];
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
        snprintf(reloading, sizeof(reloading), "RELOADING=1\nMONOTONIC_USEC=%llu",
                 (unsigned long long)ts.tv_sec * 1000000ull +
                     (unsigned long long)ts.tv_nsec / 1000);
    else
        snprintf(reloading, sizeof(reloading), "RELOADING=1");
    notify(reloading);

    int old = dp->current;
    dp->current = slot;
    dp->server.image = &dp->images[slot];
    image_unmap(dp->maps[old], dp->map_lens[old]);
    dp->maps[old] = NULL;
    dp->map_lens[old] = 0;
    stats_image_served(dp);
    /* Cached answers may come from upstreams the new image no longer
     * names, or be for names it now holds. */
    forward_image_changed(dp->server.forward);

    apply_log_level(dp);
    log_info("serving image version %llu (%u records)", image_version(dp->server.image),
             dp->server.image->settings->record_count);
    notify("READY=1");
}

static void on_hangup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    log_info("SIGHUP: checking %s", ((struct dataplane *)arg)->image_path);
    image_reload(arg, true);
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    image_reload(arg, false);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dataplane *dp = arg;
    stats_set(&dp->stats->heartbeat_unix_ms, stats_now_unix_ms());
}

static void on_querylog_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dataplane *dp = arg;
    if (dp->server.querylog != NULL)
        querylog_flush(dp->server.querylog);
}

static void on_terminate(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct dataplane *dp = arg;
    notify("STOPPING=1");
    log_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    event_base_loopbreak(dp->server.base);
}

/* "127.0.0.1:5353", "[::1]:5353". */
static int listen_address_parse(const char *text, struct sockaddr_storage *addr,
                                socklen_t *addr_len)
{
    char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    const char *port;
    size_t host_len;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        host_len = (size_t)(close - text - 1);
        text++;
        port = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (colon == NULL || memchr(text, ':', (size_t)(colon - text)) != NULL)
            return -1; /* no port, or an IPv6 address without brackets */
        host_len = (size_t)(colon - text);
        port = colon + 1;
    }
    if (host_len == 0 || host_len >= sizeof(host))
        return -1;
    memcpy(host, text, host_len);
    host[host_len] = '\0';

    char *end;
    errno = 0;
    long port_number = strtol(port, &end, 10);
    if (port[0] < '0' || port[0] > '9' || *end != '\0' || errno != 0 || port_number < 1 ||
        port_number > 65535)
        return -1;

    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                             .ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_DGRAM};
    struct addrinfo *found;
    if (getaddrinfo(host, port, &hints, &found) != 0)
        return -1;
    memcpy(addr, found->ai_addr, found->ai_addrlen);
    *addr_len = found->ai_addrlen;
    freeaddrinfo(found);
    return 0;
}

static int listen_socket_open(const struct sockaddr_storage *addr, socklen_t addr_len, int type,
                              const char *text)
{
    const char *kind = type == SOCK_DGRAM ? "udp" : "tcp";
    int fd = socket(addr->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_error("%s %s: socket: %s", kind, text, strerror(errno));
        return -1;
    }
    int on = 1;
    /* SO_REUSEADDR only for TCP (restarts while old connections sit in
     * TIME_WAIT): on a UDP socket it would let two servers share the port. */
    if ((type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0) ||
        (addr->ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0)) {
        log_error("%s %s: setsockopt: %s", kind, text, strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, (const struct sockaddr *)addr, addr_len) < 0) {
        log_error("%s %s: bind: %s", kind, text, strerror(errno));
        close(fd);
        return -1;
    }
    if (type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0) {
        log_error("%s %s: listen: %s", kind, text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void listen_sockets_close(struct listen_socket *sockets, size_t count)
{
    for (size_t i = 0; i < count; i++)
        close(sockets[i].fd);
}

/* Descriptors from systemd (or nanodns start), then --listen addresses.
 * Returns the count, or -1 after logging. */
static int listen_sockets_collect(char **listen, size_t listen_count, struct listen_socket **out)
{
    int passed = sd_listen_fds();
    if (passed < 0) {
        log_error("LISTEN_FDS: %s", strerror(errno));
        return -1;
    }
    size_t capacity = (size_t)passed + 2 * listen_count;
    struct listen_socket *sockets = calloc(capacity > 0 ? capacity : 1, sizeof(*sockets));
    if (sockets == NULL) {
        log_error("out of memory");
        return -1;
    }
    size_t count = 0;

    for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + passed; fd++) {
        int type;
        socklen_t len = sizeof(type);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
            log_warning("LISTEN_FDS: descriptor %d: %s; ignored", fd, strerror(errno));
            continue;
        }
        if (type != SOCK_DGRAM && type != SOCK_STREAM) {
            log_warning("LISTEN_FDS: descriptor %d is neither datagram nor stream; ignored", fd);
            close(fd);
            continue;
        }
        sockets[count].fd = fd;
        sockets[count].type = type;
        count++;
    }

    for (size_t i = 0; i < listen_count; i++) {
        struct sockaddr_storage addr;
        socklen_t addr_len;
        if (listen_address_parse(listen[i], &addr, &addr_len) < 0) {
            /* Checked in main already; kept for safety. */
            log_error("--listen %s: not ADDR:PORT", listen[i]);
            goto fail;
        }
        static const int types[] = {SOCK_DGRAM, SOCK_STREAM};
        for (size_t t = 0; t < 2; t++) {
            int fd = listen_socket_open(&addr, addr_len, types[t], listen[i]);
            if (fd < 0)
                goto fail;
            sockets[count].fd = fd;
            sockets[count].type = types[t];
            count++;
        }
    }
    *out = sockets;
    return (int)count;

fail:
    listen_sockets_close(sockets, count);
    free(sockets);
    return -1;
}

/* Hand every socket to udp.c or tcp.c. On failure the sockets not yet
 * handed over are closed; the caller destroys the listeners. */
static int listeners_create(struct dataplane *dp, struct listen_socket *sockets, size_t count)
{
    dp->udp = calloc(count, sizeof(*dp->udp));
    dp->tcp = calloc(count, sizeof(*dp->tcp));
    if (dp->udp == NULL || dp->tcp == NULL) {
        log_error("out of memory");
        listen_sockets_close(sockets, count);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        if (sockets[i].type == SOCK_DGRAM) {
            struct udp_listener *l = udp_listener_create(&dp->server, sockets[i].fd);
            if (l == NULL) {
                listen_sockets_close(sockets + i, count - i);
                return -1;
            }
            dp->udp[dp->udp_count++] = l;
        } else {
            struct tcp_listener *l = tcp_listener_create(&dp->server, sockets[i].fd);
            if (l == NULL) {
                listen_sockets_close(sockets + i, count - i);
                return -1;
            }
            dp->tcp[dp->tcp_count++] = l;
        }
    }
    return 0;
}

/* The user to become: --user, else DEFAULT_USER when it exists, else
 * FALLBACK_USER. Returns NULL after logging when there is none. */
static const struct passwd *privileges_user(const char *requested)
{
    const char *name = requested != NULL ? requested : DEFAULT_USER;
    errno = 0;
    const struct passwd *pw = getpwnam(name);
    if (pw == NULL && requested == NULL) {
        log_info("user " DEFAULT_USER " does not exist: running as " FALLBACK_USER);
        name = FALLBACK_USER;
        errno = 0;
        pw = getpwnam(name);
    }
    if (pw == NULL)
        log_error("cannot drop privileges: user %s: %s", name,
                  errno != 0 ? strerror(errno) : "no such user");
    return pw;
}

/* Started as root: become an unprivileged user for good (setgroups, then
 * setgid, then setuid: each step needs the privilege the next one drops).
 * In every case, no_new_privs: nothing this process executes can gain
 * privileges (set-user-ID, file capabilities). Returns -1 after logging. */
static int privileges_drop(const char *requested, const char *image_path)
{
    if (geteuid() == 0) {
        const struct passwd *pw = privileges_user(requested);
        if (pw == NULL)
            return -1;
        /* getpwnam's buffer is overwritten by the next lookup: copy. */
        char name[64];
        snprintf(name, sizeof(name), "%s", pw->pw_name);
        uid_t uid = pw->pw_uid;
        gid_t gid = pw->pw_gid;
        if (uid == 0) {
            log_error("cannot drop privileges: user %s has uid 0", name);
            return -1;
        }
        if (setgroups(0, NULL) < 0) {
            log_error("cannot drop privileges: setgroups: %s", strerror(errno));
            return -1;
        }
        if (setgid(gid) < 0) {
            log_error("cannot drop privileges: setgid %u: %s", (unsigned)gid, strerror(errno));
            return -1;
        }
        if (setuid(uid) < 0) {
            log_error("cannot drop privileges: setuid %u: %s", (unsigned)uid, strerror(errno));
            return -1;
        }
        /* With euid 0, setuid sets the real, effective and saved IDs: there
         * must be no way back. */
        uid_t ruid, euid, suid;
        gid_t rgid, egid, sgid;
        if (setuid(0) == 0 || seteuid(0) == 0 || getresuid(&ruid, &euid, &suid) < 0 ||
            getresgid(&rgid, &egid, &sgid) < 0 || ruid != uid || euid != uid || suid != uid ||
            rgid != gid || egid != gid || sgid != gid || getgroups(0, NULL) != 0) {
            log_error("cannot drop privileges: still able to regain them after becoming %s", name);
            return -1;
        }
        /* The image is re-mapped on every reload: a state directory the
         * user cannot read would refuse every new version. */
        if (access(image_path, R_OK) < 0)
            log_error("user %s cannot read %s (%s): new images will be refused; make the "
                      "state directory and the image readable by it",
                      name, image_path, strerror(errno));
        log_info("running as user %s (uid %u)", name, (unsigned)uid);
    } else {
        uid_t uid = geteuid();
        const struct passwd *pw = getpwuid(uid);
        if (requested != NULL && (pw == NULL || strcmp(pw->pw_name, requested) != 0))
            log_warning("--user %s ignored: not started as root", requested);
        if (pw != NULL)
            log_info("running as user %s (uid %u)", pw->pw_name, (unsigned)uid);
        else
            log_info("running as uid %u", (unsigned)uid);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        log_error("cannot set no_new_privs: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void dataplane_destroy(struct dataplane *dp)
{
    /* Forwarding first: its waiting clients point at listeners and TCP
     * connections. */
    forward_free(dp->server.forward);
    dp->server.forward = NULL;
    for (size_t i = 0; i < dp->udp_count; i++)
        udp_listener_destroy(dp->udp[i]);
    for (size_t i = 0; i < dp->tcp_count; i++)
        tcp_listener_destroy(dp->tcp[i]);
    free(dp->udp);
    free(dp->tcp);
    tcp_shutdown(&dp->server);
    udp_batch_destroy(&dp->server);
    struct event *events[] = {dp->on_hangup, dp->on_terminate, dp->on_interrupt,
                              dp->watch,     dp->heartbeat,    dp->querylog_timer};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        if (events[i] != NULL)
            event_free(events[i]);
    querylog_free(dp->server.querylog); /* what is buffered goes out */
    dp->server.querylog = NULL;
    for (int i = 0; i < 2; i++)
        if (dp->maps[i] != NULL)
            image_unmap(dp->maps[i], dp->map_lens[i]);
    if (dp->server.base != NULL)
        event_base_free(dp->server.base);
    if (dp->stats != NULL) {
        /* Stopped, not hung: /health need not wait 3 s to say so. A
         * successor already writing the file is left alone. */
        if (stats_get(&dp->stats->pid) == (uint64_t)getpid())
            stats_set(&dp->stats->heartbeat_unix_ms, 0);
        stats_close(dp->stats);
    }
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"state-dir", required_argument, NULL, 's'}, {"listen", required_argument, NULL, 'l'},
        {"log-level", required_argument, NULL, 'v'}, {"stats", required_argument, NULL, 'S'},
        {"user", required_argument, NULL, 'u'},      {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},         {NULL, 0, NULL, 0}};
    const char *state_dir = NULL;
    const char *stats_path = NULL;
    const char *user = NULL;
    int log_level = -1;
    char **listen = calloc((size_t)argc, sizeof(*listen));
    size_t listen_count = 0;
    if (listen == NULL) {
        fprintf(stderr, "nanodns-dataplane: out of memory\n");
        return EXIT_RUNTIME;
    }

    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 's':
            state_dir = optarg;
            break;
        case 'S':
            stats_path = optarg;
            break;
        case 'u':
            if (optarg[0] == '\0') {
                fprintf(stderr, "nanodns-dataplane: --user: expected a user name\n");
                free(listen);
                return EXIT_USAGE;
            }
            user = optarg;
            break;
        case 'l': {
            struct sockaddr_storage addr;
            socklen_t addr_len;
            if (listen_address_parse(optarg, &addr, &addr_len) < 0) {
                fprintf(stderr,
                        "nanodns-dataplane: --listen %s: expected ADDR:PORT "
                        "(127.0.0.1:5353, [::1]:5353)\n",
                        optarg);
                free(listen);
                return EXIT_USAGE;
            }
            listen[listen_count++] = optarg;
            break;
        }
        case 'v':
            log_level = log_level_parse(optarg);
            if (log_level < 0) {
                fprintf(stderr,
                        "nanodns-dataplane: --log-level %s: expected debug, info, warning "
                        "or error\n",
                        optarg);
                free(listen);
                return EXIT_USAGE;
            }
            break;
        case 'h':
            usage(stdout);
            free(listen);
            return 0;
        case 'V':
            printf("nanodns-dataplane %s\n", NANODNS_VERSION);
            free(listen);
            return 0;
        default:
            usage(stderr);
            free(listen);
            return EXIT_USAGE;
        }
    }
    if (optind < argc || state_dir == NULL) {
        if (optind < argc)
            fprintf(stderr, "nanodns-dataplane: unexpected argument %s\n", argv[optind]);
        else
            fprintf(stderr, "nanodns-dataplane: --state-dir is required\n");
        usage(stderr);
        free(listen);
        return EXIT_USAGE;
    }

    log_init("nanodns-dataplane", log_level >= 0 ? (enum log_level)log_level : LOG_LEVEL_INFO);

    static struct dataplane dp; /* big (two struct images, paths): not on the stack */
    dp.log_level_from_command_line = log_level >= 0;
    int written =
        snprintf(dp.image_path, sizeof(dp.image_path), "%s/%s", state_dir, IMAGE_FILE_NAME);
    if (written < 0 || (size_t)written >= sizeof(dp.image_path)) {
        log_error("--state-dir %s: path too long", state_dir);
        free(listen);
        return EXIT_USAGE;
    }
    char default_stats_path[PATH_MAX];
    if (stats_path == NULL) {
        written = snprintf(default_stats_path, sizeof(default_stats_path), "%s/%s", state_dir,
                           STATS_FILE_NAME);
        if (written < 0 || (size_t)written >= sizeof(default_stats_path)) {
            log_error("--state-dir %s: path too long", state_dir);
            free(listen);
            return EXIT_USAGE;
        }
        stats_path = default_stats_path;
    }

    /* A client gone mid-answer must not kill the server (sends also pass
     * MSG_NOSIGNAL; this covers everything else). */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        log_error("cannot ignore SIGPIPE: %s", strerror(errno));
        free(listen);
        return EXIT_RUNTIME;
    }

    /* Upstream query IDs come from libsodium's generator (RFC 5452 §4.3);
     * initialised while /dev/urandom is surely reachable. */
    if (sodium_init() < 0) {
        log_error("cannot initialise libsodium");
        free(listen);
        return EXIT_RUNTIME;
    }

    /* Opened while we may still be root: the mapping stays writable after
     * the privilege drop even though the file belongs to root. */
    char err[256];
    dp.stats = stats_open_writer(stats_path, err, sizeof(err));
    if (dp.stats == NULL) {
        log_error("stats file: %s", err);
        free(listen);
        return EXIT_RUNTIME;
    }
    dp.server.stats = &dp.stats->workers[0];
    stats_set(&dp.stats->pid, (uint64_t)getpid());
    stats_set(&dp.stats->started_unix_ms, stats_now_unix_ms());
    stats_set(&dp.stats->image_version, 0); /* a predecessor's, until ours is mapped */
    stats_set(&dp.stats->heartbeat_unix_ms, stats_now_unix_ms());

    struct listen_socket *sockets = NULL;
    int socket_count = listen_sockets_collect(listen, listen_count, &sockets);
    free(listen);
    if (socket_count < 0) {
        dataplane_destroy(&dp);
        return EXIT_RUNTIME;
    }
    if (socket_count == 0) {
        log_error("no sockets to serve on: pass --listen ADDR:PORT or start with LISTEN_FDS");
        free(sockets);
        dataplane_destroy(&dp);
        return EXIT_USAGE;
    }

    if (image_load(&dp, 0, err, sizeof(err)) < 0) {
        log_error("cannot serve image %s: %s", dp.image_path, err);
        stats_add(&dp.stats->image_refusals, 1);
        listen_sockets_close(sockets, (size_t)socket_count);
        free(sockets);
        dataplane_destroy(&dp);
        return EXIT_RUNTIME;
    }
    dp.current = 0;
    dp.server.image = &dp.images[0];
    stats_image_served(&dp);
    apply_log_level(&dp);

    int status = EXIT_RUNTIME;
    dp.server.base = event_base_new();
    if (dp.server.base == NULL) {
        log_error("cannot create the event loop");
        listen_sockets_close(sockets, (size_t)socket_count);
        free(sockets);
        goto out;
    }
    if (udp_batch_create(&dp.server) < 0) {
        log_error("out of memory for UDP buffers");
        listen_sockets_close(sockets, (size_t)socket_count);
        free(sockets);
        goto out;
    }
    dp.server.forward = forward_new(&dp.server);
    if (dp.server.forward == NULL) {
        listen_sockets_close(sockets, (size_t)socket_count);
        free(sockets);
        goto out;
    }
    /* The query log's own descriptor for stderr, opened before the
     * privilege drop (querylog_open_stderr); whether lines are written is
     * the image's log_queries, so it exists whatever that says now. */
    bool log_is_socket;
    int log_fd = querylog_open_stderr(&log_is_socket);
    if (log_fd < 0)
        log_warning("query log: cannot open stderr: %s; queries will not be logged",
                    strerror(errno));
    else if ((dp.server.querylog = querylog_new(log_fd, log_is_socket)) == NULL) {
        log_warning("query log: out of memory; queries will not be logged");
        close(log_fd);
    }
    int rc = listeners_create(&dp, sockets, (size_t)socket_count);
    free(sockets);
    if (rc < 0)
        goto out;

    /* Everything that needs root is held now: sockets, stats mapping, image. */
    if (privileges_drop(user, dp.image_path) < 0)
        goto out;

    struct timeval interval = {IMAGE_WATCH_INTERVAL_MS / 1000,
                               (IMAGE_WATCH_INTERVAL_MS % 1000) * 1000};
    struct timeval beat = {HEARTBEAT_INTERVAL_MS / 1000, (HEARTBEAT_INTERVAL_MS % 1000) * 1000};
    dp.on_hangup = evsignal_new(dp.server.base, SIGHUP, on_hangup, &dp);
    dp.on_terminate = evsignal_new(dp.server.base, SIGTERM, on_terminate, &dp);
    dp.on_interrupt = evsignal_new(dp.server.base, SIGINT, on_terminate, &dp);
    dp.watch = event_new(dp.server.base, -1, EV_PERSIST, on_watch, &dp);
    dp.heartbeat = event_new(dp.server.base, -1, EV_PERSIST, on_heartbeat, &dp);
    struct timeval flush = {0, QUERYLOG_FLUSH_INTERVAL_MS * 1000};
    dp.querylog_timer = event_new(dp.server.base, -1, EV_PERSIST, on_querylog_timer, &dp);
    if (dp.on_hangup == NULL || dp.on_terminate == NULL || dp.on_interrupt == NULL ||
        dp.watch == NULL || dp.heartbeat == NULL || dp.querylog_timer == NULL ||
        event_add(dp.on_hangup, NULL) < 0 || event_add(dp.on_terminate, NULL) < 0 ||
        event_add(dp.on_interrupt, NULL) < 0 || event_add(dp.watch, &interval) < 0 ||
        event_add(dp.heartbeat, &beat) < 0 || event_add(dp.querylog_timer, &flush) < 0) {
        log_error("cannot register signal and timer events");
        goto out;
    }

    log_info("serving image version %llu (%u records) on %zu UDP and %zu TCP sockets",
             image_version(dp.server.image), dp.server.image->settings->record_count, dp.udp_count,
             dp.tcp_count);
    stats_set(&dp.stats->heartbeat_unix_ms, stats_now_unix_ms());
    notify("READY=1");

    if (event_base_dispatch(dp.server.base) < 0) {
        log_error("event loop failed");
        goto out;
    }
    status = 0;

out:
    dataplane_destroy(&dp);
    return status;
}
