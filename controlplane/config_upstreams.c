/* Where names we do not hold are forwarded: server.upstream (address
 * strings, parsed once the whole server section is read, since
 * upstream_port may follow them) and server.forward_zones. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "config_loader.h"
#include "hostport.h"

#define UPSTREAM_FORMS "\"IP\", \"IP:port\" or \"[IPv6]:port\", with a port of 1..65535"

/* "IP", "IP:port", "[IPv6]", "[IPv6]:port" or a bare IPv6 address into u
 * (port 0 when the text has none); false for anything else. */
static bool upstream_parse(const char *text, size_t len, struct config_upstream *u)
{
    struct hostport hp;
    if (hostport_parse(text, len, HOSTPORT_PORT_OPTIONAL, &hp) < 0)
        return false;
    memset(u, 0, sizeof(*u));
    u->family = hp.family == AF_INET6 ? 6 : 4;
    u->port = hp.port;
    memcpy(u->addr, hp.addr, sizeof(u->addr));
    return true;
}

/* server.upstream, replacing the defaults; the strings kept as written. */
void config_upstreams_load(struct loader *ld, struct json_object *server)
{
    struct config_server *s = &ld->cfg->server;
    struct json_object *array;
    if (!json_object_object_get_ex(server, "upstream", &array))
        return;
    loader_push_key(ld, "upstream");
    if (json_object_get_type(array) != json_type_array) {
        loader_report_type(ld, array, "an array of address strings");
        loader_pop(ld);
        return;
    }
    size_t n = json_object_array_length(array);
    char **items = calloc(n ? n : 1, sizeof(*items));
    if (!items) {
        loader_out_of_memory(ld);
        loader_pop(ld);
        return;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(array, i);
        loader_push_index(ld, i);
        char q[QUOTE_CAP];
        struct config_upstream parsed;
        if (json_object_get_type(v) != json_type_string) {
            loader_report_type(ld, v, "a string");
        } else {
            const char *text = json_object_get_string(v);
            size_t len = (size_t)json_object_get_string_len(v);
            if (!upstream_parse(text, len, &parsed))
                loader_report(ld, CONFIG_ERROR, false,
                              "%s is not an upstream address: " UPSTREAM_FORMS,
                              quote_text(q, text, len));
            else if (loader_set_string(ld, &items[kept], text, len) == 0)
                kept++;
        }
        loader_pop(ld);
    }
    loader_strings_free(s->upstream, s->upstream_count);
    s->upstream = items;
    s->upstream_count = kept;
    loader_pop(ld);
}

void config_forward_zone_free(struct config_forward_zone *z)
{
    free(z->text);
    free(z->upstreams);
}

/* The servers of one forward zone, value an array of n > 0 of them. */
static void load_forward_servers(struct loader *ld, struct json_object *value, size_t n,
                                 struct config_forward_zone *z)
{
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(value, i);
        loader_push_index(ld, i);
        char q[QUOTE_CAP];
        if (json_object_get_type(v) != json_type_string) {
            loader_report_type(ld, v, "a string");
        } else {
            const char *text = json_object_get_string(v);
            size_t len = (size_t)json_object_get_string_len(v);
            if (!upstream_parse(text, len, &z->upstreams[z->upstream_count]))
                loader_report(ld, CONFIG_ERROR, false,
                              "%s is not a server address: " UPSTREAM_FORMS,
                              quote_text(q, text, len));
            else
                z->upstream_count++;
        }
        loader_pop(ld);
    }
}

/* One member of server.forward_zones: a name and its servers. Kept in
 * s->forward_zones only when free of errors. */
static void load_forward_zone(struct loader *ld, const char *key, struct json_object *value)
{
    struct config_server *s = &ld->cfg->server;
    struct config_forward_zone z;
    memset(&z, 0, sizeof(z));
    size_t errors = ld->diags->errors;
    loader_push_key(ld, key);
    loader_name_from_text(ld, key, z.name, &z.name_len, true);
    size_t n = json_object_get_type(value) == json_type_array ? json_object_array_length(value) : 0;
    if (json_object_get_type(value) != json_type_array)
        loader_report_type(ld, value, "a non-empty array of server addresses");
    else if (n == 0)
        loader_report(
            ld, CONFIG_ERROR, false,
            "a forward zone needs at least one server (leave the zone out to use upstream)");
    else if (!(z.upstreams = calloc(n, sizeof(*z.upstreams))))
        loader_out_of_memory(ld);
    else
        load_forward_servers(ld, value, n, &z);
    if (ld->diags->errors == errors && !(z.text = strdup(key)))
        loader_out_of_memory(ld);
    if (ld->diags->errors == errors)
        s->forward_zones[s->forward_zone_count++] = z;
    else
        config_forward_zone_free(&z);
    loader_pop(ld);
}

struct forward_zone_ref {
    uint8_t name[WIRE_NAME_MAX]; /* lowercase */
    uint8_t name_len;
    size_t index;
};

static int forward_zone_ref_compare(const void *a, const void *b)
{
    const struct forward_zone_ref *x = a, *y = b;
    if (x->name_len != y->name_len)
        return x->name_len < y->name_len ? -1 : 1;
    int c = memcmp(x->name, y->name, x->name_len);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Two keys that differ only in case name the same zone: each later one is
 * reported, naming the first. */
static void report_forward_zone_duplicates(struct loader *ld)
{
    struct config_server *s = &ld->cfg->server;
    struct forward_zone_ref *refs = calloc(s->forward_zone_count + 1, sizeof(*refs));
    if (!refs) {
        loader_out_of_memory(ld);
        return;
    }
    for (size_t i = 0; i < s->forward_zone_count; i++) {
        memcpy(refs[i].name, s->forward_zones[i].name, s->forward_zones[i].name_len);
        refs[i].name_len = s->forward_zones[i].name_len;
        wire_name_lower(refs[i].name, refs[i].name_len);
        refs[i].index = i;
    }
    qsort(refs, s->forward_zone_count, sizeof(*refs), forward_zone_ref_compare);
    for (size_t i = 1; i < s->forward_zone_count; i++) {
        if (refs[i].name_len != refs[i - 1].name_len ||
            memcmp(refs[i].name, refs[i - 1].name, refs[i].name_len) != 0)
            continue;
        size_t first = i - 1;
        while (first > 0 && refs[first - 1].name_len == refs[i].name_len &&
               memcmp(refs[first - 1].name, refs[i].name, refs[i].name_len) == 0)
            first--;
        char q[QUOTE_CAP], qe[QUOTE_CAP];
        const char *earlier = s->forward_zones[refs[first].index].text;
        const char *again = s->forward_zones[refs[i].index].text;
        loader_push_key(ld, again);
        loader_report(ld, CONFIG_ERROR, true,
                      "forward zone %s is already defined as %s (zone names are case-insensitive)",
                      quote_text(q, again, strlen(again)),
                      quote_text(qe, earlier, strlen(earlier)));
        loader_pop(ld);
    }
    free(refs);
}

/* server.forward_zones: {"corp.example": ["10.1.1.1", "10.1.1.2:5353"]}. */
void config_upstreams_load_forward_zones(struct loader *ld, struct json_object *server)
{
    struct config_server *s = &ld->cfg->server;
    struct json_object *obj;
    if (!json_object_object_get_ex(server, "forward_zones", &obj))
        return;
    loader_push_key(ld, "forward_zones");
    if (json_object_get_type(obj) != json_type_object) {
        loader_report_type(ld, obj, "an object: zone name -> array of server addresses");
        loader_pop(ld);
        return;
    }
    loader_check_object(ld, obj, NULL, 0);
    size_t n = (size_t)json_object_object_length(obj);
    s->forward_zones = calloc(n ? n : 1, sizeof(*s->forward_zones));
    if (!s->forward_zones) {
        loader_out_of_memory(ld);
        loader_pop(ld);
        return;
    }
    json_object_object_foreach(obj, key, value)
    {
        load_forward_zone(ld, key, value);
    }
    report_forward_zone_duplicates(ld);
    loader_pop(ld);
}

void config_upstreams_finish(struct loader *ld)
{
    struct config_server *s = &ld->cfg->server;
    s->upstreams = calloc(s->upstream_count + 1, sizeof(*s->upstreams));
    if (!s->upstreams) {
        loader_out_of_memory(ld);
        return;
    }
    for (size_t i = 0; i < s->upstream_count; i++) {
        /* every string here passed upstream_parse when it was read */
        upstream_parse(s->upstream[i], strlen(s->upstream[i]), &s->upstreams[i]);
        if (s->upstreams[i].port == 0)
            s->upstreams[i].port = s->upstream_port;
    }
    for (size_t z = 0; z < s->forward_zone_count; z++)
        for (size_t i = 0; i < s->forward_zones[z].upstream_count; i++)
            if (s->forward_zones[z].upstreams[i].port == 0)
                s->forward_zones[z].upstreams[i].port = s->upstream_port;
}
