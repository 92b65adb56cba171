/* stats: the data plane's writer creates or adopts the file, the control
 * plane's reader refuses anything that is not a stats file of this layout,
 * and the sums and names are what /metrics exports. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stats.h"
#include "wire.h"

struct fixture {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_stats.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/" STATS_FILE_NAME, f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static bool all_zero(const void *p, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/* ---- writer ---- */

static void test_writer_creates_a_file_with_header_and_zero_counters(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    assert_int_equal(file_size(f->path), sizeof(struct stats_file));
    assert_memory_equal(stats->magic, STATS_MAGIC, sizeof(STATS_MAGIC));
    assert_int_equal(stats->layout_version, STATS_LAYOUT_VERSION);
    assert_int_equal(stats->worker_count, 1);
    assert_int_equal(stats_get(&stats->pid), 0);
    assert_int_equal(stats_get(&stats->image_version), 0);
    assert_true(all_zero(stats->workers, sizeof(stats->workers)));
    stats_close(stats);
}

static void test_writer_creates_the_file_readable_by_all(void **state)
{
    struct fixture *f = *state;
    mode_t old = umask(022);
    char err[256];
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    umask(old);
    assert_non_null(stats);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    stats_close(stats);
}

static void test_second_writer_keeps_the_counters_of_the_same_layout(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    stats_add(&stats->workers[0].queries[STATS_UDP], 42);
    stats_set(&stats->image_loads, 3);
    stats_close(stats);

    stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    assert_int_equal(stats_get(&stats->workers[0].queries[STATS_UDP]), 42);
    assert_int_equal(stats_get(&stats->image_loads), 3);
    stats_close(stats);
}

static void test_writer_resets_a_foreign_file_of_the_right_size(void **state)
{
    struct fixture *f = *state;
    static uint8_t junk[sizeof(struct stats_file)];
    memset(junk, 0xA5, sizeof(junk));
    write_file(f->path, junk, sizeof(junk));

    char err[256];
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    assert_memory_equal(stats->magic, STATS_MAGIC, sizeof(STATS_MAGIC));
    assert_int_equal(stats->worker_count, 1);
    assert_true(all_zero(stats->workers, sizeof(stats->workers)));
    assert_int_equal(stats_get(&stats->heartbeat_unix_ms), 0);
    stats_close(stats);
}

static void test_writer_resets_a_file_of_another_layout_version(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    stats_add(&stats->workers[0].dropped, 7);
    stats->layout_version = STATS_LAYOUT_VERSION + 1;
    stats_close(stats);

    stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    assert_int_equal(stats->layout_version, STATS_LAYOUT_VERSION);
    assert_int_equal(stats_get(&stats->workers[0].dropped), 0);
    stats_close(stats);
}

/* A data plane restarted with another worker count carries on counting:
 * the slots of the workers it still runs keep their counts
 * (stats_set_worker_count clears the others). */
static void test_writer_keeps_a_file_of_another_worker_count(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    stats_set_worker_count(stats, 4);
    stats_add(&stats->workers[0].truncated, 5);
    stats_add(&stats->workers[3].truncated, 7);
    stats_close(stats);

    stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    assert_int_equal(stats->worker_count, 4);
    assert_int_equal(stats_get(&stats->workers[0].truncated), 5);
    stats_set_worker_count(stats, 2);
    assert_int_equal(stats->worker_count, 2);
    assert_int_equal(stats_get(&stats->workers[0].truncated), 5);
    assert_int_equal(stats_get(&stats->workers[3].truncated), 0);
    stats_close(stats);
}

static void test_writer_resets_a_file_of_an_impossible_worker_count(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    stats_add(&stats->workers[0].truncated, 5);
    stats->worker_count = STATS_WORKERS_MAX + 1;
    stats_close(stats);

    stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    assert_int_equal(stats->worker_count, 1);
    assert_int_equal(stats_get(&stats->workers[0].truncated), 0);
    stats_close(stats);
}

static void test_worker_count_is_kept_within_the_slots(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    stats_set_worker_count(stats, 0);
    assert_int_equal(stats->worker_count, 1);
    stats_set_worker_count(stats, STATS_WORKERS_MAX + 3);
    assert_int_equal(stats->worker_count, STATS_WORKERS_MAX);
    stats_close(stats);
}

static void test_sum_gives_each_workers_queries(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    stats_set_worker_count(stats, 3);
    stats_add(&stats->workers[0].queries[STATS_UDP], 2);
    stats_add(&stats->workers[0].queries[STATS_TCP], 1);
    stats_add(&stats->workers[2].queries[STATS_UDP], 5);
    struct stats_totals t;
    stats_sum(stats, &t);
    assert_int_equal(t.workers, 3);
    assert_int_equal(t.worker_queries[0], 3);
    assert_int_equal(t.worker_queries[1], 0);
    assert_int_equal(t.worker_queries[2], 5);
    assert_int_equal(t.queries[STATS_UDP] + t.queries[STATS_TCP], 8);
    stats_close(stats);
}

static void test_writer_resets_a_short_file_and_gives_it_the_full_size(void **state)
{
    struct fixture *f = *state;
    /* A header that looks right, but the counters are missing. */
    struct {
        char magic[8];
        uint32_t layout_version, worker_count;
    } header = {STATS_MAGIC, STATS_LAYOUT_VERSION, 1};
    write_file(f->path, &header, sizeof(header));

    char err[256];
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    assert_int_equal(file_size(f->path), sizeof(struct stats_file));
    assert_true(all_zero(stats->workers, sizeof(stats->workers)));
    stats_close(stats);
}

static void test_writer_shrinks_a_longer_file_to_the_layout_size(void **state)
{
    struct fixture *f = *state;
    static uint8_t junk[sizeof(struct stats_file) + 4096];
    write_file(f->path, junk, sizeof(junk));

    char err[256];
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    assert_int_equal(file_size(f->path), sizeof(struct stats_file));
    assert_memory_equal(stats->magic, STATS_MAGIC, sizeof(STATS_MAGIC));
    stats_close(stats);
}

static void test_writer_refuses_a_symbolic_link_with_message(void **state)
{
    struct fixture *f = *state;
    char target[160];
    snprintf(target, sizeof(target), "%s/elsewhere", f->dir);
    write_file(target, "keep me", 7);
    assert_int_equal(symlink(target, f->path), 0);

    char err[256] = "";
    assert_null(stats_open_writer(f->path, err, sizeof(err)));
    assert_non_null(strstr(err, f->path));
    assert_non_null(strstr(err, "symbolic link"));
    assert_int_equal(file_size(target), 7); /* not truncated through the link */
    unlink(target);
}

static void test_writer_fails_in_a_missing_directory_with_message(void **state)
{
    struct fixture *f = *state;
    char path[160];
    snprintf(path, sizeof(path), "%s/missing/stats", f->dir);
    char err[256] = "";
    assert_null(stats_open_writer(path, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "No such file"));
}

/* ---- reader ---- */

static void test_reader_sees_what_the_writer_stores(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    struct stats_file *writer = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(writer);
    const struct stats_file *reader = stats_open_reader(f->path, err, sizeof(err));
    assert_non_null(reader);

    stats_set(&writer->heartbeat_unix_ms, 1234);
    stats_add(&writer->workers[0].queries[STATS_TCP], 2);
    assert_int_equal(stats_get(&reader->heartbeat_unix_ms), 1234);
    assert_int_equal(stats_get(&reader->workers[0].queries[STATS_TCP]), 2);

    stats_close(reader);
    stats_close(writer);
}

static void test_reader_refuses_a_missing_file_with_message(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    assert_null(stats_open_reader(f->path, err, sizeof(err)));
    assert_non_null(strstr(err, f->path));
    assert_non_null(strstr(err, "No such file"));
}

static void test_reader_refuses_a_short_file_with_message(void **state)
{
    struct fixture *f = *state;
    struct {
        char magic[8];
        uint32_t layout_version, worker_count;
    } header = {STATS_MAGIC, STATS_LAYOUT_VERSION, 1};
    write_file(f->path, &header, sizeof(header));

    char err[256] = "";
    assert_null(stats_open_reader(f->path, err, sizeof(err)));
    assert_non_null(strstr(err, f->path));
    assert_non_null(strstr(err, "16 octets"));
}

static void test_reader_refuses_a_foreign_file_with_message(void **state)
{
    struct fixture *f = *state;
    static uint8_t junk[sizeof(struct stats_file)];
    memcpy(junk, "NDNSIMG", 8); /* an image, say */
    write_file(f->path, junk, sizeof(junk));

    char err[256] = "";
    assert_null(stats_open_reader(f->path, err, sizeof(err)));
    assert_non_null(strstr(err, f->path));
    assert_non_null(strstr(err, "not a stats file"));
}

static void test_reader_refuses_another_layout_version_with_message(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    struct stats_file *writer = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(writer);
    writer->layout_version = STATS_LAYOUT_VERSION + 1;
    stats_close(writer);

    assert_null(stats_open_reader(f->path, err, sizeof(err)));
    assert_non_null(strstr(err, "layout version"));
}

static void test_reader_refuses_a_worker_count_out_of_range(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    struct stats_file *writer = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(writer);
    writer->worker_count = STATS_WORKERS_MAX + 1;
    stats_close(writer);

    assert_null(stats_open_reader(f->path, err, sizeof(err)));
    assert_non_null(strstr(err, "workers"));
}

static void test_reader_refuses_a_directory(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    assert_null(stats_open_reader(f->dir, err, sizeof(err)));
    assert_non_null(strstr(err, f->dir));
}

static void test_close_accepts_null(void **state)
{
    (void)state;
    stats_close(NULL);
}

/* ---- sums ---- */

static void test_sum_adds_every_worker(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    stats->worker_count = 3;
    for (unsigned w = 0; w < 3; w++) {
        struct stats_worker *s = &stats->workers[w];
        stats_add(&s->queries[STATS_UDP], 10 * (w + 1));
        stats_add(&s->queries[STATS_TCP], w + 1);
        stats_add(&s->rcodes[stats_rcode_index(WIRE_RCODE_NXDOMAIN)], 2);
        stats_add(&s->sources[STATS_SOURCE_BLOCKED], 1);
        stats_add(&s->qtypes[STATS_QTYPE_AAAA], 4);
        stats_add(&s->truncated, 1);
        stats_add(&s->dropped, 3);
        stats_add(&s->cache_hits, 5);
        stats_add(&s->cache_misses, 6);
        stats_set(&s->cache_entries, 100);
        stats_add(&s->cache_evictions, 7);
        stats_add(&s->stale_answers, w);
        stats_add(&s->rebind_blocked, 2 * w);
    }

    struct stats_totals t;
    stats_sum(stats, &t);
    assert_int_equal(t.queries[STATS_UDP], 60);
    assert_int_equal(t.queries[STATS_TCP], 6);
    assert_int_equal(t.rcodes[WIRE_RCODE_NXDOMAIN], 6);
    assert_int_equal(t.rcodes[WIRE_RCODE_NOERROR], 0);
    assert_int_equal(t.sources[STATS_SOURCE_BLOCKED], 3);
    assert_int_equal(t.qtypes[STATS_QTYPE_AAAA], 12);
    assert_int_equal(t.truncated, 3);
    assert_int_equal(t.dropped, 9);
    assert_int_equal(t.cache_hits, 15);
    assert_int_equal(t.cache_misses, 18);
    assert_int_equal(t.cache_entries, 300);
    assert_int_equal(t.cache_evictions, 21);
    assert_int_equal(t.stale_answers, 3);
    assert_int_equal(t.rebind_blocked, 6);
    stats_close(stats);
}

static void test_sum_ignores_workers_beyond_worker_count(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    stats_add(&stats->workers[0].queries[STATS_UDP], 1);
    stats_add(&stats->workers[1].queries[STATS_UDP], 100); /* no such worker */

    struct stats_totals t;
    stats_sum(stats, &t);
    assert_int_equal(t.queries[STATS_UDP], 1);
    stats_close(stats);
}

static void test_sum_of_a_fresh_file_is_zero(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    struct stats_totals t;
    memset(&t, 0xFF, sizeof(t));
    stats_sum(stats, &t);
    assert_int_equal(t.workers, 1);
    t.workers = 0;
    assert_true(all_zero(&t, sizeof(t)));
    stats_close(stats);
}

static void test_sum_adds_each_workers_histograms_and_keeps_them_apart(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    stats_set_worker_count(stats, 2);
    /* Worker 0: 3 answers of 10 us; worker 1: 2 of 100 us and an upstream
     * round trip of 50 ms. */
    stats_latency_record(&stats->workers[0].latency[STATS_LATENCY_ANSWER], 10000, 3);
    stats_latency_record(&stats->workers[1].latency[STATS_LATENCY_ANSWER], 100000, 2);
    stats_latency_record(&stats->workers[1].latency[STATS_LATENCY_UPSTREAM], 50000000, 1);

    struct stats_totals t;
    stats_sum(stats, &t);
    const struct stats_latency_totals *answer = &t.latency[STATS_LATENCY_ANSWER];
    assert_int_equal(answer->buckets[0], 3);
    assert_int_equal(answer->buckets[stats_latency_bucket(100)], 2);
    assert_int_equal(stats_latency_count(answer), 5);
    assert_int_equal(answer->sum_ns, 3 * 10000 + 2 * 100000);
    assert_int_equal(stats_latency_count(&t.latency[STATS_LATENCY_UPSTREAM]), 1);
    assert_int_equal(t.latency[STATS_LATENCY_UPSTREAM].sum_ns, 50000000);
    assert_int_equal(stats_latency_count(&t.worker_latency[0][STATS_LATENCY_ANSWER]), 3);
    assert_int_equal(stats_latency_count(&t.worker_latency[1][STATS_LATENCY_ANSWER]), 2);
    assert_int_equal(stats_latency_count(&t.worker_latency[0][STATS_LATENCY_UPSTREAM]), 0);
    assert_int_equal(t.worker_latency[1][STATS_LATENCY_ANSWER].sum_ns, 200000);
    stats_close(stats);
}

static void test_a_worker_that_no_longer_runs_leaves_no_latency_behind(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct stats_file *stats = stats_open_writer(f->path, err, sizeof(err));
    assert_non_null(stats);
    stats_set_worker_count(stats, 2);
    stats_latency_record(&stats->workers[1].latency[STATS_LATENCY_UPSTREAM], 1000, 1);
    stats_set_worker_count(stats, 1);
    stats_set_worker_count(stats, 2);
    struct stats_totals t;
    stats_sum(stats, &t);
    assert_int_equal(stats_latency_count(&t.latency[STATS_LATENCY_UPSTREAM]), 0);
    assert_int_equal(t.latency[STATS_LATENCY_UPSTREAM].sum_ns, 0);
    stats_close(stats);
}

/* ---- latency buckets ---- */

static void test_latency_bucket_of_zero_one_and_16_us_is_the_first(void **state)
{
    (void)state;
    assert_int_equal(stats_latency_bucket(0), 0);
    assert_int_equal(stats_latency_bucket(1), 0);
    assert_int_equal(stats_latency_bucket(15), 0);
    assert_int_equal(stats_latency_bucket(16), 0);
    assert_int_equal(stats_latency_bound_us(0), 16);
}

static void test_latency_bucket_past_a_bound_is_the_next(void **state)
{
    (void)state;
    assert_int_equal(stats_latency_bucket(17), 1);
    assert_int_equal(stats_latency_bucket(32), 1);
    assert_int_equal(stats_latency_bucket(33), 2);
    assert_int_equal(stats_latency_bucket(64), 2);
    assert_int_equal(stats_latency_bucket(65), 3);
    /* Every bound is in its own bucket, one past it in the next. */
    for (unsigned i = 0; i + 1 < STATS_LATENCY_BUCKETS; i++) {
        uint64_t bound = stats_latency_bound_us(i);
        assert_int_equal(stats_latency_bucket(bound), i);
        assert_int_equal(stats_latency_bucket(bound - 1), bound - 1 <= 16 ? 0 : i);
        assert_int_equal(stats_latency_bucket(bound + 1), i + 1);
    }
}

static void test_latency_bounds_double_from_16_us_to_about_a_second(void **state)
{
    (void)state;
    assert_int_equal(STATS_LATENCY_BUCKETS, 18); /* 17 bounds and +Inf */
    for (unsigned i = 1; i + 1 < STATS_LATENCY_BUCKETS; i++)
        assert_int_equal(stats_latency_bound_us(i), 2 * stats_latency_bound_us(i - 1));
    assert_int_equal(stats_latency_bound_us(STATS_LATENCY_BUCKETS - 2), 1048576);
    assert_int_equal(stats_latency_bound_us(STATS_LATENCY_BUCKETS - 1), 0); /* +Inf */
}

static void test_latency_bucket_of_a_huge_time_is_the_last(void **state)
{
    (void)state;
    unsigned last = STATS_LATENCY_BUCKETS - 1;
    assert_int_equal(stats_latency_bucket(1048576), last - 1);
    assert_int_equal(stats_latency_bucket(1048577), last);
    assert_int_equal(stats_latency_bucket(3600u * 1000000u), last);
    assert_int_equal(stats_latency_bucket(UINT64_C(1) << 63), last);
    assert_int_equal(stats_latency_bucket(UINT64_MAX), last);
}

static void test_latency_record_rounds_up_to_whole_microseconds(void **state)
{
    (void)state;
    struct stats_latency h;
    memset(&h, 0, sizeof(h));
    stats_latency_record(&h, 16000, 1); /* exactly 16 us */
    stats_latency_record(&h, 16001, 1); /* past it */
    stats_latency_record(&h, 0, 1);
    stats_latency_record(&h, UINT64_MAX, 1);
    assert_int_equal(stats_get(&h.buckets[0]), 2);
    assert_int_equal(stats_get(&h.buckets[1]), 1);
    assert_int_equal(stats_get(&h.buckets[STATS_LATENCY_BUCKETS - 1]), 1);
}

static void test_latency_record_counts_a_batch_at_once(void **state)
{
    (void)state;
    struct stats_latency h;
    memset(&h, 0, sizeof(h));
    stats_latency_record(&h, 50000, 32); /* 32 answers, 50 us each */
    stats_latency_record(&h, 20000, 1);
    assert_int_equal(stats_get(&h.buckets[stats_latency_bucket(50)]), 32);
    assert_int_equal(stats_get(&h.buckets[stats_latency_bucket(20)]), 1);
    assert_int_equal(stats_get(&h.sum_ns), 32 * 50000 + 20000);
    struct stats_latency_totals t = {.sum_ns = 0};
    for (unsigned i = 0; i < STATS_LATENCY_BUCKETS; i++)
        t.buckets[i] = stats_get(&h.buckets[i]);
    assert_int_equal(stats_latency_count(&t), 33);
}

static void test_latency_names(void **state)
{
    (void)state;
    assert_string_equal(stats_latency_name(STATS_LATENCY_ANSWER), "answer");
    assert_string_equal(stats_latency_name(STATS_LATENCY_UPSTREAM), "upstream");
    assert_string_equal(stats_latency_name(STATS_LATENCIES), "unknown");
}

/* ---- index helpers and names ---- */

static void test_qtype_index_counts_the_common_types_by_name(void **state)
{
    (void)state;
    static const struct {
        uint16_t type;
        enum stats_qtype index;
        const char *name;
    } cases[] = {
        {WIRE_TYPE_A, STATS_QTYPE_A, "A"},
        {WIRE_TYPE_AAAA, STATS_QTYPE_AAAA, "AAAA"},
        {WIRE_TYPE_CNAME, STATS_QTYPE_CNAME, "CNAME"},
        {WIRE_TYPE_MX, STATS_QTYPE_MX, "MX"},
        {WIRE_TYPE_TXT, STATS_QTYPE_TXT, "TXT"},
        {WIRE_TYPE_PTR, STATS_QTYPE_PTR, "PTR"},
        {WIRE_TYPE_NS, STATS_QTYPE_NS, "NS"},
        {WIRE_TYPE_SOA, STATS_QTYPE_SOA, "SOA"},
        {WIRE_TYPE_SRV, STATS_QTYPE_SRV, "SRV"},
        {WIRE_TYPE_CAA, STATS_QTYPE_CAA, "CAA"},
        {WIRE_TYPE_ANY, STATS_QTYPE_ANY, "ANY"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(stats_qtype_index(cases[i].type), cases[i].index);
        assert_string_equal(stats_qtype_name(cases[i].index), cases[i].name);
    }
}

static void test_qtype_index_puts_every_other_type_in_other(void **state)
{
    (void)state;
    assert_int_equal(stats_qtype_index(0), STATS_QTYPE_OTHER);
    assert_int_equal(stats_qtype_index(WIRE_TYPE_OPT), STATS_QTYPE_OTHER);
    assert_int_equal(stats_qtype_index(WIRE_TYPE_AXFR), STATS_QTYPE_OTHER);
    assert_int_equal(stats_qtype_index(65535), STATS_QTYPE_OTHER);
    assert_string_equal(stats_qtype_name(STATS_QTYPE_OTHER), "OTHER");
}

static void test_rcode_index_counts_0_to_15_by_number(void **state)
{
    (void)state;
    for (uint16_t rcode = 0; rcode < 16; rcode++)
        assert_int_equal(stats_rcode_index(rcode), rcode);
}

static void test_rcode_index_puts_badvers_and_above_in_the_last_slot(void **state)
{
    (void)state;
    assert_int_equal(stats_rcode_index(WIRE_RCODE_BADVERS), STATS_RCODES - 1);
    assert_int_equal(stats_rcode_index(17), STATS_RCODES - 1);
    assert_int_equal(stats_rcode_index(4095), STATS_RCODES - 1);
}

static void test_rcode_names_follow_the_iana_registry(void **state)
{
    (void)state;
    static const char *const names[STATS_RCODES] = {
        "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE", "RCODE11",
        "RCODE12",  "RCODE13", "RCODE14",  "RCODE15",  "BADVERS",
    };
    for (unsigned i = 0; i < STATS_RCODES; i++)
        assert_string_equal(stats_rcode_name(i), names[i]);
}

static void test_source_names(void **state)
{
    (void)state;
    assert_string_equal(stats_source_name(STATS_SOURCE_LOCAL), "local");
    assert_string_equal(stats_source_name(STATS_SOURCE_BLOCKED), "blocked");
    assert_string_equal(stats_source_name(STATS_SOURCE_REFUSED), "refused");
    assert_string_equal(stats_source_name(STATS_SOURCE_ERROR), "error");
    assert_string_equal(stats_source_name(STATS_SOURCE_CACHE), "cache");
    assert_string_equal(stats_source_name(STATS_SOURCE_UPSTREAM), "upstream");
}

static void test_transport_names(void **state)
{
    (void)state;
    assert_string_equal(stats_transport_name(STATS_UDP), "udp");
    assert_string_equal(stats_transport_name(STATS_TCP), "tcp");
}

static void test_names_out_of_range_are_unknown(void **state)
{
    (void)state;
    assert_string_equal(stats_qtype_name(STATS_QTYPES), "unknown");
    assert_string_equal(stats_rcode_name(STATS_RCODES), "unknown");
    assert_string_equal(stats_source_name(STATS_SOURCES), "unknown");
    assert_string_equal(stats_transport_name(STATS_TRANSPORTS), "unknown");
}

static void test_each_worker_has_its_own_cache_lines(void **state)
{
    (void)state;
    /* Two workers never write the same cache line. */
    assert_int_equal(sizeof(struct stats_worker) % 64, 0);
    assert_int_equal(offsetof(struct stats_file, workers) % 64, 0);
}

#define FILE_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

static void test_now_is_unix_time_in_milliseconds(void **state)
{
    (void)state;
    uint64_t before = (uint64_t)time(NULL) * 1000u;
    uint64_t now = stats_now_unix_ms();
    uint64_t after = ((uint64_t)time(NULL) + 1) * 1000u;
    assert_true(now >= before && now < after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FILE_TEST(test_writer_creates_a_file_with_header_and_zero_counters),
        FILE_TEST(test_writer_creates_the_file_readable_by_all),
        FILE_TEST(test_second_writer_keeps_the_counters_of_the_same_layout),
        FILE_TEST(test_writer_resets_a_foreign_file_of_the_right_size),
        FILE_TEST(test_writer_resets_a_file_of_another_layout_version),
        FILE_TEST(test_writer_keeps_a_file_of_another_worker_count),
        FILE_TEST(test_writer_resets_a_file_of_an_impossible_worker_count),
        FILE_TEST(test_worker_count_is_kept_within_the_slots),
        FILE_TEST(test_sum_gives_each_workers_queries),
        FILE_TEST(test_writer_resets_a_short_file_and_gives_it_the_full_size),
        FILE_TEST(test_writer_shrinks_a_longer_file_to_the_layout_size),
        FILE_TEST(test_writer_refuses_a_symbolic_link_with_message),
        FILE_TEST(test_writer_fails_in_a_missing_directory_with_message),
        FILE_TEST(test_reader_sees_what_the_writer_stores),
        FILE_TEST(test_reader_refuses_a_missing_file_with_message),
        FILE_TEST(test_reader_refuses_a_short_file_with_message),
        FILE_TEST(test_reader_refuses_a_foreign_file_with_message),
        FILE_TEST(test_reader_refuses_another_layout_version_with_message),
        FILE_TEST(test_reader_refuses_a_worker_count_out_of_range),
        FILE_TEST(test_reader_refuses_a_directory),
        cmocka_unit_test(test_now_is_unix_time_in_milliseconds),
        cmocka_unit_test(test_close_accepts_null),
        FILE_TEST(test_sum_adds_every_worker),
        FILE_TEST(test_sum_ignores_workers_beyond_worker_count),
        FILE_TEST(test_sum_of_a_fresh_file_is_zero),
        FILE_TEST(test_sum_adds_each_workers_histograms_and_keeps_them_apart),
        FILE_TEST(test_a_worker_that_no_longer_runs_leaves_no_latency_behind),
        cmocka_unit_test(test_latency_bucket_of_zero_one_and_16_us_is_the_first),
        cmocka_unit_test(test_latency_bucket_past_a_bound_is_the_next),
        cmocka_unit_test(test_latency_bounds_double_from_16_us_to_about_a_second),
        cmocka_unit_test(test_latency_bucket_of_a_huge_time_is_the_last),
        cmocka_unit_test(test_latency_record_rounds_up_to_whole_microseconds),
        cmocka_unit_test(test_latency_record_counts_a_batch_at_once),
        cmocka_unit_test(test_latency_names),
        cmocka_unit_test(test_qtype_index_counts_the_common_types_by_name),
        cmocka_unit_test(test_qtype_index_puts_every_other_type_in_other),
        cmocka_unit_test(test_rcode_index_counts_0_to_15_by_number),
        cmocka_unit_test(test_rcode_index_puts_badvers_and_above_in_the_last_slot),
        cmocka_unit_test(test_rcode_names_follow_the_iana_registry),
        cmocka_unit_test(test_source_names),
        cmocka_unit_test(test_transport_names),
        cmocka_unit_test(test_names_out_of_range_are_unknown),
        cmocka_unit_test(test_each_worker_has_its_own_cache_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
