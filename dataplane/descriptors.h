/* The data plane's file descriptor budget (issue 12, finding 8): the soft
 * RLIMIT_NOFILE raised to the hard limit at start, then split between TCP
 * client connections and upstream sockets with a reserve kept apart, so
 * that answering from our own data never fails for lack of a descriptor.
 * Plain values, computed once before serving; no state of its own. */
#ifndef NANODNS_DESCRIPTORS_H
#define NANODNS_DESCRIPTORS_H

#include <stddef.h>

/* Kept free beyond both shares: an image being opened (image_watch.c),
 * the query log, libevent's own, an accept that has to be closed again. */
#define DESCRIPTORS_RESERVE 16

struct descriptor_budget {
    unsigned limit;    /* the soft RLIMIT_NOFILE in force */
    unsigned open;     /* descriptors open when the budget was made */
    unsigned tcp;      /* TCP client connections at most (>= 1) */
    unsigned upstream; /* upstream sockets, so forwarded queries in flight, at most (>= 1) */
};

/* Raise the soft RLIMIT_NOFILE to the hard one. *before and *after get the
 * soft limit before and after (capped at DESCRIPTORS_LIMIT_MAX). Returns
 * -1 with err filled when it cannot be read or raised; *after is then the
 * limit still in force (or 0 when unknown). */
int descriptors_raise_limit(unsigned *before, unsigned *after, char *err, size_t cap);

/* Limits above this are treated as this much: the budget is for counting
 * sockets, not for addressing the kernel's millions. */
#define DESCRIPTORS_LIMIT_MAX (1u << 24)

/* How many descriptors this process has open now (/proc/self/fd, or a
 * probe of the first limit numbers when /proc is not there). */
unsigned descriptors_count_open(unsigned limit);

/* Split what limit leaves beyond open and DESCRIPTORS_RESERVE: a third
 * for TCP connections, the rest for upstream sockets, each at least 1.
 * Pure. */
void descriptors_budget_split(struct descriptor_budget *budget, unsigned limit, unsigned open);

#endif
