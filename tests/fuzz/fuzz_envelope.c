/* libFuzzer target: signed envelopes from arbitrary octets. The first
 * octet picks what the rest is:
 *   even: a POST /sync body, parsed (sync_envelope_parse) and, when it
 *         parses, its config signature and hash checked (common/envelope.c);
 *   odd:  a signed request's fields, NUL-separated: signer, time,
 *         signature, method, path; decoded and verified as sync.c does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "sync.h"

/* The next NUL-separated field of data[*at..size), copied NUL-terminated
 * into out (at most out_size - 1 octets). */
static void next_field(const uint8_t *data, size_t size, size_t *at, char *out, size_t out_size)
{
    size_t n = 0;
    while (*at < size && data[*at] != '\0') {
        if (n + 1 < out_size)
            out[n++] = (char)data[*at];
        (*at)++;
    }
    if (*at < size)
        (*at)++; /* the NUL */
    out[n] = '\0';
}

static void fuzz_config_envelope(const uint8_t *data, size_t size)
{
    struct sync_envelope env;
    char reason[256];
    if (sync_envelope_parse((const char *)data, size, &env, reason, sizeof(reason)) < 0)
        return;
    uint8_t hash[ENVELOPE_HASH_SIZE];
    envelope_config_hash(env.config, env.config_len, hash);
    (void)envelope_hash_wins(hash, env.hash);
    (void)envelope_verify_config(env.signer, env.version, env.config, env.config_len,
                                 env.signature);
    sync_envelope_free(&env);
}

static void fuzz_signed_request(const uint8_t *data, size_t size)
{
    char signer[128], time_text[32], signature[256], method[16], path[512];
    size_t at = 0;
    next_field(data, size, &at, signer, sizeof(signer));
    next_field(data, size, &at, time_text, sizeof(time_text));
    next_field(data, size, &at, signature, sizeof(signature));
    next_field(data, size, &at, method, sizeof(method));
    next_field(data, size, &at, path, sizeof(path));

    uint8_t key[ENVELOPE_PUBLIC_KEY_SIZE];
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE + 3];
    if (envelope_public_key_parse(signer, key) < 0)
        return;
    char *end = NULL;
    unsigned long long when = strtoull(time_text, &end, 10);
    if (envelope_base64_decode(signature, sig, sizeof(sig)) != ENVELOPE_SIGNATURE_SIZE)
        return;
    struct envelope_request request = {.time = (uint64_t)when, .method = method, .path = path};
    memcpy(request.nonce, sig, ENVELOPE_NONCE_SIZE); /* any octets will do */
    memcpy(request.target, key, ENVELOPE_PUBLIC_KEY_SIZE);
    (void)envelope_verify_request(key, &request, (uint64_t)when + (data[0] & 0x7f), sig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    if ((data[0] & 1) == 0)
        fuzz_config_envelope(data + 1, size - 1);
    else
        fuzz_signed_request(data + 1, size - 1);
    return 0;
}
