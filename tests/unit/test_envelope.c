/* envelope: a config or request signed by a key verifies for exactly what
 * was signed and nothing else; key files round-trip and refuse anything
 * that is not a private, intact key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "envelope.h"

static const char CONFIG[] = "{\"server\": {\"config_version\": 7}, \"records\": []}\n";
#define CONFIG_LEN (sizeof(CONFIG) - 1)
#define NOW 1700000000u

/* ---- config signatures ---- */

static void test_signed_config_verifies(void **state)
{
    (void)state;
    struct envelope_key key;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    envelope_key_generate(&key);
    envelope_sign_config(&key, 7, CONFIG, CONFIG_LEN, sig);
    assert_true(envelope_verify_config(key.public_key, 7, CONFIG, CONFIG_LEN, sig));
}

static void test_config_signed_by_another_key_is_refused(void **state)
{
    (void)state;
    struct envelope_key key, other;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    envelope_key_generate(&key);
    envelope_key_generate(&other);
    envelope_sign_config(&other, 7, CONFIG, CONFIG_LEN, sig);
    assert_false(envelope_verify_config(key.public_key, 7, CONFIG, CONFIG_LEN, sig));
}

static void test_config_with_a_flipped_signature_bit_is_refused(void **state)
{
    (void)state;
    struct envelope_key key;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    envelope_key_generate(&key);
    envelope_sign_config(&key, 7, CONFIG, CONFIG_LEN, sig);
    for (size_t bit = 0; bit < 8 * ENVELOPE_SIGNATURE_SIZE; bit += 37) {
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_false(envelope_verify_config(key.public_key, 7, CONFIG, CONFIG_LEN, sig));
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}

static void test_config_with_a_tampered_byte_is_refused(void **state)
{
    (void)state;
    struct envelope_key key;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    char tampered[sizeof(CONFIG)];
    envelope_key_generate(&key);
    envelope_sign_config(&key, 7, CONFIG, CONFIG_LEN, sig);
    memcpy(tampered, CONFIG, sizeof(CONFIG));
    tampered[CONFIG_LEN / 2] ^= 1;
    assert_false(envelope_verify_config(key.public_key, 7, tampered, CONFIG_LEN, sig));
    /* one octet fewer is a different config too */
    assert_false(envelope_verify_config(key.public_key, 7, CONFIG, CONFIG_LEN - 1, sig));
}

static void test_config_at_another_version_is_refused(void **state)
{
    (void)state;
    struct envelope_key key;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    envelope_key_generate(&key);
    envelope_sign_config(&key, 7, CONFIG, CONFIG_LEN, sig);
    assert_false(envelope_verify_config(key.public_key, 6, CONFIG, CONFIG_LEN, sig));
    assert_false(envelope_verify_config(key.public_key, 8, CONFIG, CONFIG_LEN, sig));
    assert_false(
        envelope_verify_config(key.public_key, 7 + (UINT64_C(1) << 32), CONFIG, CONFIG_LEN, sig));
}

static void test_empty_config_signs_and_verifies(void **state)
{
    (void)state;
    struct envelope_key key;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    envelope_key_generate(&key);
    envelope_sign_config(&key, 1, "", 0, sig);
    assert_true(envelope_verify_config(key.public_key, 1, "", 0, sig));
    assert_false(envelope_verify_config(key.public_key, 1, "x", 1, sig));
}

/* ---- request signatures ---- */

static const uint8_t TARGET[ENVELOPE_PUBLIC_KEY_SIZE] = {7, 7, 7};
static const uint8_t NONCE[ENVELOPE_NONCE_SIZE] = {1, 2,  3,  4,  5,  6,  7,  8,
                                                   9, 10, 11, 12, 13, 14, 15, 16};

/* A POST /reload made at time for TARGET with NONCE. */
static struct envelope_request reload_at(uint64_t time)
{
    struct envelope_request r = {.time = time, .method = "POST", .path = "/reload"};
    memcpy(r.nonce, NONCE, sizeof(r.nonce));
    memcpy(r.target, TARGET, sizeof(r.target));
    return r;
}

static void test_signed_request_verifies(void **state)
{
    (void)state;
    struct envelope_key key;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    envelope_key_generate(&key);
    struct envelope_request r = reload_at(NOW);
    envelope_sign_request(&key, &r, sig);
    assert_true(envelope_verify_request(key.public_key, &r, NOW, sig));
}

static void test_request_signed_by_another_key_is_refused(void **state)
{
    (void)state;
    struct envelope_key key, other;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    envelope_key_generate(&key);
    envelope_key_generate(&other);
    struct envelope_request r = reload_at(NOW);
    envelope_sign_request(&other, &r, sig);
    assert_false(envelope_verify_request(key.public_key, &r, NOW, sig));
}

static void test_request_is_accepted_within_the_time_window(void **state)
{
    (void)state;
    struct envelope_key key;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    envelope_key_generate(&key);
    struct envelope_request r = reload_at(NOW);
    envelope_sign_request(&key, &r, sig);
    assert_true(envelope_verify_request(key.public_key, &r, NOW + ENVELOPE_REQUEST_WINDOW_S, sig));
    assert_true(envelope_verify_request(key.public_key, &r, NOW - ENVELOPE_REQUEST_WINDOW_S, sig));
}

static void test_request_outside_the_time_window_is_refused(void **state)
{
    (void)state;
    struct envelope_key key;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    envelope_key_generate(&key);
    struct envelope_request r = reload_at(NOW);
    envelope_sign_request(&key, &r, sig);
    /* too old (a replay) and too far ahead (a clock that is wrong) */
    assert_false(
        envelope_verify_request(key.public_key, &r, NOW + ENVELOPE_REQUEST_WINDOW_S + 1, sig));
    assert_false(
        envelope_verify_request(key.public_key, &r, NOW - ENVELOPE_REQUEST_WINDOW_S - 1, sig));
    /* no wrap-around at the ends of the range */
    r.time = UINT64_MAX;
    envelope_sign_request(&key, &r, sig);
    assert_false(envelope_verify_request(key.public_key, &r, 0, sig));
}

static void test_request_at_another_time_is_refused(void **state)
{
    (void)state;
    struct envelope_key key;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    envelope_key_generate(&key);
    struct envelope_request r = reload_at(NOW);
    envelope_sign_request(&key, &r, sig);
    r.time = NOW + 1;
    assert_false(envelope_verify_request(key.public_key, &r, NOW, sig));
}

static void test_request_for_another_method_or_path_is_refused(void **state)
{
    (void)state;
    struct envelope_key key;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    envelope_key_generate(&key);
    struct envelope_request r = reload_at(NOW);
    envelope_sign_request(&key, &r, sig);
    static const char *const other[][2] = {
        {"GET", "/reload"},
        {"POST", "/sync"},
        {"POST", "/reload/"},
        /* the NUL between them: "POST" + "/reload" is not "POST/" + "reload" */
        {"POST/", "reload"}};
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        struct envelope_request changed = r;
        changed.method = other[i][0];
        changed.path = other[i][1];
        assert_false(envelope_verify_request(key.public_key, &changed, NOW, sig));
    }
}

/* Issue 12, finding 3: the target node is signed, so a request made for
 * one node is no good on another. */
static void test_request_for_another_target_is_refused(void **state)
{
    (void)state;
    struct envelope_key key;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    envelope_key_generate(&key);
    struct envelope_request r = reload_at(NOW);
    envelope_sign_request(&key, &r, sig);
    r.target[31] ^= 1;
    assert_false(envelope_verify_request(key.public_key, &r, NOW, sig));
}

/* The nonce is signed: a captured request cannot be sent again under a
 * new nonce to pass the node's replay cache. */
static void test_request_with_another_nonce_is_refused(void **state)
{
    (void)state;
    struct envelope_key key;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    envelope_key_generate(&key);
    struct envelope_request r = reload_at(NOW);
    envelope_sign_request(&key, &r, sig);
    r.nonce[0] ^= 1;
    assert_false(envelope_verify_request(key.public_key, &r, NOW, sig));
}

static void test_nonces_are_random(void **state)
{
    (void)state;
    uint8_t a[ENVELOPE_NONCE_SIZE], b[ENVELOPE_NONCE_SIZE];
    envelope_nonce_generate(a);
    envelope_nonce_generate(b);
    assert_memory_not_equal(a, b, ENVELOPE_NONCE_SIZE);
}

/* The context strings keep the two kinds of signature apart, even when the
 * octets after them are made to line up. */
static void test_config_signature_does_not_verify_as_a_request(void **state)
{
    (void)state;
    struct envelope_key key;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    envelope_key_generate(&key);
    envelope_sign_config(&key, NOW, "POST", 4, sig);
    struct envelope_request r = reload_at(NOW);
    assert_false(envelope_verify_request(key.public_key, &r, NOW, sig));
    r.path = "";
    assert_false(envelope_verify_request(key.public_key, &r, NOW, sig));
}

static void test_request_signature_does_not_verify_as_a_config(void **state)
{
    (void)state;
    struct envelope_key key;
    uint8_t sig[ENVELOPE_SIGNATURE_SIZE];
    envelope_key_generate(&key);
    struct envelope_request r = reload_at(NOW);
    envelope_sign_request(&key, &r, sig);
    assert_false(envelope_verify_config(key.public_key, NOW, "POST", 4, sig));
    assert_false(envelope_verify_config(key.public_key, NOW, "POST\0/reload", 12, sig));
}

/* ---- which config wins ---- */

static void test_hash_wins_is_antisymmetric(void **state)
{
    (void)state;
    uint8_t a[ENVELOPE_HASH_SIZE], b[ENVELOPE_HASH_SIZE];
    for (unsigned i = 0; i < 64; i++) {
        envelope_config_hash(&i, sizeof(i), a);
        unsigned j = i + 1000;
        envelope_config_hash(&j, sizeof(j), b);
        assert_true(envelope_hash_wins(a, b) != envelope_hash_wins(b, a));
    }
    /* the same hash beats nobody, itself included */
    assert_false(envelope_hash_wins(a, a));
}

static void test_hash_wins_compares_octets_from_the_first(void **state)
{
    (void)state;
    uint8_t low[ENVELOPE_HASH_SIZE], high[ENVELOPE_HASH_SIZE];
    memset(low, 0xff, sizeof(low));
    memset(high, 0x00, sizeof(high));
    low[0] = 0x7f;
    high[0] = 0x80;
    assert_true(envelope_hash_wins(high, low));
    assert_false(envelope_hash_wins(low, high));
}

static void test_config_hash_is_sha256(void **state)
{
    (void)state;
    /* FIPS 180-2 example: SHA-256("abc") */
    static const uint8_t expected[ENVELOPE_HASH_SIZE] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
        0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
        0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    uint8_t hash[ENVELOPE_HASH_SIZE];
    envelope_config_hash("abc", 3, hash);
    assert_memory_equal(hash, expected, sizeof(expected));
}

/* ---- key files ---- */

struct fixture {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_envelope.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/node.key", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void file_put(const char *path, const char *text, mode_t mode)
{
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    assert_int_equal(fputs(text, out) >= 0, 1);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_key_file_round_trips(void **state)
{
    struct fixture *f = *state;
    struct envelope_key key, back;
    char err[256];
    envelope_key_generate(&key);
    assert_int_equal(envelope_key_write(f->path, &key, err, sizeof(err)), 0);
    assert_int_equal(envelope_key_read(f->path, &back, err, sizeof(err)), 0);
    assert_memory_equal(back.public_key, key.public_key, ENVELOPE_PUBLIC_KEY_SIZE);
    assert_memory_equal(back.secret_key, key.secret_key, ENVELOPE_SECRET_KEY_SIZE);
}

static void test_key_file_is_one_line_with_mode_0600(void **state)
{
    struct fixture *f = *state;
    struct envelope_key key;
    char err[256], text[256];
    envelope_key_generate(&key);
    mode_t old = umask(0);
    int rc = envelope_key_write(f->path, &key, err, sizeof(err));
    umask(old);
    assert_int_equal(rc, 0);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    FILE *in = fopen(f->path, "r");
    assert_non_null(in);
    size_t n = fread(text, 1, sizeof(text) - 1, in);
    fclose(in);
    text[n] = '\0';
    /* prefix, 88 characters of base64, newline */
    assert_int_equal(n, strlen("nanodns-ed25519-secret-key ") + 88 + 1);
    assert_int_equal(strncmp(text, "nanodns-ed25519-secret-key ", 27), 0);
    assert_int_equal(text[n - 1], '\n');
}

static void test_key_file_readable_by_others_is_refused(void **state)
{
    struct fixture *f = *state;
    struct envelope_key key;
    char err[512];
    envelope_key_generate(&key);
    assert_int_equal(envelope_key_write(f->path, &key, err, sizeof(err)), 0);
    assert_int_equal(chmod(f->path, 0644), 0);
    assert_int_equal(envelope_key_read(f->path, &key, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "0644"));
    assert_non_null(strstr(err, "chmod 600"));
}

static void test_key_file_writable_by_group_is_refused(void **state)
{
    struct fixture *f = *state;
    struct envelope_key key;
    char err[512];
    envelope_key_generate(&key);
    assert_int_equal(envelope_key_write(f->path, &key, err, sizeof(err)), 0);
    assert_int_equal(chmod(f->path, 0620), 0);
    assert_int_equal(envelope_key_read(f->path, &key, err, sizeof(err)), -1);
}

static void test_key_file_with_another_prefix_is_refused(void **state)
{
    struct fixture *f = *state;
    struct envelope_key key;
    char err[512];
    file_put(
        f->path,
        "ssh-ed25519-secret-key "
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "==\n",
        0600);
    assert_int_equal(envelope_key_read(f->path, &key, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a NanoDNS key file"));
}

static void test_key_file_with_bad_base64_is_refused(void **state)
{
    struct fixture *f = *state;
    struct envelope_key key;
    char err[512];
    file_put(f->path, "nanodns-ed25519-secret-key not*base64!\n", 0600);
    assert_int_equal(envelope_key_read(f->path, &key, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "base64"));
}

static void test_key_file_of_the_wrong_length_is_refused(void **state)
{
    struct fixture *f = *state;
    struct envelope_key key;
    char err[512];
    /* 32 octets: a seed or a public key, not a secret key */
    file_put(f->path, "nanodns-ed25519-secret-key AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
             0600);
    assert_int_equal(envelope_key_read(f->path, &key, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "32 octets"));
}

static void test_key_file_whose_public_half_does_not_match_is_refused(void **state)
{
    struct fixture *f = *state;
    struct envelope_key key, other;
    char err[512];
    envelope_key_generate(&key);
    envelope_key_generate(&other);
    /* this key's seed with another key's public half */
    memcpy(key.secret_key + 32, other.public_key, ENVELOPE_PUBLIC_KEY_SIZE);
    assert_int_equal(envelope_key_write(f->path, &key, err, sizeof(err)), 0);
    assert_int_equal(envelope_key_read(f->path, &other, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "does not match"));
}

static void test_missing_key_file_is_refused_with_its_name(void **state)
{
    struct fixture *f = *state;
    struct envelope_key key;
    char err[512];
    assert_int_equal(envelope_key_read(f->path, &key, err, sizeof(err)), -1);
    assert_non_null(strstr(err, f->path));
}

/* A FIFO named as the key file once hung the control plane in open(). */
static void test_a_fifo_as_key_file_is_refused_without_waiting(void **state)
{
    struct fixture *f = *state;
    struct envelope_key key;
    char err[512];
    assert_int_equal(mkfifo(f->path, 0600), 0);
    assert_int_equal(envelope_key_read(f->path, &key, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file"));
}

/* ---- base64 ---- */

static void test_public_key_text_round_trips(void **state)
{
    (void)state;
    struct envelope_key key;
    char text[ENVELOPE_PUBLIC_KEY_TEXT];
    uint8_t back[ENVELOPE_PUBLIC_KEY_SIZE];
    envelope_key_generate(&key);
    envelope_public_key_text(key.public_key, text);
    assert_int_equal(strlen(text), 44);
    assert_int_equal(envelope_public_key_parse(text, back), 0);
    assert_memory_equal(back, key.public_key, sizeof(back));
}

static void test_public_key_parse_refuses_what_is_not_32_octets_of_base64(void **state)
{
    (void)state;
    uint8_t key[ENVELOPE_PUBLIC_KEY_SIZE];
    static const char *const bad[] = {
        "",
        "AAAA",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",          /* 33 octets */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",           /* padding missing */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= ",         /* trailing space */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_=",          /* URL-safe alphabet */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",          /* unused bits set */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", /* too long */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(envelope_public_key_parse(bad[i], key), -1);
    assert_int_equal(envelope_public_key_parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", key),
                     0);
}

static void test_base64_round_trips_every_length(void **state)
{
    (void)state;
    uint8_t data[70], back[70];
    char text[128];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof(data); len++) {
        assert_int_equal(envelope_base64_encode(data, len, text, sizeof(text)), 0);
        assert_int_equal(strlen(text), (len + 2) / 3 * 4);
        assert_int_equal(envelope_base64_decode(text, back, sizeof(back)), (int)len);
        assert_memory_equal(back, data, len);
    }
}

static void test_base64_encode_refuses_a_short_buffer(void **state)
{
    (void)state;
    uint8_t data[3] = {1, 2, 3};
    char text[5];
    assert_int_equal(envelope_base64_encode(data, sizeof(data), text, 4), -1);
    assert_int_equal(envelope_base64_encode(data, sizeof(data), text, 5), 0);
    assert_string_equal(text, "AQID");
}

static void test_base64_decode_refuses_bad_input(void **state)
{
    (void)state;
    uint8_t out[16];
    assert_int_equal(envelope_base64_decode("AQID!", out, sizeof(out)), -1);
    assert_int_equal(envelope_base64_decode("AQI", out, sizeof(out)), -1);
    assert_int_equal(envelope_base64_decode("AQ==AQ==", out, sizeof(out)), -1);
    /* a valid text that does not fit */
    assert_int_equal(envelope_base64_decode("AQIDBA==", out, 3), -1);
    assert_int_equal(envelope_base64_decode("AQIDBA==", out, 4), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_config_verifies),
        cmocka_unit_test(test_config_signed_by_another_key_is_refused),
        cmocka_unit_test(test_config_with_a_flipped_signature_bit_is_refused),
        cmocka_unit_test(test_config_with_a_tampered_byte_is_refused),
        cmocka_unit_test(test_config_at_another_version_is_refused),
        cmocka_unit_test(test_empty_config_signs_and_verifies),
        cmocka_unit_test(test_signed_request_verifies),
        cmocka_unit_test(test_request_signed_by_another_key_is_refused),
        cmocka_unit_test(test_request_is_accepted_within_the_time_window),
        cmocka_unit_test(test_request_outside_the_time_window_is_refused),
        cmocka_unit_test(test_request_at_another_time_is_refused),
        cmocka_unit_test(test_request_for_another_method_or_path_is_refused),
        cmocka_unit_test(test_request_for_another_target_is_refused),
        cmocka_unit_test(test_request_with_another_nonce_is_refused),
        cmocka_unit_test(test_nonces_are_random),
        cmocka_unit_test(test_config_signature_does_not_verify_as_a_request),
        cmocka_unit_test(test_request_signature_does_not_verify_as_a_config),
        cmocka_unit_test(test_hash_wins_is_antisymmetric),
        cmocka_unit_test(test_hash_wins_compares_octets_from_the_first),
        cmocka_unit_test(test_config_hash_is_sha256),
        cmocka_unit_test_setup_teardown(test_key_file_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_file_is_one_line_with_mode_0600, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_file_readable_by_others_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_key_file_writable_by_group_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_key_file_with_another_prefix_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_key_file_with_bad_base64_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_file_of_the_wrong_length_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_key_file_whose_public_half_does_not_match_is_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_key_file_is_refused_with_its_name, setup,
                                        teardown),
        cmocka_unit_test(test_public_key_text_round_trips),
        cmocka_unit_test(test_public_key_parse_refuses_what_is_not_32_octets_of_base64),
        cmocka_unit_test_setup_teardown(test_a_fifo_as_key_file_is_refused_without_waiting, setup,
                                        teardown),
        cmocka_unit_test(test_base64_round_trips_every_length),
        cmocka_unit_test(test_base64_encode_refuses_a_short_buffer),
        cmocka_unit_test(test_base64_decode_refuses_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
