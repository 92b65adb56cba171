/* DNS wire format: names, query parsing and name compression (RFC 1035 §3.1,
 * §4.1, RFC 6891). Pure functions over caller-owned buffers, see wire.h. */
#include "wire.h"

#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define WIRE_POINTER_MAX 0x3FFF /* RFC 1035 §4.1.4: a pointer holds a 14-bit offset */
#define WIRE_RR_FIXED 10        /* TYPE, CLASS, TTL, RDLENGTH after an owner name */

/* One walk over a possibly compressed name behind wire_name_parse and the
 * record skipping of wire_parse_query; out == NULL only validates.
 * Termination does not rest on the 255-octet limit alone: a pointer must
 * land before the start of the run of labels that led to it, so run starts
 * strictly decrease (a target inside the run would loop back to the same
 * pointer anyway), and the number of jumps is capped so a chain of
 * pointer-to-pointer cannot make one name cost more than a few hundred steps
 * on the query path. */
static int name_walk(const uint8_t *packet, size_t len, size_t *offset, uint8_t *out,
                     size_t *out_len)
{
    size_t pos = *offset;
    size_t run_start = pos;
    size_t end = 0; /* where the name stops at its original place */
    unsigned jumps = 0;
    size_t n = 0;

    for (;;) {
        if (pos >= len)
            return -1;
        uint8_t c = packet[pos];
        if (c == 0)
            break;
        switch (c & 0xC0) {
        case 0x00:
            /* the label and the root label after it must fit in 255 octets */
            if (c > len - pos - 1 || n + 1 + c + 1 > WIRE_NAME_MAX)
                return -1;
            if (out)
                memcpy(out + n, packet + pos, 1 + (size_t)c);
            n += 1 + (size_t)c;
            pos += 1 + (size_t)c;
            break;
        case 0xC0: {
            if (len - pos < 2)
                return -1;
            size_t target = ((size_t)(c & 0x3F) << 8) | packet[pos + 1];
            if (target >= run_start || ++jumps > WIRE_LABELS_MAX)
                return -1;
            if (jumps == 1)
                end = pos + 2;
            pos = run_start = target;
            break;
        }
        default:
            /* 0x40 (extended, RFC 6891 §5) and 0x80 are reserved label types */
            return -1;
        }
    }
    if (out)
        out[n] = 0;
    *out_len = n + 1;
    *offset = jumps ? end : pos + 1;
    return 0;
}

int wire_name_parse(const uint8_t *packet, size_t len, size_t *offset, uint8_t *out,
                    size_t *out_len)
{
    return name_walk(packet, len, offset, out, out_len);
}

bool wire_name_valid(const uint8_t *name, size_t len)
{
    if (len == 0 || len > WIRE_NAME_MAX)
        return false;
    size_t pos = 0;
    while (pos < len) {
        uint8_t c = name[pos];
        if (c == 0)
            return pos + 1 == len;
        if (c > WIRE_LABEL_MAX)
            return false;
        pos += 1 + (size_t)c;
    }
    return false;
}

/* Skip the name at *pos, then check the fixed part of a record fits. */
static int record_skip_name(const uint8_t *packet, size_t len, size_t *pos)
{
    size_t name_len;
    if (name_walk(packet, len, pos, NULL, &name_len) < 0)
        return -1;
    return len - *pos < WIRE_RR_FIXED ? -1 : 0;
}

/* The body of wire_parse_query once the header is known to be a query:
 * questions, then every record, filling q as parts parse. Returns -1 on
 * anything malformed; the verdict is the caller's. */
static int query_parse_sections(const uint8_t *packet, size_t len, struct wire_query *q,
                                unsigned qdcount, unsigned skipped, unsigned arcount)
{
    size_t pos = WIRE_HEADER_SIZE;

    for (unsigned i = 0; i < qdcount; i++) {
        size_t start = pos;
        size_t name_len;
        /* Only a single question is ever answered; others are walked so
         * that an OPT behind them can still be echoed in the FORMERR. */
        uint8_t *out = qdcount == 1 ? q->qname_lower : NULL;
        if (name_walk(packet, len, &pos, out, &name_len) < 0)
            return -1;
        /* The question is echoed as sent and later names point into it, so
         * it must be uncompressed: in the first name a pointer could only
         * reach into the header anyway. */
        if (pos - start != name_len || len - pos < 4)
            return -1;
        if (qdcount == 1) {
            q->qtype = wire_get16(packet + pos);
            q->qclass = wire_get16(packet + pos + 2);
            q->qname_len = (uint8_t)name_len;
            wire_name_lower(q->qname_lower, name_len);
            q->question_end = pos + 4;
        }
        pos += 4;
    }

    /* Answer and authority records mean nothing in a query: skip them. */
    for (unsigned i = 0; i < skipped; i++) {
        if (record_skip_name(packet, len, &pos) < 0)
            return -1;
        size_t rdlength = wire_get16(packet + pos + 8);
        pos += WIRE_RR_FIXED;
        if (rdlength > len - pos)
            return -1;
        pos += rdlength;
    }

    bool seen_opt = false;
    for (unsigned i = 0; i < arcount; i++) {
        size_t owner = pos;
        if (record_skip_name(packet, len, &pos) < 0)
            return -1;
        const uint8_t *rr = packet + pos;
        size_t rdlength = wire_get16(rr + 8);
        pos += WIRE_RR_FIXED;
        if (rdlength > len - pos)
            return -1;
        pos += rdlength;
        if (wire_get16(rr) != WIRE_TYPE_OPT)
            continue;
        /* RFC 6891 §6.1.1: one OPT at most, owned by the root name. */
        if (seen_opt || packet[owner] != 0)
            return -1;
        seen_opt = true;
        /* RFC 6891 §6.1.3: TTL = extended RCODE, VERSION, DO, Z */
        uint32_t ttl = wire_get32(rr + 4);
        q->has_edns = true;
        q->edns_payload = wire_get16(rr + 2);
        q->edns_version = (uint8_t)(ttl >> 16);
        q->edns_do = (ttl & WIRE_EDNS_DO) != 0;
    }

    return pos == len ? 0 : -1;
}

enum wire_verdict wire_parse_query(const uint8_t *packet, size_t len, struct wire_query *q)
{
    q->id = 0;
    q->flags = 0;
    q->qtype = 0;
    q->qclass = 0;
    q->qname_len = 0;
    q->question_end = 0;
    q->has_edns = false;
    q->edns_version = 0;
    q->edns_do = false;
    q->edns_payload = 0;

    /* RFC 8906: silence only for what is not a query at all (no header, a response) */
    if (len < WIRE_HEADER_SIZE)
        return WIRE_QUERY_DROP;
    q->id = wire_get16(packet);
    q->flags = wire_get16(packet + 2);
    if (q->flags & WIRE_FLAG_QR)
        return WIRE_QUERY_DROP;

    unsigned qdcount = wire_get16(packet + 4);
    unsigned skipped = (unsigned)wire_get16(packet + 6) + wire_get16(packet + 8);
    unsigned arcount = wire_get16(packet + 10);
    int parsed = query_parse_sections(packet, len, q, qdcount, skipped, arcount);

    if (WIRE_OPCODE(q->flags) != 0)
        return WIRE_QUERY_NOTIMP;
    if (parsed < 0 || qdcount != 1)
        return WIRE_QUERY_FORMERR;
    if (q->has_edns && q->edns_version > 0)
        return WIRE_QUERY_BADVERS; /* RFC 6891 §6.1.3 */
    return WIRE_QUERY_OK;
}

/* Length in the text of the label starting at text, up to its unescaped '.'. */
static size_t text_label_span(const char *text)
{
    size_t i = 0;
    while (text[i] && text[i] != '.') {
        if (text[i] == '\\' && text[i + 1])
            i++;
        i++;
    }
    return i;
}

/* RFC 1035 §5.1 presentation form: "\X" quotes X, "\DDD" is an octet. */
int wire_name_from_text(const char *text, uint8_t *out, size_t *out_len, char *err, size_t err_len)
{
    if (text[0] == '\0') {
        error_set(err, err_len, "name is empty");
        return -1;
    }
    if (strcmp(text, ".") == 0) {
        out[0] = 0;
        *out_len = 1;
        return 0;
    }

    size_t label = 0; /* out index of the current label's length octet */
    size_t w = 1;     /* out index of the next octet */
    const char *label_text = text;
    const char *p = text;

    for (;;) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '\0' || ch == '.') {
            if (w == label + 1) {
                error_set(err, err_len, "empty label in name \"%s\"", text);
                return -1;
            }
            out[label] = (uint8_t)(w - label - 1);
            if (ch == '\0' || p[1] == '\0')
                break;
            /* a new label: its length octet at w, its first octet after */
            label = w;
            w++;
            p++;
            label_text = p;
            continue;
        }

        unsigned value;
        if (ch == '\\') {
            unsigned char e = (unsigned char)p[1];
            if (e >= '0' && e <= '9') {
                if (!(p[2] >= '0' && p[2] <= '9' && p[3] >= '0' && p[3] <= '9')) {
                    error_set(err, err_len,
                              "bad escape in name \"%s\": \\ followed by a digit needs three "
                              "digits (\\DDD)",
                              text);
                    return -1;
                }
                value = (unsigned)(e - '0') * 100 + (unsigned)(p[2] - '0') * 10 +
                        (unsigned)(p[3] - '0');
                if (value > 255) {
                    error_set(err, err_len, "bad escape \\%.3s in name \"%s\": above 255", p + 1,
                              text);
                    return -1;
                }
                p += 4;
            } else if (e > 0x20 && e < 0x7F) {
                value = e;
                p += 2;
            } else {
                error_set(err, err_len,
                          "bad escape in name \"%s\": \\ must be followed by a printable "
                          "character or three digits",
                          text);
                return -1;
            }
        } else if (ch == ' ') {
            error_set(err, err_len, "space in name \"%s\" (write it as \\032)", text);
            return -1;
        } else if (ch < 0x20 || ch == 0x7F) {
            error_set(err, err_len, "control character 0x%02x in name \"%s\"", ch, text);
            return -1;
        } else if (ch > 0x7F) {
            error_set(err, err_len, "non-ASCII octet 0x%02x in name \"%s\" (write it as \\%03u)",
                      ch, text, ch);
            return -1;
        } else {
            value = ch;
            p++;
        }

        if (w - label - 1 == WIRE_LABEL_MAX) {
            error_set(err, err_len, "label \"%.*s\" is longer than %d octets",
                      (int)text_label_span(label_text), label_text, WIRE_LABEL_MAX);
            return -1;
        }
        /* keep one octet for the root label */
        if (w >= WIRE_NAME_MAX - 1) {
            error_set(err, err_len, "name \"%s\" is longer than %d octets in wire form", text,
                      WIRE_NAME_MAX);
            return -1;
        }
        out[w++] = (uint8_t)value;
    }

    out[w] = 0;
    *out_len = w + 1;
    return 0;
}

int wire_name_to_text(const uint8_t *name, size_t len, char *out, size_t cap)
{
    if (!wire_name_valid(name, len) || cap == 0)
        return -1;
    if (len == 1) {
        if (cap < 2)
            return -1;
        out[0] = '.';
        out[1] = '\0';
        return 1;
    }

    size_t w = 0;
    for (size_t pos = 0; name[pos] != 0; pos += 1 + (size_t)name[pos]) {
        if (pos > 0) {
            if (w + 1 >= cap)
                return -1;
            out[w++] = '.';
        }
        for (size_t i = 1; i <= name[pos]; i++) {
            uint8_t b = name[pos + i];
            /* every case needs room for the terminating NUL as well */
            if (b == '.' || b == '\\') {
                if (w + 2 >= cap)
                    return -1;
                out[w++] = '\\';
                out[w++] = (char)b;
            } else if (b > 0x20 && b < 0x7F) {
                if (w + 1 >= cap)
                    return -1;
                out[w++] = (char)b;
            } else {
                if (w + 4 >= cap)
                    return -1;
                snprintf(out + w, 5, "\\%03u", b);
                w += 4;
            }
        }
    }
    out[w] = '\0';
    return (int)w;
}

/* Length octets are at most 63 and so never in 'A'..'Z': the whole name can
 * be lowercased, or compared, octet by octet. */
void wire_name_lower(uint8_t *name, size_t len)
{
    for (size_t i = 0; i < len; i++)
        name[i] = wire_lower(name[i]);
}

bool wire_name_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    if (a_len != b_len)
        return false;
    for (size_t i = 0; i < a_len; i++) {
        if (wire_lower(a[i]) != wire_lower(b[i]))
            return false;
    }
    return true;
}

unsigned wire_name_labels(const uint8_t *name, size_t len, uint8_t *starts)
{
    unsigned n = 0;
    size_t pos = 0;
    /* bounded for a bad name too: stops at len, 255 octets or 128 labels */
    while (pos < len && pos < WIRE_NAME_MAX && name[pos] != 0 && n < WIRE_LABELS_MAX) {
        starts[n++] = (uint8_t)pos;
        pos += 1 + (size_t)name[pos];
    }
    return n;
}

void wire_compressor_init(struct wire_compressor *c)
{
    c->count = 0;
}

static void compressor_remember(struct wire_compressor *c, size_t offset)
{
    if (c->count < WIRE_COMPRESS_MAX && offset <= WIRE_POINTER_MAX)
        c->offsets[c->count++] = (uint16_t)offset;
}

void wire_compressor_add(struct wire_compressor *c, const uint8_t *packet, size_t offset)
{
    /* The caller wrote this name: trust its shape, but stop at a pointer
     * (what follows it is remembered where it stands) and after 127 labels. */
    for (unsigned n = 0; n < WIRE_LABELS_MAX - 1; n++) {
        uint8_t len = packet[offset];
        if (len == 0 || len > WIRE_LABEL_MAX)
            return;
        compressor_remember(c, offset);
        offset += 1 + (size_t)len;
    }
}

/* Number of labels of the name at off in packet[0..end), following the
 * pointers there under the same rules as name_walk; -1 if malformed. */
static int packet_name_labels(const uint8_t *packet, size_t end, size_t off)
{
    size_t run_start = off;
    size_t octets = 1;
    unsigned jumps = 0;
    int n = 0;

    for (;;) {
        if (off >= end)
            return -1;
        uint8_t c = packet[off];
        if (c == 0)
            return n;
        if ((c & 0xC0) == 0xC0) {
            if (end - off < 2)
                return -1;
            size_t target = ((size_t)(c & 0x3F) << 8) | packet[off + 1];
            if (target >= run_start || ++jumps > WIRE_LABELS_MAX)
                return -1;
            off = run_start = target;
            continue;
        }
        if (c > WIRE_LABEL_MAX)
            return -1;
        octets += 1 + (size_t)c;
        if (octets > WIRE_NAME_MAX || c > end - off - 1)
            return -1;
        n++;
        off += 1 + (size_t)c;
    }
}

/* Whether the name at off (checked by packet_name_labels) equals suffix,
 * an uncompressed name of the same label count, ignoring ASCII case. */
static bool packet_name_equal(const uint8_t *packet, size_t off, const uint8_t *suffix)
{
    for (;;) {
        uint8_t c = packet[off];
        if ((c & 0xC0) == 0xC0) {
            off = ((size_t)(c & 0x3F) << 8) | packet[off + 1];
            continue;
        }
        if (c != suffix[0])
            return false;
        if (c == 0)
            return true;
        for (size_t i = 1; i <= c; i++) {
            if (wire_lower(packet[off + i]) != wire_lower(suffix[i]))
                return false;
        }
        off += 1 + (size_t)c;
        suffix += 1 + (size_t)c;
    }
}

/* RFC 1035 §4.1.4. Each remembered offset starts one known suffix; only the
 * suffix of the name with the same number of labels can equal it, so one
 * cheap walk to count labels and at most one comparison per offset. */
int wire_name_write(uint8_t *packet, size_t cap, size_t *pos, const uint8_t *name, size_t name_len,
                    struct wire_compressor *c)
{
    if (!wire_name_valid(name, name_len))
        return -1;

    uint8_t starts[WIRE_LABELS_MAX];
    unsigned n = wire_name_labels(name, name_len, starts);
    unsigned keep = n; /* leading labels written out; keep == n: no pointer */
    size_t target = 0;

    for (unsigned i = 0; c && i < c->count && keep > 0; i++) {
        size_t off = c->offsets[i];
        int k = packet_name_labels(packet, *pos, off);
        if (k <= 0 || (unsigned)k > n || n - (unsigned)k >= keep)
            continue;
        unsigned first = n - (unsigned)k;
        if (packet_name_equal(packet, off, name + starts[first])) {
            keep = first;
            target = off;
        }
    }

    size_t prefix = keep < n ? starts[keep] : name_len;
    size_t need = keep < n ? prefix + 2 : name_len;
    if (*pos > cap || need > cap - *pos)
        return -1;

    uint8_t *w = packet + *pos;
    memcpy(w, name, prefix);
    if (keep < n)
        wire_put16(w + prefix, (uint16_t)(0xC000 | target));
    if (c) {
        for (unsigned i = 0; i < keep; i++)
            compressor_remember(c, *pos + starts[i]);
    }
    *pos += need;
    return 0;
}

bool wire_rdata_layout(uint16_t type, struct wire_rdata_layout *layout)
{
    switch (type) {
    case WIRE_TYPE_CNAME:
    case WIRE_TYPE_NS:
    case WIRE_TYPE_PTR:
        *layout = (struct wire_rdata_layout){0, 1, 0, true};
        return true;
    case WIRE_TYPE_MX:
        *layout = (struct wire_rdata_layout){2, 1, 0, true};
        return true;
    case WIRE_TYPE_SOA:
        *layout = (struct wire_rdata_layout){0, 2, 20, true};
        return true;
    case WIRE_TYPE_SRV:
        *layout = (struct wire_rdata_layout){6, 1, 0, false};
        return true;
    default:
        return false;
    }
}
