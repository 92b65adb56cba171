/* Answering from the zone image: RFC 1034 §4.3.2 over the original
 * NanoDNS data model, with RFC 2308 negative answers, RFC 6891 EDNS and
 * RFC 8482 minimal ANY, behind the access lists. All state lives on the
 * stack, in the response or in the caller's answer_info. */
#include "answer.h"

#include <string.h>

#include "relay.h"

#define UDP_PLAIN_LIMIT 512
#define OPT_RR_SIZE 11
#define CNAME_CHAIN_MAX 8
#define ADDITIONAL_TARGETS_MAX 16
#define POINTER_LIMIT 0x3FFF

struct response {
    uint8_t *buf;
    size_t len;
    size_t limit; /* room for RRs: the transport's size less a reserved OPT */
    struct wire_compressor compressor;
    uint16_t counts[3]; /* answer, authority, additional */
};

enum section { SECTION_ANSWER, SECTION_AUTHORITY, SECTION_ADDITIONAL };

/* A name as the lookup needs it: lowercase, with its labels and the hash
 * of every suffix. */
struct lookup_name {
    uint8_t name[WIRE_NAME_MAX];
    size_t len;
    unsigned labels;
    uint8_t starts[WIRE_LABELS_MAX];
    uint32_t hashes[WIRE_LABELS_MAX];
};

enum lookup_kind {
    LOOKUP_DATA,     /* node holds RRsets for the name (own or wildcard) */
    LOOKUP_EMPTY,    /* the name exists without data (empty non-terminal) */
    LOOKUP_NXDOMAIN, /* inside zone, no such name */
    LOOKUP_OUTSIDE   /* not ours */
};

struct lookup {
    enum lookup_kind kind;
    const struct image_node *node;
    bool wildcard;
    uint32_t zone; /* for the SOA of negative answers, or IMAGE_NONE */
};

static void lookup_name_init(struct lookup_name *ln, const uint8_t *lower, size_t len)
{
    memcpy(ln->name, lower, len);
    ln->len = len;
    ln->labels = wire_name_labels(ln->name, len, ln->starts);
    /* The root is the one suffix that has no label: give it a slot of its own. */
    ln->starts[ln->labels] = (uint8_t)(len - 1);
    image_name_suffix_hashes(ln->name, len, ln->starts, ln->labels + 1, ln->hashes);
}

static const struct image_node *find_suffix(const struct image *img, const struct lookup_name *ln,
                                            unsigned k)
{
    size_t start = ln->starts[k];
    return image_find_node(img, ln->name + start, ln->len - start, ln->hashes[k]);
}

/* Closest enclosing zone, from the closest existing ancestor at or above label k. */
static uint32_t zone_from(const struct image *img, const struct lookup_name *ln, unsigned k)
{
    for (; k <= ln->labels; k++) {
        const struct image_node *node = find_suffix(img, ln, k);
        if (node)
            return node->zone;
    }
    return IMAGE_NONE;
}

static void lookup(const struct image *img, const struct lookup_name *ln, struct lookup *out)
{
    const struct image_node *node = find_suffix(img, ln, 0);
    *out = (struct lookup){LOOKUP_OUTSIDE, NULL, false, IMAGE_NONE};
    if (node && node->rrset_count > 0) {
        *out = (struct lookup){LOOKUP_DATA, node, false, node->zone};
        return;
    }
    /* The original's wildcard: data on the parent flagged for one label below. */
    const struct image_node *parent = ln->labels > 0 ? find_suffix(img, ln, 1) : NULL;
    if (parent && parent->wildcard_count > 0) {
        *out = (struct lookup){LOOKUP_DATA, parent, true, parent->zone};
        return;
    }
    if (node) {
        *out = (struct lookup){LOOKUP_EMPTY, node, false, node->zone};
        return;
    }
    /* RFC 4592 §3.3.1: no such name. Its closest encloser is its longest
     * existing ancestor (an empty non-terminal counts); a "*" child of
     * that answers for it, else it is NXDOMAIN there. */
    unsigned k = 1;
    const struct image_node *encloser = parent;
    while (!encloser && k < ln->labels)
        encloser = find_suffix(img, ln, ++k);
    if (!encloser)
        return;
    size_t start = ln->starts[k];
    const struct image_node *star =
        image_find_wildcard(img, ln->name + start, ln->len - start, ln->hashes[k]);
    if (star)
        *out = (struct lookup){star->rrset_count > 0 ? LOOKUP_DATA : LOOKUP_EMPTY, star, false,
                               star->zone};
    else if (encloser->zone != IMAGE_NONE)
        *out = (struct lookup){LOOKUP_NXDOMAIN, NULL, false, encloser->zone};
}

static bool is_blocked(const struct image *img, const struct lookup_name *ln)
{
    return image_name_blocked(img, ln->name, ln->len, ln->starts, ln->labels, ln->hashes);
}

/* ---- writing records ---- */

/* An owner name: a place in the response that already holds it, or, when
 * that place cannot be pointed at, the name itself. */
struct owner {
    size_t offset;
    const uint8_t *name;
    size_t len;
};

static int write_owner(struct response *r, const struct owner *owner)
{
    if (owner->offset < POINTER_LIMIT) {
        if (r->len + 2 > r->limit)
            return -1;
        wire_put16(r->buf + r->len, (uint16_t)(0xC000 | owner->offset));
        r->len += 2;
        return 0;
    }
    return wire_name_write(r->buf, r->limit, &r->len, owner->name, owner->len, &r->compressor);
}

/* Write one RR; *name_at receives where the first name inside its RDATA
 * landed (for owners of later records). Returns -1 when it does not fit,
 * with the response unchanged. */
static int write_rr(struct response *r, const struct owner *owner, uint16_t type, uint32_t ttl,
                    const uint8_t *rdata, uint16_t rdlength, size_t *name_at)
{
    size_t start = r->len;
    unsigned saved_entries = r->compressor.count;
    if (write_owner(r, owner) < 0 || r->len + 10 > r->limit)
        goto full;
    uint8_t *fixed = r->buf + r->len;
    wire_put16(fixed, type);
    wire_put16(fixed + 2, WIRE_CLASS_IN);
    wire_put32(fixed + 4, ttl);
    r->len += 10;
    size_t rdata_start = r->len;
    struct wire_rdata_layout layout;
    bool has_names = wire_rdata_layout(type, &layout);
    size_t skip = 0; /* octets before the first compressible name */
    int names = 0;
    if (has_names && layout.compressible) {
        skip = layout.names_offset;
        names = layout.names_count;
    }
    if (r->len + skip > r->limit)
        goto full;
    memcpy(r->buf + r->len, rdata, skip);
    r->len += skip;
    size_t at = skip;
    for (int i = 0; i < names; i++) {
        size_t name_len = 0;
        while (rdata[at + name_len] != 0)
            name_len += 1u + rdata[at + name_len];
        name_len++;
        if (i == 0 && name_at)
            *name_at = r->len;
        if (wire_name_write(r->buf, r->limit, &r->len, rdata + at, name_len, &r->compressor) < 0)
            goto full;
        at += name_len;
    }
    if (name_at && has_names && !layout.compressible)
        *name_at = rdata_start + layout.names_offset; /* it stands uncompressed */
    if (r->len + (rdlength - at) > r->limit)
        goto full;
    memcpy(r->buf + r->len, rdata + at, rdlength - at);
    r->len += rdlength - at;
    wire_put16(fixed + 8, (uint16_t)(r->len - rdata_start));
    return 0;
full:
    r->len = start;
    r->compressor.count = saved_entries;
    return -1;
}

/* targets_at, when given, receives where the first ADDITIONAL_TARGETS_MAX
 * RRs' names landed. */
static int write_rrset(struct response *r, enum section section, const struct image *img,
                       const struct image_rrset *rrset, const struct owner *owner,
                       size_t *targets_at)
{
    uint32_t pos = rrset->rdata_offset;
    for (uint16_t i = 0; i < rrset->rr_count; i++) {
        uint16_t rdlength;
        const uint8_t *rdata = image_rr_next(img, &pos, &rdlength);
        size_t *name_at = targets_at && i < ADDITIONAL_TARGETS_MAX ? &targets_at[i] : NULL;
        if (write_rr(r, owner, rrset->type, rrset->ttl, rdata, rdlength, name_at) < 0)
            return -1;
        r->counts[section]++;
    }
    return 0;
}

/* RFC 2308 §3: the zone's SOA in authority, TTL = min(SOA TTL, minimum). */
static int write_negative_soa(struct response *r, const struct image *img, uint32_t zone)
{
    if (zone == IMAGE_NONE)
        return 0;
    const struct image_zone *z = &img->zones[zone];
    const struct image_node *apex = &img->nodes[z->apex_node];
    const struct image_rrset *soa = &img->rrsets[z->soa_rrset];
    struct owner owner = {SIZE_MAX, image_node_name(img, apex), apex->name_len};
    uint32_t pos = soa->rdata_offset;
    uint16_t rdlength;
    const uint8_t *rdata = image_rr_next(img, &pos, &rdlength);
    if (write_rr(r, &owner, WIRE_TYPE_SOA, z->negative_ttl, rdata, rdlength, NULL) < 0)
        return -1;
    r->counts[SECTION_AUTHORITY]++;
    return 0;
}

/* Additional section: our A and AAAA for the targets of MX, NS and SRV
 * records just written (targets_at: where each target stands in the
 * response). Optional data: what does not fit is left out. */
static void write_additional(struct response *r, const struct image *img,
                             const struct image_rrset *rrset, const size_t *targets_at)
{
    const struct image_node *done[ADDITIONAL_TARGETS_MAX];
    unsigned done_count = 0;
    struct wire_rdata_layout layout;
    if (!wire_rdata_layout(rrset->type, &layout))
        return;
    size_t skip = layout.names_offset;
    uint32_t pos = rrset->rdata_offset;
    for (uint16_t i = 0; i < rrset->rr_count && i < ADDITIONAL_TARGETS_MAX; i++) {
        uint16_t rdlength;
        const uint8_t *rdata = image_rr_next(img, &pos, &rdlength);
        struct lookup_name ln;
        uint8_t lower[WIRE_NAME_MAX];
        size_t len = rdlength - skip;
        memcpy(lower, rdata + skip, len);
        wire_name_lower(lower, len);
        lookup_name_init(&ln, lower, len);
        const struct image_node *node = find_suffix(img, &ln, 0);
        if (!node || node->rrset_count == 0)
            continue;
        bool seen = false;
        for (unsigned k = 0; k < done_count; k++)
            seen |= done[k] == node;
        if (seen)
            continue;
        done[done_count++] = node;
        struct owner owner = {targets_at[i], rdata + skip, len};
        static const uint16_t types[2] = {WIRE_TYPE_A, WIRE_TYPE_AAAA};
        for (int t = 0; t < 2; t++) {
            const struct image_rrset *addr = image_node_rrset(img, node, types[t], false);
            size_t len_before = r->len;
            uint16_t count_before = r->counts[SECTION_ADDITIONAL];
            unsigned entries_before = r->compressor.count;
            if (addr && write_rrset(r, SECTION_ADDITIONAL, img, addr, &owner, NULL) < 0) {
                /* never half an RRset */
                r->len = len_before;
                r->counts[SECTION_ADDITIONAL] = count_before;
                r->compressor.count = entries_before;
                return;
            }
        }
    }
}

/* ---- the response ---- */

static void header_finish(uint8_t *buf, uint16_t flags, const uint16_t counts[3], uint16_t qdcount)
{
    wire_put16(buf + 2, flags);
    wire_put16(buf + 4, qdcount);
    wire_put16(buf + 6, counts[0]);
    wire_put16(buf + 8, counts[1]);
    wire_put16(buf + 10, counts[2]);
}

/* The OPT of a response to q, which sent one: version 0, and the query's
 * DO bit copied (RFC 3225 §3), though we sign nothing. */
static size_t append_opt(uint8_t *buf, size_t len, uint16_t payload, uint8_t extended_rcode,
                         const struct wire_query *q)
{
    uint8_t *p = buf + len;
    p[0] = 0; /* root owner */
    wire_put16(p + 1, WIRE_TYPE_OPT);
    wire_put16(p + 3, payload);
    wire_put32(p + 5, ((uint32_t)extended_rcode << 24) | (q->edns_do ? WIRE_EDNS_DO : 0u));
    wire_put16(p + 9, 0);
    return len + OPT_RR_SIZE;
}

/* An error response: header (and question, when it is sound) only. */
static size_t answer_error(const struct image *img, const uint8_t *packet, uint8_t *response,
                           uint16_t rcode, bool echo_question, struct answer_info *info)
{
    const struct wire_query *q = &info->query;
    uint16_t counts[3] = {0, 0, 0};
    size_t len = WIRE_HEADER_SIZE;
    wire_put16(response, q->id);
    if (echo_question) {
        memcpy(response + len, packet + WIRE_HEADER_SIZE, q->question_end - WIRE_HEADER_SIZE);
        len = q->question_end;
    }
    uint16_t flags =
        WIRE_FLAG_QR | (q->flags & (0x7800 | WIRE_FLAG_RD | WIRE_FLAG_CD)) | (rcode & 0xF);
    if (info->recursion)
        flags |= WIRE_FLAG_RA;
    if (q->has_edns && echo_question) {
        len = append_opt(response, len, (uint16_t)img->settings->edns_payload,
                         (uint8_t)(rcode >> 4), q);
        counts[2] = 1;
    }
    header_finish(response, flags, counts, echo_question ? 1 : 0);
    info->rcode = rcode;
    info->source = ANSWER_SOURCE_ERROR;
    return len;
}

/* Is there an upstream for this name: a forward zone above it, or the
 * default upstreams? */
static bool forwardable(const struct image *img, const struct wire_query *q)
{
    const struct image_upstream *first;
    return relay_servers(img, q->qname_lower, q->qname_len, &first) > 0;
}

/* What an answer says besides its records. */
struct outcome {
    uint16_t rcode;
    enum answer_source source;
    bool authoritative;
    bool cname_out; /* the chain left our data (answer_info.cname_out) */
};

/* The transport's size limit: 512, or the EDNS size the client offered
 * capped by ours, over UDP (RFC 6891 §6.2.5); 65535 over TCP. */
static size_t size_limit(const struct image *img, const struct wire_query *q,
                         enum answer_transport transport)
{
    if (transport != ANSWER_UDP)
        return 65535;
    if (!q->has_edns)
        return UDP_PLAIN_LIMIT;
    size_t offered = q->edns_payload < img->settings->edns_payload ? q->edns_payload
                                                                   : img->settings->edns_payload;
    return offered > UDP_PLAIN_LIMIT ? offered : UDP_PLAIN_LIMIT;
}

/* The header's ID and the question as the client sent it (its case
 * echoed), which later names compress against. */
static void response_start(struct response *r, const uint8_t *packet, const struct wire_query *q)
{
    wire_put16(r->buf, q->id);
    memcpy(r->buf + WIRE_HEADER_SIZE, packet + WIRE_HEADER_SIZE,
           q->question_end - WIRE_HEADER_SIZE);
    wire_compressor_init(&r->compressor);
    wire_compressor_add(&r->compressor, r->buf, WIRE_HEADER_SIZE);
}

/* A name a rewrite rule or a list blocks, as server.block_response says:
 * NXDOMAIN with the SOA of the zone it falls in (authoritative then), if
 * any; REFUSED; or "null": A 0.0.0.0 / AAAA :: and NODATA for any other
 * type, as AdGuard Home answers. */
static int write_blocked(struct response *r, const struct image *img, const struct lookup_name *ln,
                         const uint8_t *packet, const struct wire_query *q, struct outcome *o)
{
    if (img->settings->block_response == IMAGE_BLOCK_REFUSED) {
        *o = (struct outcome){WIRE_RCODE_REFUSED, ANSWER_SOURCE_BLOCKED, false, false};
        return 0;
    }
    if (img->settings->block_response == IMAGE_BLOCK_NULL) {
        static const uint8_t unspecified[16];
        *o = (struct outcome){WIRE_RCODE_NOERROR, ANSWER_SOURCE_BLOCKED, false, false};
        struct owner owner = {WIRE_HEADER_SIZE, packet + WIRE_HEADER_SIZE, q->qname_len};
        if (q->qtype != WIRE_TYPE_A && q->qtype != WIRE_TYPE_AAAA)
            return 0;
        if (write_rr(r, &owner, q->qtype, IMAGE_BLOCK_NULL_TTL, unspecified,
                     q->qtype == WIRE_TYPE_A ? 4 : 16, NULL) < 0)
            return -1;
        r->counts[SECTION_ANSWER]++;
        return 0;
    }
    uint32_t zone = zone_from(img, ln, 0);
    *o = (struct outcome){WIRE_RCODE_NXDOMAIN, ANSWER_SOURCE_BLOCKED, zone != IMAGE_NONE, false};
    return write_negative_soa(r, img, zone);
}

/* RFC 8482 §4.1: ANY gets the node's RRsets; over UDP one RRset stands
 * for all of them. */
static int write_any(struct response *r, const struct image *img, const struct lookup *found,
                     enum answer_transport transport, const struct owner *owner)
{
    const struct image_node *node = found->node;
    uint32_t first = node->rrset_first + (found->wildcard ? node->rrset_count : 0);
    uint32_t count = found->wildcard ? node->wildcard_count : node->rrset_count;
    if (transport == ANSWER_UDP && count > 1)
        count = 1;
    int rc = 0;
    for (uint32_t i = 0; i < count && rc == 0; i++)
        rc = write_rrset(r, SECTION_ANSWER, img, &img->rrsets[first + i], owner, NULL);
    return rc;
}

/* The RRset asked for, and for MX, NS and SRV our addresses of their
 * targets in the additional section. */
static int write_answer_rrset(struct response *r, const struct image *img,
                              const struct image_rrset *rrset, const struct owner *owner)
{
    size_t targets_at[ADDITIONAL_TARGETS_MAX];
    int rc = write_rrset(r, SECTION_ANSWER, img, rrset, owner, targets_at);
    if (rc == 0 && (rrset->type == WIRE_TYPE_MX || rrset->type == WIRE_TYPE_NS ||
                    rrset->type == WIRE_TYPE_SRV))
        write_additional(r, img, rrset, targets_at);
    return rc;
}

/* RFC 1034 §4.3.2 step 3a: the CNAME, then its target is the name looked
 * up: *owner (its text kept in owner_copy) and *ln become the target's. */
static int write_cname(struct response *r, const struct image *img, const struct image_rrset *cname,
                       struct owner *owner, uint8_t owner_copy[WIRE_NAME_MAX],
                       struct lookup_name *ln)
{
    uint32_t pos = cname->rdata_offset;
    uint16_t rdlength;
    const uint8_t *target = image_rr_next(img, &pos, &rdlength);
    size_t target_at = SIZE_MAX;
    if (write_rr(r, owner, WIRE_TYPE_CNAME, cname->ttl, target, rdlength, &target_at) < 0)
        return -1;
    r->counts[SECTION_ANSWER]++;
    memcpy(owner_copy, target, rdlength);
    *owner = (struct owner){target_at, owner_copy, rdlength};
    uint8_t lower[WIRE_NAME_MAX];
    memcpy(lower, target, rdlength);
    wire_name_lower(lower, rdlength);
    lookup_name_init(ln, lower, rdlength);
    return 0;
}

/* Our data for the question, from its lookup (found): the RRset, or a
 * negative answer with the zone's SOA, following CNAMEs within our data
 * (CNAME_CHAIN_MAX links, each name once). A name that is not ours at all
 * is REFUSED. Returns -1 when what must be there does not fit. */
static int write_records(struct response *r, const struct image *img, const uint8_t *packet,
                         const struct wire_query *q, enum answer_transport transport,
                         struct lookup_name *ln, struct lookup *found, struct outcome *o)
{
    struct owner owner = {WIRE_HEADER_SIZE, packet + WIRE_HEADER_SIZE, q->qname_len};
    uint8_t owner_copy[WIRE_NAME_MAX];
    const struct image_node *visited[CNAME_CHAIN_MAX + 1];
    for (int link = 0; link <= CNAME_CHAIN_MAX; link++) {
        if (link > 0)
            lookup(img, ln, found);
        if (found->kind == LOOKUP_OUTSIDE) {
            /* A CNAME out of our data ends the chain here; query.c may
             * chase its target through forwarding. */
            if (link == 0)
                *o = (struct outcome){WIRE_RCODE_REFUSED, ANSWER_SOURCE_REFUSED, false, false};
            else
                o->cname_out = true;
            return 0;
        }
        if (found->kind != LOOKUP_DATA) {
            if (found->kind == LOOKUP_NXDOMAIN)
                o->rcode = WIRE_RCODE_NXDOMAIN;
            return write_negative_soa(r, img, found->zone);
        }
        const struct image_node *node = found->node;
        for (int i = 0; i < link; i++)
            if (visited[i] == node)
                return 0; /* a CNAME loop: each name once is enough */
        visited[link] = node;
        if (q->qtype == WIRE_TYPE_ANY)
            return write_any(r, img, found, transport, &owner);
        const struct image_rrset *rrset = image_node_rrset(img, node, q->qtype, found->wildcard);
        if (rrset)
            return write_answer_rrset(r, img, rrset, &owner);
        const struct image_rrset *cname =
            image_node_rrset(img, node, WIRE_TYPE_CNAME, found->wildcard);
        if (!cname)
            return write_negative_soa(r, img, found->zone);
        if (link == CNAME_CHAIN_MAX)
            return 0;
        if (write_cname(r, img, cname, &owner, owner_copy, ln) < 0)
            return -1;
    }
    return 0;
}

/* Flags, counts and OPT around what was written (rc < 0: it did not fit,
 * RFC 2181 §9: say so with TC=1 and send nothing partial). Returns the
 * response's length. */
static size_t response_finish(struct response *r, const struct image *img,
                              const struct wire_query *q, const struct outcome *o, int rc,
                              struct answer_info *info)
{
    bool truncated = rc < 0;
    if (truncated) {
        r->len = q->question_end;
        memset(r->counts, 0, sizeof r->counts);
    }
    uint16_t flags = WIRE_FLAG_QR | (q->flags & (WIRE_FLAG_RD | WIRE_FLAG_CD)) | o->rcode;
    if (o->authoritative)
        flags |= WIRE_FLAG_AA;
    if (truncated)
        flags |= WIRE_FLAG_TC;
    if (info->recursion)
        flags |= WIRE_FLAG_RA;
    if (q->has_edns) {
        r->len = append_opt(r->buf, r->len, (uint16_t)img->settings->edns_payload, 0, q);
        r->counts[SECTION_ADDITIONAL]++;
    }
    header_finish(r->buf, flags, r->counts, 1);
    info->rcode = o->rcode;
    info->source = o->source;
    info->truncated = truncated;
    info->cname_out = o->cname_out && !truncated;
    return r->len;
}

/* Is the name at or below a server.forward_zones entry? */
static bool forward_zone_covers(const struct image *img, const struct lookup_name *ln)
{
    return image_forward_zone_covers(img, ln->name, ln->len, ln->starts, ln->labels, ln->hashes);
}

/* A name of one label as server.search_domain expands it ("printer" →
 * "printer.internal.lan"); false without a search domain or when the
 * result would be too long a name. */
static bool search_domain_expand(const struct image *img, const struct lookup_name *ln,
                                 struct lookup_name *out)
{
    size_t suffix_len = img->settings->search_domain_len;
    if (suffix_len == 0 || ln->len - 1 + suffix_len > WIRE_NAME_MAX)
        return false;
    uint8_t name[WIRE_NAME_MAX];
    memcpy(name, ln->name, ln->len - 1); /* the label, without the root */
    memcpy(name + ln->len - 1, img->names + img->settings->search_domain_offset, suffix_len);
    lookup_name_init(out, name, ln->len - 1 + suffix_len);
    return true;
}

/* How a name answer_from_image looked up is answered: from our data (or
 * a locally served zone's), forwarded, or NXDOMAIN as a name of one label
 * that is never forwarded. */
enum route { ROUTE_RECORDS, ROUTE_FORWARD, ROUTE_SINGLE_LABEL_NXDOMAIN };

/* DESIGN.md's order past the rewrite rules: our zones and records
 * (automatic PTRs among them), server.search_domain for a bare name, the
 * locally served zones, forwarding. *ln and *found may become the
 * search domain's name and its lookup. */
static enum route route_name(const struct image *img, const struct answer_info *info,
                             struct lookup_name *ln, struct lookup *found)
{
    if (found->kind == LOOKUP_OUTSIDE && ln->labels == 1) {
        /* dnsmasq's expand-hosts: the data of printer.<search_domain>
         * answers "printer", under the name asked. */
        struct lookup_name expanded;
        struct lookup expanded_found;
        if (search_domain_expand(img, ln, &expanded)) {
            lookup(img, &expanded, &expanded_found);
            if (expanded_found.kind == LOOKUP_DATA || expanded_found.kind == LOOKUP_EMPTY) {
                *ln = expanded;
                *found = expanded_found;
                return ROUTE_RECORDS;
            }
        }
        /* dnsmasq's domain-needed: a bare name means nothing upstream;
         * only a forward zone naming it explicitly gets it. */
        if (img->settings->domain_needed && !forward_zone_covers(img, ln))
            return ROUTE_SINGLE_LABEL_NXDOMAIN;
    }
    bool local_zone =
        found->zone != IMAGE_NONE && (img->zones[found->zone].flags & IMAGE_ZONE_LOCAL) != 0;
    if (local_zone) {
        /* RFC 6303 zones are answered here, except where a forward zone
         * below their apex sends names to a server that knows them (an
         * internal reverse DNS server); what we hold ourselves wins. */
        bool our_data =
            found->kind == LOOKUP_DATA && (found->node->flags & IMAGE_NODE_SYNTHESIZED) == 0;
        if (!our_data && info->recursion && forward_zone_covers(img, ln))
            return ROUTE_FORWARD;
        return ROUTE_RECORDS;
    }
    /* Not ours; names inside our zones never get here. */
    if (found->kind == LOOKUP_OUTSIDE && info->recursion && forwardable(img, &info->query))
        return ROUTE_FORWARD;
    return ROUTE_RECORDS;
}

/* A well-formed query from a client allowed to ask: blocked, ours,
 * forwarded (nothing written, source ANSWER_SOURCE_FORWARD) or refused. */
static size_t answer_from_image(const struct image *img, const uint8_t *packet,
                                enum answer_transport transport, uint8_t *response,
                                struct answer_info *info)
{
    const struct wire_query *q = &info->query;
    struct response r = {.buf = response,
                         .len = q->question_end,
                         .limit = size_limit(img, q, transport) - (q->has_edns ? OPT_RR_SIZE : 0)};
    struct outcome o = {WIRE_RCODE_NOERROR, ANSWER_SOURCE_LOCAL, true, false};
    struct lookup_name ln;
    lookup_name_init(&ln, q->qname_lower, q->qname_len);

    if (is_blocked(img, &ln)) {
        response_start(&r, packet, q);
        int rc = write_blocked(&r, img, &ln, packet, q, &o);
        return response_finish(&r, img, q, &o, rc, info);
    }
    struct lookup found;
    lookup(img, &ln, &found);
    switch (route_name(img, info, &ln, &found)) {
    case ROUTE_FORWARD:
        info->rcode = WIRE_RCODE_NOERROR;
        info->source = ANSWER_SOURCE_FORWARD;
        return 0;
    case ROUTE_SINGLE_LABEL_NXDOMAIN:
        /* No zone of ours holds it: no SOA to show, not authoritative. */
        response_start(&r, packet, q);
        o = (struct outcome){WIRE_RCODE_NXDOMAIN, ANSWER_SOURCE_LOCAL, false, false};
        return response_finish(&r, img, q, &o, 0, info);
    case ROUTE_RECORDS:
        break;
    }
    /* An automatic PTR outside every zone we serve (locally served ones
     * included) is answered as dnsmasq answers from its hosts file, but
     * without claiming authority for a zone we do not hold. */
    if (found.kind == LOOKUP_DATA && found.zone == IMAGE_NONE &&
        (found.node->flags & IMAGE_NODE_AUTO_PTR) != 0)
        o.authoritative = false;
    response_start(&r, packet, q);
    int rc = write_records(&r, img, packet, q, transport, &ln, &found, &o);
    return response_finish(&r, img, q, &o, rc, info);
}

enum answer_action answer_query(const struct image *img, const uint8_t *packet, size_t len,
                                const struct sockaddr *client, enum answer_transport transport,
                                uint8_t *response, size_t *response_len, struct answer_info *info)
{
    struct wire_query *q = &info->query;
    q->question_end = 0;
    q->qname_len = 0;
    q->qtype = 0;
    enum wire_verdict verdict = wire_parse_query(packet, len, q);
    /* A question whose name uses a pointer cannot be echoed byte for byte. */
    bool question_sound = q->question_end == (size_t)WIRE_HEADER_SIZE + q->qname_len + 4;
    info->question = q->question_end != 0 && q->qname_len > 0;
    info->qtype = info->question ? q->qtype : 0;
    info->rcode = WIRE_RCODE_NOERROR;
    info->source = ANSWER_SOURCE_ERROR;
    info->truncated = 0;
    info->recursion = false;
    info->cname_out = false;
    *response_len = 0;
    if (verdict == WIRE_QUERY_DROP)
        return ANSWER_DROP;

    /* allow_query before anything else: a client outside it gets REFUSED
     * for every query, our own data included. */
    if (client != NULL && !image_query_allowed(img, client)) {
        *response_len = answer_error(img, packet, response, WIRE_RCODE_REFUSED,
                                     verdict == WIRE_QUERY_OK && question_sound, info);
        info->source = ANSWER_SOURCE_REFUSED;
        return ANSWER_SEND;
    }
    /* RA=1 in every answer to a client that may recurse, once forwarding
     * is configured at all. */
    info->recursion =
        client != NULL && img->upstream_total > 0 && image_recursion_allowed(img, client);

    switch (verdict) {
    case WIRE_QUERY_DROP:
        return ANSWER_DROP;
    case WIRE_QUERY_FORMERR:
        *response_len = answer_error(img, packet, response, WIRE_RCODE_FORMERR, false, info);
        return ANSWER_SEND;
    case WIRE_QUERY_NOTIMP:
        *response_len = answer_error(img, packet, response, WIRE_RCODE_NOTIMP, false, info);
        return ANSWER_SEND;
    case WIRE_QUERY_BADVERS:
        *response_len =
            answer_error(img, packet, response, WIRE_RCODE_BADVERS, question_sound, info);
        return ANSWER_SEND;
    case WIRE_QUERY_OK:
        break;
    }
    if (!question_sound || q->qtype == WIRE_TYPE_OPT) {
        *response_len = answer_error(img, packet, response, WIRE_RCODE_FORMERR, false, info);
        return ANSWER_SEND;
    }
    if (q->qclass != WIRE_CLASS_IN || q->qtype == WIRE_TYPE_AXFR || q->qtype == WIRE_TYPE_IXFR) {
        *response_len = answer_error(img, packet, response, WIRE_RCODE_REFUSED, true, info);
        return ANSWER_SEND;
    }
    *response_len = answer_from_image(img, packet, transport, response, info);
    return info->source == ANSWER_SOURCE_FORWARD ? ANSWER_FORWARD : ANSWER_SEND;
}

size_t answer_refused(const struct image *img, const uint8_t *packet, uint8_t *response,
                      struct answer_info *info)
{
    size_t len = answer_error(img, packet, response, WIRE_RCODE_REFUSED, true, info);
    info->source = ANSWER_SOURCE_REFUSED;
    return len;
}
