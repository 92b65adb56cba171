/* The "server" section: a table of its members (the integers and flags
 * read by the table alone, the others by a loader of their own), the
 * original's defaults, and the warnings about the server as a whole. */
#include <arpa/inet.h>
#include <assert.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_loader.h"
#include "stats.h"
#include "hostport.h"

/* A name useradd would take: the POSIX portable filename characters, not
 * starting with '-' (it would read as an option), at most 32 (the utmp
 * limit), with Samba's trailing '$' for machine accounts. */
static bool is_user_name(const char *s, size_t n)
{
    if (n == 0 || n > 32 || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.' || (c == '$' && i == n - 1 && n > 1);
        if (!ok)
            return false;
    }
    /* "." and ".." are not names; all digits would read as a uid. */
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    size_t digits = 0;
    while (digits < n && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    return digits < n;
}

/* An address literal (server.host, server.mgmt_host). */
static void load_ip_string(struct loader *ld, struct json_object *server, const char *key,
                           char **slot)
{
    const char *s;
    size_t n;
    int rc = loader_read_string_pushed(ld, server, key, true, &s, &n);
    if (rc == 1) {
        char q[QUOTE_CAP];
        if (!hostport_is_address(s, n))
            loader_report(ld, CONFIG_ERROR, false, "%s is not an IP address", quote_text(q, s, n));
        else
            loader_set_string(ld, slot, s, n);
    }
    if (rc != 0)
        loader_pop(ld);
}

/* A list of CIDR strings (allow_recursion, allow_query), replacing *list. */
static int load_cidrs(struct loader *ld, struct json_object *server, const char *key,
                      struct cidr **list, size_t *count)
{
    struct json_object *array;
    if (!json_object_object_get_ex(server, key, &array))
        return 0;
    loader_push_key(ld, key);
    if (json_object_get_type(array) != json_type_array) {
        loader_report_type(ld, array,
                           "an array of address prefixes (\"10.0.0.0/8\", \"fc00::/7\")");
        loader_pop(ld);
        return -1;
    }
    size_t n = json_object_array_length(array);
    struct cidr *items = calloc(n ? n : 1, sizeof(*items));
    if (!items) {
        loader_out_of_memory(ld);
        loader_pop(ld);
        return -1;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(array, i);
        loader_push_index(ld, i);
        char why[256], q[QUOTE_CAP]; /* quote_text writes up to QUOTE_CAP octets */
        if (json_object_get_type(v) != json_type_string)
            loader_report_type(ld, v, "a string");
        else if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
            loader_report(ld, CONFIG_ERROR, false, "a NUL character (\\u0000) is not allowed here");
        else if (json_object_get_string_len(v) > QUOTE_MAX)
            loader_report(
                ld, CONFIG_ERROR, false, "%s is not an address prefix",
                quote_text(q, json_object_get_string(v), (size_t)json_object_get_string_len(v)));
        else if (cidr_parse(json_object_get_string(v), &items[kept], why, sizeof(why)) < 0)
            loader_report(ld, CONFIG_ERROR, false, "%s", why);
        else
            kept++;
        loader_pop(ld);
    }
    free(*list);
    *list = items;
    *count = kept;
    loader_pop(ld);
    return 1;
}

int config_server_defaults(struct loader *ld, struct config_server *s)
{
    static const char *const upstream[] = {"8.8.8.8", "1.1.1.1"};
    s->port = 53;
    s->upstream_timeout = 3;
    s->upstream_port = 53;
    s->cache_enabled = true;
    s->cache_ttl = 300;
    s->cache_size = 1000;
    s->log_queries = true;
    s->hot_reload = true;
    s->mgmt_port = 0;
    s->config_version = 1;
    s->edns_payload = 1232;
    s->tcp_idle_timeout = 10;
    s->tcp_max_connections = 256;
    s->max_inflight = 1024;
    s->log_format = CONFIG_LOG_TEXT;
    s->rrl_ratelimit = 0;
    s->rrl_slip = 2;
    s->workers = 0; /* absent: one a CPU (workers.h) */
    s->serve_stale = CONFIG_SERVE_STALE_DEFAULT;
    s->local_zones = true;
    s->domain_needed = true;
    s->search_domain_len = 0;
    s->auto_ptr = true;
    s->rebind_protection = false; /* an internal name may be meant to be private */
    s->allow_recursion = calloc(CIDR_DEFAULT_RECURSION_COUNT, sizeof(*s->allow_recursion));
    if (!s->allow_recursion) {
        loader_out_of_memory(ld);
        return -1;
    }
    for (size_t i = 0; i < CIDR_DEFAULT_RECURSION_COUNT; i++) {
        char why[256];
        if (cidr_parse(CIDR_DEFAULT_RECURSION[i], &s->allow_recursion[i], why, sizeof(why)) < 0)
            return -1; /* cannot happen: the defaults are tested */
        s->allow_recursion_count++;
    }
    s->upstream = calloc(COUNT(upstream), sizeof(char *));
    if (!s->upstream) {
        loader_out_of_memory(ld);
        return -1;
    }
    for (size_t i = 0; i < COUNT(upstream); i++) {
        if (loader_set_string(ld, &s->upstream[i], upstream[i], strlen(upstream[i])) < 0)
            return -1;
        s->upstream_count++;
    }
    /* mgmt_host stays the original's "0.0.0.0": its documented clusters
     * and health checks (HAProxy, Kubernetes probes) reach the API from
     * other hosts without naming it. `init` writes 127.0.0.1, and
     * check_mgmt_exposure warns where the default exposes a keyless node. */
    if (loader_set_string(ld, &s->host, "0.0.0.0", 7) < 0 ||
        loader_set_string(ld, &s->mgmt_host, "0.0.0.0", 7) < 0 ||
        loader_set_string(ld, &s->log_level, "INFO", 4) < 0)
        return -1;
    return 0;
}

/* host is an address load_ip_string accepted. */
static bool is_loopback_address(const char *host)
{
    static const uint8_t loopback6[16] = {[15] = 1};
    static const uint8_t mapped_prefix[12] = {[10] = 0xff, [11] = 0xff};
    uint8_t a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127; /* 127.0.0.0/8, RFC 1122 §3.2.1.3 */
    if (inet_pton(AF_INET6, host, a) != 1)
        return false;
    return memcmp(a, loopback6, 16) == 0 || (memcmp(a, mapped_prefix, 12) == 0 && a[12] == 127);
}

/* With neither a sync_key nor keyed peers, nothing the API receives from
 * another host can be authenticated (api.c: reload and /config/raw are
 * loopback-only then, and /sync accepts only pushes signed by a listed
 * key): all it offers other hosts is its health and metrics. Say so. */
static void check_mgmt_exposure(struct loader *ld, struct json_object *server)
{
    const struct config_server *s = &ld->cfg->server;
    bool keyed = s->sync_key != NULL;
    for (size_t i = 0; i < s->peer_count && !keyed; i++)
        keyed = s->peer_has_key[i];
    if (s->mgmt_port == 0 || keyed || is_loopback_address(s->mgmt_host))
        return;
    struct json_object *host;
    bool written = json_object_object_get_ex(server, "mgmt_host", &host);
    if (written && strcmp(json_object_get_string(host), s->mgmt_host) != 0)
        return; /* a bad mgmt_host, reported already */
    loader_push_key(ld, written ? "mgmt_host" : "mgmt_port");
    loader_report(
        ld, CONFIG_WARNING, false,
        "the API listens beyond loopback%s on a node without keys: any host reaching port "
        "%u reads its health and metrics, and none can read the config, reload or "
        "sync; set mgmt_host to \"127.0.0.1\", or for a cluster give the nodes keys "
        "(sync_key, peers with public_key)",
        written ? "" : " (0.0.0.0: mgmt_host is absent)", (unsigned)s->mgmt_port);
    loader_pop(ld);
}

/* Settings that only matter to forwarding, while nothing can be forwarded:
 * most likely an upstream list emptied by mistake. */
static void check_nothing_forwarded(struct loader *ld, struct json_object *server)
{
    static const char *const forwarding_keys[] = {
        "upstream_timeout", "upstream_port", "max_inflight", "allow_recursion",
        "cache_enabled",    "cache_ttl",     "cache_size",   "serve_stale"};
    struct json_object *v;
    if (!json_object_object_get_ex(server, "upstream", &v) ||
        json_object_get_type(v) != json_type_array || json_object_array_length(v) != 0)
        return;
    if (json_object_object_get_ex(server, "forward_zones", &v) &&
        (json_object_get_type(v) != json_type_object || json_object_object_length(v) > 0))
        return;
    char keys[160];
    size_t used = 0, count = 0;
    keys[0] = '\0';
    for (size_t i = 0; i < COUNT(forwarding_keys); i++) {
        const char *key = forwarding_keys[i];
        if (!json_object_object_get_ex(server, key, &v))
            continue;
        /* Turning them off says the same as the empty list. */
        if ((strcmp(key, "allow_recursion") == 0 && json_object_get_type(v) == json_type_array &&
             json_object_array_length(v) == 0) ||
            (strcmp(key, "cache_enabled") == 0 && json_object_get_type(v) == json_type_boolean &&
             !json_object_get_boolean(v)))
            continue;
        if (count++ > 0)
            quote_append(keys, sizeof(keys), &used, ", ", 2, false);
        quote_append(keys, sizeof(keys), &used, key, strlen(key), false);
    }
    if (count == 0)
        return;
    loader_push_key(ld, "upstream");
    loader_report(ld, CONFIG_WARNING, false,
                  "empty, and there are no forward_zones: nothing is forwarded (names outside our "
                  "zones get REFUSED), so %s %s no effect; add servers here, or remove %s",
                  keys, count > 1 ? "have" : "has", count > 1 ? "those settings" : "that setting");
    loader_pop(ld);
}

static void load_host(struct loader *ld, struct json_object *server)
{
    load_ip_string(ld, server, "host", &ld->cfg->server.host);
}

static void load_mgmt_host(struct loader *ld, struct json_object *server)
{
    load_ip_string(ld, server, "mgmt_host", &ld->cfg->server.mgmt_host);
}

static void load_upstream_timeout(struct loader *ld, struct json_object *server)
{
    struct json_object *v;
    if (!json_object_object_get_ex(server, "upstream_timeout", &v))
        return;
    loader_push_key(ld, "upstream_timeout");
    enum json_type t = json_object_get_type(v);
    if (t != json_type_int && t != json_type_double) {
        loader_report_type(ld, v, "a number of seconds");
    } else {
        double d = json_object_get_double(v);
        /* An hour is far beyond any useful wait for one upstream. */
        if (!isfinite(d) || d <= 0 || d > 3600)
            loader_report(ld, CONFIG_ERROR, false,
                          "upstream timeout %g is out of range (more than 0, at most 3600 seconds)",
                          d);
        else
            ld->cfg->server.upstream_timeout = d;
    }
    loader_pop(ld);
}

static void load_log_level(struct loader *ld, struct json_object *server)
{
    static const char *const levels[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
    const char *level;
    size_t level_len;
    int rc = loader_read_string_pushed(ld, server, "log_level", true, &level, &level_len);
    if (rc == 1) {
        const char *found = NULL;
        for (size_t i = 0; i < COUNT(levels); i++)
            if (strcasecmp(level, levels[i]) == 0)
                found = levels[i];
        char q[QUOTE_CAP];
        if (found)
            loader_set_string(ld, &ld->cfg->server.log_level, found, strlen(found));
        else
            loader_report(ld, CONFIG_ERROR, false,
                          "log level %s is not one of DEBUG, INFO, WARNING, ERROR",
                          quote_text(q, level, level_len));
    }
    if (rc != 0)
        loader_pop(ld);
}

static void load_user(struct loader *ld, struct json_object *server)
{
    const char *user;
    size_t user_len;
    int rc = loader_read_string_pushed(ld, server, "user", true, &user, &user_len);
    if (rc == 1) {
        char q[QUOTE_CAP];
        if (!is_user_name(user, user_len))
            loader_report(ld, CONFIG_ERROR, false,
                          "%s is not a user name (letters, digits, '_', '-' and '.', not starting "
                          "with '-', at most 32)",
                          quote_text(q, user, user_len));
        else
            loader_set_string(ld, &ld->cfg->server.user, user, user_len);
    }
    if (rc != 0)
        loader_pop(ld);
}

static void load_allow_recursion(struct loader *ld, struct json_object *server)
{
    struct config_server *s = &ld->cfg->server;
    load_cidrs(ld, server, "allow_recursion", &s->allow_recursion, &s->allow_recursion_count);
}

static void load_allow_query(struct loader *ld, struct json_object *server)
{
    struct config_server *s = &ld->cfg->server;
    struct json_object *v;
    if (load_cidrs(ld, server, "allow_query", &s->allow_query, &s->allow_query_count) == 1 &&
        json_object_object_get_ex(server, "allow_query", &v) && json_object_array_length(v) == 0) {
        loader_push_key(ld, "allow_query");
        loader_report(ld, CONFIG_ERROR, false,
                      "an empty allow_query would refuse every client; leave the key out to let "
                      "everyone query");
        loader_pop(ld);
    }
}

static void load_log_format(struct loader *ld, struct json_object *server)
{
    const char *format;
    size_t format_len;
    int rc = loader_read_string_pushed(ld, server, "log_format", true, &format, &format_len);
    if (rc == 1) {
        char q[QUOTE_CAP];
        if (strcasecmp(format, "text") == 0)
            ld->cfg->server.log_format = CONFIG_LOG_TEXT;
        else if (strcasecmp(format, "json") == 0)
            ld->cfg->server.log_format = CONFIG_LOG_JSON;
        else
            loader_report(ld, CONFIG_ERROR, false,
                          "log format %s is not \"text\" or \"json\" (JSON Lines)",
                          quote_text(q, format, format_len));
    }
    if (rc != 0)
        loader_pop(ld);
}

static void load_block_response(struct loader *ld, struct json_object *server)
{
    const char *text;
    size_t text_len;
    int rc = loader_read_string_pushed(ld, server, "block_response", true, &text, &text_len);
    if (rc == 1) {
        char q[QUOTE_CAP];
        if (strcasecmp(text, "nxdomain") == 0)
            ld->cfg->server.block_response = CONFIG_BLOCK_NXDOMAIN;
        else if (strcasecmp(text, "null") == 0)
            ld->cfg->server.block_response = CONFIG_BLOCK_NULL;
        else if (strcasecmp(text, "refused") == 0)
            ld->cfg->server.block_response = CONFIG_BLOCK_REFUSED;
        else
            loader_report(ld, CONFIG_ERROR, false,
                          "block response %s is not \"nxdomain\", \"null\" or \"refused\"",
                          quote_text(q, text, text_len));
    }
    if (rc != 0)
        loader_pop(ld);
}

/* server.search_domain: a name of at least one label, in wire form. */
static void load_search_domain(struct loader *ld, struct json_object *server)
{
    struct config_server *s = &ld->cfg->server;
    const char *text;
    size_t text_len;
    int rc = loader_read_string_pushed(ld, server, "search_domain", true, &text, &text_len);
    if (rc == 1) {
        uint8_t name[WIRE_NAME_MAX], len = 0;
        if (loader_name_from_text(ld, text, name, &len, false) == 0) {
            if (len <= 1) {
                loader_report(ld, CONFIG_ERROR, false,
                              "the search domain needs at least one label, as \"internal.lan\"; "
                              "leave the key out for none");
            } else {
                memcpy(s->search_domain, name, len);
                s->search_domain_len = len;
            }
        }
    }
    if (rc != 0)
        loader_pop(ld);
}

/* ---- the table ---- */

/* How one member of "server" is read: an integer in [min, max] (what names
 * it in messages) or a boolean (what is NULL), stored at offset in struct
 * config_server as a field of size octets; or, with load, by a function of
 * its own. */
struct server_setting {
    const char *key;
    const char *what;
    uint64_t min, max;
    size_t offset, size;
    void (*load)(struct loader *ld, struct json_object *server);
};

/* clang-format off */
#define FIELD(field) \
    offsetof(struct config_server, field), sizeof(((struct config_server *)0)->field)
#define NUMBER(key, what, min, max, field) {key, what, min, max, FIELD(field), NULL}
#define FLAG(key, field) {key, NULL, 0, 1, FIELD(field), NULL}
#define OWN(key, load) {key, NULL, 0, 0, 0, 0, load}
/* clang-format on */

/* Row i is CONFIG_SERVER_KEYS[i]: the members are read in that order. */
static const struct server_setting SERVER_SETTINGS[] = {
    OWN("host", load_host),
    NUMBER("port", "port", 1, 65535, port),
    OWN("upstream", config_upstreams_load),
    OWN("upstream_timeout", load_upstream_timeout),
    NUMBER("upstream_port", "upstream port", 1, 65535, upstream_port),
    FLAG("cache_enabled", cache_enabled),
    NUMBER("cache_ttl", "cache TTL", 0, TTL_MAX, cache_ttl),
    NUMBER("cache_size", "cache size", 0, UINT32_MAX, cache_size),
    OWN("log_level", load_log_level),
    FLAG("log_queries", log_queries),
    FLAG("hot_reload", hot_reload),
    OWN("mgmt_host", load_mgmt_host),
    NUMBER("mgmt_port", "management port", 0, 65535, mgmt_port),
    OWN("peers", config_peers_load),
    OWN("sync_key", config_peers_load_sync_key),
    /* json-c saturates integers from 2^64 up, so a bound below that is
     * the only way to see them; 2^63 - 1 versions are plenty. */
    NUMBER("config_version", "config version", 0, INT64_MAX, config_version),
    NUMBER("edns_payload", "EDNS payload size", 512, 4096, edns_payload),
    NUMBER("tcp_idle_timeout", "TCP idle timeout", 1, 3600, tcp_idle_timeout),
    NUMBER("tcp_max_connections", "TCP connection limit", 1, 65535, tcp_max_connections),
    OWN("user", load_user),
    OWN("forward_zones", config_upstreams_load_forward_zones),
    NUMBER("max_inflight", "in-flight limit", 1, 1000000, max_inflight),
    OWN("allow_recursion", load_allow_recursion),
    OWN("allow_query", load_allow_query),
    OWN("log_format", load_log_format),
    NUMBER("rrl_ratelimit", "response rate limit", 0, 1000000, rrl_ratelimit),
    NUMBER("rrl_slip", "rate limit slip", 0, 100, rrl_slip),
    /* The stats file has a counter slot per worker, STATS_WORKERS_MAX of them. */
    NUMBER("workers", "worker count", 1, STATS_WORKERS_MAX, workers),
    OWN("block_response", load_block_response),
    /* RFC 8767 §5 suggests one to three days; a week is plenty. */
    NUMBER("serve_stale", "serve-stale window", 0, CONFIG_SERVE_STALE_MAX, serve_stale),
    FLAG("local_zones", local_zones),
    FLAG("domain_needed", domain_needed),
    OWN("search_domain", load_search_domain),
    FLAG("auto_ptr", auto_ptr),
    FLAG("rebind_protection", rebind_protection),
};

_Static_assert(COUNT(SERVER_SETTINGS) == COUNT(CONFIG_SERVER_KEYS),
               "one row of SERVER_SETTINGS per server key");

static void setting_load(struct loader *ld, struct json_object *server,
                         const struct server_setting *row)
{
    if (row->load) {
        row->load(ld, server);
        return;
    }
    uint8_t *field = (uint8_t *)&ld->cfg->server + row->offset;
    if (row->what == NULL) {
        bool flag;
        if (loader_read_bool(ld, server, row->key, &flag) == 1)
            memcpy(field, &flag, sizeof(flag));
        return;
    }
    uint64_t value;
    if (loader_read_uint(ld, server, row->key, row->what, row->min, row->max, &value) != 1)
        return;
    if (row->size == sizeof(uint16_t)) {
        uint16_t v = (uint16_t)value;
        memcpy(field, &v, sizeof(v));
    } else if (row->size == sizeof(uint32_t)) {
        uint32_t v = (uint32_t)value;
        memcpy(field, &v, sizeof(v));
    } else {
        memcpy(field, &value, sizeof(value));
    }
}

static const struct server_setting *setting_find(const char *key)
{
    for (size_t i = 0; i < COUNT(SERVER_SETTINGS); i++)
        if (strcmp(SERVER_SETTINGS[i].key, key) == 0)
            return &SERVER_SETTINGS[i];
    return NULL;
}

static void check_version_bound(struct loader *ld)
{
    uint64_t version = ld->cfg->server.config_version;
    if (version <= CONFIG_VERSION_MAX)
        return;
    loader_push_key(ld, "config_version");
    loader_report(ld, CONFIG_ERROR, false,
                  "config version %" PRIu64 " is above 2^53 - 1 (%" PRIu64
                  "), which leaves no room for later versions; a typo?",
                  version, CONFIG_VERSION_MAX);
    loader_pop(ld);
}

void config_server_load(struct loader *ld, struct json_object *server)
{
    if (json_object_get_type(server) != json_type_object) {
        loader_report_type(ld, server, "an object");
        return;
    }
    loader_check_object(ld, server, CONFIG_SERVER_KEYS, COUNT(CONFIG_SERVER_KEYS));
    for (size_t i = 0; i < COUNT(SERVER_SETTINGS); i++) {
        assert(strcmp(SERVER_SETTINGS[i].key, CONFIG_SERVER_KEYS[i]) == 0);
        setting_load(ld, server, &SERVER_SETTINGS[i]);
    }
    check_version_bound(ld);
    check_mgmt_exposure(ld, server);
    check_nothing_forwarded(ld, server);
}

/* The node's API, and where nanoctl finds it (config_load_management). */
void config_server_load_mgmt(struct loader *ld, struct json_object *server)
{
    setting_load(ld, server, setting_find("mgmt_host"));
    setting_load(ld, server, setting_find("mgmt_port"));
}

void config_server_free(struct config_server *s)
{
    free(s->host);
    free(s->log_level);
    free(s->mgmt_host);
    free(s->user);
    loader_strings_free(s->upstream, s->upstream_count);
    loader_strings_free(s->peers, s->peer_count);
    free(s->peer_has_key);
    free(s->peer_keys);
    free(s->sync_key);
    free(s->upstreams);
    for (size_t i = 0; i < s->forward_zone_count; i++)
        config_forward_zone_free(&s->forward_zones[i]);
    free(s->forward_zones);
    free(s->allow_recursion);
    free(s->allow_query);
}
