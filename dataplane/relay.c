/* Relaying upstream answers to clients: RFC 5452 matching, RFC 6891 OPT
 * handling, RFC 2181 §9 truncation and the DNS rebinding check over plain
 * buffers (relay.h). */
#include "relay.h"

#include <string.h>

#define UDP_PLAIN_LIMIT 512
#define RR_FIXED 10                               /* TYPE CLASS TTL RDLENGTH */
#define COUNT_OFFSET(section) (6 + 2 * (section)) /* 0 answer, 1 authority, 2 additional */

void relay_client_init(struct relay_client *client, const struct wire_query *q,
                       const uint8_t *packet)
{
    client->id = q->id;
    client->flags = q->flags;
    client->has_edns = q->has_edns;
    client->edns_do = q->has_edns && q->edns_do;
    client->edns_payload = q->edns_payload;
    /* answer_query forwards only sound questions: uncompressed, so their
     * length is the lowercase copy's. */
    client->question_len = (uint16_t)(q->qname_len + 4);
    memcpy(client->question, packet + WIRE_HEADER_SIZE, client->question_len);
}

void relay_key_init(struct cache_key *key, const struct wire_query *q)
{
    memset(key, 0, sizeof(*key)); /* padding too: keys may be hashed or compared whole */
    memcpy(key->qname, q->qname_lower, q->qname_len);
    key->qname_len = q->qname_len;
    key->qtype = q->qtype;
    key->qclass = q->qclass;
    if (q->has_edns && q->edns_do)
        key->flags |= CACHE_KEY_DO;
    if (q->flags & WIRE_FLAG_CD)
        key->flags |= CACHE_KEY_CD;
}

size_t relay_size_limit(const struct relay_client *client, enum answer_transport transport,
                        uint16_t edns_payload)
{
    if (transport == ANSWER_TCP)
        return 65535;
    if (!client->has_edns)
        return UDP_PLAIN_LIMIT;
    size_t offered = client->edns_payload < edns_payload ? client->edns_payload : edns_payload;
    return offered > UDP_PLAIN_LIMIT ? offered : UDP_PLAIN_LIMIT;
}

size_t relay_servers(const struct image *img, const uint8_t *name, size_t len,
                     const struct image_upstream **first)
{
    if (img->forward_zone_count > 0 && len > 0 && len <= WIRE_NAME_MAX) {
        uint8_t starts[WIRE_LABELS_MAX + 1];
        uint32_t hashes[WIRE_LABELS_MAX + 1];
        unsigned labels = wire_name_labels(name, len, starts);
        image_name_suffix_hashes(name, len, starts, labels, hashes);
        /* From the whole name up: the first zone found is the longest. */
        for (unsigned k = 0; k < labels; k++) {
            const struct image_forward_zone *zone =
                image_find_forward_zone(img, name + starts[k], len - starts[k], hashes[k]);
            if (zone != NULL && zone->upstream_count > 0 &&
                zone->upstream_first <= img->upstream_total &&
                zone->upstream_count <= img->upstream_total - zone->upstream_first) {
                *first = img->upstreams + zone->upstream_first;
                return zone->upstream_count;
            }
        }
    }
    uint32_t count = img->settings->upstream_count;
    if (count > img->upstream_total)
        count = img->upstream_total;
    *first = img->upstreams;
    return count;
}

static size_t opt_write(uint8_t *p, uint16_t payload, uint32_t ttl)
{
    p[0] = 0; /* owned by the root */
    wire_put16(p + 1, WIRE_TYPE_OPT);
    wire_put16(p + 3, payload);
    wire_put32(p + 5, ttl);
    wire_put16(p + 9, 0);
    return RELAY_OPT_SIZE;
}

/* An OPT TTL with the client's DO bit in it: RFC 3225 §3 copies the
 * query's DO into the response, whatever the upstream (or the cached
 * answer, asked with the same DO) says. */
static uint32_t opt_ttl_for(const struct relay_client *client, uint32_t ttl)
{
    return (ttl & ~(uint32_t)WIRE_EDNS_DO) | (client->edns_do ? WIRE_EDNS_DO : 0u);
}

size_t relay_query_build(uint8_t *out, uint16_t id, const struct cache_key *key)
{
    wire_put16(out, id);
    wire_put16(out + 2, WIRE_FLAG_RD | ((key->flags & CACHE_KEY_CD) ? WIRE_FLAG_CD : 0));
    wire_put16(out + 4, 1);
    wire_put16(out + 6, 0);
    wire_put16(out + 8, 0);
    wire_put16(out + 10, 1);
    size_t len = WIRE_HEADER_SIZE;
    memcpy(out + len, key->qname, key->qname_len);
    len += key->qname_len;
    wire_put16(out + len, key->qtype);
    wire_put16(out + len + 2, key->qclass);
    len += 4;
    /* RFC 6891 §6.1.3: version 0; RFC 3225: DO as the client asked. */
    len += opt_write(out + len, RELAY_UPSTREAM_PAYLOAD,
                     (key->flags & CACHE_KEY_DO) ? WIRE_EDNS_DO : 0);
    return len;
}

/* Where things stand in a response, from one walk over it. */
struct layout {
    uint16_t counts[3]; /* answer, authority, additional */
    size_t question_end;
    size_t end;       /* just past the last record */
    size_t opt_start; /* 0: no OPT */
    size_t opt_end;
    unsigned opt_index; /* among the additional records */
};

/* Walk every record; validate_names checks each owner name completely
 * (pointers included), otherwise names are only skipped. */
static int layout_walk(const uint8_t *buf, size_t len, struct layout *l, bool validate_names)
{
    memset(l, 0, sizeof(*l));
    if (len < WIRE_HEADER_SIZE || wire_get16(buf + 4) != 1)
        return -1;
    for (int s = 0; s < 3; s++)
        l->counts[s] = wire_get16(buf + COUNT_OFFSET(s));
    size_t pos = WIRE_HEADER_SIZE, name_len;
    if (wire_name_parse(buf, len, &pos, NULL, &name_len) < 0 || len - pos < 4)
        return -1;
    l->question_end = pos + 4;
    pos = l->question_end;
    unsigned total = (unsigned)l->counts[0] + l->counts[1] + l->counts[2];
    for (unsigned i = 0; i < total; i++) {
        size_t start = pos;
        if (validate_names) {
            if (wire_name_parse(buf, len, &pos, NULL, &name_len) < 0)
                return -1;
        } else {
            /* labels up to the root or a pointer; checked when it arrived */
            while (pos < len && buf[pos] != 0 && (buf[pos] & 0xC0) == 0)
                pos += 1u + buf[pos];
            if (pos >= len)
                return -1;
            pos += (buf[pos] & 0xC0) == 0xC0 ? 2 : 1;
        }
        if (pos > len || len - pos < RR_FIXED)
            return -1;
        uint16_t type = wire_get16(buf + pos);
        size_t rdlength = wire_get16(buf + pos + 8);
        pos += RR_FIXED;
        if (len - pos < rdlength)
            return -1;
        pos += rdlength;
        if (type == WIRE_TYPE_OPT) {
            /* RFC 6891 §6.1.1: one OPT, in the additional section, owned by the root */
            if (i < (unsigned)l->counts[0] + l->counts[1] || l->opt_start != 0 || buf[start] != 0)
                return -1;
            l->opt_start = start;
            l->opt_end = pos;
            l->opt_index = i - l->counts[0] - l->counts[1];
        }
    }
    l->end = pos; /* anything after the last record is left out */
    return 0;
}

enum relay_verdict relay_response_check(const uint8_t *response, size_t len, uint16_t id,
                                        const struct cache_key *key)
{
    if (len < WIRE_HEADER_SIZE)
        return RELAY_IGNORE;
    uint16_t flags = wire_get16(response + 2);
    if (wire_get16(response) != id || !(flags & WIRE_FLAG_QR) || WIRE_OPCODE(flags) != 0 ||
        wire_get16(response + 4) != 1)
        return RELAY_IGNORE;
    /* Our question, uncompressed, exactly where we put it. */
    size_t question_end = WIRE_HEADER_SIZE + key->qname_len + 4;
    if (len < question_end ||
        !wire_name_equal(response + WIRE_HEADER_SIZE, key->qname_len, key->qname, key->qname_len) ||
        !wire_name_valid(response + WIRE_HEADER_SIZE, key->qname_len) ||
        wire_get16(response + question_end - 4) != key->qtype ||
        wire_get16(response + question_end - 2) != key->qclass)
        return RELAY_IGNORE;
    struct layout l;
    if (layout_walk(response, len, &l, true) < 0 || l.question_end != question_end)
        return RELAY_MALFORMED;
    return RELAY_ACCEPT;
}

static void header_counts(uint8_t *buf, uint16_t answer, uint16_t authority, uint16_t additional)
{
    wire_put16(buf + 4, 1);
    wire_put16(buf + COUNT_OFFSET(0), answer);
    wire_put16(buf + COUNT_OFFSET(1), authority);
    wire_put16(buf + COUNT_OFFSET(2), additional);
}

size_t relay_answer(uint8_t *buf, size_t len, size_t cap, const struct relay_client *client,
                    size_t limit, uint16_t edns_payload, struct relay_result *result)
{
    struct layout l;
    if (layout_walk(buf, len, &l, false) < 0 ||
        l.question_end != (size_t)WIRE_HEADER_SIZE + client->question_len)
        return 0;
    if (limit > cap)
        limit = cap;

    uint32_t opt_ttl = l.opt_start != 0 ? wire_get32(buf + l.opt_start + 5) : 0;
    result->rcode = (uint16_t)((wire_get16(buf + 2) & 0xF) | ((opt_ttl >> 24) << 4));
    result->truncated = false;

    wire_put16(buf, client->id);
    memcpy(buf + WIRE_HEADER_SIZE, client->question, client->question_len);
    uint16_t flags = wire_get16(buf + 2);
    flags = (uint16_t)((flags & ~WIRE_FLAG_RD) | (client->flags & WIRE_FLAG_RD) | WIRE_FLAG_RA);

    len = l.end;
    if (!client->has_edns && l.opt_start != 0) {
        /* RFC 6891 §7: no OPT in answers to requests without one. What
         * follows it goes too: compression pointers may lead into it, and
         * additional data is optional (RFC 2181 §9). */
        len = l.opt_start;
        l.counts[2] = (uint16_t)l.opt_index;
        l.opt_start = 0;
    } else if (client->has_edns && l.opt_start != 0) {
        wire_put16(buf + l.opt_start + 3, edns_payload);
        wire_put32(buf + l.opt_start + 5, opt_ttl_for(client, opt_ttl));
    } else if (client->has_edns && len + RELAY_OPT_SIZE <= limit) {
        l.opt_start = len;
        len += opt_write(buf + len, edns_payload, opt_ttl_for(client, 0));
        l.counts[2]++;
    } else if (client->has_edns) {
        len = limit + 1; /* no room for the OPT it must carry: truncate below */
    }

    if (len > limit) {
        /* RFC 2181 §9: the client asks again over TCP and gets it whole. */
        result->truncated = true;
        flags |= WIRE_FLAG_TC;
        len = l.question_end;
        uint16_t additional = 0;
        if (client->has_edns) {
            len += opt_write(buf + len, edns_payload, opt_ttl_for(client, opt_ttl));
            additional = 1;
        }
        header_counts(buf, 0, 0, additional);
    } else {
        header_counts(buf, l.counts[0], l.counts[1], l.counts[2]);
    }
    wire_put16(buf + 2, flags);
    return len;
}

size_t relay_error(uint8_t *out, const struct relay_client *client, uint16_t rcode,
                   uint16_t edns_payload)
{
    wire_put16(out, client->id);
    wire_put16(out + 2,
               (uint16_t)(WIRE_FLAG_QR | WIRE_FLAG_RA |
                          (client->flags & (WIRE_FLAG_RD | WIRE_FLAG_CD)) | (rcode & 0xF)));
    size_t len = WIRE_HEADER_SIZE;
    memcpy(out + len, client->question, client->question_len);
    len += client->question_len;
    uint16_t additional = 0;
    if (client->has_edns) {
        len +=
            opt_write(out + len, edns_payload, opt_ttl_for(client, (uint32_t)(rcode >> 4) << 24));
        additional = 1;
    }
    header_counts(out, 0, 0, additional);
    return len;
}

bool relay_rebind_address(uint16_t type, const uint8_t *rdata, size_t rdlength)
{
    static const uint8_t mapped_prefix[12] = {[10] = 0xff, [11] = 0xff};
    const uint8_t *v4 = NULL;
    if (type == WIRE_TYPE_A && rdlength == 4) {
        v4 = rdata;
    } else if (type == WIRE_TYPE_AAAA && rdlength == 16) {
        if (memcmp(rdata, mapped_prefix, sizeof(mapped_prefix)) == 0) {
            v4 = rdata + 12; /* RFC 4291 §2.5.5.2: an IPv4 host's address */
        } else {
            bool zero_but_last = true;
            for (int i = 0; i < 15; i++)
                zero_but_last = zero_but_last && rdata[i] == 0;
            return (zero_but_last && rdata[15] <= 1) || /* :: and ::1 (RFC 4291 §2.5.2, §2.5.3) */
                   (rdata[0] & 0xFE) == 0xFC ||         /* fc00::/7, RFC 4193 */
                   (rdata[0] == 0xFE && (rdata[1] & 0xC0) == 0x80); /* fe80::/10 */
        }
    } else {
        return false;
    }
    return v4[0] == 0 ||                             /* 0/8, "this network" (RFC 1122) */
           v4[0] == 10 ||                            /* 10/8, RFC 1918 */
           (v4[0] == 100 && (v4[1] & 0xC0) == 64) || /* 100.64/10, RFC 6598 */
           v4[0] == 127 ||                           /* 127/8, loopback */
           (v4[0] == 169 && v4[1] == 254) ||         /* 169.254/16, RFC 3927 */
           (v4[0] == 172 && (v4[1] & 0xF0) == 16) || /* 172.16/12, RFC 1918 */
           (v4[0] == 192 && v4[1] == 168);           /* 192.168/16, RFC 1918 */
}

bool relay_rebind_found(const uint8_t *response, size_t len)
{
    struct layout l;
    if (layout_walk(response, len, &l, false) < 0)
        return false; /* cannot happen: relay_response_check walked it */
    size_t pos = l.question_end;
    for (unsigned i = 0; i < l.counts[0]; i++) {
        /* the owner: labels up to the root or a pointer (layout_walk saw them) */
        while (response[pos] != 0 && (response[pos] & 0xC0) == 0)
            pos += 1u + response[pos];
        pos += (response[pos] & 0xC0) == 0xC0 ? 2 : 1;
        uint16_t type = wire_get16(response + pos);
        size_t rdlength = wire_get16(response + pos + 8);
        pos += RR_FIXED;
        if (relay_rebind_address(type, response + pos, rdlength))
            return true;
        pos += rdlength;
    }
    return false;
}

bool relay_forward_zone_covers(const struct image *img, const uint8_t *name, size_t len)
{
    if (img->forward_zone_count == 0 || len == 0 || len > WIRE_NAME_MAX)
        return false;
    uint8_t starts[WIRE_LABELS_MAX + 1];
    uint32_t hashes[WIRE_LABELS_MAX + 1];
    unsigned labels = wire_name_labels(name, len, starts);
    image_name_suffix_hashes(name, len, starts, labels, hashes);
    return image_forward_zone_covers(img, name, len, starts, labels, hashes);
}

size_t relay_rebind_answer(uint8_t *out, const uint8_t *response, size_t len)
{
    size_t question_end = WIRE_HEADER_SIZE;
    size_t name_len;
    if (wire_name_parse(response, len, &question_end, NULL, &name_len) < 0 ||
        len - question_end < 4 || question_end + 4 > WIRE_HEADER_SIZE + WIRE_NAME_MAX + 4)
        return 0; /* cannot happen: relay_response_check parsed it */
    question_end += 4;
    memcpy(out, response, question_end);
    uint16_t flags = wire_get16(out + 2) & ~(WIRE_FLAG_AA | WIRE_FLAG_AD | WIRE_FLAG_TC | 0xF);
    wire_put16(out + 2, (uint16_t)(flags | WIRE_RCODE_NOERROR));
    header_counts(out, 0, 0, 0);
    return question_end;
}
