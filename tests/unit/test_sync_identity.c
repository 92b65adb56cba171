/* This node's identity in the cluster sync (controlplane/sync_identity.c):
 * the key server.sync_key names, its own entry in server.peers found by
 * that key, and its signature of the config in force; without a usable
 * key it signs nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "envelope.h"
#include "log.h"
#include "sync_identity.h"

static const char CONFIG[] = "{\"server\": {\"config_version\": 5}}";

/* Two members, each listed with its key; this node's key file in a
 * temporary directory. */
struct fixture {
    char dir[64];
    char key_path[PATH_MAX];
    struct envelope_key self, other;
    char *peers[2];
    bool has_key[2];
    uint8_t keys[2][32];
    struct config_server server;
    struct sync_identity identity;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_sync_identity.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->key_path, sizeof(f->key_path), "%s/node.key", f->dir);
    envelope_key_generate(&f->self);
    envelope_key_generate(&f->other);
    char err[256];
    assert_int_equal(envelope_key_write(f->key_path, &f->self, err, sizeof(err)), 0);
    f->peers[0] = "10.0.0.1:9053";
    f->peers[1] = "10.0.0.2:9053";
    f->has_key[0] = f->has_key[1] = true;
    memcpy(f->keys[0], f->other.public_key, 32);
    memcpy(f->keys[1], f->self.public_key, 32);
    f->server.peers = f->peers;
    f->server.peer_count = 2;
    f->server.peer_has_key = f->has_key;
    f->server.peer_keys = f->keys;
    f->server.sync_key = f->key_path;
    f->server.mgmt_host = "127.0.0.1";
    f->server.mgmt_port = 9053;
    sync_identity_init(&f->identity);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sync_identity_free(&f->identity);
    unlink(f->key_path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void refresh(struct fixture *f)
{
    sync_identity_refresh(&f->identity, &f->server, 5, CONFIG, strlen(CONFIG));
}

static void test_a_new_identity_has_no_key_and_no_entry(void **state)
{
    struct fixture *f = *state;
    assert_false(f->identity.has_key);
    assert_int_equal(f->identity.self_peer, -1);
}

static void test_the_node_finds_its_entry_by_its_key(void **state)
{
    struct fixture *f = *state;
    refresh(f);
    assert_true(f->identity.has_key);
    assert_memory_equal(f->identity.key.public_key, f->self.public_key, 32);
    assert_int_equal(f->identity.self_peer, 1);
    char address[64];
    sync_identity_self_address(&f->identity, &f->server, address, sizeof(address));
    assert_string_equal(address, "10.0.0.2:9053");
}

static void test_the_config_in_force_is_signed_at_its_version(void **state)
{
    struct fixture *f = *state;
    refresh(f);
    assert_true(envelope_verify_config(f->self.public_key, 5, CONFIG, strlen(CONFIG),
                                       f->identity.config_signature));
    assert_false(envelope_verify_config(f->self.public_key, 6, CONFIG, strlen(CONFIG),
                                        f->identity.config_signature));
}

static void test_a_key_not_listed_has_no_entry_and_still_signs(void **state)
{
    struct fixture *f = *state;
    f->has_key[1] = false; /* listed as a plain "host:port" */
    refresh(f);
    assert_true(f->identity.has_key);
    assert_int_equal(f->identity.self_peer, -1);
    char address[64];
    sync_identity_self_address(&f->identity, &f->server, address, sizeof(address));
    assert_string_equal(address, "127.0.0.1:9053");
}

static void test_without_sync_key_the_node_signs_nothing(void **state)
{
    struct fixture *f = *state;
    refresh(f);
    f->server.sync_key = NULL;
    refresh(f);
    assert_false(f->identity.has_key);
    assert_int_equal(f->identity.self_peer, -1);
    assert_null(f->identity.key_error);
}

static void test_an_unreadable_key_is_no_key_and_says_why(void **state)
{
    struct fixture *f = *state;
    refresh(f);
    assert_int_equal(unlink(f->key_path), 0);
    refresh(f);
    assert_false(f->identity.has_key);
    assert_int_equal(f->identity.self_peer, -1);
    assert_non_null(f->identity.key_error);
    assert_non_null(strstr(f->identity.key_error, "server.sync_key"));
}

static void test_a_key_read_again_clears_the_error(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(unlink(f->key_path), 0);
    refresh(f);
    assert_non_null(f->identity.key_error);
    char err[256];
    assert_int_equal(envelope_key_write(f->key_path, &f->self, err, sizeof(err)), 0);
    refresh(f);
    assert_true(f->identity.has_key);
    assert_null(f->identity.key_error);
    assert_int_equal(f->identity.self_peer, 1);
}

static void test_a_bracketed_address_for_an_ipv6_mgmt_host(void **state)
{
    struct fixture *f = *state;
    f->server.mgmt_host = "::1";
    char address[64];
    sync_identity_self_address(NULL, &f->server, address, sizeof(address));
    assert_string_equal(address, "[::1]:9053");
}

int main(void)
{
    log_init("test_sync_identity", LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_new_identity_has_no_key_and_no_entry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_node_finds_its_entry_by_its_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_config_in_force_is_signed_at_its_version, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_key_not_listed_has_no_entry_and_still_signs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_without_sync_key_the_node_signs_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_an_unreadable_key_is_no_key_and_says_why, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_key_read_again_clears_the_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_bracketed_address_for_an_ipv6_mgmt_host, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
