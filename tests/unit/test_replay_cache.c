/* controlplane/replay_cache.c: each (signer, nonce) of a signed request is
 * taken once while its request can verify, and a full table refuses rather
 * than forgets (issue 12, finding 3). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "replay_cache.h"

#define NOW 1700000000u
#define WINDOW ENVELOPE_REQUEST_WINDOW_S

static uint8_t SIGNER_A[ENVELOPE_PUBLIC_KEY_SIZE] = {0xa};
static uint8_t SIGNER_B[ENVELOPE_PUBLIC_KEY_SIZE] = {0xb};

static const uint8_t *nonce_of(unsigned n)
{
    static uint8_t nonce[ENVELOPE_NONCE_SIZE];
    memset(nonce, 0, sizeof(nonce));
    memcpy(nonce, &n, sizeof(n));
    return nonce;
}

static void test_a_new_nonce_is_taken_and_the_same_again_is_a_replay(void **state)
{
    (void)state;
    struct replay_cache cache;
    assert_int_equal(replay_cache_init(&cache, 8), 0);
    assert_int_equal(replay_cache_admit(&cache, SIGNER_A, nonce_of(1), NOW, NOW), REPLAY_NEW);
    assert_int_equal(replay_cache_admit(&cache, SIGNER_A, nonce_of(1), NOW, NOW), REPLAY_SEEN);
    assert_int_equal(replay_cache_admit(&cache, SIGNER_A, nonce_of(1), NOW, NOW + WINDOW),
                     REPLAY_SEEN);
    assert_int_equal(replay_cache_admit(&cache, SIGNER_A, nonce_of(2), NOW, NOW), REPLAY_NEW);
    replay_cache_free(&cache);
}

static void test_the_same_nonce_of_another_signer_is_new(void **state)
{
    (void)state;
    struct replay_cache cache;
    assert_int_equal(replay_cache_init(&cache, 8), 0);
    assert_int_equal(replay_cache_admit(&cache, SIGNER_A, nonce_of(1), NOW, NOW), REPLAY_NEW);
    assert_int_equal(replay_cache_admit(&cache, SIGNER_B, nonce_of(1), NOW, NOW), REPLAY_NEW);
    replay_cache_free(&cache);
}

static void test_a_full_table_refuses_rather_than_forgets(void **state)
{
    (void)state;
    struct replay_cache cache;
    assert_int_equal(replay_cache_init(&cache, 4), 0);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(replay_cache_admit(&cache, SIGNER_A, nonce_of(i), NOW, NOW), REPLAY_NEW);
    assert_int_equal(replay_cache_admit(&cache, SIGNER_A, nonce_of(9), NOW, NOW), REPLAY_FULL);
    /* every nonce taken is still refused */
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(replay_cache_admit(&cache, SIGNER_A, nonce_of(i), NOW, NOW + 1),
                         REPLAY_SEEN);
    replay_cache_free(&cache);
}

static void test_a_slot_frees_itself_once_its_request_can_no_longer_verify(void **state)
{
    (void)state;
    struct replay_cache cache;
    assert_int_equal(replay_cache_init(&cache, 1), 0);
    assert_int_equal(replay_cache_admit(&cache, SIGNER_A, nonce_of(1), NOW, NOW), REPLAY_NEW);
    /* the last second the request verifies: still held */
    assert_int_equal(replay_cache_admit(&cache, SIGNER_A, nonce_of(2), NOW + WINDOW, NOW + WINDOW),
                     REPLAY_FULL);
    /* one second later it cannot verify any more, so its slot is free */
    assert_int_equal(
        replay_cache_admit(&cache, SIGNER_A, nonce_of(2), NOW + WINDOW, NOW + WINDOW + 1),
        REPLAY_NEW);
    replay_cache_free(&cache);
}

static void test_a_request_dated_ahead_is_held_until_its_own_time_plus_the_window(void **state)
{
    (void)state;
    struct replay_cache cache;
    assert_int_equal(replay_cache_init(&cache, 1), 0);
    /* made by a clock WINDOW ahead of ours: valid until NOW + 2 * WINDOW */
    assert_int_equal(replay_cache_admit(&cache, SIGNER_A, nonce_of(1), NOW + WINDOW, NOW),
                     REPLAY_NEW);
    assert_int_equal(
        replay_cache_admit(&cache, SIGNER_A, nonce_of(1), NOW + WINDOW, NOW + 2 * WINDOW),
        REPLAY_SEEN);
    replay_cache_free(&cache);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_new_nonce_is_taken_and_the_same_again_is_a_replay),
        cmocka_unit_test(test_the_same_nonce_of_another_signer_is_new),
        cmocka_unit_test(test_a_full_table_refuses_rather_than_forgets),
        cmocka_unit_test(test_a_slot_frees_itself_once_its_request_can_no_longer_verify),
        cmocka_unit_test(test_a_request_dated_ahead_is_held_until_its_own_time_plus_the_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
