/* The push: after every local reload, the config in force goes, signed,
 * to every peer but this node; a POST /reload may wait for the answers
 * (sync_push_wait). A round lives until its last peer has answered or
 * timed out. See sync.h. */
#include "sync_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "log.h"
#include "node.h"
#include "peer_client.h"

#define SYNC_ANSWER_MAX_SIZE (1024 * 1024) /* a peer's answer to a push: errors at most */

struct push_target {
    struct push_round *round;
    char *address;
    struct peer_request *request; /* NULL once answered */
    struct json_object *result;
};

struct push_waiter {
    struct push_waiter *next;
    sync_push_done_cb done;
    void *arg;
};

struct push_round {
    struct sync *sync;
    struct push_round *next;
    uint64_t version;
    size_t count, pending;
    struct push_waiter *waiters;
    struct push_target targets[];
};

static void round_free(struct push_round *round)
{
    struct sync *sync = round->sync;
    for (struct push_round **p = &sync->rounds; *p != NULL; p = &(*p)->next) {
        if (*p == round) {
            *p = round->next;
            break;
        }
    }
    for (size_t i = 0; i < round->count; i++) {
        peer_request_free(round->targets[i].request);
        free(round->targets[i].address);
        json_object_put(round->targets[i].result);
    }
    while (round->waiters != NULL) {
        struct push_waiter *w = round->waiters;
        round->waiters = w->next;
        free(w);
    }
    free(round);
}

/* Every peer has answered or timed out: tell whoever waits, then go. */
static void round_finish(struct push_round *round)
{
    struct json_object *peers = json_object_new_object();
    for (size_t i = 0; peers != NULL && i < round->count; i++) {
        struct push_target *t = &round->targets[i];
        if (t->address != NULL) /* NULL: out of memory before it was asked */
            json_object_object_add(peers, t->address, json_object_get(t->result));
    }
    while (round->waiters != NULL) {
        struct push_waiter *w = round->waiters;
        round->waiters = w->next;
        w->done(w->arg, json_object_get(peers));
        free(w);
    }
    json_object_put(peers);
    round_free(round);
}

/* The peer's answer to a push, as /reload reports it, and in the log. */
static struct json_object *push_result(struct sync *sync, uint64_t version, const char *address,
                                       const struct peer_answer *answer, bool *ahead)
{
    struct json_object *result = json_object_new_object();
    *ahead = false;
    if (result == NULL)
        return NULL;
    if (!answer->answered) {
        json_object_object_add(result, "status", json_object_new_string("unreachable"));
        json_object_object_add(result, "error", json_object_new_string(answer->error));
        log_warning("sync: push of version %" PRIu64 " to %s failed: %s", version, address,
                    answer->error);
        return result;
    }
    struct json_object *parsed = json_tokener_parse(answer->body);
    struct json_object *status = NULL, *their_version = NULL, *reason = NULL, *errors = NULL;
    if (parsed != NULL && json_object_is_type(parsed, json_type_object)) {
        json_object_object_get_ex(parsed, "status", &status);
        json_object_object_get_ex(parsed, "version", &their_version);
        json_object_object_get_ex(parsed, "reason", &reason);
        json_object_object_get_ex(parsed, "errors", &errors);
    }
    const char *name = status != NULL && json_object_is_type(status, json_type_string)
                           ? json_object_get_string(status)
                           : "invalid answer";
    json_object_object_add(result, "status", json_object_new_string(name));
    if (their_version != NULL && json_object_is_type(their_version, json_type_int))
        json_object_object_add(result, "version", json_object_get(their_version));
    if (answer->code != SYNC_HTTP_OK)
        json_object_object_add(result, "http_status", json_object_new_int(answer->code));
    if (reason != NULL && json_object_is_type(reason, json_type_string))
        json_object_object_add(result, "reason", json_object_get(reason));
    if (errors != NULL && json_object_is_type(errors, json_type_array))
        json_object_object_add(result, "errors", json_object_get(errors));

    if (answer->code == SYNC_HTTP_OK) {
        log_info("sync: pushed version %" PRIu64 " to %s: %s", version, address, name);
        sync_peer_succeeded(sync, address);
    } else {
        const char *why = reason != NULL && json_object_is_type(reason, json_type_string)
                              ? json_object_get_string(reason)
                              : NULL;
        log_warning("sync: push of version %" PRIu64 " to %s refused: HTTP %d %s%s%s", version,
                    address, answer->code, name, why ? ": " : "", why ? why : "");
        /* It has a newer config, or ours lost a tie: take it now rather
         * than at the next pull. */
        *ahead = answer->code == SYNC_HTTP_CONFLICT;
    }
    json_object_put(parsed);
    return result;
}

static void on_push_answer(struct peer_request *request, void *arg)
{
    struct push_target *t = arg;
    struct push_round *round = t->round;
    bool ahead;
    t->result =
        push_result(round->sync, round->version, t->address, peer_request_answer(request), &ahead);
    peer_request_free(request);
    t->request = NULL;
    if (ahead)
        sync_pull_soon(round->sync);
    if (--round->pending == 0)
        round_finish(round);
}

void sync_push_config(struct sync *sync)
{
    struct node *node = sync->node;
    const struct sync_identity *self = &sync->identity;
    if (!self->has_key)
        return; /* nothing to sign with: said when the key was read */
    sync_peers_follow(sync);
    const struct config_server *server = &node->config.server;
    size_t count = 0;
    for (size_t i = 0; i < server->peer_count; i++)
        count += (long)i != self->self_peer;
    if (count == 0)
        return;
    size_t body_len = 0;
    char *body = sync_envelope_format(self->key.public_key, node->version, self->config_signature,
                                      node->config_text, node->config_len, &body_len);
    struct push_round *round = calloc(1, sizeof(*round) + count * sizeof(round->targets[0]));
    if (body == NULL || round == NULL) {
        log_error("sync: out of memory: version %" PRIu64 " is not pushed", node->version);
        free(body);
        free(round);
        return;
    }
    round->sync = sync;
    round->version = node->version;
    round->next = sync->rounds;
    sync->rounds = round;
    for (size_t i = 0; i < server->peer_count; i++) {
        if ((long)i == self->self_peer)
            continue;
        struct push_target *t = &round->targets[round->count++];
        t->round = round;
        t->address = strdup(server->peers[i]);
        round->pending++;
    }
    log_info("sync: pushing version %" PRIu64 " to %zu peer%s", round->version, count,
             count == 1 ? "" : "s");
    /* Every answer comes later, from the loop: the round is complete here. */
    for (size_t i = 0; i < round->count; i++) {
        struct push_target *t = &round->targets[i];
        if (t->address != NULL)
            t->request =
                peer_request_start(sync->client, t->address, EVHTTP_REQ_POST, "/sync", body,
                                   body_len, SYNC_ANSWER_MAX_SIZE, on_push_answer, t);
        if (t->request == NULL) {
            /* No request, no callback: count it out here, finishing last. */
            t->result = sync_answer_status("error");
            round->pending--;
        }
    }
    free(body);
    if (round->pending == 0) {
        /* Nothing went out at all. Nobody can wait yet: sync_push_wait
         * comes after this returns. */
        round_free(round);
    }
}

int sync_push_wait(struct sync *sync, uint64_t version, sync_push_done_cb done, void *arg)
{
    for (struct push_round *round = sync->rounds; round != NULL; round = round->next) {
        if (round->version != version)
            continue;
        struct push_waiter *w = calloc(1, sizeof(*w));
        if (w == NULL)
            return -1;
        w->done = done;
        w->arg = arg;
        w->next = round->waiters;
        round->waiters = w;
        return 0;
    }
    return -1;
}

void sync_push_unwait(struct sync *sync, void *arg)
{
    for (struct push_round *round = sync->rounds; round != NULL; round = round->next) {
        for (struct push_waiter **p = &round->waiters; *p != NULL;) {
            if ((*p)->arg == arg) {
                struct push_waiter *w = *p;
                *p = w->next;
                free(w);
            } else {
                p = &(*p)->next;
            }
        }
    }
}

void sync_push_rounds_free(struct sync *sync)
{
    while (sync->rounds != NULL)
        round_free(sync->rounds);
}
