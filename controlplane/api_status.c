/* The API's read-only answers about this node: GET /health, /ready,
 * /metrics and /config/raw (see api_internal.h). */
#include "api_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#include "config.h"
#include "dataplane_link.h"
#include "envelope.h"
#include "metrics.h"
#include "node.h"
#include "sync.h"
#include "sync_identity.h"

/* uptime_s with one decimal, as the original rounds it. */
static struct json_object *json_uptime(double seconds)
{
    char text[32];
    snprintf(text, sizeof(text), "%.1f", seconds);
    return json_object_new_double_s(seconds, text);
}

/* -- GET /health, /ready --------------------------------------------------- */

void api_handle_health(struct api *api, struct evhttp_request *req)
{
    const struct node *node = api->context.node;
    bool alive = dataplane_link_alive(api->context.link);
    struct json_object *body = api_status_object(alive ? "ok" : "unavailable", NULL);
    if (body != NULL) {
        char hash[2 * ENVELOPE_HASH_SIZE + 1];
        sync_hash_hex(node->config_hash, hash);
        json_object_object_add(body, "version", json_object_new_uint64(node->version));
        json_object_object_add(body, "hash", json_object_new_string(hash));
        json_object_object_add(body, "uptime_s", json_uptime(node_uptime(node)));
        /* Lists are node-local: what peers compare in /cluster. */
        json_object_object_add(body, "blocklist_digest",
                               api_hash_json(node->config.blocklist_digest));
        if (!alive) {
            char reason[128];
            dataplane_link_down_reason(api->context.link, reason, sizeof(reason));
            json_object_object_add(body, "reason", json_object_new_string(reason));
        }
    }
    api_reply_json(req, alive ? HTTP_OK : HTTP_SERVUNAVAIL, body);
}

void api_handle_ready(struct api *api, struct evhttp_request *req)
{
    uint64_t served = dataplane_link_version(api->context.link);
    if (served == 0) {
        api_reply_json(req, HTTP_SERVUNAVAIL, api_status_object("not_ready", NULL));
        return;
    }
    struct json_object *body = api_status_object("ready", NULL);
    if (body != NULL)
        json_object_object_add(body, "version", json_object_new_uint64(served));
    api_reply_json(req, HTTP_OK, body);
}

/* -- GET /metrics ---------------------------------------------------------- */

void api_handle_metrics(struct api *api, struct evhttp_request *req)
{
    const struct node *node = api->context.node;
    const struct stats_file *stats = dataplane_link_stats(api->context.link);
    const struct config *cfg = &node->config;
    struct metrics_zone_serial *serials = NULL;
    if (cfg->zone_count > 0) {
        serials = calloc(cfg->zone_count, sizeof(*serials));
        if (serials == NULL) {
            evhttp_send_error(req, HTTP_INTERNAL, NULL);
            return;
        }
    }
    for (size_t i = 0; i < cfg->zone_count; i++) {
        serials[i].zone = cfg->zones[i].name;
        /* As compile.c writes it: every published version moves the serial. */
        serials[i].serial = (uint32_t)(cfg->zones[i].soa.serial + node->version);
    }
    struct metrics_blocklist *lists = NULL;
    if (cfg->blocklist_count > 0 &&
        (lists = calloc(cfg->blocklist_count, sizeof(*lists))) == NULL) {
        free(serials);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    for (size_t i = 0; i < cfg->blocklist_count; i++) {
        const struct config_blocklist *b = &cfg->blocklists[i];
        lists[i] = (struct metrics_blocklist){
            .path = b->path,
            .format = blocklist_format_name(b->format),
            .entries = b->entries,
            .skipped = b->skipped,
            .skipped_lines = b->skipped_lines,
            .skipped_lines_count =
                b->skipped < CONFIG_LIST_SKIPPED_SHOWN ? b->skipped : CONFIG_LIST_SKIPPED_SHOWN,
        };
        sync_hash_hex(b->digest, lists[i].digest);
    }
    char blocklist_digest[2 * CONFIG_DIGEST_SIZE + 1];
    sync_hash_hex(cfg->blocklist_digest, blocklist_digest);
    struct metrics_snapshot m = {
        .uptime_s = node_uptime(node),
        .version = node->version,
        .checksum = node->checksum,
        .serials = serials,
        .zone_count = cfg->zone_count,
        .records = cfg->record_count,
        .rewrites = cfg->rewrite_count,
        .config_valid = !node->config_invalid,
        .last_error = node->last_error,
        .reloads = node->reloads,
        .reload_failures = node->reload_failures,
        .dataplane_alive = dataplane_link_alive(api->context.link),
        .dataplane_image_version = dataplane_link_version(api->context.link),
        .dataplane_privilege_separated = dataplane_link_privilege_separated(api->context.link),
        .blocklists = lists,
        .blocklist_count = cfg->blocklist_count,
        .blocklist_digest = blocklist_digest,
    };
    if (stats != NULL) {
        m.dataplane_pid = stats_get(&stats->pid);
        stats_sum(stats, &m.totals);
    }

    const char *accept = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
    if (!metrics_accept_prefers_text(accept)) {
        api_reply_json(req, HTTP_OK, metrics_to_json(&m));
        free(serials);
        free(lists);
        return;
    }
    size_t len = 0;
    char *text = metrics_to_prometheus(&m, &len);
    free(serials);
    free(lists);
    struct evbuffer *out = evbuffer_new();
    if (text == NULL || out == NULL || evbuffer_add(out, text, len) != 0) {
        free(text);
        if (out != NULL)
            evbuffer_free(out);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    free(text);
    api_reply(req, HTTP_OK, METRICS_PROMETHEUS_CONTENT_TYPE, out);
    evbuffer_free(out);
}

/* -- GET /config/raw ------------------------------------------------------- */

void api_handle_config_raw(struct api *api, struct evhttp_request *req)
{
    const struct node *node = api->context.node;
    const struct sync_identity *self =
        api->context.sync != NULL ? sync_identity_of(api->context.sync) : NULL;
    /* The whole config (peers, upstreams, every name): for operators on
     * this host and for listed peers' signed pulls, not for whoever reaches
     * the port. HEAD is signed as GET. */
    if (!api_request_allowed(api, req, "GET", "/config/raw", false))
        return;
    if (node->config_text == NULL) {
        api_reply_json(req, HTTP_NOTFOUND,
                       api_status_object("not_found", "no config text is in force"));
        return;
    }
    struct evbuffer *out = evbuffer_new();
    /* A copy, not a reference: a reload may free config_text while the
     * answer is still being written. */
    if (out == NULL || evbuffer_add(out, node->config_text, node->config_len) != 0) {
        if (out != NULL)
            evbuffer_free(out);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    char version[32];
    snprintf(version, sizeof(version), "%llu", (unsigned long long)node->version);
    evhttp_add_header(headers, "X-NanoDNS-Version", version);
    evhttp_add_header(headers, "X-NanoDNS-Checksum", node->checksum);
    if (self != NULL && self->has_key) {
        /* What a pulling peer checks: this node's listed key signed these
         * bytes at this version (sync_identity_refresh signed them). */
        char hash[2 * ENVELOPE_HASH_SIZE + 1], signer[ENVELOPE_PUBLIC_KEY_TEXT],
            signature[ENVELOPE_SIGNATURE_TEXT];
        sync_hash_hex(node->config_hash, hash);
        envelope_public_key_text(self->key.public_key, signer);
        envelope_base64_encode(self->config_signature, ENVELOPE_SIGNATURE_SIZE, signature,
                               sizeof(signature));
        evhttp_add_header(headers, "X-NanoDNS-Hash", hash);
        evhttp_add_header(headers, "X-NanoDNS-Signer", signer);
        evhttp_add_header(headers, "X-NanoDNS-Signature", signature);
    }
    api_reply(req, HTTP_OK, "application/json", out);
    evbuffer_free(out);
}
