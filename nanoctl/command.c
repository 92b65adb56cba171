/* nanoctl's commands: each one request to the node's API, signed where it
 * changes state, and a verdict on the answer (the exit status). See
 * command.h. */
#include "command.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "envelope.h"
#include "http_client.h"
#include "print.h"
#include "reply.h"

/* ---- verdicts on a 2xx answer: EXIT_OK or EXIT_NODE_FAILURE ---- */

static int status_judge(struct json_object *metrics)
{
    int alive = reply_bool(reply_object(metrics, "dataplane"), "alive");
    int valid = reply_bool(metrics, "config_valid");
    return alive == 0 || valid == 0 ? EXIT_NODE_FAILURE : EXIT_OK;
}

static int reload_judge(struct json_object *answer)
{
    (void)answer;
    return EXIT_OK;
}

/* A peer whose "status", when given, is not "ok": its API answered, but
 * the node says it is unwell. */
static bool member_unwell(struct json_object *member)
{
    const char *status = reply_string(member, "status");
    return status != NULL && strcmp(status, "ok") != 0;
}

/* Healthy: this node's status is "ok", and every peer is reachable, well,
 * and agrees with it. A peer that does not say whether it agrees (an older
 * node's answer) is not held against the cluster. */
static int cluster_judge(struct json_object *answer)
{
    const char *status = reply_string(reply_object(answer, "self"), "status");
    if (status == NULL || strcmp(status, "ok") != 0)
        return EXIT_NODE_FAILURE;
    struct json_object *peers = reply_object(answer, "peers");
    if (peers != NULL) {
        json_object_object_foreach(peers, name, peer)
        {
            (void)name;
            if (reply_bool(peer, "reachable") != 1 || member_unwell(peer) ||
                reply_bool(peer, "agrees") == 0)
                return EXIT_NODE_FAILURE;
        }
    }
    return EXIT_OK;
}

static const struct command COMMANDS[] = {
    {"status", "GET", "/metrics", status_judge, print_status, 5.0},
    /* The node answers once the file is validated, compiled and published:
     * seconds for a config of a million names, more on a slow disk. */
    {"reload", "POST", "/reload", reload_judge, print_reload, 60.0},
    {"cluster", "GET", "/cluster", cluster_judge, print_cluster, 5.0},
};

const struct command *command_find(const char *name)
{
    for (size_t i = 0; i < sizeof(COMMANDS) / sizeof(COMMANDS[0]); i++)
        if (strcmp(name, COMMANDS[i].name) == 0)
            return &COMMANDS[i];
    return NULL;
}

/* ---- running one ---- */

/* The answer to a failed request, as the node explains it: its "errors"
 * (every finding of an invalid config, one per line), else its "error",
 * "message" or "reason", else the body's first line. */
static void failure_print(const struct command *cmd, const struct target *t,
                          const struct http_response *response, struct json_object *answer)
{
    struct json_object *errors = reply_field(answer, "errors");
    if (strcmp(cmd->name, "reload") == 0 && response->status == 422)
        fprintf(stderr, "nanoctl: reload refused: the config does not validate; the node keeps "
                        "serving the last good config\n");
    else
        fprintf(stderr, "nanoctl: %s answered HTTP %d to %s %s\n", t->display, response->status,
                cmd->method, cmd->path);
    if (errors != NULL && json_object_is_type(errors, json_type_array)) {
        size_t n = json_object_array_length(errors);
        for (size_t i = 0; i < n; i++) {
            const char *text = json_object_get_string(json_object_array_get_idx(errors, i));
            print_lines(stderr, text != NULL ? text : "", 0);
        }
        return;
    }
    const char *text = reply_string(answer, "error");
    if (text == NULL)
        text = reply_string(answer, "message");
    if (text == NULL)
        text = reply_string(answer, "reason");
    if (text != NULL) {
        print_lines(stderr, text, 0);
        return;
    }
    if (answer == NULL && response->body_len > 0) {
        const char *eol = strchr(response->body, '\n');
        int n = eol != NULL ? (int)(eol - response->body) : (int)strlen(response->body);
        fprintf(stderr, "%.*s\n", n > 200 ? 200 : n, response->body);
    }
}

/* The headers that sign METHOD PATH with the key in key_path for the node
 * whose public key is target_key (NULL: the signing key's own), as a node
 * checks them (X-NanoDNS-Signer, -Time, -Nonce, -Target, -Signature: each
 * request is good once, on that node only). Returns 0, or -1 with the
 * reason in err. */
static int request_sign(const char *key_path, const uint8_t *target_key, const char *method,
                        const char *path, char *headers, size_t headers_len, char *err,
                        size_t err_len)
{
    struct envelope_key key;
    if (envelope_key_read(key_path, &key, err, err_len) < 0)
        return -1;
    struct envelope_request request = {
        .time = (uint64_t)time(NULL), .method = method, .path = path};
    envelope_nonce_generate(request.nonce);
    memcpy(request.target, target_key != NULL ? target_key : key.public_key,
           ENVELOPE_PUBLIC_KEY_SIZE);
    uint8_t signature[ENVELOPE_SIGNATURE_SIZE];
    envelope_sign_request(&key, &request, signature);
    char signer[ENVELOPE_PUBLIC_KEY_TEXT], target[ENVELOPE_PUBLIC_KEY_TEXT];
    char nonce[ENVELOPE_NONCE_TEXT], signature_text[ENVELOPE_SIGNATURE_TEXT];
    envelope_public_key_text(key.public_key, signer);
    envelope_public_key_text(request.target, target);
    sodium_memzero(&key, sizeof(key));
    if (envelope_base64_encode(request.nonce, sizeof(request.nonce), nonce, sizeof(nonce)) < 0 ||
        envelope_base64_encode(signature, sizeof(signature), signature_text,
                               sizeof(signature_text)) < 0)
        return -1; /* cannot happen: the buffers are sized for them */
    snprintf(headers, headers_len,
             "X-NanoDNS-Signer: %s\r\n"
             "X-NanoDNS-Time: %" PRIu64 "\r\n"
             "X-NanoDNS-Nonce: %s\r\n"
             "X-NanoDNS-Target: %s\r\n"
             "X-NanoDNS-Signature: %s\r\n",
             signer, request.time, nonce, target, signature_text);
    return 0;
}

int command_run(const struct command *cmd, const struct target *t, bool json, int timeout_ms,
                const char *key_path, bool key_required, const uint8_t *target_key, bool verbose)
{
    struct http_response response;
    char err[256];
    char headers[1024] = "";
    char sign_err[PATH_MAX + 256] = "";
    /* The control socket needs no signature: whoever can connect to it is
     * the node's user or root. Over TCP a reload must be signed; a key we
     * cannot read is mentioned when the node refuses, unless asked for. */
    bool local = t->socket_path[0] != '\0';
    if (strcmp(cmd->name, "reload") == 0 && !local && key_path[0] != '\0' &&
        request_sign(key_path, target_key, cmd->method, cmd->path, headers, sizeof(headers),
                     sign_err, sizeof(sign_err)) < 0) {
        if (key_required) {
            fprintf(stderr, "nanoctl: cannot sign with --key: %s\n", sign_err);
            return EXIT_USAGE;
        }
        cli_note(verbose, "reload goes unsigned: %s", sign_err);
    }
    if (strcmp(cmd->name, "reload") == 0 && local)
        cli_note(verbose, "reload goes over the control socket, unsigned");
    if (http_request(t->socket_path, t->host, t->port, cmd->method, cmd->path, headers, timeout_ms,
                     &response, err, sizeof(err)) < 0) {
        fprintf(stderr, "nanoctl: cannot reach the node at %s: %s\n", t->display, err);
        return EXIT_UNREACHABLE;
    }
    struct json_object *answer = reply_parse(response.body, response.body_len);
    int rc;
    if (response.status < 200 || response.status > 299) {
        if (json && answer != NULL)
            print_json(answer);
        else
            failure_print(cmd, t, &response, answer);
        if ((response.status == 401 || response.status == 403) && sign_err[0] != '\0')
            fprintf(stderr, "nanoctl: the request was not signed: %s\n", sign_err);
        rc = EXIT_NODE_FAILURE;
    } else if (answer == NULL) {
        fprintf(stderr, "nanoctl: %s answered %s %s with something that is not a JSON object\n",
                t->display, cmd->method, cmd->path);
        rc = EXIT_NODE_FAILURE;
    } else {
        if (json)
            print_json(answer);
        else
            cmd->print(answer, t->display);
        rc = cmd->judge(answer);
    }
    json_object_put(answer);
    http_response_free(&response);
    if (fflush(stdout) != 0 && rc == EXIT_OK) {
        fprintf(stderr, "nanoctl: cannot write the output: %s\n", strerror(errno));
        rc = EXIT_NODE_FAILURE;
    }
    return rc;
}
