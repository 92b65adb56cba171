/* nanoctl's human output of the node's answers: status as labelled lines,
 * reload as one line per result, cluster as a table; and --json, the answer
 * as it came with "schema_version" added. Writes to stdout. */
#include "print.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reply.h"

/* The version of --json output's shape, for scripts: bumped when it changes
 * incompatibly. The API's own fields are passed through as the node sent
 * them. */
#define JSON_SCHEMA_VERSION 1
#define LABEL_WIDTH 12

static void print_label(const char *label)
{
    printf("%-*s", LABEL_WIDTH, label);
}

/* Each line of text (a multi-line message), the first after the label,
 * the others indented under it. */
void print_lines(FILE *out, const char *text, int indent)
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

/* What the node serves: version, records and zones, served serials. */
static void status_print_contents(struct json_object *m)
{
    uint64_t count, other;
    const char *text;

    if (reply_count(m, "version", &count)) {
        print_label("version:");
        printf("%" PRIu64, count);
        if ((text = reply_string(m, "checksum")) != NULL)
            printf(" (checksum %s)", text);
        putchar('\n');
    }
    if (reply_count(m, "records", &count)) {
        print_label("records:");
        printf("%" PRIu64, count);
        if (reply_count(m, "zones", &other))
            printf(" in %" PRIu64 " zone%s", other, other == 1 ? "" : "s");
        if (reply_count(m, "rewrites", &other))
            printf(", %" PRIu64 " rewrite rule%s", other, other == 1 ? "" : "s");
        putchar('\n');
    }
    struct json_object *serials = reply_object(m, "serial");
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
}

/* Since when, how much: uptime, the average query rate, the cache. */
static void status_print_traffic(struct json_object *m)
{
    uint64_t count;
    double uptime = -1;
    if (reply_number(m, "uptime_s", &uptime)) {
        char human[64];
        uptime_format(uptime, human, sizeof(human));
        print_label("uptime:");
        printf("%s\n", human);
    }
    struct json_object *queries = reply_object(m, "queries");
    if (reply_count(queries, "total", &count)) {
        /* One request, so the rate is the average since start, not a
         * current rate: say so. */
        print_label("queries:");
        if (uptime >= 1) {
            double rate = (double)count / uptime;
            printf(rate < 10 ? "%.2f/s avg " : "%.0f/s avg ", rate);
        }
        printf("(%" PRIu64 " total", count);
        if (reply_count(queries, "udp", &count))
            printf(", udp %" PRIu64, count);
        if (reply_count(queries, "tcp", &count))
            printf(", tcp %" PRIu64, count);
        printf(")\n");
    }
    struct json_object *cache = reply_object(m, "cache");
    if (cache != NULL) {
        uint64_t hits = 0, misses = 0;
        bool have = reply_count(cache, "hits", &hits) && reply_count(cache, "misses", &misses);
        print_label("cache:");
        /* From the counts rather than hit_rate, so a fraction and a
         * percentage cannot be confused. */
        if (have && hits + misses > 0)
            printf("%.1f%% hit rate (%" PRIu64 " hits, %" PRIu64 " misses",
                   100.0 * (double)hits / (double)(hits + misses), hits, misses);
        else
            printf("no lookups yet (");
        if (reply_count(cache, "size", &count))
            printf("%s%" PRIu64 " entries", have && hits + misses > 0 ? ", " : "", count);
        printf(")\n");
    }
}

/* Whether it is well: the data plane, the config, reloads. */
static void status_print_health(struct json_object *m)
{
    uint64_t count, other;
    const char *text;
    struct json_object *dataplane = reply_object(m, "dataplane");
    int alive = reply_bool(dataplane, "alive");
    if (alive >= 0) {
        print_label("data plane:");
        printf("%s", alive ? "answering" : "NOT ANSWERING");
        if (reply_count(dataplane, "pid", &count) && count > 0)
            printf(" (pid %" PRIu64, count);
        else
            printf(" (no process");
        if (reply_count(dataplane, "image_version", &other) && other > 0)
            printf(", image version %" PRIu64, other);
        printf(")\n");
    }
    int valid = reply_bool(m, "config_valid");
    if (valid >= 0) {
        print_label("config:");
        if (valid) {
            printf("valid\n");
        } else {
            printf("INVALID: serving the last good config\n");
            if ((text = reply_string(m, "last_error")) != NULL) {
                printf("%*s", LABEL_WIDTH, "");
                print_lines(stdout, text, LABEL_WIDTH);
            }
        }
    } else if ((text = reply_string(m, "last_error")) != NULL) {
        print_label("last error:");
        print_lines(stdout, text, LABEL_WIDTH);
    }
    if (reply_count(m, "reloads", &count)) {
        print_label("reloads:");
        printf("%" PRIu64, count);
        if (reply_count(m, "reload_failures", &other))
            printf(" (%" PRIu64 " refused)", other);
        putchar('\n');
    }
}

void print_status(struct json_object *metrics, const char *node)
{
    print_label("node:");
    printf("%s\n", node);
    status_print_contents(metrics);
    status_print_traffic(metrics);
    status_print_health(metrics);
}

void print_reload(struct json_object *answer, const char *node)
{
    (void)node;
    uint64_t version = 0, records = 0;
    reply_count(answer, "version", &version);
    reply_count(answer, "records", &records);
    const char *status = reply_string(answer, "status");
    if (status != NULL && strcmp(status, "unchanged") == 0) {
        /* The node published nothing and pushed nothing: say why. */
        printf("unchanged: version %" PRIu64 ", %" PRIu64
               " record%s (the file holds nothing new)\n",
               version, records, records == 1 ? "" : "s");
        return;
    }
    printf("reloaded: version %" PRIu64 ", %" PRIu64 " record%s\n", version, records,
           records == 1 ? "" : "s");
    struct json_object *peers = reply_object(answer, "peers");
    if (peers == NULL)
        return;
    json_object_object_foreach(peers, peer, result)
    {
        const char *text = json_object_is_type(result, json_type_string)
                               ? json_object_get_string(result)
                               : reply_string(result, "status");
        if (text == NULL)
            text = json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN);
        printf("  peer %s: %s\n", peer, text);
    }
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
    COLUMN_BLOCKLISTS,
    COLUMN_LISTS_AGREE,
    COLUMN_COUNT,
};

static const char *const cluster_headings[COLUMN_COUNT] = {
    "NODE",    "REACHABLE", "STATUS", "VERSION",    "HASH",
    "TRUSTED", "LAST SYNC", "AGREES", "BLOCKLISTS", "LISTS AGREE",
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
    int value = reply_bool(member, key);
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

/* The first HASH_SHOWN hex digits of member's key, or "-". */
static void cell_hash(struct cluster_row *row, enum cluster_column column,
                      struct json_object *member, const char *key)
{
    const char *hash = reply_string(member, key);
    if (hash != NULL && hash[0] != '\0')
        snprintf(row->cells[column], sizeof(row->cells[column]), "%.*s", HASH_SHOWN, hash);
    else
        cell_set(row, column, "-");
}

/* What self and a peer share: status, version, hash and blocklist digest. */
static void cluster_row_fill(struct cluster_row *row, struct json_object *member)
{
    uint64_t n;
    char text[32];
    cell_set(row, COLUMN_STATUS, reply_string(member, "status"));
    if (reply_count(member, "version", &n)) {
        snprintf(text, sizeof(text), "%" PRIu64, n);
        cell_set(row, COLUMN_VERSION, text);
    } else {
        cell_set(row, COLUMN_VERSION, "-");
    }
    cell_hash(row, COLUMN_HASH, member, "hash");
    cell_hash(row, COLUMN_BLOCKLISTS, member, "blocklist_digest");
}

/* How the peers compare with this node. */
struct cluster_counts {
    size_t agree, unreachable, differ, unknown;
};

/* One peer counted by a boolean of its entry (1, 0, -1 when it did not
 * say). */
static void cluster_count(struct cluster_counts *counts, struct json_object *peer, int agrees)
{
    if (reply_bool(peer, "reachable") != 1)
        counts->unreachable++;
    else if (agrees == 1)
        counts->agree++;
    else if (agrees == 0)
        counts->differ++;
    else
        counts->unknown++;
}

/* Row 0 is this node: it answered, and trust, syncs and agreement are
 * about its peers, not about itself. */
static void cluster_self_row(struct cluster_row *row, struct json_object *self, const char *node)
{
    const char *address = reply_string(self, "address");
    snprintf(row->cells[COLUMN_NODE], sizeof(row->cells[COLUMN_NODE]), "%s (this node)",
             address != NULL ? address : node);
    cell_set(row, COLUMN_REACHABLE, "yes");
    cluster_row_fill(row, self);
    cell_set(row, COLUMN_TRUSTED, "-");
    cell_set(row, COLUMN_LAST_SYNC, "-");
    cell_set(row, COLUMN_AGREES, "-");
    cell_set(row, COLUMN_LISTS_AGREE, "-");
}

/* blocklists_agree: yes, NO, "unknown" for null (the peer sent no digest:
 * an older node, or no answer), "-" when this node did not say. */
static void cell_lists_agree(struct cluster_row *row, struct json_object *peer)
{
    struct json_object *value;
    if (peer == NULL || !json_object_object_get_ex(peer, "blocklists_agree", &value))
        cell_set(row, COLUMN_LISTS_AGREE, "-");
    else if (value == NULL)
        cell_set(row, COLUMN_LISTS_AGREE, "unknown");
    else
        cell_bool(row, COLUMN_LISTS_AGREE, peer, "blocklists_agree", "NO");
}

static void cluster_peer_row(struct cluster_row *row, const char *name, struct json_object *peer,
                             time_t now, struct cluster_counts *counts,
                             struct cluster_counts *lists)
{
    cell_set(row, COLUMN_NODE, name);
    cell_bool(row, COLUMN_REACHABLE, peer, "reachable", "NO");
    cluster_row_fill(row, peer);
    cell_bool(row, COLUMN_TRUSTED, peer, "trusted", "no");
    cell_last_sync(row, peer, now);
    cell_bool(row, COLUMN_AGREES, peer, "agrees", "NO");
    cell_lists_agree(row, peer);
    cluster_count(counts, peer, reply_bool(peer, "agrees"));
    cluster_count(lists, peer, reply_bool(peer, "blocklists_agree"));
}

/* The headings and n rows, each column as wide as its widest cell. */
static void cluster_table_print(const struct cluster_row *rows, size_t n)
{
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
}

/* "2 of 3 peers agree with this node (1 unreachable)", after prefix. */
static void cluster_summary_print(const char *prefix, size_t peers,
                                  const struct cluster_counts *counts)
{
    printf("%s%zu of %zu peer%s agree%s with this node", prefix, counts->agree, peers,
           peers == 1 ? "" : "s", peers == 1 ? "s" : "");
    const char *sep = " (";
    if (counts->unreachable > 0) {
        printf("%s%zu unreachable", sep, counts->unreachable);
        sep = ", ";
    }
    if (counts->differ > 0) {
        printf("%s%zu differ%s", sep, counts->differ, counts->differ == 1 ? "s" : "");
        sep = ", ";
    }
    if (counts->unknown > 0) {
        printf("%s%zu unknown", sep, counts->unknown);
        sep = ", ";
    }
    printf("%s\n", sep[0] == ',' ? ")" : "");
}

void print_cluster(struct json_object *answer, const char *node)
{
    struct json_object *self = reply_object(answer, "self");
    struct json_object *peers = reply_object(answer, "peers");
    size_t count = 1 + (peers != NULL ? (size_t)json_object_object_length(peers) : 0);
    struct cluster_row *rows = calloc(count, sizeof(*rows));
    if (rows == NULL) {
        fprintf(stderr, "nanoctl: out of memory\n");
        return;
    }
    cluster_self_row(&rows[0], self, node);
    time_t now = time(NULL);
    size_t n = 1;
    struct cluster_counts counts = {0}, lists = {0};
    if (peers != NULL) {
        json_object_object_foreach(peers, name, peer)
        {
            cluster_peer_row(&rows[n++], name, peer, now, &counts, &lists);
        }
    }
    cluster_table_print(rows, n);
    if (n > 1)
        cluster_summary_print("", n - 1, &counts);
    /* Blocklists are node-local (sync never carries the files): a line of
     * their own, from a node that reports them. */
    if (n > 1 && reply_string(self, "blocklist_digest") != NULL)
        cluster_summary_print("blocklists: ", n - 1, &lists);
    free(rows);
}

/* The API's answer with "schema_version" added as its first member. */
void print_json(struct json_object *answer)
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
