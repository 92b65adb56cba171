/* libFuzzer target for the image reader (common/image.c) and what the data
 * plane does with an image it accepted (dataplane/answer.c). Each input is
 * tried twice: as it is, which mostly exercises the header checks and the
 * content hash, and then with its file_size and hash fields fixed up, so
 * that the structural checks behind the hash are what decide. An image
 * image_open accepts must then survive every lookup and answer without a
 * crash, a sanitizer report or a malformed response (abort()).
 *
 * Seed corpus: with NANODNS_FUZZ_IMAGE_SEED_DIR=DIR set, the fuzzer first
 * compiles the configs below and writes them to DIR as seed-*.img:
 *   mkdir corpus && NANODNS_FUZZ_IMAGE_SEED_DIR=corpus ./fuzz_image -runs=0 corpus
 *   ./fuzz_image -max_total_time=60 corpus */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "answer.h"
#include "compile.h"
#include "config.h"
#include "image.h"
#include "wire.h"

#define JSON(...) #__VA_ARGS__

/* clang-format off */
static const char *const SEED_CONFIGS[] = {
    JSON({
        "server": {"upstream": [], "mgmt_port": 0, "hot_reload": false, "config_version": 3,
                   "search_domain": "x.test"},
        "zones": {
            "x.test": {
                "soa": {"mname": "ns1.x.test", "rname": "hostmaster.x.test", "serial": 1,
                        "refresh": 3600, "retry": 900, "expire": 604800, "minimum": 300},
                "ns": ["ns1.x.test"]
            },
            "sub.x.test": {"ns": ["ns1.x.test"]}
        },
        "records": [
            {"name": "ns1.x.test", "type": "A", "value": "10.0.0.53"},
            {"name": "www.x.test", "type": "A", "value": "10.0.0.80"},
            {"name": "www.x.test", "type": "A", "value": "10.0.0.81"},
            {"name": "www.x.test", "type": "AAAA", "value": "fd00::80"},
            {"name": "x.test", "type": "MX", "value": "mail.x.test", "priority": 10},
            {"name": "mail.x.test", "type": "A", "value": "10.0.0.25"},
            {"name": "x.test", "type": "TXT", "value": "v=spf1 -all"},
            {"name": "x.test", "type": "CAA", "value": "letsencrypt.org", "flags": 0, "tag": "issue"},
            {"name": "_sip._tcp.x.test", "type": "SRV", "value": "sip.x.test",
             "priority": 10, "weight": 20, "port": 5060},
            {"name": "sip.x.test", "type": "A", "value": "10.0.0.60"},
            {"name": "alias.x.test", "type": "CNAME", "value": "www.x.test"},
            {"name": "loopa.x.test", "type": "CNAME", "value": "loopb.x.test"},
            {"name": "loopb.x.test", "type": "CNAME", "value": "loopa.x.test"},
            {"name": "a.b.x.test", "type": "A", "value": "10.0.0.2"},
            {"name": "app.x.test", "type": "A", "value": "10.0.0.9", "wildcard": true},
            {"name": "*.w.x.test", "type": "A", "value": "10.0.4.1"},
            {"name": "*.cn.x.test", "type": "CNAME", "value": "foo.w.x.test"},
            {"name": "a.ent.w.x.test", "type": "A", "value": "10.0.4.3"},
            {"name": "*.dev.lan", "type": "MX", "value": "mail.x.test", "priority": 10},
            {"name": "80.0.0.10.in-addr.arpa", "type": "PTR", "value": "www.x.test"},
            {"name": "host.sub.x.test", "type": "A", "value": "10.0.1.1"},
            {"name": "standalone.other", "type": "A", "value": "10.9.9.9"}
        ],
        "rewrites": [
            {"match": "bad.x.test", "action": "nxdomain"},
            {"match": "*.ads.x.test", "action": "nxdomain"}
        ]
    }),
    JSON({
        "zones": {
            "x.test": {"soa": {"mname": "ns1.x.test", "rname": "h.x.test", "serial": 1,
                               "refresh": 1, "retry": 1, "expire": 1, "minimum": 1}}
        },
        "records": [{"name": "www.x.test", "type": "A", "value": "10.0.0.80"}]
    }),
};
/* clang-format on */

/* Queries asked of every image accepted, whatever is in it. */
static const struct {
    const char *name;
    uint16_t type;
} FIXED_QUERIES[] = {
    {"www.x.test", WIRE_TYPE_A},     {"WWW.x.test", WIRE_TYPE_ANY},
    {"x.test", WIRE_TYPE_MX},        {"x.test", WIRE_TYPE_NS},
    {"x.test", WIRE_TYPE_ANY},       {"x.test", WIRE_TYPE_SOA},
    {"alias.x.test", WIRE_TYPE_A},   {"loopa.x.test", WIRE_TYPE_A},
    {"foo.app.x.test", WIRE_TYPE_A}, {"b.x.test", WIRE_TYPE_A},
    {"nothere.x.test", WIRE_TYPE_A}, {"bad.x.test", WIRE_TYPE_A},
    {"a.ads.x.test", WIRE_TYPE_MX},  {"_sip._tcp.x.test", WIRE_TYPE_SRV},
    {"elsewhere.org", WIRE_TYPE_A},  {".", WIRE_TYPE_NS},
    {"a.b.w.x.test", WIRE_TYPE_A},   {"q.ent.w.x.test", WIRE_TYPE_A},
    {"q.cn.x.test", WIRE_TYPE_A},    {"Laptop.dev.lan", WIRE_TYPE_MX},
};

/* Queries made from names found in the image: at most this many nodes. */
#define NODE_QUERIES_MAX 24

static uint8_t response[ANSWER_BUFFER_SIZE];

/* The content hash as image_build writes it: BLAKE2b-256 over the file
 * with the hash field zeroed. */
static void image_rehash(uint8_t *buf, size_t len)
{
    struct image_header *h = (struct image_header *)buf;
    memset(h->hash, 0, sizeof h->hash);
    crypto_generichash(h->hash, sizeof h->hash, buf, len, NULL, 0);
}

static size_t query_make(uint8_t *out, const uint8_t *name, size_t name_len, uint16_t type,
                         bool edns)
{
    wire_put16(out, 0x1234);
    wire_put16(out + 2, WIRE_FLAG_RD);
    wire_put16(out + 4, 1);
    wire_put16(out + 6, 0);
    wire_put16(out + 8, 0);
    wire_put16(out + 10, edns ? 1 : 0);
    memcpy(out + WIRE_HEADER_SIZE, name, name_len);
    size_t len = WIRE_HEADER_SIZE + name_len;
    wire_put16(out + len, type);
    wire_put16(out + len + 2, WIRE_CLASS_IN);
    len += 4;
    if (edns) {
        out[len] = 0;
        wire_put16(out + len + 1, WIRE_TYPE_OPT);
        wire_put16(out + len + 3, 4096);
        wire_put32(out + len + 5, 0);
        wire_put16(out + len + 9, 0);
        len += 11;
    }
    return len;
}

/* A response must be a well-formed message within its transport's size:
 * every name parses, the counts match, nothing is left over. */
static void response_check(const uint8_t *msg, size_t len, size_t limit)
{
    if (len < WIRE_HEADER_SIZE || len > limit)
        abort();
    if (!(wire_get16(msg + 2) & WIRE_FLAG_QR))
        abort();
    size_t at = WIRE_HEADER_SIZE;
    uint8_t name[WIRE_NAME_MAX];
    size_t name_len;
    for (unsigned i = 0; i < wire_get16(msg + 4); i++) {
        if (wire_name_parse(msg, len, &at, name, &name_len) < 0 || len - at < 4)
            abort();
        at += 4;
    }
    unsigned records = (unsigned)wire_get16(msg + 6) + wire_get16(msg + 8) + wire_get16(msg + 10);
    for (unsigned i = 0; i < records; i++) {
        if (wire_name_parse(msg, len, &at, name, &name_len) < 0 || len - at < 10)
            abort();
        uint16_t type = wire_get16(msg + at);
        size_t rdlength = wire_get16(msg + at + 8);
        at += 10;
        if (len - at < rdlength)
            abort();
        size_t end = at + rdlength, pos = at;
        int names = 0;
        switch (type) {
        case WIRE_TYPE_A:
            if (rdlength != 4)
                abort();
            break;
        case WIRE_TYPE_AAAA:
            if (rdlength != 16)
                abort();
            break;
        case WIRE_TYPE_CNAME:
        case WIRE_TYPE_NS:
        case WIRE_TYPE_PTR:
            names = 1;
            break;
        case WIRE_TYPE_MX:
            pos += 2;
            names = 1;
            break;
        case WIRE_TYPE_SRV:
            pos += 6;
            names = 1;
            break;
        case WIRE_TYPE_SOA:
            names = 2;
            break;
        default:
            break;
        }
        for (int n = 0; n < names; n++) {
            if (pos >= end || wire_name_parse(msg, end, &pos, name, &name_len) < 0)
                abort();
        }
        if (type == WIRE_TYPE_SOA)
            pos += 20;
        if (names && pos != end)
            abort();
        at = end;
    }
    if (at != len)
        abort();
}

static void ask(const struct image *img, const uint8_t *name, size_t name_len, uint16_t type)
{
    /* A loopback client: the access lists and the forwarding decision run
     * too; what is to be forwarded has no response to check. */
    struct sockaddr_in client = {
        .sin_family = AF_INET, .sin_port = htons(5353), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    const struct sockaddr *from = (const struct sockaddr *)&client;
    struct answer_info info;
    uint8_t packet[WIRE_HEADER_SIZE + WIRE_NAME_MAX + 4 + 11];
    for (int edns = 0; edns < 2; edns++) {
        size_t len = query_make(packet, name, name_len, type, edns);
        size_t n;
        if (answer_query(img, packet, len, from, ANSWER_UDP, response, &n, &info) != ANSWER_SEND)
            continue;
        /* over UDP: 512 without EDNS, else at most what we advertise (never
         * below 512) and what the client offered */
        size_t limit = 512;
        if (edns) {
            size_t ours = img->settings->edns_payload < 4096 ? img->settings->edns_payload : 4096;
            limit = ours > 512 ? ours : 512;
        }
        response_check(response, n, limit);
        if (answer_query(img, packet, len, from, ANSWER_TCP, response, &n, &info) == ANSWER_SEND)
            response_check(response, n, 65535);
    }
}

/* Everything the data plane may do with an image it accepted. */
static void image_exercise(const struct image *img)
{
    for (size_t i = 0; i < sizeof FIXED_QUERIES / sizeof FIXED_QUERIES[0]; i++) {
        uint8_t name[WIRE_NAME_MAX];
        size_t name_len;
        char err[64];
        if (wire_name_from_text(FIXED_QUERIES[i].name, name, &name_len, err, sizeof err) < 0)
            abort();
        ask(img, name, name_len, FIXED_QUERIES[i].type);
    }

    /* every node: found by its own name, its RRsets walked; the first few
     * asked for, with the type of their first RRset and one below them */
    for (uint32_t i = 0; i < img->node_count; i++) {
        const struct image_node *node = &img->nodes[i];
        const uint8_t *name = image_node_name(img, node);
        (void)image_find_node(img, name, node->name_len, image_name_hash(name, node->name_len));
        (void)image_find_rewrite(img, name, node->name_len, image_name_hash(name, node->name_len));
        uint32_t sets = (uint32_t)node->rrset_count + node->wildcard_count;
        for (uint32_t k = 0; k < sets; k++) {
            const struct image_rrset *rrset = &img->rrsets[node->rrset_first + k];
            (void)image_node_rrset(img, node, rrset->type, k >= node->rrset_count);
            uint32_t pos = rrset->rdata_offset;
            for (uint16_t r = 0; r < rrset->rr_count; r++) {
                uint16_t rdlength;
                (void)image_rr_next(img, &pos, &rdlength);
            }
            if (pos != rrset->rdata_offset + rrset->rdata_len)
                abort(); /* image_open promised the RRs fill the RRset */
        }
        if (i >= NODE_QUERIES_MAX)
            continue;
        uint16_t type = sets ? img->rrsets[node->rrset_first].type : WIRE_TYPE_A;
        ask(img, name, node->name_len, type);
        ask(img, name, node->name_len, WIRE_TYPE_ANY);
        uint8_t below[WIRE_NAME_MAX];
        if (node->name_len + 2 <= WIRE_NAME_MAX) {
            below[0] = 1;
            below[1] = 'Q';
            memcpy(below + 2, name, node->name_len);
            ask(img, below, node->name_len + 2u, type);
        }
    }
    for (uint32_t i = 0; i < img->rewrite_count && i < NODE_QUERIES_MAX; i++) {
        const struct image_rewrite *rw = &img->rewrites[i];
        ask(img, img->names + rw->name_offset, rw->name_len, WIRE_TYPE_A);
    }
}

static void image_try(const uint8_t *buf, size_t len)
{
    struct image img;
    char err[256];
    err[0] = '\0';
    if (image_open(&img, buf, len, err, sizeof err) < 0) {
        if (err[0] == '\0')
            abort(); /* a refusal must say why */
        return;
    }
    image_exercise(&img);
}

static void seeds_write(const char *dir)
{
    for (size_t i = 0; i < sizeof SEED_CONFIGS / sizeof SEED_CONFIGS[0]; i++) {
        struct config cfg;
        struct config_diags diags;
        config_diags_init(&diags, "seed");
        if (config_load_buffer(SEED_CONFIGS[i], strlen(SEED_CONFIGS[i]), &cfg, &diags) < 0) {
            config_diags_print(&diags, stderr);
            abort();
        }
        config_diags_free(&diags);
        uint8_t *image;
        size_t len;
        char err[256];
        if (compile_config(&cfg, &image, &len, err, sizeof err) < 0) {
            fprintf(stderr, "seed %zu: %s\n", i, err);
            abort();
        }
        config_free(&cfg);
        char path[4096];
        snprintf(path, sizeof path, "%s/seed-%zu.img", dir, i);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(image, 1, len, f) != len || fclose(f) != 0) {
            perror(path);
            abort();
        }
        free(image);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0)
        abort();
    const char *dir = getenv("NANODNS_FUZZ_IMAGE_SEED_DIR");
    if (dir)
        seeds_write(dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    /* a buffer of its own, as the data plane's mapping is: 8-aligned, and
     * exactly size octets so a read past the end is caught */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    image_try(buf, size);

    /* Again with a header that agrees with the file: now only the
     * structural checks stand between the bytes and the lookups. */
    if (size >= sizeof(struct image_header)) {
        ((struct image_header *)buf)->file_size = size;
        image_rehash(buf, size);
        image_try(buf, size);
    }
    free(buf);
    return 0;
}
