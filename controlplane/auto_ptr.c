/* Automatic PTRs (auto_ptr.h): the addresses of our A and AAAA records,
 * sorted so that the first record of each address in config order names
 * it, less the addresses whose reverse name holds a PTR or CNAME of ours. */
#include "auto_ptr.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

/* An address of ours and the record it is from. */
struct ptr_source {
    uint8_t family;
    uint8_t addr[16];
    size_t record; /* index in cfg->records */
};

static int source_compare(const void *a, const void *b)
{
    const struct ptr_source *x = a, *y = b;
    if (x->family != y->family)
        return x->family < y->family ? -1 : 1;
    int c = memcmp(x->addr, y->addr, 16);
    if (c != 0)
        return c;
    return (x->record > y->record) - (x->record < y->record);
}

static const uint8_t IN_ADDR_ARPA[] = "\7in-addr\4arpa";
static const uint8_t IP6_ARPA[] = "\3ip6\4arpa";

size_t auto_ptr_reverse_name(uint8_t family, const uint8_t *addr, uint8_t *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t at = 0;
    if (family == 4) {
        for (int i = 3; i >= 0; i--) {
            uint8_t v = addr[i];
            uint8_t digits[3], n = 0;
            do {
                digits[n++] = (uint8_t)('0' + v % 10);
                v /= 10;
            } while (v > 0);
            out[at++] = n;
            while (n > 0)
                out[at++] = digits[--n];
        }
        memcpy(out + at, IN_ADDR_ARPA, sizeof IN_ADDR_ARPA);
        return at + sizeof IN_ADDR_ARPA;
    }
    for (int i = 15; i >= 0; i--) {
        out[at++] = 1;
        out[at++] = (uint8_t)hex[addr[i] & 0xF];
        out[at++] = 1;
        out[at++] = (uint8_t)hex[addr[i] >> 4];
    }
    memcpy(out + at, IP6_ARPA, sizeof IP6_ARPA);
    return at + sizeof IP6_ARPA;
}

static int hex_value(uint8_t c)
{
    c = wire_lower(c);
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool auto_ptr_address_of(const uint8_t *name, size_t len, uint8_t *family, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (len > sizeof IN_ADDR_ARPA &&
        wire_name_equal(name + len - sizeof IN_ADDR_ARPA, sizeof IN_ADDR_ARPA, IN_ADDR_ARPA,
                        sizeof IN_ADDR_ARPA)) {
        size_t at = 0;
        for (int i = 3; i >= 0; i--) {
            uint8_t n = name[at];
            if (n < 1 || n > 3 || at + 1 + n > len - sizeof IN_ADDR_ARPA)
                return false;
            unsigned v = 0;
            for (uint8_t k = 0; k < n; k++) {
                uint8_t c = name[at + 1 + k];
                if (c < '0' || c > '9' || (k == 0 && c == '0' && n > 1))
                    return false;
                v = v * 10 + (unsigned)(c - '0');
            }
            if (v > 255)
                return false;
            addr[i] = (uint8_t)v;
            at += 1u + n;
        }
        *family = 4;
        return at == len - sizeof IN_ADDR_ARPA;
    }
    if (len != 64 + sizeof IP6_ARPA ||
        !wire_name_equal(name + 64, sizeof IP6_ARPA, IP6_ARPA, sizeof IP6_ARPA))
        return false;
    for (int i = 0; i < 32; i++) {
        int v = name[2 * i] == 1 ? hex_value(name[2 * i + 1]) : -1;
        if (v < 0)
            return false;
        int byte = 15 - i / 2;
        addr[byte] |= (uint8_t)(i % 2 == 0 ? v : v << 4);
    }
    *family = 6;
    return true;
}

static bool record_is_wildcard(const struct config_record *r)
{
    return r->wildcard || (r->owner_len > 2 && r->owner[0] == 1 && r->owner[1] == '*');
}

/* The addresses whose reverse name has a PTR or CNAME of ours, sorted;
 * their record index is unused. */
static struct ptr_source *explicit_addresses(const struct config *cfg, size_t *count)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->record_count; i++)
        n += cfg->records[i].type == WIRE_TYPE_PTR || cfg->records[i].type == WIRE_TYPE_CNAME;
    struct ptr_source *list = calloc(n ? n : 1, sizeof *list);
    if (!list)
        return NULL;
    size_t kept = 0;
    for (size_t i = 0; i < cfg->record_count; i++) {
        const struct config_record *r = &cfg->records[i];
        if ((r->type == WIRE_TYPE_PTR || r->type == WIRE_TYPE_CNAME) &&
            auto_ptr_address_of(r->owner, r->owner_len, &list[kept].family, list[kept].addr))
            kept++;
    }
    qsort(list, kept, sizeof *list, source_compare);
    *count = kept;
    return list;
}

static bool address_listed(const struct ptr_source *list, size_t count, const struct ptr_source *s)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = list[mid].family != s->family ? (list[mid].family < s->family ? -1 : 1)
                                              : memcmp(list[mid].addr, s->addr, 16);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

int auto_ptr_compile(const struct config *cfg, struct auto_ptrs *out, char *err, size_t err_len)
{
    *out = (struct auto_ptrs){0};
    if (!cfg->server.auto_ptr)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < cfg->record_count; i++) {
        const struct config_record *r = &cfg->records[i];
        n += (r->type == WIRE_TYPE_A || r->type == WIRE_TYPE_AAAA) && !record_is_wildcard(r);
    }
    if (n == 0)
        return 0;
    size_t explicit_count = 0;
    struct ptr_source *sources = malloc(n * sizeof *sources);
    struct ptr_source *explicit = explicit_addresses(cfg, &explicit_count);
    if (!sources || !explicit)
        goto oom;
    size_t k = 0;
    for (size_t i = 0; i < cfg->record_count; i++) {
        const struct config_record *r = &cfg->records[i];
        if ((r->type != WIRE_TYPE_A && r->type != WIRE_TYPE_AAAA) || record_is_wildcard(r))
            continue;
        sources[k] = (struct ptr_source){.family = r->type == WIRE_TYPE_A ? 4 : 6, .record = i};
        memcpy(sources[k].addr, r->rdata, r->type == WIRE_TYPE_A ? 4 : 16);
        k++;
    }
    qsort(sources, n, sizeof *sources, source_compare);
    /* In-addr names are at most 30 octets, ip6.arpa names 74. */
    out->rrs = malloc(n * sizeof *out->rrs);
    out->names = malloc(n * (64 + sizeof IP6_ARPA));
    if (!out->rrs || !out->names)
        goto oom;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && sources[i].family == sources[i - 1].family &&
            memcmp(sources[i].addr, sources[i - 1].addr, 16) == 0)
            continue; /* the first record of the address names it */
        if (address_listed(explicit, explicit_count, &sources[i]))
            continue;
        const struct config_record *r = &cfg->records[sources[i].record];
        size_t len = auto_ptr_reverse_name(sources[i].family, sources[i].addr, out->names + at);
        out->rrs[out->count++] = (struct image_input_rr){
            .owner = out->names + at,
            .owner_len = (uint8_t)len,
            .type = WIRE_TYPE_PTR,
            .ttl = r->ttl,
            .rdata = r->owner,
            .rdata_len = r->owner_len,
            .node_flags = IMAGE_NODE_AUTO_PTR,
        };
        at += len;
    }
    free(sources);
    free(explicit);
    return 0;
oom:
    free(sources);
    free(explicit);
    auto_ptr_free(out);
    return error_set(err, err_len, "out of memory");
}

void auto_ptr_free(struct auto_ptrs *ptrs)
{
    free(ptrs->rrs);
    free(ptrs->names);
    *ptrs = (struct auto_ptrs){0};
}
