/* DNS wire format: names, header fields, query parsing and name compression.
 * Pure functions over caller-owned buffers; nothing here allocates or keeps state. */
#ifndef NANODNS_WIRE_H
#define NANODNS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_HEADER_SIZE 12
#define WIRE_NAME_MAX 255 /* octets of a name in wire form, root label included */
#define WIRE_LABEL_MAX 63
#define WIRE_LABELS_MAX 128 /* 255 octets hold at most 127 labels plus the root */

/* Header flag bits (second 16-bit word of the header). */
#define WIRE_FLAG_QR 0x8000
#define WIRE_FLAG_AA 0x0400
#define WIRE_FLAG_TC 0x0200
#define WIRE_FLAG_RD 0x0100
#define WIRE_FLAG_RA 0x0080
#define WIRE_FLAG_AD 0x0020
#define WIRE_FLAG_CD 0x0010
#define WIRE_OPCODE(flags) (((flags) >> 11) & 0xF)

#define WIRE_RCODE_NOERROR 0
#define WIRE_RCODE_FORMERR 1
#define WIRE_RCODE_SERVFAIL 2
#define WIRE_RCODE_NXDOMAIN 3
#define WIRE_RCODE_NOTIMP 4
#define WIRE_RCODE_REFUSED 5
#define WIRE_RCODE_BADVERS 16 /* extended: upper 8 bits travel in the OPT TTL */

#define WIRE_CLASS_IN 1
#define WIRE_TYPE_A 1
#define WIRE_TYPE_NS 2
#define WIRE_TYPE_CNAME 5
#define WIRE_TYPE_SOA 6
#define WIRE_TYPE_PTR 12
#define WIRE_TYPE_MX 15
#define WIRE_TYPE_TXT 16
#define WIRE_TYPE_AAAA 28
#define WIRE_TYPE_SRV 33
#define WIRE_TYPE_OPT 41
#define WIRE_TYPE_IXFR 251
#define WIRE_TYPE_AXFR 252
#define WIRE_TYPE_ANY 255
#define WIRE_TYPE_CAA 257

#define WIRE_EDNS_DO 0x8000 /* DNSSEC OK bit in the OPT TTL's low 16 bits */

/* Result of wire_parse_query: what the server must do with the packet. */
enum wire_verdict {
    WIRE_QUERY_OK = 0, /* a well-formed standard query: answer it */
    WIRE_QUERY_DROP,   /* not a query at all (too short, QR=1): send nothing */
    WIRE_QUERY_FORMERR,
    WIRE_QUERY_NOTIMP, /* opcode other than QUERY */
    WIRE_QUERY_BADVERS /* EDNS version above 0 */
};

/* A parsed query. qname_lower is a copy (lowercased, uncompressed); the
 * question as sent is packet[WIRE_HEADER_SIZE .. question_end). */
struct wire_query {
    uint16_t id;
    uint16_t flags;
    uint16_t qtype;
    uint16_t qclass;
    uint8_t qname_lower[WIRE_NAME_MAX];
    uint8_t qname_len;   /* octets in qname_lower, root label included */
    size_t question_end; /* offset just past QCLASS */
    bool has_edns;
    uint8_t edns_version;
    bool edns_do;
    uint16_t edns_payload; /* requestor's UDP payload size, as sent */
};

static inline uint16_t wire_get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t wire_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void wire_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void wire_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint8_t wire_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* Parse a query packet (RFC 1035 §4.1, EDNS per RFC 6891 §6.1.1). On
 * WIRE_QUERY_OK every field of q is set. On FORMERR/NOTIMP/BADVERS the
 * fields that could be read are set (id and flags always; the question and
 * EDNS fields when they parsed), so the caller can echo what it can.
 * Rules: fewer than 12 octets or QR=1 → DROP; QDCOUNT != 1, a bad name,
 * a truncated record, more than one OPT, an OPT not owned by the root, or
 * octets after the last record → FORMERR. Records in the answer and
 * authority sections are skipped. */
enum wire_verdict wire_parse_query(const uint8_t *packet, size_t len, struct wire_query *q);

/* Read a possibly compressed name at *offset in packet, write it
 * uncompressed to out (case kept) and set *out_len (root label included).
 * *offset moves past the name as it stands at that place (a pointer counts
 * two octets). Pointers must point strictly backwards; loops, pointers out
 * of bounds, labels over 63 octets, names over 255 octets and the reserved
 * label types 0x40/0x80 are errors. Returns 0, or -1 on a bad name. */
int wire_name_parse(const uint8_t *packet, size_t len, size_t *offset, uint8_t *out,
                    size_t *out_len);

/* Check that name[0..len) is one uncompressed wire-form name ending exactly
 * at len with its root label. */
bool wire_name_valid(const uint8_t *name, size_t len);

/* Convert presentation form ("www.Example.lan", trailing dot optional, "."
 * for the root) to wire form, keeping case. Labels 1..63 octets, the name at
 * most 255 octets in wire form; any printable ASCII other than '.' and
 * space is accepted in a label (underscores included), and "\." / "\DDD"
 * escapes are understood. Returns 0, or -1 with a reason in err. */
int wire_name_from_text(const char *text, uint8_t *out, size_t *out_len, char *err, size_t err_len);

/* Write a wire-form name as text without the trailing dot ("." for the
 * root), escaping '.', '\\' and non-printable octets as RFC 1035 does.
 * Returns the text length, or -1 when it does not fit in cap. */
int wire_name_to_text(const uint8_t *name, size_t len, char *out, size_t cap);

/* Lowercase an uncompressed wire-form name in place (ASCII only). */
void wire_name_lower(uint8_t *name, size_t len);

/* Case-insensitive equality of two uncompressed wire-form names. */
bool wire_name_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);

/* Offsets of each label of an uncompressed name: starts[0] = 0, ... The
 * root label is not counted. Returns the number of labels. */
unsigned wire_name_labels(const uint8_t *name, size_t len, uint8_t *starts);

/* Where domain names stand in a type's RDATA: names_offset octets, then
 * names_count uncompressed names in a row, then fixed_after octets. Only the
 * well-known types of RFC 3597 §4 may have them compressed (SRV may not,
 * RFC 2782). */
struct wire_rdata_layout {
    uint8_t names_offset;
    uint8_t names_count;
    uint8_t fixed_after;
    bool compressible;
};

/* Fill layout for a type whose RDATA holds names (CNAME, NS, PTR, MX, SOA,
 * SRV); false for any other type. */
bool wire_rdata_layout(uint16_t type, struct wire_rdata_layout *layout);

/* Name compression for a response being written (RFC 1035 §4.1.4). It
 * remembers where earlier names' labels stand in the packet (at most
 * WIRE_COMPRESS_MAX of them; beyond that names are written whole). */
#define WIRE_COMPRESS_MAX 64
struct wire_compressor {
    uint16_t offsets[WIRE_COMPRESS_MAX];
    unsigned count;
};

void wire_compressor_init(struct wire_compressor *c);

/* Remember the labels of an uncompressed name already written at offset. */
void wire_compressor_add(struct wire_compressor *c, const uint8_t *packet, size_t offset);

/* Write name (uncompressed wire form) at packet+*pos, pointing at the
 * longest suffix already in the packet (compared case-insensitively), and
 * remember its new labels. Returns 0, or -1 when it does not fit in cap
 * (then *pos is unchanged). */
int wire_name_write(uint8_t *packet, size_t cap, size_t *pos, const uint8_t *name, size_t name_len,
                    struct wire_compressor *c);

#endif
