/* The data plane as the control plane sees it: alive?, its image, how it hears of a new one.
 * One per daemon, on its one event loop; it borrows the supervisor, which outlives it. */
#ifndef NANODNS_DATAPLANE_LINK_H
#define NANODNS_DATAPLANE_LINK_H

/* Telling: a data plane we run (supervisor.c) gets SIGHUP once it is
 * ready; one systemd runs gets SIGHUP at the pid its stats file gives, when
 * /proc says that pid is still a data plane. Either way its 1 s check of
 * zone.img is the backstop (DESIGN.md "The zone image"). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stats.h"

struct event_base;
struct supervisor;
struct dataplane_link;

/* For the data plane serving state_dir; maps its stats file as soon as it
 * exists and checks again every second on base. NULL after logging. */
struct dataplane_link *dataplane_link_new(struct event_base *base, const char *state_dir);
void dataplane_link_free(struct dataplane_link *link);

/* STATE/stats, which the data plane writes (its --stats). */
const char *dataplane_link_stats_path(const struct dataplane_link *link);

/* The data plane is our child from now on (NULL: it runs on its own). sup
 * must outlive link. */
void dataplane_link_attach(struct dataplane_link *link, struct supervisor *sup);

/* A new image is published: tell the data plane (now, or for our child
 * still starting, once it is ready). The only place that does. */
void dataplane_link_image_published(struct dataplane_link *link);

/* Our child sent READY=1 (the supervisor's on_ready): an image published
 * while it started is told now, and its stats file mapped. */
void dataplane_link_child_ready(struct dataplane_link *link);

/* Map the stats file when it is not mapped yet (or was replaced). Quiet
 * when it does not exist yet. */
void dataplane_link_stats_open(struct dataplane_link *link);

/* Its counters; NULL until it has written a stats file. */
const struct stats_file *dataplane_link_stats(const struct dataplane_link *link);

/* Answering: a heartbeat within STATS_HEARTBEAT_MAX_AGE_MS, and its pid
 * alive. */
bool dataplane_link_alive(const struct dataplane_link *link);

/* Why it is not answering, for an operator reading /health. */
void dataplane_link_down_reason(const struct dataplane_link *link, char *out, size_t out_len);

/* The heartbeat (unix ms) pid last wrote in the stats file; 0 when the
 * file is not there yet or another pid writes it (the supervisor's
 * watchdog: only its own child's beats count). */
uint64_t dataplane_link_heartbeat(struct dataplane_link *link, pid_t pid);

/* It answers and runs as another user than we do, not root (its effective
 * uid, from /proc): it cannot read what only we can (node.key). */
bool dataplane_link_privilege_separated(const struct dataplane_link *link);

/* The config version of the image it serves; 0 when none. */
uint64_t dataplane_link_version(const struct dataplane_link *link);

#endif
