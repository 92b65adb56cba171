/* The stats file: mapping it for the data plane (read-write, created and
 * reset as needed) and for the control plane (read-only, checked), summing
 * the workers, and the names the counters are exported under. */
#include "stats.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wire.h"

/* The magic is the last thing a reset writes and the first a reader checks. */
_Static_assert(sizeof(STATS_MAGIC) <= sizeof(((struct stats_file *)0)->magic),
               "STATS_MAGIC must fit the magic field with its NUL");

static bool stats_header_matches(const struct stats_file *stats)
{
    return memcmp(stats->magic, STATS_MAGIC, sizeof(STATS_MAGIC)) == 0 &&
           stats->layout_version == STATS_LAYOUT_VERSION && stats->worker_count >= 1 &&
           stats->worker_count <= STATS_WORKERS_MAX;
}

/* Zero everything, then write the header, the magic last: a reader that
 * opens the file meanwhile sees no magic and refuses it, rather than
 * accepting a header over counters still being cleared. */
static void stats_reset(struct stats_file *stats, uint32_t worker_count)
{
    memset(stats->magic, 0, sizeof(stats->magic));
    atomic_thread_fence(memory_order_release);
    memset((char *)stats + sizeof(stats->magic), 0, sizeof(*stats) - sizeof(stats->magic));
    stats->layout_version = STATS_LAYOUT_VERSION;
    stats->worker_count = worker_count;
    atomic_thread_fence(memory_order_release);
    memcpy(stats->magic, STATS_MAGIC, sizeof(STATS_MAGIC));
}

/* Open path (creating it 0644 when flags say so) and insist on a regular
 * file. Returns the descriptor with *st filled, or -1 with a message. */
static int open_regular(const char *path, int flags, struct stat *st, char *err, size_t err_len)
{
    int fd = open(path, flags, 0644);
    if (fd < 0 && errno == ELOOP) {
        error_set(err, err_len, "%s is a symbolic link: give the stats file's own path", path);
        return -1;
    }
    if (fd < 0) {
        error_set(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) < 0) {
        error_set(err, err_len, "cannot stat %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        error_set(err, err_len, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    return fd;
}

struct stats_file *stats_open_writer(const char *path, char *err, size_t err_len)
{
    /* O_NOFOLLOW: the data plane may open this as root, before dropping
     * privileges; a symbolic link put in its place must not make it
     * truncate some other file. */
    struct stat st;
    int fd = open_regular(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, &st, err, err_len);
    if (fd < 0)
        return NULL;
    bool right_size = st.st_size == (off_t)sizeof(struct stats_file);
    if (!right_size && ftruncate(fd, (off_t)sizeof(struct stats_file)) < 0) {
        error_set(err, err_len, "cannot size %s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    void *map = mmap(NULL, sizeof(struct stats_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int map_errno = errno;
    /* The mapping holds the file from here on; the descriptor is not needed. */
    close(fd);
    if (map == MAP_FAILED) {
        error_set(err, err_len, "cannot map %s: %s", path, strerror(map_errno));
        return NULL;
    }
    struct stats_file *stats = map;
    /* A file of another size is another layout whatever its header says. */
    if (!right_size || !stats_header_matches(stats))
        stats_reset(stats, 1);
    return stats;
}

void stats_set_worker_count(struct stats_file *stats, uint32_t worker_count)
{
    if (worker_count < 1)
        worker_count = 1;
    if (worker_count > STATS_WORKERS_MAX)
        worker_count = STATS_WORKERS_MAX;
    /* The slots of workers that no longer run are cleared, so that a later
     * run with more workers does not add an old count twice; those of the
     * workers that do carry on. */
    for (uint32_t w = worker_count; w < STATS_WORKERS_MAX; w++)
        for (size_t i = 0; i < sizeof(struct stats_worker) / sizeof(stats_counter); i++)
            stats_set((stats_counter *)&stats->workers[w] + i, 0);
    stats->worker_count = worker_count; /* one aligned 32-bit store: never seen torn */
}

uint64_t stats_now_unix_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const struct stats_file *stats_open_reader(const char *path, char *err, size_t err_len)
{
    struct stat st;
    int fd = open_regular(path, O_RDONLY | O_CLOEXEC, &st, err, err_len);
    if (fd < 0)
        return NULL;
    /* Checked before mapping: touching a page past the end of the file
     * would kill the reader with SIGBUS. */
    if (st.st_size != (off_t)sizeof(struct stats_file)) {
        error_set(err, err_len, "%s: %lld octets, expected %zu: not a stats file of layout %u",
                  path, (long long)st.st_size, sizeof(struct stats_file), STATS_LAYOUT_VERSION);
        close(fd);
        return NULL;
    }
    void *map = mmap(NULL, sizeof(struct stats_file), PROT_READ, MAP_SHARED, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) {
        error_set(err, err_len, "cannot map %s: %s", path, strerror(map_errno));
        return NULL;
    }
    const struct stats_file *stats = map;
    if (memcmp(stats->magic, STATS_MAGIC, sizeof(STATS_MAGIC)) != 0) {
        error_set(err, err_len, "%s: not a stats file (bad magic)", path);
    } else if (stats->layout_version != STATS_LAYOUT_VERSION) {
        error_set(err, err_len, "%s: stats layout version %u, expected %u", path,
                  stats->layout_version, STATS_LAYOUT_VERSION);
    } else if (stats->worker_count < 1 || stats->worker_count > STATS_WORKERS_MAX) {
        error_set(err, err_len, "%s: %u workers, expected 1 to %d", path, stats->worker_count,
                  STATS_WORKERS_MAX);
    } else {
        return stats;
    }
    munmap(map, sizeof(struct stats_file));
    return NULL;
}

void stats_close(const struct stats_file *stats)
{
    if (stats != NULL)
        munmap((void *)stats, sizeof(*stats));
}

static void sum_counters(uint64_t *out, const stats_counter *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] += stats_get(&in[i]);
}

/* One worker's histogram, into its own totals and the sum's. */
static void sum_latency(struct stats_latency_totals *sum, struct stats_latency_totals *worker,
                        const struct stats_latency *in)
{
    for (unsigned i = 0; i < STATS_LATENCY_BUCKETS; i++) {
        worker->buckets[i] = stats_get(&in->buckets[i]);
        sum->buckets[i] += worker->buckets[i];
    }
    worker->sum_ns = stats_get(&in->sum_ns);
    sum->sum_ns += worker->sum_ns;
}

uint64_t stats_latency_count(const struct stats_latency_totals *h)
{
    uint64_t count = 0;
    for (unsigned i = 0; i < STATS_LATENCY_BUCKETS; i++)
        count += h->buckets[i];
    return count;
}

void stats_sum(const struct stats_file *stats, struct stats_totals *out)
{
    memset(out, 0, sizeof(*out));
    uint32_t workers = stats->worker_count;
    if (workers > STATS_WORKERS_MAX)
        workers = STATS_WORKERS_MAX; /* never read past the mapping */
    out->workers = workers;
    out->cache_hits = stats_get(&stats->cache_hits);
    out->cache_misses = stats_get(&stats->cache_misses);
    out->cache_entries = stats_get(&stats->cache_entries);
    out->cache_evictions = stats_get(&stats->cache_evictions);
    for (uint32_t w = 0; w < workers; w++) {
        const struct stats_worker *s = &stats->workers[w];
        for (unsigned i = 0; i < STATS_TRANSPORTS; i++)
            out->worker_queries[w] += stats_get(&s->queries[i]);
        sum_counters(out->queries, s->queries, STATS_TRANSPORTS);
        sum_counters(out->rcodes, s->rcodes, STATS_RCODES);
        sum_counters(out->sources, s->sources, STATS_SOURCES);
        sum_counters(out->qtypes, s->qtypes, STATS_QTYPES);
        out->truncated += stats_get(&s->truncated);
        out->dropped += stats_get(&s->dropped);
        out->cache_hits += stats_get(&s->cache_hits);
        out->cache_misses += stats_get(&s->cache_misses);
        out->cache_entries += stats_get(&s->cache_entries);
        out->cache_evictions += stats_get(&s->cache_evictions);
        out->upstream_queries += stats_get(&s->upstream_queries);
        out->upstream_timeouts += stats_get(&s->upstream_timeouts);
        out->upstream_tcp_retries += stats_get(&s->upstream_tcp_retries);
        out->inflight_overflow += stats_get(&s->inflight_overflow);
        out->querylog_dropped += stats_get(&s->querylog_dropped);
        out->tcp_evicted += stats_get(&s->tcp_evicted);
        out->tcp_refused += stats_get(&s->tcp_refused);
        out->rrl_dropped += stats_get(&s->rrl_dropped);
        out->rrl_slipped += stats_get(&s->rrl_slipped);
        out->stale_answers += stats_get(&s->stale_answers);
        out->rebind_blocked += stats_get(&s->rebind_blocked);
        for (unsigned k = 0; k < STATS_LATENCIES; k++)
            sum_latency(&out->latency[k], &out->worker_latency[w][k], &s->latency[k]);
    }
}

enum stats_qtype stats_qtype_index(uint16_t qtype)
{
    switch (qtype) {
    case WIRE_TYPE_A:
        return STATS_QTYPE_A;
    case WIRE_TYPE_AAAA:
        return STATS_QTYPE_AAAA;
    case WIRE_TYPE_CNAME:
        return STATS_QTYPE_CNAME;
    case WIRE_TYPE_MX:
        return STATS_QTYPE_MX;
    case WIRE_TYPE_TXT:
        return STATS_QTYPE_TXT;
    case WIRE_TYPE_PTR:
        return STATS_QTYPE_PTR;
    case WIRE_TYPE_NS:
        return STATS_QTYPE_NS;
    case WIRE_TYPE_SOA:
        return STATS_QTYPE_SOA;
    case WIRE_TYPE_SRV:
        return STATS_QTYPE_SRV;
    case WIRE_TYPE_CAA:
        return STATS_QTYPE_CAA;
    case WIRE_TYPE_ANY:
        return STATS_QTYPE_ANY;
    default:
        return STATS_QTYPE_OTHER;
    }
}

static const char *const qtype_names[STATS_QTYPES] = {
    [STATS_QTYPE_A] = "A",     [STATS_QTYPE_AAAA] = "AAAA", [STATS_QTYPE_CNAME] = "CNAME",
    [STATS_QTYPE_MX] = "MX",   [STATS_QTYPE_TXT] = "TXT",   [STATS_QTYPE_PTR] = "PTR",
    [STATS_QTYPE_NS] = "NS",   [STATS_QTYPE_SOA] = "SOA",   [STATS_QTYPE_SRV] = "SRV",
    [STATS_QTYPE_CAA] = "CAA", [STATS_QTYPE_ANY] = "ANY",   [STATS_QTYPE_OTHER] = "OTHER",
};

/* RFC 1035 §4.1.1 and RFC 2136 §2.2 name 0-10; 11-15 are unassigned; the
 * last slot is BADVERS (16, RFC 6891 §9), where anything larger counts too. */
static const char *const rcode_names[STATS_RCODES] = {
    "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
    "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE", "RCODE11",
    "RCODE12",  "RCODE13", "RCODE14",  "RCODE15",  "BADVERS",
};

static const char *const source_names[STATS_SOURCES] = {
    [STATS_SOURCE_LOCAL] = "local",     [STATS_SOURCE_BLOCKED] = "blocked",
    [STATS_SOURCE_REFUSED] = "refused", [STATS_SOURCE_ERROR] = "error",
    [STATS_SOURCE_CACHE] = "cache",     [STATS_SOURCE_UPSTREAM] = "upstream",
};

static const char *const transport_names[STATS_TRANSPORTS] = {
    [STATS_UDP] = "udp",
    [STATS_TCP] = "tcp",
};

static const char *const latency_names[STATS_LATENCIES] = {
    [STATS_LATENCY_ANSWER] = "answer",
    [STATS_LATENCY_UPSTREAM] = "upstream",
};

const char *stats_qtype_name(enum stats_qtype index)
{
    return (unsigned)index < STATS_QTYPES ? qtype_names[index] : "unknown";
}

const char *stats_rcode_name(unsigned index)
{
    return index < STATS_RCODES ? rcode_names[index] : "unknown";
}

const char *stats_source_name(enum stats_source index)
{
    return (unsigned)index < STATS_SOURCES ? source_names[index] : "unknown";
}

const char *stats_transport_name(enum stats_transport index)
{
    return (unsigned)index < STATS_TRANSPORTS ? transport_names[index] : "unknown";
}

const char *stats_latency_name(enum stats_latency_kind index)
{
    return (unsigned)index < STATS_LATENCIES ? latency_names[index] : "unknown";
}
