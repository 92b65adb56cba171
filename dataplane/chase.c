/* CNAME chasing, the pure half (chase.h): step answers merged into one,
 * names decompressed, RFC 6604 rcode and RFC 2308 SOA of the last step. */
#include "chase.h"

#include <string.h>

#define RR_FIXED 10 /* TYPE CLASS TTL RDLENGTH */
#define OPT_SIZE 11
/* Records looked at in one chain walk: bounds the walk whatever buf holds. */
#define WALK_NAMES_MAX (CHASE_LINKS_MAX * 8)

void chase_answer_init(struct chase_answer *a, uint8_t *buf, size_t cap)
{
    memset(a, 0, sizeof(*a));
    a->buf = buf;
    a->cap = cap;
}

/* Copy the record at msg+*pos into out+*out_len (cap octets), its owner and
 * the names in its RDATA uncompressed (RFC 3597 §4: only the well-known
 * types, which wire_rdata_layout knows). *type receives its type.
 * Returns 0, -1 when it does not parse, -2 when it does not fit. */
static int copy_rr(const uint8_t *msg, size_t len, size_t *pos, uint8_t *out, size_t cap,
                   size_t *out_len, uint16_t *type)
{
    uint8_t name[WIRE_NAME_MAX];
    size_t name_len, at = *out_len;
    if (wire_name_parse(msg, len, pos, name, &name_len) < 0 || len - *pos < RR_FIXED)
        return -1;
    *type = wire_get16(msg + *pos);
    size_t rdlength = wire_get16(msg + *pos + 8);
    size_t rdata = *pos + RR_FIXED, rdata_end = rdata + rdlength;
    if (rdata_end > len)
        return -1;
    if (at + name_len + RR_FIXED > cap)
        return -2;
    memcpy(out + at, name, name_len);
    at += name_len;
    memcpy(out + at, msg + *pos, RR_FIXED);
    size_t rdlength_at = at + 8;
    at += RR_FIXED;
    size_t rdata_start = at, from = rdata;
    struct wire_rdata_layout layout;
    if (wire_rdata_layout(*type, &layout)) {
        if (layout.names_offset > rdlength)
            return -1;
        if (at + layout.names_offset > cap)
            return -2;
        memcpy(out + at, msg + from, layout.names_offset);
        at += layout.names_offset;
        from += layout.names_offset;
        for (unsigned i = 0; i < layout.names_count; i++) {
            if (wire_name_parse(msg, rdata_end, &from, name, &name_len) < 0)
                return -1;
            if (at + name_len > cap)
                return -2;
            memcpy(out + at, name, name_len);
            at += name_len;
        }
    }
    if (at + (rdata_end - from) > cap)
        return -2;
    memcpy(out + at, msg + from, rdata_end - from);
    at += rdata_end - from;
    if (at - rdata_start > 65535)
        return -2;
    wire_put16(out + rdlength_at, (uint16_t)(at - rdata_start));
    *pos = rdata_end;
    *out_len = at;
    return 0;
}

int chase_append(struct chase_answer *a, const uint8_t *msg, size_t len, bool ours)
{
    if (len < WIRE_HEADER_SIZE || wire_get16(msg + 4) != 1)
        return -1;
    uint16_t flags = wire_get16(msg + 2);
    unsigned answers = wire_get16(msg + 6), authorities = wire_get16(msg + 8);
    size_t pos = WIRE_HEADER_SIZE, name_len;
    if (wire_name_parse(msg, len, &pos, NULL, &name_len) < 0 || len - pos < 4)
        return -1;
    pos += 4;
    size_t out_len = a->len;
    unsigned count = a->answer_count;
    uint16_t type;
    for (unsigned i = 0; i < answers; i++) {
        int rc = copy_rr(msg, len, &pos, a->buf, a->cap, &out_len, &type);
        if (rc < 0)
            return rc;
        if (type == WIRE_TYPE_OPT)
            return -1;
        if (++count > 65535)
            return -2;
    }
    uint8_t soa[CHASE_SOA_MAX];
    size_t soa_len = 0;
    for (unsigned i = 0; i < authorities; i++) {
        size_t scratch_len = 0;
        uint8_t scratch[CHASE_SOA_MAX];
        size_t start = pos;
        int rc = copy_rr(msg, len, &pos, scratch, sizeof(scratch), &scratch_len, &type);
        if (rc == -2) {
            /* Not an SOA, or an SOA that breaks the limits of names: skip
             * it by its length alone. */
            pos = start;
            if (wire_name_parse(msg, len, &pos, NULL, &name_len) < 0 || len - pos < RR_FIXED)
                return -1;
            size_t skip = RR_FIXED + (size_t)wire_get16(msg + pos + 8);
            if (len - pos < skip)
                return -1;
            pos += skip;
            continue;
        }
        if (rc < 0)
            return rc;
        if (type == WIRE_TYPE_SOA && soa_len == 0) {
            memcpy(soa, scratch, scratch_len);
            soa_len = scratch_len;
        }
    }
    a->len = out_len;
    a->answer_count = (uint16_t)count;
    a->rcode = flags & 0xF;
    a->authoritative = (a->steps == 0 || a->authoritative) && ours && (flags & WIRE_FLAG_AA);
    a->steps++;
    memcpy(a->authority, soa, soa_len);
    a->authority_len = soa_len;
    return 0;
}

/* One record of a chase_answer (uncompressed): its owner, type, RDATA. */
struct record {
    const uint8_t *owner;
    size_t owner_len;
    uint16_t type;
    const uint8_t *rdata;
    size_t rdlength;
};

static bool record_next(const struct chase_answer *a, size_t *pos, struct record *r)
{
    size_t start = *pos;
    if (wire_name_parse(a->buf, a->len, pos, NULL, &r->owner_len) < 0 || a->len - *pos < RR_FIXED)
        return false;
    r->owner = a->buf + start;
    r->type = wire_get16(a->buf + *pos);
    r->rdlength = wire_get16(a->buf + *pos + 8);
    *pos += RR_FIXED;
    if (a->len - *pos < r->rdlength)
        return false;
    r->rdata = a->buf + *pos;
    *pos += r->rdlength;
    return true;
}

/* The first record of type owned by name (case-insensitively), or false. */
static bool record_find(const struct chase_answer *a, const uint8_t *name, size_t name_len,
                        uint16_t type, struct record *out)
{
    size_t pos = 0;
    for (unsigned i = 0; i < a->answer_count && record_next(a, &pos, out); i++)
        if (out->type == type && wire_name_equal(out->owner, out->owner_len, name, name_len))
            return true;
    return false;
}

bool chase_next(const struct chase_answer *a, const uint8_t *qname, size_t qname_len,
                uint16_t qtype, uint8_t *target, size_t *target_len)
{
    const uint8_t *seen[WALK_NAMES_MAX];
    size_t seen_len[WALK_NAMES_MAX];
    const uint8_t *name = qname;
    size_t name_len = qname_len;
    unsigned links = 0;
    struct record r;
    for (;;) {
        if (record_find(a, name, name_len, qtype, &r) ||
            !record_find(a, name, name_len, WIRE_TYPE_CNAME, &r))
            break;
        if (links == WALK_NAMES_MAX || !wire_name_valid(r.rdata, r.rdlength))
            return false;
        seen[links] = name;
        seen_len[links] = name_len;
        links++;
        name = r.rdata;
        name_len = r.rdlength;
        for (unsigned i = 0; i < links; i++)
            if (wire_name_equal(seen[i], seen_len[i], name, name_len))
                return false; /* a loop: each name once is enough */
    }
    if (links == 0 || links > CHASE_LINKS_MAX || qtype == WIRE_TYPE_CNAME ||
        record_find(a, name, name_len, qtype, &r))
        return false;
    memcpy(target, name, name_len);
    wire_name_lower(target, name_len);
    *target_len = name_len;
    return true;
}

size_t chase_finish(const struct chase_answer *a, const struct relay_client *client,
                    uint16_t edns_payload, size_t limit, uint8_t *out, bool *truncated)
{
    wire_put16(out, client->id);
    uint16_t flags = (uint16_t)(WIRE_FLAG_QR | WIRE_FLAG_RA |
                                (client->flags & (WIRE_FLAG_RD | WIRE_FLAG_CD)) | a->rcode);
    if (a->authoritative)
        flags |= WIRE_FLAG_AA;
    size_t len = WIRE_HEADER_SIZE;
    memcpy(out + len, client->question, client->question_len);
    len += client->question_len;
    size_t question_end = len;
    size_t opt = client->has_edns ? OPT_SIZE : 0;
    uint16_t counts[3] = {a->answer_count, a->authority_len != 0 ? 1 : 0, 0};
    *truncated = question_end + a->len + a->authority_len + opt > limit;
    if (*truncated) {
        flags |= WIRE_FLAG_TC;
        counts[0] = counts[1] = 0;
    } else {
        memcpy(out + len, a->buf, a->len);
        len += a->len;
        memcpy(out + len, a->authority, a->authority_len);
        len += a->authority_len;
    }
    if (client->has_edns) {
        out[len] = 0; /* owned by the root */
        wire_put16(out + len + 1, WIRE_TYPE_OPT);
        wire_put16(out + len + 3, edns_payload);
        wire_put32(out + len + 5, client->edns_do ? WIRE_EDNS_DO : 0u);
        wire_put16(out + len + 9, 0);
        len += OPT_SIZE;
        counts[2] = 1;
    }
    wire_put16(out + 2, flags);
    wire_put16(out + 4, 1);
    wire_put16(out + 6, counts[0]);
    wire_put16(out + 8, counts[1]);
    wire_put16(out + 10, counts[2]);
    return len;
}
