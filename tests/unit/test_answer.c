/* Unit tests for dataplane/answer.c: the answering rules, one per test,
 * against images compiled from the JSON configs below (config_load_buffer
 * + compile_config + image_open), with query packets built by hand. Every
 * response goes through msg_parse, which asserts it is well-formed. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "answer.h"
#include "compile.h"
#include "config.h"
#include "image.h"
#include "image_fixture.h"
#include "wire.h"

/* JSON written as C tokens: the preprocessor turns it into the string. */
#define JSON(...) #__VA_ARGS__

/* clang-format off */

/* The main fixture: two zones with different SOA minimums, one of each
 * kind of data the rules below talk about. config_version 5, so the SOA
 * serial served is 2024010101 + 5. */
static const char MAIN_CONFIG[] = JSON({
    "server": {"upstream": [], "mgmt_port": 0, "hot_reload": false, "log_queries": false,
               "config_version": 5},
    "zones": {
        "x.test": {
            "soa": {"mname": "ns1.x.test", "rname": "hostmaster.x.test", "serial": 2024010101,
                    "refresh": 3600, "retry": 900, "expire": 604800, "minimum": 300},
            "ns": ["ns1.x.test"]
        },
        "neg.test": {
            "soa": {"mname": "ns1.neg.test", "rname": "hostmaster.neg.test", "serial": 7,
                    "refresh": 3600, "retry": 900, "expire": 604800, "minimum": 7200},
            "ns": ["ns1.neg.test"]
        }
    },
    "records": [
        {"name": "ns1.x.test", "type": "A", "value": "10.0.0.53", "ttl": 3600},
        {"name": "www.x.test", "type": "A", "value": "10.0.0.80", "ttl": 300},
        {"name": "multi.x.test", "type": "A", "value": "10.0.0.1", "ttl": 120},
        {"name": "multi.x.test", "type": "A", "value": "10.0.0.2", "ttl": 120},
        {"name": "multi.x.test", "type": "A", "value": "10.0.0.3", "ttl": 120},
        {"name": "x.test", "type": "MX", "value": "mail.x.test", "priority": 10, "ttl": 3600},
        {"name": "mail.x.test", "type": "A", "value": "10.0.0.25", "ttl": 300},
        {"name": "mail.x.test", "type": "AAAA", "value": "fd00::25", "ttl": 300},
        {"name": "extmx.x.test", "type": "MX", "value": "mail.example.org", "priority": 10},
        {"name": "_sip._tcp.x.test", "type": "SRV", "value": "sip.x.test",
         "priority": 10, "weight": 20, "port": 5060, "ttl": 300},
        {"name": "sip.x.test", "type": "A", "value": "10.0.0.60", "ttl": 300},
        {"name": "txt.x.test", "type": "TXT", "value": "hello world", "ttl": 300},
        {"name": "a.b.x.test", "type": "A", "value": "10.0.0.2", "ttl": 300},

        {"name": "alias.x.test", "type": "CNAME", "value": "www.x.test", "ttl": 60},
        {"name": "chain1.x.test", "type": "CNAME", "value": "chain2.x.test"},
        {"name": "chain2.x.test", "type": "CNAME", "value": "chain3.x.test"},
        {"name": "chain3.x.test", "type": "CNAME", "value": "www.x.test"},
        {"name": "loopa.x.test", "type": "CNAME", "value": "loopb.x.test"},
        {"name": "loopb.x.test", "type": "CNAME", "value": "loopa.x.test"},
        {"name": "ext.x.test", "type": "CNAME", "value": "www.example.org"},
        {"name": "dangling.x.test", "type": "CNAME", "value": "nothere.x.test"},

        {"name": "app.x.test", "type": "A", "value": "10.0.0.9", "wildcard": true},
        {"name": "real.app.x.test", "type": "A", "value": "10.0.0.10"},

        {"name": "bad.x.test", "type": "A", "value": "10.0.0.66"},
        {"name": "ads.x.test", "type": "A", "value": "10.0.0.70"},

        {"name": "host.neg.test", "type": "A", "value": "10.1.0.1"},
        {"name": "standalone.other", "type": "A", "value": "10.9.9.9", "ttl": 300}
    ],
    "rewrites": [
        {"match": "bad.x.test", "action": "nxdomain"},
        {"match": "*.ads.x.test", "action": "nxdomain"},
        {"match": "blocked.example.com", "action": "nxdomain"}
    ]
});

/* A configured EDNS payload size to advertise. */
static const char EDNS_1400_CONFIG[] = JSON({
    "server": {"upstream": [], "mgmt_port": 0, "hot_reload": false, "edns_payload": 1400},
    "zones": {
        "x.test": {
            "soa": {"mname": "ns1.x.test", "rname": "hostmaster.x.test", "serial": 1,
                    "refresh": 3600, "retry": 900, "expire": 604800, "minimum": 300},
            "ns": ["ns1.x.test"]
        }
    },
    "records": [{"name": "www.x.test", "type": "A", "value": "10.0.0.80"}]
});

/* The generated config below: %s stands for its records. */
static const char SIZED_CONFIG_FORMAT[] = JSON({
    "server": {"upstream": [], "mgmt_port": 0, "hot_reload": false, "edns_payload": 1232},
    "zones": {
        "x.test": {
            "soa": {"mname": "ns1.x.test", "rname": "hostmaster.x.test", "serial": 1,
                    "refresh": 3600, "retry": 900, "expire": 604800, "minimum": 300},
            "ns": ["ns1.x.test"]
        }
    },
    "records": [
        {"name": "ns1.x.test", "type": "A", "value": "10.0.0.53"},
        %s
    ]
});

/* Forwarding and the access lists: 10.0.0.0/8 may recurse, 192.168.0.0/16
 * may only query, anyone else may not even query. corp.example has
 * servers of its own. */
static const char ACL_CONFIG[] = JSON({
    "server": {"upstream": ["192.0.2.53"], "mgmt_port": 0, "hot_reload": false,
               "log_queries": false,
               "allow_recursion": ["10.0.0.0/8"],
               "allow_query": ["10.0.0.0/8", "192.168.0.0/16"],
               "forward_zones": {"corp.example": ["192.0.2.1"]}},
    "zones": {
        "x.test": {
            "soa": {"mname": "ns1.x.test", "rname": "hostmaster.x.test", "serial": 1,
                    "refresh": 3600, "retry": 900, "expire": 604800, "minimum": 300},
            "ns": ["ns1.x.test"]
        }
    },
    "records": [{"name": "www.x.test", "type": "A", "value": "10.0.0.80"}],
    "rewrites": [{"match": "*.ads.example", "action": "nxdomain"}]
});

/* No default upstream: only names under corp.example are forwarded. */
static const char FORWARD_ZONE_ONLY_CONFIG[] = JSON({
    "server": {"upstream": [], "mgmt_port": 0, "hot_reload": false,
               "forward_zones": {"corp.example": ["192.0.2.1"]}},
    "zones": {
        "x.test": {
            "soa": {"mname": "ns1.x.test", "rname": "hostmaster.x.test", "serial": 1,
                    "refresh": 3600, "retry": 900, "expire": 604800, "minimum": 300},
            "ns": ["ns1.x.test"]
        }
    },
    "records": [{"name": "www.x.test", "type": "A", "value": "10.0.0.80"}]
});

/* A zone whose parent is neither ours nor locally served. */
static const char PARENT_CONFIG[] = JSON({
    "server": {"upstream": [], "mgmt_port": 0, "hot_reload": false},
    "zones": {"x.corp.example": {"ns": ["ns1.x.corp.example"]}},
    "records": [{"name": "ns1.x.corp.example", "type": "A", "value": "10.0.0.53"}]
});

/* Locally served zones, single-label names, the search domain and
 * automatic PTRs. 10.0.0.0/8 may recurse. 168.192.in-addr.arpa is a zone
 * of ours; a forward zone sits below 10.in-addr.arpa, another at
 * 16.172.in-addr.arpa. */
static const char LOCAL_CONFIG[] = JSON({
    "server": {"upstream": ["192.0.2.53"], "mgmt_port": 0, "hot_reload": false,
               "log_queries": false, "allow_recursion": ["10.0.0.0/8"],
               "forward_zones": {"1.10.in-addr.arpa": ["192.0.2.1"],
                                 "16.172.in-addr.arpa": ["192.0.2.2"],
                                 "lab": ["192.0.2.3"]},
               "search_domain": "internal.lan"},
    "zones": {
        "internal.lan": {
            "soa": {"mname": "ns1.internal.lan", "rname": "hostmaster.internal.lan",
                    "serial": 1, "refresh": 3600, "retry": 900, "expire": 604800,
                    "minimum": 300},
            "ns": ["ns1.internal.lan"]
        },
        "168.192.in-addr.arpa": {
            "soa": {"mname": "ns1.internal.lan", "rname": "hostmaster.internal.lan",
                    "serial": 1, "refresh": 3600, "retry": 900, "expire": 604800,
                    "minimum": 300},
            "ns": ["ns1.internal.lan"]
        }
    },
    "records": [
        {"name": "ns1.internal.lan", "type": "A", "value": "10.0.0.53"},
        {"name": "printer.internal.lan", "type": "A", "value": "10.0.0.9", "ttl": 120},
        {"name": "alias.internal.lan", "type": "CNAME", "value": "printer.internal.lan"},
        {"name": "web.internal.lan", "type": "A", "value": "10.0.0.80"},
        {"name": "www2.internal.lan", "type": "A", "value": "10.0.0.80"},
        {"name": "v6.internal.lan", "type": "AAAA", "value": "fd00::1"},
        {"name": "explicit.internal.lan", "type": "A", "value": "10.0.0.7"},
        {"name": "7.0.0.10.in-addr.arpa", "type": "PTR", "value": "other.internal.lan"},
        {"name": "public.internal.lan", "type": "A", "value": "198.18.0.5"},
        {"name": "lan.internal.lan", "type": "A", "value": "192.168.1.10"},
        {"name": "wild.internal.lan", "type": "A", "value": "10.0.0.99", "wildcard": true},
        {"name": "files.home.arpa", "type": "A", "value": "10.0.0.60"},
        {"name": "nas", "type": "A", "value": "10.0.0.61"},
        {"name": "host.1.10.in-addr.arpa", "type": "TXT", "value": "ours"}
    ]
});

/* Each of the settings off. */
static const char NO_LOCAL_ZONES_CONFIG[] = JSON({
    "server": {"upstream": [], "mgmt_port": 0, "hot_reload": false, "local_zones": false}
});
static const char NO_DOMAIN_NEEDED_CONFIG[] = JSON({
    "server": {"upstream": ["192.0.2.53"], "mgmt_port": 0, "hot_reload": false,
               "domain_needed": false}
});
static const char NO_AUTO_PTR_CONFIG[] = JSON({
    "server": {"upstream": [], "mgmt_port": 0, "hot_reload": false, "auto_ptr": false},
    "records": [{"name": "h.internal.lan", "type": "A", "value": "10.0.0.9"}]
});

/* RFC 4592 wildcards: owners whose first label is "*". */
static const char STAR_CONFIG[] = JSON({
    "server": {"upstream": [], "mgmt_port": 0, "hot_reload": false, "log_queries": false},
    "zones": {
        "x.test": {
            "soa": {"mname": "ns1.x.test", "rname": "hostmaster.x.test", "serial": 1,
                    "refresh": 3600, "retry": 900, "expire": 604800, "minimum": 300},
            "ns": ["ns1.x.test"]
        },
        "apex.test": {"ns": ["ns1.x.test"]},
        "in.sub.apex.test": {"ns": ["ns1.x.test"]}
    },
    "records": [
        {"name": "ns1.x.test", "type": "A", "value": "10.0.0.53"},
        {"name": "*.w.x.test", "type": "A", "value": "10.0.4.1"},
        {"name": "*.w.x.test", "type": "TXT", "value": "from the wildcard"},
        {"name": "sub.w.x.test", "type": "A", "value": "10.0.4.2"},
        {"name": "a.ent.w.x.test", "type": "A", "value": "10.0.4.3"},
        {"name": "*.cn.x.test", "type": "CNAME", "value": "target.x.test"},
        {"name": "target.x.test", "type": "A", "value": "10.0.4.4"},
        {"name": "via.x.test", "type": "CNAME", "value": "name.w.x.test"},
        {"name": "a.*.e.x.test", "type": "A", "value": "10.0.4.5"},
        {"name": "*.apex.test", "type": "A", "value": "10.0.4.6"},
        {"name": "*.dev.lan", "type": "A", "value": "10.0.5.1"},
        {"name": "host.b.dev.lan", "type": "A", "value": "10.0.5.2"}
    ]
});

/* clang-format on */

/* Answers of known sizes, generated: big60.x.test has 60 A records (16
 * octets each in the answer: about 1000 octets), big90.x.test 90 (about
 * 1480), huge.x.test 300 TXT records of 200 characters (about 64 KB). */
static char *sized_config(void)
{
    size_t cap = 100000, len = 0;
    char *records = malloc(cap);
    assert_non_null(records);
    for (int i = 0; i < 60; i++)
        len += (size_t)snprintf(records + len, cap - len,
                                "{\"name\": \"big60.x.test\", \"type\": \"A\", "
                                "\"value\": \"10.0.0.%d\"},\n",
                                i + 1);
    for (int i = 0; i < 90; i++)
        len += (size_t)snprintf(records + len, cap - len,
                                "{\"name\": \"big90.x.test\", \"type\": \"A\", "
                                "\"value\": \"10.0.1.%d\"},\n",
                                i + 1);
    for (int i = 0; i < 300; i++) {
        char value[201];
        snprintf(value, sizeof value, "%04d", i);
        memset(value + 4, 'x', 196);
        value[200] = '\0';
        len += (size_t)snprintf(records + len, cap - len,
                                "{\"name\": \"huge.x.test\", \"type\": \"TXT\", "
                                "\"value\": \"%s\"}%s\n",
                                value, i < 299 ? "," : "");
    }
    assert_true(len < cap);
    size_t text_cap = len + sizeof SIZED_CONFIG_FORMAT;
    char *text = malloc(text_cap);
    assert_non_null(text);
    assert_true((size_t)snprintf(text, text_cap, SIZED_CONFIG_FORMAT, records) < text_cap);
    free(records);
    return text;
}

/* ---- images ------------------------------------------------------------ */

/* An image compiled from json, on the heap for cmocka's state. */
static struct image_fixture *served_open(const char *json)
{
    struct image_fixture *s = calloc(1, sizeof *s);
    assert_non_null(s);
    image_fixture_open(s, json);
    return s;
}

static void served_close(struct image_fixture *s)
{
    image_fixture_free(s);
    free(s);
}

static int main_setup(void **state)
{
    *state = served_open(MAIN_CONFIG);
    return 0;
}

static int acl_setup(void **state)
{
    *state = served_open(ACL_CONFIG);
    return 0;
}

static int local_setup(void **state)
{
    *state = served_open(LOCAL_CONFIG);
    return 0;
}

static int star_setup(void **state)
{
    *state = served_open(STAR_CONFIG);
    return 0;
}

static int sized_setup(void **state)
{
    char *text = sized_config();
    *state = served_open(text);
    free(text);
    return 0;
}

static int served_teardown(void **state)
{
    served_close(*state);
    return 0;
}

static const struct image *image_of(void **state)
{
    return &((struct image_fixture *)*state)->img;
}

/* ---- queries ----------------------------------------------------------- */

struct query {
    const char *name; /* presentation form, case as sent */
    uint16_t type;
    uint16_t class; /* 0: IN */
    uint16_t id;
    uint16_t flags;
    bool edns;
    uint16_t payload;
    uint8_t version;
    bool dnssec_ok;
};

/* Header, one question, an optional OPT (RFC 6891 §6.1.2). Returns the length. */
static size_t query_make(uint8_t *out, const struct query *q)
{
    uint8_t name[WIRE_NAME_MAX];
    size_t name_len;
    char err[128];
    if (wire_name_from_text(q->name, name, &name_len, err, sizeof err) < 0)
        fail_msg("bad query name %s: %s", q->name, err);
    wire_put16(out, q->id);
    wire_put16(out + 2, q->flags);
    wire_put16(out + 4, 1);
    wire_put16(out + 6, 0);
    wire_put16(out + 8, 0);
    wire_put16(out + 10, q->edns ? 1 : 0);
    size_t len = WIRE_HEADER_SIZE;
    memcpy(out + len, name, name_len);
    len += name_len;
    wire_put16(out + len, q->type);
    wire_put16(out + len + 2, q->class ? q->class : WIRE_CLASS_IN);
    len += 4;
    if (q->edns) {
        out[len] = 0;
        wire_put16(out + len + 1, WIRE_TYPE_OPT);
        wire_put16(out + len + 3, q->payload);
        wire_put32(out + len + 5, ((uint32_t)q->version << 16) | (q->dnssec_ok ? WIRE_EDNS_DO : 0));
        wire_put16(out + len + 9, 0);
        len += 11;
    }
    return len;
}

/* ---- responses ---------------------------------------------------------- */

enum { ANSWER, AUTHORITY, ADDITIONAL };

struct msg_rr {
    int section;
    size_t owner_at;
    uint8_t owner[WIRE_NAME_MAX]; /* uncompressed, case as in the response */
    size_t owner_len;
    uint16_t type, class;
    uint32_t ttl;
    uint16_t rdlength;
    size_t rdata_at;               /* offset of the RDATA in the response */
    uint8_t target[WIRE_NAME_MAX]; /* first name in the RDATA, uncompressed */
    size_t target_len;             /* 0 when the type has no name */
    size_t after_names;            /* offset of the fixed fields after the names */
};

struct msg {
    uint8_t *wire; /* a copy of the response */
    size_t len;
    uint16_t id, flags, qdcount, counts[3];
    uint8_t qname[WIRE_NAME_MAX];
    size_t qname_len;
    uint16_t qtype, qclass;
    size_t question_end;
    struct msg_rr *rrs; /* every record, in order */
    size_t rr_count;
    const struct msg_rr *opt;
};

static void msg_free(struct msg *m)
{
    if (!m)
        return;
    free(m->wire);
    free(m->rrs);
    free(m);
}

/* Read a name at *at that must parse; returns it in out. */
static void parse_name(const struct msg *m, size_t *at, uint8_t *out, size_t *out_len,
                       const char *what)
{
    if (wire_name_parse(m->wire, m->len, at, out, out_len) < 0)
        fail_msg("malformed %s name at offset %zu", what, *at);
}

/* The names inside a record's RDATA, which may be compressed, must parse
 * and use up exactly the RDATA (with the fixed fields their type has). */
static void parse_rdata(const struct msg *m, struct msg_rr *rr)
{
    size_t end = rr->rdata_at + rr->rdlength, at = rr->rdata_at;
    size_t skip = 0, fixed_after = 0;
    int names = 0;
    switch (rr->type) {
    case WIRE_TYPE_A:
        assert_int_equal(rr->rdlength, 4);
        return;
    case WIRE_TYPE_AAAA:
        assert_int_equal(rr->rdlength, 16);
        return;
    case WIRE_TYPE_CNAME:
    case WIRE_TYPE_NS:
    case WIRE_TYPE_PTR:
        names = 1;
        break;
    case WIRE_TYPE_MX:
        skip = 2;
        names = 1;
        break;
    case WIRE_TYPE_SRV:
        skip = 6;
        names = 1;
        break;
    case WIRE_TYPE_SOA:
        names = 2;
        fixed_after = 20;
        break;
    case WIRE_TYPE_TXT:
        /* character-strings filling the RDATA exactly */
        while (at < end)
            at += 1u + m->wire[at];
        assert_int_equal(at, end);
        return;
    default:
        return;
    }
    assert_true(rr->rdlength >= skip + 1);
    at += skip;
    for (int i = 0; i < names; i++) {
        uint8_t name[WIRE_NAME_MAX];
        size_t name_len;
        /* a name must not run past its RDATA, even through a pointer's end */
        parse_name(m, &at, name, &name_len, "RDATA");
        assert_true(at <= end);
        if (i == 0) {
            memcpy(rr->target, name, name_len);
            rr->target_len = name_len;
        }
    }
    rr->after_names = at;
    if (end - at != fixed_after)
        fail_msg("RDATA of type %u: %zu octets after its names, expected %zu", rr->type, end - at,
                 fixed_after);
}

/* Walk a whole response: header, question, every record of every section;
 * counts must match and no octet may be left over. */
static struct msg *msg_parse(const uint8_t *wire, size_t len)
{
    struct msg *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->wire = malloc(len);
    assert_non_null(m->wire);
    memcpy(m->wire, wire, len);
    m->len = len;
    assert_true(len >= WIRE_HEADER_SIZE);
    m->id = wire_get16(wire);
    m->flags = wire_get16(wire + 2);
    m->qdcount = wire_get16(wire + 4);
    for (int s = 0; s < 3; s++)
        m->counts[s] = wire_get16(wire + 6 + 2 * s);
    assert_true(m->flags & WIRE_FLAG_QR);
    assert_true(m->qdcount <= 1);

    size_t at = WIRE_HEADER_SIZE;
    if (m->qdcount == 1) {
        parse_name(m, &at, m->qname, &m->qname_len, "question");
        assert_true(len - at >= 4);
        m->qtype = wire_get16(wire + at);
        m->qclass = wire_get16(wire + at + 2);
        at += 4;
    }
    m->question_end = at;

    size_t total = (size_t)m->counts[0] + m->counts[1] + m->counts[2];
    m->rrs = calloc(total ? total : 1, sizeof *m->rrs);
    assert_non_null(m->rrs);
    for (size_t i = 0; i < total; i++) {
        struct msg_rr *rr = &m->rrs[i];
        rr->section = i < m->counts[0]                          ? ANSWER
                      : i < (size_t)m->counts[0] + m->counts[1] ? AUTHORITY
                                                                : ADDITIONAL;
        rr->owner_at = at;
        parse_name(m, &at, rr->owner, &rr->owner_len, "owner");
        if (len - at < 10)
            fail_msg("record %zu: fixed fields cut short", i);
        rr->type = wire_get16(wire + at);
        rr->class = wire_get16(wire + at + 2);
        rr->ttl = wire_get32(wire + at + 4);
        rr->rdlength = wire_get16(wire + at + 8);
        at += 10;
        if (len - at < rr->rdlength)
            fail_msg("record %zu: RDATA runs past the response", i);
        rr->rdata_at = at;
        at += rr->rdlength;
        if (rr->type == WIRE_TYPE_OPT) {
            /* RFC 6891 §6.1.1: one OPT, in the additional section, owned by the root */
            assert_int_equal(rr->section, ADDITIONAL);
            assert_null(m->opt);
            assert_int_equal(rr->owner_len, 1);
            m->opt = rr;
            continue;
        }
        assert_int_equal(rr->class, WIRE_CLASS_IN);
        parse_rdata(m, rr);
    }
    m->rr_count = total;
    if (at != len)
        fail_msg("%zu octets left over after the last record", len - at);
    return m;
}

/* ---- asking ------------------------------------------------------------ */

/* answer_query on exactly len octets into exactly ANSWER_BUFFER_SIZE, so a
 * read or write past either is caught by the sanitizers, for a local
 * caller (client NULL). Returns its length; 0 when it drops the packet. */
static size_t answer_raw(const struct image *img, const uint8_t *packet, size_t len,
                         enum answer_transport transport, uint8_t **response_out)
{
    uint8_t *copy = malloc(len ? len : 1);
    uint8_t *response = malloc(ANSWER_BUFFER_SIZE);
    assert_non_null(copy);
    assert_non_null(response);
    memcpy(copy, packet, len);
    struct answer_info info;
    size_t n = 99999;
    enum answer_action action = answer_query(img, copy, len, NULL, transport, response, &n, &info);
    assert_true(n <= ANSWER_BUFFER_SIZE);
    /* without a client address nothing is forwarded */
    assert_int_not_equal(action, ANSWER_FORWARD);
    assert_int_equal(action == ANSWER_DROP, n == 0);
    free(copy);
    *response_out = response;
    return n;
}

static struct msg *ask_packet(const struct image *img, const uint8_t *packet, size_t len,
                              enum answer_transport transport)
{
    uint8_t *response;
    size_t n = answer_raw(img, packet, len, transport, &response);
    if (n == 0)
        fail_msg("no response to a query");
    if (transport == ANSWER_TCP)
        assert_true(n <= 65535);
    struct msg *m = msg_parse(response, n);
    free(response);
    return m;
}

static struct msg *ask_on(const struct image *img, struct query q, enum answer_transport transport)
{
    uint8_t packet[600];
    size_t len = query_make(packet, &q);
    struct msg *m = ask_packet(img, packet, len, transport);
    /* a response to a sound query echoes its question */
    assert_int_equal(m->qdcount, 1);
    assert_int_equal(m->question_end, len - (q.edns ? 11 : 0));
    assert_memory_equal(m->wire + WIRE_HEADER_SIZE, packet + WIRE_HEADER_SIZE,
                        m->question_end - WIRE_HEADER_SIZE);
    assert_int_equal(m->id, q.id);
    if (transport == ANSWER_UDP && !q.edns)
        assert_true(m->len <= 512);
    return m;
}

static struct msg *ask(const struct image *img, const char *name, uint16_t type)
{
    return ask_on(img, (struct query){.name = name, .type = type, .id = 0x4e44}, ANSWER_UDP);
}

/* ---- reading answers ---------------------------------------------------- */

static int rcode(const struct msg *m)
{
    return m->flags & 0xF;
}

static const char *text_of(const uint8_t *name, size_t len)
{
    static char buf[4][WIRE_NAME_MAX * 4 + 1];
    static int next;
    char *out = buf[next++ % 4];
    assert_true(wire_name_to_text(name, len, out, sizeof buf[0]) >= 0);
    return out;
}

static const char *owner_text(const struct msg_rr *rr)
{
    return text_of(rr->owner, rr->owner_len);
}

static const char *target_text(const struct msg_rr *rr)
{
    assert_true(rr->target_len > 0);
    return text_of(rr->target, rr->target_len);
}

static const char *address_text(const struct msg *m, const struct msg_rr *rr)
{
    static char buf[4][INET6_ADDRSTRLEN];
    static int next;
    char *out = buf[next++ % 4];
    assert_true(rr->type == WIRE_TYPE_A || rr->type == WIRE_TYPE_AAAA);
    assert_non_null(inet_ntop(rr->type == WIRE_TYPE_A ? AF_INET : AF_INET6, m->wire + rr->rdata_at,
                              out, sizeof buf[0]));
    return out;
}

/* The n-th record of a section (the OPT excluded), or fail. */
static const struct msg_rr *rr_at(const struct msg *m, int section, size_t wanted)
{
    size_t n = wanted;
    for (size_t i = 0; i < m->rr_count; i++) {
        const struct msg_rr *rr = &m->rrs[i];
        if (rr->section != section || rr->type == WIRE_TYPE_OPT)
            continue;
        if (n-- == 0)
            return rr;
    }
    fail_msg("section %d has no record %zu", section, wanted);
    return NULL;
}

/* Records of a section (the OPT excluded), of type (0: any). */
static size_t count_of(const struct msg *m, int section, uint16_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < m->rr_count; i++) {
        const struct msg_rr *rr = &m->rrs[i];
        if (rr->section == section && rr->type != WIRE_TYPE_OPT && (!type || rr->type == type))
            n++;
    }
    return n;
}

/* The record of a section with that owner (case-insensitive) and type, or NULL. */
static const struct msg_rr *find_rr(const struct msg *m, int section, const char *owner,
                                    uint16_t type)
{
    uint8_t name[WIRE_NAME_MAX];
    size_t name_len;
    char err[128];
    assert_int_equal(wire_name_from_text(owner, name, &name_len, err, sizeof err), 0);
    for (size_t i = 0; i < m->rr_count; i++) {
        const struct msg_rr *rr = &m->rrs[i];
        if (rr->section == section && rr->type == type &&
            wire_name_equal(rr->owner, rr->owner_len, name, name_len))
            return rr;
    }
    return NULL;
}

static uint32_t soa_serial(const struct msg *m, const struct msg_rr *soa)
{
    return wire_get32(m->wire + soa->after_names);
}

/* RFC 2308 §3: the zone's SOA alone in authority, with the negative TTL. */
static const struct msg_rr *assert_soa_authority(const struct msg *m, const char *zone,
                                                 uint32_t ttl)
{
    assert_int_equal(count_of(m, AUTHORITY, 0), 1);
    const struct msg_rr *soa = rr_at(m, AUTHORITY, 0);
    assert_int_equal(soa->type, WIRE_TYPE_SOA);
    assert_string_equal(owner_text(soa), zone);
    assert_int_equal(soa->ttl, ttl);
    return soa;
}

/* ==== 1. an existing name and type: the whole RRset ======================= */

static void test_existing_name_and_type_returns_the_whole_rrset(void **state)
{
    struct msg *m = ask(image_of(state), "multi.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_int_equal(m->counts[ANSWER], 3);
    unsigned seen = 0;
    for (size_t i = 0; i < 3; i++) {
        const struct msg_rr *rr = rr_at(m, ANSWER, i);
        assert_int_equal(rr->type, WIRE_TYPE_A);
        assert_string_equal(owner_text(rr), "multi.x.test");
        assert_int_equal(rr->ttl, 120);
        const char *a = address_text(m, rr);
        seen |= !strcmp(a, "10.0.0.1")   ? 1
                : !strcmp(a, "10.0.0.2") ? 2
                : !strcmp(a, "10.0.0.3") ? 4
                                         : 8;
    }
    assert_int_equal(seen, 7);
    assert_int_equal(m->counts[AUTHORITY], 0);
    msg_free(m);
}

static void test_srv_answer_carries_its_fields(void **state)
{
    struct msg *m = ask(image_of(state), "_sip._tcp.x.test", WIRE_TYPE_SRV);
    assert_int_equal(m->counts[ANSWER], 1);
    const struct msg_rr *rr = rr_at(m, ANSWER, 0);
    assert_int_equal(wire_get16(m->wire + rr->rdata_at), 10);
    assert_int_equal(wire_get16(m->wire + rr->rdata_at + 2), 20);
    assert_int_equal(wire_get16(m->wire + rr->rdata_at + 4), 5060);
    assert_string_equal(target_text(rr), "sip.x.test");
    msg_free(m);
}

/* ==== 2. NODATA ============================================================ */

static void test_nodata_has_soa_in_authority(void **state)
{
    struct msg *m = ask(image_of(state), "www.x.test", WIRE_TYPE_AAAA);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "x.test", 300); /* min(3600, minimum 300) */
    msg_free(m);
}

static void test_negative_ttl_is_the_soa_ttl_when_minimum_is_larger(void **state)
{
    struct msg *m = ask(image_of(state), "host.neg.test", WIRE_TYPE_TXT);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "neg.test", 3600); /* min(3600, minimum 7200) */
    msg_free(m);
}

static void test_empty_non_terminal_is_nodata(void **state)
{
    /* a.b.x.test exists, so b.x.test exists without data */
    struct msg *m = ask(image_of(state), "b.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_served_serial_is_configured_serial_plus_config_version(void **state)
{
    struct msg *m = ask(image_of(state), "x.test", WIRE_TYPE_SOA);
    assert_int_equal(m->counts[ANSWER], 1);
    const struct msg_rr *soa = rr_at(m, ANSWER, 0);
    assert_int_equal(soa->type, WIRE_TYPE_SOA);
    assert_int_equal(soa->ttl, 3600);
    assert_string_equal(target_text(soa), "ns1.x.test");
    assert_int_equal(soa_serial(m, soa), 2024010101u + 5);
    assert_int_equal(wire_get32(m->wire + soa->after_names + 16), 300); /* minimum */
    msg_free(m);

    m = ask(image_of(state), "www.x.test", WIRE_TYPE_TXT);
    assert_int_equal(soa_serial(m, assert_soa_authority(m, "x.test", 300)), 2024010101u + 5);
    msg_free(m);
}

/* ==== 3. NXDOMAIN ========================================================== */

static void test_nxdomain_has_soa_in_authority(void **state)
{
    struct msg *m = ask(image_of(state), "nothere.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_nxdomain_far_below_the_apex(void **state)
{
    struct msg *m = ask(image_of(state), "a.b.c.nothere.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_nxdomain_below_an_existing_name(void **state)
{
    struct msg *m = ask(image_of(state), "deeper.www.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_nxdomain_in_a_zone_with_large_minimum(void **state)
{
    struct msg *m = ask(image_of(state), "nothere.neg.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_soa_authority(m, "neg.test", 3600);
    msg_free(m);
}

/* ==== 4. CNAME ============================================================= */

static void test_cname_is_followed_inside_our_data(void **state)
{
    struct msg *m = ask(image_of(state), "alias.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_int_equal(m->counts[ANSWER], 2);
    const struct msg_rr *cname = rr_at(m, ANSWER, 0), *a = rr_at(m, ANSWER, 1);
    assert_int_equal(cname->type, WIRE_TYPE_CNAME);
    assert_string_equal(owner_text(cname), "alias.x.test");
    assert_string_equal(target_text(cname), "www.x.test");
    assert_int_equal(cname->ttl, 60);
    assert_int_equal(a->type, WIRE_TYPE_A);
    assert_string_equal(owner_text(a), "www.x.test");
    assert_string_equal(address_text(m, a), "10.0.0.80");
    msg_free(m);
}

static void test_cname_is_returned_for_any_type_asked(void **state)
{
    struct msg *m = ask(image_of(state), "alias.x.test", WIRE_TYPE_TXT);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_int_equal(rr_at(m, ANSWER, 0)->type, WIRE_TYPE_CNAME);
    assert_string_equal(owner_text(rr_at(m, ANSWER, 0)), "alias.x.test");
    /* www.x.test has no TXT: NODATA for the target (RFC 2308 §2.2) */
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_cname_chain_of_three_is_followed(void **state)
{
    struct msg *m = ask(image_of(state), "chain1.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 4);
    const char *owners[] = {"chain1.x.test", "chain2.x.test", "chain3.x.test", "www.x.test"};
    for (size_t i = 0; i < 4; i++) {
        const struct msg_rr *rr = rr_at(m, ANSWER, i);
        assert_int_equal(rr->type, i < 3 ? WIRE_TYPE_CNAME : WIRE_TYPE_A);
        assert_string_equal(owner_text(rr), owners[i]);
        if (i < 3)
            assert_string_equal(target_text(rr), owners[i + 1]);
    }
    msg_free(m);
}

static void test_cname_loop_terminates_with_each_cname_once(void **state)
{
    struct msg *m = ask(image_of(state), "loopa.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 2);
    for (size_t i = 0; i < m->counts[ANSWER]; i++) {
        const struct msg_rr *rr = rr_at(m, ANSWER, i);
        assert_int_equal(rr->type, WIRE_TYPE_CNAME);
        assert_string_equal(owner_text(rr), i % 2 ? "loopb.x.test" : "loopa.x.test");
    }
    msg_free(m);
}

static void test_cname_query_returns_only_the_cname(void **state)
{
    struct msg *m = ask(image_of(state), "alias.x.test", WIRE_TYPE_CNAME);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_int_equal(rr_at(m, ANSWER, 0)->type, WIRE_TYPE_CNAME);
    assert_string_equal(target_text(rr_at(m, ANSWER, 0)), "www.x.test");
    assert_int_equal(m->counts[AUTHORITY], 0);
    msg_free(m);
}

static void test_cname_to_a_name_outside_our_data_is_not_followed(void **state)
{
    struct msg *m = ask(image_of(state), "ext.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_int_equal(rr_at(m, ANSWER, 0)->type, WIRE_TYPE_CNAME);
    assert_string_equal(target_text(rr_at(m, ANSWER, 0)), "www.example.org");
    msg_free(m);
}

static void test_cname_to_a_missing_name_in_our_zone_is_nxdomain(void **state)
{
    /* RFC 6604 §3: the rcode is that of the last name in the chain */
    struct msg *m = ask(image_of(state), "dangling.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_int_equal(rr_at(m, ANSWER, 0)->type, WIRE_TYPE_CNAME);
    assert_string_equal(target_text(rr_at(m, ANSWER, 0)), "nothere.x.test");
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

/* ==== 5. additional section ================================================ */

static void test_mx_target_addresses_are_in_additional(void **state)
{
    struct msg *m = ask(image_of(state), "x.test", WIRE_TYPE_MX);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(target_text(rr_at(m, ANSWER, 0)), "mail.x.test");
    assert_int_equal(wire_get16(m->wire + rr_at(m, ANSWER, 0)->rdata_at), 10);
    const struct msg_rr *a = find_rr(m, ADDITIONAL, "mail.x.test", WIRE_TYPE_A);
    const struct msg_rr *aaaa = find_rr(m, ADDITIONAL, "mail.x.test", WIRE_TYPE_AAAA);
    assert_non_null(a);
    assert_non_null(aaaa);
    assert_string_equal(address_text(m, a), "10.0.0.25");
    assert_string_equal(address_text(m, aaaa), "fd00::25");
    assert_int_equal(m->counts[ADDITIONAL], 2);
    msg_free(m);
}

static void test_ns_target_address_is_in_additional(void **state)
{
    struct msg *m = ask(image_of(state), "x.test", WIRE_TYPE_NS);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(target_text(rr_at(m, ANSWER, 0)), "ns1.x.test");
    const struct msg_rr *a = find_rr(m, ADDITIONAL, "ns1.x.test", WIRE_TYPE_A);
    assert_non_null(a);
    assert_string_equal(address_text(m, a), "10.0.0.53");
    msg_free(m);
}

static void test_srv_target_address_is_in_additional(void **state)
{
    struct msg *m = ask(image_of(state), "_sip._tcp.x.test", WIRE_TYPE_SRV);
    const struct msg_rr *a = find_rr(m, ADDITIONAL, "sip.x.test", WIRE_TYPE_A);
    assert_non_null(a);
    assert_string_equal(address_text(m, a), "10.0.0.60");
    msg_free(m);
}

static void test_no_additional_for_targets_we_do_not_hold(void **state)
{
    struct msg *m = ask(image_of(state), "extmx.x.test", WIRE_TYPE_MX);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_int_equal(m->counts[ADDITIONAL], 0);
    msg_free(m);
}

/* ==== 6. wildcards (original NanoDNS: one label below the name) ============ */

static void test_wildcard_record_answers_its_own_name(void **state)
{
    struct msg *m = ask(image_of(state), "app.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(owner_text(rr_at(m, ANSWER, 0)), "app.x.test");
    assert_string_equal(address_text(m, rr_at(m, ANSWER, 0)), "10.0.0.9");
    msg_free(m);
}

static void test_wildcard_answers_one_label_below_with_the_query_name_as_owner(void **state)
{
    struct msg *m = ask(image_of(state), "foo.app.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(owner_text(rr_at(m, ANSWER, 0)), "foo.app.x.test");
    assert_string_equal(address_text(m, rr_at(m, ANSWER, 0)), "10.0.0.9");
    msg_free(m);
}

static void test_wildcard_without_the_type_is_nodata(void **state)
{
    struct msg *m = ask(image_of(state), "foo.app.x.test", WIRE_TYPE_AAAA);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_wildcard_does_not_answer_two_labels_below(void **state)
{
    struct msg *m = ask(image_of(state), "a.b.app.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_name_with_own_data_below_a_wildcard_answers_its_own_data(void **state)
{
    struct msg *m = ask(image_of(state), "real.app.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(owner_text(rr_at(m, ANSWER, 0)), "real.app.x.test");
    assert_string_equal(address_text(m, rr_at(m, ANSWER, 0)), "10.0.0.10");
    msg_free(m);
}

static void test_name_with_own_data_below_a_wildcard_is_nodata_for_other_types(void **state)
{
    struct msg *m = ask(image_of(state), "real.app.x.test", WIRE_TYPE_AAAA);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

/* ==== 6b. RFC 4592 wildcards: "*.w" answers missing names below w ========= */

/* One A record in the answer, owned by owner (case as given), with address. */
static void assert_one_a(const struct msg *m, const char *owner, const char *address)
{
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_int_equal(m->counts[ANSWER], 1);
    const struct msg_rr *rr = rr_at(m, ANSWER, 0);
    assert_int_equal(rr->type, WIRE_TYPE_A);
    assert_string_equal(owner_text(rr), owner);
    assert_string_equal(address_text(m, rr), address);
}

static void test_star_wildcard_answers_one_label_below_with_the_query_name_as_owner(void **state)
{
    struct msg *m = ask(image_of(state), "foo.w.x.test", WIRE_TYPE_A);
    assert_one_a(m, "foo.w.x.test", "10.0.4.1");
    assert_int_equal(m->counts[AUTHORITY], 0);
    msg_free(m);
}

static void test_star_wildcard_answers_several_labels_below(void **state)
{
    struct msg *m = ask(image_of(state), "a.b.c.w.x.test", WIRE_TYPE_A);
    assert_one_a(m, "a.b.c.w.x.test", "10.0.4.1");
    msg_free(m);
}

static void test_star_wildcard_does_not_answer_its_parent(void **state)
{
    /* w.x.test exists (an empty non-terminal): NODATA, not the wildcard */
    struct msg *m = ask(image_of(state), "w.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_star_wildcard_answers_a_query_for_its_own_name(void **state)
{
    struct msg *m = ask(image_of(state), "*.w.x.test", WIRE_TYPE_A);
    assert_one_a(m, "*.w.x.test", "10.0.4.1");
    msg_free(m);
}

static void test_star_wildcard_is_blocked_below_an_existing_name(void **state)
{
    /* RFC 4592 §3.3.1: the closest encloser is sub.w.x.test, with no "*" */
    struct msg *m = ask(image_of(state), "foo.sub.w.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_star_wildcard_adds_no_types_to_an_existing_name(void **state)
{
    struct msg *m = ask(image_of(state), "sub.w.x.test", WIRE_TYPE_TXT);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_star_wildcard_is_blocked_below_an_empty_non_terminal(void **state)
{
    /* ent.w.x.test exists only because a.ent.w.x.test does */
    struct msg *m = ask(image_of(state), "foo.ent.w.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_star_wildcard_does_not_answer_an_empty_non_terminal(void **state)
{
    struct msg *m = ask(image_of(state), "ent.w.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_star_wildcard_without_the_type_is_nodata_with_soa(void **state)
{
    struct msg *m = ask(image_of(state), "foo.w.x.test", WIRE_TYPE_AAAA);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_star_wildcard_answers_every_type_it_holds(void **state)
{
    struct msg *m = ask(image_of(state), "foo.w.x.test", WIRE_TYPE_TXT);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 1);
    const struct msg_rr *rr = rr_at(m, ANSWER, 0);
    assert_int_equal(rr->type, WIRE_TYPE_TXT);
    assert_string_equal(owner_text(rr), "foo.w.x.test");
    assert_int_equal(rr->rdlength, 1 + strlen("from the wildcard"));
    assert_memory_equal(m->wire + rr->rdata_at + 1, "from the wildcard", rr->rdlength - 1);
    msg_free(m);
}

static void test_star_wildcard_any_over_tcp_is_every_rrset_with_the_query_name(void **state)
{
    struct msg *m = ask_on(
        image_of(state), (struct query){.name = "foo.w.x.test", .type = WIRE_TYPE_ANY}, ANSWER_TCP);
    assert_int_equal(m->counts[ANSWER], 2);
    assert_non_null(find_rr(m, ANSWER, "foo.w.x.test", WIRE_TYPE_A));
    assert_non_null(find_rr(m, ANSWER, "foo.w.x.test", WIRE_TYPE_TXT));
    msg_free(m);
}

static void test_star_wildcard_owner_keeps_the_query_case(void **state)
{
    struct msg *m = ask(image_of(state), "FoO.W.x.TeSt", WIRE_TYPE_A);
    assert_one_a(m, "FoO.W.x.TeSt", "10.0.4.1");
    msg_free(m);
}

static void test_star_wildcard_cname_is_followed(void **state)
{
    struct msg *m = ask(image_of(state), "foo.cn.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 2);
    const struct msg_rr *cname = rr_at(m, ANSWER, 0);
    assert_int_equal(cname->type, WIRE_TYPE_CNAME);
    assert_string_equal(owner_text(cname), "foo.cn.x.test");
    assert_string_equal(target_text(cname), "target.x.test");
    const struct msg_rr *a = rr_at(m, ANSWER, 1);
    assert_string_equal(owner_text(a), "target.x.test");
    assert_string_equal(address_text(m, a), "10.0.4.4");
    msg_free(m);
}

static void test_cname_target_below_a_star_wildcard_is_answered_by_it(void **state)
{
    struct msg *m = ask(image_of(state), "via.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 2);
    assert_string_equal(target_text(rr_at(m, ANSWER, 0)), "name.w.x.test");
    const struct msg_rr *a = rr_at(m, ANSWER, 1);
    assert_string_equal(owner_text(a), "name.w.x.test");
    assert_string_equal(address_text(m, a), "10.0.4.1");
    msg_free(m);
}

static void test_star_wildcard_at_a_zone_apex(void **state)
{
    struct msg *m = ask(image_of(state), "host.apex.test", WIRE_TYPE_A);
    assert_one_a(m, "host.apex.test", "10.0.4.6");
    msg_free(m);
    m = ask(image_of(state), "apex.test", WIRE_TYPE_A); /* the apex itself: NODATA */
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "apex.test", 300);
    msg_free(m);
}

static void test_star_wildcard_is_blocked_above_a_child_zone(void **state)
{
    /* sub.apex.test exists: the zone in.sub.apex.test is below it */
    struct msg *m = ask(image_of(state), "foo.sub.apex.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_soa_authority(m, "apex.test", 300);
    msg_free(m);
    m = ask(image_of(state), "sub.apex.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "apex.test", 300);
    msg_free(m);
}

static void test_star_wildcard_outside_every_zone(void **state)
{
    struct msg *m = ask(image_of(state), "a.b.dev.lan", WIRE_TYPE_A);
    /* b.dev.lan exists (host.b.dev.lan): a.b.dev.lan is not the wildcard's */
    assert_int_equal(rcode(m), WIRE_RCODE_REFUSED);
    msg_free(m);
    m = ask(image_of(state), "laptop.dev.lan", WIRE_TYPE_A);
    assert_one_a(m, "laptop.dev.lan", "10.0.5.1");
    assert_int_equal(m->counts[AUTHORITY], 0);
    msg_free(m);
}

static void test_empty_star_wildcard_is_nodata(void **state)
{
    /* *.e.x.test exists only because a.*.e.x.test does */
    struct msg *m = ask(image_of(state), "foo.e.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_star_label_inside_a_name_is_literal(void **state)
{
    struct msg *m = ask(image_of(state), "a.*.e.x.test", WIRE_TYPE_A);
    assert_one_a(m, "a.*.e.x.test", "10.0.4.5");
    msg_free(m);
    m = ask(image_of(state), "a.foo.e.x.test", WIRE_TYPE_A);
    assert_int_equal(m->counts[ANSWER], 0);
    msg_free(m);
}

static void test_names_with_no_star_wildcard_above_stay_nxdomain(void **state)
{
    struct msg *m = ask(image_of(state), "nothere.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

/* ==== 7. rewrites come before zone data ==================================== */

static void test_rewrite_exact_match_is_nxdomain_even_when_the_name_has_records(void **state)
{
    struct msg *m = ask(image_of(state), "bad.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_rewrite_star_blocks_names_one_label_below(void **state)
{
    struct msg *m = ask(image_of(state), "foo.ads.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
}

static void test_rewrite_star_blocks_names_at_any_depth_below(void **state)
{
    struct msg *m = ask(image_of(state), "a.b.ads.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_int_equal(m->counts[ANSWER], 0);
    msg_free(m);
}

static void test_rewrite_star_does_not_block_the_name_itself(void **state)
{
    struct msg *m = ask(image_of(state), "ads.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(address_text(m, rr_at(m, ANSWER, 0)), "10.0.0.70");
    msg_free(m);
}

static void test_rewrite_outside_every_zone_is_nxdomain_without_soa(void **state)
{
    struct msg *m = ask(image_of(state), "blocked.example.com", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_int_equal(count_of(m, AUTHORITY, WIRE_TYPE_SOA), 0);
    msg_free(m);
}

/* ==== 7b. blocklist files and the allowlist ================================= */

/* x.test with data under tracker.x.test, which the list below blocks:
 * %s the list file, %s its format, %s the block response, %s the allowlist. */
/* clang-format off */
static const char LIST_CONFIG_FORMAT[] = JSON({
    "server": {"upstream": [], "mgmt_port": 0, "hot_reload": false, "block_response": "%s"},
    "zones": {
        "x.test": {
            "soa": {"mname": "ns1.x.test", "rname": "hostmaster.x.test", "serial": 1,
                    "refresh": 3600, "retry": 900, "expire": 604800, "minimum": 300},
            "ns": ["ns1.x.test"]
        }
    },
    "records": [
        {"name": "ns1.x.test", "type": "A", "value": "10.0.0.53"},
        {"name": "www.x.test", "type": "A", "value": "10.0.0.80"},
        {"name": "tracker.x.test", "type": "A", "value": "10.0.0.5"},
        {"name": "ok.tracker.x.test", "type": "A", "value": "10.0.0.6"},
        {"name": "deep.ok.tracker.x.test", "type": "A", "value": "10.0.0.7"},
        {"name": "ads.x.test", "type": "A", "value": "10.0.0.8"}
    ],
    "rewrites": [{"match": "*.ads.x.test", "action": "nxdomain"}],
    "blocklists": [{"path": "%s", "format": "%s"}],
    "allowlist": %s
});
/* clang-format on */

/* An image from LIST_CONFIG_FORMAT with list_text in a list file of its own. */
static struct image_fixture *served_with_list(const char *format, const char *list_text,
                                              const char *block_response, const char *allowlist)
{
    char path[] = "/tmp/nanodns-test-list-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(list_text);
    assert_int_equal(write(fd, list_text, len), (ssize_t)len);
    close(fd);
    struct image_fixture *s = calloc(1, sizeof *s);
    assert_non_null(s);
    image_fixture_compile(s, LIST_CONFIG_FORMAT, block_response, path, format, allowlist);
    unlink(path);
    return s;
}

static void assert_blocked_nxdomain(const struct image *img, const char *name)
{
    struct msg *m = ask(img, name, WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_int_equal(m->counts[ANSWER], 0);
    msg_free(m);
}

static void assert_answers(const struct image *img, const char *name, const char *address)
{
    struct msg *m = ask(img, name, WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(address_text(m, rr_at(m, ANSWER, 0)), address);
    msg_free(m);
}

static void test_listed_name_and_every_name_below_it_are_blocked(void **state)
{
    (void)state;
    struct image_fixture *s = served_with_list("domains", "tracker.x.test\n", "nxdomain", "[]");
    assert_blocked_nxdomain(&s->img, "tracker.x.test");
    assert_blocked_nxdomain(&s->img, "ok.tracker.x.test");
    assert_blocked_nxdomain(&s->img, "a.b.c.tracker.x.test");
    assert_answers(&s->img, "www.x.test", "10.0.0.80");
    served_close(s);
}

static void test_listed_names_match_case_insensitively(void **state)
{
    (void)state;
    struct image_fixture *s = served_with_list("domains", "TRACKER.X.Test.\n", "nxdomain", "[]");
    assert_blocked_nxdomain(&s->img, "Tracker.x.TEST");
    assert_blocked_nxdomain(&s->img, "OK.tracker.x.test");
    served_close(s);
}

static void test_allowlisted_name_is_answered_though_a_list_blocks_its_parent(void **state)
{
    (void)state;
    struct image_fixture *s =
        served_with_list("domains", "tracker.x.test\n", "nxdomain", "[\"ok.tracker.x.test\"]");
    assert_answers(&s->img, "ok.tracker.x.test", "10.0.0.6");
    assert_blocked_nxdomain(&s->img, "tracker.x.test");
    served_close(s);
}

static void test_allowlisted_name_does_not_cover_the_names_below_it(void **state)
{
    (void)state;
    struct image_fixture *s =
        served_with_list("domains", "tracker.x.test\n", "nxdomain", "[\"ok.tracker.x.test\"]");
    assert_blocked_nxdomain(&s->img, "deep.ok.tracker.x.test");
    served_close(s);
}

static void test_allowlisted_suffix_unblocks_every_name_at_or_below_it(void **state)
{
    (void)state;
    struct image_fixture *s =
        served_with_list("domains", "tracker.x.test\n", "nxdomain", "[\"*.ok.tracker.x.test\"]");
    assert_answers(&s->img, "ok.tracker.x.test", "10.0.0.6");
    assert_answers(&s->img, "deep.ok.tracker.x.test", "10.0.0.7");
    assert_blocked_nxdomain(&s->img, "tracker.x.test");
    served_close(s);
}

static void test_allowlist_overrides_a_rewrite(void **state)
{
    (void)state;
    struct image_fixture *s =
        served_with_list("domains", "", "nxdomain", "[\"sub.ads.x.test\", \"*.ads.x.test\"]");
    struct msg *m = ask(&s->img, "sub.ads.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN); /* no data there, but not blocked: SOA */
    assert_soa_authority(m, "x.test", 300);
    msg_free(m);
    served_close(s);
}

static void test_adblock_exception_unblocks_a_name_a_rule_blocks(void **state)
{
    (void)state;
    struct image_fixture *s = served_with_list(
        "adblock", "! a comment\n||tracker.x.test^\n@@||ok.tracker.x.test^\n", "nxdomain", "[]");
    assert_blocked_nxdomain(&s->img, "tracker.x.test");
    assert_answers(&s->img, "ok.tracker.x.test", "10.0.0.6");
    assert_answers(&s->img, "deep.ok.tracker.x.test", "10.0.0.7");
    served_close(s);
}

static void test_hosts_list_blocks_every_name_on_a_line(void **state)
{
    (void)state;
    struct image_fixture *s = served_with_list(
        "hosts", "127.0.0.1 localhost\n0.0.0.0 tracker.x.test www.x.test\n", "nxdomain", "[]");
    assert_blocked_nxdomain(&s->img, "tracker.x.test");
    assert_blocked_nxdomain(&s->img, "www.x.test");
    served_close(s);
}

static void test_block_response_null_answers_a_with_0_0_0_0(void **state)
{
    (void)state;
    struct image_fixture *s = served_with_list("domains", "tracker.x.test\n", "null", "[]");
    struct msg *m = ask(&s->img, "sub.tracker.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(address_text(m, rr_at(m, ANSWER, 0)), "0.0.0.0");
    assert_int_equal(rr_at(m, ANSWER, 0)->ttl, IMAGE_BLOCK_NULL_TTL);
    msg_free(m);
    served_close(s);
}

static void test_block_response_null_answers_aaaa_with_unspecified(void **state)
{
    (void)state;
    struct image_fixture *s = served_with_list("domains", "tracker.x.test\n", "null", "[]");
    struct msg *m = ask(&s->img, "tracker.x.test", WIRE_TYPE_AAAA);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(address_text(m, rr_at(m, ANSWER, 0)), "::");
    msg_free(m);
    served_close(s);
}

static void test_block_response_null_is_nodata_for_other_types(void **state)
{
    (void)state;
    struct image_fixture *s = served_with_list("domains", "tracker.x.test\n", "null", "[]");
    struct msg *m = ask(&s->img, "tracker.x.test", WIRE_TYPE_MX);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 0);
    msg_free(m);
    served_close(s);
}

static void test_block_response_refused_applies_to_lists_and_rewrites(void **state)
{
    (void)state;
    struct image_fixture *s = served_with_list("domains", "tracker.x.test\n", "refused", "[]");
    struct msg *m = ask(&s->img, "tracker.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_REFUSED);
    assert_int_equal(m->counts[ANSWER], 0);
    msg_free(m);
    m = ask(&s->img, "sub.ads.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_REFUSED);
    msg_free(m);
    served_close(s);
}

/* ==== 8. outside every zone ================================================ */

static void test_name_outside_every_zone_is_refused(void **state)
{
    struct msg *m = ask(image_of(state), "nowhere.example.org", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_REFUSED);
    assert_false(m->flags & WIRE_FLAG_AA);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_int_equal(m->counts[AUTHORITY], 0);
    msg_free(m);
}

static void test_parent_of_a_zone_is_refused(void **state)
{
    (void)state;
    /* "test", the parent of x.test, is a locally served zone (section 12):
     * a zone under a name that is none shows the rule. */
    struct image_fixture *s = served_open(PARENT_CONFIG);
    struct msg *m = ask(&s->img, "corp.example", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_REFUSED);
    assert_false(m->flags & WIRE_FLAG_AA);
    msg_free(m);
    served_close(s);
}

static void test_record_outside_every_zone_is_answered(void **state)
{
    struct msg *m = ask(image_of(state), "standalone.other", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(address_text(m, rr_at(m, ANSWER, 0)), "10.9.9.9");
    msg_free(m);
}

/* ==== 9. case ============================================================== */

static void test_question_echoes_the_query_bytes_exactly(void **state)
{
    /* ask_on compares the question with the query's octet for octet */
    struct msg *m = ask(image_of(state), "WwW.X.TeSt", WIRE_TYPE_A);
    assert_string_equal(text_of(m->qname, m->qname_len), "WwW.X.TeSt");
    msg_free(m);
}

static void test_matching_is_case_insensitive(void **state)
{
    struct msg *m = ask(image_of(state), "WwW.X.TeSt", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 1);
    /* the owner is the question's name, case and all */
    assert_string_equal(owner_text(rr_at(m, ANSWER, 0)), "WwW.X.TeSt");
    assert_string_equal(address_text(m, rr_at(m, ANSWER, 0)), "10.0.0.80");
    msg_free(m);
}

static void test_wildcard_owner_keeps_the_query_case(void **state)
{
    struct msg *m = ask(image_of(state), "FoO.aPp.X.test", WIRE_TYPE_A);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(owner_text(rr_at(m, ANSWER, 0)), "FoO.aPp.X.test");
    msg_free(m);
}

static void test_rewrites_match_case_insensitively(void **state)
{
    struct msg *m = ask(image_of(state), "BAD.x.TEST", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    msg_free(m);
    m = ask(image_of(state), "Foo.ADS.x.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    msg_free(m);
}

/* ==== 10. header, EDNS, truncation ========================================= */

static void test_id_and_rd_are_copied_and_ra_is_clear(void **state)
{
    struct query q = {
        .name = "www.x.test", .type = WIRE_TYPE_A, .id = 0xBEEF, .flags = WIRE_FLAG_RD};
    struct msg *m = ask_on(image_of(state), q, ANSWER_UDP);
    assert_int_equal(m->id, 0xBEEF);
    assert_true(m->flags & WIRE_FLAG_RD);
    assert_false(m->flags & WIRE_FLAG_RA);
    assert_false(m->flags & WIRE_FLAG_TC);
    assert_int_equal(WIRE_OPCODE(m->flags), 0);
    msg_free(m);

    q.flags = 0;
    q.id = 0x0102;
    m = ask_on(image_of(state), q, ANSWER_UDP);
    assert_int_equal(m->id, 0x0102);
    assert_false(m->flags & WIRE_FLAG_RD);
    assert_false(m->flags & WIRE_FLAG_RA);
    msg_free(m);
}

static void test_opt_in_answer_carries_the_default_payload_1232(void **state)
{
    struct query q = {.name = "www.x.test", .type = WIRE_TYPE_A, .edns = true, .payload = 4096};
    struct msg *m = ask_on(image_of(state), q, ANSWER_UDP);
    assert_non_null(m->opt);
    assert_int_equal(m->opt->class, 1232); /* RFC 6891 §6.1.2: CLASS = payload size */
    assert_int_equal(m->opt->ttl, 0);
    assert_int_equal(m->counts[ANSWER], 1);
    msg_free(m);
}

static void test_opt_in_answer_carries_the_configured_payload(void **state)
{
    (void)state;
    struct image_fixture *s = served_open(EDNS_1400_CONFIG);
    struct query q = {.name = "www.x.test", .type = WIRE_TYPE_A, .edns = true, .payload = 4096};
    struct msg *m = ask_on(&s->img, q, ANSWER_UDP);
    assert_non_null(m->opt);
    assert_int_equal(m->opt->class, 1400);
    msg_free(m);
    served_close(s);
}

static void test_no_opt_without_edns_in_the_query(void **state)
{
    struct msg *m = ask(image_of(state), "www.x.test", WIRE_TYPE_A);
    assert_null(m->opt);
    assert_int_equal(m->counts[ADDITIONAL], 0);
    msg_free(m);
}

static void test_opt_on_negative_answers_too(void **state)
{
    struct query q = {.name = "nothere.x.test", .type = WIRE_TYPE_A, .edns = true, .payload = 1232};
    struct msg *m = ask_on(image_of(state), q, ANSWER_UDP);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_non_null(m->opt);
    msg_free(m);
}

/* RFC 3225 §3: ask q with DO set, then clear, over UDP and TCP; the
 * answer's OPT must carry the same DO bit, with rcode want_rcode (extended
 * rcodes: the OPT's upper bits too). */
static void assert_do_bit_is_copied(const struct image *img, struct query q, int want_rcode)
{
    static const enum answer_transport transports[] = {ANSWER_UDP, ANSWER_TCP};
    q.edns = true;
    if (q.payload == 0)
        q.payload = 1232;
    for (int t = 0; t < 2; t++) {
        for (int dnssec_ok = 0; dnssec_ok < 2; dnssec_ok++) {
            q.dnssec_ok = dnssec_ok;
            uint8_t packet[600];
            size_t len = query_make(packet, &q);
            struct msg *m = ask_packet(img, packet, len, transports[t]);
            assert_non_null(m->opt);
            assert_int_equal(rcode(m) | (m->opt->ttl >> 24) << 4, want_rcode);
            assert_int_equal((m->opt->ttl & WIRE_EDNS_DO) != 0, dnssec_ok);
            assert_int_equal(m->opt->ttl & 0x7FFF, 0); /* the rest of Z stays clear */
            msg_free(m);
        }
    }
}

static void test_do_bit_is_copied_into_a_positive_answer(void **state)
{
    assert_do_bit_is_copied(image_of(state),
                            (struct query){.name = "www.x.test", .type = WIRE_TYPE_A},
                            WIRE_RCODE_NOERROR);
}

static void test_do_bit_is_copied_into_nxdomain(void **state)
{
    assert_do_bit_is_copied(image_of(state),
                            (struct query){.name = "nothere.x.test", .type = WIRE_TYPE_A},
                            WIRE_RCODE_NXDOMAIN);
}

static void test_do_bit_is_copied_into_nodata(void **state)
{
    assert_do_bit_is_copied(image_of(state),
                            (struct query){.name = "www.x.test", .type = WIRE_TYPE_AAAA},
                            WIRE_RCODE_NOERROR);
}

static void test_do_bit_is_copied_into_a_blocked_answer(void **state)
{
    assert_do_bit_is_copied(image_of(state),
                            (struct query){.name = "bad.x.test", .type = WIRE_TYPE_A},
                            WIRE_RCODE_NXDOMAIN);
}

static void test_do_bit_is_copied_into_refused(void **state)
{
    assert_do_bit_is_copied(image_of(state),
                            (struct query){.name = "nowhere.example.org", .type = WIRE_TYPE_A},
                            WIRE_RCODE_REFUSED);
    /* an error answer of its own (answer_error) */
    assert_do_bit_is_copied(image_of(state),
                            (struct query){.name = "www.x.test", .type = WIRE_TYPE_A, .class = 3},
                            WIRE_RCODE_REFUSED);
}

static void test_do_bit_is_copied_into_badvers(void **state)
{
    assert_do_bit_is_copied(image_of(state),
                            (struct query){.name = "www.x.test", .type = WIRE_TYPE_A, .version = 1},
                            WIRE_RCODE_BADVERS);
}

static void test_edns_version_1_is_badvers(void **state)
{
    struct query q = {.name = "www.x.test",
                      .type = WIRE_TYPE_A,
                      .edns = true,
                      .payload = 1232,
                      .version = 1,
                      .id = 77};
    uint8_t packet[600];
    size_t len = query_make(packet, &q);
    struct msg *m = ask_packet(image_of(state), packet, len, ANSWER_UDP);
    assert_int_equal(m->id, 77);
    /* RFC 6891 §6.1.3: BADVERS is 16, its upper 8 bits in the OPT TTL */
    assert_int_equal(rcode(m), 0);
    assert_non_null(m->opt);
    assert_int_equal(m->opt->ttl >> 24, 1);
    assert_int_equal((m->opt->ttl >> 16) & 0xFF, 0); /* our version */
    assert_int_equal(m->counts[ANSWER], 0);
    msg_free(m);
}

static void test_badvers_opt_still_advertises_our_payload(void **state)
{
    /* RFC 6891 §6.1.2: the responder's OPT CLASS is its own UDP payload size */
    struct query q = {
        .name = "www.x.test", .type = WIRE_TYPE_A, .edns = true, .payload = 4096, .version = 1};
    uint8_t packet[600];
    size_t len = query_make(packet, &q);
    struct msg *m = ask_packet(image_of(state), packet, len, ANSWER_UDP);
    assert_non_null(m->opt);
    assert_int_equal(m->opt->class, 1232);
    msg_free(m);
}

static void test_udp_answer_over_512_without_edns_is_truncated(void **state)
{
    struct msg *m = ask_on(image_of(state),
                           (struct query){.name = "big60.x.test", .type = WIRE_TYPE_A}, ANSWER_UDP);
    assert_true(m->flags & WIRE_FLAG_TC);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_int_equal(m->qdcount, 1);
    msg_free(m);
}

static void test_udp_answer_within_the_edns_payload_fits(void **state)
{
    struct query q = {.name = "big60.x.test", .type = WIRE_TYPE_A, .edns = true, .payload = 4096};
    struct msg *m = ask_on(image_of(state), q, ANSWER_UDP);
    assert_false(m->flags & WIRE_FLAG_TC);
    assert_int_equal(m->counts[ANSWER], 60);
    assert_true(m->len > 900);
    assert_true(m->len <= 1232);
    msg_free(m);
}

static void test_udp_answer_over_our_edns_payload_is_truncated(void **state)
{
    /* the client offers 4096, we advertise 1232: 1232 is the limit */
    struct query q = {.name = "big90.x.test", .type = WIRE_TYPE_A, .edns = true, .payload = 4096};
    struct msg *m = ask_on(image_of(state), q, ANSWER_UDP);
    assert_true(m->flags & WIRE_FLAG_TC);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_non_null(m->opt);
    assert_true(m->len <= 1232);
    msg_free(m);
}

static void test_do_bit_is_copied_into_a_truncated_answer(void **state)
{
    for (int dnssec_ok = 0; dnssec_ok < 2; dnssec_ok++) {
        struct query q = {.name = "big90.x.test",
                          .type = WIRE_TYPE_A,
                          .edns = true,
                          .payload = 4096,
                          .dnssec_ok = dnssec_ok};
        struct msg *m = ask_on(image_of(state), q, ANSWER_UDP);
        assert_true(m->flags & WIRE_FLAG_TC);
        assert_non_null(m->opt);
        assert_int_equal((m->opt->ttl & WIRE_EDNS_DO) != 0, dnssec_ok);
        msg_free(m);
    }
}

static void test_udp_answer_over_the_client_payload_is_truncated(void **state)
{
    struct query q = {.name = "big60.x.test", .type = WIRE_TYPE_A, .edns = true, .payload = 512};
    struct msg *m = ask_on(image_of(state), q, ANSWER_UDP);
    assert_true(m->flags & WIRE_FLAG_TC);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_true(m->len <= 512);
    msg_free(m);
}

static void test_tcp_answer_is_complete(void **state)
{
    struct msg *m = ask_on(image_of(state),
                           (struct query){.name = "big90.x.test", .type = WIRE_TYPE_A}, ANSWER_TCP);
    assert_false(m->flags & WIRE_FLAG_TC);
    assert_int_equal(m->counts[ANSWER], 90);
    msg_free(m);
}

static void test_tcp_answer_of_60_kib_is_complete(void **state)
{
    struct msg *m = ask_on(
        image_of(state), (struct query){.name = "huge.x.test", .type = WIRE_TYPE_TXT}, ANSWER_TCP);
    assert_false(m->flags & WIRE_FLAG_TC);
    assert_int_equal(m->counts[ANSWER], 300);
    assert_true(m->len > 60000);
    msg_free(m);
}

static void test_tcp_answer_of_60_kib_with_edns_is_complete(void **state)
{
    struct query q = {.name = "huge.x.test", .type = WIRE_TYPE_TXT, .edns = true, .payload = 1232};
    struct msg *m = ask_on(image_of(state), q, ANSWER_TCP);
    assert_false(m->flags & WIRE_FLAG_TC);
    assert_int_equal(m->counts[ANSWER], 300);
    assert_non_null(m->opt);
    msg_free(m);
}

/* ==== 12. malformed queries ================================================ */

static struct msg *ask_bytes(const struct image *img, const uint8_t *packet, size_t len)
{
    return ask_packet(img, packet, len, ANSWER_UDP);
}

static void test_packet_shorter_than_a_header_is_dropped(void **state)
{
    uint8_t packet[600];
    size_t len = query_make(packet, &(struct query){.name = "www.x.test", .type = WIRE_TYPE_A});
    assert_true(len > WIRE_HEADER_SIZE);
    for (size_t n = 0; n < WIRE_HEADER_SIZE; n++) {
        uint8_t *response;
        assert_int_equal(answer_raw(image_of(state), packet, n, ANSWER_UDP, &response), 0);
        free(response);
    }
}

static void test_response_packet_is_dropped(void **state)
{
    uint8_t packet[600];
    size_t len = query_make(
        packet, &(struct query){.name = "www.x.test", .type = WIRE_TYPE_A, .flags = WIRE_FLAG_QR});
    uint8_t *response;
    assert_int_equal(answer_raw(image_of(state), packet, len, ANSWER_UDP, &response), 0);
    free(response);
}

static void assert_formerr(const struct image *img, const uint8_t *packet, size_t len)
{
    struct msg *m = ask_bytes(img, packet, len);
    assert_int_equal(rcode(m), WIRE_RCODE_FORMERR);
    assert_int_equal(m->id, wire_get16(packet));
    assert_int_equal(m->counts[ANSWER], 0);
    assert_int_equal(m->counts[AUTHORITY], 0);
    msg_free(m);
}

static void test_no_question_is_formerr(void **state)
{
    uint8_t packet[600];
    query_make(packet, &(struct query){.name = "www.x.test", .type = WIRE_TYPE_A, .id = 9});
    wire_put16(packet + 4, 0);
    assert_formerr(image_of(state), packet, WIRE_HEADER_SIZE);
}

static void test_two_questions_are_formerr(void **state)
{
    uint8_t packet[600];
    size_t len = query_make(packet, &(struct query){.name = "www.x.test", .type = WIRE_TYPE_A});
    size_t question = len - WIRE_HEADER_SIZE;
    memcpy(packet + len, packet + WIRE_HEADER_SIZE, question);
    wire_put16(packet + 4, 2);
    assert_formerr(image_of(state), packet, len + question);
}

static void test_name_with_a_pointer_loop_is_formerr(void **state)
{
    /* the qname is a pointer to itself */
    static const uint8_t packet[] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1};
    assert_formerr(image_of(state), packet, sizeof packet);
}

static void test_name_with_a_forward_pointer_is_formerr(void **state)
{
    /* "www" then a pointer to offset 22, which follows it */
    static const uint8_t packet[] = {0,   1,   0,   0,    0,  1, 0, 0, 0, 0, 0,   0, 3,
                                     'w', 'w', 'w', 0xC0, 22, 0, 1, 0, 1, 1, 'x', 0};
    assert_formerr(image_of(state), packet, sizeof packet);
}

static void test_label_longer_than_63_is_formerr(void **state)
{
    uint8_t packet[600] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    size_t len = WIRE_HEADER_SIZE;
    packet[len++] = 64;
    memset(packet + len, 'a', 64);
    len += 64;
    packet[len++] = 0;
    wire_put16(packet + len, WIRE_TYPE_A);
    wire_put16(packet + len + 2, WIRE_CLASS_IN);
    len += 4;
    assert_formerr(image_of(state), packet, len);
}

static void test_trailing_garbage_is_formerr(void **state)
{
    uint8_t packet[600];
    size_t len = query_make(packet, &(struct query){.name = "www.x.test", .type = WIRE_TYPE_A});
    packet[len++] = 0xAB;
    packet[len++] = 0xCD;
    assert_formerr(image_of(state), packet, len);
}

static void test_truncated_question_is_formerr(void **state)
{
    uint8_t packet[600];
    size_t len = query_make(packet, &(struct query){.name = "www.x.test", .type = WIRE_TYPE_A});
    assert_formerr(image_of(state), packet, len - 2);
}

static void test_unknown_opcode_is_notimp(void **state)
{
    uint8_t packet[600];
    size_t len = query_make(
        packet, &(struct query){.name = "www.x.test", .type = WIRE_TYPE_A, .flags = 4 << 11});
    struct msg *m = ask_bytes(image_of(state), packet, len);
    assert_int_equal(rcode(m), WIRE_RCODE_NOTIMP);
    assert_int_equal(WIRE_OPCODE(m->flags), 4);
    assert_int_equal(m->counts[ANSWER], 0);
    msg_free(m);
}

static void test_class_ch_is_refused(void **state)
{
    struct msg *m =
        ask_on(image_of(state),
               (struct query){.name = "www.x.test", .type = WIRE_TYPE_A, .class = 3}, ANSWER_UDP);
    assert_int_equal(rcode(m), WIRE_RCODE_REFUSED);
    assert_int_equal(m->counts[ANSWER], 0);
    msg_free(m);
}

static void test_any_over_udp_is_exactly_one_rrset(void **state)
{
    /* RFC 8482 §4.1: mail.x.test holds A and AAAA */
    struct msg *m = ask_on(
        image_of(state), (struct query){.name = "mail.x.test", .type = WIRE_TYPE_ANY}, ANSWER_UDP);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 1);
    uint16_t type = rr_at(m, ANSWER, 0)->type;
    assert_true(type == WIRE_TYPE_A || type == WIRE_TYPE_AAAA);
    msg_free(m);

    /* one RRset of several records: all of them, and nothing else */
    m = ask_on(image_of(state), (struct query){.name = "multi.x.test", .type = WIRE_TYPE_ANY},
               ANSWER_UDP);
    assert_int_equal(m->counts[ANSWER], 3);
    assert_int_equal(count_of(m, ANSWER, WIRE_TYPE_A), 3);
    msg_free(m);
}

static void test_any_over_tcp_is_every_rrset_of_the_name(void **state)
{
    struct msg *m = ask_on(
        image_of(state), (struct query){.name = "mail.x.test", .type = WIRE_TYPE_ANY}, ANSWER_TCP);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 2);
    assert_int_equal(count_of(m, ANSWER, WIRE_TYPE_A), 1);
    assert_int_equal(count_of(m, ANSWER, WIRE_TYPE_AAAA), 1);
    msg_free(m);
}

/* ==== compression ========================================================== */

static void test_names_in_answers_are_compressed(void **state)
{
    struct msg *m = ask(image_of(state), "x.test", WIRE_TYPE_MX);
    const struct msg_rr *mx = rr_at(m, ANSWER, 0);
    /* the owner is a pointer to the question */
    assert_int_equal(wire_get16(m->wire + mx->owner_at), 0xC000 | WIRE_HEADER_SIZE);
    /* mail.x.test is 13 octets whole: "mail" and a pointer to x.test is 7 */
    assert_int_equal(mx->rdlength, 2 + 5 + 2);
    assert_string_equal(target_text(mx), "mail.x.test");
    /* and the additional records' owners point at the MX target */
    const struct msg_rr *a = find_rr(m, ADDITIONAL, "mail.x.test", WIRE_TYPE_A);
    assert_non_null(a);
    assert_int_equal(wire_get16(m->wire + a->owner_at) & 0xC000, 0xC000);
    msg_free(m);
}

static void test_negative_answer_soa_is_compressed(void **state)
{
    struct msg *m = ask(image_of(state), "nothere.x.test", WIRE_TYPE_A);
    const struct msg_rr *soa = assert_soa_authority(m, "x.test", 300);
    /* the apex is the question's suffix: a pointer */
    assert_int_equal(wire_get16(m->wire + soa->owner_at) & 0xC000, 0xC000);
    /* ns1.x.test and hostmaster.x.test whole are 12 + 19 octets */
    assert_true(soa->rdlength < 12 + 19 + 20);
    msg_free(m);
}

/* ---- access lists and forwarding (answer order) --------------------------- */

/* Clients of ACL_CONFIG. */
#define RECURSING_CLIENT "10.1.2.3"   /* allow_query and allow_recursion */
#define QUERYING_CLIENT "192.168.7.7" /* allow_query only */
#define OUTSIDE_CLIENT "203.0.113.9"  /* neither */

struct asked {
    enum answer_action action;
    struct answer_info info;
    struct msg *msg; /* NULL when nothing was written */
};

/* Ask name/type as the IPv4 client at address over UDP. */
static struct asked ask_from(const struct image *img, const char *address, const char *name,
                             uint16_t type)
{
    struct sockaddr_in client = {.sin_family = AF_INET, .sin_port = htons(53124)};
    assert_int_equal(inet_pton(AF_INET, address, &client.sin_addr), 1);
    uint8_t packet[600];
    size_t len = query_make(
        packet, &(struct query){.name = name, .type = type, .id = 0x5151, .flags = WIRE_FLAG_RD});
    uint8_t *response = malloc(ANSWER_BUFFER_SIZE);
    assert_non_null(response);
    struct asked a;
    size_t n = 99999;
    a.action = answer_query(img, packet, len, (const struct sockaddr *)&client, ANSWER_UDP,
                            response, &n, &a.info);
    a.msg = NULL;
    if (a.action == ANSWER_SEND)
        a.msg = msg_parse(response, n);
    else
        assert_int_equal(n, 0);
    free(response);
    return a;
}

static void test_client_outside_allow_query_is_refused_even_for_our_data(void **state)
{
    struct asked a = ask_from(image_of(state), OUTSIDE_CLIENT, "www.x.test", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_SEND);
    assert_int_equal(rcode(a.msg), WIRE_RCODE_REFUSED);
    assert_false(a.msg->flags & WIRE_FLAG_RA);
    assert_int_equal(a.msg->counts[0], 0);
    assert_int_equal(a.msg->qdcount, 1); /* the question is echoed */
    assert_int_equal(a.info.source, ANSWER_SOURCE_REFUSED);
    msg_free(a.msg);
}

static void test_client_outside_allow_query_is_refused_for_other_names(void **state)
{
    struct asked a = ask_from(image_of(state), OUTSIDE_CLIENT, "www.example.org", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_SEND);
    assert_int_equal(rcode(a.msg), WIRE_RCODE_REFUSED);
    assert_false(a.msg->flags & WIRE_FLAG_RA);
    msg_free(a.msg);
}

static void test_client_without_recursion_gets_our_data_with_ra_clear(void **state)
{
    struct asked a = ask_from(image_of(state), QUERYING_CLIENT, "www.x.test", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_SEND);
    assert_int_equal(rcode(a.msg), WIRE_RCODE_NOERROR);
    assert_int_equal(a.msg->counts[0], 1);
    assert_true(a.msg->flags & WIRE_FLAG_AA);
    assert_false(a.msg->flags & WIRE_FLAG_RA);
    assert_int_equal(a.info.source, ANSWER_SOURCE_LOCAL);
    msg_free(a.msg);
}

static void test_client_without_recursion_is_refused_for_other_names_with_ra_clear(void **state)
{
    struct asked a = ask_from(image_of(state), QUERYING_CLIENT, "www.example.org", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_SEND);
    assert_int_equal(rcode(a.msg), WIRE_RCODE_REFUSED);
    assert_false(a.msg->flags & WIRE_FLAG_RA);
    assert_false(a.msg->flags & WIRE_FLAG_AA);
    assert_int_equal(a.info.source, ANSWER_SOURCE_REFUSED);
    msg_free(a.msg);
}

static void test_client_with_recursion_has_other_names_forwarded(void **state)
{
    struct asked a = ask_from(image_of(state), RECURSING_CLIENT, "WWW.Example.ORG", WIRE_TYPE_AAAA);
    assert_int_equal(a.action, ANSWER_FORWARD);
    assert_null(a.msg);
    assert_int_equal(a.info.source, ANSWER_SOURCE_FORWARD);
    assert_true(a.info.recursion);
    assert_true(a.info.question);
    /* what the forwarding code needs: the lowercase name, type and ID */
    assert_string_equal(text_of(a.info.query.qname_lower, a.info.query.qname_len),
                        "www.example.org");
    assert_int_equal(a.info.query.qtype, WIRE_TYPE_AAAA);
    assert_int_equal(a.info.query.id, 0x5151);
}

/* What query.c sends for an RD=0 query answer_query would forward, when
 * the cache has nothing (finding 12: RD=0 is never forwarded). */
static void test_refused_instead_of_forwarding_echoes_question_rd0_and_opt(void **state)
{
    struct sockaddr_in client = {.sin_family = AF_INET, .sin_port = htons(53124)};
    assert_int_equal(inet_pton(AF_INET, RECURSING_CLIENT, &client.sin_addr), 1);
    uint8_t packet[600];
    size_t len = query_make(packet, &(struct query){.name = "WWW.Example.ORG",
                                                    .type = WIRE_TYPE_A,
                                                    .id = 0x6161,
                                                    .flags = 0,
                                                    .edns = true,
                                                    .payload = 1232,
                                                    .dnssec_ok = true});
    uint8_t *response = malloc(ANSWER_BUFFER_SIZE);
    assert_non_null(response);
    struct answer_info info;
    size_t n;
    assert_int_equal(answer_query(image_of(state), packet, len, (const struct sockaddr *)&client,
                                  ANSWER_UDP, response, &n, &info),
                     ANSWER_FORWARD);
    n = answer_refused(image_of(state), packet, response, &info);
    struct msg *m = msg_parse(response, n);
    assert_int_equal(m->id, 0x6161);
    assert_int_equal(rcode(m), WIRE_RCODE_REFUSED);
    assert_false(m->flags & WIRE_FLAG_RD);
    assert_false(m->flags & WIRE_FLAG_AA);
    assert_true(m->flags & WIRE_FLAG_RA);
    assert_int_equal(m->qdcount, 1);
    assert_string_equal(text_of(m->qname, m->qname_len), "WWW.Example.ORG");
    assert_non_null(m->opt);
    assert_int_equal(info.source, ANSWER_SOURCE_REFUSED);
    assert_int_equal(info.rcode, WIRE_RCODE_REFUSED);
    msg_free(m);
    free(response);
}

static void test_client_with_recursion_gets_ra_in_answers_from_our_data(void **state)
{
    struct asked a = ask_from(image_of(state), RECURSING_CLIENT, "www.x.test", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_SEND);
    assert_int_equal(a.msg->counts[0], 1);
    assert_true(a.msg->flags & WIRE_FLAG_AA);
    assert_true(a.msg->flags & WIRE_FLAG_RA);
    msg_free(a.msg);
}

static void test_names_inside_our_zones_are_never_forwarded(void **state)
{
    struct asked a = ask_from(image_of(state), RECURSING_CLIENT, "nothere.x.test", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_SEND);
    assert_int_equal(rcode(a.msg), WIRE_RCODE_NXDOMAIN);
    assert_true(a.msg->flags & WIRE_FLAG_AA);
    assert_true(a.msg->flags & WIRE_FLAG_RA);
    msg_free(a.msg);
}

static void test_blocked_names_are_answered_here_not_forwarded(void **state)
{
    struct asked a =
        ask_from(image_of(state), RECURSING_CLIENT, "tracker.ads.example", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_SEND);
    assert_int_equal(rcode(a.msg), WIRE_RCODE_NXDOMAIN);
    assert_int_equal(a.info.source, ANSWER_SOURCE_BLOCKED);
    msg_free(a.msg);
}

static void test_names_under_a_forward_zone_are_forwarded(void **state)
{
    struct asked a = ask_from(image_of(state), RECURSING_CLIENT, "host.corp.example", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_FORWARD);
}

static void test_malformed_query_from_a_recursing_client_has_ra(void **state)
{
    struct sockaddr_in client = {.sin_family = AF_INET, .sin_port = htons(1)};
    assert_int_equal(inet_pton(AF_INET, RECURSING_CLIENT, &client.sin_addr), 1);
    uint8_t packet[12] = {0x12, 0x34, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}; /* no question */
    uint8_t *response = malloc(ANSWER_BUFFER_SIZE);
    assert_non_null(response);
    struct answer_info info;
    size_t n;
    assert_int_equal(answer_query(image_of(state), packet, sizeof packet,
                                  (const struct sockaddr *)&client, ANSWER_UDP, response, &n,
                                  &info),
                     ANSWER_SEND);
    struct msg *m = msg_parse(response, n);
    assert_int_equal(rcode(m), WIRE_RCODE_FORMERR);
    assert_true(m->flags & WIRE_FLAG_RA);
    assert_false(info.question);
    msg_free(m);
    free(response);
}

static void test_not_a_query_is_dropped_for_every_client(void **state)
{
    struct sockaddr_in client = {.sin_family = AF_INET, .sin_port = htons(1)};
    assert_int_equal(inet_pton(AF_INET, OUTSIDE_CLIENT, &client.sin_addr), 1);
    uint8_t packet[5] = {1, 2, 3, 4, 5};
    uint8_t response[ANSWER_BUFFER_SIZE];
    struct answer_info info;
    size_t n = 7;
    assert_int_equal(answer_query(image_of(state), packet, sizeof packet,
                                  (const struct sockaddr *)&client, ANSWER_UDP, response, &n,
                                  &info),
                     ANSWER_DROP);
    assert_int_equal(n, 0);
}

static void test_without_upstreams_other_names_are_refused_for_loopback_too(void **state)
{
    /* MAIN_CONFIG: no upstream at all, so no recursion for anyone */
    struct asked a = ask_from(image_of(state), "127.0.0.1", "www.example.org", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_SEND);
    assert_int_equal(rcode(a.msg), WIRE_RCODE_REFUSED);
    assert_false(a.msg->flags & WIRE_FLAG_RA);
    assert_false(a.info.recursion);
    msg_free(a.msg);
}

static void test_with_only_forward_zones_names_outside_them_are_refused(void **state)
{
    (void)state;
    struct image_fixture *s = served_open(FORWARD_ZONE_ONLY_CONFIG);
    struct asked a = ask_from(&s->img, "127.0.0.1", "host.corp.example", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_FORWARD);
    a = ask_from(&s->img, "127.0.0.1", "www.example.org", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_SEND);
    assert_int_equal(rcode(a.msg), WIRE_RCODE_REFUSED);
    msg_free(a.msg);
    served_close(s);
}

/* Issue 4: a large blocklist compiles into the image and is matched with
 * one table probe per label of the query, whatever the number of rules. */
static void test_hundred_thousand_suffix_rules_block_below_each_suffix(void **state)
{
    (void)state;
    enum { RULES = 100000 };
    struct image_input_rewrite *rules = calloc(RULES, sizeof *rules);
    uint8_t(*names)[WIRE_NAME_MAX] = calloc(RULES, WIRE_NAME_MAX);
    assert_non_null(rules);
    assert_non_null(names);
    for (int i = 0; i < RULES; i++) {
        char text[64], err[128];
        size_t len;
        snprintf(text, sizeof text, "tracker%d.example", i);
        assert_int_equal(wire_name_from_text(text, names[i], &len, err, sizeof err), 0);
        rules[i] = (struct image_input_rewrite){names[i], (uint8_t)len, true, 0};
    }
    struct image_input in = {.config_version = 1,
                             .settings = {.edns_payload = 1232},
                             .rewrites = rules,
                             .rewrite_count = RULES};
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256];
    assert_int_equal(image_build(&in, &buf, &len, err, sizeof err), 0);
    struct image img;
    assert_int_equal(image_open(&img, buf, len, err, sizeof err), 0);
    assert_int_equal(img.rewrite_count, RULES);

    struct msg *m = ask(&img, "a.b.tracker99999.example", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    msg_free(m);
    m = ask(&img, "x.tracker0.example", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    msg_free(m);
    /* "*.suffix" leaves the suffix itself and its siblings alone */
    m = ask(&img, "tracker5.example", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_REFUSED);
    msg_free(m);
    m = ask(&img, "x.tracker100000.example", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_REFUSED);
    msg_free(m);
    free(buf);
    free(names);
    free(rules);
}

/* ==== 12. locally served zones (RFC 6303, RFC 6761) ======================== */

/* The synthesized SOA of RFC 6303 §3 for zone, alone in authority. */
static void assert_local_soa(const struct msg *m, const char *zone)
{
    const struct msg_rr *soa = assert_soa_authority(m, zone, 10800);
    assert_string_equal(target_text(soa), zone); /* MNAME: the zone itself */
    size_t rname_at = soa->rdata_at;
    size_t len = 0;
    uint8_t name[WIRE_NAME_MAX];
    assert_int_equal(wire_name_parse(m->wire, m->len, &rname_at, name, &len), 0); /* MNAME */
    assert_int_equal(wire_name_parse(m->wire, m->len, &rname_at, name, &len), 0); /* RNAME */
    assert_string_equal(text_of(name, len), "nobody.invalid");
    const uint8_t *numbers = m->wire + soa->after_names;
    assert_int_equal(wire_get32(numbers), 1);
    assert_int_equal(wire_get32(numbers + 4), 3600);
    assert_int_equal(wire_get32(numbers + 8), 1200);
    assert_int_equal(wire_get32(numbers + 12), 604800);
    assert_int_equal(wire_get32(numbers + 16), 10800);
}

static void test_each_local_zone_family_is_nxdomain_with_its_soa_and_aa(void **state)
{
    static const struct {
        const char *name, *zone;
    } cases[] = {
        {"5.4.3.10.in-addr.arpa", "10.in-addr.arpa"},
        {"1.0.20.172.in-addr.arpa", "20.172.in-addr.arpa"},
        {"1.0.31.172.in-addr.arpa", "31.172.in-addr.arpa"},
        {"9.9.64.100.in-addr.arpa", "64.100.in-addr.arpa"},
        {"9.9.127.100.in-addr.arpa", "127.100.in-addr.arpa"},
        {"1.1.254.169.in-addr.arpa", "254.169.in-addr.arpa"},
        {"1.0.0.127.in-addr.arpa", "127.in-addr.arpa"},
        {"1.0.0.0.in-addr.arpa", "0.in-addr.arpa"},
        {"1.2.0.192.in-addr.arpa", "2.0.192.in-addr.arpa"},
        {"1.100.51.198.in-addr.arpa", "100.51.198.in-addr.arpa"},
        {"1.113.0.203.in-addr.arpa", "113.0.203.in-addr.arpa"},
        {"x.255.255.255.255.in-addr.arpa", "255.255.255.255.in-addr.arpa"},
        {"x.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
         "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"},
        {"x.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
         "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa"},
        {"2.c.d.f.ip6.arpa", "d.f.ip6.arpa"},
        {"0.8.e.f.ip6.arpa", "8.e.f.ip6.arpa"},
        {"0.9.e.f.ip6.arpa", "9.e.f.ip6.arpa"},
        {"0.a.e.f.ip6.arpa", "a.e.f.ip6.arpa"},
        {"0.b.e.f.ip6.arpa", "b.e.f.ip6.arpa"},
        {"1.8.b.d.0.1.0.0.2.ip6.arpa", "8.b.d.0.1.0.0.2.ip6.arpa"},
        {"router.home.arpa", "home.arpa"},
        {"anything.invalid", "invalid"},
        {"some.name.test", "test"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct msg *m = ask(image_of(state), cases[i].name, WIRE_TYPE_PTR);
        assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
        assert_true(m->flags & WIRE_FLAG_AA);
        assert_int_equal(m->counts[ANSWER], 0);
        assert_local_soa(m, cases[i].zone);
        msg_free(m);
    }
}

static void test_local_zone_apex_has_its_soa_and_ns(void **state)
{
    struct msg *m = ask(image_of(state), "10.in-addr.arpa", WIRE_TYPE_NS);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_int_equal(count_of(m, ANSWER, WIRE_TYPE_NS), 1);
    assert_string_equal(target_text(rr_at(m, ANSWER, 0)), "10.in-addr.arpa");
    msg_free(m);
    m = ask(image_of(state), "10.in-addr.arpa", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_local_soa(m, "10.in-addr.arpa");
    msg_free(m);
}

static void test_local_zones_are_answered_for_a_recursing_client_not_forwarded(void **state)
{
    struct asked a =
        ask_from(image_of(state), RECURSING_CLIENT, "9.9.9.10.in-addr.arpa", WIRE_TYPE_PTR);
    assert_int_equal(a.action, ANSWER_SEND);
    assert_int_equal(rcode(a.msg), WIRE_RCODE_NXDOMAIN);
    assert_true(a.msg->flags & WIRE_FLAG_AA);
    assert_int_equal(a.info.source, ANSWER_SOURCE_LOCAL);
    msg_free(a.msg);
    a = ask_from(image_of(state), RECURSING_CLIENT, "x.test", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_SEND);
    assert_int_equal(rcode(a.msg), WIRE_RCODE_NXDOMAIN);
    msg_free(a.msg);
}

static void test_localhost_is_the_loopback_addresses(void **state)
{
    struct msg *m = ask(image_of(state), "localhost", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(address_text(m, rr_at(m, ANSWER, 0)), "127.0.0.1");
    msg_free(m);
    m = ask(image_of(state), "LocalHost", WIRE_TYPE_AAAA);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(address_text(m, rr_at(m, ANSWER, 0)), "::1");
    assert_string_equal(owner_text(rr_at(m, ANSWER, 0)), "LocalHost");
    msg_free(m);
}

static void test_names_below_localhost_are_the_loopback_addresses(void **state)
{
    struct msg *m = ask(image_of(state), "a.b.localhost", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(owner_text(rr_at(m, ANSWER, 0)), "a.b.localhost");
    assert_string_equal(address_text(m, rr_at(m, ANSWER, 0)), "127.0.0.1");
    msg_free(m);
    m = ask(image_of(state), "app.localhost", WIRE_TYPE_AAAA);
    assert_string_equal(address_text(m, rr_at(m, ANSWER, 0)), "::1");
    msg_free(m);
}

static void test_localhost_other_types_are_nodata(void **state)
{
    struct msg *m = ask(image_of(state), "localhost", WIRE_TYPE_MX);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_local_soa(m, "localhost");
    msg_free(m);
    m = ask(image_of(state), "x.localhost", WIRE_TYPE_TXT);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_local_soa(m, "localhost");
    msg_free(m);
}

static void test_our_records_in_a_local_zone_win(void **state)
{
    struct msg *m = ask(image_of(state), "files.home.arpa", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_string_equal(address_text(m, rr_at(m, ANSWER, 0)), "10.0.0.60");
    msg_free(m);
    m = ask(image_of(state), "files.home.arpa", WIRE_TYPE_MX);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_local_soa(m, "home.arpa");
    msg_free(m);
}

static void test_our_zone_replaces_the_local_zone(void **state)
{
    struct msg *m = ask(image_of(state), "9.9.168.192.in-addr.arpa", WIRE_TYPE_PTR);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    assert_true(m->flags & WIRE_FLAG_AA);
    const struct msg_rr *soa = assert_soa_authority(m, "168.192.in-addr.arpa", 300);
    assert_string_equal(target_text(soa), "ns1.internal.lan");
    msg_free(m);
}

static void test_forward_zone_below_a_local_zone_is_forwarded(void **state)
{
    struct asked a =
        ask_from(image_of(state), RECURSING_CLIENT, "5.9.1.10.in-addr.arpa", WIRE_TYPE_PTR);
    assert_int_equal(a.action, ANSWER_FORWARD);
    /* the rest of the local zone stays here */
    a = ask_from(image_of(state), RECURSING_CLIENT, "5.9.2.10.in-addr.arpa", WIRE_TYPE_PTR);
    assert_int_equal(a.action, ANSWER_SEND);
    assert_int_equal(rcode(a.msg), WIRE_RCODE_NXDOMAIN);
    msg_free(a.msg);
    /* our data under the forward zone is still ours */
    a = ask_from(image_of(state), RECURSING_CLIENT, "host.1.10.in-addr.arpa", WIRE_TYPE_TXT);
    assert_int_equal(a.action, ANSWER_SEND);
    assert_int_equal(a.msg->counts[ANSWER], 1);
    msg_free(a.msg);
}

static void test_forward_zone_at_a_local_zone_replaces_it(void **state)
{
    struct asked a =
        ask_from(image_of(state), RECURSING_CLIENT, "1.2.16.172.in-addr.arpa", WIRE_TYPE_PTR);
    assert_int_equal(a.action, ANSWER_FORWARD);
    /* not a zone here any more: a client that may not recurse is refused */
    struct msg *m = ask(image_of(state), "1.2.16.172.in-addr.arpa", WIRE_TYPE_PTR);
    assert_int_equal(rcode(m), WIRE_RCODE_REFUSED);
    msg_free(m);
}

static void test_without_local_zones_their_names_are_not_ours(void **state)
{
    (void)state;
    struct image_fixture f;
    image_fixture_open(&f, NO_LOCAL_ZONES_CONFIG);
    struct msg *m = ask(&f.img, "foo.test", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_REFUSED);
    msg_free(m);
    m = ask(&f.img, "app.localhost", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_REFUSED);
    msg_free(m);
    image_fixture_free(&f);
}

/* ==== 13. names of one label: domain_needed and search_domain ============== */

static void test_single_label_name_is_nxdomain_not_forwarded(void **state)
{
    struct asked a = ask_from(image_of(state), RECURSING_CLIENT, "printer2", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_SEND);
    assert_int_equal(rcode(a.msg), WIRE_RCODE_NXDOMAIN);
    assert_false(a.msg->flags & WIRE_FLAG_AA);
    assert_int_equal(a.msg->counts[ANSWER] + a.msg->counts[AUTHORITY], 0);
    msg_free(a.msg);
}

static void test_single_label_name_of_ours_is_answered(void **state)
{
    struct msg *m = ask(image_of(state), "nas", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_string_equal(address_text(m, rr_at(m, ANSWER, 0)), "10.0.0.61");
    msg_free(m);
}

static void test_single_label_name_under_a_forward_zone_is_forwarded(void **state)
{
    struct asked a = ask_from(image_of(state), RECURSING_CLIENT, "lab", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_FORWARD);
}

static void test_without_domain_needed_single_labels_are_forwarded(void **state)
{
    (void)state;
    struct image_fixture f;
    image_fixture_open(&f, NO_DOMAIN_NEEDED_CONFIG);

    struct asked a = ask_from(&f.img, RECURSING_CLIENT, "printer2", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_FORWARD);
    image_fixture_free(&f);
}

static void test_search_domain_answers_a_bare_name_under_the_name_asked(void **state)
{
    struct asked a = ask_from(image_of(state), RECURSING_CLIENT, "Printer", WIRE_TYPE_A);
    assert_int_equal(a.action, ANSWER_SEND);
    struct msg *m = a.msg;
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_int_equal(m->counts[ANSWER], 1);
    const struct msg_rr *rr = rr_at(m, ANSWER, 0);
    assert_string_equal(owner_text(rr), "Printer"); /* the question's name and case */
    assert_int_equal(wire_get16(m->wire + rr->owner_at), 0xC000 | WIRE_HEADER_SIZE);
    assert_int_equal(rr->ttl, 120);
    assert_string_equal(address_text(m, rr), "10.0.0.9");
    msg_free(m);
}

static void test_search_domain_returns_a_cname_as_it_is(void **state)
{
    struct msg *m = ask(image_of(state), "alias", WIRE_TYPE_A);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 2);
    const struct msg_rr *cname = rr_at(m, ANSWER, 0);
    assert_int_equal(cname->type, WIRE_TYPE_CNAME);
    assert_string_equal(owner_text(cname), "alias");
    assert_string_equal(target_text(cname), "printer.internal.lan");
    const struct msg_rr *a = rr_at(m, ANSWER, 1);
    assert_string_equal(owner_text(a), "printer.internal.lan");
    assert_string_equal(address_text(m, a), "10.0.0.9");
    msg_free(m);
}

static void test_search_domain_nodata_keeps_the_name(void **state)
{
    struct msg *m = ask(image_of(state), "printer", WIRE_TYPE_AAAA);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_int_equal(m->counts[ANSWER], 0);
    assert_soa_authority(m, "internal.lan", 300);
    msg_free(m);
}

/* ==== 14. automatic PTRs ================================================== */

static void test_auto_ptr_answers_an_ipv4_address_of_ours(void **state)
{
    struct msg *m = ask(image_of(state), "9.0.0.10.in-addr.arpa", WIRE_TYPE_PTR);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_true(m->flags & WIRE_FLAG_AA); /* in the locally served 10.in-addr.arpa */
    assert_int_equal(m->counts[ANSWER], 1);
    const struct msg_rr *ptr = rr_at(m, ANSWER, 0);
    assert_int_equal(ptr->type, WIRE_TYPE_PTR);
    assert_string_equal(target_text(ptr), "printer.internal.lan");
    assert_int_equal(ptr->ttl, 120); /* the A record's */
    msg_free(m);
}

static void test_auto_ptr_answers_an_ipv6_address_of_ours(void **state)
{
    struct msg *m = ask(image_of(state),
                        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa",
                        WIRE_TYPE_PTR);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(target_text(rr_at(m, ANSWER, 0)), "v6.internal.lan");
    msg_free(m);
}

static void test_explicit_ptr_wins_over_auto_ptr(void **state)
{
    struct msg *m = ask(image_of(state), "7.0.0.10.in-addr.arpa", WIRE_TYPE_PTR);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(target_text(rr_at(m, ANSWER, 0)), "other.internal.lan");
    msg_free(m);
}

static void test_auto_ptr_names_the_first_record_of_a_shared_address(void **state)
{
    struct msg *m = ask(image_of(state), "80.0.0.10.in-addr.arpa", WIRE_TYPE_PTR);
    assert_int_equal(m->counts[ANSWER], 1);
    assert_string_equal(target_text(rr_at(m, ANSWER, 0)), "web.internal.lan");
    msg_free(m);
}

static void test_auto_ptr_in_our_zone_is_authoritative(void **state)
{
    struct msg *m = ask(image_of(state), "10.1.168.192.in-addr.arpa", WIRE_TYPE_PTR);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_true(m->flags & WIRE_FLAG_AA);
    assert_string_equal(target_text(rr_at(m, ANSWER, 0)), "lan.internal.lan");
    msg_free(m);
}

static void test_auto_ptr_outside_every_zone_is_not_authoritative(void **state)
{
    struct msg *m = ask(image_of(state), "5.0.18.198.in-addr.arpa", WIRE_TYPE_PTR);
    assert_int_equal(rcode(m), WIRE_RCODE_NOERROR);
    assert_false(m->flags & WIRE_FLAG_AA);
    assert_string_equal(target_text(rr_at(m, ANSWER, 0)), "public.internal.lan");
    msg_free(m);
}

static void test_wildcard_records_give_no_ptr(void **state)
{
    struct msg *m = ask(image_of(state), "99.0.0.10.in-addr.arpa", WIRE_TYPE_PTR);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    msg_free(m);
}

static void test_without_auto_ptr_there_is_none(void **state)
{
    (void)state;
    struct image_fixture f;
    image_fixture_open(&f, NO_AUTO_PTR_CONFIG);

    struct msg *m = ask(&f.img, "9.0.0.10.in-addr.arpa", WIRE_TYPE_PTR);
    assert_int_equal(rcode(m), WIRE_RCODE_NXDOMAIN);
    msg_free(m);
    image_fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest main_tests[] = {
        cmocka_unit_test(test_existing_name_and_type_returns_the_whole_rrset),
        cmocka_unit_test(test_srv_answer_carries_its_fields),
        cmocka_unit_test(test_nodata_has_soa_in_authority),
        cmocka_unit_test(test_negative_ttl_is_the_soa_ttl_when_minimum_is_larger),
        cmocka_unit_test(test_empty_non_terminal_is_nodata),
        cmocka_unit_test(test_served_serial_is_configured_serial_plus_config_version),
        cmocka_unit_test(test_nxdomain_has_soa_in_authority),
        cmocka_unit_test(test_nxdomain_far_below_the_apex),
        cmocka_unit_test(test_nxdomain_below_an_existing_name),
        cmocka_unit_test(test_nxdomain_in_a_zone_with_large_minimum),
        cmocka_unit_test(test_cname_is_followed_inside_our_data),
        cmocka_unit_test(test_cname_is_returned_for_any_type_asked),
        cmocka_unit_test(test_cname_chain_of_three_is_followed),
        cmocka_unit_test(test_cname_loop_terminates_with_each_cname_once),
        cmocka_unit_test(test_cname_query_returns_only_the_cname),
        cmocka_unit_test(test_cname_to_a_name_outside_our_data_is_not_followed),
        cmocka_unit_test(test_cname_to_a_missing_name_in_our_zone_is_nxdomain),
        cmocka_unit_test(test_mx_target_addresses_are_in_additional),
        cmocka_unit_test(test_ns_target_address_is_in_additional),
        cmocka_unit_test(test_srv_target_address_is_in_additional),
        cmocka_unit_test(test_no_additional_for_targets_we_do_not_hold),
        cmocka_unit_test(test_wildcard_record_answers_its_own_name),
        cmocka_unit_test(test_wildcard_answers_one_label_below_with_the_query_name_as_owner),
        cmocka_unit_test(test_wildcard_without_the_type_is_nodata),
        cmocka_unit_test(test_wildcard_does_not_answer_two_labels_below),
        cmocka_unit_test(test_name_with_own_data_below_a_wildcard_answers_its_own_data),
        cmocka_unit_test(test_name_with_own_data_below_a_wildcard_is_nodata_for_other_types),
        cmocka_unit_test(test_rewrite_exact_match_is_nxdomain_even_when_the_name_has_records),
        cmocka_unit_test(test_rewrite_star_blocks_names_one_label_below),
        cmocka_unit_test(test_rewrite_star_blocks_names_at_any_depth_below),
        cmocka_unit_test(test_rewrite_star_does_not_block_the_name_itself),
        cmocka_unit_test(test_hundred_thousand_suffix_rules_block_below_each_suffix),
        cmocka_unit_test(test_rewrite_outside_every_zone_is_nxdomain_without_soa),
        cmocka_unit_test(test_listed_name_and_every_name_below_it_are_blocked),
        cmocka_unit_test(test_listed_names_match_case_insensitively),
        cmocka_unit_test(test_allowlisted_name_is_answered_though_a_list_blocks_its_parent),
        cmocka_unit_test(test_allowlisted_name_does_not_cover_the_names_below_it),
        cmocka_unit_test(test_allowlisted_suffix_unblocks_every_name_at_or_below_it),
        cmocka_unit_test(test_allowlist_overrides_a_rewrite),
        cmocka_unit_test(test_adblock_exception_unblocks_a_name_a_rule_blocks),
        cmocka_unit_test(test_hosts_list_blocks_every_name_on_a_line),
        cmocka_unit_test(test_block_response_null_answers_a_with_0_0_0_0),
        cmocka_unit_test(test_block_response_null_answers_aaaa_with_unspecified),
        cmocka_unit_test(test_block_response_null_is_nodata_for_other_types),
        cmocka_unit_test(test_block_response_refused_applies_to_lists_and_rewrites),
        cmocka_unit_test(test_name_outside_every_zone_is_refused),
        cmocka_unit_test(test_parent_of_a_zone_is_refused),
        cmocka_unit_test(test_record_outside_every_zone_is_answered),
        cmocka_unit_test(test_question_echoes_the_query_bytes_exactly),
        cmocka_unit_test(test_matching_is_case_insensitive),
        cmocka_unit_test(test_wildcard_owner_keeps_the_query_case),
        cmocka_unit_test(test_rewrites_match_case_insensitively),
        cmocka_unit_test(test_id_and_rd_are_copied_and_ra_is_clear),
        cmocka_unit_test(test_opt_in_answer_carries_the_default_payload_1232),
        cmocka_unit_test(test_opt_in_answer_carries_the_configured_payload),
        cmocka_unit_test(test_no_opt_without_edns_in_the_query),
        cmocka_unit_test(test_opt_on_negative_answers_too),
        cmocka_unit_test(test_do_bit_is_copied_into_a_positive_answer),
        cmocka_unit_test(test_do_bit_is_copied_into_nxdomain),
        cmocka_unit_test(test_do_bit_is_copied_into_nodata),
        cmocka_unit_test(test_do_bit_is_copied_into_a_blocked_answer),
        cmocka_unit_test(test_do_bit_is_copied_into_refused),
        cmocka_unit_test(test_do_bit_is_copied_into_badvers),
        cmocka_unit_test(test_edns_version_1_is_badvers),
        cmocka_unit_test(test_badvers_opt_still_advertises_our_payload),
        cmocka_unit_test(test_packet_shorter_than_a_header_is_dropped),
        cmocka_unit_test(test_response_packet_is_dropped),
        cmocka_unit_test(test_no_question_is_formerr),
        cmocka_unit_test(test_two_questions_are_formerr),
        cmocka_unit_test(test_name_with_a_pointer_loop_is_formerr),
        cmocka_unit_test(test_name_with_a_forward_pointer_is_formerr),
        cmocka_unit_test(test_label_longer_than_63_is_formerr),
        cmocka_unit_test(test_trailing_garbage_is_formerr),
        cmocka_unit_test(test_truncated_question_is_formerr),
        cmocka_unit_test(test_unknown_opcode_is_notimp),
        cmocka_unit_test(test_class_ch_is_refused),
        cmocka_unit_test(test_any_over_udp_is_exactly_one_rrset),
        cmocka_unit_test(test_any_over_tcp_is_every_rrset_of_the_name),
        cmocka_unit_test(test_names_in_answers_are_compressed),
        cmocka_unit_test(test_negative_answer_soa_is_compressed),
    };
    const struct CMUnitTest star_tests[] = {
        cmocka_unit_test(test_star_wildcard_answers_one_label_below_with_the_query_name_as_owner),
        cmocka_unit_test(test_star_wildcard_answers_several_labels_below),
        cmocka_unit_test(test_star_wildcard_does_not_answer_its_parent),
        cmocka_unit_test(test_star_wildcard_answers_a_query_for_its_own_name),
        cmocka_unit_test(test_star_wildcard_is_blocked_below_an_existing_name),
        cmocka_unit_test(test_star_wildcard_adds_no_types_to_an_existing_name),
        cmocka_unit_test(test_star_wildcard_is_blocked_below_an_empty_non_terminal),
        cmocka_unit_test(test_star_wildcard_does_not_answer_an_empty_non_terminal),
        cmocka_unit_test(test_star_wildcard_without_the_type_is_nodata_with_soa),
        cmocka_unit_test(test_star_wildcard_answers_every_type_it_holds),
        cmocka_unit_test(test_star_wildcard_any_over_tcp_is_every_rrset_with_the_query_name),
        cmocka_unit_test(test_star_wildcard_owner_keeps_the_query_case),
        cmocka_unit_test(test_star_wildcard_cname_is_followed),
        cmocka_unit_test(test_cname_target_below_a_star_wildcard_is_answered_by_it),
        cmocka_unit_test(test_star_wildcard_at_a_zone_apex),
        cmocka_unit_test(test_star_wildcard_is_blocked_above_a_child_zone),
        cmocka_unit_test(test_star_wildcard_outside_every_zone),
        cmocka_unit_test(test_empty_star_wildcard_is_nodata),
        cmocka_unit_test(test_star_label_inside_a_name_is_literal),
        cmocka_unit_test(test_names_with_no_star_wildcard_above_stay_nxdomain),
    };
    const struct CMUnitTest sized_tests[] = {
        cmocka_unit_test(test_udp_answer_over_512_without_edns_is_truncated),
        cmocka_unit_test(test_udp_answer_within_the_edns_payload_fits),
        cmocka_unit_test(test_udp_answer_over_our_edns_payload_is_truncated),
        cmocka_unit_test(test_do_bit_is_copied_into_a_truncated_answer),
        cmocka_unit_test(test_udp_answer_over_the_client_payload_is_truncated),
        cmocka_unit_test(test_tcp_answer_is_complete),
        cmocka_unit_test(test_tcp_answer_of_60_kib_is_complete),
        cmocka_unit_test(test_tcp_answer_of_60_kib_with_edns_is_complete),
    };
    const struct CMUnitTest acl_tests[] = {
        cmocka_unit_test(test_client_outside_allow_query_is_refused_even_for_our_data),
        cmocka_unit_test(test_client_outside_allow_query_is_refused_for_other_names),
        cmocka_unit_test(test_client_without_recursion_gets_our_data_with_ra_clear),
        cmocka_unit_test(test_client_without_recursion_is_refused_for_other_names_with_ra_clear),
        cmocka_unit_test(test_client_with_recursion_has_other_names_forwarded),
        cmocka_unit_test(test_refused_instead_of_forwarding_echoes_question_rd0_and_opt),
        cmocka_unit_test(test_client_with_recursion_gets_ra_in_answers_from_our_data),
        cmocka_unit_test(test_names_inside_our_zones_are_never_forwarded),
        cmocka_unit_test(test_blocked_names_are_answered_here_not_forwarded),
        cmocka_unit_test(test_names_under_a_forward_zone_are_forwarded),
        cmocka_unit_test(test_malformed_query_from_a_recursing_client_has_ra),
        cmocka_unit_test(test_not_a_query_is_dropped_for_every_client),
        cmocka_unit_test(test_with_only_forward_zones_names_outside_them_are_refused),
    };
    const struct CMUnitTest local_tests[] = {
        cmocka_unit_test(test_each_local_zone_family_is_nxdomain_with_its_soa_and_aa),
        cmocka_unit_test(test_local_zone_apex_has_its_soa_and_ns),
        cmocka_unit_test(test_local_zones_are_answered_for_a_recursing_client_not_forwarded),
        cmocka_unit_test(test_localhost_is_the_loopback_addresses),
        cmocka_unit_test(test_names_below_localhost_are_the_loopback_addresses),
        cmocka_unit_test(test_localhost_other_types_are_nodata),
        cmocka_unit_test(test_our_records_in_a_local_zone_win),
        cmocka_unit_test(test_our_zone_replaces_the_local_zone),
        cmocka_unit_test(test_forward_zone_below_a_local_zone_is_forwarded),
        cmocka_unit_test(test_forward_zone_at_a_local_zone_replaces_it),
        cmocka_unit_test(test_without_local_zones_their_names_are_not_ours),
        cmocka_unit_test(test_single_label_name_is_nxdomain_not_forwarded),
        cmocka_unit_test(test_single_label_name_of_ours_is_answered),
        cmocka_unit_test(test_single_label_name_under_a_forward_zone_is_forwarded),
        cmocka_unit_test(test_without_domain_needed_single_labels_are_forwarded),
        cmocka_unit_test(test_search_domain_answers_a_bare_name_under_the_name_asked),
        cmocka_unit_test(test_search_domain_returns_a_cname_as_it_is),
        cmocka_unit_test(test_search_domain_nodata_keeps_the_name),
        cmocka_unit_test(test_auto_ptr_answers_an_ipv4_address_of_ours),
        cmocka_unit_test(test_auto_ptr_answers_an_ipv6_address_of_ours),
        cmocka_unit_test(test_explicit_ptr_wins_over_auto_ptr),
        cmocka_unit_test(test_auto_ptr_names_the_first_record_of_a_shared_address),
        cmocka_unit_test(test_auto_ptr_in_our_zone_is_authoritative),
        cmocka_unit_test(test_auto_ptr_outside_every_zone_is_not_authoritative),
        cmocka_unit_test(test_wildcard_records_give_no_ptr),
        cmocka_unit_test(test_without_auto_ptr_there_is_none),
    };
    const struct CMUnitTest no_upstream_tests[] = {
        cmocka_unit_test(test_without_upstreams_other_names_are_refused_for_loopback_too),
    };
    int failed = cmocka_run_group_tests_name("answer", main_tests, main_setup, served_teardown);
    failed += cmocka_run_group_tests_name("answer: access lists and forwarding", acl_tests,
                                          acl_setup, served_teardown);
    failed += cmocka_run_group_tests_name("answer: no upstream", no_upstream_tests, main_setup,
                                          served_teardown);
    failed += cmocka_run_group_tests_name("answer: locally served zones, bare names, PTRs",
                                          local_tests, local_setup, served_teardown);
    failed += cmocka_run_group_tests_name("answer: RFC 4592 wildcards", star_tests, star_setup,
                                          served_teardown);
    failed +=
        cmocka_run_group_tests_name("answer: sizes", sized_tests, sized_setup, served_teardown);
    return failed;
}
