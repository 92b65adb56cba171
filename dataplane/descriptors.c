/* The descriptor budget (descriptors.h). */
#include "descriptors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static unsigned descriptors_clamp(rlim_t value)
{
    if (value == RLIM_INFINITY || value > DESCRIPTORS_LIMIT_MAX)
        return DESCRIPTORS_LIMIT_MAX;
    return (unsigned)value;
}

int descriptors_raise_limit(unsigned *before, unsigned *after, char *err, size_t cap)
{
    struct rlimit limit;
    *before = *after = 0;
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0) {
        snprintf(err, cap, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return -1;
    }
    *before = *after = descriptors_clamp(limit.rlim_cur);
    if (limit.rlim_cur == limit.rlim_max)
        return 0;
    /* systemd's soft default is 1024 with a far higher hard limit: the
     * hard one is ours to take (as NSD and Unbound raise theirs). */
    struct rlimit raised = {limit.rlim_max, limit.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) < 0) {
        snprintf(err, cap, "setrlimit(RLIMIT_NOFILE, %llu): %s", (unsigned long long)limit.rlim_max,
                 strerror(errno));
        return -1;
    }
    *after = descriptors_clamp(limit.rlim_max);
    return 0;
}

unsigned descriptors_count_open(unsigned limit)
{
    DIR *dir = opendir("/proc/self/fd");
    if (dir != NULL) {
        unsigned count = 0;
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL)
            if (entry->d_name[0] != '.')
                count++;
        closedir(dir);
        return count > 0 ? count - 1 : 0; /* not the directory's own */
    }
    /* No /proc (a chroot): probe; bounded, and done once at start. */
    unsigned probe = limit < 65536 ? limit : 65536;
    unsigned count = 0;
    for (unsigned fd = 0; fd < probe; fd++)
        if (fcntl((int)fd, F_GETFD) >= 0)
            count++;
    return count;
}

void descriptors_budget_split(struct descriptor_budget *budget, unsigned limit, unsigned open)
{
    unsigned used = open + DESCRIPTORS_RESERVE;
    unsigned available = limit > used ? limit - used : 0;
    budget->limit = limit;
    budget->open = open;
    budget->tcp = available / 3;
    budget->upstream = available - budget->tcp;
    if (budget->tcp == 0)
        budget->tcp = 1;
    if (budget->upstream == 0)
        budget->upstream = 1;
}
