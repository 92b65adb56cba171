/* What GET /metrics reports, rendered from a plain snapshot: JSON or Prometheus text (0.0.4).
 * Pure functions: the snapshot only borrows its strings, the results belong to the caller. */
#ifndef NANODNS_METRICS_H
#define NANODNS_METRICS_H

/* JSON in the original NanoDNS shape, or the Prometheus text format. No
 * node and no event loop, so tests feed fixed figures. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"

struct json_object;

/* The SOA serial a zone is served with (compile.c: configured + version). */
struct metrics_zone_serial {
    const char *zone; /* as the config writes it */
    uint32_t serial;
};

/* A blocklist file of the config in force, as it was read at load time. */
struct metrics_blocklist {
    const char *path;                   /* resolved against the config file's folder */
    const char *format;                 /* "domains", "hosts" or "adblock" */
    uint64_t entries;                   /* names and exceptions it gave */
    uint64_t skipped;                   /* lines that are not a name */
    const unsigned long *skipped_lines; /* the first few of them (1-based) */
    size_t skipped_lines_count;
    char digest[65]; /* 64 hex digits of the BLAKE2b of its bytes */
};

struct metrics_snapshot {
    double uptime_s;
    uint64_t version;     /* config_version in force */
    const char *checksum; /* of the config bytes in force */
    const struct metrics_zone_serial *serials;
    size_t zone_count;
    size_t records, rewrites;
    bool config_valid;      /* false while the file on disk does not validate */
    const char *last_error; /* NULL when there is none */
    uint64_t reloads, reload_failures;
    bool dataplane_alive;
    uint64_t dataplane_pid;           /* 0 when no data plane has written stats yet */
    uint64_t dataplane_image_version; /* the config version it serves; 0 = none */
    struct stats_totals totals;       /* all zero when there is no stats file */
    /* It runs as another user than the control plane, not root: it cannot
     * read the node's key or write the config. false when it shares our
     * user, or is not running. */
    bool dataplane_privilege_separated;
    /* The lists in force, in config order, and the node's blocklist digest
     * (64 hex digits; NULL leaves it out). */
    const struct metrics_blocklist *blocklists;
    size_t blocklist_count;
    const char *blocklist_digest;
};

/* The cache hit rate in percent, rounded to one decimal (97.5), as the
 * original reports it; 0 when there have been no lookups. */
double metrics_hit_rate(uint64_t hits, uint64_t misses);

/* The JSON document of GET /metrics. The caller puts the object; NULL only
 * when out of memory. */
struct json_object *metrics_to_json(const struct metrics_snapshot *m);

/* The Prometheus text exposition (version 0.0.4): "# HELP", "# TYPE" and
 * samples for every metric, names nanodns_*, counters ending in _total.
 * Returns a malloc'd NUL-terminated text (its length in *len), or NULL. */
char *metrics_to_prometheus(const struct metrics_snapshot *m, size_t *len);

/* Content negotiation for GET /metrics: true when the Accept header (NULL
 * when absent) prefers text/plain or application/openmetrics-text to JSON.
 * JSON stays the default: no header, a wildcard or a tie keeps it. */
bool metrics_accept_prefers_text(const char *accept);

/* Content-Type of metrics_to_prometheus's text. */
#define METRICS_PROMETHEUS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
