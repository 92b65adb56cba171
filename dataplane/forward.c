/* Forwarding to the upstream servers (forward.h): one struct pending per
 * question in flight, with its waiting clients, its current upstream
 * socket (a new connected UDP socket per attempt, TCP after a truncated
 * answer) and one timer for the attempt. */
#include "forward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <sodium.h>

#include "cache.h"
#include "log.h"
#include "monotonic.h"
#include "relay.h"
#include "upstream_health.h"

#define FORWARD_BUCKETS_MIN 1024
#define FORWARD_WAITERS_INITIAL 4
#define TCP_MESSAGE_MAX 65535

struct waiter {
    struct reply reply;
    struct relay_client client;
};

struct pending {
    struct forward *fw;
    struct pending *hash_next;   /* in its bucket while in_table */
    struct pending *prev, *next; /* in fw->all, while in flight */
    bool in_table;
    struct cache_key key;
    uint32_t hash;
    uint64_t cache_epoch;      /* the cache's when the query started: stale answers are not kept */
    uint64_t cache_generation; /* cache_generation when it started: the same rule, shared */

    /* Copies of the servers (never pointers into the image) and the order
     * to try them in. */
    struct image_upstream servers[FORWARD_SERVERS_MAX];
    unsigned server_count;
    unsigned order[FORWARD_SERVERS_MAX];
    unsigned attempt; /* index into order */
    uint32_t timeout_ms;
    /* When the attempt at this server began (monotonic, ns; a retry over
     * TCP is the same attempt): the start of its upstream round trip. */
    uint64_t attempt_started_ns;

    /* The attempt under way. */
    int fd; /* -1 between attempts */
    bool over_tcp;
    uint16_t id;
    uint8_t query[2 + RELAY_QUERY_MAX]; /* a TCP length prefix, then the message */
    size_t query_len;                   /* of the message */
    struct event io;                    /* assigned per attempt */
    bool io_added;
    struct event timer; /* the attempt's deadline; 0 s after an attempt that failed at once */
    uint8_t *tcp_in;    /* 2-octet length and the message, over TCP */
    size_t tcp_in_len;
    size_t tcp_out_done;

    struct waiter *waiters;
    unsigned waiter_count, waiter_cap;
};

struct forward {
    struct event_base *base;
    const struct image *image;  /* the one served now (forward_image_changed) */
    struct stats_worker *stats; /* upstream and cache counters */
    forward_answered_fn answered;
    void *answered_arg;

    struct cache *cache; /* NULL: caching off */
    /* The data plane's cache, shared by every worker (forward_share_cache):
     * its owner sizes and flushes it and publishes its counters; here it is
     * only looked up and filled, while the image says caching is on. */
    bool cache_shared;
    uint32_t cache_size, cache_ttl; /* this shard's: cache_size split over the workers */
    uint32_t cache_stale;           /* its serve_stale */
    /* The workers of the data plane, each with a struct forward of its
     * own: max_inflight and cache_size are split between them
     * (forward_set_workers). */
    unsigned workers;
    struct cache_stats cache_base; /* the totals of caches replaced since start */
    uint64_t cache_epoch;

    struct pending **buckets;
    size_t bucket_mask;
    size_t table_count;
    struct pending *all;
    unsigned inflight;
    /* Queries in flight at most whatever max_inflight says: each holds one
     * upstream socket, and the descriptor budget has room for this many
     * (forward_limit_sockets; 0: no limit of its own). */
    unsigned sockets_max;

    struct upstream_health health;

    uint8_t receive[TCP_MESSAGE_MAX + 1]; /* UDP answers land here */
    uint8_t answer[ANSWER_BUFFER_SIZE];   /* one client's answer at a time */
    uint8_t stale[ANSWER_BUFFER_SIZE];    /* a stale cached answer, while its clients get it */
};

static uint16_t edns_payload(const struct forward *fw)
{
    return (uint16_t)fw->image->settings->edns_payload;
}

/* ---- the cache ------------------------------------------------------------ */

/* The stats file shows the totals since start, across caches replaced. */
static void forward_cache_publish_stats(struct forward *fw)
{
    if (fw->cache_shared)
        return; /* its owner's observer does it */
    struct cache_stats now = {0, 0, 0, 0};
    if (fw->cache != NULL)
        cache_get_stats(fw->cache, &now);
    struct stats_worker *s = fw->stats;
    stats_set(&s->cache_hits, fw->cache_base.hits + now.hits);
    stats_set(&s->cache_misses, fw->cache_base.misses + now.misses);
    stats_set(&s->cache_evictions, fw->cache_base.evictions + now.evictions);
    stats_set(&s->cache_entries, now.entries);
}

static void forward_cache_drop(struct forward *fw)
{
    if (fw->cache_shared) {
        fw->cache = NULL; /* not ours */
        fw->cache_shared = false;
        return;
    }
    if (fw->cache == NULL)
        return;
    struct cache_stats old;
    cache_get_stats(fw->cache, &old);
    fw->cache_base.hits += old.hits;
    fw->cache_base.misses += old.misses;
    fw->cache_base.evictions += old.evictions;
    cache_free(fw->cache);
    fw->cache = NULL;
}

/* This worker's share of a limit: limit / workers, at least 1, so that
 * all of them together stay within it (as long as it is at least one
 * each). */
static uint32_t forward_share(uint32_t limit, unsigned workers)
{
    uint32_t share = workers > 1 ? limit / workers : limit;
    return share > 0 ? share : 1;
}

void forward_image_changed(struct forward *fw, const struct image *img)
{
    fw->image = img;
    const struct image_settings *settings = img->settings;
    bool wanted = settings->cache_enabled != 0 && settings->cache_size > 0;
    uint32_t size = forward_share(settings->cache_size, fw->workers);
    if (fw->cache_shared) {
        /* Its owner flushes it for the new image (and once more when every
         * worker serves it); answers to queries started before this one
         * are not kept, as below. */
    } else if (!wanted) {
        forward_cache_drop(fw);
    } else if (fw->cache != NULL && fw->cache_size == size &&
               fw->cache_ttl == settings->cache_ttl) {
        /* A flush, with the new serve_stale (the table stays). */
        cache_configure(fw->cache, size, settings->cache_ttl, settings->serve_stale);
    } else {
        forward_cache_drop(fw);
        fw->cache = cache_new(size, settings->cache_ttl);
        if (fw->cache == NULL ||
            cache_configure(fw->cache, size, settings->cache_ttl, settings->serve_stale) < 0)
            log_warning("out of memory for a cache of %u entries: forwarding without a cache",
                        size);
        fw->cache_size = size;
        fw->cache_ttl = settings->cache_ttl;
    }
    /* Answers to queries started before now may come from servers the new
     * image no longer names: they are passed on, not kept. */
    fw->cache_epoch++;
    forward_cache_publish_stats(fw);
}

/* A cache to use now: none when off, or when the image turns it off. */
static struct cache *forward_cache(const struct forward *fw)
{
    const struct image_settings *settings = fw->image->settings;
    if (fw->cache_shared && (settings->cache_enabled == 0 || settings->cache_size == 0))
        return NULL;
    return fw->cache;
}

void forward_share_cache(struct forward *fw, struct cache *cache)
{
    forward_cache_drop(fw);
    /* Its counters are the owner's to publish: this worker's slot says 0,
     * so that the sum over the workers counts them once. */
    fw->cache_base = (struct cache_stats){0, 0, 0, 0};
    forward_cache_publish_stats(fw);
    fw->cache = cache;
    fw->cache_shared = true;
    fw->cache_epoch++;
}

size_t forward_from_cache(struct forward *fw, const uint8_t *packet,
                          enum answer_transport transport, struct answer_info *info,
                          uint8_t *response)
{
    if (forward_cache(fw) == NULL)
        return 0;
    struct cache_key key;
    relay_key_init(&key, &info->query);
    size_t len = cache_lookup(fw->cache, &key, monotonic_now_ms(), response, ANSWER_BUFFER_SIZE);
    forward_cache_publish_stats(fw);
    if (len == 0)
        return 0;
    struct relay_client client;
    relay_client_init(&client, &info->query, packet);
    uint16_t payload = edns_payload(fw);
    struct relay_result result;
    len = relay_answer(response, len, ANSWER_BUFFER_SIZE, &client,
                       relay_size_limit(&client, transport, payload), payload, &result);
    if (len == 0)
        return 0; /* cannot happen: it was checked when it arrived */
    info->source = ANSWER_SOURCE_CACHE;
    info->rcode = result.rcode;
    info->truncated = result.truncated;
    return len;
}

/* RFC 8767 §5: resolution failed for key (no upstream answered, or the one
 * that did said SERVFAIL, response[0..len)): an answer the cache still
 * holds, expired less than serve_stale seconds ago (or refreshed by
 * another query meanwhile), copied into fw->stale; *stale says whether it
 * expired. Its length; 0 when there is none, or serve_stale is 0. */
static size_t forward_from_stale(struct forward *fw, const struct cache_key *key,
                                 const uint8_t *response, size_t len, uint64_t now_ms, bool *stale)
{
    *stale = false;
    bool failed = response == NULL || (len >= WIRE_HEADER_SIZE &&
                                       (wire_get16(response + 2) & 0xF) == WIRE_RCODE_SERVFAIL);
    if (!failed || fw->image->settings->serve_stale == 0 || forward_cache(fw) == NULL)
        return 0;
    size_t stale_len =
        cache_lookup_stale(fw->cache, key, now_ms, fw->stale, sizeof(fw->stale), stale);
    forward_cache_publish_stats(fw);
    return stale_len;
}

/* ---- upstream servers ------------------------------------------------------ */

static socklen_t upstream_sockaddr(const struct image_upstream *server,
                                   struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (server->family == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)out;
        in->sin_family = AF_INET;
        in->sin_port = htons(server->port);
        memcpy(&in->sin_addr, server->addr, 4);
        return sizeof(*in);
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(server->port);
    memcpy(&in6->sin6_addr, server->addr, 16);
    return sizeof(*in6);
}

static const char *upstream_text(const struct image_upstream *server, char *out, size_t cap)
{
    char addr[INET6_ADDRSTRLEN] = "?";
    inet_ntop(server->family == 4 ? AF_INET : AF_INET6, server->addr, addr, sizeof(addr));
    snprintf(out, cap, server->family == 4 ? "%s:%u" : "[%s]:%u", addr, (unsigned)server->port);
    return out;
}

/* ---- the table of questions in flight --------------------------------------- */

static uint32_t key_hash(const struct cache_key *key)
{
    /* FNV-1a over what makes two questions the same. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < key->qname_len; i++)
        h = (h ^ key->qname[i]) * 16777619u;
    uint8_t tail[5] = {(uint8_t)(key->qtype >> 8), (uint8_t)key->qtype, (uint8_t)(key->qclass >> 8),
                       (uint8_t)key->qclass, key->flags};
    for (size_t i = 0; i < sizeof(tail); i++)
        h = (h ^ tail[i]) * 16777619u;
    return h;
}

static bool key_equal(const struct cache_key *a, const struct cache_key *b)
{
    return a->qname_len == b->qname_len && a->qtype == b->qtype && a->qclass == b->qclass &&
           a->flags == b->flags && memcmp(a->qname, b->qname, a->qname_len) == 0;
}

static struct pending *table_find(struct forward *fw, const struct cache_key *key, uint32_t hash)
{
    for (struct pending *p = fw->buckets[hash & fw->bucket_mask]; p != NULL; p = p->hash_next)
        if (p->hash == hash && key_equal(&p->key, key))
            return p;
    return NULL;
}

static void table_remove(struct forward *fw, struct pending *p)
{
    if (!p->in_table)
        return;
    struct pending **link = &fw->buckets[p->hash & fw->bucket_mask];
    while (*link != p)
        link = &(*link)->hash_next;
    *link = p->hash_next;
    p->hash_next = NULL;
    p->in_table = false;
    fw->table_count--;
}

/* Keep chains short when max_inflight is large: double the buckets when
 * there are twice as many entries. A failed allocation keeps the old
 * table, which still works. */
static void table_grow(struct forward *fw)
{
    size_t buckets = (fw->bucket_mask + 1) * 2;
    struct pending **grown = calloc(buckets, sizeof(*grown));
    if (grown == NULL)
        return;
    for (struct pending *p = fw->all; p != NULL; p = p->next) {
        if (!p->in_table)
            continue;
        size_t b = p->hash & (buckets - 1);
        p->hash_next = grown[b];
        grown[b] = p;
    }
    free(fw->buckets);
    fw->buckets = grown;
    fw->bucket_mask = buckets - 1;
}

static void table_insert(struct forward *fw, struct pending *p)
{
    if (fw->table_count + 1 > 2 * (fw->bucket_mask + 1))
        table_grow(fw);
    struct pending **bucket = &fw->buckets[p->hash & fw->bucket_mask];
    p->hash_next = *bucket;
    *bucket = p;
    p->in_table = true;
    fw->table_count++;
}

/* ---- one query in flight ---------------------------------------------------- */

static void pending_try(struct pending *p, uint64_t now_ns);

static void attempt_close(struct pending *p)
{
    if (p->io_added) {
        event_del(&p->io);
        p->io_added = false;
    }
    event_del(&p->timer);
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
}

static void pending_destroy(struct pending *p)
{
    struct forward *fw = p->fw;
    attempt_close(p);
    table_remove(fw, p);
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        fw->all = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    fw->inflight--;
    free(p->tcp_in);
    free(p->waiters);
    free(p);
}

/* Answer every waiting client: with response (the upstream's, checked)
 * or, when it is NULL (every upstream failed), with SERVFAIL, at now_ns
 * (the clock read that brought it: the answers' send time); either way a
 * stale cached answer instead when resolution failed and serve_stale
 * allows (forward_from_stale). Ends the query. */
static void pending_finish(struct pending *p, const uint8_t *response, size_t len, uint64_t now_ns)
{
    struct forward *fw = p->fw;
    /* Out of the table first: the answers below may let a TCP client's
     * next queries in, and those must not join a query that is over. */
    table_remove(fw, p);
    if (response != NULL && forward_cache(fw) != NULL && p->cache_epoch == fw->cache_epoch) {
        if (cache_store_since(fw->cache, p->cache_generation, &p->key, response, len,
                              now_ns / 1000000u) < 0)
            log_debug("forward: out of memory for a cache entry");
        forward_cache_publish_stats(fw);
    }
    /* What the clients get: the upstream's answer, or, when resolution
     * failed, a stale one from the cache (RFC 8767), or SERVFAIL. */
    const uint8_t *from = response;
    size_t from_len = len;
    enum answer_source from_source = ANSWER_SOURCE_UPSTREAM;
    bool stale = false;
    size_t stale_len = forward_from_stale(fw, &p->key, response, len, now_ns / 1000000u, &stale);
    if (stale_len != 0) {
        from = fw->stale;
        from_len = stale_len;
        from_source = ANSWER_SOURCE_CACHE;
    }
    uint16_t payload = edns_payload(fw);
    for (unsigned i = 0; i < p->waiter_count; i++) {
        struct waiter *w = &p->waiters[i];
        struct relay_result result = {WIRE_RCODE_SERVFAIL, false};
        enum answer_source source = ANSWER_SOURCE_ERROR;
        size_t answer_len = 0;
        if (from != NULL) {
            memcpy(fw->answer, from, from_len);
            answer_len = relay_answer(fw->answer, from_len, sizeof(fw->answer), &w->client,
                                      relay_size_limit(&w->client, w->reply.transport, payload),
                                      payload, &result);
            source = from_source;
            if (answer_len != 0 && stale)
                stats_add(&fw->stats->stale_answers, 1);
        }
        if (answer_len == 0) {
            answer_len = relay_error(fw->answer, &w->client, WIRE_RCODE_SERVFAIL, payload);
            result = (struct relay_result){WIRE_RCODE_SERVFAIL, false};
            source = ANSWER_SOURCE_ERROR;
        }
        struct forward_answer answer = {.qname = p->key.qname,
                                        .qname_len = p->key.qname_len,
                                        .qtype = p->key.qtype,
                                        .rcode = result.rcode,
                                        .source = source,
                                        .truncated = result.truncated,
                                        .message = fw->answer,
                                        .len = answer_len,
                                        .sent_ns = now_ns};
        fw->answered(fw->answered_arg, &w->reply, &answer);
    }
    pending_destroy(p);
}

/* This attempt failed (timeout, ICMP error, refused, a broken answer):
 * remember it against the server and go on with the next one. */
static void pending_next(struct pending *p)
{
    uint64_t now_ns = monotonic_now_ns();
    upstream_health_record(&p->fw->health, &p->servers[p->order[p->attempt]], false,
                           now_ns / 1000000u);
    attempt_close(p);
    p->attempt++;
    pending_try(p, now_ns);
}

static void pending_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pending *p = arg;
    if (p->fd >= 0) {
        char text[INET6_ADDRSTRLEN + 8];
        log_debug("forward: %s timed out%s",
                  upstream_text(&p->servers[p->order[p->attempt]], text, sizeof(text)),
                  p->over_tcp ? " over TCP" : "");
        stats_add(&p->fw->stats->upstream_timeouts, 1);
    }
    pending_next(p);
}

/* The attempt could not even start: go on from the loop, never from
 * within forward_start (whose caller expects no answer yet). */
static void attempt_failed_now(struct pending *p)
{
    attempt_close(p);
    struct timeval now = {0, 0};
    if (event_add(&p->timer, &now) < 0) {
        /* Nothing would ever come back to this query: answer it now. */
        log_error("forward: cannot arm a timer");
        pending_finish(p, NULL, 0, monotonic_now_ns());
    }
}

static int attempt_arm(struct pending *p, short events, event_callback_fn callback)
{
    struct timeval timeout = {p->timeout_ms / 1000, (p->timeout_ms % 1000) * 1000};
    if (event_assign(&p->io, p->fw->base, p->fd, events | EV_PERSIST, callback, p) < 0 ||
        event_add(&p->io, NULL) < 0)
        return -1;
    p->io_added = true;
    return event_add(&p->timer, &timeout);
}

/* server.rebind_protection: does response point a name no forward zone
 * covers at a private, loopback or link-local address (relay.h)? Our own
 * data never comes this way: only forwarded names are checked. */
static bool pending_rebind_blocked(const struct pending *p, const uint8_t *response, size_t len)
{
    const struct image *img = p->fw->image;
    if (!img->settings->rebind_protection ||
        relay_forward_zone_covers(img, p->key.qname, p->key.qname_len) ||
        !relay_rebind_found(response, len))
        return false;
    /* Debug only: whoever controls a zone could flood a louder log. */
    char name[WIRE_NAME_MAX * 4 + 1];
    if (wire_name_to_text(p->key.qname, p->key.qname_len, name, sizeof(name)) < 0)
        strcpy(name, "?");
    log_debug("forward: possible DNS rebinding: %s has a private address upstream; not relayed",
              name);
    stats_add(&p->fw->stats->rebind_blocked, 1);
    return true;
}

/* The upstream's answer: one clock read for the server's health, its
 * round trip and the clients' answers. */
static void pending_accept(struct pending *p, const uint8_t *response, size_t len)
{
    uint64_t now_ns = monotonic_now_ns();
    upstream_health_record(&p->fw->health, &p->servers[p->order[p->attempt]], true,
                           now_ns / 1000000u);
    stats_latency_record(&p->fw->stats->latency[STATS_LATENCY_UPSTREAM],
                         now_ns > p->attempt_started_ns ? now_ns - p->attempt_started_ns : 0, 1);
    /* A blocked answer becomes NODATA, as dnsmasq's stop-dns-rebind makes
     * it (NOERROR, every section emptied): the name exists, it just has
     * no address for us. Without an SOA it is cached neither here (RFC
     * 2308 §5, cache.c) nor by the client, it is no SERVFAIL that
     * serve_stale would answer or that would send the client on to its
     * next resolver, and no NXDOMAIN that would deny the names below. */
    uint8_t blocked[WIRE_HEADER_SIZE + WIRE_NAME_MAX + 4];
    if (pending_rebind_blocked(p, response, len)) {
        len = relay_rebind_answer(blocked, response, len);
        response = len != 0 ? blocked : NULL;
    }
    pending_finish(p, response, len, now_ns);
}

static void pending_on_tcp(evutil_socket_t fd, short what, void *arg);

/* RFC 7766 §5 (RFC 5966): a truncated answer is asked again over TCP,
 * of the same server, with the same timeout. */
static void attempt_start_tcp(struct pending *p)
{
    struct forward *fw = p->fw;
    const struct image_upstream *server = &p->servers[p->order[p->attempt]];
    attempt_close(p);
    p->over_tcp = true;
    stats_add(&fw->stats->upstream_tcp_retries, 1);
    if (p->tcp_in == NULL && (p->tcp_in = malloc(2 + TCP_MESSAGE_MAX)) == NULL) {
        attempt_failed_now(p);
        return;
    }
    p->tcp_in_len = 0;
    p->tcp_out_done = 0;
    p->id = (uint16_t)randombytes_uniform(65536);
    p->query_len = relay_query_build(p->query + 2, p->id, &p->key);
    wire_put16(p->query, (uint16_t)p->query_len);

    struct sockaddr_storage addr;
    socklen_t addr_len = upstream_sockaddr(server, &addr);
    p->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0 ||
        (connect(p->fd, (struct sockaddr *)&addr, addr_len) < 0 && errno != EINPROGRESS) ||
        attempt_arm(p, EV_WRITE, pending_on_tcp) < 0) {
        char text[INET6_ADDRSTRLEN + 8];
        log_debug("forward: TCP to %s: %s", upstream_text(server, text, sizeof(text)),
                  strerror(errno));
        attempt_failed_now(p);
    }
}

static void pending_on_udp(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct pending *p = arg;
    struct forward *fw = p->fw;
    for (;;) {
        ssize_t n = recv(fd, fw->receive, sizeof(fw->receive), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* ECONNREFUSED and the like: an ICMP error for our datagram. */
            char text[INET6_ADDRSTRLEN + 8];
            log_debug("forward: %s: %s",
                      upstream_text(&p->servers[p->order[p->attempt]], text, sizeof(text)),
                      strerror(errno));
            pending_next(p);
            return;
        }
        switch (relay_response_check(fw->receive, (size_t)n, p->id, &p->key)) {
        case RELAY_IGNORE:
            /* RFC 5452 §9.1: not our answer; a spoofer's, perhaps. Keep
             * waiting for the real one until the timeout. */
            log_debug("forward: ignoring a datagram that does not answer our query");
            continue;
        case RELAY_MALFORMED:
            pending_next(p);
            return;
        case RELAY_ACCEPT:
            if (wire_get16(fw->receive + 2) & WIRE_FLAG_TC)
                attempt_start_tcp(p);
            else
                pending_accept(p, fw->receive, (size_t)n);
            return;
        }
    }
}

static void pending_on_tcp(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct pending *p = arg;
    size_t out_len = 2 + p->query_len;
    if (p->tcp_out_done < out_len) {
        if (p->tcp_out_done == 0) {
            int error = 0;
            socklen_t error_len = sizeof(error);
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_len) < 0 || error != 0) {
                log_debug("forward: TCP connect: %s", strerror(error != 0 ? error : errno));
                pending_next(p);
                return;
            }
        }
        ssize_t n = send(fd, p->query + p->tcp_out_done, out_len - p->tcp_out_done,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            log_debug("forward: TCP send: %s", strerror(errno));
            pending_next(p);
            return;
        }
        p->tcp_out_done += (size_t)n;
        if (p->tcp_out_done == out_len) {
            /* Sent: now wait for the answer, within the same deadline. */
            event_del(&p->io);
            if (event_assign(&p->io, p->fw->base, fd, EV_READ | EV_PERSIST, pending_on_tcp, p) <
                    0 ||
                event_add(&p->io, NULL) < 0) {
                pending_next(p);
            }
        }
        return;
    }
    for (;;) {
        size_t want = p->tcp_in_len < 2 ? 2 : 2 + (size_t)wire_get16(p->tcp_in);
        ssize_t n = recv(fd, p->tcp_in + p->tcp_in_len, want - p->tcp_in_len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            log_debug("forward: TCP answer cut short: %s", n == 0 ? "closed" : strerror(errno));
            pending_next(p);
            return;
        }
        p->tcp_in_len += (size_t)n;
        if (p->tcp_in_len < 2)
            continue;
        size_t message_len = wire_get16(p->tcp_in);
        if (message_len == 0) {
            pending_next(p);
            return;
        }
        if (p->tcp_in_len < 2 + message_len)
            continue;
        /* A connection to the server itself: anything but our answer
         * means that server is broken. */
        if (relay_response_check(p->tcp_in + 2, message_len, p->id, &p->key) != RELAY_ACCEPT) {
            pending_next(p);
            return;
        }
        pending_accept(p, p->tcp_in + 2, message_len);
        return;
    }
}

static int attempt_start_udp(struct pending *p)
{
    const struct image_upstream *server = &p->servers[p->order[p->attempt]];
    struct sockaddr_storage addr;
    socklen_t addr_len = upstream_sockaddr(server, &addr);
    p->over_tcp = false;
    /* RFC 5452 §9.2: a new socket per query, so an unpredictable source
     * port (the kernel picks one at connect); connected, so the kernel
     * drops datagrams from any other address and port. */
    p->fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0 || connect(p->fd, (struct sockaddr *)&addr, addr_len) < 0)
        goto fail;
    p->id = (uint16_t)randombytes_uniform(65536); /* RFC 5452 §4.3 */
    p->query_len = relay_query_build(p->query + 2, p->id, &p->key);
    ssize_t sent;
    do {
        sent = send(p->fd, p->query + 2, p->query_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent != (ssize_t)p->query_len || attempt_arm(p, EV_READ, pending_on_udp) < 0)
        goto fail;
    stats_add(&p->fw->stats->upstream_queries, 1);
    return 0;
fail:;
    char text[INET6_ADDRSTRLEN + 8];
    log_debug("forward: %s: %s", upstream_text(server, text, sizeof(text)), strerror(errno));
    return -1;
}

/* Start the attempt at p->attempt, or answer SERVFAIL when every server
 * has been tried; now_ns is the caller's clock read. */
static void pending_try(struct pending *p, uint64_t now_ns)
{
    if (p->attempt >= p->server_count) {
        log_debug("forward: every upstream failed");
        pending_finish(p, NULL, 0, now_ns);
        return;
    }
    p->attempt_started_ns = now_ns;
    if (attempt_start_udp(p) < 0)
        attempt_failed_now(p);
}

/* ---- waiting clients -------------------------------------------------------- */

static bool same_udp_client(const struct waiter *w, const struct reply *reply, uint16_t id)
{
    return w->reply.transport == ANSWER_UDP && reply->transport == ANSWER_UDP &&
           w->client.id == id && w->reply.client_len == reply->client_len &&
           memcmp(&w->reply.client, &reply->client, reply->client_len) == 0;
}

/* Add a client to p. Returns -1 when out of memory. */
static int pending_add_waiter(struct pending *p, const uint8_t *packet, const struct wire_query *q,
                              const struct reply *reply)
{
    /* A UDP client asking again (same address, port and ID) while the
     * first query is out gets one answer, not two. */
    for (unsigned i = 0; i < p->waiter_count; i++)
        if (same_udp_client(&p->waiters[i], reply, q->id))
            return 0;
    if (p->waiter_count == p->waiter_cap) {
        unsigned cap = p->waiter_cap == 0 ? FORWARD_WAITERS_INITIAL : p->waiter_cap * 2;
        if (cap > FORWARD_WAITERS_MAX)
            cap = FORWARD_WAITERS_MAX;
        struct waiter *grown = realloc(p->waiters, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        p->waiters = grown;
        p->waiter_cap = cap;
    }
    struct waiter *w = &p->waiters[p->waiter_count++];
    w->reply = *reply;
    relay_client_init(&w->client, q, packet);
    return 0;
}

/* An answer now, of our own (SERVFAIL when too busy). */
static size_t answer_now(struct forward *fw, const uint8_t *packet, struct answer_info *info,
                         uint16_t rcode, uint8_t *response)
{
    struct relay_client client;
    relay_client_init(&client, &info->query, packet);
    info->source = ANSWER_SOURCE_ERROR;
    info->rcode = rcode;
    info->truncated = 0;
    return relay_error(response, &client, rcode, edns_payload(fw));
}

static struct pending *pending_new(struct forward *fw, const struct cache_key *key, uint32_t hash,
                                   uint64_t now_ns)
{
    const struct image *img = fw->image;
    const struct image_upstream *first;
    size_t count = relay_servers(img, key->qname, key->qname_len, &first);
    if (count == 0)
        return NULL;
    struct pending *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->fw = fw;
    p->key = *key;
    p->hash = hash;
    p->cache_epoch = fw->cache_epoch;
    p->cache_generation = fw->cache != NULL ? cache_generation(fw->cache) : 0;
    p->server_count = count < FORWARD_SERVERS_MAX ? (unsigned)count : FORWARD_SERVERS_MAX;
    memcpy(p->servers, first, p->server_count * sizeof(*first));
    upstream_health_order(&fw->health, p->servers, p->server_count, p->order, now_ns / 1000000u);
    p->timeout_ms = img->settings->upstream_timeout_ms != 0 ? img->settings->upstream_timeout_ms
                                                            : FORWARD_DEFAULT_TIMEOUT_MS;
    p->fd = -1;
    evtimer_assign(&p->timer, fw->base, pending_on_timer, p);
    p->next = fw->all;
    if (fw->all != NULL)
        fw->all->prev = p;
    fw->all = p;
    fw->inflight++;
    return p;
}

size_t forward_start(struct forward *fw, const uint8_t *packet, struct answer_info *info,
                     const struct reply *reply, uint8_t *response)
{
    const struct wire_query *q = &info->query;
    struct cache_key key;
    relay_key_init(&key, q);
    uint32_t hash = key_hash(&key);

    struct pending *joined = table_find(fw, &key, hash);
    if (joined != NULL && joined->waiter_count < FORWARD_WAITERS_MAX) {
        if (pending_add_waiter(joined, packet, q, reply) == 0)
            return 0;
        return answer_now(fw, packet, info, WIRE_RCODE_SERVFAIL, response);
    }

    uint32_t max_inflight = fw->image->settings->max_inflight;
    if (max_inflight == 0)
        max_inflight = FORWARD_DEFAULT_MAX_INFLIGHT;
    max_inflight = forward_share(max_inflight, fw->workers);
    if (fw->sockets_max != 0 && max_inflight > fw->sockets_max)
        max_inflight = fw->sockets_max; /* out of descriptors: SERVFAIL, never EMFILE */
    if (fw->inflight >= max_inflight) {
        stats_add(&fw->stats->inflight_overflow, 1);
        return answer_now(fw, packet, info, WIRE_RCODE_SERVFAIL, response);
    }
    uint64_t now_ns = monotonic_now_ns();
    struct pending *p = pending_new(fw, &key, hash, now_ns);
    if (p == NULL)
        return answer_now(fw, packet, info, WIRE_RCODE_SERVFAIL, response);
    if (pending_add_waiter(p, packet, q, reply) < 0) {
        pending_destroy(p);
        return answer_now(fw, packet, info, WIRE_RCODE_SERVFAIL, response);
    }
    /* A full query keeps its clients but takes no more: the new one does. */
    if (joined != NULL)
        table_remove(fw, joined);
    table_insert(fw, p);
    pending_try(p, now_ns);
    return 0;
}

/* ---- life cycle ------------------------------------------------------------- */

struct forward *forward_new(struct event_base *base, const struct image *img,
                            struct stats_worker *stats, forward_answered_fn answered, void *arg)
{
    struct forward *fw = calloc(1, sizeof(*fw));
    if (fw == NULL) {
        log_error("out of memory for forwarding");
        return NULL;
    }
    fw->base = base;
    fw->stats = stats;
    fw->answered = answered;
    fw->answered_arg = arg;
    fw->buckets = calloc(FORWARD_BUCKETS_MIN, sizeof(*fw->buckets));
    if (fw->buckets == NULL) {
        log_error("out of memory for forwarding");
        free(fw);
        return NULL;
    }
    fw->bucket_mask = FORWARD_BUCKETS_MIN - 1;
    fw->workers = 1;
    forward_image_changed(fw, img);
    return fw;
}

void forward_set_workers(struct forward *fw, unsigned workers)
{
    fw->workers = workers > 0 ? workers : 1;
    forward_image_changed(fw, fw->image); /* the cache at its new size */
}

void forward_limit_sockets(struct forward *fw, unsigned sockets)
{
    fw->sockets_max = sockets;
}

void forward_free(struct forward *fw)
{
    if (fw == NULL)
        return;
    while (fw->all != NULL)
        pending_destroy(fw->all);
    forward_cache_drop(fw);
    free(fw->buckets);
    free(fw);
}
