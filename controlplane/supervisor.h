/* The data plane as our child: spawned with the DNS sockets, restarted with backoff, stopped.
 * Runs on the control plane's event loop; borrows the sockets and the strings of its config. */
#ifndef NANODNS_SUPERVISOR_H
#define NANODNS_SUPERVISOR_H

/* The sockets go over with the LISTEN_FDS protocol, as systemd hands them
 * over, and READY=1 comes back on a private notify socket. A dead data
 * plane is started again, 200 ms to 5 s later; a ready one whose heartbeat
 * has not moved for 3 s is hung: SIGKILL, then the same restart. One that
 * exits with IMAGE_REFUSED_EXIT_STATUS has the image published again
 * (on_image_refused) before it restarts. Stopping is SIGTERM, then
 * SIGKILL. Telling it about a new image is dataplane_link.c's job. The
 * sockets and every string in struct supervisor_config must outlive it. */

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct supervisor;

#define SUPERVISOR_UDP_MAX 16 /* STATS_WORKERS_MAX */

struct supervisor_config {
    struct event_base *base;
    const char *dataplane_path; /* from supervisor_find_dataplane */
    const char *state_dir;
    const char *stats_path; /* --stats */
    const char *user;       /* --user (started as root), or NULL */
    int log_level;          /* --log-level (given on our command line), or -1: the image's */
    /* Kept open by the caller for restarts: one UDP socket per worker
     * (SO_REUSEPORT when more than one), then the TCP one. */
    const int *udp_fds;
    size_t udp_count; /* 1..SUPERVISOR_UDP_MAX */
    int tcp_fd;

    /* The data plane sent READY=1: the first time ever (first), or after a
     * restart. */
    void (*on_ready)(void *arg, bool first);
    /* It died before it was ever ready: the start has failed. */
    void (*on_failed)(void *arg);
    /* It exited after supervisor_stop. */
    void (*on_stopped)(void *arg);
    /* The heartbeat (unix ms) in the stats file when child wrote it last,
     * else 0 (another pid's, or none yet). NULL: no watchdog. */
    uint64_t (*heartbeat)(void *arg, pid_t child);
    /* A ready data plane exited because it could not serve the published
     * image: publish the config in force again. NULL: nothing. */
    void (*on_image_refused)(void *arg);
    void *arg;
};

/* Where nanodns-dataplane is: $NANODNS_DATAPLANE, else beside our own
 * executable, else the install directory. Returns -1 after logging. */
int supervisor_find_dataplane(char *out, size_t out_len);

/* Open the notify socket and register the events (SIGCHLD among them).
 * NULL after logging. */
struct supervisor *supervisor_create(const struct supervisor_config *config);

/* Start the data plane. Returns -1 after logging. */
int supervisor_spawn(struct supervisor *sup);

/* SIGTERM the data plane, SIGKILL it after 5 s; on_stopped follows (at
 * once when none runs). */
void supervisor_stop(struct supervisor *sup);

/* The running data plane's pid, or -1. */
pid_t supervisor_child(const struct supervisor *sup);
/* Whether it has sent READY=1 (and serves). */
bool supervisor_child_ready(const struct supervisor *sup);

/* Frees everything; kills a data plane still running (a failed start). */
void supervisor_free(struct supervisor *sup);

#endif
