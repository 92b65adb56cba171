/* Private to the config loader (config_*.c): one load's state, findings at a JSON path, readers.
 * One loader per load, on one thread: it borrows the text and fills the config it is given. */
#ifndef NANODNS_CONFIG_LOADER_H
#define NANODNS_CONFIG_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "json_elements.h"
#include "json_locate.h"
#include "quote.h"

struct json_object;

/* The deepest path the format has is zones.<zone>.soa.serial. */
#define PATH_DEPTH 8

#define TTL_MAX 2147483647u /* RFC 2181 §8 */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

struct loader {
    struct config *cfg;
    struct config_diags *diags;
    const char *config_path; /* where the text is from, for server.sync_key; may be NULL */
    struct json_locator loc;
    struct json_locate_step path[PATH_DEPTH];
    size_t depth;
    bool out_of_memory;
    /* Per record kept in cfg->records: its index in the "records" array,
     * the offset of its object in the text, and whether it is free of
     * errors, for the checks across records. A record whose name and type
     * are good is kept even when something else in it is wrong, so that
     * those checks still see it; the load fails then anyway. */
    size_t *record_index;
    size_t *record_offset;
    bool *record_ok;
    size_t record_capacity;
    size_t rewrite_capacity;
    /* While an element of a large array is read, the offset of its value
     * and the depth of its path: a finding inside it is located from
     * there, never from the top of a large document. */
    bool has_base;
    size_t base_offset, base_depth;
    /* The top-level "records" and "rewrites" arrays, read element by
     * element from the text (config_records_load_text): where their '['
     * is, and each one's digest (config_array_digest) once read. */
    struct loader_array {
        bool present;
        size_t offset;
        uint8_t digest[CONFIG_DIGEST_SIZE];
    } records_text, rewrites_text;
    /* The blocklist files as read (config_blocklists.c): their bytes and
     * names hashed, so that an edit of a list alone is a new config. */
    bool lists_read;
    uint8_t lists_digest[CONFIG_DIGEST_SIZE];
    size_t list_entry_capacity;
    bool syntax_failed; /* json-c refused an element: the load stops at that error */
    /* The top-level members as root_from_members walked them (NULL when
     * the text was parsed whole): a path is located from its member's
     * value, never by skipping a large array again. */
    struct loader_member {
        char *key; /* decoded, whole (a NUL included), key_len octets */
        size_t key_len, key_offset, value_offset;
    } * top_members;
    size_t top_count, top_offset;
};

/* ---- the record pool (config_load.c) ---- */

/* A copy of data[0..len) in cfg's pool, or NULL when memory runs out. */
const uint8_t *config_pool_add(struct config_pool *pool, const void *data, size_t len);
void config_pool_free(struct config_pool *pool);

/* ---- the list of findings (config_diags.c) ---- */

void config_diags_add(struct config_diags *d, enum config_severity severity, unsigned line,
                      unsigned column, const char *path, const char *message);

/* Put the findings from first on in the order of the file. */
void config_diags_sort(struct config_diags *d, size_t first);

/* ---- reporting at the current path (config_loader.c) ---- */

void loader_push_key(struct loader *ld, const char *key);
void loader_push_key_len(struct loader *ld, const char *key, size_t key_len);
void loader_push_index(struct loader *ld, size_t index);
void loader_pop(struct loader *ld);

/* A finding about the value at the current path (or its member name). */
__attribute__((format(printf, 4, 5))) void
loader_report(struct loader *ld, enum config_severity severity, bool at_key, const char *fmt, ...);

/* A finding at a known offset, the current path naming it. */
__attribute__((format(printf, 4, 5))) void loader_report_at(struct loader *ld,
                                                            enum config_severity severity,
                                                            size_t offset, const char *fmt, ...);

/* A finding about a field of records[index] (the record itself when field
 * is NULL), whose object is at offset: used after the pass, when the
 * locator's cache no longer helps. */
__attribute__((format(printf, 6, 7))) void
loader_report_record(struct loader *ld, enum config_severity severity, size_t index, size_t offset,
                     const char *field, const char *fmt, ...);

/* "out of memory", once per load. */
void loader_out_of_memory(struct loader *ld);

/* "expected EXPECTED, got a string", at the current path. */
void loader_report_type(struct loader *ld, struct json_object *v, const char *expected);
void loader_report_missing(struct loader *ld, const char *key);

/* "a boolean", "an object", ...: how messages name v's JSON type. */
const char *loader_type_name(struct json_object *v);

/* ---- reading members (config_loader.c) ---- */

/* Readers of one member of obj. Each returns 1 when the member is there and
 * valid (stored in *out), 0 when it is absent, -1 when it is there but
 * wrong (reported). what names the value in messages ("cache TTL"). */
int loader_read_uint(struct loader *ld, struct json_object *obj, const char *key, const char *what,
                     uint64_t min, uint64_t max, uint64_t *out);
int loader_read_u32(struct loader *ld, struct json_object *obj, const char *key, const char *what,
                    uint32_t min, uint32_t max, uint32_t *out);
int loader_read_u16(struct loader *ld, struct json_object *obj, const char *key, const char *what,
                    uint16_t min, uint16_t max, uint16_t *out);
int loader_read_bool(struct loader *ld, struct json_object *obj, const char *key, bool *out);

/* A string member. With c_string, one holding a NUL character is refused
 * (it is going to be used as a C string). The path is left pushed when
 * the member is there, so the caller can report about its value; the
 * caller pops it when the result is not 0. */
int loader_read_string_pushed(struct loader *ld, struct json_object *obj, const char *key,
                              bool c_string, const char **out, size_t *out_len);

/* A presentation-form name in wire form, reported at the current path (its
 * member name when at_key) when it is not one. Returns 0 or -1. */
int loader_name_from_text(struct loader *ld, const char *text, uint8_t *out, uint8_t *out_len,
                          bool at_key);

/* Replace *slot with a copy of s[0..n). Returns 0, or -1 (reported). */
int loader_set_string(struct loader *ld, char **slot, const char *s, size_t n);

void loader_strings_free(char **list, size_t count);

/* ---- the keys of each object (config_keys.c) ---- */

/* Check the members of the object at the current path: unknown keys (with
 * a suggestion; no key is unknown when allowed is NULL) and duplicate
 * keys. Returns the object's offset in the text. */
size_t loader_check_object(struct loader *ld, struct json_object *obj, const char *const *allowed,
                           size_t allowed_count);

/* The keys each kind of object may have (config_key_tables lists them). */
extern const char *const CONFIG_TOP_KEYS[6];
extern const char *const CONFIG_SERVER_KEYS[35];
extern const char *const CONFIG_PEER_KEYS[2];
extern const char *const CONFIG_ZONE_KEYS[2];
extern const char *const CONFIG_SOA_KEYS[7];
extern const char *const CONFIG_RECORD_KEYS[11];
extern const char *const CONFIG_REWRITE_KEYS[3];
extern const char *const CONFIG_BLOCKLIST_KEYS[2];

/* ---- the sections ---- */

/* config_server.c: the server section over the defaults. */
int config_server_defaults(struct loader *ld, struct config_server *s);
void config_server_load(struct loader *ld, struct json_object *server);
/* server.mgmt_host and server.mgmt_port alone (config_load_management). */
void config_server_load_mgmt(struct loader *ld, struct json_object *server);
void config_server_free(struct config_server *s);

/* config_upstreams.c: server.upstream and server.forward_zones; then, the
 * server section read (present or not), their addresses parsed with
 * upstream_port where an entry names no port. */
void config_upstreams_load(struct loader *ld, struct json_object *server);
void config_upstreams_load_forward_zones(struct loader *ld, struct json_object *server);
void config_upstreams_finish(struct loader *ld);
void config_forward_zone_free(struct config_forward_zone *z);

/* config_peers.c: server.peers, and server.sync_key with the warning for
 * keyed peers on a node without a key. */
void config_peers_load(struct loader *ld, struct json_object *server);
void config_peers_load_sync_key(struct loader *ld, struct json_object *server);

/* config_zones.c, config_records.c, config_rewrites.c: the top-level
 * sections, the path at their key. config_records_load and
 * config_rewrites_load get a section that is no array (an error); an
 * array is read from the text by the _text loaders below. */
void config_zones_load(struct loader *ld, struct json_object *zones);
void config_zone_free(struct config_zone *z);
void config_records_load(struct loader *ld, struct json_object *records);
void config_rewrites_load(struct loader *ld, struct json_object *rewrites);

/* The same for the array whose '[' is at ld->records_text.offset (and
 * rewrites_text), each element parsed on its own and freed before the
 * next; its digest goes to ld->records_text.digest. A syntax error json-c
 * finds there is reported and sets ld->syntax_failed. */
void config_records_load_text(struct loader *ld);
void config_rewrites_load_text(struct loader *ld);

/* config_blocklists.c: the top-level "blocklists" (each list file read
 * line by line into cfg->list_entries, its findings reported) and
 * "allowlist", the path at their key. */
void config_blocklists_load(struct loader *ld, struct json_object *blocklists);
void config_allowlist_load(struct loader *ld, struct json_object *allowlist);

/* Read the elements of the top-level array at arr, calling each for every
 * one with the path at its index; the digest of the array into
 * arr->digest. Returns 0, or -1 on a syntax error (reported). */
int loader_array_read(struct loader *ld, struct loader_array *arr,
                      void (*each)(struct loader *ld, struct json_object *element, size_t index,
                                   size_t offset));

/* The offset of the value at the current path (its member name when
 * at_key); *found: whether the whole path is in the text. */
size_t loader_locate(struct loader *ld, bool at_key, bool *found);

/* ---- checks across records and zones (config_check.c, config_targets.c) ---- */

/* Case-insensitive order of wire-form names. */
int config_name_compare(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);

/* A quoted name for a message. */
const char *config_name_quote(char buf[QUOTE_CAP], const uint8_t *name, size_t len);

struct zone_ref {
    const struct config_zone *z;
    size_t position; /* in cfg->zones */
};

/* The zones sorted by apex, with zones defined twice reported; NULL when
 * out of memory (reported). The caller frees it. */
struct zone_ref *config_check_zones(struct loader *ld);

/* The zone whose apex is name, or NULL; zones as config_check_zones sorts them. */
const struct config_zone *config_zone_at(const struct zone_ref *zones, size_t count,
                                         const uint8_t *name, size_t len);

/* The CNAME rules, and TTLs and duplicates within each RRset. */
void config_check_records(struct loader *ld, const struct zone_ref *zones);

/* Records outside every zone (warnings). */
void config_check_outside_zones(struct loader *ld, const struct zone_ref *zones);

/* CNAME, MX, NS and SRV targets inside our zones without data (warnings);
 * zones.<zone>.ns too when with_zone_ns (the lists loaded whole). */
void config_check_targets(struct loader *ld, const struct zone_ref *zones, bool with_zone_ns);

#endif
