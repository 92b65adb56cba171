/* The summary `nanodns check` prints for a valid config, as the original
 * prints it (its upstream list in Python's repr), and the served serials
 * and RFC 4592 wildcard owners besides. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_loader.h"

/* A string the way Python's repr() writes it, as the original prints its
 * upstream list with it. */
static void print_python_repr(FILE *out, const char *s)
{
    char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    fputc(q, out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == (unsigned char)q)
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\r')
            fputs("\\r", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20 || *p == 0x7F)
            fprintf(out, "\\x%02x", *p);
        else
            fputc(*p, out);
    }
    fputc(q, out);
}

static bool owner_is_wildcard(const struct config_record *r)
{
    return r->owner_len > 2 && r->owner[0] == 1 && r->owner[1] == '*';
}

/* By owner, then by place in the config. */
static int record_owner_compare(const void *a, const void *b)
{
    const struct config_record *x = *(const struct config_record *const *)a;
    const struct config_record *y = *(const struct config_record *const *)b;
    int c = config_name_compare(x->owner, x->owner_len, y->owner, y->owner_len);
    return c != 0 ? c : (x > y) - (x < y);
}

/* One line per RFC 4592 wildcard owner ("*.x"), each once, in the order
 * of the config: a "*" is not a literal name, and the summary says so. */
static void print_wildcards(const struct config *cfg, FILE *out)
{
    size_t count = 0;
    for (size_t i = 0; i < cfg->record_count; i++)
        count += owner_is_wildcard(&cfg->records[i]);
    if (count == 0)
        return;
    const struct config_record **owners = malloc(count * sizeof(*owners));
    bool *first = calloc(cfg->record_count, sizeof(*first));
    if (!owners || !first) {
        fprintf(out, "  Wildcard: %zu records\n", count);
        free(owners);
        free(first);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < cfg->record_count; i++)
        if (owner_is_wildcard(&cfg->records[i]))
            owners[n++] = &cfg->records[i];
    /* sorted by name, then place: the first of each name is its first use */
    qsort(owners, n, sizeof(*owners), record_owner_compare);
    for (size_t i = 0; i < n; i++)
        first[owners[i] - cfg->records] =
            i == 0 || config_name_compare(owners[i - 1]->owner, owners[i - 1]->owner_len,
                                          owners[i]->owner, owners[i]->owner_len) != 0;
    for (size_t i = 0; i < cfg->record_count; i++) {
        char text[WIRE_NAME_MAX * 4 + 1];
        if (first[i] && wire_name_to_text(cfg->records[i].owner, cfg->records[i].owner_len, text,
                                          sizeof(text)) >= 0)
            fprintf(out, "  Wildcard: %s\n", text);
    }
    free(owners);
    free(first);
}

void config_print_summary(const struct config *cfg, FILE *out)
{
    fputs("OK Config is valid.\n", out);
    fprintf(out, "  Records : %zu\n", cfg->record_count);
    fprintf(out, "  Zones   : %zu\n", cfg->zone_count);
    fprintf(out, "  Rewrites: %zu\n", cfg->rewrite_count);
    /* Only with lists or an allowlist: the original's summary stays as it was. */
    for (size_t i = 0; i < cfg->blocklist_count; i++)
        fprintf(out, "  Blocklist: %s: %zu entries, %zu lines skipped\n", cfg->blocklists[i].path,
                cfg->blocklists[i].entries, cfg->blocklists[i].skipped);
    if (cfg->allowlist_count > 0)
        fprintf(out, "  Allowlist: %zu\n", cfg->allowlist_count);
    fputs("  Upstream: [", out);
    for (size_t i = 0; i < cfg->server.upstream_count; i++) {
        if (i > 0)
            fputs(", ", out);
        print_python_repr(out, cfg->server.upstream[i]);
    }
    fputs("]\n", out);
    fprintf(out, "  Listen  : %s:%u\n", cfg->server.host ? cfg->server.host : "",
            (unsigned)cfg->server.port);
    /* Only when set: without it the summary stays the original's. */
    if (cfg->server.workers != 0)
        fprintf(out, "  Workers : %" PRIu32 "\n", cfg->server.workers);
    /* Likewise only when it is not the default. */
    if (cfg->server.serve_stale == 0)
        fprintf(out, "  Stale   : off (default %u s)\n", CONFIG_SERVE_STALE_DEFAULT);
    else if (cfg->server.serve_stale != CONFIG_SERVE_STALE_DEFAULT)
        fprintf(out, "  Stale   : %" PRIu32 " s (default %u s)\n", cfg->server.serve_stale,
                CONFIG_SERVE_STALE_DEFAULT);
    /* The locally served names (server.local_zones, domain_needed,
     * search_domain, auto_ptr): each only when it is not the default,
     * which the line names. */
    const struct config_server *server = &cfg->server;
    if (!server->local_zones)
        fputs("  Local zones  : off (default on: RFC 6303 zones, localhost, invalid, test, "
              "home.arpa)\n",
              out);
    if (!server->domain_needed)
        fputs("  Domain needed: off (default on: names of one label are not forwarded)\n", out);
    char domain[WIRE_NAME_MAX * 4 + 1];
    if (server->search_domain_len > 0 &&
        wire_name_to_text(server->search_domain, server->search_domain_len, domain,
                          sizeof(domain)) >= 0)
        fprintf(out, "  Search domain: %s (default none)\n", domain);
    if (!server->auto_ptr)
        fputs("  Auto PTR     : off (default on: PTRs for our A and AAAA records)\n", out);
    if (server->rebind_protection)
        fputs("  Rebind guard : on (default off: upstream answers with private addresses are "
              "relayed)\n",
              out);
    /* The serial served is the configured one plus config_version, modulo
     * 2^32 (RFC 1982 serial arithmetic wraps there): every published
     * config_version bump is a new serial to caches and secondaries. */
    for (size_t i = 0; i < cfg->zone_count; i++) {
        uint32_t serial = (uint32_t)(cfg->zones[i].soa.serial + cfg->server.config_version);
        fprintf(out, "  Serial  : %s %" PRIu32 "\n", cfg->zones[i].name, serial);
    }
    print_wildcards(cfg, out);
}
