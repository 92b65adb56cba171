/* The stats file: the mapping the data plane writes (counters, heartbeat), the control plane reads.
 * Each worker is the only writer of its counters (relaxed atomics); readers may see them late. */
#ifndef NANODNS_STATS_H
#define NANODNS_STATS_H

/* The control plane reads it for /metrics, /health and /ready. Each worker
 * owns one struct stats_worker and is its only writer, so counters are
 * bumped with relaxed loads and stores, no locks and no read-modify-write
 * instructions; readers sum the workers and may see a count a moment late,
 * never torn. */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_MAGIC "NDNSSTA"
/* 2: the latency histograms; struct stats_worker grew to 1024 octets. */
#define STATS_LAYOUT_VERSION 2
#define STATS_FILE_NAME "stats"
#define STATS_WORKERS_MAX 16

enum stats_transport { STATS_UDP, STATS_TCP, STATS_TRANSPORTS };

/* rcodes 0..15 by number; BADVERS and anything else above 15 in the last slot. */
#define STATS_RCODES 17

/* How an answer came about (answer_source). */
enum stats_source {
    STATS_SOURCE_LOCAL,
    STATS_SOURCE_BLOCKED,
    STATS_SOURCE_REFUSED,
    STATS_SOURCE_ERROR,
    STATS_SOURCE_CACHE,
    STATS_SOURCE_UPSTREAM,
    STATS_SOURCES
};

/* Query types counted by name; the rest in STATS_QTYPE_OTHER. */
enum stats_qtype {
    STATS_QTYPE_A,
    STATS_QTYPE_AAAA,
    STATS_QTYPE_CNAME,
    STATS_QTYPE_MX,
    STATS_QTYPE_TXT,
    STATS_QTYPE_PTR,
    STATS_QTYPE_NS,
    STATS_QTYPE_SOA,
    STATS_QTYPE_SRV,
    STATS_QTYPE_CAA,
    STATS_QTYPE_ANY,
    STATS_QTYPE_OTHER,
    STATS_QTYPES
};

typedef _Atomic uint64_t stats_counter;

/* Latency histograms, one per kind and worker. Power-of-two microsecond
 * buckets: bucket i counts the observations of at most
 * 2^(STATS_LATENCY_FIRST_SHIFT + i) us, from 16 us to 2^20 us (about 1 s);
 * the last bucket counts the rest (+Inf). Each observation bumps one
 * bucket, not every bucket above it: the reader adds them up, so the
 * cumulative counts it shows are monotone and the +Inf one is the count,
 * whatever moment it reads them at. */
enum stats_latency_kind {
    STATS_LATENCY_ANSWER,   /* query received to answer sent, every answer */
    STATS_LATENCY_UPSTREAM, /* forwarded query sent upstream to its answer received */
    STATS_LATENCIES
};
#define STATS_LATENCY_FIRST_SHIFT 4 /* the first bucket: up to 16 us */
#define STATS_LATENCY_LAST_SHIFT 20 /* the last bounded one: up to 1048576 us */
#define STATS_LATENCY_BUCKETS (STATS_LATENCY_LAST_SHIFT - STATS_LATENCY_FIRST_SHIFT + 2)

struct stats_latency {
    stats_counter buckets[STATS_LATENCY_BUCKETS]; /* not cumulative; the last is +Inf */
    stats_counter sum_ns;                         /* of every observation, in nanoseconds */
};

struct stats_worker {
    stats_counter queries[STATS_TRANSPORTS];
    stats_counter rcodes[STATS_RCODES];
    stats_counter sources[STATS_SOURCES];
    stats_counter qtypes[STATS_QTYPES];
    stats_counter truncated; /* answers sent with TC=1 */
    stats_counter dropped;   /* packets that got no answer (not queries) */
    /* the forwarding cache, when this worker has one of its own */
    stats_counter cache_hits;
    stats_counter cache_misses;
    stats_counter cache_entries; /* a gauge */
    stats_counter cache_evictions;
    /* forwarding */
    stats_counter upstream_queries;     /* queries sent upstream over UDP */
    stats_counter upstream_timeouts;    /* attempts that got no answer in time */
    stats_counter upstream_tcp_retries; /* truncated answers asked again over TCP */
    stats_counter inflight_overflow;    /* clients answered SERVFAIL at max_inflight */
    stats_counter querylog_dropped;     /* query log lines lost to a full buffer */
    /* TCP connections (RFC 7766 §6.2.3) */
    stats_counter tcp_evicted; /* idle ones closed to make room for a newcomer */
    stats_counter tcp_refused; /* newcomers closed: their client's cap, or none idle to evict */
    /* response rate limiting (rrl_ratelimit) */
    stats_counter rrl_dropped; /* UDP answers over the rate, not sent */
    stats_counter rrl_slipped; /* UDP answers over the rate, sent truncated */
    /* latency histograms, by enum stats_latency_kind (stats_latency_record) */
    struct stats_latency latency[STATS_LATENCIES];
    /* answers served from an expired cache entry after every upstream
     * failed (RFC 8767, server.serve_stale); counted in sources[cache] too */
    stats_counter stale_answers;
    /* upstream answers not relayed for a private, loopback or link-local
     * address (server.rebind_protection); the clients got NODATA */
    stats_counter rebind_blocked;
    stats_counter reserved[36];
} __attribute__((aligned(64)));
/* The layout is shared with the control plane: named counters take
 * reserved slots, the size stays (or STATS_LAYOUT_VERSION moves). */
_Static_assert(sizeof(struct stats_worker) == 1024, "struct stats_worker changed size");

struct stats_file {
    char magic[8];
    uint32_t layout_version;
    uint32_t worker_count;
    stats_counter pid;               /* of the data plane */
    stats_counter started_unix_ms;   /* when this data plane started */
    stats_counter heartbeat_unix_ms; /* moved every second by the event loop */
    stats_counter image_version;     /* config version of the image served; 0 = none yet */
    stats_counter image_created_unix;
    stats_counter image_loads;    /* images mapped, the first included */
    stats_counter image_refusals; /* images refused (corrupt, unreadable) */
    /* The forwarding cache the workers share: written under its lock (so
     * one writer at a time, in order), and added to the workers' own
     * cache counters (zero when the cache is shared) by stats_sum. */
    stats_counter cache_hits;
    stats_counter cache_misses;
    stats_counter cache_entries; /* a gauge */
    stats_counter cache_evictions;
    stats_counter reserved[4];
    struct stats_worker workers[STATS_WORKERS_MAX];
};

/* The data plane moves heartbeat_unix_ms every second; a heartbeat older
 * (or, after the clock stepped back, newer) than this means it is not
 * answering. */
#define STATS_HEARTBEAT_MAX_AGE_MS 3000

/* The clock of the *_unix_ms fields: CLOCK_REALTIME in milliseconds. */
uint64_t stats_now_unix_ms(void);

/* Bump a counter owned by this worker (single writer: no atomic RMW needed). */
static inline void stats_add(stats_counter *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void stats_set(stats_counter *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t stats_get(const stats_counter *c)
{
    return atomic_load_explicit((stats_counter *)c, memory_order_relaxed);
}

/* The bucket of an observation of us microseconds: the first whose bound
 * (2^(STATS_LATENCY_FIRST_SHIFT + i)) it does not pass, else the last.
 * ceil(log2(us)) is the bit length of us - 1: one count-leading-zeros, no
 * loop; the low bits set keep clz's argument non-zero and everything up to
 * the first bound in bucket 0. */
static inline unsigned stats_latency_bucket(uint64_t us)
{
    uint64_t x = (us - (us != 0)) | ((UINT64_C(1) << STATS_LATENCY_FIRST_SHIFT) - 1);
    unsigned i = 64u - STATS_LATENCY_FIRST_SHIFT - (unsigned)__builtin_clzll(x);
    return i < STATS_LATENCY_BUCKETS - 1 ? i : STATS_LATENCY_BUCKETS - 1;
}

/* The upper bound of bucket i in microseconds; 0 for the last (+Inf). */
static inline uint64_t stats_latency_bound_us(unsigned i)
{
    return i < STATS_LATENCY_BUCKETS - 1 ? UINT64_C(1) << (STATS_LATENCY_FIRST_SHIFT + i) : 0;
}

/* n observations of elapsed_ns each (a batch's answers share one): a few
 * adds, by the worker that owns h. Rounded up to whole microseconds for the
 * bucket, so an observation never counts under a bound it passed. */
static inline void stats_latency_record(struct stats_latency *h, uint64_t elapsed_ns, uint64_t n)
{
    uint64_t us = elapsed_ns / 1000u + (elapsed_ns % 1000u != 0);
    stats_add(&h->buckets[stats_latency_bucket(us)], n);
    stats_add(&h->sum_ns, elapsed_ns * n);
}

/* Data plane: open (creating when missing, mode 0644) and map path
 * read-write, for one worker until stats_set_worker_count. A file of the
 * same layout keeps its counters (a restarted data
 * plane carries on counting); anything else is reset. A symbolic link or
 * anything but a regular file is refused. Returns the mapping, or NULL with
 * a message in err. The mapping stays valid after a privilege drop. */
struct stats_file *stats_open_writer(const char *path, char *err, size_t err_len);

/* Data plane: worker_count workers (1..STATS_WORKERS_MAX) count from now
 * on, in slots 0 .. worker_count; the slots above are cleared. */
void stats_set_worker_count(struct stats_file *stats, uint32_t worker_count);

/* Control plane: map path read-only. NULL (with err) when it is missing or
 * not a stats file of this layout. */
const struct stats_file *stats_open_reader(const char *path, char *err, size_t err_len);

void stats_close(const struct stats_file *stats);

/* A histogram as read: per-bucket counts (not cumulative) and their sum. */
struct stats_latency_totals {
    uint64_t buckets[STATS_LATENCY_BUCKETS];
    uint64_t sum_ns;
};

/* The observations in h: every one is in exactly one bucket. */
uint64_t stats_latency_count(const struct stats_latency_totals *h);

/* The sums over all workers. */
struct stats_totals {
    uint64_t queries[STATS_TRANSPORTS];
    uint64_t rcodes[STATS_RCODES];
    uint64_t sources[STATS_SOURCES];
    uint64_t qtypes[STATS_QTYPES];
    uint64_t truncated, dropped;
    uint64_t cache_hits, cache_misses, cache_entries, cache_evictions;
    uint64_t upstream_queries, upstream_timeouts, upstream_tcp_retries, inflight_overflow;
    uint64_t querylog_dropped;
    uint64_t tcp_evicted, tcp_refused;
    uint64_t rrl_dropped, rrl_slipped;
    uint64_t stale_answers;
    uint64_t rebind_blocked;
    /* Worker by worker: how many there are, and the queries each got. */
    uint32_t workers;
    uint64_t worker_queries[STATS_WORKERS_MAX];
    /* The histograms, summed and worker by worker. */
    struct stats_latency_totals latency[STATS_LATENCIES];
    struct stats_latency_totals worker_latency[STATS_WORKERS_MAX][STATS_LATENCIES];
};

void stats_sum(const struct stats_file *stats, struct stats_totals *out);

/* Index helpers for the counters above. */
enum stats_qtype stats_qtype_index(uint16_t qtype);
static inline unsigned stats_rcode_index(uint16_t rcode)
{
    return rcode < STATS_RCODES - 1 ? rcode : STATS_RCODES - 1;
}

/* Names for labels: "A", "NOERROR", "local", "udp"; "unknown" for an index
 * out of range. */
const char *stats_qtype_name(enum stats_qtype index);
const char *stats_rcode_name(unsigned index);
const char *stats_source_name(enum stats_source index);
const char *stats_transport_name(enum stats_transport index);
const char *stats_latency_name(enum stats_latency_kind index); /* "answer", "upstream" */

#endif
