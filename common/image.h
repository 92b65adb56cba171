/* The zone image: a config compiled into the versioned, self-checking form the data plane serves.
 * A struct image points into a buffer it does not own: keep it mapped while the struct is used. */
#ifndef NANODNS_IMAGE_H
#define NANODNS_IMAGE_H

/* image_build (image_build.c, in the control plane) writes one into a
 * malloc'd buffer; image_open (image.c) checks one completely (hash, every
 * offset and length) so that the lookups below can trust it and never
 * allocate. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "wire.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the image is read in place: little-endian hosts only"
#endif

#define IMAGE_MAGIC "NDNSIMG" /* 8 octets with the NUL */
/* 4: settings.serve_stale (a reserved word before). */
/* 5: zone and node flags, settings.domain_needed and search_domain */
#define IMAGE_FORMAT_VERSION 5
#define IMAGE_NONE 0xFFFFFFFFu /* "no index" in any u32 reference */
#define IMAGE_FILE_NAME "zone.img"

/* On-disk layout. Everything is little-endian, offsets are from the image
 * start, each section starts 8-aligned. */
enum image_section_type {
    IMAGE_SECTION_SETTINGS = 1, /* one struct image_settings */
    IMAGE_SECTION_ZONES,        /* struct image_zone[] */
    IMAGE_SECTION_NODES,        /* struct image_node[] */
    IMAGE_SECTION_NODE_INDEX,   /* uint32_t[] open-addressing table of node indices */
    IMAGE_SECTION_RRSETS,       /* struct image_rrset[] */
    IMAGE_SECTION_RDATA,        /* RRs: u16 rdlength, rdata (names uncompressed) */
    IMAGE_SECTION_NAMES,        /* wire-form names, lowercase */
    IMAGE_SECTION_REWRITES,     /* struct image_rewrite[] */
    IMAGE_SECTION_REWRITE_INDEX,
    IMAGE_SECTION_UPSTREAMS, /* struct image_upstream[]: defaults first, then per forward zone */
    IMAGE_SECTION_FORWARD_ZONES, /* struct image_forward_zone[] */
    IMAGE_SECTION_FORWARD_INDEX,
    IMAGE_SECTION_ACLS, /* struct cidr[]: allow_recursion, then allow_query */
    IMAGE_SECTION_COUNT_ = IMAGE_SECTION_ACLS
};

struct image_section {
    uint32_t type;
    uint32_t entry_size; /* 1 for blobs */
    uint64_t offset;
    uint64_t size; /* octets */
};

struct image_header {
    char magic[8];
    uint32_t format_version;
    uint32_t header_size; /* this struct */
    uint64_t file_size;
    uint64_t config_version;
    uint64_t created_unix;
    uint8_t hash[32]; /* BLAKE2b-256 of the file with this field zeroed */
    uint32_t section_count;
    uint32_t reserved;
    struct image_section sections[IMAGE_SECTION_COUNT_];
};

/* Data-plane settings carried by the image. */
#define IMAGE_LOG_TEXT 0
#define IMAGE_LOG_JSON 1

struct image_settings {
    uint32_t edns_payload;
    uint32_t tcp_idle_timeout_ms;
    uint32_t tcp_max_connections;
    uint32_t log_level;
    uint32_t record_count;        /* records in the config, for log lines */
    uint32_t upstream_count;      /* the default upstreams: upstreams[0 .. upstream_count) */
    uint32_t upstream_timeout_ms; /* per server and attempt */
    uint32_t max_inflight;        /* upstream queries in flight at once */
    uint32_t cache_enabled;       /* 0 or 1 */
    uint32_t cache_size;          /* entries */
    uint32_t cache_ttl;           /* seconds: the cap on cached TTLs */
    uint32_t log_queries;         /* 0 or 1 */
    uint32_t log_format;          /* IMAGE_LOG_TEXT or IMAGE_LOG_JSON */
    uint32_t recursion_acl_count; /* acls[0 .. recursion_acl_count) */
    uint32_t query_acl_count;     /* acls[recursion_acl_count ..), 0 = everyone may query */
    uint32_t rrl_ratelimit;       /* UDP answers a second per prefix and kind, 0 = off (rrl.h) */
    uint32_t rrl_slip;            /* every Nth answer over the rate goes out truncated */
    uint32_t workers;             /* event loops; 0 = one per CPU the data plane may use */
    uint32_t block_response;      /* IMAGE_BLOCK_*: how a blocked name is answered */
    uint32_t serve_stale;         /* seconds past expiry a cached answer may be served
                                     when every upstream fails (RFC 8767); 0 = off */
    uint32_t domain_needed;       /* 0 or 1: single-label names are never forwarded */
    /* server.search_domain, lowercase wire form in NAMES; length 0: none.
     * A single-label name without data of its own is answered from
     * <name>.<search_domain> (dnsmasq's expand-hosts). */
    uint32_t search_domain_offset;
    uint32_t search_domain_len;
    /* 0 or 1 (server.rebind_protection): an upstream answer with a private,
     * loopback or link-local A/AAAA, for a name no forward zone covers, is
     * not relayed (relay_rebind_found). The last reserved word before, and
     * 0 there, so IMAGE_FORMAT_VERSION stays 5: an older image reads "off". */
    uint32_t rebind_protection;
};

#define IMAGE_BLOCK_NXDOMAIN 0 /* NXDOMAIN, the zone's SOA when inside one */
#define IMAGE_BLOCK_NULL 1     /* A 0.0.0.0 / AAAA :: (IMAGE_BLOCK_NULL_TTL), NODATA otherwise */
#define IMAGE_BLOCK_REFUSED 2  /* REFUSED */
#define IMAGE_BLOCK_NULL_TTL 10

/* A locally served zone (RFC 6303, RFC 6761 localhost, home.arpa): the
 * compiler made it, with a synthesized SOA and NS, because the config
 * serves nothing at or above it. A server.forward_zones entry below its
 * apex still gets the names it covers that hold no data of ours. */
#define IMAGE_ZONE_LOCAL 0x0001
#define IMAGE_ZONE_FLAGS 0x0001

struct image_zone {
    uint32_t apex_node;
    uint32_t soa_rrset;
    uint32_t negative_ttl; /* RFC 2308 §3: min(SOA TTL, SOA minimum) */
    uint32_t flags;        /* IMAGE_ZONE_* */
};

#define IMAGE_NODE_WILDCARD 0x0001 /* wildcard RRsets follow the node's own */
/* Every RRset of the node was made by the compiler, none configured: */
#define IMAGE_NODE_SYNTHESIZED 0x0002 /* a locally served zone's (SOA, NS, localhost's A/AAAA) */
#define IMAGE_NODE_AUTO_PTR 0x0004    /* an automatic PTR (server.auto_ptr) */
#define IMAGE_NODE_FLAGS 0x0007

/* A name we hold data for, a zone apex, or an empty non-terminal: inside a
 * zone, or outside every zone between a name and the parent of an RFC 4592
 * wildcard above it (image_find_wildcard). Its RRsets are
 * rrsets[rrset_first .. +rrset_count), sorted by type; the RRsets it
 * answers for one label below it (the original's wildcard) follow:
 * [rrset_first + rrset_count .. + wildcard_count). An RFC 4592 wildcard is
 * a node of its own, named "*.x", with nothing else to mark it. */
struct image_node {
    uint32_t name_offset; /* in NAMES, lowercase wire form */
    uint16_t name_len;
    uint16_t flags;
    uint32_t hash; /* image_name_hash of the name */
    uint32_t zone; /* closest enclosing zone, or IMAGE_NONE */
    uint32_t rrset_first;
    uint16_t rrset_count;
    uint16_t wildcard_count;
};

/* One RRset: rr_count records in RDATA from rdata_offset, each a u16
 * rdlength (little-endian) and then the RDATA as it goes on the wire, names
 * uncompressed. */
struct image_rrset {
    uint16_t type;
    uint16_t rr_count;
    uint32_t ttl;
    uint32_t rdata_offset;
    uint32_t rdata_len;
};

#define IMAGE_REWRITE_EXACT 0x0001 /* the name itself is blocked */
#define IMAGE_REWRITE_BELOW 0x0002 /* every name strictly below it is blocked */
/* The allowlist, over every block: */
#define IMAGE_REWRITE_ALLOW_EXACT 0x0004    /* the name itself is not blocked */
#define IMAGE_REWRITE_ALLOW_AT_BELOW 0x0008 /* nothing at or below it is blocked */
#define IMAGE_REWRITE_FLAGS 0x000F

struct image_rewrite {
    uint32_t name_offset;
    uint16_t name_len;
    uint16_t flags;
    uint32_t hash;
};

/* An upstream server: where to forward. */
struct image_upstream {
    uint8_t family; /* 4 or 6 */
    uint8_t reserved;
    uint16_t port; /* host order */
    uint8_t addr[16];
};

/* server.forward_zones: names at or below this one go to
 * upstreams[upstream_first .. + upstream_count) (longest suffix wins). */
struct image_forward_zone {
    uint32_t name_offset;
    uint16_t name_len;
    uint16_t flags;
    uint32_t hash;
    uint32_t upstream_first;
    uint32_t upstream_count;
};

/* A checked image. Pointers into the caller's buffer. */
struct image {
    const uint8_t *base;
    size_t size;
    const struct image_header *header;
    const struct image_settings *settings;
    const struct image_zone *zones;
    uint32_t zone_count;
    const struct image_node *nodes;
    uint32_t node_count;
    const uint32_t *node_index;
    uint32_t node_index_mask; /* slots - 1; slots is a power of two */
    const struct image_rrset *rrsets;
    uint32_t rrset_count;
    const uint8_t *rdata;
    uint32_t rdata_size;
    const uint8_t *names;
    uint32_t names_size;
    const struct image_rewrite *rewrites;
    uint32_t rewrite_count;
    const uint32_t *rewrite_index;
    uint32_t rewrite_index_mask;
    const struct image_upstream *upstreams;
    uint32_t upstream_total;
    const struct image_forward_zone *forward_zones;
    uint32_t forward_zone_count;
    const uint32_t *forward_index;
    uint32_t forward_index_mask;
    const struct cidr *acls;
    uint32_t acl_count;
};

/* ---- writing (control plane) ---- */

struct image_input_rr {
    const uint8_t *owner; /* wire form, any case */
    uint8_t owner_len;
    uint16_t type;
    uint32_t ttl;
    bool wildcard; /* also answers one label below owner */
    const uint8_t *rdata;
    uint16_t rdata_len;
    /* IMAGE_NODE_SYNTHESIZED or IMAGE_NODE_AUTO_PTR when the compiler
     * made this RR; a node gets a flag when all its RRs have it. */
    uint16_t node_flags;
};

struct image_input_rewrite {
    const uint8_t *name;
    uint8_t name_len;
    bool below;     /* "*.name": strictly below name; else name itself */
    uint16_t flags; /* when not 0, the IMAGE_REWRITE_* flags themselves (below ignored) */
};

struct image_input_forward_zone {
    const uint8_t *name; /* wire form, any case */
    uint8_t name_len;
    const struct image_upstream *upstreams;
    size_t upstream_count;
};

struct image_input {
    uint64_t config_version;
    /* upstream_count, recursion_acl_count and query_acl_count are taken
     * from the arrays below, whatever the caller put there. */
    struct image_settings settings;
    const struct image_upstream *upstreams; /* server.upstream */
    size_t upstream_count;
    const struct image_input_forward_zone *forward_zones;
    size_t forward_zone_count;
    const struct cidr *recursion_acl; /* server.allow_recursion */
    size_t recursion_acl_count;
    const struct cidr *query_acl; /* server.allow_query; none = everyone */
    size_t query_acl_count;
    const uint8_t *const *zone_apexes; /* wire form; each needs an SOA among rrs */
    const uint8_t *zone_apex_lens;
    const uint8_t *zone_flags; /* IMAGE_ZONE_* per zone; NULL: none */
    size_t zone_count;
    /* server.search_domain in wire form (any case); len 0: none. The
     * settings' search_domain_* fields are set from it. */
    const uint8_t *search_domain;
    uint8_t search_domain_len;
    const struct image_input_rr *rrs;
    size_t rr_count;
    const struct image_input_rewrite *rewrites;
    size_t rewrite_count;
};

/* Compile in into a new image in *out (malloc'd, caller frees). RRs of one
 * RRset are merged (duplicates dropped, the smallest TTL kept: RFC 2181
 * §5.2). Returns 0, or -1 with a message in err. */
int image_build(const struct image_input *in, uint8_t **out, size_t *out_len, char *err,
                size_t err_len);

/* ---- reading (data plane) ---- */

/* Check buf completely and fill img. Returns 0, or -1 with the reason in
 * err (truncated, bad magic, unsupported format version, hash mismatch,
 * an offset or length outside the file, ...). */
int image_open(struct image *img, const uint8_t *buf, size_t len, char *err, size_t err_len);

/* Files. image_map_file copies the file into private anonymous pages
 * (read, then mprotect read-only) and image_open's the copy; *map and
 * *map_len hold those pages for image_unmap. Why a copy (copy-on-open)
 * and not mmap of the file: a published image is never written again, but
 * an operator or a bug can still write one in place. With MAP_SHARED the
 * data plane then sees garbage after image_open checked it (a probe that
 * never meets an empty slot spun at 100%); MAP_PRIVATE shares the file's
 * pages until written and does not help against truncation (SIGBUS). A copy
 * makes the checks of image_open hold for as long as the image is served,
 * whatever happens to the file, for the price of its size in RSS (the hash
 * check reads every page anyway, so only where the pages live changes).
 * The table probes are bounded by the table size too (a belt: a buffer
 * changed after image_open ends the lookup, never hangs it). Only regular
 * files are read, opened non-blocking. */
int image_map_file(const char *path, struct image *img, void **map, size_t *map_len, char *err,
                   size_t err_len);
void image_unmap(void *map, size_t map_len);

/* The exit status of nanodns-dataplane when it cannot serve the published
 * image at start (refused, unreadable): the supervisor then has the control
 * plane publish its config in force again before the next start. */
#define IMAGE_REFUSED_EXIT_STATUS 3

/* Hash of a lowercase wire-form name suffix, computed from its last octet
 * backwards so that the hashes of all suffixes of a name come from one pass
 * (see image_name_suffix_hashes). */
uint32_t image_name_hash(const uint8_t *name, size_t len);

/* image_name_hash of "*." + a name, from the name's hash. */
uint32_t image_wildcard_hash(uint32_t hash);

/* For a lowercase name with n labels starting at starts[0..n), fill
 * hashes[i] = image_name_hash(name + starts[i], len - starts[i]). */
void image_name_suffix_hashes(const uint8_t *name, size_t len, const uint8_t *starts, unsigned n,
                              uint32_t *hashes);

/* The node for a lowercase name, or NULL. */
const struct image_node *image_find_node(const struct image *img, const uint8_t *name, size_t len,
                                         uint32_t hash);

/* The node of the RFC 4592 wildcard "*.<name>" for a lowercase name and
 * its image_name_hash, or NULL. A wildcard is an ordinary node whose
 * first label is "*"; the answering code finds it from the closest
 * encloser of a name that does not exist. */
const struct image_node *image_find_wildcard(const struct image *img, const uint8_t *name,
                                             size_t len, uint32_t hash);

/* The forward zone entry for a lowercase name (exactly that name), or NULL. */
const struct image_forward_zone *
image_find_forward_zone(const struct image *img, const uint8_t *name, size_t len, uint32_t hash);

/* Is a lowercase name at or below a forward zone entry? starts and
 * hashes as for image_name_blocked. */
bool image_forward_zone_covers(const struct image *img, const uint8_t *name, size_t len,
                               const uint8_t *starts, unsigned labels, const uint32_t *hashes);

/* May this client recurse (allow_recursion) / query at all (allow_query)? */
bool image_recursion_allowed(const struct image *img, const struct sockaddr *client);
bool image_query_allowed(const struct image *img, const struct sockaddr *client);

/* Is a lowercase name blocked by a rewrite or a list, the allowlist
 * considered? hashes[k] is the image_name_hash of the suffix at starts[k],
 * for k in 0..labels (the root last). */
bool image_name_blocked(const struct image *img, const uint8_t *name, size_t len,
                        const uint8_t *starts, unsigned labels, const uint32_t *hashes);

/* The rewrite entry for a lowercase name, or NULL. */
const struct image_rewrite *image_find_rewrite(const struct image *img, const uint8_t *name,
                                               size_t len, uint32_t hash);

/* The node's own RRset of type, or NULL. wildcard selects the RRsets it
 * answers for names one label below it. */
const struct image_rrset *image_node_rrset(const struct image *img, const struct image_node *node,
                                           uint16_t type, bool wildcard);

static inline const uint8_t *image_node_name(const struct image *img, const struct image_node *node)
{
    return img->names + node->name_offset;
}

/* Iterate the RRs of an RRset: *pos starts at rrset->rdata_offset. */
static inline const uint8_t *image_rr_next(const struct image *img, uint32_t *pos,
                                           uint16_t *rdlength)
{
    const uint8_t *p = img->rdata + *pos;
    *rdlength = (uint16_t)(p[0] | (p[1] << 8));
    *pos += 2u + *rdlength;
    return p + 2;
}

#endif
