/* The zone image reader: image_open checks an image completely, once, so
 * that the lookups here can trust it, allocate nothing and never fail; the
 * layout is in image.h, the writer in image_build.c. No state of its own. */
#include "image.h"

#include "error.h"
#include "image_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- names and hashing ---- */

#define HASH_BASIS 2166136261u
#define HASH_PRIME 16777619u

uint32_t image_name_hash(const uint8_t *name, size_t len)
{
    uint32_t h = HASH_BASIS;
    for (size_t i = len; i > 0; i--)
        h = (h ^ name[i - 1]) * HASH_PRIME;
    return h;
}

void image_name_suffix_hashes(const uint8_t *name, size_t len, const uint8_t *starts, unsigned n,
                              uint32_t *hashes)
{
    uint32_t h = HASH_BASIS;
    size_t i = len;
    for (unsigned k = n; k > 0; k--) {
        size_t start = starts[k - 1];
        for (; i > start; i--)
            h = (h ^ name[i - 1]) * HASH_PRIME;
        hashes[k - 1] = h;
    }
}

/* Probe an open-addressing table whose entries each start with
 * (u32 name_offset, u16 name_len, u16 flags, u32 hash). */
static const void *table_find(const uint32_t *index, uint32_t mask, const void *entries,
                              size_t entry_size, const uint8_t *names, const uint8_t *name,
                              size_t len, uint32_t hash)
{
    /* image_open checked that the table has an empty slot; the bound is for
     * a buffer changed under us after that: a lookup then ends, whatever the
     * table holds (image.h, "Files"). */
    uint32_t slot = hash & mask;
    for (uint64_t probes = 0; probes <= mask; probes++, slot = (slot + 1) & mask) {
        uint32_t i = index[slot];
        if (i == IMAGE_NONE)
            return NULL;
        const struct image_rewrite *e =
            (const struct image_rewrite *)((const uint8_t *)entries + (size_t)i * entry_size);
        if (e->hash == hash && e->name_len == len && memcmp(names + e->name_offset, name, len) == 0)
            return e;
    }
    return NULL;
}

_Static_assert(offsetof(struct image_node, name_offset) ==
                       offsetof(struct image_rewrite, name_offset) &&
                   offsetof(struct image_node, name_len) ==
                       offsetof(struct image_rewrite, name_len) &&
                   offsetof(struct image_node, hash) == offsetof(struct image_rewrite, hash),
               "nodes and rewrites share the table entry prefix");
_Static_assert(offsetof(struct image_forward_zone, name_offset) ==
                       offsetof(struct image_rewrite, name_offset) &&
                   offsetof(struct image_forward_zone, name_len) ==
                       offsetof(struct image_rewrite, name_len) &&
                   offsetof(struct image_forward_zone, hash) ==
                       offsetof(struct image_rewrite, hash),
               "forward zones and rewrites share the table entry prefix");

const struct image_node *image_find_node(const struct image *img, const uint8_t *name, size_t len,
                                         uint32_t hash)
{
    return table_find(img->node_index, img->node_index_mask, img->nodes, sizeof(struct image_node),
                      img->names, name, len, hash);
}

const struct image_node *image_find_wildcard(const struct image *img, const uint8_t *name,
                                             size_t len, uint32_t hash)
{
    uint8_t star[WIRE_NAME_MAX];
    size_t star_len = image_wildcard_name(star, name, len);
    if (star_len == 0)
        return NULL;
    return image_find_node(img, star, star_len, image_wildcard_hash(hash));
}

uint32_t image_wildcard_hash(uint32_t hash)
{
    /* image_name_hash runs from the last octet back: two more steps. */
    hash = (hash ^ '*') * HASH_PRIME;
    return (hash ^ 1u) * HASH_PRIME;
}

bool image_name_blocked(const struct image *img, const uint8_t *name, size_t len,
                        const uint8_t *starts, unsigned labels, const uint32_t *hashes)
{
    if (img->rewrite_count == 0)
        return false;
    /* Any allowlist entry that covers the name wins over every block, from
     * rewrites and lists alike: look at every suffix. */
    bool blocked = false;
    const struct image_rewrite *rw = image_find_rewrite(img, name, len, hashes[0]);
    if (rw) {
        if (rw->flags & (IMAGE_REWRITE_ALLOW_EXACT | IMAGE_REWRITE_ALLOW_AT_BELOW))
            return false;
        blocked = (rw->flags & IMAGE_REWRITE_EXACT) != 0;
    }
    for (unsigned k = 1; k <= labels; k++) {
        size_t start = starts[k];
        rw = image_find_rewrite(img, name + start, len - start, hashes[k]);
        if (!rw)
            continue;
        if (rw->flags & IMAGE_REWRITE_ALLOW_AT_BELOW)
            return false;
        blocked = blocked || (rw->flags & IMAGE_REWRITE_BELOW) != 0;
    }
    return blocked;
}

const struct image_rewrite *image_find_rewrite(const struct image *img, const uint8_t *name,
                                               size_t len, uint32_t hash)
{
    if (img->rewrite_count == 0)
        return NULL;
    return table_find(img->rewrite_index, img->rewrite_index_mask, img->rewrites,
                      sizeof(struct image_rewrite), img->names, name, len, hash);
}

const struct image_forward_zone *
image_find_forward_zone(const struct image *img, const uint8_t *name, size_t len, uint32_t hash)
{
    if (img->forward_zone_count == 0)
        return NULL;
    return table_find(img->forward_index, img->forward_index_mask, img->forward_zones,
                      sizeof(struct image_forward_zone), img->names, name, len, hash);
}

bool image_forward_zone_covers(const struct image *img, const uint8_t *name, size_t len,
                               const uint8_t *starts, unsigned labels, const uint32_t *hashes)
{
    if (img->forward_zone_count == 0)
        return false;
    for (unsigned k = 0; k < labels; k++)
        if (image_find_forward_zone(img, name + starts[k], len - starts[k], hashes[k]) != NULL)
            return true;
    return false;
}

bool image_recursion_allowed(const struct image *img, const struct sockaddr *client)
{
    return cidr_list_match(img->acls, img->settings->recursion_acl_count, client);
}

bool image_query_allowed(const struct image *img, const struct sockaddr *client)
{
    uint32_t count = img->settings->query_acl_count;
    if (count == 0)
        return true; /* no allow_query: everyone */
    return cidr_list_match(img->acls + img->settings->recursion_acl_count, count, client);
}

const struct image_rrset *image_node_rrset(const struct image *img, const struct image_node *node,
                                           uint16_t type, bool wildcard)
{
    uint32_t first = node->rrset_first + (wildcard ? node->rrset_count : 0);
    uint32_t count = wildcard ? node->wildcard_count : node->rrset_count;
    for (uint32_t i = 0; i < count; i++) {
        const struct image_rrset *rrset = &img->rrsets[first + i];
        if (rrset->type == type)
            return rrset;
    }
    return NULL;
}

/* ---- the content hash ---- */

void image_content_hash(const uint8_t *buf, size_t len, uint8_t out[32])
{
    static const uint8_t zeros[32];
    size_t at = offsetof(struct image_header, hash);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, buf, at);
    crypto_generichash_update(&st, zeros, sizeof zeros);
    crypto_generichash_update(&st, buf + at + 32, len - at - 32);
    crypto_generichash_final(&st, out, 32);
}

/* ---- image_open, step 1: the header and the hash ---- */

/* The header is ours, of this format, as long as the file, and the
 * content hash matches. */
static int header_check(const uint8_t *buf, size_t len, char *err, size_t err_len)
{
    const struct image_header *h = (const struct image_header *)buf;
    if (len < sizeof *h)
        return error_set(err, err_len, "truncated: %zu octets is shorter than the header", len);
    if (memcmp(h->magic, IMAGE_MAGIC, sizeof h->magic) != 0)
        return error_set(err, err_len, "not a NanoDNS zone image (bad magic)");
    if (h->format_version != IMAGE_FORMAT_VERSION)
        return error_set(err, err_len, "image format version %u is not supported (expected %u)",
                         h->format_version, IMAGE_FORMAT_VERSION);
    if (h->header_size != sizeof *h || h->section_count != IMAGE_SECTION_COUNT_)
        return error_set(err, err_len, "bad header size or section count");
    if (h->file_size != len)
        return error_set(err, err_len, "truncated: the header says %llu octets, the file has %zu",
                         (unsigned long long)h->file_size, len);
    if (sodium_init() < 0)
        return error_set(err, err_len, "libsodium failed to initialise");
    uint8_t hash[32];
    image_content_hash(buf, len, hash);
    if (memcmp(hash, h->hash, sizeof hash) != 0)
        return error_set(err, err_len, "content hash mismatch: the image is corrupt");
    return 0;
}

/* ---- step 2: the section table ---- */

/* Every section where image.h puts it: its type, its entry size, inside
 * the file, a whole number of entries. section[s] and count[s] get where
 * it starts and its entry count. */
static int sections_locate(const uint8_t *buf, size_t len,
                           const uint8_t *section[IMAGE_SECTION_COUNT_],
                           uint64_t count[IMAGE_SECTION_COUNT_], char *err, size_t err_len)
{
    static const uint32_t entry_sizes[IMAGE_SECTION_COUNT_] = {sizeof(struct image_settings),
                                                               sizeof(struct image_zone),
                                                               sizeof(struct image_node),
                                                               sizeof(uint32_t),
                                                               sizeof(struct image_rrset),
                                                               1,
                                                               1,
                                                               sizeof(struct image_rewrite),
                                                               sizeof(uint32_t),
                                                               sizeof(struct image_upstream),
                                                               sizeof(struct image_forward_zone),
                                                               sizeof(uint32_t),
                                                               sizeof(struct cidr)};
    const struct image_header *h = (const struct image_header *)buf;
    for (int s = 0; s < IMAGE_SECTION_COUNT_; s++) {
        const struct image_section *sec = &h->sections[s];
        if (sec->type != (uint32_t)(s + 1) || sec->entry_size != entry_sizes[s])
            return error_set(err, err_len, "section %d has a bad type or entry size", s + 1);
        if (sec->offset < sizeof *h || sec->offset % 8 != 0 || sec->offset > len ||
            sec->size > len - sec->offset)
            return error_set(err, err_len, "section %d lies outside the file", s + 1);
        if (sec->size % sec->entry_size != 0 || sec->size / sec->entry_size >= IMAGE_NONE)
            return error_set(err, err_len, "section %d has a bad size", s + 1);
        section[s] = buf + sec->offset;
        count[s] = sec->size / sec->entry_size;
    }
    if (count[IMAGE_SECTION_SETTINGS - 1] != 1)
        return error_set(err, err_len, "settings section missing");
    return 0;
}

/* ---- step 3: struct image over the sections ---- */

static void image_fill(struct image *img, const uint8_t *buf, size_t len,
                       const uint8_t *const section[IMAGE_SECTION_COUNT_],
                       const uint64_t count[IMAGE_SECTION_COUNT_])
{
#define SECTION(type) section[IMAGE_SECTION_##type - 1]
#define COUNT(type) ((uint32_t)count[IMAGE_SECTION_##type - 1])
    img->base = buf;
    img->size = len;
    img->header = (const struct image_header *)buf;
    img->settings = (const struct image_settings *)SECTION(SETTINGS);
    img->zones = (const struct image_zone *)SECTION(ZONES);
    img->zone_count = COUNT(ZONES);
    img->nodes = (const struct image_node *)SECTION(NODES);
    img->node_count = COUNT(NODES);
    img->node_index = (const uint32_t *)SECTION(NODE_INDEX);
    img->node_index_mask = COUNT(NODE_INDEX) - 1;
    img->rrsets = (const struct image_rrset *)SECTION(RRSETS);
    img->rrset_count = COUNT(RRSETS);
    img->rdata = SECTION(RDATA);
    img->rdata_size = COUNT(RDATA);
    img->names = SECTION(NAMES);
    img->names_size = COUNT(NAMES);
    img->rewrites = (const struct image_rewrite *)SECTION(REWRITES);
    img->rewrite_count = COUNT(REWRITES);
    img->rewrite_index = (const uint32_t *)SECTION(REWRITE_INDEX);
    img->rewrite_index_mask = COUNT(REWRITE_INDEX) - 1;
    img->upstreams = (const struct image_upstream *)SECTION(UPSTREAMS);
    img->upstream_total = COUNT(UPSTREAMS);
    img->forward_zones = (const struct image_forward_zone *)SECTION(FORWARD_ZONES);
    img->forward_zone_count = COUNT(FORWARD_ZONES);
    img->forward_index = (const uint32_t *)SECTION(FORWARD_INDEX);
    img->forward_index_mask = COUNT(FORWARD_INDEX) - 1;
    img->acls = (const struct cidr *)SECTION(ACLS);
    img->acl_count = COUNT(ACLS);
#undef SECTION
#undef COUNT
}

/* ---- step 4: what the sections hold ---- */

static bool rdata_valid(uint16_t type, const uint8_t *rdata, size_t len)
{
    if (type == WIRE_TYPE_A)
        return len == 4;
    if (type == WIRE_TYPE_AAAA)
        return len == 16;
    struct wire_rdata_layout layout;
    if (!wire_rdata_layout(type, &layout))
        return true;
    if (len < layout.names_offset)
        return false;
    size_t at = layout.names_offset;
    for (unsigned i = 0; i < layout.names_count; i++) {
        size_t start = at;
        while (at < len && rdata[at] != 0 && rdata[at] <= WIRE_LABEL_MAX)
            at += 1u + rdata[at];
        if (at >= len || rdata[at] != 0 || !wire_name_valid(rdata + start, at + 1 - start))
            return false;
        at++;
    }
    return len - at == layout.fixed_after;
}

static bool index_valid(const uint32_t *slots, uint32_t slot_count, uint32_t entries)
{
    if (slot_count == 0 || (slot_count & (slot_count - 1)) != 0)
        return false;
    bool empty = false;
    for (uint32_t i = 0; i < slot_count; i++) {
        if (slots[i] == IMAGE_NONE)
            empty = true;
        else if (slots[i] >= entries)
            return false;
    }
    return empty; /* a probe must always end */
}

/* A name at offset, len inside NAMES, and a valid wire-form name. */
static bool name_valid(const struct image *img, uint32_t offset, uint16_t len)
{
    return offset <= img->names_size && len <= img->names_size - offset &&
           wire_name_valid(img->names + offset, len);
}

static bool indexes_valid(const struct image *img)
{
    return index_valid(img->node_index, img->node_index_mask + 1, img->node_count) &&
           index_valid(img->rewrite_index, img->rewrite_index_mask + 1, img->rewrite_count) &&
           index_valid(img->forward_index, img->forward_index_mask + 1, img->forward_zone_count);
}

/* The settings' counts and flags, every upstream and every access list entry. */
static bool settings_valid(const struct image *img)
{
    const struct image_settings *st = img->settings;
    if (st->upstream_count > img->upstream_total ||
        (uint64_t)st->recursion_acl_count + st->query_acl_count != img->acl_count ||
        st->cache_enabled > 1 || st->log_queries > 1 || st->log_format > IMAGE_LOG_JSON ||
        st->block_response > IMAGE_BLOCK_REFUSED || st->domain_needed > 1 ||
        st->rebind_protection > 1)
        return false;
    if (st->search_domain_len > WIRE_NAME_MAX ||
        (st->search_domain_len > 0 &&
         !name_valid(img, st->search_domain_offset, (uint16_t)st->search_domain_len)))
        return false;
    for (uint32_t i = 0; i < img->upstream_total; i++)
        if (!image_upstream_valid(&img->upstreams[i]))
            return false;
    for (uint32_t i = 0; i < img->acl_count; i++)
        if (!image_cidr_valid(&img->acls[i]))
            return false;
    return true;
}

static bool forward_zones_valid(const struct image *img)
{
    for (uint32_t i = 0; i < img->forward_zone_count; i++) {
        const struct image_forward_zone *f = &img->forward_zones[i];
        if (!name_valid(img, f->name_offset, f->name_len) || f->upstream_count == 0 ||
            f->upstream_first > img->upstream_total ||
            f->upstream_count > img->upstream_total - f->upstream_first)
            return false;
    }
    return true;
}

/* Each RRset's RRs fill its RDATA range exactly, each RDATA as its type
 * lays it out. */
static bool rrsets_valid(const struct image *img)
{
    for (uint32_t i = 0; i < img->rrset_count; i++) {
        const struct image_rrset *set = &img->rrsets[i];
        if (set->rr_count == 0 || set->rdata_offset > img->rdata_size ||
            set->rdata_len > img->rdata_size - set->rdata_offset)
            return false;
        uint32_t pos = set->rdata_offset, end = set->rdata_offset + set->rdata_len;
        for (uint16_t r = 0; r < set->rr_count; r++) {
            if (end - pos < 2)
                return false;
            uint16_t rdlength = (uint16_t)(img->rdata[pos] | (img->rdata[pos + 1] << 8));
            if (end - pos - 2 < rdlength || !rdata_valid(set->type, img->rdata + pos + 2, rdlength))
                return false;
            pos += 2u + rdlength;
        }
        if (pos != end)
            return false;
    }
    return true;
}

static bool nodes_valid(const struct image *img)
{
    for (uint32_t i = 0; i < img->node_count; i++) {
        const struct image_node *n = &img->nodes[i];
        if (!name_valid(img, n->name_offset, n->name_len) ||
            (uint64_t)n->rrset_first + n->rrset_count + n->wildcard_count > img->rrset_count ||
            (n->zone != IMAGE_NONE && n->zone >= img->zone_count) ||
            (n->flags & ~IMAGE_NODE_FLAGS) != 0)
            return false;
    }
    return true;
}

static bool rewrites_valid(const struct image *img)
{
    for (uint32_t i = 0; i < img->rewrite_count; i++) {
        const struct image_rewrite *r = &img->rewrites[i];
        if (!name_valid(img, r->name_offset, r->name_len) || r->flags == 0 ||
            (r->flags & ~IMAGE_REWRITE_FLAGS) != 0)
            return false;
    }
    return true;
}

static bool zones_valid(const struct image *img)
{
    for (uint32_t i = 0; i < img->zone_count; i++) {
        const struct image_zone *z = &img->zones[i];
        if (z->apex_node >= img->node_count || z->soa_rrset >= img->rrset_count ||
            img->rrsets[z->soa_rrset].type != WIRE_TYPE_SOA ||
            img->rrsets[z->soa_rrset].rr_count != 1 || (z->flags & ~IMAGE_ZONE_FLAGS) != 0)
            return false;
    }
    return true;
}

/* Every reference inside the image, checked before any lookup follows one. */
static bool (*const STRUCTURE_CHECKS[])(const struct image *) = {
    indexes_valid, settings_valid, forward_zones_valid, rrsets_valid,
    nodes_valid,   rewrites_valid, zones_valid,
};

int image_open(struct image *img, const uint8_t *buf, size_t len, char *err, size_t err_len)
{
    const uint8_t *section[IMAGE_SECTION_COUNT_];
    uint64_t count[IMAGE_SECTION_COUNT_];
    memset(img, 0, sizeof *img);
    if (header_check(buf, len, err, err_len) < 0 ||
        sections_locate(buf, len, section, count, err, err_len) < 0)
        return -1;
    image_fill(img, buf, len, section, count);
    for (size_t i = 0; i < sizeof STRUCTURE_CHECKS / sizeof STRUCTURE_CHECKS[0]; i++) {
        if (!STRUCTURE_CHECKS[i](img)) {
            memset(img, 0, sizeof *img);
            return error_set(err, err_len,
                             "corrupt: an offset or length points outside its section");
        }
    }
    return 0;
}

/* ---- files ---- */

/* Read the whole file into fresh private pages, then make them read-only:
 * see image.h ("Files") for why a copy and not a shared mapping. */
static int image_read_private(int fd, const char *path, size_t len, void **out, char *err,
                              size_t err_len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return error_set(err, err_len, "cannot allocate %zu octets for %s: %s", len, path,
                         strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, (uint8_t *)p + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : 0;
            munmap(p, len);
            if (e != 0)
                return error_set(err, err_len, "cannot read %s: %s", path, strerror(e));
            return error_set(err, err_len, "%s: truncated while being read (%zu of %zu octets)",
                             path, done, len);
        }
        done += (size_t)n;
    }
    if (mprotect(p, len, PROT_READ) < 0) {
        int e = errno;
        munmap(p, len);
        return error_set(err, err_len, "cannot protect the copy of %s: %s", path, strerror(e));
    }
    *out = p;
    return 0;
}

int image_map_file(const char *path, struct image *img, void **map, size_t *map_len, char *err,
                   size_t err_len)
{
    /* O_NONBLOCK: a FIFO put in the image's place must not hang us in open(). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return error_set(err, err_len, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return error_set(err, err_len, "cannot stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return error_set(err, err_len, "%s: not a regular file", path);
    }
    if (st.st_size <= 0) {
        close(fd);
        return error_set(err, err_len, "%s: truncated: the file is empty", path);
    }
    void *p = NULL;
    int rc = image_read_private(fd, path, (size_t)st.st_size, &p, err, err_len);
    close(fd);
    if (rc < 0)
        return -1;
    char reason[256];
    if (image_open(img, p, (size_t)st.st_size, reason, sizeof reason) < 0) {
        munmap(p, (size_t)st.st_size);
        return error_set(err, err_len, "%s: %s", path, reason);
    }
    *map = p;
    *map_len = (size_t)st.st_size;
    return 0;
}

void image_unmap(void *map, size_t map_len)
{
    if (map)
        munmap(map, map_len);
}
