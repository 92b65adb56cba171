/* nanodns-dataplane: takes its sockets (LISTEN_FDS, or --listen for
 * development), maps STATE_DIR/zone.img and answers from it with one
 * worker per CPU or server.workers (worker.c: a thread and an event loop
 * each; udp.c and tcp.c receive, query.c decides). The main thread is
 * worker 0 and also owns the image: a new one is mapped on SIGHUP, or when
 * a 1-second stat of the file sees it replaced, then handed to every
 * worker (image_handover.h); the old one is unmapped once all have moved.
 * A bad one is refused and the old one keeps serving. Counters (a slot per
 * worker), a heartbeat that stops when any worker stops, and the version
 * served go to the stats file. Started as root, it drops to an
 * unprivileged user (privileges.c) once the sockets, the stats file and
 * the first image are held. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "cache.h"

#include "descriptors.h"
#include "forward.h"
#include "hostport.h"
#include "image.h"
#include "image_handover.h"
#include "image_watch.h"
#include "log.h"
#include "monotonic.h"
#include "privileges.h"
#include "query.h"
#include "querylog.h"
#include "sd_notify.h"
#include "server.h"
#include "stats.h"
#include "tcp.h"
#include "udp.h"
#include "worker.h"
#include "workers.h"

/* The first image refused: IMAGE_REFUSED_EXIT_STATUS (image.h). */
#define EXIT_RUNTIME 1 /* a socket or the stats file could not be set up */
#define EXIT_USAGE 2   /* bad arguments, or no socket to serve on */

/* The control plane calls the data plane dead after 3 s without a beat. */
#define HEARTBEAT_INTERVAL_MS 1000
/* While a new image waits for every worker to take it: how often the
 * main thread looks whether the old one can go. */
#define IMAGE_RETIRE_CHECK_MS 2

struct dataplane {
    /* Shared with the control plane; mapped before the privilege drop and
     * kept to the end, so it stays writable whoever owns the file. */
    struct stats_file *stats;

    /* zone.img's two slots, on the main thread; the workers serve the one
     * the handover last published. */
    struct image_watch image;
    struct image_handover handover;
    /* A new image is published and the previous one is still mapped: not
     * every worker has taken the new one yet. No other image is loaded
     * meanwhile; a reload asked for then waits (reload_wanted). */
    bool retiring;
    bool reload_wanted, reload_forced;
    bool log_level_from_command_line;

    /* The forwarding cache, shared by the workers (cache.h: a mutex
     * inside, taken only on the way to forwarding). Configured for each
     * new image before the workers see it, flushed once more when they all
     * serve it: an answer a worker still on the old image stored meanwhile
     * does not outlive the switch. */
    struct cache *cache;

    /* workers[0] runs on the main thread; its loop is the main loop. */
    struct worker workers[WORKERS_MAX];
    unsigned worker_count;
    uint32_t stalled; /* workers seen stale (bit i), logged once per stall */
    size_t udp_sockets, tcp_sockets;

    struct event *on_hangup, *on_terminate, *on_interrupt, *watch, *heartbeat, *retire;
};

/* The main thread's loop: worker 0's. */
static struct event_base *dataplane_base(struct dataplane *dp)
{
    return dp->workers[0].server.base;
}

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
            "  --user NAME         when started as root, run as NAME (default: %s\n"
            "                      when that user exists, else %s)\n"
            "  --log-level LEVEL   debug, info, warning or error (default: the image's)\n",
            PRIVILEGES_DEFAULT_USER, PRIVILEGES_FALLBACK_USER);
}

static void notify(const char *state)
{
    if (sd_notify_send(state) < 0)
        log_warning("sd_notify %s: %s", state, strerror(errno));
}

/* What the control plane's /ready and /metrics show of the image. */
static void stats_image_served(struct dataplane *dp)
{
    const struct image_header *h = image_watch_served(&dp->image)->header;
    stats_set(&dp->stats->image_version, h->config_version);
    stats_set(&dp->stats->image_created_unix, h->created_unix);
    stats_add(&dp->stats->image_loads, 1);
}

static void apply_log_level(struct dataplane *dp)
{
    uint32_t level = image_watch_served(&dp->image)->settings->log_level;
    if (!dp->log_level_from_command_line && level <= LOG_LEVEL_ERROR)
        log_set_level((enum log_level)level);
}

/* The cache as the image says: cache_size answers with TTLs capped at
 * cache_ttl, expired ones kept serve_stale seconds for RFC 8767; none when
 * it turns caching off. Flushed either way. */
static void cache_follow_image(struct dataplane *dp)
{
    const struct image_settings *settings = image_watch_served(&dp->image)->settings;
    uint32_t size = settings->cache_enabled != 0 ? settings->cache_size : 0;
    if (cache_configure(dp->cache, size, settings->cache_ttl, settings->serve_stale) < 0)
        log_warning("out of memory for a cache of %u entries: forwarding without a cache", size);
}

/* The cache's counters into the stats file, under the cache's lock. */
static void cache_observed(void *arg, const struct cache_stats *now)
{
    struct stats_file *stats = arg;
    stats_set(&stats->cache_hits, now->hits);
    stats_set(&stats->cache_misses, now->misses);
    stats_set(&stats->cache_entries, now->entries);
    stats_set(&stats->cache_evictions, now->evictions);
}

/* Every worker serves the new image: unmap the old one, say so. */
static void image_retired(struct dataplane *dp)
{
    if (dp->worker_count > 1)
        cache_flush(dp->cache); /* what workers on the old image stored meanwhile */
    image_watch_release(&dp->image);
    dp->retiring = false;
    event_del(dp->retire);
    stats_image_served(dp);
    log_info("serving image version %llu (%u records)", image_watch_version(&dp->image),
             image_watch_served(&dp->image)->settings->record_count);
    notify("READY=1");
}

static void image_reload(struct dataplane *dp, bool forced);

/* The old image may go once every worker has acknowledged the new one;
 * until then this runs every IMAGE_RETIRE_CHECK_MS. */
static void on_retire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dataplane *dp = arg;
    if (!image_handover_settled(&dp->handover))
        return;
    image_retired(dp);
    if (dp->reload_wanted) {
        bool forced = dp->reload_forced;
        dp->reload_wanted = dp->reload_forced = false;
        image_reload(dp, forced);
    }
}

/* Switch to the file now at zone.img, if it is new (or forced after a
 * refusal) and passes the checks: publish it to the workers (worker 0,
 * this thread, takes it at once; the others between two of their events)
 * and unmap the old one when all of them have. */
static void image_reload(struct dataplane *dp, bool forced)
{
    if (dp->retiring) {
        dp->reload_wanted = true;
        dp->reload_forced = dp->reload_forced || forced;
        return;
    }
    enum image_watch_change change = image_watch_check(&dp->image, forced);
    if (change == IMAGE_WATCH_REFUSED)
        stats_add(&dp->stats->image_refusals, 1);
    if (change != IMAGE_WATCH_LOADED)
        return;

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

    image_watch_switch(&dp->image);
    cache_follow_image(dp);
    image_handover_publish(&dp->handover, image_watch_served(&dp->image));
    /* The cache was flushed above: its answers may come from upstreams
     * the new image no longer names, or be for names it now holds. */
    worker_take_image(&dp->workers[0]);
    for (unsigned i = 1; i < dp->worker_count; i++)
        worker_wake(&dp->workers[i]);
    apply_log_level(dp);

    dp->retiring = true;
    if (image_handover_settled(&dp->handover)) {
        image_retired(dp); /* one worker: at once, as ever */
        return;
    }
    struct timeval check = {0, IMAGE_RETIRE_CHECK_MS * 1000};
    if (event_add(dp->retire, &check) < 0)
        log_error("cannot wait for the workers to take the new image; the old one stays mapped");
}

static void on_hangup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    log_info("SIGHUP: checking %s", ((struct dataplane *)arg)->image.path);
    image_reload(arg, true);
}

static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    image_reload(arg, false);
}

/* The heartbeat moves only while every worker's loop runs: this one's
 * (it runs this timer) and the threads' (their beats are recent). A hung
 * worker stops it, and the control plane restarts the whole data plane
 * 3 s later, as it would a hung single loop. */
static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dataplane *dp = arg;
    uint64_t now = monotonic_now_ms();
    uint32_t stalled = 0;
    for (unsigned i = 1; i < dp->worker_count; i++) {
        uint64_t age = worker_beat_age_ms(&dp->workers[i], now);
        if (age > WORKER_STALE_MS) {
            stalled |= 1u << i;
            if (!(dp->stalled & (1u << i)))
                log_error("worker %u has not run for %llu ms: heartbeat stopped", i,
                          (unsigned long long)age);
        }
    }
    dp->stalled = stalled;
    if (stalled == 0)
        stats_set(&dp->stats->heartbeat_unix_ms, stats_now_unix_ms());
}

static void on_terminate(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct dataplane *dp = arg;
    notify("STOPPING=1");
    log_info("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    for (unsigned i = 1; i < dp->worker_count; i++)
        worker_stop(&dp->workers[i]);
    event_base_loopbreak(dataplane_base(dp));
}

/* "127.0.0.1:5353", "[::1]:5353", "[fe80::1%eth0]:5353" (hostport.h). */
static int listen_address_parse(const char *text, struct sockaddr_storage *addr,
                                socklen_t *addr_len)
{
    struct hostport hp;
    if (hostport_parse(text, strlen(text), HOSTPORT_ZONE, &hp) < 0)
        return -1;
    return hostport_to_sockaddr(&hp, addr, addr_len);
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

static void dataplane_destroy(struct dataplane *dp)
{
    struct event *events[] = {dp->on_hangup, dp->on_terminate, dp->on_interrupt,
                              dp->watch,     dp->heartbeat,    dp->retire};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        if (events[i] != NULL)
            event_free(events[i]);
    /* The threads first (stopped, joined): worker 0's loop is the one
     * the others' were started from. */
    for (unsigned i = 1; i < dp->worker_count; i++)
        worker_stop(&dp->workers[i]);
    for (unsigned i = dp->worker_count; i-- > 0;)
        worker_destroy(&dp->workers[i]);
    cache_free(dp->cache);
    dp->cache = NULL;
    image_watch_close(&dp->image);
    if (dp->stats != NULL) {
        /* Stopped, not hung: /health need not wait 3 s to say so. A
         * successor already writing the file is left alone. */
        if (stats_get(&dp->stats->pid) == (uint64_t)getpid())
            stats_set(&dp->stats->heartbeat_unix_ms, 0);
        stats_close(dp->stats);
    }
}

/* What the command line asks for. */
struct command_line {
    const char *state_dir;
    const char *stats_path; /* NULL: STATE_DIR/stats */
    const char *user;       /* NULL: the default (privileges.h) */
    int log_level;          /* -1: the image's */
    char **listen;          /* the --listen values; owned, free them */
    size_t listen_count;
};

/* Read argv into cl. Returns -1 to go on, or the status main exits with
 * now (--help, --version, a usage error). */
static int command_line_parse(int argc, char **argv, struct command_line *cl)
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

    *cl = (struct command_line){.state_dir = state_dir,
                                .stats_path = stats_path,
                                .user = user,
                                .log_level = log_level,
                                .listen = listen,
                                .listen_count = listen_count};
    return -1;
}

/* STATE_DIR/zone.img into dp->image and, when --stats names no file,
 * STATE_DIR/stats into default_stats (cap octets). Returns -1 after
 * logging when a path is too long. */
static int dataplane_paths(struct dataplane *dp, const struct command_line *cl, char *default_stats,
                           size_t cap)
{
    if (image_watch_init(&dp->image, cl->state_dir) < 0) {
        log_error("--state-dir %s: path too long", cl->state_dir);
        return -1;
    }
    if (cl->stats_path != NULL)
        return 0;
    int written = snprintf(default_stats, cap, "%s/%s", cl->state_dir, STATS_FILE_NAME);
    if (written < 0 || (size_t)written >= cap) {
        log_error("--state-dir %s: path too long", cl->state_dir);
        return -1;
    }
    return 0;
}

/* Process-wide settings, before anything is opened. Returns -1 after
 * logging. */
static int process_prepare(void)
{
    /* A client gone mid-answer must not kill the server (sends also pass
     * MSG_NOSIGNAL; this covers everything else). */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        log_error("cannot ignore SIGPIPE: %s", strerror(errno));
        return -1;
    }
    /* Upstream query IDs come from libsodium's generator (RFC 5452 §4.3);
     * initialised while /dev/urandom is surely reachable. */
    if (sodium_init() < 0) {
        log_error("cannot initialise libsodium");
        return -1;
    }
    return 0;
}

/* Map the stats file and say who writes it now. Opened while we may still
 * be root: the mapping stays writable after the privilege drop even though
 * the file belongs to root. Returns -1 after logging. */
static int dataplane_open_stats(struct dataplane *dp, const char *path)
{
    char err[256];
    dp->stats = stats_open_writer(path, err, sizeof(err));
    if (dp->stats == NULL) {
        log_error("stats file: %s", err);
        return -1;
    }
    stats_set(&dp->stats->pid, (uint64_t)getpid());
    stats_set(&dp->stats->started_unix_ms, stats_now_unix_ms());
    stats_set(&dp->stats->image_version, 0); /* a predecessor's, until ours is mapped */
    stats_set(&dp->stats->heartbeat_unix_ms, stats_now_unix_ms());
    return 0;
}

/* The first image, into slot 0. Returns -1 after logging. */
static int dataplane_load_first_image(struct dataplane *dp)
{
    char err[256];
    if (image_watch_load_first(&dp->image, err, sizeof(err)) < 0) {
        log_error("cannot serve image %s: %s", dp->image.path, err);
        stats_add(&dp->stats->image_refusals, 1);
        return -1;
    }
    stats_image_served(dp);
    apply_log_level(dp);
    return 0;
}

/* The workers (server.workers, else one per CPU we may run on), each
 * with its loop, buffers, query log and query path, and a listener for
 * every socket: each socket is handed over or closed, whatever happens.
 * Returns -1 after logging. */
static int dataplane_start_server(struct dataplane *dp, struct listen_socket *sockets, size_t count)
{
    const struct image *first = image_watch_served(&dp->image);
    dp->worker_count = workers_resolve(first->settings->workers);
    stats_set_worker_count(dp->stats, dp->worker_count);
    image_handover_init(&dp->handover, dp->worker_count, first);
    dp->cache = cache_new(0, 0);
    if (dp->cache == NULL) {
        log_error("out of memory for the cache");
        listen_sockets_close(sockets, count);
        return -1;
    }
    cache_set_observer(dp->cache, cache_observed, dp->stats);
    cache_follow_image(dp);
    for (unsigned i = 0; i < dp->worker_count; i++) {
        if (worker_init(&dp->workers[i], i, dp->worker_count, &dp->handover, &dp->stats->workers[i],
                        count) < 0) {
            dp->worker_count = i + 1; /* destroyed up to this one */
            listen_sockets_close(sockets, count);
            return -1;
        }
        forward_share_cache(dp->workers[i].server.query.forward, dp->cache);
    }
    return workers_take_sockets(dp->workers, dp->worker_count, sockets, count, &dp->udp_sockets,
                                &dp->tcp_sockets);
}

/* Raise the descriptor limit and split it (descriptors.h): TCP
 * connections and upstream sockets get shares they cannot outgrow, and a
 * reserve stays free. After every socket of ours is open, before the
 * privilege drop (/proc/self/fd may not be ours to read after it). */
static void dataplane_budget_descriptors(struct dataplane *dp)
{
    char err[256];
    unsigned before, limit;
    if (descriptors_raise_limit(&before, &limit, err, sizeof(err)) < 0)
        log_warning("descriptor limit: %s", err);
    if (limit == 0)
        return; /* unknown: the configured caps alone */
    struct descriptor_budget budget;
    descriptors_budget_split(&budget, limit, descriptors_count_open(limit));
    /* TCP is worker 0's alone; the upstream sockets are split evenly. */
    dp->workers[0].server.tcp_budget = budget.tcp;
    unsigned upstream = budget.upstream / dp->worker_count;
    for (unsigned i = 0; i < dp->worker_count; i++)
        forward_limit_sockets(dp->workers[i].server.query.forward, upstream > 0 ? upstream : 1);
    if (limit != before)
        log_info("descriptor limit raised from %u to %u", before, limit);
    log_info("descriptors: %u open of %u; at most %u TCP connections and %u upstream queries "
             "in flight (%u a worker), %u kept in reserve",
             budget.open, budget.limit, budget.tcp, budget.upstream, upstream > 0 ? upstream : 1,
             DESCRIPTORS_RESERVE);
}

/* SIGHUP reloads, SIGTERM and SIGINT stop; timers watch the image and
 * beat the heart; another waits for the workers during a switch. Then the
 * worker threads start (after the privilege drop: they run as its user
 * from the start). Returns -1 after logging. */
static int dataplane_start_events(struct dataplane *dp)
{
    struct event_base *base = dataplane_base(dp);
    struct timeval interval = {IMAGE_WATCH_INTERVAL_MS / 1000,
                               (IMAGE_WATCH_INTERVAL_MS % 1000) * 1000};
    struct timeval beat = {HEARTBEAT_INTERVAL_MS / 1000, (HEARTBEAT_INTERVAL_MS % 1000) * 1000};
    dp->on_hangup = evsignal_new(base, SIGHUP, on_hangup, dp);
    dp->on_terminate = evsignal_new(base, SIGTERM, on_terminate, dp);
    dp->on_interrupt = evsignal_new(base, SIGINT, on_terminate, dp);
    dp->watch = event_new(base, -1, EV_PERSIST, on_watch, dp);
    dp->heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat, dp);
    dp->retire = event_new(base, -1, EV_PERSIST, on_retire, dp);
    if (dp->on_hangup == NULL || dp->on_terminate == NULL || dp->on_interrupt == NULL ||
        dp->watch == NULL || dp->heartbeat == NULL || dp->retire == NULL ||
        event_add(dp->on_hangup, NULL) < 0 || event_add(dp->on_terminate, NULL) < 0 ||
        event_add(dp->on_interrupt, NULL) < 0 || event_add(dp->watch, &interval) < 0 ||
        event_add(dp->heartbeat, &beat) < 0) {
        log_error("cannot register signal and timer events");
        return -1;
    }
    for (unsigned i = 1; i < dp->worker_count; i++)
        if (worker_start_thread(&dp->workers[i]) < 0)
            return -1;
    return 0;
}

/* Everything after the command line, in order: stats file, sockets,
 * image, server, privilege drop, events, then the loop until a signal
 * stops it. Returns main's exit status. */
static int dataplane_run(const struct command_line *cl)
{
    static struct dataplane dp; /* big (two struct images, paths): not on the stack */
    dp.log_level_from_command_line = cl->log_level >= 0;
    char default_stats[PATH_MAX];
    if (dataplane_paths(&dp, cl, default_stats, sizeof(default_stats)) < 0)
        return EXIT_USAGE;
    const char *stats_path = cl->stats_path != NULL ? cl->stats_path : default_stats;
    if (process_prepare() < 0 || dataplane_open_stats(&dp, stats_path) < 0)
        return EXIT_RUNTIME;

    struct listen_socket *sockets = NULL;
    int socket_count = listen_sockets_collect(cl->listen, cl->listen_count, &sockets);
    if (socket_count <= 0) {
        if (socket_count == 0) {
            log_error("no sockets to serve on: pass --listen ADDR:PORT or start with LISTEN_FDS");
            free(sockets);
        }
        dataplane_destroy(&dp);
        return socket_count < 0 ? EXIT_RUNTIME : EXIT_USAGE;
    }

    int status = EXIT_RUNTIME;
    if (dataplane_load_first_image(&dp) < 0) {
        listen_sockets_close(sockets, (size_t)socket_count);
        free(sockets);
        status = IMAGE_REFUSED_EXIT_STATUS; /* the control plane publishes again */
        goto out;
    }
    int rc = dataplane_start_server(&dp, sockets, (size_t)socket_count);
    free(sockets);
    if (rc == 0)
        dataplane_budget_descriptors(&dp);
    /* Everything that needs root is held now: sockets, stats mapping, image. */
    if (rc < 0 || privileges_drop(cl->user, dp.image.path) < 0 || dataplane_start_events(&dp) < 0)
        goto out;

    log_info("serving image version %llu (%u records) on %zu UDP and %zu TCP sockets with %u "
             "worker%s",
             image_watch_version(&dp.image), image_watch_served(&dp.image)->settings->record_count,
             dp.udp_sockets, dp.tcp_sockets, dp.worker_count, dp.worker_count == 1 ? "" : "s");
    stats_set(&dp.stats->heartbeat_unix_ms, stats_now_unix_ms());
    notify("READY=1");

    if (event_base_dispatch(dataplane_base(&dp)) < 0) {
        log_error("event loop failed");
        goto out;
    }
    status = 0;

out:
    dataplane_destroy(&dp);
    return status;
}

int main(int argc, char **argv)
{
    struct command_line cl;
    int exit_now = command_line_parse(argc, argv, &cl);
    if (exit_now >= 0)
        return exit_now;
    log_init("nanodns-dataplane",
             cl.log_level >= 0 ? (enum log_level)cl.log_level : LOG_LEVEL_INFO);
    int status = dataplane_run(&cl);
    free(cl.listen);
    return status;
}
