/* The "records" section: each record's owner, type, TTL and the fields its
 * type uses, its value turned into RDATA by rdata.c. Records are read one
 * element at a time from the text (loader_array_read) into fixed-size
 * entries whose octets go to the config's pool. A record with a good name
 * and type is kept even when something else in it is wrong, for the
 * checks across records (config_check.c); the load fails then anyway. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_loader.h"
#include "rdata.h"

/* "name": the owner, in wire form. Returns whether it is good. */
static bool load_owner(struct loader *ld, struct json_object *obj, uint8_t *owner,
                       uint8_t *owner_len)
{
    const char *s;
    size_t n;
    bool good = false;
    int rc = loader_read_string_pushed(ld, obj, "name", true, &s, &n);
    if (rc == 1)
        good = loader_name_from_text(ld, s, owner, owner_len, false) == 0;
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

/* The optional keys of a record, as bits: which a record has is found in
 * one walk over its members, and only those are looked up (most records
 * have none of them; a lookup of an absent key costs a hash each). */
enum {
    FIELD_TTL = 1u << 0,
    FIELD_PRIORITY = 1u << 1,
    FIELD_WEIGHT = 1u << 2,
    FIELD_PORT = 1u << 3,
    FIELD_FLAGS = 1u << 4,
    FIELD_WILDCARD = 1u << 5,
    FIELD_COMMENT = 1u << 6,
    FIELD_TAG = 1u << 7,
};

static unsigned field_if(const char *key, const char *name, unsigned bit)
{
    return strcmp(key, name) == 0 ? bit : 0;
}

/* The bit of an optional key, or 0; by its first letter, so that a
 * record's name, type and value cost one comparison at most. */
static unsigned optional_field_bit(const char *key)
{
    switch (key[0]) {
    case 't':
        return field_if(key, "ttl", FIELD_TTL) | field_if(key, "tag", FIELD_TAG);
    case 'p':
        return field_if(key, "priority", FIELD_PRIORITY) | field_if(key, "port", FIELD_PORT);
    case 'w':
        return field_if(key, "weight", FIELD_WEIGHT) | field_if(key, "wildcard", FIELD_WILDCARD);
    case 'f':
        return field_if(key, "flags", FIELD_FLAGS);
    case 'c':
        return field_if(key, "comment", FIELD_COMMENT);
    default:
        return 0;
    }
}

static unsigned optional_fields_present(struct json_object *obj)
{
    unsigned present = 0;
    json_object_object_foreach(obj, key, value)
    {
        (void)value;
        present |= optional_field_bit(key);
    }
    return present;
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
    unsigned present = optional_fields_present(obj);
    r->ttl = 300;
    if (present & FIELD_TTL)
        loader_read_u32(ld, obj, "ttl", "TTL", 0, TTL_MAX, &r->ttl);
    f->priority = 10;
    if (present & FIELD_PRIORITY)
        loader_read_u16(ld, obj, "priority", "priority", 0, 65535, &f->priority);
    if (present & FIELD_WEIGHT)
        loader_read_u16(ld, obj, "weight", "weight", 0, 65535, &f->weight);
    bool has_port =
        (present & FIELD_PORT) && loader_read_u16(ld, obj, "port", "port", 0, 65535, &f->port) != 0;
    if (present & FIELD_FLAGS)
        loader_read_u16(ld, obj, "flags", "CAA flags", 0, 255, &f->flags);
    if (present & FIELD_WILDCARD)
        loader_read_bool(ld, obj, "wildcard", &r->wildcard);
    int rc = 0;
    if (present & FIELD_COMMENT)
        rc = loader_read_string_pushed(ld, obj, "comment", false, &s, &n);
    if (rc != 0)
        loader_pop(ld);
    rc = 0;
    if (present & FIELD_TAG)
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

/* "value", into RDATA (malloc'd into *rdata) when the type is known. */
static void load_value(struct loader *ld, struct json_object *obj, bool have_type,
                       struct config_record *r, struct rdata_fields *f, uint8_t **rdata)
{
    int rc = loader_read_string_pushed(ld, obj, "value", false, &f->value, &f->value_len);
    if (rc == 1 && have_type) {
        char why[RDATA_ERROR_MAX];
        int made = rdata_from_text(r->type, f, rdata, &r->rdata_len, why, sizeof(why));
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

/* Room for more records: the arrays double, so a million records cost a
 * few dozen reallocations. Returns 0, or -1 (reported). */
static int records_grow(struct loader *ld)
{
    struct config *cfg = ld->cfg;
    size_t capacity = ld->record_capacity ? ld->record_capacity * 2 : 64;
    struct config_record *records = realloc(cfg->records, capacity * sizeof(*records));
    if (records)
        cfg->records = records;
    size_t *index = realloc(ld->record_index, capacity * sizeof(*index));
    if (index)
        ld->record_index = index;
    size_t *offset = realloc(ld->record_offset, capacity * sizeof(*offset));
    if (offset)
        ld->record_offset = offset;
    bool *ok = realloc(ld->record_ok, capacity * sizeof(*ok));
    if (ok)
        ld->record_ok = ok;
    if (!records || !index || !offset || !ok) {
        loader_out_of_memory(ld);
        return -1;
    }
    ld->record_capacity = capacity;
    return 0;
}

/* records[index], whose object is at offset; the path is at its index. */
static void load_record(struct loader *ld, struct json_object *obj, size_t index, size_t offset)
{
    struct config *cfg = ld->cfg;
    size_t errors = ld->diags->errors;
    struct config_record r;
    struct rdata_fields f;
    uint8_t owner[WIRE_NAME_MAX];
    uint8_t *rdata = NULL;
    memset(&r, 0, sizeof(r));
    memset(&f, 0, sizeof(f));

    if (json_object_get_type(obj) != json_type_object) {
        loader_report_type(ld, obj, "an object");
        return;
    }
    loader_check_object(ld, obj, CONFIG_RECORD_KEYS, COUNT(CONFIG_RECORD_KEYS));
    json_locate_line_column(&ld->loc, offset, &r.line, &r.column);
    bool have_name = load_owner(ld, obj, owner, &r.owner_len);
    bool have_type = load_type(ld, obj, &r);
    load_fields(ld, obj, have_type, &r, &f);
    load_value(ld, obj, have_type, &r, &f, &rdata);

    if (!have_name || !have_type) {
        free(rdata);
        return;
    }
    if (cfg->record_count == ld->record_capacity && records_grow(ld) < 0) {
        free(rdata);
        return;
    }
    r.owner = config_pool_add(&cfg->pool, owner, r.owner_len);
    r.rdata = rdata ? config_pool_add(&cfg->pool, rdata, r.rdata_len) : NULL;
    free(rdata);
    if (!r.owner || (rdata && !r.rdata)) {
        loader_out_of_memory(ld);
        return;
    }
    ld->record_index[cfg->record_count] = index;
    ld->record_offset[cfg->record_count] = offset;
    ld->record_ok[cfg->record_count] = ld->diags->errors == errors;
    cfg->records[cfg->record_count++] = r;
}

void config_records_load(struct loader *ld, struct json_object *records)
{
    /* an array comes through config_records_load_text */
    loader_report_type(ld, records, "an array of record objects");
}

void config_records_load_text(struct loader *ld)
{
    loader_array_read(ld, &ld->records_text, load_record);
}
