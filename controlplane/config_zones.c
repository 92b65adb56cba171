/* The "zones" section: each zone's apex (its key), SOA (the original's
 * defaults where "soa" or a field of it is absent) and NS names. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "config_loader.h"

/* label + "." + apex in wire form, for the default mname and rname. */
static int name_prepend(const char *label, const uint8_t *apex, size_t apex_len, uint8_t *out,
                        uint8_t *out_len)
{
    size_t n = strlen(label);
    if (1 + n + apex_len > WIRE_NAME_MAX)
        return -1;
    out[0] = (uint8_t)n;
    memcpy(out + 1, label, n);
    memcpy(out + 1 + n, apex, apex_len);
    *out_len = (uint8_t)(1 + n + apex_len);
    return 0;
}

/* A mailbox name (RFC 1035 §3.3.13) written as an e-mail address: say how
 * to write it, the local part's dots escaped. */
static void report_rname_email(struct loader *ld, const char *s, size_t n)
{
    char fixed[QUOTE_CAP];
    size_t used = 0;
    const char *at = memchr(s, '@', n);
    for (const char *p = s; p < at && used + 3 < sizeof(fixed); p++) {
        if (*p == '.')
            fixed[used++] = '\\';
        fixed[used++] = *p;
    }
    fixed[used] = '\0';
    quote_append(fixed, sizeof(fixed), &used, ".", 1, false);
    quote_append(fixed, sizeof(fixed), &used, at + 1, n - (size_t)(at - s) - 1, false);
    char q[QUOTE_CAP], qf[QUOTE_CAP];
    loader_report(ld, CONFIG_ERROR, false,
                  "%s is an e-mail address; rname is a name with the '@' written as a dot: %s "
                  "(RFC 1035 §3.3.13)",
                  quote_text(q, s, n), quote_text(qf, fixed, used));
}

static void load_soa(struct loader *ld, struct json_object *soa_obj, struct config_soa *soa)
{
    loader_push_key(ld, "soa");
    if (json_object_get_type(soa_obj) != json_type_object) {
        loader_report_type(ld, soa_obj, "an object");
        loader_pop(ld);
        return;
    }
    loader_check_object(ld, soa_obj, CONFIG_SOA_KEYS, COUNT(CONFIG_SOA_KEYS));
    const char *s;
    size_t n;
    int rc = loader_read_string_pushed(ld, soa_obj, "mname", true, &s, &n);
    if (rc == 1)
        loader_name_from_text(ld, s, soa->mname, &soa->mname_len, false);
    if (rc != 0)
        loader_pop(ld);
    rc = loader_read_string_pushed(ld, soa_obj, "rname", true, &s, &n);
    if (rc == 1) {
        if (memchr(s, '@', n))
            report_rname_email(ld, s, n);
        else
            loader_name_from_text(ld, s, soa->rname, &soa->rname_len, false);
    }
    if (rc != 0)
        loader_pop(ld);
    loader_read_u32(ld, soa_obj, "serial", "serial", 0, UINT32_MAX, &soa->serial);
    loader_read_u32(ld, soa_obj, "refresh", "refresh", 0, UINT32_MAX, &soa->refresh);
    loader_read_u32(ld, soa_obj, "retry", "retry", 0, UINT32_MAX, &soa->retry);
    loader_read_u32(ld, soa_obj, "expire", "expire", 0, UINT32_MAX, &soa->expire);
    loader_read_u32(ld, soa_obj, "minimum", "minimum", 0, UINT32_MAX, &soa->minimum);
    loader_pop(ld);
}

static void load_zone_ns(struct loader *ld, struct json_object *ns, struct config_zone *z)
{
    loader_push_key(ld, "ns");
    if (json_object_get_type(ns) != json_type_array) {
        loader_report_type(ld, ns, "an array of names");
        loader_pop(ld);
        return;
    }
    size_t n = json_object_array_length(ns);
    z->ns = calloc(n ? n : 1, sizeof(*z->ns));
    z->ns_len = calloc(n ? n : 1, sizeof(*z->ns_len));
    if (!z->ns || !z->ns_len) {
        loader_out_of_memory(ld);
        loader_pop(ld);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(ns, i);
        loader_push_index(ld, i);
        if (json_object_get_type(v) != json_type_string) {
            loader_report_type(ld, v, "a string");
        } else if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
            loader_report(ld, CONFIG_ERROR, false, "a NUL character (\\u0000) is not allowed here");
        } else if (loader_name_from_text(ld, json_object_get_string(v), z->ns[z->ns_count],
                                         &z->ns_len[z->ns_count], false) == 0) {
            z->ns_count++;
        }
        loader_pop(ld);
    }
    loader_pop(ld);
}

void config_zone_free(struct config_zone *z)
{
    free(z->name);
    free(z->ns);
    free(z->ns_len);
}

static void load_zone(struct loader *ld, const char *key, struct json_object *value)
{
    struct config *cfg = ld->cfg;
    size_t errors = ld->diags->errors;
    struct config_zone z;
    memset(&z, 0, sizeof(z));

    loader_push_key(ld, key);
    bool have_apex = loader_name_from_text(ld, key, z.apex, &z.apex_len, true) == 0;
    if (json_object_get_type(value) != json_type_object)
        loader_report_type(ld, value, "an object (with \"soa\" and \"ns\", both optional)");
    else
        loader_check_object(ld, value, CONFIG_ZONE_KEYS, COUNT(CONFIG_ZONE_KEYS));

    /* The original's defaults, used where "soa" or one of its fields is absent. */
    z.soa.serial = 2024010101;
    z.soa.refresh = 3600;
    z.soa.retry = 900;
    z.soa.expire = 604800;
    z.soa.minimum = 300;

    struct json_object *v;
    if (json_object_object_get_ex(value, "soa", &v))
        load_soa(ld, v, &z.soa);
    if (json_object_object_get_ex(value, "ns", &v))
        load_zone_ns(ld, v, &z);

    if (ld->diags->errors == errors) {
        if (z.soa.mname_len == 0 &&
            name_prepend("ns1", z.apex, z.apex_len, z.soa.mname, &z.soa.mname_len) < 0)
            loader_report(ld, CONFIG_ERROR, true,
                          "the default SOA mname \"ns1.<zone>\" would be too long; set soa.mname");
        if (z.soa.rname_len == 0 &&
            name_prepend("admin", z.apex, z.apex_len, z.soa.rname, &z.soa.rname_len) < 0)
            loader_report(
                ld, CONFIG_ERROR, true,
                "the default SOA rname \"admin.<zone>\" would be too long; set soa.rname");
    }
    z.name = strdup(key);
    if (!z.name)
        loader_out_of_memory(ld);
    loader_pop(ld);
    /* Kept with other errors too, for the duplicate and apex checks. */
    if (!have_apex || !z.name) {
        config_zone_free(&z);
        return;
    }
    cfg->zones[cfg->zone_count++] = z;
}

void config_zones_load(struct loader *ld, struct json_object *zones)
{
    if (json_object_get_type(zones) != json_type_object) {
        loader_report_type(ld, zones, "an object (zone name: zone)");
        return;
    }
    size_t n = (size_t)json_object_object_length(zones);
    ld->cfg->zones = calloc(n ? n : 1, sizeof(*ld->cfg->zones));
    if (!ld->cfg->zones) {
        loader_out_of_memory(ld);
        return;
    }
    /* Zone names are the keys: no key is unknown, but duplicates are. */
    loader_check_object(ld, zones, NULL, 0);
    json_object_object_foreach(zones, key, value)
    {
        load_zone(ld, key, value);
    }
}
