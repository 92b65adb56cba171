/* Record text → wire-form RDATA. See rdata.h. */
#include "rdata.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "quote.h"

static const struct {
    const char *name;
    uint16_t type;
} RECORD_TYPES[] = {
    {"A", WIRE_TYPE_A},         {"AAAA", WIRE_TYPE_AAAA}, {"CAA", WIRE_TYPE_CAA},
    {"CNAME", WIRE_TYPE_CNAME}, {"MX", WIRE_TYPE_MX},     {"NS", WIRE_TYPE_NS},
    {"PTR", WIRE_TYPE_PTR},     {"SRV", WIRE_TYPE_SRV},   {"TXT", WIRE_TYPE_TXT},
};

#define TYPE_COUNT (sizeof(RECORD_TYPES) / sizeof(RECORD_TYPES[0]))

bool rdata_type_from_text(const char *name, uint16_t *type)
{
    for (size_t i = 0; i < TYPE_COUNT; i++) {
        if (strcasecmp(name, RECORD_TYPES[i].name) == 0) {
            *type = RECORD_TYPES[i].type;
            return true;
        }
    }
    return false;
}

const char *rdata_type_name(uint16_t type)
{
    for (size_t i = 0; i < TYPE_COUNT; i++)
        if (RECORD_TYPES[i].type == type)
            return RECORD_TYPES[i].name;
    return "?";
}

int rdata_name_from_text(const char *text, uint8_t out[WIRE_NAME_MAX], uint8_t *out_len, char *err,
                         size_t err_len)
{
    char why[2048];
    size_t len;
    if (wire_name_from_text(text, out, &len, why, sizeof(why)) < 0) {
        /* The reason quotes the whole name, which can crowd out the rest
         * of it: quote it shortened instead. */
        size_t text_len = strlen(text);
        char *at = strstr(why, text);
        if (text_len > QUOTE_MAX && at && at > why && at[-1] == '"' && at[text_len] == '"') {
            char q[QUOTE_CAP];
            quote_text(q, text, text_len);
            snprintf(err, err_len, "%.*s%s%s", (int)(at - 1 - why), why, q, at + text_len + 1);
        } else {
            snprintf(err, err_len, "%s", why);
        }
        return RDATA_INVALID;
    }
    *out_len = (uint8_t)len;
    return 0;
}

bool rdata_caa_tag_valid(const char *tag, size_t len)
{
    if (len == 0 || len > 15)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = tag[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* A copy of data[0..len) into *out. */
static int rdata_copy(const uint8_t *data, size_t len, uint8_t **out, uint16_t *out_len, char *err,
                      size_t err_len)
{
    *out = malloc(len);
    if (!*out) {
        snprintf(err, err_len, "out of memory");
        return RDATA_NO_MEMORY;
    }
    memcpy(*out, data, len);
    *out_len = (uint16_t)len;
    return 0;
}

/* RFC 1035 §3.4.1 (A), RFC 3596 §2.2 (AAAA). */
static int address_rdata(int family, const struct rdata_fields *f, uint8_t **out, uint16_t *out_len,
                         char *err, size_t err_len)
{
    uint8_t addr[16];
    if (inet_pton(family, f->value, addr) != 1) {
        char q[QUOTE_CAP];
        snprintf(err, err_len, "%s is not an IPv%d address", quote_text(q, f->value, f->value_len),
                 family == AF_INET ? 4 : 6);
        return RDATA_INVALID;
    }
    return rdata_copy(addr, family == AF_INET ? 4 : 16, out, out_len, err, err_len);
}

/* CNAME, NS, PTR: a name; MX (RFC 1035 §3.3.9): preference, exchange; SRV
 * (RFC 2782): priority, weight, port, target. */
static int name_rdata(uint16_t type, const struct rdata_fields *f, uint8_t **out, uint16_t *out_len,
                      char *err, size_t err_len)
{
    uint8_t buf[6 + WIRE_NAME_MAX];
    size_t fixed = type == WIRE_TYPE_MX ? 2 : type == WIRE_TYPE_SRV ? 6 : 0;
    uint8_t name_len;
    int rc = rdata_name_from_text(f->value, buf + fixed, &name_len, err, err_len);
    if (rc < 0)
        return rc;
    if (fixed > 0)
        wire_put16(buf, f->priority);
    if (type == WIRE_TYPE_SRV) {
        wire_put16(buf + 2, f->weight);
        wire_put16(buf + 4, f->port);
    }
    return rdata_copy(buf, fixed + name_len, out, out_len, err, err_len);
}

/* RFC 1035 §3.3.14: one or more <character-string>s of at most 255 octets;
 * an empty value is one empty string. */
static int txt_rdata(const struct rdata_fields *f, uint8_t **out, uint16_t *out_len, char *err,
                     size_t err_len)
{
    size_t strings = f->value_len == 0 ? 1 : (f->value_len + 254) / 255;
    size_t len = f->value_len + strings;
    if (len > UINT16_MAX) {
        snprintf(err, err_len,
                 "a TXT value of %zu octets is too long (its RDATA would be %zu octets, "
                 "more than 65535)",
                 f->value_len, len);
        return RDATA_INVALID;
    }
    uint8_t *rdata = malloc(len);
    if (!rdata) {
        snprintf(err, err_len, "out of memory");
        return RDATA_NO_MEMORY;
    }
    size_t w = 0, done = 0;
    do {
        size_t chunk = f->value_len - done > 255 ? 255 : f->value_len - done;
        rdata[w++] = (uint8_t)chunk;
        memcpy(rdata + w, f->value + done, chunk);
        w += chunk;
        done += chunk;
    } while (done < f->value_len);
    *out = rdata;
    *out_len = (uint16_t)len;
    return 0;
}

/* RFC 8659 §4.1: flags, tag length, tag, value. */
static int caa_rdata(const struct rdata_fields *f, uint8_t **out, uint16_t *out_len, char *err,
                     size_t err_len)
{
    size_t len = 2 + f->tag_len + f->value_len;
    if (len > UINT16_MAX) {
        snprintf(err, err_len, "the CAA value is too long (%zu octets)", f->value_len);
        return RDATA_INVALID;
    }
    uint8_t *rdata = malloc(len);
    if (!rdata) {
        snprintf(err, err_len, "out of memory");
        return RDATA_NO_MEMORY;
    }
    rdata[0] = (uint8_t)f->flags;
    rdata[1] = (uint8_t)f->tag_len;
    if (f->tag_len > 0)
        memcpy(rdata + 2, f->tag, f->tag_len);
    memcpy(rdata + 2 + f->tag_len, f->value, f->value_len);
    *out = rdata;
    *out_len = (uint16_t)len;
    return 0;
}

int rdata_from_text(uint16_t type, const struct rdata_fields *fields, uint8_t **out,
                    uint16_t *out_len, char *err, size_t err_len)
{
    *out = NULL;
    *out_len = 0;
    /* Only TXT and CAA carry octets; the others are read as C strings. */
    bool c_string = type != WIRE_TYPE_TXT && type != WIRE_TYPE_CAA;
    if (c_string && strlen(fields->value) != fields->value_len) {
        snprintf(err, err_len, "a NUL character (\\u0000) is not allowed here");
        return RDATA_INVALID;
    }
    switch (type) {
    case WIRE_TYPE_A:
        return address_rdata(AF_INET, fields, out, out_len, err, err_len);
    case WIRE_TYPE_AAAA:
        return address_rdata(AF_INET6, fields, out, out_len, err, err_len);
    case WIRE_TYPE_CNAME:
    case WIRE_TYPE_NS:
    case WIRE_TYPE_PTR:
    case WIRE_TYPE_MX:
    case WIRE_TYPE_SRV:
        return name_rdata(type, fields, out, out_len, err, err_len);
    case WIRE_TYPE_TXT:
        return txt_rdata(fields, out, out_len, err, err_len);
    case WIRE_TYPE_CAA:
        return caa_rdata(fields, out, out_len, err, err_len);
    default:
        snprintf(err, err_len, "type %u has no text form here", (unsigned)type);
        return RDATA_INVALID;
    }
}
