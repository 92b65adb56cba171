/* Signed cluster sync: Ed25519 keys (libsodium), the signed config envelope, signed requests.
 * Pure functions over caller-owned buffers, plus reading and writing key files; no state. */
#ifndef NANODNS_ENVELOPE_H
#define NANODNS_ENVELOPE_H

/* The envelope is what a node pushes to its peers and attaches to
 * /config/raw.
 *
 * What is signed, always under a fixed context string so a signature made
 * for one purpose never verifies for another:
 *   config:  "nanodns-sync-v1" NUL | version (u64 big-endian) | SHA-256 of
 *            the config bytes (32) | signer public key (32) | config bytes
 *   request: "nanodns-request-v2" NUL | unix time (u64 big-endian) | nonce
 *            (16) | signer public key (32) | target public key (32) |
 *            method NUL | path  (a signed POST /reload or GET /config/raw)
 * A request names the node it is for (target: that node's public key, the
 * same id as a signer) and carries a random nonce, so that it is good on
 * one node, once (the node remembers the nonces it took within the time
 * window: controlplane/replay_cache.h). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_PUBLIC_KEY_SIZE 32
#define ENVELOPE_SECRET_KEY_SIZE 64 /* libsodium's: seed and public key */
#define ENVELOPE_SIGNATURE_SIZE 64
#define ENVELOPE_HASH_SIZE 32
/* Base64 (standard alphabet, padded) of a public key: 44 characters. */
#define ENVELOPE_PUBLIC_KEY_TEXT 45
#define ENVELOPE_SIGNATURE_TEXT 89
/* How far a signed request's time may be from ours. */
#define ENVELOPE_REQUEST_WINDOW_S 300
/* A signed request's nonce: random, so that no two requests share one. */
#define ENVELOPE_NONCE_SIZE 16
#define ENVELOPE_NONCE_TEXT 25 /* base64 and the NUL */

struct envelope_key {
    uint8_t public_key[ENVELOPE_PUBLIC_KEY_SIZE];
    uint8_t secret_key[ENVELOPE_SECRET_KEY_SIZE];
};

/* A new key pair. */
void envelope_key_generate(struct envelope_key *key);

/* Key files hold one line: "nanodns-ed25519-secret-key " and the base64 of
 * the 64-octet secret key. Written with mode 0600 (atomically); reading
 * refuses a file that others can read or write. Returns 0, or -1 with a
 * message in err. */
int envelope_key_write(const char *path, const struct envelope_key *key, char *err, size_t err_len);
int envelope_key_read(const char *path, struct envelope_key *key, char *err, size_t err_len);

/* Base64 of a public key into text (ENVELOPE_PUBLIC_KEY_TEXT octets), and
 * back (0, or -1 when it is not 32 octets of base64). */
void envelope_public_key_text(const uint8_t key[ENVELOPE_PUBLIC_KEY_SIZE], char *text);
int envelope_public_key_parse(const char *text, uint8_t key[ENVELOPE_PUBLIC_KEY_SIZE]);

/* SHA-256 of the config bytes. */
void envelope_config_hash(const void *config, size_t len, uint8_t hash[ENVELOPE_HASH_SIZE]);

/* Sign config bytes at version with key (the signer is key->public_key). */
void envelope_sign_config(const struct envelope_key *key, uint64_t version, const void *config,
                          size_t len, uint8_t signature[ENVELOPE_SIGNATURE_SIZE]);

/* Check a config signature by signer: true only when signature is valid
 * for exactly these version, bytes and signer. (Whether signer is a member
 * is the caller's question.) */
bool envelope_verify_config(const uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE], uint64_t version,
                            const void *config, size_t len,
                            const uint8_t signature[ENVELOPE_SIGNATURE_SIZE]);

/* What a signed request says, besides its signer. The strings are the
 * caller's. */
struct envelope_request {
    uint64_t time; /* unix seconds when it was made */
    uint8_t nonce[ENVELOPE_NONCE_SIZE];
    uint8_t target[ENVELOPE_PUBLIC_KEY_SIZE]; /* the public key of the node it is for */
    const char *method;
    const char *path;
};

/* A fresh random nonce. */
void envelope_nonce_generate(uint8_t nonce[ENVELOPE_NONCE_SIZE]);

/* Sign / check a request. Verification also refuses a time more than
 * ENVELOPE_REQUEST_WINDOW_S from now; whether the target is this node and
 * the nonce new are the caller's questions. */
void envelope_sign_request(const struct envelope_key *key, const struct envelope_request *request,
                           uint8_t signature[ENVELOPE_SIGNATURE_SIZE]);
bool envelope_verify_request(const uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE],
                             const struct envelope_request *request, uint64_t now,
                             const uint8_t signature[ENVELOPE_SIGNATURE_SIZE]);

/* Base64 of binary data into text (text_size must hold it and the NUL);
 * and back: returns the decoded length, or -1. */
int envelope_base64_encode(const uint8_t *data, size_t len, char *text, size_t text_size);
int envelope_base64_decode(const char *text, uint8_t *out, size_t out_size);

/* Which of two configs of the same version wins, the same way on every
 * node: the larger hash (compared as octets). */
bool envelope_hash_wins(const uint8_t a[ENVELOPE_HASH_SIZE], const uint8_t b[ENVELOPE_HASH_SIZE]);

#endif
