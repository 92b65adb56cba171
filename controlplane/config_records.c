/* The "records" section: each record's owner, type, TTL and the fields its
 * type uses, its value turned into RDATA by rdata.c. A record with a good
 * name and type is kept even when something else in it is wrong, for the
 * checks across records (config_check.c); the load fails then anyway. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_loader.h"
#include "rdata.h"

/* "name": the owner, in wire form. Returns whether it is good. */
static bool load_owner(struct loader *ld, struct json_object *obj, struct config_record *r)
{
    const char *s;
    size_t n;
    bool good = false;
    int rc = loader_read_string_pushed(ld, obj, "name", true, &s, &n);
    if (rc == 1)
        good = loader_name_from_text(ld, s, r->owner, &r->owner_len, false) == 0;
    if (rc != 0)
        loader_pop(ld);
    else
        loader_report_missing(ld, "name");
    return good;
}

/* "type": one rdata_type_from_text knows. Returns whether it is good. */
static bool load_type(struct loader *ld, struct json_object *obj, struct config_record *r)
{
    const char *s;
    size_t n;
    bool good = false;
    int rc = loader_read_string_pushed(ld, obj, "type", true, &s, &n);
    if (rc == 1) {
        char q[QUOTE_CAP];
        good = rdata_type_from_text(s, &r->type);
        if (!good && strcasecmp(s, "SOA") == 0)
            loader_report(ld, CONFIG_ERROR, false,
                          "SOA comes from zones.<zone>.soa, not from records");
        else if (!good)
            loader_report(ld, CONFIG_ERROR, false,
                          "unknown record type %s (supported: A, AAAA, CAA, CNAME, MX, NS, PTR, "
                          "SRV, TXT)",
                          quote_text(q, s, n));
    }
    if (rc != 0)
        loader_pop(ld);
    else
        loader_report_missing(ld, "type");
    return good;
}

/* The keys besides name, type and value. Keys that do not apply to the
 * type are checked but ignored, as the original ignores them; an SRV
 * record needs "port", a CAA record "tag". */
static void load_fields(struct loader *ld, struct json_object *obj, bool have_type,
                        struct config_record *r, struct rdata_fields *f)
{
    const char *s;
    size_t n;
    char q[QUOTE_CAP];
    r->ttl = 300;
    loader_read_u32(ld, obj, "ttl", "TTL", 0, TTL_MAX, &r->ttl);
    f->priority = 10;
    loader_read_u16(ld, obj, "priority", "priority", 0, 65535, &f->priority);
    loader_read_u16(ld, obj, "weight", "weight", 0, 65535, &f->weight);
    bool has_port = loader_read_u16(ld, obj, "port", "port", 0, 65535, &f->port) != 0;
    loader_read_u16(ld, obj, "flags", "CAA flags", 0, 255, &f->flags);
    loader_read_bool(ld, obj, "wildcard", &r->wildcard);
    int rc = loader_read_string_pushed(ld, obj, "comment", false, &s, &n);
    if (rc != 0)
        loader_pop(ld);
    rc = loader_read_string_pushed(ld, obj, "tag", false, &f->tag, &f->tag_len);
    if (rc == 1 && r->type == WIRE_TYPE_CAA && !rdata_caa_tag_valid(f->tag, f->tag_len))
        loader_report(ld, CONFIG_ERROR, false,
                      "CAA tag %s must be 1 to 15 letters and digits, such as \"issue\", "
                      "\"issuewild\" or \"iodef\" (RFC 8659 §4.1)",
                      quote_text(q, f->tag, f->tag_len));
    if (rc != 0)
        loader_pop(ld);
    bool has_tag = rc != 0;

    if (have_type && r->type == WIRE_TYPE_SRV && !has_port)
        loader_report(ld, CONFIG_ERROR, false,
                      "missing required key \"port\" (an SRV record needs one)");
    if (have_type && r->type == WIRE_TYPE_CAA && !has_tag)
        loader_report(ld, CONFIG_ERROR, false,
                      "missing required key \"tag\" (a CAA record needs one: \"issue\", "
                      "\"issuewild\" or \"iodef\")");
}

/* "value", into RDATA when the type is known. */
static void load_value(struct loader *ld, struct json_object *obj, bool have_type,
                       struct config_record *r, struct rdata_fields *f)
{
    int rc = loader_read_string_pushed(ld, obj, "value", false, &f->value, &f->value_len);
    if (rc == 1 && have_type) {
        char why[RDATA_ERROR_MAX];
        int made = rdata_from_text(r->type, f, &r->rdata, &r->rdata_len, why, sizeof(why));
        if (made == RDATA_NO_MEMORY)
            loader_out_of_memory(ld);
        else if (made < 0)
            loader_report(ld, CONFIG_ERROR, false, "%s", why);
    }
    if (rc != 0)
        loader_pop(ld);
    else
        loader_report_missing(ld, "value");
}

static void load_record(struct loader *ld, struct json_object *obj, size_t index)
{
    struct config *cfg = ld->cfg;
    size_t errors = ld->diags->errors;
    struct config_record r;
    struct rdata_fields f;
    memset(&r, 0, sizeof(r));
    memset(&f, 0, sizeof(f));

    loader_push_index(ld, index);
    if (json_object_get_type(obj) != json_type_object) {
        loader_report_type(ld, obj, "an object");
        loader_pop(ld);
        return;
    }
    size_t offset = loader_check_object(ld, obj, CONFIG_RECORD_KEYS, COUNT(CONFIG_RECORD_KEYS));
    json_locate_line_column(&ld->loc, offset, &r.line, &r.column);
    bool have_name = load_owner(ld, obj, &r);
    bool have_type = load_type(ld, obj, &r);
    load_fields(ld, obj, have_type, &r, &f);
    load_value(ld, obj, have_type, &r, &f);
    loader_pop(ld);

    if (!have_name || !have_type) {
        free(r.rdata);
        return;
    }
    ld->record_index[cfg->record_count] = index;
    ld->record_offset[cfg->record_count] = offset;
    ld->record_ok[cfg->record_count] = ld->diags->errors == errors;
    cfg->records[cfg->record_count++] = r;
}

void config_records_load(struct loader *ld, struct json_object *records)
{
    if (json_object_get_type(records) != json_type_array) {
        loader_report_type(ld, records, "an array of record objects");
        return;
    }
    size_t n = json_object_array_length(records);
    struct config *cfg = ld->cfg;
    cfg->records = calloc(n ? n : 1, sizeof(*cfg->records));
    ld->record_index = calloc(n ? n : 1, sizeof(size_t));
    ld->record_offset = calloc(n ? n : 1, sizeof(size_t));
    ld->record_ok = calloc(n ? n : 1, sizeof(bool));
    if (!cfg->records || !ld->record_index || !ld->record_offset || !ld->record_ok) {
        loader_out_of_memory(ld);
        return;
    }
    for (size_t i = 0; i < n; i++)
        load_record(ld, json_object_array_get_idx(records, i), i);
}
