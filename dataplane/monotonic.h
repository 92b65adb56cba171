/* The data plane's clock for receipt times, latencies and deadlines:
 * CLOCK_MONOTONIC through the vDSO, no system call. Pure, any thread. */
#ifndef NANODNS_MONOTONIC_H
#define NANODNS_MONOTONIC_H

#include <stdint.h>
#include <time.h>

static inline uint64_t monotonic_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t monotonic_now_ms(void)
{
    return monotonic_now_ns() / 1000000u;
}

#endif
