/* The config model: the original NanoDNS JSON parsed (json-c, strict RFC 8259) and validated.
 * A struct config owns all it holds (config_free); one thread at a time. No image: compile.h. */
#ifndef NANODNS_CONFIG_H
#define NANODNS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "blocklist.h"
#include "cidr.h"
#include "config_edit.h"
#include "wire.h"

/* One finding of the validator. line and column are 1-based and point at
 * the JSON value (or key) the path names; 0 when there is no such place. */
enum config_severity { CONFIG_ERROR, CONFIG_WARNING };

struct config_diag {
    enum config_severity severity;
    unsigned line;
    unsigned column;
    char path[160];    /* JSON path: "records[3].value", "zones.internal.lan.soa" */
    char message[320]; /* "\"192.168.1.300\" is not an IPv4 address" */
};

struct config_diags {
    char file[256]; /* as given by the caller; printed in front of every line */
    struct config_diag *items;
    size_t count, capacity;
    size_t errors, warnings;
};

void config_diags_init(struct config_diags *d, const char *file);
void config_diags_free(struct config_diags *d);

/* Print each finding as "FILE:LINE:COL: PATH: MESSAGE" (warnings with
 * "warning: " before the path), one per line. */
void config_diags_print(const struct config_diags *d, FILE *out);

/* Finding i as config_diags_print writes it, without the newline. */
#define CONFIG_DIAG_TEXT_MAX 1024
void config_diag_format(const struct config_diags *d, size_t i, char *out, size_t out_len);

/* The octets of every record (owners and RDATA), in blocks that never
 * move: a million records are a few dozen allocations, not two million.
 * Owned by the struct config that holds it; freed by config_free. */
struct config_pool_block;
struct config_pool {
    struct config_pool_block *blocks; /* the newest first */
    size_t used, capacity;            /* in the newest block */
};

/* A record in wire form. rdata holds the uncompressed RDATA exactly as it
 * goes on the wire (names inside it in wire form, case kept; TXT already
 * split into strings of at most 255 octets). owner and rdata point into
 * the config's pool, so a record is a small fixed-size entry. */
struct config_record {
    const uint8_t *owner; /* case as written; owner_len octets */
    const uint8_t *rdata;
    uint32_t ttl;
    uint16_t type;
    uint16_t rdata_len;
    uint8_t owner_len;
    bool wildcard;
    unsigned line, column; /* of the record object, for later messages */
};

struct config_soa {
    uint8_t mname[WIRE_NAME_MAX];
    uint8_t mname_len;
    uint8_t rname[WIRE_NAME_MAX];
    uint8_t rname_len;
    uint32_t serial, refresh, retry, expire, minimum;
};

struct config_zone {
    char *name; /* the key as written */
    uint8_t apex[WIRE_NAME_MAX];
    uint8_t apex_len;
    struct config_soa soa;        /* the original's defaults where "soa" or a field is absent */
    uint8_t (*ns)[WIRE_NAME_MAX]; /* zones.<zone>.ns, in wire form */
    uint8_t *ns_len;
    size_t ns_count;
};

struct config_rewrite {
    uint8_t name[WIRE_NAME_MAX]; /* "*.ads.example" is stored as "ads.example" with below = true */
    uint8_t name_len;
    bool below; /* blocks every name strictly below name, at any depth */
};

/* A server to forward to: an address (no host name) and a port. */
struct config_upstream {
    uint8_t family; /* 4 or 6 */
    uint16_t port;  /* host order */
    uint8_t addr[16];
};

/* server.log_format: how the data plane writes its query log. */
enum config_log_format {
    CONFIG_LOG_TEXT, /* "text" */
    CONFIG_LOG_JSON, /* "json": JSON Lines */
};

/* server.block_response: how a blocked name is answered. */
enum config_block_response {
    CONFIG_BLOCK_NXDOMAIN, /* "nxdomain" */
    CONFIG_BLOCK_NULL,     /* "null": A 0.0.0.0, AAAA ::, NODATA for other types */
    CONFIG_BLOCK_REFUSED,  /* "refused" */
};

/* One name a blocklist file lists (it and every name below it blocked) or,
 * allow, an adblock exception ("@@||name^": nothing at or below it
 * blocked). name points into the config's pool. */
struct config_list_entry {
    const uint8_t *name; /* wire form, case as written */
    uint8_t name_len;
    bool allow;
};

/* Line numbers of skipped lines a list keeps (and its warning names). */
#define CONFIG_LIST_SKIPPED_SHOWN 5

/* A "blocklists" entry: the file as read at load time. */
struct config_blocklist {
    char *path; /* resolved against the config file's folder */
    enum blocklist_format format;
    size_t entries; /* names and exceptions it gave */
    size_t skipped; /* lines that are not a name */
    /* The first min(skipped, CONFIG_LIST_SKIPPED_SHOWN) of them, 1-based. */
    unsigned long skipped_lines[CONFIG_LIST_SKIPPED_SHOWN];
    /* BLAKE2b (crypto_generichash) of the file's bytes as read: what the
     * hot-reload poll compares the file with. */
    uint8_t digest[CONFIG_DIGEST_SIZE];
};

/* server.forward_zones: names at or below name go to these servers. */
struct config_forward_zone {
    char *text;                  /* the key as written */
    uint8_t name[WIRE_NAME_MAX]; /* wire form, case as written */
    uint8_t name_len;
    struct config_upstream *upstreams; /* port: upstream_port where the entry has none */
    size_t upstream_count;
};

/* The highest config_version: 2^53 - 1, the largest integer every JSON
 * parser reads exactly (RFC 8259 §6). A typo far above the versions in
 * use would leave no room for the changes after it, on every node the
 * config reaches (sync.h refuses a step above 2^20 as well). */
#define CONFIG_VERSION_MAX ((UINT64_C(1) << 53) - 1)

/* server.serve_stale (seconds): RFC 8767 §5 suggests one to three days. */
#define CONFIG_SERVE_STALE_DEFAULT 86400
#define CONFIG_SERVE_STALE_MAX 604800

struct config_server {
    char *host;      /* "0.0.0.0" */
    uint16_t port;   /* 53 */
    char **upstream; /* ["8.8.8.8", "1.1.1.1"] */
    size_t upstream_count;
    struct config_upstream *upstreams; /* upstream[i] parsed; port: upstream_port if it has none */
    double upstream_timeout;           /* 3 (seconds) */
    uint16_t upstream_port;            /* 53 */
    bool cache_enabled;                /* true */
    uint32_t cache_ttl;                /* 300 */
    uint32_t cache_size;               /* 1000 */
    char *log_level;                   /* "INFO": DEBUG, INFO, WARNING, ERROR */
    bool log_queries;                  /* true */
    bool hot_reload;                   /* true */
    char *mgmt_host;                   /* "0.0.0.0" */
    uint16_t mgmt_port;                /* 0 = off */
    char **peers;                      /* each member's management address, "host:port" */
    size_t peer_count;
    /* peers given as {"address", "public_key"}: peer_has_key[i] and the
     * key; the original's plain "host:port" entries have none and are
     * never trusted with a change. */
    bool *peer_has_key;
    uint8_t (*peer_keys)[32];
    /* server.sync_key, this node's key file, resolved against the config
     * file's folder (config_load_buffer_at, config_load_file); NULL when
     * absent. */
    char *sync_key;
    uint64_t config_version; /* 1 */
    /* NanoDNS additions */
    uint16_t edns_payload;        /* 1232: the UDP payload size we advertise */
    uint32_t tcp_idle_timeout;    /* 10 (seconds) */
    uint32_t tcp_max_connections; /* 256 */
    char *user; /* the data plane's user when started as root; NULL: nanodns, else nobody */
    struct config_forward_zone *forward_zones; /* {} */
    size_t forward_zone_count;
    uint32_t max_inflight;        /* 1024: upstream queries in flight at once */
    struct cidr *allow_recursion; /* CIDR_DEFAULT_RECURSION; empty: nobody may recurse */
    size_t allow_recursion_count;
    struct cidr *allow_query; /* absent (count 0): everyone may query */
    size_t allow_query_count;
    enum config_log_format log_format; /* CONFIG_LOG_TEXT */
    uint32_t rrl_ratelimit; /* 0 (off): UDP answers a second per prefix to clients outside
                               allow_recursion (NSD's rrl-ratelimit) */
    uint32_t rrl_slip;      /* 2: every Nth limited answer truncated, the rest dropped */
    uint32_t workers;       /* 1..STATS_WORKERS_MAX event loops in the data plane; 0 (absent):
                               one per CPU the data plane may use (dataplane/workers.h) */
    enum config_block_response block_response; /* CONFIG_BLOCK_NXDOMAIN */
    uint32_t serve_stale; /* 86400 (seconds): an expired cached answer this young is served
                             when every upstream fails (RFC 8767); 0 = off */
    /* true: the RFC 6303 zones, home.arpa, localhost, invalid and test
     * are answered here (local_zones.c) unless a zone of ours or a
     * forward zone is at or above them. */
    bool local_zones;
    bool domain_needed; /* true: names of one label are never forwarded */
    /* "" (len 0): none; else a bare name is answered from name.<search_domain> */
    uint8_t search_domain[WIRE_NAME_MAX]; /* wire form, case as written */
    uint8_t search_domain_len;
    bool auto_ptr; /* true: PTRs for the addresses of our A and AAAA records */
    /* false: true drops upstream answers with private, loopback or
     * link-local addresses for names outside forward_zones (dnsmasq's
     * stop-dns-rebind; dataplane/relay.c) */
    bool rebind_protection;
};

struct config {
    struct config_server server;
    struct config_zone *zones;
    size_t zone_count;
    struct config_record *records;
    size_t record_count;
    struct config_rewrite *rewrites;
    size_t rewrite_count;
    struct config_blocklist *blocklists; /* "blocklists", node-local files */
    size_t blocklist_count;
    struct config_list_entry *list_entries; /* of every list, in order */
    size_t list_entry_count;
    /* "allowlist": name exactly (below = false) or nothing at or below
     * name ("*.name", below = true) blocked, whatever lists and rewrites say. */
    struct config_rewrite *allowlist;
    size_t allowlist_count;
    struct config_pool
        pool; /* what records[].owner and .rdata and list_entries[].name point into */
    /* config_digest of the text loaded: equal for two texts that say the
     * same but for layout and server.config_version (a reload of such a
     * file changes nothing). */
    uint8_t digest[CONFIG_DIGEST_SIZE];
    /* config_blocklists_digest of this config: the blocking in force on
     * this node, for /health and /cluster. */
    uint8_t blocklist_digest[CONFIG_DIGEST_SIZE];
};

/* Parse and validate a config held in memory. All findings go to diags
 * (which names the file). Returns 0 when there is no error (warnings are
 * allowed), -1 otherwise; on -1 cfg holds nothing to free. */
int config_load_buffer(const char *text, size_t len, struct config *cfg,
                       struct config_diags *diags);

/* config_load_buffer for text that is (or is going to be) the file at
 * config_path: a relative server.sync_key is taken against that file's
 * folder. config_load_buffer leaves it as written (relative to the current
 * directory). */
int config_load_buffer_at(const char *text, size_t len, const char *config_path, struct config *cfg,
                          struct config_diags *diags);

/* Read FILE and config_load_buffer_at it. A file that cannot be read is one
 * error with line 0. */
int config_load_file(const char *path, struct config *cfg, struct config_diags *diags);

/* What a management client (nanoctl) needs of the config file at path:
 * server.mgmt_host, server.mgmt_port and server.sync_key, read and checked
 * as config_load_file does, with the node's defaults; the rest of
 * cfg->server holds the defaults, and nothing else is loaded or checked,
 * so a file the node would refuse for another reason still names the
 * node. Returns 0, or -1 with the findings in diags (a file that cannot be
 * read, is not JSON, or has one of those keys wrong). */
int config_load_management(const char *path, struct config *cfg, struct config_diags *diags);

void config_free(struct config *cfg);

/* ---- blocklist files (config_blocklists.c) ---- */

/* The node's blocklist digest: BLAKE2b over each list's format and
 * content digest, in order, then the allowlist (names in lower case). Not
 * the paths: two nodes whose files hold the same lists agree wherever the
 * files are. config_load_* fill cfg->blocklist_digest with it. */
void config_blocklists_digest(const struct config *cfg, uint8_t out[CONFIG_DIGEST_SIZE]);

/* The BLAKE2b of the file at path, opened as the loader opens a list
 * (regular files only, without blocking). Returns 0, or -1 with why in
 * err ("cannot open the list file \"PATH\": No such file or directory"). */
int config_blocklist_file_digest(const char *path, uint8_t out[CONFIG_DIGEST_SIZE], char *err,
                                 size_t err_len);

/* What config_blocklists_recheck finds in the list files now. */
enum config_lists_state {
    CONFIG_LISTS_UNREADABLE = -1, /* one cannot be read (err says which and why) */
    CONFIG_LISTS_SAME = 0,        /* each holds the bytes it held at load time */
    CONFIG_LISTS_CHANGED = 1,     /* one at least holds other bytes */
};

/* Read every list file cfg names again and compare it with what was
 * loaded. now (may be NULL) gets a digest of the files' digests, in order,
 * so a caller can tell one change from the next; it is set unless the
 * result is CONFIG_LISTS_UNREADABLE. err may be NULL. */
enum config_lists_state config_blocklists_recheck(const struct config *cfg,
                                                  uint8_t now[CONFIG_DIGEST_SIZE], char *err,
                                                  size_t err_len);

/* The example config `nanodns init` writes: the original's example, with
 * the management API on loopback and an address for its MX target. */
extern const char CONFIG_EXAMPLE_JSON[];

/* The keys the loader accepts in one kind of object ("server",
 * "records[]"; "" is the top level). Objects keyed by names (zones,
 * server.forward_zones) have no table. */
struct config_key_table {
    const char *object;
    const char *const *keys;
    size_t count;
};

/* Every such table, *count of them. */
const struct config_key_table *config_key_tables(size_t *count);

/* The summary `nanodns check` prints for a valid config. */
void config_print_summary(const struct config *cfg, FILE *out);

#endif
