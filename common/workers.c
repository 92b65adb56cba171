/* The worker count (workers.h). */
#include "workers.h"

#include <sched.h>
#include <unistd.h>

unsigned workers_for_cpus(long cpus)
{
    if (cpus < 1)
        return 1;
    if (cpus > WORKERS_MAX)
        return WORKERS_MAX;
    return (unsigned)cpus;
}

unsigned workers_default(void)
{
    /* The mask, not the machine: taskset, cgroups' cpusets and systemd's
     * CPUAffinity= all show there, and a loop per CPU we cannot run on
     * would only take turns with the others. */
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        return workers_for_cpus(CPU_COUNT(&set));
    return workers_for_cpus(sysconf(_SC_NPROCESSORS_ONLN));
}

unsigned workers_resolve(uint32_t configured)
{
    if (configured == 0)
        return workers_default();
    return configured > WORKERS_MAX ? WORKERS_MAX : configured;
}
