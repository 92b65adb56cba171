/* nanoctl: reload, status and cluster against a node's HTTP management API
 * (controlplane/api.c). Human output by default, the API's JSON with
 * --json. Exit status: 0 ok, 1 the node reported a failure, 2 usage error
 * (including a config file that gives no management address, and a --key
 * file that cannot be read), 3 the node could not be reached.
 *
 * The node is -s, or the one a config names: -c, else ./nanodns.json,
 * else the system config, else DEFAULT_SERVER. The config is read by the
 * node's own loader (config.h), so nanoctl takes its defaults as the node
 * does.
 *
 * reload is signed (envelope.h), so that a node accepts it from another
 * host too, with the key file given by --key, or else with the one the
 * config names in server.sync_key when we can read it. */
#include <errno.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "config.h"
#include "envelope.h"
#include "http_client.h"

enum {
    EXIT_OK = 0,
    EXIT_NODE_FAILURE = 1, /* the node answered, and what it said is a failure */
    EXIT_USAGE = 2,
    EXIT_UNREACHABLE = 3, /* no HTTP answer at all */
};

/* Where the node is looked for without -c or -s, in this order. */
#define CWD_CONFIG_PATH "./nanodns.json" /* the quickstart's file, beside the operator */
#define DEFAULT_CONFIG_PATH "/etc/nanodns/nanodns.json"
#define SYSTEM_CONFIG_ENV "NANOCTL_SYSTEM_CONFIG" /* another path for the system config */
#define DEFAULT_SERVER "127.0.0.1:9053"           /* the example config's API */
#define DEFAULT_TIMEOUT_S 5.0
#define MAX_TIMEOUT_S 3600.0
/* The version of --json output's shape, for scripts: bumped when it changes
 * incompatibly. The API's own fields are passed through as the node sent
 * them. */
#define JSON_SCHEMA_VERSION 1
#define LABEL_WIDTH 12

static const char usage_text[] =
    "usage: nanoctl [-c CONFIG | -s HOST:PORT] [--key FILE] [--json] [--timeout SECONDS]\n"
    "               [--verbose] COMMAND\n"
    "\n"
    "Manage a running NanoDNS node through its HTTP management API.\n"
    "\n"
    "commands:\n"
    "  status    version, records, zones, uptime, query rate, cache hit rate,\n"
    "            data plane and config state\n"
    "  reload    have the node re-read its config file and publish it (signed\n"
    "            with --key, or server.sync_key of the config when nanoctl can\n"
    "            read it)\n"
    "  cluster   this node and each of its peers: reachable, status, version,\n"
    "            config hash, trusted, last sync, agrees with this node\n"
    "\n"
    "options:\n"
    "  -c, --config FILE       read the management address (server.mgmt_host and\n"
    "                          server.mgmt_port) and the signing key\n"
    "                          (server.sync_key) from FILE; without -c or -s:\n"
    "                          " CWD_CONFIG_PATH ", else " DEFAULT_CONFIG_PATH ",\n"
    "                          else " DEFAULT_SERVER "\n"
    "  -s, --server HOST:PORT  the node's management address; [ADDRESS]:PORT for IPv6\n"
    "  -k, --key FILE          sign reload with the secret key in FILE (nanodns\n"
    "                          keygen), with -s too\n"
    "  -j, --json              print the API's JSON answer, with \"schema_version\": 1\n"
    "  -t, --timeout SECONDS   give up after SECONDS (default 5)\n"
    "  -v, --verbose           say on stderr which node is used and why (which\n"
    "                          config, which places were skipped), and the key\n"
    "  -h, --help              show this help and exit\n"
    "  -V, --version           show the version and exit\n"
    "\n"
    "exit status: 0 ok, 1 the node reported a failure (for cluster: a peer\n"
    "unreachable or not agreeing with this node), 2 usage error,\n"
    "3 the node could not be reached.\n";

/* Where the node's management API listens. */
struct target {
    char host[256]; /* name or address, IPv6 without brackets */
    char port[6];
    char display[270]; /* host:port, [v6]:port */
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    fputs("nanoctl: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'nanoctl --help' for more information.\n", stderr);
    return EXIT_USAGE;
}

static int port_parse(const char *text, char out[6])
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 1 || value > 65535)
        return -1;
    snprintf(out, 6, "%ld", value);
    return 0;
}

static int target_set(struct target *t, const char *host, size_t host_len, const char *port)
{
    if (host_len == 0 || host_len >= sizeof(t->host))
        return -1;
    memcpy(t->host, host, host_len);
    t->host[host_len] = '\0';
    if (port_parse(port, t->port) < 0)
        return -1;
    bool v6 = strchr(t->host, ':') != NULL;
    snprintf(t->display, sizeof(t->display), "%s%s%s:%s", v6 ? "[" : "", t->host, v6 ? "]" : "",
             t->port);
    return 0;
}

/* HOST:PORT or [IPv6]:PORT. A bare IPv6 address with a port is ambiguous
 * (is "::1:9053" an address?), so it needs the brackets, as in URLs. */
static int target_parse(const char *text, struct target *t)
{
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        struct in6_addr addr;
        char host[INET6_ADDRSTRLEN + 1];
        size_t len = (size_t)(close - text - 1);
        if (len == 0 || len >= sizeof(host))
            return -1;
        memcpy(host, text + 1, len);
        host[len] = '\0';
        if (inet_pton(AF_INET6, host, &addr) != 1)
            return -1;
        return target_set(t, host, len, close + 2);
    }
    const char *colon = strchr(text, ':');
    if (colon == NULL || strchr(colon + 1, ':') != NULL)
        return -1;
    return target_set(t, text, (size_t)(colon - text), colon + 1);
}

/* The address to connect to for a listening address: the wildcard
 * addresses mean "this host", reached over loopback. */
static const char *connect_host_for(const char *listen_host)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, listen_host, &v4) == 1 && v4.s_addr == htonl(INADDR_ANY))
        return "127.0.0.1";
    if (inet_pton(AF_INET6, listen_host, &v6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&v6))
        return "::1";
    return listen_host;
}

/* --verbose: how the node was found, to stderr. */
static void verbose_note(bool verbose, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void verbose_note(bool verbose, const char *fmt, ...)
{
    if (!verbose)
        return;
    fputs("nanoctl: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The node's management address (server.mgmt_host, server.mgmt_port) and
 * signing key (server.sync_key, "" when none) from the config at path, as
 * the node reads them (config_load_management: its defaults, its checks,
 * a relative key taken against the file's folder). why says how path was
 * chosen, for --verbose. Problems are printed; returns 0 or -1. */
static int target_from_config(const char *path, const char *why, bool verbose, struct target *t,
                              char *key_path, size_t key_path_len)
{
    key_path[0] = '\0';
    struct config cfg;
    struct config_diags diags;
    config_diags_init(&diags, path);
    if (config_load_management(path, &cfg, &diags) < 0) {
        for (size_t i = 0; i < diags.count; i++) {
            char line[CONFIG_DIAG_TEXT_MAX];
            config_diag_format(&diags, i, line, sizeof(line));
            fprintf(stderr, "nanoctl: %s\n", line);
        }
        config_diags_free(&diags);
        return -1;
    }
    config_diags_free(&diags);
    int rc = -1;
    const struct config_server *server = &cfg.server;
    if (server->mgmt_port == 0) {
        fprintf(stderr, "nanoctl: the management API is off (mgmt_port is 0) in %s\n", path);
        goto out;
    }
    char port_text[6];
    snprintf(port_text, sizeof(port_text), "%u", (unsigned)server->mgmt_port);
    const char *address = connect_host_for(server->mgmt_host);
    if (target_set(t, address, strlen(address), port_text) < 0) {
        fprintf(stderr, "nanoctl: %s: server.mgmt_host is not a usable address\n", path);
        goto out;
    }
    if (server->sync_key != NULL)
        snprintf(key_path, key_path_len, "%s", server->sync_key);
    if (address != server->mgmt_host)
        verbose_note(verbose,
                     "using %s (%s): node at %s (server.mgmt_host %s is reached over loopback)",
                     path, why, t->display, server->mgmt_host);
    else
        verbose_note(verbose, "using %s (%s): node at %s", path, why, t->display);
    rc = 0;
out:
    config_free(&cfg);
    return rc;
}

/* Whether nothing is at path, so that the search goes on; a file that is
 * there but unusable stops it instead. */
static bool config_absent(const char *path)
{
    struct stat st;
    return stat(path, &st) < 0 && (errno == ENOENT || errno == ENOTDIR);
}

/* Neither -c nor -s: ./nanodns.json (where the quickstart runs), then the
 * system config, then DEFAULT_SERVER. A config that is there but gives no
 * address is an error, not a reason to look further: the next place may
 * name another node, and the operator meant this one. */
static int target_search(bool verbose, struct target *t, char *key_path, size_t key_path_len)
{
    const char *system = getenv(SYSTEM_CONFIG_ENV);
    bool from_env = system != NULL && system[0] != '\0';
    const struct {
        const char *path, *why;
    } places[] = {
        {CWD_CONFIG_PATH, "found in the current directory"},
        {from_env ? system : DEFAULT_CONFIG_PATH,
         from_env ? "the system config, from " SYSTEM_CONFIG_ENV : "the system config"},
    };
    for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
        if (config_absent(places[i].path)) {
            verbose_note(verbose, "%s: not found, skipped", places[i].path);
            continue;
        }
        if (target_from_config(places[i].path, places[i].why, verbose, t, key_path, key_path_len) <
            0) {
            fprintf(stderr,
                    "nanoctl: %s is there but gives no management address, so nanoctl looks no "
                    "further: fix it, or give -c FILE or -s HOST:PORT\n",
                    places[i].path);
            return -1;
        }
        return 0;
    }
    key_path[0] = '\0';
    if (target_parse(DEFAULT_SERVER, t) < 0)
        return -1; /* cannot happen: a constant */
    verbose_note(verbose, "using the default address %s (no config file found)", t->display);
    return 0;
}

/* -- reading the API's answers (fields may be missing: print what is there) -- */

static struct json_object *field(struct json_object *obj, const char *key)
{
    struct json_object *value;
    if (obj == NULL || !json_object_object_get_ex(obj, key, &value))
        return NULL;
    return value;
}

static bool field_number(struct json_object *obj, const char *key, double *out)
{
    struct json_object *v = field(obj, key);
    if (v == NULL ||
        !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
        return false;
    *out = json_object_get_double(v);
    return true;
}

/* Counters and versions: unsigned 64-bit in the API. */
static bool field_count(struct json_object *obj, const char *key, uint64_t *out)
{
    struct json_object *v = field(obj, key);
    if (v == NULL || !json_object_is_type(v, json_type_int))
        return false;
    *out = json_object_get_uint64(v);
    return true;
}

static const char *field_string(struct json_object *obj, const char *key)
{
    struct json_object *v = field(obj, key);
    return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* -1 when absent or not a boolean. */
static int field_bool(struct json_object *obj, const char *key)
{
    struct json_object *v = field(obj, key);
    if (v == NULL || !json_object_is_type(v, json_type_boolean))
        return -1;
    return json_object_get_boolean(v) ? 1 : 0;
}

static struct json_object *field_object(struct json_object *obj, const char *key)
{
    struct json_object *v = field(obj, key);
    return v != NULL && json_object_is_type(v, json_type_object) ? v : NULL;
}

static void print_label(const char *label)
{
    printf("%-*s", LABEL_WIDTH, label);
}

/* Each line of text (a multi-line message), the first after the label,
 * the others indented under it. */
static void print_lines(FILE *out, const char *text, int indent)
{
    bool first = true;
    while (*text != '\0') {
        const char *eol = strchr(text, '\n');
        int n = eol != NULL ? (int)(eol - text) : (int)strlen(text);
        if (n > 0) {
            fprintf(out, "%*s%.*s\n", first ? 0 : indent, "", n, text);
            first = false;
        }
        text += n + (eol != NULL);
    }
    if (first)
        fputc('\n', out);
}

/* "2h 3m": the two largest units, as people say it. */
static void uptime_format(double seconds, char *out, size_t out_len)
{
    uint64_t s = seconds > 0 ? (uint64_t)seconds : 0;
    uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
    if (d > 0)
        snprintf(out, out_len, "%" PRIu64 "d %" PRIu64 "h", d, h);
    else if (h > 0)
        snprintf(out, out_len, "%" PRIu64 "h %" PRIu64 "m", h, m);
    else if (m > 0)
        snprintf(out, out_len, "%" PRIu64 "m %" PRIu64 "s", m, sec);
    else
        snprintf(out, out_len, "%" PRIu64 "s", sec);
}

/* -- the commands ------------------------------------------------------- */

/* A command's verdict on a 2xx answer: EXIT_OK or EXIT_NODE_FAILURE. */
typedef int (*command_judge)(struct json_object *answer);
typedef void (*command_print)(struct json_object *answer, const struct target *t);

static int status_judge(struct json_object *metrics)
{
    int alive = field_bool(field_object(metrics, "dataplane"), "alive");
    int valid = field_bool(metrics, "config_valid");
    return alive == 0 || valid == 0 ? EXIT_NODE_FAILURE : EXIT_OK;
}

static void status_print(struct json_object *m, const struct target *t)
{
    uint64_t count, other;
    const char *text;

    print_label("node:");
    printf("%s\n", t->display);

    if (field_count(m, "version", &count)) {
        print_label("version:");
        printf("%" PRIu64, count);
        if ((text = field_string(m, "checksum")) != NULL)
            printf(" (checksum %s)", text);
        putchar('\n');
    }
    if (field_count(m, "records", &count)) {
        print_label("records:");
        printf("%" PRIu64, count);
        if (field_count(m, "zones", &other))
            printf(" in %" PRIu64 " zone%s", other, other == 1 ? "" : "s");
        if (field_count(m, "rewrites", &other))
            printf(", %" PRIu64 " rewrite rule%s", other, other == 1 ? "" : "s");
        putchar('\n');
    }
    struct json_object *serials = field_object(m, "serial");
    if (serials != NULL && json_object_object_length(serials) > 0) {
        print_label("serial:");
        bool first = true;
        json_object_object_foreach(serials, zone, serial)
        {
            printf("%*s%s %" PRIu64 "\n", first ? 0 : LABEL_WIDTH, "", zone,
                   json_object_get_uint64(serial));
            first = false;
        }
    }
    double uptime = -1;
    if (field_number(m, "uptime_s", &uptime)) {
        char human[64];
        uptime_format(uptime, human, sizeof(human));
        print_label("uptime:");
        printf("%s\n", human);
    }
    struct json_object *queries = field_object(m, "queries");
    if (field_count(queries, "total", &count)) {
        /* One request, so the rate is the average since start, not a
         * current rate: say so. */
        print_label("queries:");
        if (uptime >= 1) {
            double rate = (double)count / uptime;
            printf(rate < 10 ? "%.2f/s avg " : "%.0f/s avg ", rate);
        }
        printf("(%" PRIu64 " total", count);
        if (field_count(queries, "udp", &count))
            printf(", udp %" PRIu64, count);
        if (field_count(queries, "tcp", &count))
            printf(", tcp %" PRIu64, count);
        printf(")\n");
    }
    struct json_object *cache = field_object(m, "cache");
    if (cache != NULL) {
        uint64_t hits = 0, misses = 0;
        bool have = field_count(cache, "hits", &hits) && field_count(cache, "misses", &misses);
        print_label("cache:");
        /* From the counts rather than hit_rate, so a fraction and a
         * percentage cannot be confused. */
        if (have && hits + misses > 0)
            printf("%.1f%% hit rate (%" PRIu64 " hits, %" PRIu64 " misses",
                   100.0 * (double)hits / (double)(hits + misses), hits, misses);
        else
            printf("no lookups yet (");
        if (field_count(cache, "size", &count))
            printf("%s%" PRIu64 " entries", have && hits + misses > 0 ? ", " : "", count);
        printf(")\n");
    }
    struct json_object *dataplane = field_object(m, "dataplane");
    int alive = field_bool(dataplane, "alive");
    if (alive >= 0) {
        print_label("data plane:");
        printf("%s", alive ? "answering" : "NOT ANSWERING");
        if (field_count(dataplane, "pid", &count) && count > 0)
            printf(" (pid %" PRIu64, count);
        else
            printf(" (no process");
        if (field_count(dataplane, "image_version", &other) && other > 0)
            printf(", image version %" PRIu64, other);
        printf(")\n");
    }
    int valid = field_bool(m, "config_valid");
    if (valid >= 0) {
        print_label("config:");
        if (valid) {
            printf("valid\n");
        } else {
            printf("INVALID: serving the last good config\n");
            if ((text = field_string(m, "last_error")) != NULL) {
                printf("%*s", LABEL_WIDTH, "");
                print_lines(stdout, text, LABEL_WIDTH);
            }
        }
    } else if ((text = field_string(m, "last_error")) != NULL) {
        print_label("last error:");
        print_lines(stdout, text, LABEL_WIDTH);
    }
    if (field_count(m, "reloads", &count)) {
        print_label("reloads:");
        printf("%" PRIu64, count);
        if (field_count(m, "reload_failures", &other))
            printf(" (%" PRIu64 " refused)", other);
        putchar('\n');
    }
}

static int reload_judge(struct json_object *answer)
{
    (void)answer;
    return EXIT_OK;
}

static void reload_print(struct json_object *answer, const struct target *t)
{
    (void)t;
    uint64_t version = 0, records = 0;
    field_count(answer, "version", &version);
    field_count(answer, "records", &records);
    const char *status = field_string(answer, "status");
    if (status != NULL && strcmp(status, "unchanged") == 0) {
        /* The node published nothing and pushed nothing: say why. */
        printf("unchanged: version %" PRIu64 ", %" PRIu64
               " record%s (the file holds nothing new)\n",
               version, records, records == 1 ? "" : "s");
        return;
    }
    printf("reloaded: version %" PRIu64 ", %" PRIu64 " record%s\n", version, records,
           records == 1 ? "" : "s");
    struct json_object *peers = field_object(answer, "peers");
    if (peers == NULL)
        return;
    json_object_object_foreach(peers, peer, result)
    {
        const char *text = json_object_is_type(result, json_type_string)
                               ? json_object_get_string(result)
                               : field_string(result, "status");
        if (text == NULL)
            text = json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN);
        printf("  peer %s: %s\n", peer, text);
    }
}

/* A peer whose "status", when given, is not "ok": its API answered, but
 * the node says it is unwell. */
static bool member_unwell(struct json_object *member)
{
    const char *status = field_string(member, "status");
    return status != NULL && strcmp(status, "ok") != 0;
}

/* Healthy: this node's status is "ok", and every peer is reachable, well,
 * and agrees with it. A peer that does not say whether it agrees (an older
 * node's answer) is not held against the cluster. */
static int cluster_judge(struct json_object *answer)
{
    const char *status = field_string(field_object(answer, "self"), "status");
    if (status == NULL || strcmp(status, "ok") != 0)
        return EXIT_NODE_FAILURE;
    struct json_object *peers = field_object(answer, "peers");
    if (peers != NULL) {
        json_object_object_foreach(peers, name, peer)
        {
            (void)name;
            if (field_bool(peer, "reachable") != 1 || member_unwell(peer) ||
                field_bool(peer, "agrees") == 0)
                return EXIT_NODE_FAILURE;
        }
    }
    return EXIT_OK;
}

/* The columns of the cluster table, in order. */
enum cluster_column {
    COLUMN_NODE,
    COLUMN_REACHABLE,
    COLUMN_STATUS,
    COLUMN_VERSION,
    COLUMN_HASH,
    COLUMN_TRUSTED,
    COLUMN_LAST_SYNC,
    COLUMN_AGREES,
    COLUMN_COUNT,
};

static const char *const cluster_headings[COLUMN_COUNT] = {
    "NODE", "REACHABLE", "STATUS", "VERSION", "HASH", "TRUSTED", "LAST SYNC", "AGREES",
};

/* Enough of a config hash to tell two apart at a glance. */
#define HASH_SHOWN 16

struct cluster_row {
    char cells[COLUMN_COUNT][300];
};

static void cell_set(struct cluster_row *row, enum cluster_column column, const char *text)
{
    snprintf(row->cells[column], sizeof(row->cells[column]), "%s", text != NULL ? text : "-");
}

/* "yes", bad (a problem shown in capitals, or a plain "no"), or "-" when the
 * node did not say. */
static void cell_bool(struct cluster_row *row, enum cluster_column column,
                      struct json_object *member, const char *key, const char *no)
{
    int value = field_bool(member, key);
    cell_set(row, column, value == 1 ? "yes" : value == 0 ? no : "-");
}

/* last_sync: unix time of the last successful push or pull, null for never. */
static void cell_last_sync(struct cluster_row *row, struct json_object *peer, time_t now)
{
    struct json_object *value;
    char human[80];
    if (peer == NULL || !json_object_object_get_ex(peer, "last_sync", &value)) {
        cell_set(row, COLUMN_LAST_SYNC, "-");
    } else if (value == NULL) {
        cell_set(row, COLUMN_LAST_SYNC, "never");
    } else if (json_object_is_type(value, json_type_int)) {
        /* The node's clock, not ours: a time a little ahead is "0s ago". */
        uptime_format((double)now - (double)json_object_get_int64(value), human, sizeof(human));
        strncat(human, " ago", sizeof(human) - strlen(human) - 1);
        cell_set(row, COLUMN_LAST_SYNC, human);
    } else {
        cell_set(row, COLUMN_LAST_SYNC, "-");
    }
}

/* What self and a peer share: status, version and hash. */
static void cluster_row_fill(struct cluster_row *row, struct json_object *member)
{
    uint64_t n;
    char text[32];
    cell_set(row, COLUMN_STATUS, field_string(member, "status"));
    if (field_count(member, "version", &n)) {
        snprintf(text, sizeof(text), "%" PRIu64, n);
        cell_set(row, COLUMN_VERSION, text);
    } else {
        cell_set(row, COLUMN_VERSION, "-");
    }
    const char *hash = field_string(member, "hash");
    if (hash != NULL && hash[0] != '\0')
        snprintf(row->cells[COLUMN_HASH], sizeof(row->cells[COLUMN_HASH]), "%.*s", HASH_SHOWN,
                 hash);
    else
        cell_set(row, COLUMN_HASH, "-");
}

static void cluster_print(struct json_object *answer, const struct target *t)
{
    struct json_object *self = field_object(answer, "self");
    struct json_object *peers = field_object(answer, "peers");
    size_t count = 1 + (peers != NULL ? (size_t)json_object_object_length(peers) : 0);
    struct cluster_row *rows = calloc(count, sizeof(*rows));
    if (rows == NULL) {
        fprintf(stderr, "nanoctl: out of memory\n");
        return;
    }
    /* This node: it answered, and trust, syncs and agreement are about its
     * peers, not about itself. */
    const char *address = field_string(self, "address");
    snprintf(rows[0].cells[COLUMN_NODE], sizeof(rows[0].cells[COLUMN_NODE]), "%s (this node)",
             address != NULL ? address : t->display);
    cell_set(&rows[0], COLUMN_REACHABLE, "yes");
    cluster_row_fill(&rows[0], self);
    cell_set(&rows[0], COLUMN_TRUSTED, "-");
    cell_set(&rows[0], COLUMN_LAST_SYNC, "-");
    cell_set(&rows[0], COLUMN_AGREES, "-");

    time_t now = time(NULL);
    size_t n = 1, agree = 0, unreachable = 0, differ = 0, unknown = 0;
    if (peers != NULL) {
        json_object_object_foreach(peers, name, peer)
        {
            struct cluster_row *row = &rows[n++];
            cell_set(row, COLUMN_NODE, name);
            cell_bool(row, COLUMN_REACHABLE, peer, "reachable", "NO");
            cluster_row_fill(row, peer);
            cell_bool(row, COLUMN_TRUSTED, peer, "trusted", "no");
            cell_last_sync(row, peer, now);
            cell_bool(row, COLUMN_AGREES, peer, "agrees", "NO");
            int agrees = field_bool(peer, "agrees");
            if (field_bool(peer, "reachable") != 1)
                unreachable++;
            else if (agrees == 1)
                agree++;
            else if (agrees == 0)
                differ++;
            else
                unknown++;
        }
    }

    int widths[COLUMN_COUNT];
    for (int c = 0; c < COLUMN_COUNT; c++)
        widths[c] = (int)strlen(cluster_headings[c]);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < COLUMN_COUNT; c++)
            if ((int)strlen(rows[i].cells[c]) > widths[c])
                widths[c] = (int)strlen(rows[i].cells[c]);
    for (size_t i = 0; i <= n; i++) {
        for (int c = 0; c < COLUMN_COUNT; c++) {
            const char *text = i == 0 ? cluster_headings[c] : rows[i - 1].cells[c];
            if (c == COLUMN_COUNT - 1)
                printf("%s\n", text);
            else
                printf("%-*s  ", widths[c], text);
        }
    }
    if (n > 1) {
        printf("%zu of %zu peer%s agree%s with this node", agree, n - 1, n == 2 ? "" : "s",
               n == 2 ? "s" : "");
        const char *sep = " (";
        if (unreachable > 0) {
            printf("%s%zu unreachable", sep, unreachable);
            sep = ", ";
        }
        if (differ > 0) {
            printf("%s%zu differ%s", sep, differ, differ == 1 ? "s" : "");
            sep = ", ";
        }
        if (unknown > 0) {
            printf("%s%zu unknown", sep, unknown);
            sep = ", ";
        }
        printf("%s\n", sep[0] == ',' ? ")" : "");
    }
    free(rows);
}

struct command {
    const char *name;
    const char *method;
    const char *path;
    command_judge judge;
    command_print print;
};

static const struct command commands[] = {
    {"status", "GET", "/metrics", status_judge, status_print},
    {"reload", "POST", "/reload", reload_judge, reload_print},
    {"cluster", "GET", "/cluster", cluster_judge, cluster_print},
};

/* The answer to a failed request, as the node explains it: its "errors"
 * (every finding of an invalid config, one per line), else its "error" or
 * "message", else the body's first line. */
static void failure_print(const struct command *cmd, const struct target *t,
                          const struct http_response *response, struct json_object *answer)
{
    struct json_object *errors = field(answer, "errors");
    if (strcmp(cmd->name, "reload") == 0 && response->status == 422)
        fprintf(stderr, "nanoctl: reload refused: the config does not validate; the node keeps "
                        "serving the last good config\n");
    else
        fprintf(stderr, "nanoctl: %s answered HTTP %d to %s %s\n", t->display, response->status,
                cmd->method, cmd->path);
    if (errors != NULL && json_object_is_type(errors, json_type_array)) {
        size_t n = json_object_array_length(errors);
        for (size_t i = 0; i < n; i++) {
            const char *text = json_object_get_string(json_object_array_get_idx(errors, i));
            print_lines(stderr, text != NULL ? text : "", 0);
        }
        return;
    }
    const char *text = field_string(answer, "error");
    if (text == NULL)
        text = field_string(answer, "message");
    if (text != NULL) {
        print_lines(stderr, text, 0);
        return;
    }
    if (answer == NULL && response->body_len > 0) {
        const char *eol = strchr(response->body, '\n');
        int n = eol != NULL ? (int)(eol - response->body) : (int)strlen(response->body);
        fprintf(stderr, "%.*s\n", n > 200 ? 200 : n, response->body);
    }
}

/* The API's answer with "schema_version" added as its first member. */
static void json_print(struct json_object *answer)
{
    struct json_object *out = json_object_new_object();
    if (out == NULL) {
        fprintf(stderr, "nanoctl: out of memory\n");
        return;
    }
    json_object_object_add(out, "schema_version", json_object_new_int(JSON_SCHEMA_VERSION));
    json_object_object_foreach(answer, key, value)
    {
        if (strcmp(key, "schema_version") != 0)
            json_object_object_add(out, key, json_object_get(value));
    }
    puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(out);
}

/* The body as a JSON object, or NULL. */
static struct json_object *answer_parse(const struct http_response *response)
{
    if (response->body_len == 0 || response->body_len > INT32_MAX)
        return NULL;
    struct json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return NULL;
    struct json_object *obj = json_tokener_parse_ex(tok, response->body, (int)response->body_len);
    bool ok = json_tokener_get_error(tok) == json_tokener_success &&
              json_object_is_type(obj, json_type_object);
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(obj);
        return NULL;
    }
    return obj;
}

/* The headers that sign METHOD PATH with the key in key_path, as a node
 * checks them (X-NanoDNS-Signer, -Time, -Signature). Returns 0, or -1
 * with the reason in err. */
static int request_sign(const char *key_path, const char *method, const char *path, char *headers,
                        size_t headers_len, char *err, size_t err_len)
{
    struct envelope_key key;
    if (envelope_key_read(key_path, &key, err, err_len) < 0)
        return -1;
    uint64_t now = (uint64_t)time(NULL);
    uint8_t signature[ENVELOPE_SIGNATURE_SIZE];
    envelope_sign_request(&key, now, method, path, signature);
    char signer[ENVELOPE_PUBLIC_KEY_TEXT], signature_text[ENVELOPE_SIGNATURE_TEXT];
    envelope_public_key_text(key.public_key, signer);
    sodium_memzero(&key, sizeof(key));
    if (envelope_base64_encode(signature, sizeof(signature), signature_text,
                               sizeof(signature_text)) < 0)
        return -1; /* cannot happen: the buffer is sized for it */
    snprintf(headers, headers_len,
             "X-NanoDNS-Signer: %s\r\n"
             "X-NanoDNS-Time: %" PRIu64 "\r\n"
             "X-NanoDNS-Signature: %s\r\n",
             signer, now, signature_text);
    return 0;
}

/* key_path: the key file to sign a reload with ("" for none);
 * key_required: it was asked for (--key), so not being able to sign is an
 * error rather than a fallback to unsigned. */
static int command_run(const struct command *cmd, const struct target *t, bool json, int timeout_ms,
                       const char *key_path, bool key_required, bool verbose)
{
    struct http_response response;
    char err[256];
    char headers[512] = "";
    char sign_err[PATH_MAX + 256] = "";
    /* Unsigned is still fine over loopback, so a key we cannot read (not
     * root, say) is only mentioned when the node refuses. */
    if (strcmp(cmd->name, "reload") == 0 && key_path[0] != '\0' &&
        request_sign(key_path, cmd->method, cmd->path, headers, sizeof(headers), sign_err,
                     sizeof(sign_err)) < 0) {
        if (key_required) {
            fprintf(stderr, "nanoctl: cannot sign with --key: %s\n", sign_err);
            return EXIT_USAGE;
        }
        verbose_note(verbose, "reload goes unsigned: %s", sign_err);
    }
    if (http_request(t->host, t->port, cmd->method, cmd->path, headers, timeout_ms, &response, err,
                     sizeof(err)) < 0) {
        fprintf(stderr, "nanoctl: cannot reach the node at %s: %s\n", t->display, err);
        return EXIT_UNREACHABLE;
    }
    struct json_object *answer = answer_parse(&response);
    int rc;
    if (response.status < 200 || response.status > 299) {
        if (json && answer != NULL)
            json_print(answer);
        else
            failure_print(cmd, t, &response, answer);
        if ((response.status == 401 || response.status == 403) && sign_err[0] != '\0')
            fprintf(stderr, "nanoctl: the request was not signed: %s\n", sign_err);
        rc = EXIT_NODE_FAILURE;
    } else if (answer == NULL) {
        fprintf(stderr, "nanoctl: %s answered %s %s with something that is not a JSON object\n",
                t->display, cmd->method, cmd->path);
        rc = EXIT_NODE_FAILURE;
    } else {
        if (json)
            json_print(answer);
        else
            cmd->print(answer, t);
        rc = cmd->judge(answer);
    }
    json_object_put(answer);
    http_response_free(&response);
    if (fflush(stdout) != 0 && rc == EXIT_OK) {
        fprintf(stderr, "nanoctl: cannot write the output: %s\n", strerror(errno));
        rc = EXIT_NODE_FAILURE;
    }
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"server", required_argument, NULL, 's'},
        {"key", required_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *server = NULL, *key_option = NULL;
    bool json = false, verbose = false;
    double timeout_s = DEFAULT_TIMEOUT_S;
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":c:s:k:jt:hVv", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 's':
            server = optarg;
            break;
        case 'k':
            key_option = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'v':
            verbose = true;
            break;
        case 't': {
            char *end;
            errno = 0;
            timeout_s = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(timeout_s > 0) ||
                timeout_s > MAX_TIMEOUT_S)
                return usage_error("--timeout must be a number of seconds from 0.001 to %.0f, "
                                   "not '%s'",
                                   MAX_TIMEOUT_S, optarg);
            break;
        }
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        case 'V':
            printf("nanoctl %s\n", NANODNS_VERSION);
            return EXIT_OK;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt != 0)
                return usage_error("unknown option '-%c'", optopt);
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error("missing COMMAND (status, reload or cluster)");
    if (argc - optind > 1)
        return usage_error("unexpected argument '%s'", argv[optind + 1]);
    const struct command *cmd = NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[optind], commands[i].name) == 0)
            cmd = &commands[i];
    if (cmd == NULL)
        return usage_error("unknown command '%s' (status, reload or cluster)", argv[optind]);
    if (config_path != NULL && server != NULL)
        return usage_error("-c and -s cannot be used together");

    struct target target;
    char key_path[PATH_MAX] = "";
    if (server != NULL) {
        if (target_parse(server, &target) < 0)
            return usage_error("-s wants HOST:PORT or [IPv6]:PORT with a port from 1 to 65535, "
                               "not '%s'",
                               server);
        verbose_note(verbose, "using %s (-s)", target.display);
    } else if (config_path != NULL) {
        if (target_from_config(config_path, "-c", verbose, &target, key_path, sizeof(key_path)) < 0)
            return EXIT_USAGE;
    } else if (target_search(verbose, &target, key_path, sizeof(key_path)) < 0) {
        return EXIT_USAGE;
    }
    if (key_option != NULL) {
        if (key_option[0] == '\0' || strlen(key_option) >= sizeof(key_path))
            return usage_error("--key wants the path of a key file");
        snprintf(key_path, sizeof(key_path), "%s", key_option); /* over server.sync_key */
    }
    if (strcmp(cmd->name, "reload") == 0) {
        if (key_path[0] == '\0')
            verbose_note(verbose,
                         "reload is unsigned (no --key, no server.sync_key): a node takes it "
                         "from loopback only");
        else
            verbose_note(verbose, "reload is signed with %s (%s)", key_path,
                         key_option != NULL ? "--key" : "server.sync_key");
    }
    int timeout_ms = (int)(timeout_s * 1000 + 0.999); /* at least 1 ms */
    return command_run(cmd, &target, json, timeout_ms, key_path, key_option != NULL, verbose);
}
