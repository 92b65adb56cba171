/* Unit tests for dataplane/rrl.c: answers to one prefix and kind pass up
 * to the rate each second; past it every slip-th is truncated, the others
 * dropped; another prefix, another name or the next second starts afresh. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rrl.h"
#include "wire.h"

static const uint8_t WWW[] = "\3www\1x\4test";

static struct sockaddr_in v4(const char *address)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(5353)};
    assert_int_equal(inet_pton(AF_INET, address, &in.sin_addr), 1);
    return in;
}

static enum rrl_verdict check(struct rrl *rrl, const char *client, const uint8_t *name,
                              uint16_t rcode, uint32_t rate, uint32_t slip, uint64_t now_ms)
{
    struct sockaddr_in in = v4(client);
    return rrl_check(rrl, (const struct sockaddr *)&in, name, strlen((const char *)name) + 1,
                     WIRE_TYPE_A, rcode, rate, slip, now_ms);
}

static void test_answers_up_to_the_rate_pass(void **state)
{
    (void)state;
    struct rrl *rrl = rrl_new(1);
    assert_non_null(rrl);
    for (int i = 0; i < 5; i++)
        assert_int_equal(check(rrl, "192.0.2.1", WWW, 0, 5, 2, 1000), RRL_PASS);
    assert_int_not_equal(check(rrl, "192.0.2.1", WWW, 0, 5, 2, 1000), RRL_PASS);
    rrl_free(rrl);
}

static void test_past_the_rate_every_second_one_slips_with_slip_2(void **state)
{
    (void)state;
    struct rrl *rrl = rrl_new(2);
    assert_non_null(rrl);
    assert_int_equal(check(rrl, "192.0.2.1", WWW, 0, 1, 2, 5000), RRL_PASS);
    assert_int_equal(check(rrl, "192.0.2.1", WWW, 0, 1, 2, 5000), RRL_DROP);
    assert_int_equal(check(rrl, "192.0.2.1", WWW, 0, 1, 2, 5000), RRL_SLIP);
    assert_int_equal(check(rrl, "192.0.2.1", WWW, 0, 1, 2, 5000), RRL_DROP);
    assert_int_equal(check(rrl, "192.0.2.1", WWW, 0, 1, 2, 5000), RRL_SLIP);
    rrl_free(rrl);
}

static void test_slip_0_drops_all_and_slip_1_truncates_all(void **state)
{
    (void)state;
    struct rrl *rrl = rrl_new(3);
    assert_non_null(rrl);
    assert_int_equal(check(rrl, "192.0.2.1", WWW, 0, 1, 0, 0), RRL_PASS);
    for (int i = 0; i < 4; i++)
        assert_int_equal(check(rrl, "192.0.2.1", WWW, 0, 1, 0, 0), RRL_DROP);
    assert_int_equal(check(rrl, "198.51.100.1", WWW, 0, 1, 1, 0), RRL_PASS);
    for (int i = 0; i < 4; i++)
        assert_int_equal(check(rrl, "198.51.100.1", WWW, 0, 1, 1, 0), RRL_SLIP);
    rrl_free(rrl);
}

static void test_the_next_second_starts_afresh(void **state)
{
    (void)state;
    struct rrl *rrl = rrl_new(4);
    assert_non_null(rrl);
    assert_int_equal(check(rrl, "192.0.2.1", WWW, 0, 1, 0, 7000), RRL_PASS);
    assert_int_equal(check(rrl, "192.0.2.1", WWW, 0, 1, 0, 7999), RRL_DROP);
    assert_int_equal(check(rrl, "192.0.2.1", WWW, 0, 1, 0, 8000), RRL_PASS);
    rrl_free(rrl);
}

static void test_one_slash_24_is_one_client_another_is_another(void **state)
{
    (void)state;
    struct rrl *rrl = rrl_new(5);
    assert_non_null(rrl);
    assert_int_equal(check(rrl, "192.0.2.1", WWW, 0, 1, 0, 0), RRL_PASS);
    assert_int_equal(check(rrl, "192.0.2.200", WWW, 0, 1, 0, 0), RRL_DROP);
    assert_int_equal(check(rrl, "192.0.3.1", WWW, 0, 1, 0, 0), RRL_PASS);
    rrl_free(rrl);
}

static void test_positive_answers_count_per_name_errors_per_prefix(void **state)
{
    (void)state;
    static const uint8_t OTHER[] = "\5other\1x\4test";
    struct rrl *rrl = rrl_new(6);
    assert_non_null(rrl);
    assert_int_equal(check(rrl, "192.0.2.1", WWW, 0, 1, 0, 0), RRL_PASS);
    assert_int_equal(check(rrl, "192.0.2.1", OTHER, 0, 1, 0, 0), RRL_PASS);
    /* REFUSED for random names: one bucket */
    assert_int_equal(check(rrl, "192.0.2.1", WWW, WIRE_RCODE_REFUSED, 1, 0, 0), RRL_PASS);
    assert_int_equal(check(rrl, "192.0.2.1", OTHER, WIRE_RCODE_REFUSED, 1, 0, 0), RRL_DROP);
    rrl_free(rrl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers_up_to_the_rate_pass),
        cmocka_unit_test(test_past_the_rate_every_second_one_slips_with_slip_2),
        cmocka_unit_test(test_slip_0_drops_all_and_slip_1_truncates_all),
        cmocka_unit_test(test_the_next_second_starts_afresh),
        cmocka_unit_test(test_one_slash_24_is_one_client_another_is_another),
        cmocka_unit_test(test_positive_answers_count_per_name_errors_per_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
