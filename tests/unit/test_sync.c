/* How a node judges a POST /sync (controlplane/sync.c, steps 1 to 5 of the
 * protocol): the body must be a well-formed envelope (400), signed by a
 * peer listed with its key, for exactly these bytes and version, with the
 * hash of those bytes (401); then a lower version is stale (409), the same
 * version and hash is already current, the same version with another hash
 * is settled by the larger hash (apply, or 409 conflict), and a higher
 * version applies. Also the signed POST /reload check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "envelope.h"
#include "node.h"
#include "sync.h"

/* sync.c puts accepted configs in force through the node; nothing here
 * gets that far (the decision is a pure function). */
int node_apply_remote(struct node *node, const char *bytes, size_t len, uint64_t version,
                      struct node_reload_result *out)
{
    (void)node;
    (void)bytes;
    (void)len;
    (void)version;
    (void)out;
    return -1;
}
void node_reload_result_free(struct node_reload_result *result)
{
    (void)result;
}

#define NOW 1700000000u

static const char CONFIG_A[] = "{\"server\": {\"config_version\": 7}, \"records\": []}\n";
static const char CONFIG_B[] = "{\"server\": {\"config_version\": 7}, \"zones\": {}}\n";

/* Three members: a keyed peer (the signer), a plain "host:port" peer, and
 * this node. */
struct fixture {
    struct envelope_key signer;   /* listed as peers[0] */
    struct envelope_key plain;    /* peers[1] is plain: its key is not listed */
    struct envelope_key self;     /* peers[2] */
    struct envelope_key stranger; /* listed nowhere */
    char *peers[3];
    bool has_key[3];
    uint8_t keys[3][32];
    struct config_server server;
};

static struct fixture fx;

static int setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    envelope_key_generate(&fx.signer);
    envelope_key_generate(&fx.plain);
    envelope_key_generate(&fx.self);
    envelope_key_generate(&fx.stranger);
    fx.peers[0] = "127.0.0.11:9053";
    fx.peers[1] = "127.0.0.12:9053";
    fx.peers[2] = "127.0.0.13:9053";
    fx.has_key[0] = true;
    memcpy(fx.keys[0], fx.signer.public_key, 32);
    /* The plain peer's slot holds its key's bits, but it is not listed
     * with a key: it must not count. */
    fx.has_key[1] = false;
    memcpy(fx.keys[1], fx.plain.public_key, 32);
    fx.has_key[2] = true;
    memcpy(fx.keys[2], fx.self.public_key, 32);
    fx.server.peers = fx.peers;
    fx.server.peer_count = 3;
    fx.server.peer_has_key = fx.has_key;
    fx.server.peer_keys = fx.keys;
    return 0;
}

/* A push body of config at version, signed by key. */
static char *push_body(const struct envelope_key *key, uint64_t version, const char *config)
{
    uint8_t signature[ENVELOPE_SIGNATURE_SIZE];
    envelope_sign_config(key, version, config, strlen(config), signature);
    size_t len = 0;
    char *body =
        sync_envelope_format(key->public_key, version, signature, config, strlen(config), &len);
    assert_non_null(body);
    assert_int_equal(len, strlen(body));
    return body;
}

static void hash_of(const char *config, uint8_t hash[ENVELOPE_HASH_SIZE])
{
    envelope_config_hash(config, strlen(config), hash);
}

/* The status of body judged by a node serving our_config at our_version. */
static enum sync_status judge(const char *body, uint64_t our_version, const char *our_config)
{
    uint8_t ours[ENVELOPE_HASH_SIZE];
    hash_of(our_config, ours);
    struct sync_envelope env;
    char reason[256];
    enum sync_status status = sync_judge(&fx.server, our_version, ours, ours, body, strlen(body),
                                         &env, reason, sizeof(reason));
    if (status == SYNC_BAD_REQUEST || status == SYNC_UNAUTHORIZED)
        assert_true(reason[0] != '\0'); /* every refusal says why */
    if (status != SYNC_BAD_REQUEST)
        sync_envelope_free(&env);
    return status;
}

static enum sync_status judge_text(const char *body)
{
    return judge(body, 7, CONFIG_A);
}

/* body with the value of member name (a string) replaced by value. */
static char *with_member(const char *body, const char *name, const char *value)
{
    char key[64];
    snprintf(key, sizeof(key), "\"%s\":\"", name);
    const char *start = strstr(body, key);
    assert_non_null(start);
    start += strlen(key);
    const char *end = strchr(start, '"');
    size_t out_len = (size_t)(start - body) + strlen(value) + strlen(end) + 1;
    char *out = malloc(out_len);
    assert_non_null(out);
    snprintf(out, out_len, "%.*s%s%s", (int)(start - body), body, value, end);
    return out;
}

static void test_envelope_reads_only_the_octets_it_is_given(void **state)
{
    (void)state;
    /* A request body is not NUL-terminated: what lies after it in memory
     * (whitespace, then anything) is not part of it. */
    char *body = push_body(&fx.signer, 9, CONFIG_A);
    size_t len = strlen(body);
    char *buffer = malloc(len + 5);
    assert_non_null(buffer);
    memcpy(buffer, body, len);
    memcpy(buffer + len, "   x", 4);
    buffer[len + 4] = '\0';
    struct sync_envelope env;
    char reason[256];
    assert_int_equal(sync_envelope_parse(buffer, len, &env, reason, sizeof(reason)), 0);
    sync_envelope_free(&env);
    free(buffer);
    free(body);
}

/* ---- step 1: the envelope ---- */

static void test_envelope_round_trips(void **state)
{
    (void)state;
    char *body = push_body(&fx.signer, 9, CONFIG_A);
    struct sync_envelope env;
    char reason[256];
    assert_int_equal(sync_envelope_parse(body, strlen(body), &env, reason, sizeof(reason)), 0);
    assert_int_equal(env.version, 9);
    assert_int_equal(env.config_len, strlen(CONFIG_A));
    assert_memory_equal(env.config, CONFIG_A, strlen(CONFIG_A));
    assert_int_equal(env.config[env.config_len], '\0');
    assert_memory_equal(env.signer, fx.signer.public_key, 32);
    uint8_t hash[ENVELOPE_HASH_SIZE];
    hash_of(CONFIG_A, hash);
    assert_memory_equal(env.hash, hash, sizeof(hash));
    assert_true(envelope_verify_config(env.signer, 9, env.config, env.config_len, env.signature));
    sync_envelope_free(&env);
    free(body);
}

static void test_envelope_members_may_come_in_any_order_with_extras(void **state)
{
    (void)state;
    char *body = push_body(&fx.signer, 8, CONFIG_A);
    /* Rebuild it as a json-c reader would accept it, reordered. */
    struct sync_envelope env;
    char reason[256];
    assert_int_equal(sync_envelope_parse(body, strlen(body), &env, reason, sizeof(reason)), 0);
    char hex[65], signer[ENVELOPE_PUBLIC_KEY_TEXT], signature[ENVELOPE_SIGNATURE_TEXT];
    char config[256];
    sync_hash_hex(env.hash, hex);
    envelope_public_key_text(env.signer, signer);
    envelope_base64_encode(env.signature, ENVELOPE_SIGNATURE_SIZE, signature, sizeof(signature));
    envelope_base64_encode((const uint8_t *)CONFIG_A, strlen(CONFIG_A), config, sizeof(config));
    sync_envelope_free(&env);
    char text[1024];
    snprintf(text, sizeof(text),
             "\n{ \"config\": \"%s\", \"comment\": \"from the future\", \"signature\": \"%s\",\n"
             "  \"signer\": \"%s\", \"hash\": \"%s\", \"version\": 8 }\n",
             config, signature, signer, hex);
    assert_int_equal(judge(text, 7, CONFIG_B), SYNC_APPLY);
    free(body);
}

static void test_body_that_is_not_json_is_a_bad_request(void **state)
{
    (void)state;
    assert_int_equal(judge_text("version=8"), SYNC_BAD_REQUEST);
    assert_int_equal(judge_text("{\"version\": 8,"), SYNC_BAD_REQUEST);
}

static void test_empty_body_is_a_bad_request(void **state)
{
    (void)state;
    assert_int_equal(judge_text(""), SYNC_BAD_REQUEST);
}

static void test_body_that_is_not_an_object_is_a_bad_request(void **state)
{
    (void)state;
    assert_int_equal(judge_text("[1, 2]"), SYNC_BAD_REQUEST);
    assert_int_equal(judge_text("\"config\""), SYNC_BAD_REQUEST);
}

static void test_text_after_the_object_is_a_bad_request(void **state)
{
    (void)state;
    char *body = push_body(&fx.signer, 8, CONFIG_A);
    char text[2048];
    snprintf(text, sizeof(text), "%s{}", body);
    assert_int_equal(judge_text(text), SYNC_BAD_REQUEST);
    free(body);
}

static void test_each_missing_member_is_a_bad_request(void **state)
{
    (void)state;
    static const char *const MEMBERS[] = {"version", "hash", "signer", "signature", "config"};
    char *body = push_body(&fx.signer, 8, CONFIG_A);
    for (size_t i = 0; i < sizeof(MEMBERS) / sizeof(MEMBERS[0]); i++) {
        /* Rename the member: the body stays JSON, the member is gone. */
        char key[32];
        snprintf(key, sizeof(key), "\"%s\":", MEMBERS[i]);
        char *text = strdup(body);
        char *at = strstr(text, key);
        assert_non_null(at);
        at[1] = 'X';
        struct sync_envelope env;
        char reason[256];
        assert_int_equal(sync_envelope_parse(text, strlen(text), &env, reason, sizeof(reason)), -1);
        assert_non_null(strstr(reason, MEMBERS[i]));
        free(text);
    }
    free(body);
}

static void test_version_that_is_not_a_whole_number_is_a_bad_request(void **state)
{
    (void)state;
    char *body = push_body(&fx.signer, 8, CONFIG_A);
    static const char *const VERSIONS[] = {
        "-1", "8.5", "\"8\"", "null", "true", "9223372036854775807", "18446744073709551616"};
    for (size_t i = 0; i < sizeof(VERSIONS) / sizeof(VERSIONS[0]); i++) {
        char text[2048];
        const char *rest = strchr(body, ',');
        snprintf(text, sizeof(text), "{\"version\":%s%s", VERSIONS[i], rest);
        assert_int_equal(judge_text(text), SYNC_BAD_REQUEST);
    }
    free(body);
}

static void test_hash_that_is_not_64_hex_digits_is_a_bad_request(void **state)
{
    (void)state;
    char *body = push_body(&fx.signer, 8, CONFIG_A);
    /* 64 characters, but not hex digits. */
    static const char NOT_HEX[] = "zz00000000000000000000000000000000000000000000"
                                  "000000000000000000";
    static const char *const HASHES[] = {"", "abc", NOT_HEX};
    for (size_t i = 0; i < sizeof(HASHES) / sizeof(HASHES[0]); i++) {
        char *text = with_member(body, "hash", HASHES[i]);
        assert_int_equal(judge_text(text), SYNC_BAD_REQUEST);
        free(text);
    }
    free(body);
}

static void test_signer_that_is_not_a_public_key_is_a_bad_request(void **state)
{
    (void)state;
    char *body = push_body(&fx.signer, 8, CONFIG_A);
    char *text = with_member(body, "signer", "bm90IGEga2V5");
    assert_int_equal(judge_text(text), SYNC_BAD_REQUEST);
    free(text);
    free(body);
}

static void test_signature_of_the_wrong_length_is_a_bad_request(void **state)
{
    (void)state;
    char *body = push_body(&fx.signer, 8, CONFIG_A);
    char *text = with_member(body, "signature", "c2hvcnQ=");
    assert_int_equal(judge_text(text), SYNC_BAD_REQUEST);
    free(text);
    free(body);
}

static void test_config_that_is_not_base64_is_a_bad_request(void **state)
{
    (void)state;
    char *body = push_body(&fx.signer, 8, CONFIG_A);
    char *text = with_member(body, "config", "{not base64}");
    assert_int_equal(judge_text(text), SYNC_BAD_REQUEST);
    free(text);
    free(body);
}

/* ---- step 2: who signed what ---- */

static void test_push_from_a_listed_peer_is_accepted(void **state)
{
    (void)state;
    char *body = push_body(&fx.signer, 8, CONFIG_B);
    assert_int_equal(judge(body, 7, CONFIG_A), SYNC_APPLY);
    free(body);
}

static void test_push_signed_by_an_unknown_key_is_unauthorized(void **state)
{
    (void)state;
    char *body = push_body(&fx.stranger, 8, CONFIG_B);
    assert_int_equal(judge(body, 7, CONFIG_A), SYNC_UNAUTHORIZED);
    free(body);
}

static void test_push_from_a_plain_peer_is_unauthorized(void **state)
{
    (void)state;
    char *body = push_body(&fx.plain, 8, CONFIG_B);
    assert_int_equal(judge(body, 7, CONFIG_A), SYNC_UNAUTHORIZED);
    free(body);
}

static void test_push_claiming_a_listed_signer_it_was_not_signed_by_is_unauthorized(void **state)
{
    (void)state;
    /* Signed by a stranger, but says it is from the listed peer. */
    uint8_t signature[ENVELOPE_SIGNATURE_SIZE];
    envelope_sign_config(&fx.stranger, 8, CONFIG_B, strlen(CONFIG_B), signature);
    size_t len;
    char *body =
        sync_envelope_format(fx.signer.public_key, 8, signature, CONFIG_B, strlen(CONFIG_B), &len);
    assert_int_equal(judge(body, 7, CONFIG_A), SYNC_UNAUTHORIZED);
    free(body);
}

static void test_push_with_a_flipped_signature_bit_is_unauthorized(void **state)
{
    (void)state;
    uint8_t signature[ENVELOPE_SIGNATURE_SIZE];
    envelope_sign_config(&fx.signer, 8, CONFIG_B, strlen(CONFIG_B), signature);
    signature[10] ^= 0x04;
    size_t len;
    char *body =
        sync_envelope_format(fx.signer.public_key, 8, signature, CONFIG_B, strlen(CONFIG_B), &len);
    assert_int_equal(judge(body, 7, CONFIG_A), SYNC_UNAUTHORIZED);
    free(body);
}

static void test_push_replayed_under_another_version_is_unauthorized(void **state)
{
    (void)state;
    /* A signature made for version 8, presented as version 9. */
    uint8_t signature[ENVELOPE_SIGNATURE_SIZE];
    envelope_sign_config(&fx.signer, 8, CONFIG_B, strlen(CONFIG_B), signature);
    size_t len;
    char *body =
        sync_envelope_format(fx.signer.public_key, 9, signature, CONFIG_B, strlen(CONFIG_B), &len);
    assert_int_equal(judge(body, 7, CONFIG_A), SYNC_UNAUTHORIZED);
    free(body);
}

static void test_push_with_a_tampered_config_is_unauthorized(void **state)
{
    (void)state;
    /* Signed for CONFIG_B; carries CONFIG_A with CONFIG_A's hash. */
    uint8_t signature[ENVELOPE_SIGNATURE_SIZE];
    envelope_sign_config(&fx.signer, 8, CONFIG_B, strlen(CONFIG_B), signature);
    size_t len;
    char *body =
        sync_envelope_format(fx.signer.public_key, 8, signature, CONFIG_A, strlen(CONFIG_A), &len);
    assert_int_equal(judge(body, 7, CONFIG_B), SYNC_UNAUTHORIZED);
    free(body);
}

static void test_push_whose_hash_is_not_its_config_is_unauthorized(void **state)
{
    (void)state;
    char *body = push_body(&fx.signer, 8, CONFIG_B);
    uint8_t other[ENVELOPE_HASH_SIZE];
    char hex[65];
    hash_of(CONFIG_A, other);
    sync_hash_hex(other, hex);
    char *text = with_member(body, "hash", hex);
    assert_int_equal(judge(text, 7, CONFIG_A), SYNC_UNAUTHORIZED);
    free(text);
    free(body);
}

static void test_bad_signature_is_refused_before_the_version_is_looked_at(void **state)
{
    (void)state;
    /* Stale and unsigned: the answer gives nothing away about versions. */
    char *body = push_body(&fx.stranger, 3, CONFIG_B);
    assert_int_equal(judge(body, 7, CONFIG_A), SYNC_UNAUTHORIZED);
    free(body);
}

/* ---- steps 3 to 5: theirs against ours ---- */

static void test_lower_version_is_rejected_as_stale(void **state)
{
    (void)state;
    char *body = push_body(&fx.signer, 6, CONFIG_B);
    assert_int_equal(judge(body, 7, CONFIG_A), SYNC_REJECTED_STALE);
    free(body);
}

static void test_lower_version_of_the_same_config_is_still_stale(void **state)
{
    (void)state;
    char *body = push_body(&fx.signer, 6, CONFIG_A);
    assert_int_equal(judge(body, 7, CONFIG_A), SYNC_REJECTED_STALE);
    free(body);
}

static void test_same_version_and_hash_is_already_current(void **state)
{
    (void)state;
    char *body = push_body(&fx.signer, 7, CONFIG_A);
    assert_int_equal(judge(body, 7, CONFIG_A), SYNC_ALREADY_CURRENT);
    free(body);
}

static void test_same_version_with_the_larger_hash_applies(void **state)
{
    (void)state;
    uint8_t a[ENVELOPE_HASH_SIZE], b[ENVELOPE_HASH_SIZE];
    hash_of(CONFIG_A, a);
    hash_of(CONFIG_B, b);
    const char *winner = envelope_hash_wins(a, b) ? CONFIG_A : CONFIG_B;
    const char *loser = winner == CONFIG_A ? CONFIG_B : CONFIG_A;
    char *body = push_body(&fx.signer, 7, winner);
    assert_int_equal(judge(body, 7, loser), SYNC_APPLY);
    free(body);
}

static void test_same_version_with_the_smaller_hash_is_a_conflict(void **state)
{
    (void)state;
    uint8_t a[ENVELOPE_HASH_SIZE], b[ENVELOPE_HASH_SIZE];
    hash_of(CONFIG_A, a);
    hash_of(CONFIG_B, b);
    const char *winner = envelope_hash_wins(a, b) ? CONFIG_A : CONFIG_B;
    const char *loser = winner == CONFIG_A ? CONFIG_B : CONFIG_A;
    char *body = push_body(&fx.signer, 7, loser);
    assert_int_equal(judge(body, 7, winner), SYNC_REJECTED_CONFLICT);
    free(body);
}

static void test_higher_version_applies(void **state)
{
    (void)state;
    char *body = push_body(&fx.signer, 8, CONFIG_A);
    assert_int_equal(judge(body, 7, CONFIG_A), SYNC_APPLY);
    free(body);
}

static void test_a_step_of_exactly_2_to_the_20_applies(void **state)
{
    (void)state;
    uint8_t h[ENVELOPE_HASH_SIZE] = {0};
    assert_int_equal(sync_compare(5, h, 5 + SYNC_VERSION_STEP_MAX, h), SYNC_APPLY);
}

static void test_a_step_above_2_to_the_20_is_refused_as_too_far(void **state)
{
    (void)state;
    uint8_t h[ENVELOPE_HASH_SIZE] = {0};
    assert_int_equal(sync_compare(5, h, 5 + SYNC_VERSION_STEP_MAX + 1, h), SYNC_REJECTED_TOO_FAR);
    assert_string_equal(sync_status_name(SYNC_REJECTED_TOO_FAR), "rejected_too_far");
}

static void test_a_push_near_2_to_the_63_is_refused_as_too_far(void **state)
{
    (void)state;
    char *body = push_body(&fx.signer, (UINT64_C(1) << 63) - 2, CONFIG_A);
    assert_int_equal(judge(body, 7, CONFIG_A), SYNC_REJECTED_TOO_FAR);
    free(body);
}

/* ---- node-local settings (sync_local.c) ---- */

static char *keep_local(const char *theirs, const char *ours)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(sync_local_keep(theirs, strlen(theirs), ours, strlen(ours), &out, &len), 0);
    assert_int_equal(strlen(out), len);
    return out;
}

static void test_a_peers_node_local_values_are_replaced_by_ours(void **state)
{
    (void)state;
    char *out = keep_local("{\n  \"server\": {\n    \"allow_recursion\": [\"0.0.0.0/0\"],\n"
                           "    \"config_version\": 9,\n    \"mgmt_port\": 1\n  },\n"
                           "  \"records\": []\n}\n",
                           "{\"server\": {\"mgmt_port\": 9053, \"allow_recursion\": "
                           "[\"10.0.0.0/8\"], \"config_version\": 3}}");
    assert_string_equal(out, "{\n  \"server\": {\n    \"allow_recursion\": [\"10.0.0.0/8\"],\n"
                             "    \"config_version\": 9,\n    \"mgmt_port\": 9053\n  },\n"
                             "  \"records\": []\n}\n");
    free(out);
}

static void test_a_node_local_member_we_lack_is_removed_wherever_it_stands(void **state)
{
    (void)state;
    const char *ours = "{\"server\": {\"config_version\": 1}}";
    char *out = keep_local("{\"server\": {\"sync_key\": \"/x\", \"config_version\": 9}}", ours);
    assert_string_equal(out, "{\"server\": {\"config_version\": 9}}");
    free(out);
    out = keep_local("{\"server\": {\"config_version\": 9, \"peers\": [{\"address\": \"a:1\"}]}}",
                     ours);
    assert_string_equal(out, "{\"server\": {\"config_version\": 9}}");
    free(out);
    out = keep_local("{\"server\": {\"user\": \"root\"}, \"records\": []}", ours);
    assert_string_equal(out, "{\"server\": {}, \"records\": []}");
    free(out);
}

static void test_every_copy_of_a_duplicated_node_local_member_is_removed(void **state)
{
    (void)state;
    char *out = keep_local("{\"server\": {\"allow_recursion\": [\"0.0.0.0/0\"], "
                           "\"allow_recursion\": [\"0.0.0.0/0\"], \"config_version\": 9}}",
                           "{\"server\": {\"config_version\": 1}}");
    assert_string_equal(out, "{\"server\": {\"config_version\": 9}}");
    free(out);
}

static void test_a_node_local_member_spelt_with_escapes_is_still_found(void **state)
{
    (void)state;
    char *out = keep_local("{\"server\": {\"allow_recursi\\u006fn\": [\"0.0.0.0/0\"], "
                           "\"config_version\": 9}}",
                           "{\"server\": {\"config_version\": 1}}");
    assert_string_equal(out, "{\"server\": {\"config_version\": 9}}");
    free(out);
}

static void test_a_node_local_member_they_lack_is_added_with_our_value(void **state)
{
    (void)state;
    char *out = keep_local("{\n  \"server\": {\n    \"config_version\": 9\n  }\n}",
                           "{\"server\": {\"sync_key\": \"node.key\", \"config_version\": 3}}");
    assert_string_equal(out, "{\n  \"server\": {\n    \"sync_key\": \"node.key\",\n"
                             "    \"config_version\": 9\n  }\n}");
    free(out);
}

static void test_what_names_answer_comes_from_the_peer(void **state)
{
    (void)state;
    char *out = keep_local("{\"server\": {\"upstream\": [\"192.0.2.1\"], \"config_version\": 9}}",
                           "{\"server\": {\"upstream\": [\"192.0.2.2\"], \"config_version\": 3}}");
    assert_string_equal(out,
                        "{\"server\": {\"upstream\": [\"192.0.2.1\"], \"config_version\": 9}}");
    free(out);
}

static void test_a_peer_config_that_is_not_an_object_is_refused(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len;
    assert_int_equal(sync_local_keep("[1]", 3, "{}", 2, &out, &len), -1);
    assert_int_equal(sync_local_keep("{\"server\":", 10, "{}", 2, &out, &len), -1);
    assert_null(out);
}

static void test_node_local_settings_leave_the_shared_digest_alone(void **state)
{
    (void)state;
    const char *a = "{\"server\": {\"mgmt_port\": 1, \"config_version\": 4}, \"records\": []}";
    const char *b = "{\"records\": [], \"server\": {\"peers\": [], \"config_version\": 4}}";
    const char *c = "{\"records\": [{\"name\": \"x\"}], \"server\": {\"config_version\": 4}}";
    assert_true(sync_same_shared(a, strlen(a), b, strlen(b)));
    assert_false(sync_same_shared(a, strlen(a), c, strlen(c)));
}

static size_t local_key_index(const char *name)
{
    for (size_t i = 0; i < SYNC_LOCAL_KEY_COUNT; i++)
        if (strcmp(SYNC_LOCAL_KEYS[i], name) == 0)
            return i;
    fail_msg("%s is not node-local", name);
    return 0;
}

static void test_local_differences_name_the_settings_set_otherwise(void **state)
{
    (void)state;
    const char *a = "{\"server\": {\"log_level\": \"DEBUG\", \"peers\": [], "
                    "\"upstream\": [\"192.0.2.1\"]}}";
    const char *b = "{\"server\": {\"peers\": [], \"user\": \"dns\"}}";
    uint32_t d = sync_local_differences(a, strlen(a), b, strlen(b));
    uint32_t want =
        (UINT32_C(1) << local_key_index("log_level")) | (UINT32_C(1) << local_key_index("user"));
    assert_int_equal(d, want);
    assert_int_equal(sync_local_differences(a, strlen(a), a, strlen(a)), 0);
}

static void test_a_tie_settles_the_same_way_on_both_sides(void **state)
{
    (void)state;
    uint8_t a[ENVELOPE_HASH_SIZE], b[ENVELOPE_HASH_SIZE];
    hash_of(CONFIG_A, a);
    hash_of(CONFIG_B, b);
    enum sync_status at_a = sync_compare(7, a, 7, b); /* b pushed to a node on a */
    enum sync_status at_b = sync_compare(7, b, 7, a); /* a pushed to a node on b */
    /* Exactly one side takes the other's: both end on the same config. */
    assert_true((at_a == SYNC_APPLY) != (at_b == SYNC_APPLY));
    assert_true(at_a == SYNC_REJECTED_CONFLICT || at_b == SYNC_REJECTED_CONFLICT);
}

static void test_status_names_are_the_answers(void **state)
{
    (void)state;
    assert_string_equal(sync_status_name(SYNC_BAD_REQUEST), "bad_request");
    assert_string_equal(sync_status_name(SYNC_UNAUTHORIZED), "unauthorized");
    assert_string_equal(sync_status_name(SYNC_REJECTED_STALE), "rejected_stale");
    assert_string_equal(sync_status_name(SYNC_ALREADY_CURRENT), "already_current");
    assert_string_equal(sync_status_name(SYNC_REJECTED_CONFLICT), "rejected_conflict");
    assert_string_equal(sync_status_name(SYNC_APPLY), "applied");
}

/* ---- members and hashes ---- */

static void test_member_is_found_by_its_key_and_plain_peers_never(void **state)
{
    (void)state;
    assert_int_equal(sync_member_find(&fx.server, fx.signer.public_key), 0);
    assert_int_equal(sync_member_find(&fx.server, fx.self.public_key), 2);
    assert_int_equal(sync_member_find(&fx.server, fx.plain.public_key), -1);
    assert_int_equal(sync_member_find(&fx.server, fx.stranger.public_key), -1);
}

static void test_hash_hex_is_lowercase_and_parses_back(void **state)
{
    (void)state;
    uint8_t hash[ENVELOPE_HASH_SIZE], back[ENVELOPE_HASH_SIZE];
    char hex[65];
    hash_of(CONFIG_A, hash);
    sync_hash_hex(hash, hex);
    assert_int_equal(strlen(hex), 64);
    for (size_t i = 0; i < 64; i++)
        assert_true((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'));
    assert_int_equal(sync_hash_parse(hex, back), 0);
    assert_memory_equal(hash, back, sizeof(hash));
    hex[63] = '\0';
    assert_int_equal(sync_hash_parse(hex, back), -1);
}

/* ---- signed POST /reload ---- */

/* A POST path signed by key at when for the node whose key is target. */
static void sign_request(const struct envelope_key *key, uint64_t when, const char *path,
                         const uint8_t *target, struct sync_request_headers *out)
{
    sync_request_sign(key, target, when, "POST", path, out);
}

static struct sync_request_text text_of(const struct sync_request_headers *r)
{
    return (struct sync_request_text){.signer = r->signer,
                                      .time = r->time,
                                      .nonce = r->nonce,
                                      .target = r->target,
                                      .signature = r->signature};
}

/* sync_request_check of text on this node (fx.self) for POST /reload. */
static int check_text(const struct sync_request_text *text, struct sync_request_signed *out)
{
    char reason[256] = "";
    int rc = sync_request_check(&fx.server, fx.self.public_key, text, NOW, "POST", "/reload", out,
                                reason, sizeof(reason));
    if (rc < 0)
        assert_true(reason[0] != '\0');
    return rc;
}

static int check(const struct sync_request_headers *r)
{
    struct sync_request_text text = text_of(r);
    struct sync_request_signed out;
    return check_text(&text, &out);
}

static void test_reload_signed_by_a_listed_key_is_allowed(void **state)
{
    (void)state;
    struct sync_request_headers r;
    sign_request(&fx.self, NOW - 10, "/reload", fx.self.public_key, &r);
    assert_int_equal(check(&r), 0);
    sign_request(&fx.signer, NOW, "/reload", fx.self.public_key, &r);
    assert_int_equal(check(&r), 0);
}

static void test_a_checked_request_gives_its_signer_nonce_and_time(void **state)
{
    (void)state;
    struct sync_request_headers r;
    sign_request(&fx.signer, NOW - 10, "/reload", fx.self.public_key, &r);
    struct sync_request_text text = text_of(&r);
    struct sync_request_signed out;
    assert_int_equal(check_text(&text, &out), 0);
    assert_memory_equal(out.signer, fx.signer.public_key, ENVELOPE_PUBLIC_KEY_SIZE);
    assert_int_equal(out.time, NOW - 10);
    uint8_t nonce[ENVELOPE_NONCE_SIZE];
    assert_int_equal(envelope_base64_decode(r.nonce, nonce, sizeof(nonce)), ENVELOPE_NONCE_SIZE);
    assert_memory_equal(out.nonce, nonce, ENVELOPE_NONCE_SIZE);
}

static void test_each_signed_request_has_a_new_nonce(void **state)
{
    (void)state;
    struct sync_request_headers a, b;
    sign_request(&fx.signer, NOW, "/reload", fx.self.public_key, &a);
    sign_request(&fx.signer, NOW, "/reload", fx.self.public_key, &b);
    assert_string_not_equal(a.nonce, b.nonce);
}

/* Issue 12, finding 3: a request made for one node is refused by another. */
static void test_reload_signed_for_another_node_is_refused(void **state)
{
    (void)state;
    struct sync_request_headers r;
    sign_request(&fx.signer, NOW, "/reload", fx.signer.public_key, &r);
    assert_int_equal(check(&r), -1);
    /* and a target changed after signing does not verify */
    sign_request(&fx.signer, NOW, "/reload", fx.signer.public_key, &r);
    envelope_public_key_text(fx.self.public_key, r.target);
    assert_int_equal(check(&r), -1);
}

static void test_a_node_without_a_key_takes_no_signed_request(void **state)
{
    (void)state;
    struct sync_request_headers r;
    sign_request(&fx.signer, NOW, "/reload", fx.self.public_key, &r);
    struct sync_request_text text = text_of(&r);
    struct sync_request_signed out;
    char reason[256];
    assert_int_equal(sync_request_check(&fx.server, NULL, &text, NOW, "POST", "/reload", &out,
                                        reason, sizeof(reason)),
                     -1);
}

static void test_reload_with_another_nonce_than_signed_is_refused(void **state)
{
    (void)state;
    struct sync_request_headers r, other;
    sign_request(&fx.signer, NOW, "/reload", fx.self.public_key, &r);
    sign_request(&fx.signer, NOW, "/reload", fx.self.public_key, &other);
    memcpy(r.nonce, other.nonce, sizeof(r.nonce));
    assert_int_equal(check(&r), -1);
}

static void test_reload_signed_by_an_unlisted_key_is_refused(void **state)
{
    (void)state;
    struct sync_request_headers r;
    sign_request(&fx.stranger, NOW, "/reload", fx.self.public_key, &r);
    assert_int_equal(check(&r), -1);
    sign_request(&fx.plain, NOW, "/reload", fx.self.public_key, &r);
    assert_int_equal(check(&r), -1);
}

static void test_reload_signed_too_long_ago_is_refused(void **state)
{
    (void)state;
    struct sync_request_headers r;
    sign_request(&fx.signer, NOW - ENVELOPE_REQUEST_WINDOW_S - 1, "/reload", fx.self.public_key,
                 &r);
    assert_int_equal(check(&r), -1);
}

static void test_reload_signed_for_another_path_is_refused(void **state)
{
    (void)state;
    struct sync_request_headers r;
    sign_request(&fx.signer, NOW, "/sync", fx.self.public_key, &r);
    assert_int_equal(check(&r), -1);
}

static void test_reload_with_another_time_than_signed_is_refused(void **state)
{
    (void)state;
    struct sync_request_headers r;
    sign_request(&fx.signer, NOW, "/reload", fx.self.public_key, &r);
    snprintf(r.time, sizeof(r.time), "%u", NOW + 1);
    assert_int_equal(check(&r), -1);
}

static void test_reload_with_a_missing_or_malformed_header_is_refused(void **state)
{
    (void)state;
    struct sync_request_headers r;
    sign_request(&fx.signer, NOW, "/reload", fx.self.public_key, &r);
    struct sync_request_signed out;
    const struct sync_request_text good = text_of(&r);
    struct sync_request_text t;
    t = good, t.signer = NULL;
    assert_int_equal(check_text(&t, &out), -1);
    t = good, t.time = NULL;
    assert_int_equal(check_text(&t, &out), -1);
    t = good, t.nonce = NULL;
    assert_int_equal(check_text(&t, &out), -1);
    t = good, t.target = NULL;
    assert_int_equal(check_text(&t, &out), -1);
    t = good, t.signature = NULL;
    assert_int_equal(check_text(&t, &out), -1);
    t = good, t.time = "soon";
    assert_int_equal(check_text(&t, &out), -1);
    t = good, t.time = "-5";
    assert_int_equal(check_text(&t, &out), -1);
    t = good, t.signer = "not a key";
    assert_int_equal(check_text(&t, &out), -1);
    t = good, t.nonce = "AAAA"; /* 3 octets */
    assert_int_equal(check_text(&t, &out), -1);
    t = good, t.target = "not a key";
    assert_int_equal(check_text(&t, &out), -1);
    assert_int_equal(check_text(&good, &out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_envelope_round_trips, setup),
        cmocka_unit_test_setup(test_envelope_reads_only_the_octets_it_is_given, setup),
        cmocka_unit_test_setup(test_envelope_members_may_come_in_any_order_with_extras, setup),
        cmocka_unit_test_setup(test_body_that_is_not_json_is_a_bad_request, setup),
        cmocka_unit_test_setup(test_empty_body_is_a_bad_request, setup),
        cmocka_unit_test_setup(test_body_that_is_not_an_object_is_a_bad_request, setup),
        cmocka_unit_test_setup(test_text_after_the_object_is_a_bad_request, setup),
        cmocka_unit_test_setup(test_each_missing_member_is_a_bad_request, setup),
        cmocka_unit_test_setup(test_version_that_is_not_a_whole_number_is_a_bad_request, setup),
        cmocka_unit_test_setup(test_hash_that_is_not_64_hex_digits_is_a_bad_request, setup),
        cmocka_unit_test_setup(test_signer_that_is_not_a_public_key_is_a_bad_request, setup),
        cmocka_unit_test_setup(test_signature_of_the_wrong_length_is_a_bad_request, setup),
        cmocka_unit_test_setup(test_config_that_is_not_base64_is_a_bad_request, setup),
        cmocka_unit_test_setup(test_push_from_a_listed_peer_is_accepted, setup),
        cmocka_unit_test_setup(test_push_signed_by_an_unknown_key_is_unauthorized, setup),
        cmocka_unit_test_setup(test_push_from_a_plain_peer_is_unauthorized, setup),
        cmocka_unit_test_setup(
            test_push_claiming_a_listed_signer_it_was_not_signed_by_is_unauthorized, setup),
        cmocka_unit_test_setup(test_push_with_a_flipped_signature_bit_is_unauthorized, setup),
        cmocka_unit_test_setup(test_push_replayed_under_another_version_is_unauthorized, setup),
        cmocka_unit_test_setup(test_push_with_a_tampered_config_is_unauthorized, setup),
        cmocka_unit_test_setup(test_push_whose_hash_is_not_its_config_is_unauthorized, setup),
        cmocka_unit_test_setup(test_bad_signature_is_refused_before_the_version_is_looked_at,
                               setup),
        cmocka_unit_test_setup(test_lower_version_is_rejected_as_stale, setup),
        cmocka_unit_test_setup(test_lower_version_of_the_same_config_is_still_stale, setup),
        cmocka_unit_test_setup(test_same_version_and_hash_is_already_current, setup),
        cmocka_unit_test_setup(test_same_version_with_the_larger_hash_applies, setup),
        cmocka_unit_test_setup(test_same_version_with_the_smaller_hash_is_a_conflict, setup),
        cmocka_unit_test_setup(test_higher_version_applies, setup),
        cmocka_unit_test_setup(test_a_tie_settles_the_same_way_on_both_sides, setup),
        cmocka_unit_test_setup(test_a_step_of_exactly_2_to_the_20_applies, setup),
        cmocka_unit_test_setup(test_a_step_above_2_to_the_20_is_refused_as_too_far, setup),
        cmocka_unit_test_setup(test_a_push_near_2_to_the_63_is_refused_as_too_far, setup),
        cmocka_unit_test_setup(test_a_peers_node_local_values_are_replaced_by_ours, setup),
        cmocka_unit_test_setup(test_a_node_local_member_we_lack_is_removed_wherever_it_stands,
                               setup),
        cmocka_unit_test_setup(test_a_node_local_member_they_lack_is_added_with_our_value, setup),
        cmocka_unit_test_setup(test_a_node_local_member_spelt_with_escapes_is_still_found, setup),
        cmocka_unit_test_setup(test_every_copy_of_a_duplicated_node_local_member_is_removed, setup),
        cmocka_unit_test_setup(test_what_names_answer_comes_from_the_peer, setup),
        cmocka_unit_test_setup(test_a_peer_config_that_is_not_an_object_is_refused, setup),
        cmocka_unit_test_setup(test_node_local_settings_leave_the_shared_digest_alone, setup),
        cmocka_unit_test_setup(test_local_differences_name_the_settings_set_otherwise, setup),
        cmocka_unit_test_setup(test_status_names_are_the_answers, setup),
        cmocka_unit_test_setup(test_member_is_found_by_its_key_and_plain_peers_never, setup),
        cmocka_unit_test_setup(test_hash_hex_is_lowercase_and_parses_back, setup),
        cmocka_unit_test_setup(test_reload_signed_by_a_listed_key_is_allowed, setup),
        cmocka_unit_test_setup(test_a_checked_request_gives_its_signer_nonce_and_time, setup),
        cmocka_unit_test_setup(test_each_signed_request_has_a_new_nonce, setup),
        cmocka_unit_test_setup(test_reload_signed_for_another_node_is_refused, setup),
        cmocka_unit_test_setup(test_a_node_without_a_key_takes_no_signed_request, setup),
        cmocka_unit_test_setup(test_reload_with_another_nonce_than_signed_is_refused, setup),
        cmocka_unit_test_setup(test_reload_signed_by_an_unlisted_key_is_refused, setup),
        cmocka_unit_test_setup(test_reload_signed_too_long_ago_is_refused, setup),
        cmocka_unit_test_setup(test_reload_signed_for_another_path_is_refused, setup),
        cmocka_unit_test_setup(test_reload_with_another_time_than_signed_is_refused, setup),
        cmocka_unit_test_setup(test_reload_with_a_missing_or_malformed_header_is_refused, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
