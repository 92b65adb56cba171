/* Unit tests for dataplane/chase.c, the pure half of CNAME chasing: step
 * answers merged into one (names decompressed, the last step's rcode and
 * SOA), where the chain ends, and the client's answer written out. Step
 * messages are built by hand below. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "chase.h"
#include "relay.h"
#include "wire.h"

#define ANSWER_SECTION 0
#define AUTHORITY_SECTION 1

/* ---- messages ------------------------------------------------------------- */

struct msg {
    uint8_t buf[4096];
    size_t len;
};

static size_t name_put(uint8_t *out, const char *text)
{
    char err[64];
    size_t len = 0;
    assert_int_equal(wire_name_from_text(text, out, &len, err, sizeof err), 0);
    return len;
}

/* A response to qname/qtype with flags (QR added), no records yet. */
static void msg_start(struct msg *m, const char *qname, uint16_t qtype, uint16_t flags)
{
    memset(m, 0, sizeof *m);
    wire_put16(m->buf, 0x4242);
    wire_put16(m->buf + 2, (uint16_t)(WIRE_FLAG_QR | flags));
    wire_put16(m->buf + 4, 1);
    m->len = WIRE_HEADER_SIZE;
    m->len += name_put(m->buf + m->len, qname);
    wire_put16(m->buf + m->len, qtype);
    wire_put16(m->buf + m->len + 2, WIRE_CLASS_IN);
    m->len += 4;
}

/* One record: owner (text, or NULL for a pointer to the question's name),
 * rdata as given. */
static void msg_rr(struct msg *m, int section, const char *owner, uint16_t type,
                   const uint8_t *rdata, size_t rdlength)
{
    if (owner != NULL) {
        m->len += name_put(m->buf + m->len, owner);
    } else {
        wire_put16(m->buf + m->len, 0xC000 | WIRE_HEADER_SIZE);
        m->len += 2;
    }
    wire_put16(m->buf + m->len, type);
    wire_put16(m->buf + m->len + 2, WIRE_CLASS_IN);
    wire_put32(m->buf + m->len + 4, 300);
    wire_put16(m->buf + m->len + 8, (uint16_t)rdlength);
    m->len += 10;
    memcpy(m->buf + m->len, rdata, rdlength);
    m->len += rdlength;
    size_t count_at = 6 + 2 * (size_t)section;
    wire_put16(m->buf + count_at, (uint16_t)(wire_get16(m->buf + count_at) + 1));
}

static void msg_cname(struct msg *m, const char *owner, const char *target)
{
    uint8_t rdata[WIRE_NAME_MAX];
    msg_rr(m, ANSWER_SECTION, owner, WIRE_TYPE_CNAME, rdata, name_put(rdata, target));
}

static void msg_a(struct msg *m, const char *owner, uint8_t last_octet)
{
    const uint8_t rdata[4] = {192, 0, 2, last_octet};
    msg_rr(m, ANSWER_SECTION, owner, WIRE_TYPE_A, rdata, 4);
}

static void msg_soa(struct msg *m, const char *zone)
{
    uint8_t rdata[2 * WIRE_NAME_MAX + 20];
    size_t len = name_put(rdata, "ns.corp.example");
    len += name_put(rdata + len, "hostmaster.corp.example");
    memset(rdata + len, 0, 20);
    wire_put32(rdata + len + 16, 42); /* minimum */
    msg_rr(m, AUTHORITY_SECTION, zone, WIRE_TYPE_SOA, rdata, len + 20);
}

/* Our step: alias.internal.lan CNAME www.corp.example, AA. */
static void our_step(struct msg *m)
{
    msg_start(m, "alias.internal.lan", WIRE_TYPE_A, WIRE_FLAG_AA | WIRE_FLAG_RD);
    msg_cname(m, NULL, "www.corp.example");
}

struct chased {
    uint8_t buf[8192];
    struct chase_answer answer;
};

static void chased_init(struct chased *c)
{
    chase_answer_init(&c->answer, c->buf, sizeof c->buf);
}

static bool next(const struct chased *c, const char *qname, uint16_t qtype, char *target_text)
{
    uint8_t q[WIRE_NAME_MAX], target[WIRE_NAME_MAX];
    size_t q_len = name_put(q, qname), target_len = 0;
    if (!chase_next(&c->answer, q, q_len, qtype, target, &target_len))
        return false;
    /* wire to text, enough for the names here */
    size_t at = 0, out = 0;
    while (target[at] != 0) {
        memcpy(target_text + out, target + at + 1, target[at]);
        out += target[at];
        target_text[out++] = '.';
        at += 1u + target[at];
    }
    target_text[out] = 0;
    return true;
}

static struct relay_client client_for(const char *qname, bool edns)
{
    struct relay_client client;
    memset(&client, 0, sizeof client);
    client.id = 0x1234;
    client.flags = WIRE_FLAG_RD;
    client.has_edns = edns;
    size_t len = name_put(client.question, qname);
    wire_put16(client.question + len, WIRE_TYPE_A);
    wire_put16(client.question + len + 2, WIRE_CLASS_IN);
    client.question_len = (uint16_t)(len + 4);
    return client;
}

/* ---- appending steps -------------------------------------------------------- */

static void test_our_cname_out_leads_to_its_target(void **state)
{
    (void)state;
    struct chased c;
    chased_init(&c);
    struct msg m;
    our_step(&m);
    assert_int_equal(chase_append(&c.answer, m.buf, m.len, true), 0);
    char target[WIRE_NAME_MAX];
    assert_true(next(&c, "alias.internal.lan", WIRE_TYPE_A, target));
    assert_string_equal(target, "www.corp.example.");
    assert_true(c.answer.authoritative);
}

static void test_appended_names_are_decompressed(void **state)
{
    (void)state;
    struct chased c;
    chased_init(&c);
    struct msg m;
    our_step(&m); /* its owner is a pointer into its own question */
    assert_int_equal(chase_append(&c.answer, m.buf, m.len, true), 0);
    uint8_t expected[WIRE_NAME_MAX];
    size_t len = name_put(expected, "alias.internal.lan");
    assert_memory_equal(c.answer.buf, expected, len);
    assert_int_equal(wire_get16(c.answer.buf + len), WIRE_TYPE_CNAME);
    assert_int_equal(c.answer.answer_count, 1);
}

static void test_an_answered_chain_has_no_next_name(void **state)
{
    (void)state;
    struct chased c;
    chased_init(&c);
    struct msg ours, theirs;
    our_step(&ours);
    msg_start(&theirs, "www.corp.example", WIRE_TYPE_A, WIRE_FLAG_RA);
    msg_a(&theirs, NULL, 10);
    assert_int_equal(chase_append(&c.answer, ours.buf, ours.len, true), 0);
    assert_int_equal(chase_append(&c.answer, theirs.buf, theirs.len, false), 0);
    char target[WIRE_NAME_MAX];
    assert_false(next(&c, "alias.internal.lan", WIRE_TYPE_A, target));
    assert_int_equal(c.answer.answer_count, 2);
    assert_false(c.answer.authoritative);
    assert_int_equal(c.answer.rcode, WIRE_RCODE_NOERROR);
}

static void test_a_chain_back_into_our_data_leads_there(void **state)
{
    (void)state;
    struct chased c;
    chased_init(&c);
    struct msg ours, theirs;
    our_step(&ours);
    msg_start(&theirs, "www.corp.example", WIRE_TYPE_A, WIRE_FLAG_RA);
    msg_cname(&theirs, NULL, "home.internal.lan");
    assert_int_equal(chase_append(&c.answer, ours.buf, ours.len, true), 0);
    assert_int_equal(chase_append(&c.answer, theirs.buf, theirs.len, false), 0);
    char target[WIRE_NAME_MAX];
    assert_true(next(&c, "alias.internal.lan", WIRE_TYPE_A, target));
    assert_string_equal(target, "home.internal.lan.");
}

static void test_a_loop_has_no_next_name(void **state)
{
    (void)state;
    struct chased c;
    chased_init(&c);
    struct msg ours, theirs;
    our_step(&ours);
    msg_start(&theirs, "www.corp.example", WIRE_TYPE_A, WIRE_FLAG_RA);
    msg_cname(&theirs, NULL, "ALIAS.internal.lan"); /* names compare case-insensitively */
    assert_int_equal(chase_append(&c.answer, ours.buf, ours.len, true), 0);
    assert_int_equal(chase_append(&c.answer, theirs.buf, theirs.len, false), 0);
    char target[WIRE_NAME_MAX];
    assert_false(next(&c, "alias.internal.lan", WIRE_TYPE_A, target));
}

static void test_a_chain_of_more_than_eight_links_is_not_followed(void **state)
{
    (void)state;
    struct chased c;
    chased_init(&c);
    struct msg m;
    msg_start(&m, "l0.corp.example", WIRE_TYPE_A, WIRE_FLAG_RA);
    char owner[32], target_name[32];
    for (int i = 0; i < CHASE_LINKS_MAX; i++) {
        snprintf(owner, sizeof owner, "l%d.corp.example", i);
        snprintf(target_name, sizeof target_name, "l%d.corp.example", i + 1);
        msg_cname(&m, owner, target_name);
    }
    assert_int_equal(chase_append(&c.answer, m.buf, m.len, false), 0);
    char target[WIRE_NAME_MAX];
    assert_true(next(&c, "l0.corp.example", WIRE_TYPE_A, target)); /* eight: its end is asked */
    assert_string_equal(target, "l8.corp.example.");
    msg_start(&m, "l8.corp.example", WIRE_TYPE_A, WIRE_FLAG_RA);
    msg_cname(&m, NULL, "l9.corp.example");
    assert_int_equal(chase_append(&c.answer, m.buf, m.len, false), 0);
    assert_false(next(&c, "l0.corp.example", WIRE_TYPE_A, target)); /* nine: no more */
}

static void test_the_last_steps_rcode_and_soa_are_kept(void **state)
{
    (void)state;
    struct chased c;
    chased_init(&c);
    struct msg ours, theirs;
    our_step(&ours);
    msg_start(&theirs, "www.corp.example", WIRE_TYPE_A, WIRE_FLAG_RA | WIRE_RCODE_NXDOMAIN);
    msg_soa(&theirs, "corp.example");
    assert_int_equal(chase_append(&c.answer, ours.buf, ours.len, true), 0);
    assert_int_equal(chase_append(&c.answer, theirs.buf, theirs.len, false), 0);
    assert_int_equal(c.answer.rcode, WIRE_RCODE_NXDOMAIN);
    assert_true(c.answer.authority_len > 0);
    /* a later step without an SOA drops it */
    msg_start(&theirs, "home.internal.lan", WIRE_TYPE_A, WIRE_FLAG_AA);
    msg_a(&theirs, NULL, 7);
    assert_int_equal(chase_append(&c.answer, theirs.buf, theirs.len, true), 0);
    assert_int_equal(c.answer.rcode, WIRE_RCODE_NOERROR);
    assert_int_equal(c.answer.authority_len, 0);
}

static void test_a_message_that_does_not_parse_changes_nothing(void **state)
{
    (void)state;
    struct chased c;
    chased_init(&c);
    struct msg m;
    our_step(&m);
    assert_int_equal(chase_append(&c.answer, m.buf, m.len - 3, true), -1);
    assert_int_equal(c.answer.len, 0);
    assert_int_equal(c.answer.steps, 0);
}

static void test_a_step_that_does_not_fit_changes_nothing(void **state)
{
    (void)state;
    uint8_t small[16];
    struct chase_answer a;
    chase_answer_init(&a, small, sizeof small);
    struct msg m;
    our_step(&m);
    assert_int_equal(chase_append(&a, m.buf, m.len, true), -2);
    assert_int_equal(a.len, 0);
    assert_int_equal(a.answer_count, 0);
}

/* ---- the client's answer ------------------------------------------------------ */

static void test_the_answer_has_the_clients_id_question_and_no_aa(void **state)
{
    (void)state;
    struct chased c;
    chased_init(&c);
    struct msg ours, theirs;
    our_step(&ours);
    msg_start(&theirs, "www.corp.example", WIRE_TYPE_A, WIRE_FLAG_RA | WIRE_FLAG_AA);
    msg_a(&theirs, NULL, 10);
    assert_int_equal(chase_append(&c.answer, ours.buf, ours.len, true), 0);
    assert_int_equal(chase_append(&c.answer, theirs.buf, theirs.len, false), 0);
    struct relay_client client = client_for("Alias.Internal.Lan", true);
    uint8_t out[4096];
    bool truncated = true;
    size_t len = chase_finish(&c.answer, &client, 1232, 4096, out, &truncated);
    assert_false(truncated);
    assert_int_equal(wire_get16(out), 0x1234);
    uint16_t flags = wire_get16(out + 2);
    assert_true(flags & WIRE_FLAG_QR);
    assert_true(flags & WIRE_FLAG_RD);
    assert_true(flags & WIRE_FLAG_RA);
    assert_false(flags & WIRE_FLAG_AA);
    assert_int_equal(flags & 0xF, WIRE_RCODE_NOERROR);
    assert_memory_equal(out + WIRE_HEADER_SIZE, client.question, client.question_len);
    assert_int_equal(wire_get16(out + 6), 2);
    assert_int_equal(wire_get16(out + 8), 0);
    assert_int_equal(wire_get16(out + 10), 1); /* its OPT */
    assert_int_equal(len, WIRE_HEADER_SIZE + client.question_len + c.answer.len + 11);
}

static void test_an_nxdomain_target_answer_carries_the_soa(void **state)
{
    (void)state;
    struct chased c;
    chased_init(&c);
    struct msg ours, theirs;
    our_step(&ours);
    msg_start(&theirs, "www.corp.example", WIRE_TYPE_A, WIRE_FLAG_RA | WIRE_RCODE_NXDOMAIN);
    msg_soa(&theirs, "corp.example");
    assert_int_equal(chase_append(&c.answer, ours.buf, ours.len, true), 0);
    assert_int_equal(chase_append(&c.answer, theirs.buf, theirs.len, false), 0);
    struct relay_client client = client_for("alias.internal.lan", false);
    uint8_t out[4096];
    bool truncated;
    chase_finish(&c.answer, &client, 1232, 512, out, &truncated);
    assert_int_equal(wire_get16(out + 2) & 0xF, WIRE_RCODE_NXDOMAIN);
    assert_int_equal(wire_get16(out + 6), 1);
    assert_int_equal(wire_get16(out + 8), 1);
    assert_int_equal(wire_get16(out + 10), 0);
}

static void test_an_answer_over_the_limit_is_tc_with_the_question_only(void **state)
{
    (void)state;
    struct chased c;
    chased_init(&c);
    struct msg ours, theirs;
    our_step(&ours);
    msg_start(&theirs, "www.corp.example", WIRE_TYPE_A, WIRE_FLAG_RA);
    for (int i = 0; i < 40; i++)
        msg_a(&theirs, "www.corp.example", (uint8_t)i);
    assert_int_equal(chase_append(&c.answer, ours.buf, ours.len, true), 0);
    assert_int_equal(chase_append(&c.answer, theirs.buf, theirs.len, false), 0);
    struct relay_client client = client_for("alias.internal.lan", true);
    uint8_t out[4096];
    bool truncated = false;
    size_t len = chase_finish(&c.answer, &client, 1232, 512, out, &truncated);
    assert_true(truncated);
    assert_true(wire_get16(out + 2) & WIRE_FLAG_TC);
    assert_int_equal(wire_get16(out + 6), 0);
    assert_int_equal(wire_get16(out + 10), 1);
    assert_int_equal(len, WIRE_HEADER_SIZE + client.question_len + 11);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_our_cname_out_leads_to_its_target),
        cmocka_unit_test(test_appended_names_are_decompressed),
        cmocka_unit_test(test_an_answered_chain_has_no_next_name),
        cmocka_unit_test(test_a_chain_back_into_our_data_leads_there),
        cmocka_unit_test(test_a_loop_has_no_next_name),
        cmocka_unit_test(test_a_chain_of_more_than_eight_links_is_not_followed),
        cmocka_unit_test(test_the_last_steps_rcode_and_soa_are_kept),
        cmocka_unit_test(test_a_message_that_does_not_parse_changes_nothing),
        cmocka_unit_test(test_a_step_that_does_not_fit_changes_nothing),
        cmocka_unit_test(test_the_answer_has_the_clients_id_question_and_no_aa),
        cmocka_unit_test(test_an_nxdomain_target_answer_carries_the_soa),
        cmocka_unit_test(test_an_answer_over_the_limit_is_tc_with_the_question_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
