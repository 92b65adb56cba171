/* Unit tests for common/wire.c: query parsing, names, text form and
 * compression. Packets are built inline so each fixture is visible. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

/* ---- fixtures -------------------------------------------------------- */

struct packet {
    uint8_t data[4096];
    size_t len;
};

static void put(struct packet *p, const void *bytes, size_t n)
{
    assert_true(p->len + n <= sizeof(p->data));
    memcpy(p->data + p->len, bytes, n);
    p->len += n;
}

static void put8(struct packet *p, uint8_t v)
{
    put(p, &v, 1);
}

static void put16(struct packet *p, uint16_t v)
{
    uint8_t b[2];
    wire_put16(b, v);
    put(p, b, 2);
}

static void put32(struct packet *p, uint32_t v)
{
    uint8_t b[4];
    wire_put32(b, v);
    put(p, b, 4);
}

static void put_header(struct packet *p, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
                       uint16_t ns, uint16_t ar)
{
    p->len = 0;
    put16(p, id);
    put16(p, flags);
    put16(p, qd);
    put16(p, an);
    put16(p, ns);
    put16(p, ar);
}

/* www.Example.lan in wire form, as a client might send it */
static const uint8_t WWW_EXAMPLE_LAN[] = "\3www\7Example\3lan";
#define WWW_EXAMPLE_LAN_LEN 17

static void put_question(struct packet *p, uint16_t qtype)
{
    put(p, WWW_EXAMPLE_LAN, WWW_EXAMPLE_LAN_LEN);
    put16(p, qtype);
    put16(p, WIRE_CLASS_IN);
}

/* OPT pseudo-RR (RFC 6891 §6.1.2) with the root as owner and no options */
static void put_opt(struct packet *p, uint16_t payload, uint8_t version, bool dnssec_ok)
{
    put8(p, 0);
    put16(p, WIRE_TYPE_OPT);
    put16(p, payload);
    put32(p, ((uint32_t)version << 16) | (dnssec_ok ? WIRE_EDNS_DO : 0));
    put16(p, 0);
}

static void query_build(struct packet *p, uint16_t flags, uint16_t qd, uint16_t ar)
{
    put_header(p, 0xBEEF, flags, qd, 0, 0, ar);
    for (uint16_t i = 0; i < qd; i++)
        put_question(p, WIRE_TYPE_A);
}

static void name_from_text(const char *text, uint8_t *out, size_t *out_len)
{
    char err[256] = "";
    int rc = wire_name_from_text(text, out, out_len, err, sizeof(err));
    if (rc != 0)
        fail_msg("wire_name_from_text(\"%s\"): %s", text, err);
}

/* ---- wire_parse_query ------------------------------------------------ */

static void test_query_plain_is_ok_with_every_field_set(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, WIRE_FLAG_RD, 1, 0);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_OK);
    assert_int_equal(q.id, 0xBEEF);
    assert_int_equal(q.flags, WIRE_FLAG_RD);
    assert_int_equal(q.qtype, WIRE_TYPE_A);
    assert_int_equal(q.qclass, WIRE_CLASS_IN);
    assert_int_equal(q.qname_len, WWW_EXAMPLE_LAN_LEN);
    assert_memory_equal(q.qname_lower, "\3www\7example\3lan", WWW_EXAMPLE_LAN_LEN);
    assert_int_equal(q.question_end, WIRE_HEADER_SIZE + WWW_EXAMPLE_LAN_LEN + 4);
    assert_false(q.has_edns);
}

static void test_query_question_as_sent_keeps_its_case(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 1, 0);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_OK);
    assert_memory_equal(p.data + WIRE_HEADER_SIZE, WWW_EXAMPLE_LAN, WWW_EXAMPLE_LAN_LEN);
}

static void test_query_with_edns_reports_payload_version_and_do(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 1, 1);
    put_opt(&p, 1232, 0, true);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_OK);
    assert_true(q.has_edns);
    assert_int_equal(q.edns_payload, 1232);
    assert_int_equal(q.edns_version, 0);
    assert_true(q.edns_do);
}

static void test_query_with_edns_without_do_reports_do_clear(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 1, 1);
    put_opt(&p, 4096, 0, false);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_OK);
    assert_true(q.has_edns);
    assert_int_equal(q.edns_payload, 4096);
    assert_false(q.edns_do);
}

static void test_query_with_edns_options_is_ok(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 1, 1);
    put8(&p, 0);
    put16(&p, WIRE_TYPE_OPT);
    put16(&p, 1232);
    put32(&p, 0);
    put16(&p, 12); /* one COOKIE option: code 10, length 8 */
    put16(&p, 10);
    put16(&p, 8);
    put(&p, "\1\2\3\4\5\6\7\10", 8);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_OK);
    assert_true(q.has_edns);
}

static void test_query_with_edns_version_1_is_badvers(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 1, 1);
    put_opt(&p, 1232, 1, false);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_BADVERS);
    assert_true(q.has_edns);
    assert_int_equal(q.edns_version, 1);
    assert_int_equal(q.qname_len, WWW_EXAMPLE_LAN_LEN);
}

static void test_query_with_qr_set_is_dropped(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, WIRE_FLAG_QR, 1, 0);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_DROP);
}

static void test_query_shorter_than_header_is_dropped(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 1, 0);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, 11, &q), WIRE_QUERY_DROP);
    assert_int_equal(wire_parse_query(p.data, 0, &q), WIRE_QUERY_DROP);
}

static void test_query_with_notify_opcode_is_notimp_with_question_parsed(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 4 << 11, 1, 1); /* opcode 4: NOTIFY */
    put_opt(&p, 1232, 0, false);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_NOTIMP);
    assert_int_equal(q.id, 0xBEEF);
    assert_int_equal(WIRE_OPCODE(q.flags), 4);
    assert_int_equal(q.qname_len, WWW_EXAMPLE_LAN_LEN);
    assert_int_equal(q.question_end, WIRE_HEADER_SIZE + WWW_EXAMPLE_LAN_LEN + 4);
    assert_true(q.has_edns);
}

static void test_query_with_unknown_opcode_and_no_question_is_notimp(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 5 << 11, 0, 0); /* opcode 5: UPDATE, zone count 0 */
    put(&p, "junk", 4);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_NOTIMP);
    assert_int_equal(q.id, 0xBEEF);
}

static void test_query_with_no_question_is_formerr(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 0, 1);
    put_opt(&p, 1232, 0, false);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_FORMERR);
    assert_int_equal(q.id, 0xBEEF);
    assert_true(q.has_edns); /* so the FORMERR can carry an OPT */
}

static void test_query_with_two_questions_is_formerr(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 2, 0);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_FORMERR);
    assert_int_equal(q.qname_len, 0); /* no single question to echo */
}

static void test_query_with_trailing_garbage_is_formerr(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 1, 1);
    put_opt(&p, 1232, 0, false);
    put8(&p, 0);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_FORMERR);
    assert_int_equal(q.id, 0xBEEF);
}

static void test_query_with_truncated_question_name_is_formerr(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 1, 0);
    struct wire_query q;

    /* cut inside "Example" */
    assert_int_equal(wire_parse_query(p.data, WIRE_HEADER_SIZE + 7, &q), WIRE_QUERY_FORMERR);
    assert_int_equal(q.qname_len, 0);
}

static void test_query_with_truncated_qclass_is_formerr(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 1, 0);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len - 1, &q), WIRE_QUERY_FORMERR);
}

static void test_query_with_compressed_question_name_is_formerr(void **state)
{
    (void)state;
    struct packet p;
    put_header(&p, 1, 0, 1, 0, 0, 0);
    put(&p, "\3www\300\4", 6); /* pointer into the header */
    put16(&p, WIRE_TYPE_A);
    put16(&p, WIRE_CLASS_IN);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_FORMERR);
}

static void test_query_with_two_opts_is_formerr(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 1, 2);
    put_opt(&p, 1232, 0, false);
    put_opt(&p, 1232, 0, false);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_FORMERR);
}

static void test_query_with_opt_not_owned_by_root_is_formerr(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 1, 1);
    put(&p, "\3lan", 5);
    put16(&p, WIRE_TYPE_OPT);
    put16(&p, 1232);
    put32(&p, 0);
    put16(&p, 0);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_FORMERR);
}

static void test_query_with_opt_owned_by_pointer_is_formerr(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 1, 1);
    put16(&p, 0xC000 | (WIRE_HEADER_SIZE + WWW_EXAMPLE_LAN_LEN - 1)); /* the question's root */
    put16(&p, WIRE_TYPE_OPT);
    put16(&p, 1232);
    put32(&p, 0);
    put16(&p, 0);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_FORMERR);
}

static void test_query_with_truncated_opt_rdata_is_formerr(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 1, 1);
    put8(&p, 0);
    put16(&p, WIRE_TYPE_OPT);
    put16(&p, 1232);
    put32(&p, 0);
    put16(&p, 4); /* four octets announced, two present */
    put16(&p, 10);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_FORMERR);
}

static void test_query_with_missing_additional_record_is_formerr(void **state)
{
    (void)state;
    struct packet p;
    query_build(&p, 0, 1, 2);
    put_opt(&p, 1232, 0, false);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_FORMERR);
}

static void test_query_answer_and_authority_records_are_skipped(void **state)
{
    (void)state;
    struct packet p;
    put_header(&p, 7, 0, 1, 1, 1, 2);
    put_question(&p, WIRE_TYPE_SOA);
    /* answer: www.Example.lan A 192.0.2.1, owner compressed */
    put16(&p, 0xC000 | WIRE_HEADER_SIZE);
    put16(&p, WIRE_TYPE_A);
    put16(&p, WIRE_CLASS_IN);
    put32(&p, 300);
    put16(&p, 4);
    put(&p, "\300\0\2\1", 4);
    /* authority: lan NS, empty rdata */
    put16(&p, 0xC000 | (WIRE_HEADER_SIZE + 12));
    put16(&p, WIRE_TYPE_NS);
    put16(&p, WIRE_CLASS_IN);
    put32(&p, 300);
    put16(&p, 0);
    /* additional: a TXT record, then the OPT */
    put(&p, "\1x\0", 3);
    put16(&p, WIRE_TYPE_TXT);
    put16(&p, WIRE_CLASS_IN);
    put32(&p, 0);
    put16(&p, 2);
    put(&p, "\1y", 2);
    put_opt(&p, 1400, 0, true);
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_OK);
    assert_int_equal(q.qtype, WIRE_TYPE_SOA);
    assert_true(q.has_edns);
    assert_int_equal(q.edns_payload, 1400);
    assert_true(q.edns_do);
}

static void test_query_with_truncated_answer_record_is_formerr(void **state)
{
    (void)state;
    struct packet p;
    put_header(&p, 7, 0, 1, 1, 0, 0);
    put_question(&p, WIRE_TYPE_A);
    put16(&p, 0xC000 | WIRE_HEADER_SIZE);
    put16(&p, WIRE_TYPE_A);
    put16(&p, WIRE_CLASS_IN);
    put32(&p, 300); /* RDLENGTH missing */
    struct wire_query q;

    assert_int_equal(wire_parse_query(p.data, p.len, &q), WIRE_QUERY_FORMERR);
}

/* ---- wire_name_parse ------------------------------------------------- */

static void test_name_parse_reads_uncompressed_name(void **state)
{
    (void)state;
    const uint8_t packet[] = "\3www\7Example\3lan";
    uint8_t out[WIRE_NAME_MAX];
    size_t off = 0, out_len = 0;

    assert_int_equal(wire_name_parse(packet, sizeof(packet), &off, out, &out_len), 0);
    assert_int_equal(out_len, 17);
    assert_int_equal(off, 17);
    assert_memory_equal(out, packet, 17);
}

static void test_name_parse_follows_backward_pointer_and_advances_two_octets(void **state)
{
    (void)state;
    /* 0: Example.lan; 13: www + pointer to 0; 19: one more octet */
    const uint8_t packet[] = "\7Example\3lan\0\3www\300\0\377";
    uint8_t out[WIRE_NAME_MAX];
    size_t off = 13, out_len = 0;

    assert_int_equal(wire_name_parse(packet, sizeof(packet) - 1, &off, out, &out_len), 0);
    assert_int_equal(off, 19);
    assert_int_equal(out_len, 17);
    assert_memory_equal(out, "\3www\7Example\3lan", 17);
}

static void test_name_parse_follows_chained_pointers(void **state)
{
    (void)state;
    /* 0: lan; 5: example + ptr 0; 15: www + ptr 5; 21: ptr 15 */
    const uint8_t packet[] = "\3lan\0\7example\300\0\3www\300\5\300\17";
    uint8_t out[WIRE_NAME_MAX];
    size_t off = 21, out_len = 0;

    assert_int_equal(wire_name_parse(packet, sizeof(packet) - 1, &off, out, &out_len), 0);
    assert_int_equal(off, 23);
    assert_memory_equal(out, "\3www\7example\3lan", 17);
}

static void test_name_parse_compression_loop_is_error(void **state)
{
    (void)state;
    /* 0: label "a", then a pointer back to 0: a.a.a.a... forever */
    const uint8_t packet[] = "\1a\300\0";
    uint8_t out[WIRE_NAME_MAX];
    size_t off = 0, out_len = 0;

    assert_int_equal(wire_name_parse(packet, sizeof(packet) - 1, &off, out, &out_len), -1);
    assert_int_equal(off, 0);
}

static void test_name_parse_two_pointers_to_each_other_is_error(void **state)
{
    (void)state;
    const uint8_t packet[] = "\300\2\300\0";
    uint8_t out[WIRE_NAME_MAX];
    size_t off = 2, out_len = 0;

    assert_int_equal(wire_name_parse(packet, sizeof(packet) - 1, &off, out, &out_len), -1);
}

static void test_name_parse_pointer_to_itself_is_error(void **state)
{
    (void)state;
    const uint8_t packet[] = "\0\0\0\0\300\4";
    uint8_t out[WIRE_NAME_MAX];
    size_t off = 4, out_len = 0;

    assert_int_equal(wire_name_parse(packet, sizeof(packet) - 1, &off, out, &out_len), -1);
}

static void test_name_parse_forward_pointer_is_error(void **state)
{
    (void)state;
    const uint8_t packet[] = "\300\4\0\0\3lan\0";
    uint8_t out[WIRE_NAME_MAX];
    size_t off = 0, out_len = 0;

    assert_int_equal(wire_name_parse(packet, sizeof(packet) - 1, &off, out, &out_len), -1);
}

static void test_name_parse_pointer_out_of_bounds_is_error(void **state)
{
    (void)state;
    uint8_t packet[600] = {0};
    packet[500] = 0xC2; /* points at 0x2FF = 767, past the 600 octets */
    packet[501] = 0xFF;
    uint8_t out[WIRE_NAME_MAX];
    size_t off = 500, out_len = 0;

    assert_int_equal(wire_name_parse(packet, sizeof(packet), &off, out, &out_len), -1);
}

static void test_name_parse_pointer_cut_after_first_octet_is_error(void **state)
{
    (void)state;
    const uint8_t packet[] = "\0\300";
    uint8_t out[WIRE_NAME_MAX];
    size_t off = 1, out_len = 0;

    assert_int_equal(wire_name_parse(packet, sizeof(packet) - 1, &off, out, &out_len), -1);
}

static void test_name_parse_label_cut_by_end_of_packet_is_error(void **state)
{
    (void)state;
    const uint8_t packet[] = "\7exam";
    uint8_t out[WIRE_NAME_MAX];
    size_t off = 0, out_len = 0;

    assert_int_equal(wire_name_parse(packet, sizeof(packet) - 1, &off, out, &out_len), -1);
}

static void test_name_parse_missing_root_label_is_error(void **state)
{
    (void)state;
    const uint8_t packet[] = "\3lan";
    uint8_t out[WIRE_NAME_MAX];
    size_t off = 0, out_len = 0;

    assert_int_equal(wire_name_parse(packet, sizeof(packet) - 1, &off, out, &out_len), -1);
}

static void test_name_parse_label_over_63_octets_is_error(void **state)
{
    (void)state;
    /* a length octet of 64 is 0b01000000: no label can say it is longer than 63 */
    uint8_t packet[70] = {0};
    packet[0] = 64;
    memset(packet + 1, 'a', 64);
    uint8_t out[WIRE_NAME_MAX];
    size_t off = 0, out_len = 0;

    assert_int_equal(wire_name_parse(packet, sizeof(packet), &off, out, &out_len), -1);
}

static void test_name_parse_label_of_63_octets_is_accepted(void **state)
{
    (void)state;
    uint8_t packet[65] = {0};
    packet[0] = 63;
    memset(packet + 1, 'a', 63);
    uint8_t out[WIRE_NAME_MAX];
    size_t off = 0, out_len = 0;

    assert_int_equal(wire_name_parse(packet, sizeof(packet), &off, out, &out_len), 0);
    assert_int_equal(out_len, 65);
}

static void test_name_parse_reserved_label_types_are_errors(void **state)
{
    (void)state;
    const uint8_t extended[] = "\101\1a\0"; /* 0x41: RFC 6891 extended label type */
    const uint8_t reserved[] = "\201a\0";   /* 0x81: the unassigned 0b10 type */
    uint8_t out[WIRE_NAME_MAX];
    size_t off = 0, out_len = 0;

    assert_int_equal(wire_name_parse(extended, sizeof(extended) - 1, &off, out, &out_len), -1);
    off = 0;
    assert_int_equal(wire_name_parse(reserved, sizeof(reserved) - 1, &off, out, &out_len), -1);
}

/* Names of 63-octet labels each pointing at the one before: chain n labels. */
static size_t build_label_chain(uint8_t *packet, unsigned labels, size_t *last)
{
    size_t pos = 0;
    for (unsigned i = 0; i < labels; i++) {
        size_t start = pos;
        packet[pos++] = 63;
        memset(packet + pos, 'a' + (int)i, 63);
        pos += 63;
        if (i == 0) {
            packet[pos++] = 0;
        } else {
            wire_put16(packet + pos, (uint16_t)(0xC000 | *last));
            pos += 2;
        }
        *last = start;
    }
    return pos;
}

static void test_name_parse_name_over_255_octets_via_pointers_is_error(void **state)
{
    (void)state;
    uint8_t packet[512];
    size_t last = 0;
    size_t len = build_label_chain(packet, 4, &last); /* 4 * 64 + 1 = 257 octets */
    uint8_t out[WIRE_NAME_MAX];
    size_t off = last, out_len = 0;

    assert_int_equal(wire_name_parse(packet, len, &off, out, &out_len), -1);
}

static void test_name_parse_name_of_255_octets_is_accepted(void **state)
{
    (void)state;
    /* 3 * 64 octets from the chain and the root, then a label of 61 at the front */
    uint8_t packet[512];
    size_t last = 0;
    size_t len = build_label_chain(packet, 3, &last);
    size_t start = len;
    packet[len++] = 61;
    memset(packet + len, 'z', 61);
    len += 61;
    wire_put16(packet + len, (uint16_t)(0xC000 | last));
    len += 2;
    uint8_t out[WIRE_NAME_MAX];
    size_t off = start, out_len = 0;

    assert_int_equal(wire_name_parse(packet, len, &off, out, &out_len), 0);
    assert_int_equal(out_len, 255);
    assert_true(wire_name_valid(out, out_len));
}

/* ---- text form -------------------------------------------------------- */

static void test_name_from_text_gives_wire_form_keeping_case(void **state)
{
    (void)state;
    uint8_t out[WIRE_NAME_MAX];
    size_t len = 0;

    name_from_text("www.Example.lan", out, &len);
    assert_int_equal(len, 17);
    assert_memory_equal(out, "\3www\7Example\3lan", 17);
}

static void test_name_from_text_trailing_dot_is_the_same_name(void **state)
{
    (void)state;
    uint8_t out[WIRE_NAME_MAX];
    size_t len = 0;

    name_from_text("www.example.lan.", out, &len);
    assert_int_equal(len, 17);
    assert_memory_equal(out, "\3www\7example\3lan", 17);
}

static void test_name_from_text_dot_is_the_root(void **state)
{
    (void)state;
    uint8_t out[WIRE_NAME_MAX];
    size_t len = 0;

    name_from_text(".", out, &len);
    assert_int_equal(len, 1);
    assert_int_equal(out[0], 0);
}

static void test_name_from_text_accepts_underscores(void **state)
{
    (void)state;
    uint8_t out[WIRE_NAME_MAX];
    size_t len = 0;

    name_from_text("_sip._tcp.example.lan", out, &len);
    assert_int_equal(len, 23);
    assert_memory_equal(out, "\4_sip\4_tcp\7example\3lan", 23);
}

static void test_name_from_text_understands_escapes(void **state)
{
    (void)state;
    uint8_t out[WIRE_NAME_MAX];
    size_t len = 0;

    name_from_text("a\\.b.c\\032d\\255\\\\.lan", out, &len);
    assert_int_equal(len, 15);
    assert_memory_equal(out, "\3a.b\5c d\377\\\3lan", 15);
}

static void test_name_from_text_rejects_bad_escapes(void **state)
{
    (void)state;
    uint8_t out[WIRE_NAME_MAX];
    size_t len = 0;
    char err[256] = "";

    assert_int_equal(wire_name_from_text("a\\256.lan", out, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "255"));
    assert_int_equal(wire_name_from_text("a\\1b.lan", out, &len, err, sizeof(err)), -1);
    assert_int_equal(wire_name_from_text("lan\\", out, &len, err, sizeof(err)), -1);
}

static void test_name_from_text_empty_label_is_error(void **state)
{
    (void)state;
    uint8_t out[WIRE_NAME_MAX];
    size_t len = 0;
    char err[256] = "";

    assert_int_equal(wire_name_from_text("a..b", out, &len, err, sizeof(err)), -1);
    assert_string_equal(err, "empty label in name \"a..b\"");
    assert_int_equal(wire_name_from_text(".a", out, &len, err, sizeof(err)), -1);
    assert_int_equal(wire_name_from_text("a..", out, &len, err, sizeof(err)), -1);
    assert_int_equal(wire_name_from_text("..", out, &len, err, sizeof(err)), -1);
    assert_int_equal(wire_name_from_text("", out, &len, err, sizeof(err)), -1);
}

static void test_name_from_text_label_over_63_octets_is_error(void **state)
{
    (void)state;
    char text[128];
    memset(text, 'x', 64);
    strcpy(text + 64, ".lan");
    uint8_t out[WIRE_NAME_MAX];
    size_t len = 0;
    char err[256] = "";

    assert_int_equal(wire_name_from_text(text, out, &len, err, sizeof(err)), -1);
    char expected[128];
    snprintf(expected, sizeof(expected), "label \"%.64s\" is longer than 63 octets", text);
    assert_string_equal(err, expected);
}

static void test_name_from_text_label_of_63_octets_is_accepted(void **state)
{
    (void)state;
    char text[128];
    memset(text, 'x', 63);
    strcpy(text + 63, ".lan");
    uint8_t out[WIRE_NAME_MAX];
    size_t len = 0;

    name_from_text(text, out, &len);
    assert_int_equal(len, 69);
    assert_int_equal(out[0], 63);
}

/* n labels "a".."z" of one octet each, then a last label of last_len octets */
static void long_name_text(char *text, unsigned one_octet_labels, unsigned last_len)
{
    size_t w = 0;
    for (unsigned i = 0; i < one_octet_labels; i++) {
        text[w++] = (char)('a' + i % 26);
        text[w++] = '.';
    }
    memset(text + w, 'q', last_len);
    text[w + last_len] = '\0';
}

static void test_name_from_text_name_over_255_octets_is_error(void **state)
{
    (void)state;
    char text[600];
    long_name_text(text, 126, 2); /* 126 * 2 + 3 + 1 = 256 octets */
    uint8_t out[WIRE_NAME_MAX];
    size_t len = 0;
    char err[600] = "";

    assert_int_equal(wire_name_from_text(text, out, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than 255 octets"));
}

static void test_name_from_text_name_of_255_octets_is_accepted(void **state)
{
    (void)state;
    char text[600];
    long_name_text(text, 126, 1); /* 126 * 2 + 2 + 1 = 255 octets */
    uint8_t out[WIRE_NAME_MAX];
    size_t len = 0;

    name_from_text(text, out, &len);
    assert_int_equal(len, 255);
    assert_true(wire_name_valid(out, len));
}

static void test_name_from_text_rejects_space_and_control_characters(void **state)
{
    (void)state;
    uint8_t out[WIRE_NAME_MAX];
    size_t len = 0;
    char err[256] = "";

    assert_int_equal(wire_name_from_text("my host.lan", out, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "space"));
    assert_int_equal(wire_name_from_text("a\tb.lan", out, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "control character 0x09"));
    assert_int_equal(wire_name_from_text("caf\xc3\xa9.lan", out, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "non-ASCII"));
}

static void test_name_to_text_has_no_trailing_dot(void **state)
{
    (void)state;
    char text[64];

    assert_int_equal(
        wire_name_to_text((const uint8_t *)"\3www\7Example\3lan", 17, text, sizeof(text)), 15);
    assert_string_equal(text, "www.Example.lan");
}

static void test_name_to_text_of_root_is_dot(void **state)
{
    (void)state;
    char text[4];

    assert_int_equal(wire_name_to_text((const uint8_t *)"", 1, text, sizeof(text)), 1);
    assert_string_equal(text, ".");
}

static void test_name_to_text_escapes_dot_backslash_and_unprintables(void **state)
{
    (void)state;
    char text[64];

    assert_int_equal(wire_name_to_text((const uint8_t *)"\6a.b\\ \0\3lan", 12, text, sizeof(text)),
                     18);
    assert_string_equal(text, "a\\.b\\\\\\032\\000.lan");
}

static void test_name_to_text_that_does_not_fit_is_error(void **state)
{
    (void)state;
    char text[15]; /* "www.Example.lan" needs 16 with its NUL */

    assert_int_equal(
        wire_name_to_text((const uint8_t *)"\3www\7Example\3lan", 17, text, sizeof(text)), -1);
}

static void test_name_text_round_trip_keeps_every_octet(void **state)
{
    (void)state;
    const uint8_t name[] = "\5a.\\\377\0\4_tcp\3LAN";
    size_t name_len = sizeof(name);
    char text[128];
    uint8_t back[WIRE_NAME_MAX];
    size_t back_len = 0;

    assert_true(wire_name_to_text(name, name_len, text, sizeof(text)) > 0);
    name_from_text(text, back, &back_len);
    assert_int_equal(back_len, name_len);
    assert_memory_equal(back, name, name_len);
}

/* ---- name helpers ----------------------------------------------------- */

static void test_name_lower_lowercases_ascii_only(void **state)
{
    (void)state;
    uint8_t name[] = "\3WwW\7EXAMPLE\4L\311N-";

    wire_name_lower(name, sizeof(name));
    assert_memory_equal(name, "\3www\7example\4l\311n-", sizeof(name));
}

static void test_name_equal_ignores_case(void **state)
{
    (void)state;
    assert_true(
        wire_name_equal((const uint8_t *)"\3WWW\3lan", 9, (const uint8_t *)"\3www\3LaN", 9));
}

static void test_name_equal_tells_different_names_apart(void **state)
{
    (void)state;
    assert_false(
        wire_name_equal((const uint8_t *)"\3www\3lan", 9, (const uint8_t *)"\3wwx\3lan", 9));
    assert_false(wire_name_equal((const uint8_t *)"\3www\3lan", 9, (const uint8_t *)"\3lan", 5));
    /* '@' and '`' are 0x20 apart like case, but are not letters */
    assert_false(wire_name_equal((const uint8_t *)"\1@", 3, (const uint8_t *)"\1`", 3));
}

static void test_name_labels_gives_label_offsets_without_root(void **state)
{
    (void)state;
    uint8_t starts[WIRE_LABELS_MAX];

    assert_int_equal(wire_name_labels((const uint8_t *)"\3www\7example\3lan", 17, starts), 3);
    assert_int_equal(starts[0], 0);
    assert_int_equal(starts[1], 4);
    assert_int_equal(starts[2], 12);
    assert_int_equal(wire_name_labels((const uint8_t *)"", 1, starts), 0);
}

static void test_name_valid_accepts_only_one_complete_name(void **state)
{
    (void)state;
    assert_true(wire_name_valid((const uint8_t *)"\3www\3lan", 9));
    assert_true(wire_name_valid((const uint8_t *)"", 1));
    assert_false(wire_name_valid((const uint8_t *)"\3www\3lan", 8));    /* no root */
    assert_false(wire_name_valid((const uint8_t *)"\3www\3lan\0", 10)); /* octet after root */
    assert_false(wire_name_valid((const uint8_t *)"\300\14", 2));       /* pointer */
    assert_false(wire_name_valid((const uint8_t *)"\5ab", 4));          /* label past the end */
    assert_false(wire_name_valid((const uint8_t *)"", 0));
}

/* ---- compression ------------------------------------------------------ */

/* A response with the question www.Example.lan copied at offset 12 and
 * remembered, as the answer code does. */
struct response {
    uint8_t data[512];
    size_t pos;
    struct wire_compressor c;
};

static void response_start(struct response *r)
{
    memset(r->data, 0, sizeof(r->data));
    memcpy(r->data + WIRE_HEADER_SIZE, WWW_EXAMPLE_LAN, WWW_EXAMPLE_LAN_LEN);
    r->pos = WIRE_HEADER_SIZE + WWW_EXAMPLE_LAN_LEN + 4;
    wire_compressor_init(&r->c);
    wire_compressor_add(&r->c, r->data, WIRE_HEADER_SIZE);
}

static size_t response_write(struct response *r, const char *text)
{
    uint8_t name[WIRE_NAME_MAX];
    size_t len = 0;
    name_from_text(text, name, &len);
    size_t at = r->pos;
    assert_int_equal(wire_name_write(r->data, sizeof(r->data), &r->pos, name, len, &r->c), 0);
    return at;
}

static void test_compressor_add_remembers_each_label(void **state)
{
    (void)state;
    struct response r;
    response_start(&r);

    assert_int_equal(r.c.count, 3);
    assert_int_equal(r.c.offsets[0], 12);
    assert_int_equal(r.c.offsets[1], 16);
    assert_int_equal(r.c.offsets[2], 24);
}

static void test_write_same_name_is_just_a_pointer(void **state)
{
    (void)state;
    struct response r;
    response_start(&r);

    size_t at = response_write(&r, "www.Example.lan");
    assert_int_equal(r.pos - at, 2);
    assert_memory_equal(r.data + at, "\300\14", 2);
}

static void test_write_shared_suffix_is_labels_then_pointer(void **state)
{
    (void)state;
    struct response r;
    response_start(&r);

    size_t at = response_write(&r, "mail.example.lan");
    assert_int_equal(r.pos - at, 7);
    assert_memory_equal(r.data + at, "\4mail\300\20", 7); /* example.lan at 16 */
}

static void test_write_matches_case_insensitively(void **state)
{
    (void)state;
    struct response r;
    response_start(&r);

    size_t at = response_write(&r, "WWW.EXAMPLE.LAN");
    assert_memory_equal(r.data + at, "\300\14", 2);
}

static void test_write_unrelated_name_is_written_whole(void **state)
{
    (void)state;
    struct response r;
    response_start(&r);

    size_t at = response_write(&r, "ns.other.test");
    assert_int_equal(r.pos - at, 15);
    assert_memory_equal(r.data + at, "\2ns\5other\4test", 15);
}

static void test_write_root_is_one_zero_octet(void **state)
{
    (void)state;
    struct response r;
    response_start(&r);

    size_t at = response_write(&r, ".");
    assert_int_equal(r.pos - at, 1);
    assert_int_equal(r.data[at], 0);
}

static void test_write_points_at_labels_it_wrote_before(void **state)
{
    (void)state;
    struct response r;
    response_start(&r);

    size_t mail = response_write(&r, "mail.example.lan");
    size_t at = response_write(&r, "smtp.Mail.example.lan");
    uint8_t expected[7] = "\4smtp\300";
    expected[6] = (uint8_t)mail;
    assert_int_equal(r.pos - at, 7);
    assert_memory_equal(r.data + at, expected, 7);
}

static void test_write_prefers_longest_suffix(void **state)
{
    (void)state;
    struct response r;
    response_start(&r);

    response_write(&r, "lan"); /* a pointer to 24 */
    size_t b = response_write(&r, "b.a.example.lan");
    size_t at = response_write(&r, "c.a.example.lan");
    uint8_t expected[4] = "\1c\300";
    expected[3] = (uint8_t)(b + 2); /* a.example.lan, not example.lan or lan */
    assert_int_equal(r.pos - at, 4);
    assert_memory_equal(r.data + at, expected, 4);
}

static void test_write_with_full_table_writes_names_whole(void **state)
{
    (void)state;
    struct response r;
    memset(r.data, 0, sizeof(r.data));
    r.pos = WIRE_HEADER_SIZE;
    wire_compressor_init(&r.c);
    /* 64 distinct one-label names fill the table */
    for (unsigned i = 0; i < WIRE_COMPRESS_MAX; i++) {
        char text[8];
        snprintf(text, sizeof(text), "n%u", i);
        response_write(&r, text);
    }
    assert_int_equal(r.c.count, WIRE_COMPRESS_MAX);

    size_t first = response_write(&r, "host.example.lan");
    size_t second = response_write(&r, "host.example.lan");
    assert_int_equal(r.c.count, WIRE_COMPRESS_MAX);
    assert_memory_equal(r.data + first, "\4host\7example\3lan", 18);
    assert_memory_equal(r.data + second, "\4host\7example\3lan", 18);
    /* names already remembered still compress */
    size_t again = response_write(&r, "n5");
    assert_int_equal(r.pos - again, 2);
}

static void test_write_that_does_not_fit_fails_and_keeps_pos(void **state)
{
    (void)state;
    struct response r;
    response_start(&r);
    uint8_t name[WIRE_NAME_MAX];
    size_t len = 0;
    name_from_text("mail.example.lan", name, &len);
    size_t pos = r.pos;

    /* needs 7 octets: 4mail + pointer */
    assert_int_equal(wire_name_write(r.data, pos + 6, &r.pos, name, len, &r.c), -1);
    assert_int_equal(r.pos, pos);
    assert_int_equal(r.c.count, 3);
    assert_int_equal(wire_name_write(r.data, pos + 7, &r.pos, name, len, &r.c), 0);
    assert_int_equal(r.pos, pos + 7);
}

static void test_write_of_whole_name_that_does_not_fit_fails(void **state)
{
    (void)state;
    uint8_t packet[20] = {0};
    size_t pos = 4;
    struct wire_compressor c;
    wire_compressor_init(&c);

    /* 17 octets do not fit in the 16 left */
    assert_int_equal(wire_name_write(packet, sizeof(packet), &pos,
                                     (const uint8_t *)"\3www\7example\3lan", 17, &c),
                     -1);
    assert_int_equal(pos, 4);
}

static void test_write_does_not_remember_offsets_beyond_pointer_range(void **state)
{
    (void)state;
    static uint8_t packet[0x4100];
    size_t pos = 0x4000;
    struct wire_compressor c;
    wire_compressor_init(&c);

    assert_int_equal(wire_name_write(packet, sizeof(packet), &pos, (const uint8_t *)"\3lan", 5, &c),
                     0);
    assert_int_equal(c.count, 0);
}

static void test_compressed_names_parse_back_to_the_same_names(void **state)
{
    (void)state;
    static const char *const names[] = {
        "www.Example.lan",
        "example.lan",
        "mail.example.lan",
        "smtp.MAIL.example.lan",
        "lan",
        "a.b.c.other.test",
        "b.c.other.test",
        "x.b.c.OTHER.test",
        ".",
        "_sip._tcp.example.lan",
    };
    enum { COUNT = sizeof(names) / sizeof(names[0]) };
    struct response r;
    response_start(&r);
    size_t at[COUNT];
    for (unsigned i = 0; i < COUNT; i++)
        at[i] = response_write(&r, names[i]);

    for (unsigned i = 0; i < COUNT; i++) {
        uint8_t expected[WIRE_NAME_MAX], parsed[WIRE_NAME_MAX];
        size_t expected_len = 0, parsed_len = 0, off = at[i];
        name_from_text(names[i], expected, &expected_len);
        assert_int_equal(wire_name_parse(r.data, r.pos, &off, parsed, &parsed_len), 0);
        assert_int_equal(parsed_len, expected_len);
        assert_true(wire_name_equal(parsed, parsed_len, expected, expected_len));
        assert_int_equal(off, i + 1 < COUNT ? at[i + 1] : r.pos);
    }
}

static void test_rdata_layout_places_names_per_type(void **state)
{
    (void)state;
    struct wire_rdata_layout l;
    assert_true(wire_rdata_layout(WIRE_TYPE_CNAME, &l));
    assert_int_equal(l.names_offset, 0);
    assert_int_equal(l.names_count, 1);
    assert_true(l.compressible);
    assert_true(wire_rdata_layout(WIRE_TYPE_MX, &l));
    assert_int_equal(l.names_offset, 2);
    assert_true(wire_rdata_layout(WIRE_TYPE_SOA, &l));
    assert_int_equal(l.names_count, 2);
    assert_int_equal(l.fixed_after, 20);
    /* RFC 2782: the SRV target is never compressed. */
    assert_true(wire_rdata_layout(WIRE_TYPE_SRV, &l));
    assert_int_equal(l.names_offset, 6);
    assert_false(l.compressible);
    assert_false(wire_rdata_layout(WIRE_TYPE_A, &l));
    assert_false(wire_rdata_layout(WIRE_TYPE_TXT, &l));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_plain_is_ok_with_every_field_set),
        cmocka_unit_test(test_query_question_as_sent_keeps_its_case),
        cmocka_unit_test(test_query_with_edns_reports_payload_version_and_do),
        cmocka_unit_test(test_query_with_edns_without_do_reports_do_clear),
        cmocka_unit_test(test_query_with_edns_options_is_ok),
        cmocka_unit_test(test_query_with_edns_version_1_is_badvers),
        cmocka_unit_test(test_query_with_qr_set_is_dropped),
        cmocka_unit_test(test_query_shorter_than_header_is_dropped),
        cmocka_unit_test(test_query_with_notify_opcode_is_notimp_with_question_parsed),
        cmocka_unit_test(test_query_with_unknown_opcode_and_no_question_is_notimp),
        cmocka_unit_test(test_query_with_no_question_is_formerr),
        cmocka_unit_test(test_query_with_two_questions_is_formerr),
        cmocka_unit_test(test_query_with_trailing_garbage_is_formerr),
        cmocka_unit_test(test_query_with_truncated_question_name_is_formerr),
        cmocka_unit_test(test_query_with_truncated_qclass_is_formerr),
        cmocka_unit_test(test_query_with_compressed_question_name_is_formerr),
        cmocka_unit_test(test_query_with_two_opts_is_formerr),
        cmocka_unit_test(test_query_with_opt_not_owned_by_root_is_formerr),
        cmocka_unit_test(test_query_with_opt_owned_by_pointer_is_formerr),
        cmocka_unit_test(test_query_with_truncated_opt_rdata_is_formerr),
        cmocka_unit_test(test_query_with_missing_additional_record_is_formerr),
        cmocka_unit_test(test_query_answer_and_authority_records_are_skipped),
        cmocka_unit_test(test_query_with_truncated_answer_record_is_formerr),
        cmocka_unit_test(test_name_parse_reads_uncompressed_name),
        cmocka_unit_test(test_name_parse_follows_backward_pointer_and_advances_two_octets),
        cmocka_unit_test(test_name_parse_follows_chained_pointers),
        cmocka_unit_test(test_name_parse_compression_loop_is_error),
        cmocka_unit_test(test_name_parse_two_pointers_to_each_other_is_error),
        cmocka_unit_test(test_name_parse_pointer_to_itself_is_error),
        cmocka_unit_test(test_name_parse_forward_pointer_is_error),
        cmocka_unit_test(test_name_parse_pointer_out_of_bounds_is_error),
        cmocka_unit_test(test_name_parse_pointer_cut_after_first_octet_is_error),
        cmocka_unit_test(test_name_parse_label_cut_by_end_of_packet_is_error),
        cmocka_unit_test(test_name_parse_missing_root_label_is_error),
        cmocka_unit_test(test_name_parse_label_over_63_octets_is_error),
        cmocka_unit_test(test_name_parse_label_of_63_octets_is_accepted),
        cmocka_unit_test(test_name_parse_reserved_label_types_are_errors),
        cmocka_unit_test(test_name_parse_name_over_255_octets_via_pointers_is_error),
        cmocka_unit_test(test_name_parse_name_of_255_octets_is_accepted),
        cmocka_unit_test(test_name_from_text_gives_wire_form_keeping_case),
        cmocka_unit_test(test_name_from_text_trailing_dot_is_the_same_name),
        cmocka_unit_test(test_name_from_text_dot_is_the_root),
        cmocka_unit_test(test_name_from_text_accepts_underscores),
        cmocka_unit_test(test_name_from_text_understands_escapes),
        cmocka_unit_test(test_name_from_text_rejects_bad_escapes),
        cmocka_unit_test(test_name_from_text_empty_label_is_error),
        cmocka_unit_test(test_name_from_text_label_over_63_octets_is_error),
        cmocka_unit_test(test_name_from_text_label_of_63_octets_is_accepted),
        cmocka_unit_test(test_name_from_text_name_over_255_octets_is_error),
        cmocka_unit_test(test_name_from_text_name_of_255_octets_is_accepted),
        cmocka_unit_test(test_name_from_text_rejects_space_and_control_characters),
        cmocka_unit_test(test_name_to_text_has_no_trailing_dot),
        cmocka_unit_test(test_name_to_text_of_root_is_dot),
        cmocka_unit_test(test_name_to_text_escapes_dot_backslash_and_unprintables),
        cmocka_unit_test(test_name_to_text_that_does_not_fit_is_error),
        cmocka_unit_test(test_name_text_round_trip_keeps_every_octet),
        cmocka_unit_test(test_name_lower_lowercases_ascii_only),
        cmocka_unit_test(test_name_equal_ignores_case),
        cmocka_unit_test(test_name_equal_tells_different_names_apart),
        cmocka_unit_test(test_name_labels_gives_label_offsets_without_root),
        cmocka_unit_test(test_name_valid_accepts_only_one_complete_name),
        cmocka_unit_test(test_compressor_add_remembers_each_label),
        cmocka_unit_test(test_write_same_name_is_just_a_pointer),
        cmocka_unit_test(test_write_shared_suffix_is_labels_then_pointer),
        cmocka_unit_test(test_write_matches_case_insensitively),
        cmocka_unit_test(test_write_unrelated_name_is_written_whole),
        cmocka_unit_test(test_write_root_is_one_zero_octet),
        cmocka_unit_test(test_write_points_at_labels_it_wrote_before),
        cmocka_unit_test(test_write_prefers_longest_suffix),
        cmocka_unit_test(test_write_with_full_table_writes_names_whole),
        cmocka_unit_test(test_write_that_does_not_fit_fails_and_keeps_pos),
        cmocka_unit_test(test_write_of_whole_name_that_does_not_fit_fails),
        cmocka_unit_test(test_write_does_not_remember_offsets_beyond_pointer_range),
        cmocka_unit_test(test_compressed_names_parse_back_to_the_same_names),
        cmocka_unit_test(test_rdata_layout_places_names_per_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
