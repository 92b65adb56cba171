/* Signed cluster sync (see envelope.h): Ed25519 over the signed message,
 * built in one buffer. Ed25519 reads its message twice (RFC 8032 §5.1.6:
 * once for the nonce, once for the challenge), so it cannot be streamed
 * without switching to Ed25519ph; one copy of the config is the price. */
#include "envelope.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"

/* The context strings, NUL included: a signature made for one kind of
 * message never verifies as the other. */
static const char CONFIG_CONTEXT[] = "nanodns-sync-v1";
static const char REQUEST_CONTEXT[] = "nanodns-request-v2";

#define KEY_FILE_PREFIX "nanodns-ed25519-secret-key "
#define KEY_FILE_MODE 0600
/* A key file is one short line; anything much longer is not one. */
#define KEY_FILE_MAX 1024

static void sodium_ready(void)
{
    /* Idempotent and thread-safe. It fails only when the system has no
     * entropy source, and then no key can be made safely: libsodium's
     * own advice is to stop. */
    if (sodium_init() < 0)
        abort();
}

static uint8_t *put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
    return p + 8;
}

/* The config message: context | version | SHA-256(config) | signer | config.
 * malloc'd; NULL when out of memory. */
static uint8_t *config_message(const uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE], uint64_t version,
                               const void *config, size_t len, size_t *message_len)
{
    size_t prefix = sizeof(CONFIG_CONTEXT) + 8 + ENVELOPE_HASH_SIZE + ENVELOPE_PUBLIC_KEY_SIZE;
    if (len > SIZE_MAX - prefix)
        return NULL;
    uint8_t *message = malloc(prefix + len);
    if (message == NULL)
        return NULL;
    uint8_t *p = message;
    memcpy(p, CONFIG_CONTEXT, sizeof(CONFIG_CONTEXT));
    p = put_u64(p + sizeof(CONFIG_CONTEXT), version);
    envelope_config_hash(config, len, p);
    p += ENVELOPE_HASH_SIZE;
    memcpy(p, signer, ENVELOPE_PUBLIC_KEY_SIZE);
    p += ENVELOPE_PUBLIC_KEY_SIZE;
    if (len > 0)
        memcpy(p, config, len);
    *message_len = prefix + len;
    return message;
}

/* The request message: context | time | nonce | signer | target |
 * method NUL | path. */
static uint8_t *request_message(const uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE],
                                const struct envelope_request *request, size_t *message_len)
{
    size_t method_len = strlen(request->method) + 1, path_len = strlen(request->path);
    size_t len = sizeof(REQUEST_CONTEXT) + 8 + ENVELOPE_NONCE_SIZE + 2 * ENVELOPE_PUBLIC_KEY_SIZE +
                 method_len + path_len;
    uint8_t *message = malloc(len);
    if (message == NULL)
        return NULL;
    uint8_t *p = message;
    memcpy(p, REQUEST_CONTEXT, sizeof(REQUEST_CONTEXT));
    p = put_u64(p + sizeof(REQUEST_CONTEXT), request->time);
    memcpy(p, request->nonce, ENVELOPE_NONCE_SIZE);
    p += ENVELOPE_NONCE_SIZE;
    memcpy(p, signer, ENVELOPE_PUBLIC_KEY_SIZE);
    p += ENVELOPE_PUBLIC_KEY_SIZE;
    memcpy(p, request->target, ENVELOPE_PUBLIC_KEY_SIZE);
    p += ENVELOPE_PUBLIC_KEY_SIZE;
    memcpy(p, request->method, method_len);
    memcpy(p + method_len, request->path, path_len);
    *message_len = len;
    return message;
}

static void sign(const struct envelope_key *key, uint8_t *message, size_t len,
                 uint8_t signature[ENVELOPE_SIGNATURE_SIZE])
{
    /* Out of memory: an all-zero signature, which no peer accepts, so the
     * failure shows up as a refused push rather than a crash. */
    if (message == NULL) {
        memset(signature, 0, ENVELOPE_SIGNATURE_SIZE);
        return;
    }
    sodium_ready();
    crypto_sign_detached(signature, NULL, message, len, key->secret_key);
    free(message);
}

static bool verify(const uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE], uint8_t *message, size_t len,
                   const uint8_t signature[ENVELOPE_SIGNATURE_SIZE])
{
    if (message == NULL)
        return false;
    sodium_ready();
    bool ok = crypto_sign_verify_detached(signature, message, len, signer) == 0;
    free(message);
    return ok;
}

void envelope_key_generate(struct envelope_key *key)
{
    sodium_ready();
    crypto_sign_keypair(key->public_key, key->secret_key);
}

int envelope_key_write(const char *path, const struct envelope_key *key, char *err, size_t err_len)
{
    char line[sizeof(KEY_FILE_PREFIX) +
              sodium_base64_ENCODED_LEN(ENVELOPE_SECRET_KEY_SIZE, sodium_base64_VARIANT_ORIGINAL) +
              1];
    size_t prefix = sizeof(KEY_FILE_PREFIX) - 1;
    memcpy(line, KEY_FILE_PREFIX, prefix);
    sodium_bin2base64(line + prefix, sizeof(line) - prefix, key->secret_key,
                      ENVELOPE_SECRET_KEY_SIZE, sodium_base64_VARIANT_ORIGINAL);
    size_t len = strlen(line);
    line[len++] = '\n';
    int rc = atomic_file_write(path, line, len, KEY_FILE_MODE, err, err_len);
    sodium_memzero(line, sizeof(line));
    return rc;
}

/* The file's contents, refusing what cannot be a private key file. */
static int key_file_load(const char *path, char *text, size_t text_size, size_t *len, char *err,
                         size_t err_len)
{
    /* Non-blocking: a FIFO (or a device) named as the key file must not
     * hang the control plane in open(); it is refused just below. Not
     * O_NOFOLLOW: mounted secrets (Kubernetes) are symbolic links. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        error_set(err, err_len, "cannot open the key file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        error_set(err, err_len, "cannot stat the key file %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        error_set(err, err_len, "the key file %s is not a regular file", path);
        close(fd);
        return -1;
    }
    /* As ssh does: a secret anyone else can read is no longer a secret,
     * and one they can write lets them choose our key. */
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        error_set(err, err_len,
                  "the key file %s has mode %04o: group and others must have no access to a "
                  "secret key; fix it with: chmod 600 %s",
                  path, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return -1;
    }
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fd, text + used, text_size - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error_set(err, err_len, "cannot read the key file %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        used += (size_t)n;
        if (used == text_size - 1) {
            error_set(err, err_len, "%s is not a NanoDNS key file (too long)", path);
            close(fd);
            return -1;
        }
    }
    close(fd);
    text[used] = '\0';
    *len = used;
    return 0;
}

int envelope_key_read(const char *path, struct envelope_key *key, char *err, size_t err_len)
{
    char text[KEY_FILE_MAX];
    size_t len;
    int rc = -1;
    if (key_file_load(path, text, sizeof(text), &len, err, err_len) < 0)
        return -1;
    /* One line; its end of line is optional (an editor may drop it or add \r). */
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    size_t prefix = sizeof(KEY_FILE_PREFIX) - 1;
    uint8_t secret[ENVELOPE_SECRET_KEY_SIZE];
    uint8_t public_key[ENVELOPE_PUBLIC_KEY_SIZE], seed_secret[ENVELOPE_SECRET_KEY_SIZE];
    if (len < prefix || memcmp(text, KEY_FILE_PREFIX, prefix) != 0) {
        error_set(err, err_len,
                  "%s is not a NanoDNS key file (it must start with \"%s\"; make one with "
                  "nanodns keygen)",
                  path, KEY_FILE_PREFIX);
        goto out;
    }
    int n = envelope_base64_decode(text + prefix, secret, sizeof(secret));
    if (n < 0) {
        error_set(err, err_len, "%s: the key is not valid base64 of %d octets", path,
                  ENVELOPE_SECRET_KEY_SIZE);
        goto out;
    }
    if (n != ENVELOPE_SECRET_KEY_SIZE) {
        error_set(err, err_len, "%s: the key is %d octets long, not %d", path, n,
                  ENVELOPE_SECRET_KEY_SIZE);
        goto out;
    }
    /* libsodium's secret key is seed | public key: the public half must be
     * the one the seed gives, or we would sign as someone else. */
    sodium_ready();
    crypto_sign_seed_keypair(public_key, seed_secret, secret);
    if (sodium_memcmp(public_key, secret + 32, ENVELOPE_PUBLIC_KEY_SIZE) != 0) {
        error_set(err, err_len, "%s: the key is damaged (its public half does not match its seed)",
                  path);
        goto out;
    }
    memcpy(key->secret_key, secret, ENVELOPE_SECRET_KEY_SIZE);
    crypto_sign_ed25519_sk_to_pk(key->public_key, key->secret_key);
    rc = 0;
out:
    sodium_memzero(text, sizeof(text));
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(seed_secret, sizeof(seed_secret));
    return rc;
}

void envelope_public_key_text(const uint8_t key[ENVELOPE_PUBLIC_KEY_SIZE], char *text)
{
    sodium_bin2base64(text, ENVELOPE_PUBLIC_KEY_TEXT, key, ENVELOPE_PUBLIC_KEY_SIZE,
                      sodium_base64_VARIANT_ORIGINAL);
}

int envelope_public_key_parse(const char *text, uint8_t key[ENVELOPE_PUBLIC_KEY_SIZE])
{
    uint8_t out[ENVELOPE_PUBLIC_KEY_SIZE];
    if (envelope_base64_decode(text, out, sizeof(out)) != ENVELOPE_PUBLIC_KEY_SIZE)
        return -1;
    memcpy(key, out, sizeof(out));
    return 0;
}

void envelope_config_hash(const void *config, size_t len, uint8_t hash[ENVELOPE_HASH_SIZE])
{
    /* crypto_hash_sha256 does not read a zero-length input, but a NULL
     * pointer there is still undefined for the sanitizers. */
    static const uint8_t empty;
    crypto_hash_sha256(hash, len > 0 ? config : &empty, len);
}

void envelope_sign_config(const struct envelope_key *key, uint64_t version, const void *config,
                          size_t len, uint8_t signature[ENVELOPE_SIGNATURE_SIZE])
{
    size_t message_len = 0;
    uint8_t *message = config_message(key->public_key, version, config, len, &message_len);
    sign(key, message, message_len, signature);
}

bool envelope_verify_config(const uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE], uint64_t version,
                            const void *config, size_t len,
                            const uint8_t signature[ENVELOPE_SIGNATURE_SIZE])
{
    size_t message_len = 0;
    uint8_t *message = config_message(signer, version, config, len, &message_len);
    return verify(signer, message, message_len, signature);
}

void envelope_nonce_generate(uint8_t nonce[ENVELOPE_NONCE_SIZE])
{
    sodium_ready();
    randombytes_buf(nonce, ENVELOPE_NONCE_SIZE);
}

void envelope_sign_request(const struct envelope_key *key, const struct envelope_request *request,
                           uint8_t signature[ENVELOPE_SIGNATURE_SIZE])
{
    size_t message_len = 0;
    uint8_t *message = request_message(key->public_key, request, &message_len);
    sign(key, message, message_len, signature);
}

bool envelope_verify_request(const uint8_t signer[ENVELOPE_PUBLIC_KEY_SIZE],
                             const struct envelope_request *request, uint64_t now,
                             const uint8_t signature[ENVELOPE_SIGNATURE_SIZE])
{
    /* The window bounds how long the node must remember a nonce. */
    uint64_t skew = request->time > now ? request->time - now : now - request->time;
    if (skew > ENVELOPE_REQUEST_WINDOW_S)
        return false;
    size_t message_len = 0;
    uint8_t *message = request_message(signer, request, &message_len);
    return verify(signer, message, message_len, signature);
}

int envelope_base64_encode(const uint8_t *data, size_t len, char *text, size_t text_size)
{
    if (text_size < sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL))
        return -1;
    sodium_bin2base64(text, text_size, data, len, sodium_base64_VARIANT_ORIGINAL);
    return 0;
}

int envelope_base64_decode(const char *text, uint8_t *out, size_t out_size)
{
    size_t bin_len = 0;
    /* No end pointer: libsodium then refuses anything after the base64
     * (rather than stopping there); padding and unused bits must be
     * canonical, so each value has one spelling. */
    if (sodium_base642bin(out, out_size, text, strlen(text), NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    if (bin_len > INT_MAX)
        return -1;
    return (int)bin_len;
}

bool envelope_hash_wins(const uint8_t a[ENVELOPE_HASH_SIZE], const uint8_t b[ENVELOPE_HASH_SIZE])
{
    return memcmp(a, b, ENVELOPE_HASH_SIZE) > 0;
}
