/* How many workers (event loops, one thread each) the data plane runs:
 * server.workers, or by default one per CPU the process may run on. Both
 * planes use it: the control plane opens one UDP socket per worker, the
 * data plane starts the loops. No state. */
#ifndef NANODNS_WORKERS_H
#define NANODNS_WORKERS_H

#include <stdint.h>

#include "stats.h"

/* Each worker has its counters in a slot of the stats file. */
#define WORKERS_MAX STATS_WORKERS_MAX

/* cpus (a count, or negative when unknown) as a worker count: at least
 * 1, at most WORKERS_MAX. Pure. */
unsigned workers_for_cpus(long cpus);

/* One per CPU in this process's affinity mask (sched_getaffinity), else
 * per CPU online; 1 when neither is known; at most WORKERS_MAX. */
unsigned workers_default(void);

/* configured (server.workers; 0: absent) capped at WORKERS_MAX, or the
 * default. */
unsigned workers_resolve(uint32_t configured);

#endif
