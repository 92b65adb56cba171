/* Config → zone image: records as they are, plus each zone's SOA and NS,
 * the locally served zones (local_zones.c) and automatic PTRs (auto_ptr.c),
 * and the server settings the data plane forwards, caches and logs by. */
#include "compile.h"

#include <stdlib.h>
#include <string.h>

#include "auto_ptr.h"
#include "image.h"
#include "local_zones.h"
#include "log.h"

/* The original format has no TTL for a zone's own SOA and NS records. */
#define ZONE_RECORD_TTL 3600

static size_t soa_rdata(const struct config_zone *zone, uint64_t config_version, uint8_t *out)
{
    const struct config_soa *soa = &zone->soa;
    size_t at = 0;
    memcpy(out + at, soa->mname, soa->mname_len);
    at += soa->mname_len;
    memcpy(out + at, soa->rname, soa->rname_len);
    at += soa->rname_len;
    /* Every published change moves the serial (RFC 1982 arithmetic wraps). */
    wire_put32(out + at, (uint32_t)(soa->serial + config_version));
    wire_put32(out + at + 4, soa->refresh);
    wire_put32(out + at + 8, soa->retry);
    wire_put32(out + at + 12, soa->expire);
    wire_put32(out + at + 16, soa->minimum);
    return at + 20;
}

/* The model's upstream as the image lays it out. */
static void upstream_to_image(const struct config_upstream *u, struct image_upstream *out)
{
    *out = (struct image_upstream){.family = u->family, .port = u->port};
    memcpy(out->addr, u->addr, sizeof(out->addr));
}

/* count of them into out; returns count. compile_config puts
 * server.upstream first, then each forward zone's, in one array. */
static size_t upstreams_to_image(const struct config_upstream *in, size_t count,
                                 struct image_upstream *out)
{
    for (size_t i = 0; i < count; i++)
        upstream_to_image(&in[i], &out[i]);
    return count;
}

/* The data-plane settings the image carries. */
static struct image_settings settings_from_config(const struct config *cfg)
{
    const struct config_server *server = &cfg->server;
    /* The validator keeps upstream_timeout in (0, 3600] seconds; a timeout
     * below half a millisecond still waits one. */
    uint32_t timeout_ms = (uint32_t)(server->upstream_timeout * 1000.0 + 0.5);
    int level = log_level_parse(server->log_level ? server->log_level : "INFO");
    return (struct image_settings){
        .edns_payload = server->edns_payload,
        .tcp_idle_timeout_ms = server->tcp_idle_timeout * 1000u,
        .tcp_max_connections = server->tcp_max_connections,
        .log_level = level < 0 ? LOG_LEVEL_INFO : (uint32_t)level,
        .record_count = (uint32_t)cfg->record_count,
        .upstream_timeout_ms = timeout_ms ? timeout_ms : 1,
        .max_inflight = server->max_inflight,
        .cache_enabled = server->cache_enabled,
        .cache_size = server->cache_size,
        .cache_ttl = server->cache_ttl,
        .log_queries = server->log_queries,
        .rrl_ratelimit = server->rrl_ratelimit,
        .rrl_slip = server->rrl_slip,
        .workers = server->workers,
        .serve_stale = server->serve_stale,
        .domain_needed = server->domain_needed,
        .rebind_protection = server->rebind_protection,
        .block_response = server->block_response == CONFIG_BLOCK_NULL      ? IMAGE_BLOCK_NULL
                          : server->block_response == CONFIG_BLOCK_REFUSED ? IMAGE_BLOCK_REFUSED
                                                                           : IMAGE_BLOCK_NXDOMAIN,
        .log_format = server->log_format == CONFIG_LOG_JSON ? IMAGE_LOG_JSON : IMAGE_LOG_TEXT};
}

int compile_config(const struct config *cfg, uint8_t **out, size_t *out_len, char *err,
                   size_t err_len)
{
    struct auto_ptrs ptrs;
    if (auto_ptr_compile(cfg, &ptrs, err, err_len) < 0)
        return -1;
    struct local_zones *local = calloc(1, sizeof *local);
    if (local)
        local_zones_compile(cfg, local);
    size_t local_zone_count = local ? local->zone_count : 0;
    size_t zone_total = cfg->zone_count + local_zone_count;

    size_t rr_count = cfg->record_count + ptrs.count + (local ? local->rr_count : 0);
    for (size_t i = 0; i < cfg->record_count; i++)
        rr_count += cfg->records[i].wildcard;
    for (size_t z = 0; z < cfg->zone_count; z++)
        rr_count += 1 + cfg->zones[z].ns_count;

    struct image_input_rr *rrs = calloc(rr_count ? rr_count : 1, sizeof *rrs);
    uint8_t(*soas)[2 * WIRE_NAME_MAX + 20] = calloc(cfg->zone_count + 1, sizeof *soas);
    const uint8_t **apexes = calloc(zone_total + 1, sizeof *apexes);
    uint8_t *apex_lens = calloc(zone_total + 1, 1);
    uint8_t *zone_flags = calloc(zone_total + 1, 1);
    size_t rewrite_total = cfg->rewrite_count + cfg->list_entry_count + cfg->allowlist_count;
    struct image_input_rewrite *rewrites = calloc(rewrite_total + 1, sizeof *rewrites);
    const struct config_server *server = &cfg->server;
    struct image_input_forward_zone *forward_zones =
        calloc(server->forward_zone_count + 1, sizeof *forward_zones);
    size_t upstream_total = server->upstreams ? server->upstream_count : 0;
    for (size_t i = 0; i < server->forward_zone_count; i++)
        upstream_total += server->forward_zones[i].upstream_count;
    struct image_upstream *upstreams = calloc(upstream_total + 1, sizeof *upstreams);
    int rc = -1;
    if (!local || !rrs || !soas || !apexes || !apex_lens || !zone_flags || !rewrites ||
        !forward_zones || !upstreams) {
        snprintf(err, err_len, "out of memory");
        goto out;
    }

    size_t n = 0;
    for (size_t i = 0; i < cfg->record_count; i++) {
        const struct config_record *r = &cfg->records[i];
        /* The original's wildcard record is a record of its own name too. */
        rrs[n++] = (struct image_input_rr){r->owner, r->owner_len, r->type,      r->ttl,
                                           false,    r->rdata,     r->rdata_len, 0};
        if (r->wildcard)
            rrs[n++] = (struct image_input_rr){r->owner, r->owner_len, r->type,      r->ttl,
                                               true,     r->rdata,     r->rdata_len, 0};
    }
    for (size_t z = 0; z < cfg->zone_count; z++) {
        const struct config_zone *zone = &cfg->zones[z];
        apexes[z] = zone->apex;
        apex_lens[z] = zone->apex_len;
        size_t len = soa_rdata(zone, cfg->server.config_version, soas[z]);
        rrs[n++] =
            (struct image_input_rr){zone->apex, zone->apex_len, WIRE_TYPE_SOA, ZONE_RECORD_TTL,
                                    false,      soas[z],        (uint16_t)len, 0};
        for (size_t k = 0; k < zone->ns_count; k++)
            rrs[n++] = (struct image_input_rr){
                zone->apex, zone->apex_len, WIRE_TYPE_NS,    ZONE_RECORD_TTL,
                false,      zone->ns[k],    zone->ns_len[k], 0};
    }
    /* The locally served zones after ours, and the automatic PTRs. */
    for (size_t z = 0; z < local_zone_count; z++) {
        apexes[cfg->zone_count + z] = local->apex[z];
        apex_lens[cfg->zone_count + z] = local->apex_len[z];
        zone_flags[cfg->zone_count + z] = IMAGE_ZONE_LOCAL;
    }
    for (size_t i = 0; i < local->rr_count; i++)
        rrs[n++] = local->rrs[i];
    for (size_t i = 0; i < ptrs.count; i++)
        rrs[n++] = ptrs.rrs[i];
    for (size_t i = 0; i < cfg->rewrite_count; i++)
        rewrites[i] = (struct image_input_rewrite){cfg->rewrites[i].name, cfg->rewrites[i].name_len,
                                                   cfg->rewrites[i].below, 0};
    /* A listed name blocks itself and every name below it; an adblock
     * exception and the allowlist take names out, over every block. */
    size_t w = cfg->rewrite_count;
    for (size_t i = 0; i < cfg->list_entry_count; i++) {
        const struct config_list_entry *e = &cfg->list_entries[i];
        rewrites[w++] = (struct image_input_rewrite){
            e->name, e->name_len, false,
            e->allow ? IMAGE_REWRITE_ALLOW_AT_BELOW : IMAGE_REWRITE_EXACT | IMAGE_REWRITE_BELOW};
    }
    for (size_t i = 0; i < cfg->allowlist_count; i++) {
        const struct config_rewrite *a = &cfg->allowlist[i];
        rewrites[w++] = (struct image_input_rewrite){a->name, a->name_len, false,
                                                     a->below ? IMAGE_REWRITE_ALLOW_AT_BELOW
                                                              : IMAGE_REWRITE_ALLOW_EXACT};
    }

    size_t default_count = server->upstreams ? server->upstream_count : 0;
    size_t used = upstreams_to_image(server->upstreams, default_count, upstreams);
    for (size_t i = 0; i < server->forward_zone_count; i++) {
        const struct config_forward_zone *fz = &server->forward_zones[i];
        forward_zones[i] = (struct image_input_forward_zone){fz->name, fz->name_len,
                                                             upstreams + used, fz->upstream_count};
        used += upstreams_to_image(fz->upstreams, fz->upstream_count, upstreams + used);
    }

    struct image_input in = {
        .config_version = server->config_version,
        .settings = settings_from_config(cfg),
        .upstreams = upstreams,
        .upstream_count = default_count,
        .forward_zones = forward_zones,
        .forward_zone_count = server->forward_zone_count,
        .recursion_acl = server->allow_recursion,
        .recursion_acl_count = server->allow_recursion_count,
        .query_acl = server->allow_query,
        .query_acl_count = server->allow_query_count,
        .zone_apexes = apexes,
        .zone_apex_lens = apex_lens,
        .zone_flags = zone_flags,
        .zone_count = zone_total,
        .search_domain = server->search_domain,
        .search_domain_len = server->search_domain_len,
        .rrs = rrs,
        .rr_count = n,
        .rewrites = rewrites,
        .rewrite_count = rewrite_total,
    };
    rc = image_build(&in, out, out_len, err, err_len);
out:
    free(rrs);
    free(soas);
    free(apexes);
    free(apex_lens);
    free(zone_flags);
    free(local);
    auto_ptr_free(&ptrs);
    free(rewrites);
    free(forward_zones);
    free(upstreams);
    return rc;
}
