/* The data plane as the control plane sees it (see dataplane_link.h). One
 * event loop, no threads. */
#include "dataplane_link.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <event2/event.h>

#include "image.h"
#include "log.h"
#include "supervisor.h"

#define STATS_WATCH_INTERVAL_S 1
/* /proc/PID/comm holds the first 15 octets of the program name. */
#define DATAPLANE_COMM "nanodns-datapla"

struct dataplane_link {
    char image_path[PATH_MAX]; /* for the log */
    char stats_path[PATH_MAX];
    const struct stats_file *stats; /* NULL until the data plane has made it */
    dev_t stats_dev;                /* of the file stats maps */
    ino_t stats_ino;
    struct event *stats_timer;

    struct supervisor *sup; /* our child's; NULL when systemd runs the data plane */
    /* An image was published while this child was starting: it may have
     * mapped the old one already, so it is told once ready. A child started
     * later maps the newest image itself. */
    pid_t pending_child;
};

/* ---- the stats file ---- */

void dataplane_link_stats_open(struct dataplane_link *link)
{
    struct stat st;
    if (stat(link->stats_path, &st) < 0)
        return; /* not yet: the data plane creates it */
    if (link->stats != NULL && st.st_dev == link->stats_dev && st.st_ino == link->stats_ino)
        return;
    char err[256];
    const struct stats_file *stats = stats_open_reader(link->stats_path, err, sizeof(err));
    if (stats == NULL) {
        log_debug("stats file: %s", err);
        return;
    }
    if (link->stats != NULL)
        stats_close(link->stats);
    link->stats = stats;
    link->stats_dev = st.st_dev;
    link->stats_ino = st.st_ino;
}

static void on_stats_watch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dataplane_link_stats_open(arg);
}

const struct stats_file *dataplane_link_stats(const struct dataplane_link *link)
{
    return link->stats;
}

const char *dataplane_link_stats_path(const struct dataplane_link *link)
{
    return link->stats_path;
}

/* ---- liveness ---- */

static bool pid_alive(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* The heartbeat is recent. Either way: a clock stepped back makes it look new. */
static bool heartbeat_fresh(uint64_t heartbeat, uint64_t now)
{
    return heartbeat != 0 && now <= heartbeat + STATS_HEARTBEAT_MAX_AGE_MS &&
           heartbeat <= now + STATS_HEARTBEAT_MAX_AGE_MS;
}

bool dataplane_link_alive(const struct dataplane_link *link)
{
    if (link->stats == NULL)
        return false;
    if (!heartbeat_fresh(stats_get(&link->stats->heartbeat_unix_ms), stats_now_unix_ms()))
        return false;
    uint64_t pid = stats_get(&link->stats->pid);
    return pid <= INT32_MAX && pid_alive((pid_t)pid);
}

void dataplane_link_down_reason(const struct dataplane_link *link, char *out, size_t out_len)
{
    if (link->stats == NULL) {
        snprintf(out, out_len, "the data plane has not started");
        return;
    }
    uint64_t heartbeat = stats_get(&link->stats->heartbeat_unix_ms);
    uint64_t now = stats_now_unix_ms();
    if (heartbeat == 0)
        snprintf(out, out_len, "the data plane has not reported yet");
    else if (now > heartbeat && now - heartbeat > STATS_HEARTBEAT_MAX_AGE_MS)
        snprintf(out, out_len, "the data plane's heartbeat is %.1f s old",
                 (double)(now - heartbeat) / 1000.0);
    else if (heartbeat > now + STATS_HEARTBEAT_MAX_AGE_MS)
        snprintf(out, out_len, "the data plane's heartbeat is in the future (clock stepped back?)");
    else
        snprintf(out, out_len, "the data plane (pid %llu) is not running",
                 (unsigned long long)stats_get(&link->stats->pid));
}

uint64_t dataplane_link_heartbeat(struct dataplane_link *link, pid_t pid)
{
    dataplane_link_stats_open(link);
    if (link->stats == NULL || pid <= 0 || stats_get(&link->stats->pid) != (uint64_t)pid)
        return 0;
    return stats_get(&link->stats->heartbeat_unix_ms);
}

/* The effective uid in /proc/PID/status ("Uid: real effective saved fs");
 * -1 when it cannot be read. Its owner is no help: a process that changed
 * user is not dumpable, and /proc/PID then belongs to root. */
static long pid_effective_uid(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    long euid = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long real, effective;
        if (sscanf(line, "Uid: %lu %lu", &real, &effective) == 2) {
            euid = (long)effective;
            break;
        }
    }
    fclose(f);
    return euid;
}

bool dataplane_link_privilege_separated(const struct dataplane_link *link)
{
    if (!dataplane_link_alive(link))
        return false;
    long euid = pid_effective_uid((pid_t)stats_get(&link->stats->pid));
    return euid > 0 && (uid_t)euid != geteuid();
}

uint64_t dataplane_link_version(const struct dataplane_link *link)
{
    return link->stats != NULL ? stats_get(&link->stats->image_version) : 0;
}

/* ---- telling it about a new image ---- */

static void signal_child(pid_t pid)
{
    if (kill(pid, SIGHUP) < 0)
        log_warning("cannot signal the data plane: %s", strerror(errno));
}

/* Whether pid runs the data plane: the stats file may name a pid that has
 * since been given to another program, which SIGHUP would kill. */
static bool pid_is_dataplane(pid_t pid)
{
    char path[64], comm[32];
    snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    bool match = fgets(comm, sizeof(comm), f) != NULL &&
                 strncmp(comm, DATAPLANE_COMM, strlen(DATAPLANE_COMM)) == 0;
    fclose(f);
    return match;
}

/* A data plane we did not start (systemd runs it): SIGHUP at the pid its
 * stats file gives. Not allowed to signal it (another user) or no live
 * one: its 1 s check of zone.img picks the image up anyway. */
static void signal_external(struct dataplane_link *link)
{
    dataplane_link_stats_open(link);
    if (!dataplane_link_alive(link)) {
        log_debug("no live data plane to signal; it checks %s every second", link->image_path);
        return;
    }
    pid_t pid = (pid_t)stats_get(&link->stats->pid);
    if (!pid_is_dataplane(pid)) {
        log_debug("pid %ld is not a data plane; not signalling it", (long)pid);
        return;
    }
    if (kill(pid, SIGHUP) < 0 && errno != EPERM && errno != ESRCH)
        log_warning("cannot signal the data plane (pid %ld): %s", (long)pid, strerror(errno));
}

void dataplane_link_image_published(struct dataplane_link *link)
{
    if (link->sup == NULL) {
        signal_external(link);
        return;
    }
    pid_t child = supervisor_child(link->sup);
    if (child <= 0)
        return; /* the next one starts with the new image */
    if (!supervisor_child_ready(link->sup)) {
        link->pending_child = child;
        return;
    }
    signal_child(child);
}

void dataplane_link_child_ready(struct dataplane_link *link)
{
    pid_t child = link->sup != NULL ? supervisor_child(link->sup) : -1;
    if (link->pending_child > 0 && link->pending_child == child)
        signal_child(child);
    link->pending_child = 0;
    dataplane_link_stats_open(link);
}

void dataplane_link_attach(struct dataplane_link *link, struct supervisor *sup)
{
    link->sup = sup;
    link->pending_child = 0;
}

/* ---- lifecycle ---- */

struct dataplane_link *dataplane_link_new(struct event_base *base, const char *state_dir)
{
    struct dataplane_link *link = calloc(1, sizeof(*link));
    if (link == NULL) {
        log_error("out of memory");
        return NULL;
    }
    int n =
        snprintf(link->stats_path, sizeof(link->stats_path), "%s/%s", state_dir, STATS_FILE_NAME);
    int m =
        snprintf(link->image_path, sizeof(link->image_path), "%s/%s", state_dir, IMAGE_FILE_NAME);
    if (n < 0 || (size_t)n >= sizeof(link->stats_path) || m < 0 ||
        (size_t)m >= sizeof(link->image_path)) {
        log_error("state directory name too long: %s", state_dir);
        free(link);
        return NULL;
    }
    link->stats_timer = event_new(base, -1, EV_PERSIST, on_stats_watch, link);
    struct timeval second = {.tv_sec = STATS_WATCH_INTERVAL_S};
    if (link->stats_timer == NULL || event_add(link->stats_timer, &second) < 0) {
        log_error("cannot create the stats watch");
        dataplane_link_free(link);
        return NULL;
    }
    return link;
}

void dataplane_link_free(struct dataplane_link *link)
{
    if (link == NULL)
        return;
    if (link->stats_timer != NULL)
        event_free(link->stats_timer);
    if (link->stats != NULL)
        stats_close(link->stats);
    free(link);
}
