/* The node's reload (controlplane/node.c), on a config file and a state
 * directory in a temporary directory, with the rest of the daemon replaced
 * by counters of the node's events: a file that says nothing new publishes
 * nothing; a changed one is published as version max(file, memory) + 1 and
 * written back; a broken one keeps the config in force; a start with a
 * broken file serves the state directory's last good config. And the
 * version floor (STATE/version): recorded before a version is in force,
 * never lowered, kept when STATE/config.json is lost (the file is then
 * served as the floor's version), a damaged one stops the start. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "config.h"
#include "config_edit.h"
#include "image.h"
#include "log.h"
#include "envelope.h"
#include "message_list.h"
#include "node.h"
#include "sync.h"
#include "version_floor.h"

/* What the daemon would hear from the node. */
struct events_seen {
    int config_changed;
    int image_published;
    int reloaded;
};

struct fixture {
    char dir[64];
    char config_path[PATH_MAX];
    char state_dir[PATH_MAX];
    struct node node;
    struct events_seen seen;
};

static void on_config_changed(void *arg)
{
    ((struct events_seen *)arg)->config_changed++;
}

static void on_image_published(void *arg)
{
    ((struct events_seen *)arg)->image_published++;
}

static void on_reloaded(void *arg)
{
    ((struct events_seen *)arg)->reloaded++;
}

/* A config of version (0: no config_version in the file) with one record. */
static char *config_text(unsigned version, const char *address)
{
    char version_member[64] = "";
    if (version != 0)
        snprintf(version_member, sizeof(version_member), "\"config_version\": %u, ", version);
    char *text = NULL;
    int n =
        asprintf(&text,
                 "{\n"
                 "  \"server\": {%s\"upstream\": [], \"mgmt_port\": 0, \"hot_reload\": false},\n"
                 "  \"zones\": {\"x.test\": {}},\n"
                 "  \"records\": [{\"name\": \"www.x.test\", \"type\": \"A\", \"value\": \"%s\"}]\n"
                 "}\n",
                 version_member, address);
    assert_true(n > 0);
    return text;
}

static void file_put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static char *file_get(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    char err[256];
    assert_int_equal(atomic_file_read(path, &text, &len, err, sizeof(err)), 0);
    return text;
}

/* The config_version a text says. */
static uint64_t version_of(const char *text)
{
    struct config cfg;
    struct config_diags diags;
    config_diags_init(&diags, "text");
    assert_int_equal(config_load_buffer(text, strlen(text), &cfg, &diags), 0);
    uint64_t version = cfg.server.config_version;
    config_free(&cfg);
    config_diags_free(&diags);
    return version;
}

/* The config version of the image published in the state directory. */
static uint64_t published_version(const struct fixture *f)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/%s", f->state_dir, IMAGE_FILE_NAME);
    struct image img;
    void *map;
    size_t map_len;
    char err[512];
    assert_int_equal(image_map_file(path, &img, &map, &map_len, err, sizeof(err)), 0);
    uint64_t version = img.header->config_version;
    image_unmap(map, map_len);
    return version;
}

static char *saved_config(const struct fixture *f)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/%s", f->state_dir, NODE_CONFIG_FILE_NAME);
    return file_get(path);
}

/* node_init for the fixture's file (config_path false: the defaults). */
static void node_open(struct fixture *f, bool with_file)
{
    struct node_overrides overrides = {.log_level = -1, .mgmt_port = -1};
    assert_int_equal(
        node_init(&f->node, with_file ? f->config_path : NULL, f->state_dir, &overrides), 0);
}

static void events_hook(struct fixture *f)
{
    memset(&f->seen, 0, sizeof(f->seen));
    f->node.events = (struct node_events){
        .config_changed = on_config_changed,
        .image_published = on_image_published,
        .reloaded = on_reloaded,
        .arg = &f->seen,
    };
}

/* The node as start_run leaves it: the file loaded and published. */
static void node_start(struct fixture *f, const char *text)
{
    file_put(f->config_path, text);
    node_open(f, true);
    assert_int_equal(node_load_initial(&f->node), 0);
    assert_int_equal(node_publish(&f->node), 0);
    events_hook(f);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_node.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->config_path, sizeof(f->config_path), "%s/nanodns.json", f->dir);
    snprintf(f->state_dir, sizeof(f->state_dir), "%s/state", f->dir);
    assert_int_equal(mkdir(f->state_dir, 0755), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    node_free(&f->node);
    char command[PATH_MAX + 16];
    snprintf(command, sizeof(command), "rm -rf '%s'", f->dir);
    if (system(command) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f);
    return 0;
}

/* ---- a file that says nothing new ---- */

static void test_an_unchanged_file_publishes_nothing(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(3, "10.0.0.80");
    node_start(f, text);

    struct node_reload_result result;
    assert_int_equal(node_reload(&f->node, &result), 0);
    assert_true(result.ok);
    assert_true(result.unchanged);
    assert_int_equal(result.version, 3);
    assert_int_equal(f->node.version, 3);
    assert_int_equal(f->node.reloads, 0);
    assert_int_equal(f->seen.image_published, 0);
    assert_int_equal(f->seen.reloaded, 0);
    /* The key file is no part of the config: it is read again. */
    assert_int_equal(f->seen.config_changed, 1);
    char *now = file_get(f->config_path);
    assert_string_equal(now, text); /* no write-back */
    free(now);
    node_reload_result_free(&result);
    free(text);
}

/* A config of n A records, as one line. */
static char *config_text_of_records(unsigned n)
{
    size_t cap = 256 + (size_t)n * 80, used = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    used += (size_t)snprintf(text, cap,
                             "{\"server\": {\"upstream\": [], \"mgmt_port\": 0, \"hot_reload\": "
                             "false}, \"zones\": {\"x.test\": {}}, \"records\": [");
    for (unsigned i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, cap - used,
                                 "%s{\"name\": \"h%u.x.test\", \"type\": \"A\", \"value\": "
                                 "\"10.%u.%u.%u\"}",
                                 i ? ", " : "", i, (i >> 16) & 255, (i >> 8) & 255, i & 255);
    snprintf(text + used, cap - used, "]}\n");
    return text;
}

static double reload_seconds(struct fixture *f)
{
    struct timespec t0, t1;
    struct node_reload_result result;
    /* CPU time: other processes on the machine do not count. */
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    assert_int_equal(node_reload(&f->node, &result), 0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    assert_true(result.unchanged);
    node_reload_result_free(&result);
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

/* The bytes in force are not validated again (seconds for a large file):
 * a reload of them costs a read, a compare and a hash. Measured in CPU
 * time against the reload of the same config laid out anew, which must be
 * parsed: a margin of 3x where the difference is over 10x. */
static void test_the_bytes_in_force_are_not_parsed_again(void **state)
{
    struct fixture *f = *state;
    char *text = config_text_of_records(50000);
    node_start(f, text);
    double same = reload_seconds(f);
    size_t len = strlen(text);
    char *laid_out = malloc(len + 2);
    assert_non_null(laid_out);
    laid_out[0] = ' ';
    memcpy(laid_out + 1, text, len + 1);
    file_put(f->config_path, laid_out);
    double parsed = reload_seconds(f);
    if (!(same * 3 < parsed))
        fail_msg("a reload of the bytes in force took %.6f s, one that parses %.6f s", same,
                 parsed);
    assert_int_equal(f->node.reloads, 0);
    free(laid_out);
    free(text);
}

static void test_a_file_that_differs_only_in_layout_publishes_nothing(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(3, "10.0.0.80");
    node_start(f, text);
    /* The same config on one line, and with a version bumped by hand. */
    file_put(
        f->config_path,
        "{\"records\": [{\"value\": \"10.0.0.80\", \"type\": \"A\", \"name\": \"www.x.test\"}],"
        " \"zones\": {\"x.test\": {}}, \"server\": {\"config_version\": 9, \"upstream\": [],"
        " \"mgmt_port\": 0, \"hot_reload\": false}}");

    struct node_reload_result result;
    assert_int_equal(node_reload(&f->node, &result), 0);
    assert_true(result.unchanged);
    assert_int_equal(f->node.version, 3);
    assert_int_equal(f->seen.image_published, 0);
    assert_int_equal(f->seen.reloaded, 0);
    node_reload_result_free(&result);
    free(text);
}

/* ---- blocklist files under the same config ---- */

/* A config naming the list file ads.txt beside it, version 3. */
static const char LIST_CONFIG[] =
    "{\"server\": {\"config_version\": 3, \"upstream\": [], \"mgmt_port\": 0, "
    "\"hot_reload\": false}, \"zones\": {\"x.test\": {}}, \"records\": [{\"name\": "
    "\"www.x.test\", \"type\": \"A\", \"value\": \"10.0.0.80\"}], \"blocklists\": "
    "[{\"path\": \"ads.txt\"}]}\n";

static void list_path(const struct fixture *f, char out[PATH_MAX])
{
    snprintf(out, PATH_MAX, "%s/ads.txt", f->dir);
}

static void node_start_with_list(struct fixture *f, const char *list_text)
{
    char list[PATH_MAX];
    list_path(f, list);
    file_put(list, list_text);
    node_start(f, LIST_CONFIG);
}

static void test_the_bytes_in_force_with_the_same_lists_are_unchanged(void **state)
{
    struct fixture *f = *state;
    node_start_with_list(f, "ads.example\n");
    uint8_t digest[CONFIG_DIGEST_SIZE];
    memcpy(digest, f->node.config.blocklist_digest, sizeof(digest));
    struct node_reload_result result;
    assert_int_equal(node_reload(&f->node, &result), 0);
    assert_true(result.unchanged);
    assert_int_equal(f->node.version, 3);
    assert_int_equal(f->seen.image_published, 0);
    assert_memory_equal(f->node.config.blocklist_digest, digest, sizeof(digest));
    node_reload_result_free(&result);
}

/* The config text is the very bytes in force, a list is not: it is read. */
static void test_the_bytes_in_force_with_an_edited_list_are_the_next_version(void **state)
{
    struct fixture *f = *state;
    node_start_with_list(f, "ads.example\n");
    uint8_t digest[CONFIG_DIGEST_SIZE];
    memcpy(digest, f->node.config.blocklist_digest, sizeof(digest));
    char list[PATH_MAX];
    list_path(f, list);
    file_put(list, "ads.example\ntracker.example\n");
    struct node_reload_result result;
    assert_int_equal(node_reload(&f->node, &result), 0);
    assert_false(result.unchanged);
    assert_int_equal(f->node.version, 4);
    assert_int_equal(f->node.config.blocklists[0].entries, 2);
    assert_memory_not_equal(f->node.config.blocklist_digest, digest, sizeof(digest));
    assert_int_equal(f->seen.image_published, 1);
    node_reload_result_free(&result);
}

static void test_the_bytes_in_force_with_a_list_gone_are_refused(void **state)
{
    struct fixture *f = *state;
    node_start_with_list(f, "ads.example\n");
    char list[PATH_MAX];
    list_path(f, list);
    assert_int_equal(unlink(list), 0);
    struct node_reload_result result;
    assert_int_equal(node_reload(&f->node, &result), -1);
    assert_true(result.error_count > 0);
    assert_non_null(strstr(result.errors[0], "cannot open the list file"));
    assert_int_equal(f->node.version, 3);
    assert_int_equal(f->node.config.blocklists[0].entries, 1);
    node_reload_result_free(&result);
}

/* A reload of the bytes in force with lists as loaded hashes the lists
 * but parses nothing: against a reload that parses them (the same config
 * laid out anew), in CPU time, with a margin of 3x. */
static void test_the_bytes_in_force_with_the_same_lists_are_not_parsed_again(void **state)
{
    struct fixture *f = *state;
    char list[PATH_MAX];
    list_path(f, list);
    FILE *out = fopen(list, "w");
    assert_non_null(out);
    for (unsigned i = 0; i < 200000; i++)
        fprintf(out, "host%u.ads%u.example\n", i, i % 97);
    assert_int_equal(fclose(out), 0);
    node_start(f, LIST_CONFIG);
    double same = reload_seconds(f);
    char laid_out[sizeof(LIST_CONFIG) + 1];
    snprintf(laid_out, sizeof(laid_out), " %s", LIST_CONFIG);
    file_put(f->config_path, laid_out);
    double parsed = reload_seconds(f);
    if (!(same * 3 < parsed))
        fail_msg("a reload of the bytes in force took %.6f s, one that parses %.6f s", same,
                 parsed);
    assert_int_equal(f->node.reloads, 0);
}

/* ---- a changed file ---- */

static void test_a_changed_file_is_published_as_the_next_version(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(3, "10.0.0.80");
    node_start(f, text);
    char *edited = config_text(3, "10.0.0.81");
    file_put(f->config_path, edited);

    struct node_reload_result result;
    assert_int_equal(node_reload(&f->node, &result), 0);
    assert_true(result.ok);
    assert_false(result.unchanged);
    assert_int_equal(result.version, 4);
    assert_int_equal(result.records, 1);
    assert_int_equal(f->node.version, 4);
    assert_int_equal(f->node.reloads, 1);
    assert_int_equal(published_version(f), 4);
    assert_int_equal(f->seen.config_changed, 1);
    assert_int_equal(f->seen.image_published, 1);
    assert_int_equal(f->seen.reloaded, 1);
    node_reload_result_free(&result);
    free(edited);
    free(text);
}

static void test_a_changed_file_is_written_back_with_its_version(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(3, "10.0.0.80");
    node_start(f, text);
    char *edited = config_text(3, "10.0.0.81");
    file_put(f->config_path, edited);

    assert_int_equal(node_reload(&f->node, NULL), 0);
    char *now = file_get(f->config_path);
    assert_int_equal(version_of(now), 4);
    assert_non_null(strstr(now, "10.0.0.81"));
    /* The state directory holds the bytes in force, which the file holds. */
    char *saved = saved_config(f);
    assert_string_equal(saved, now);
    assert_string_equal(f->node.config_text, now);
    /* Our own write-back is no change for the hot-reload poll. */
    assert_true(node_file_unchanged(&f->node, now, strlen(now)));
    free(saved);
    free(now);
    free(edited);
    free(text);
}

/* The text in force is served from STATE/config.json once it is there,
 * not held as a second copy: after the start and after each reload. */
static void test_the_text_in_force_is_the_saved_file_mapped(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(3, "10.0.0.80");
    node_start(f, text);
    assert_true(f->node.config_text_mapped);
    assert_int_equal(f->node.config_len, strlen(text));
    assert_string_equal(f->node.config_text, text);

    char *edited = config_text(3, "10.0.0.81");
    file_put(f->config_path, edited);
    assert_int_equal(node_reload(&f->node, NULL), 0);
    char *saved = saved_config(f);
    assert_true(f->node.config_text_mapped);
    assert_int_equal(f->node.config_len, strlen(saved));
    assert_string_equal(f->node.config_text, saved);
    /* The state directory replaced again: the mapping keeps what it had. */
    file_put(f->config_path, text);
    assert_int_equal(node_reload(&f->node, NULL), 0);
    assert_non_null(strstr(f->node.config_text, "10.0.0.80"));
    free(saved);
    free(edited);
    free(text);
}

/* The hash and checksum in force are those of the text in force, after
 * the start and after a reload (computed once, passed along). */
static void assert_hashes_of_text_in_force(const struct node *node)
{
    uint8_t hash[ENVELOPE_HASH_SIZE];
    envelope_config_hash(node->config_text, node->config_len, hash);
    assert_memory_equal(node->config_hash, hash, ENVELOPE_HASH_SIZE);
    char checksum[CONFIG_CHECKSUM_LEN + 1];
    config_checksum(node->config_text, node->config_len, checksum);
    assert_string_equal(node->checksum, checksum);
}

static void test_the_hash_and_checksum_follow_the_text_in_force(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(3, "10.0.0.80");
    node_start(f, text);
    assert_hashes_of_text_in_force(&f->node);
    char *edited = config_text(3, "10.0.0.81");
    file_put(f->config_path, edited);
    assert_int_equal(node_reload(&f->node, NULL), 0);
    assert_int_equal(f->node.version, 4);
    assert_hashes_of_text_in_force(&f->node);
    /* What was written back is what the hot-reload poll knows. */
    char *now = file_get(f->config_path);
    assert_true(node_file_unchanged(&f->node, now, strlen(now)));
    free(now);
    free(edited);
    free(text);
}

static void test_the_version_goes_past_a_bump_in_the_file(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(3, "10.0.0.80");
    node_start(f, text);
    char *edited = config_text(10, "10.0.0.81");
    file_put(f->config_path, edited);

    struct node_reload_result result;
    assert_int_equal(node_reload(&f->node, &result), 0);
    assert_int_equal(result.version, 11);
    assert_int_equal(f->node.version, 11);
    node_reload_result_free(&result);
    free(edited);
    free(text);
}

static void test_the_version_never_goes_back_to_the_files(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(5, "10.0.0.80");
    node_start(f, text);
    char *edited = config_text(1, "10.0.0.81");
    file_put(f->config_path, edited);

    struct node_reload_result result;
    assert_int_equal(node_reload(&f->node, &result), 0);
    assert_int_equal(result.version, 6);
    node_reload_result_free(&result);
    free(edited);
    free(text);
}

static void test_a_file_without_a_version_starts_from_memory(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(4, "10.0.0.80");
    node_start(f, text);
    char *edited = config_text(0, "10.0.0.81");
    file_put(f->config_path, edited);

    struct node_reload_result result;
    assert_int_equal(node_reload(&f->node, &result), 0);
    assert_int_equal(result.version, 5);
    node_reload_result_free(&result);
    free(edited);
    free(text);
}

/* ---- a broken file ---- */

static void test_a_broken_file_keeps_the_config_in_force(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(3, "10.0.0.80");
    node_start(f, text);
    char *in_force = strdup(f->node.config_text);
    char *broken = config_text(3, "10.0.0.300");
    file_put(f->config_path, broken);

    struct node_reload_result result;
    assert_int_equal(node_reload(&f->node, &result), -1);
    assert_false(result.ok);
    assert_true(result.error_count > 0);
    assert_non_null(strstr(result.errors[0], "10.0.0.300"));
    assert_int_equal(result.version, 3);
    assert_int_equal(f->node.version, 3);
    assert_string_equal(f->node.config_text, in_force);
    assert_true(f->node.config_invalid);
    assert_int_equal(f->node.reload_failures, 1);
    assert_non_null(f->node.last_error);
    assert_int_equal(f->seen.image_published, 0);
    assert_int_equal(f->seen.reloaded, 0);
    assert_int_equal(published_version(f), 3);
    char *saved = saved_config(f);
    assert_string_equal(saved, in_force);
    char *now = file_get(f->config_path);
    assert_string_equal(now, broken); /* never written back */
    /* Refused once, it is no change for the hot-reload poll any more. */
    assert_true(node_file_unchanged(&f->node, now, strlen(now)));
    free(now);
    free(saved);
    node_reload_result_free(&result);
    free(broken);
    free(in_force);
    free(text);
}

static void test_a_file_that_is_not_json_keeps_the_config_in_force(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(3, "10.0.0.80");
    node_start(f, text);
    file_put(f->config_path, "{ \"server\": ");

    struct node_reload_result result;
    assert_int_equal(node_reload(&f->node, &result), -1);
    assert_true(result.error_count > 0);
    assert_int_equal(f->node.version, 3);
    assert_true(f->node.config_invalid);
    node_reload_result_free(&result);
    free(text);
}

static void test_a_good_reload_after_a_broken_one_clears_the_failure(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(3, "10.0.0.80");
    node_start(f, text);
    char *broken = config_text(3, "10.0.0.300");
    file_put(f->config_path, broken);
    assert_int_equal(node_reload(&f->node, NULL), -1);
    char *fixed = config_text(3, "10.0.0.81");
    file_put(f->config_path, fixed);

    assert_int_equal(node_reload(&f->node, NULL), 0);
    assert_false(f->node.config_invalid);
    assert_null(f->node.last_error);
    assert_int_equal(f->node.version, 4);
    assert_int_equal(f->node.reload_failures, 1);
    free(fixed);
    free(broken);
    free(text);
}

static void test_a_broken_file_put_back_as_it_was_clears_the_failure(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(3, "10.0.0.80");
    node_start(f, text);
    file_put(f->config_path, "{");
    assert_int_equal(node_reload(&f->node, NULL), -1);
    file_put(f->config_path, text);

    struct node_reload_result result;
    assert_int_equal(node_reload(&f->node, &result), 0);
    assert_true(result.unchanged);
    assert_false(f->node.config_invalid);
    assert_null(f->node.last_error);
    assert_int_equal(f->node.version, 3);
    node_reload_result_free(&result);
    free(text);
}

static void test_a_missing_file_keeps_the_config_in_force(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(3, "10.0.0.80");
    node_start(f, text);
    assert_int_equal(unlink(f->config_path), 0);

    struct node_reload_result result;
    assert_int_equal(node_reload(&f->node, &result), -1);
    assert_int_equal(result.error_count, 1);
    assert_non_null(strstr(result.errors[0], "cannot read"));
    assert_int_equal(f->node.version, 3);
    assert_true(f->node.config_invalid);
    node_reload_result_free(&result);
    free(text);
}

static void test_a_node_on_the_defaults_has_no_file_to_reload(void **state)
{
    struct fixture *f = *state;
    node_open(f, false);
    assert_int_equal(node_load_initial(&f->node), 0);
    events_hook(f);

    struct node_reload_result result;
    assert_int_equal(node_reload(&f->node, &result), -1);
    assert_int_equal(result.error_count, 1);
    assert_non_null(strstr(result.errors[0], "without --config"));
    assert_int_equal(f->seen.config_changed, 0);
    node_reload_result_free(&result);
}

/* ---- the start ---- */

static void test_a_start_with_a_broken_file_serves_the_last_good_config(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(3, "10.0.0.80");
    node_start(f, text);
    node_free(&f->node);
    file_put(f->config_path, "{ broken");

    node_open(f, true);
    assert_int_equal(node_load_initial(&f->node), 0);
    assert_true(f->node.config_invalid);
    assert_non_null(f->node.last_error);
    assert_int_equal(f->node.version, 3);
    assert_string_equal(f->node.config_text, text);
    free(text);
}

static void test_a_start_with_a_broken_file_and_nothing_saved_fails(void **state)
{
    struct fixture *f = *state;
    file_put(f->config_path, "{ broken");
    node_open(f, true);
    assert_int_equal(node_load_initial(&f->node), -1);
}

static void test_a_start_takes_the_files_version_as_it_is(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(7, "10.0.0.80");
    node_start(f, text);
    assert_int_equal(f->node.version, 7);
    assert_int_equal(published_version(f), 7);
    char *now = file_get(f->config_path);
    assert_string_equal(now, text);
    free(now);
    free(text);
}

/* Finding 4: anti-rollback survives a restart on an older file. */
static void test_a_start_on_a_file_older_than_the_state_serves_the_states(void **state)
{
    struct fixture *f = *state;
    char *newer = config_text(6, "10.0.0.86");
    node_start(f, newer);
    node_free(&f->node);
    char *older = config_text(1, "10.0.0.81");
    file_put(f->config_path, older);

    node_open(f, true);
    assert_int_equal(node_load_initial(&f->node), 0);
    assert_int_equal(f->node.version, 6);
    assert_string_equal(f->node.config_text, newer);
    assert_false(f->node.config_invalid);
    char *now = file_get(f->config_path);
    assert_string_equal(now, older); /* the file is left as it is */
    free(now);
    free(older);
    free(newer);
}

static void test_a_start_on_a_newer_file_takes_the_file(void **state)
{
    struct fixture *f = *state;
    char *older = config_text(2, "10.0.0.82");
    node_start(f, older);
    node_free(&f->node);
    char *newer = config_text(5, "10.0.0.85");
    file_put(f->config_path, newer);

    node_open(f, true);
    assert_int_equal(node_load_initial(&f->node), 0);
    assert_int_equal(f->node.version, 5);
    assert_string_equal(f->node.config_text, newer);
    free(older);
    free(newer);
}

static void test_a_config_version_above_2_to_the_53_does_not_load(void **state)
{
    struct fixture *f = *state;
    file_put(f->config_path, "{\"server\": {\"config_version\": 9007199254740992}}");
    node_open(f, true);
    assert_int_equal(node_load_initial(&f->node), -1);
    file_put(f->config_path, "{\"server\": {\"config_version\": 9007199254740991}}");
    assert_int_equal(node_load_initial(&f->node), 0);
}

/* ---- the version floor (STATE/version) ---- */

static const char *floor_path(const struct fixture *f)
{
    static char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/%s", f->state_dir, VERSION_FLOOR_FILE_NAME);
    return path;
}

static const char *saved_path(const struct fixture *f)
{
    static char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/%s", f->state_dir, NODE_CONFIG_FILE_NAME);
    return path;
}

/* A restart: the node stopped, then started on text. */
static void node_restart(struct fixture *f, const char *text)
{
    node_free(&f->node);
    node_start(f, text);
}

static struct version_floor floor_on_disk(const struct fixture *f)
{
    struct version_floor floor;
    char err[256];
    assert_int_equal(version_floor_read(floor_path(f), &floor, err, sizeof(err)), 0);
    return floor;
}

static void hash_fill(uint8_t hash[ENVELOPE_HASH_SIZE], uint8_t value)
{
    memset(hash, value, ENVELOPE_HASH_SIZE);
}

static void test_a_first_start_records_the_files_version_and_hash(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(6, "10.0.0.86");
    node_start(f, text);
    struct version_floor floor = floor_on_disk(f);
    assert_int_equal(floor.version, 6);
    uint8_t hash[ENVELOPE_HASH_SIZE];
    envelope_config_hash(text, strlen(text), hash);
    assert_memory_equal(floor.hash, hash, ENVELOPE_HASH_SIZE);
    assert_memory_equal(f->node.floor.hash, hash, ENVELOPE_HASH_SIZE);
    free(text);
}

static void test_a_reload_records_its_version_before_it_is_in_force(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(6, "10.0.0.86");
    node_start(f, text);
    char *edited = config_text(6, "10.0.0.87");
    file_put(f->config_path, edited);
    assert_int_equal(node_reload(&f->node, NULL), 0);
    assert_int_equal(f->node.version, 7);
    struct version_floor floor = floor_on_disk(f);
    assert_int_equal(floor.version, 7);
    assert_memory_equal(floor.hash, f->node.config_hash, ENVELOPE_HASH_SIZE);
    free(edited);
    free(text);
}

/* Issue 12: the floor outlives STATE/config.json. */
static void
test_a_start_below_the_floor_without_the_saved_config_serves_the_floors_version(void **state)
{
    struct fixture *f = *state;
    char *newer = config_text(6, "10.0.0.86");
    node_start(f, newer);
    assert_int_equal(unlink(saved_path(f)), 0);
    char *older = config_text(1, "10.0.0.81");
    node_restart(f, older);

    assert_int_equal(f->node.version, 6);
    assert_int_equal(f->node.config.server.config_version, 6); /* the image's serials too */
    assert_string_equal(f->node.config_text, older);           /* the only config at hand */
    struct version_floor floor = floor_on_disk(f);
    assert_int_equal(floor.version, 6); /* never lowered */
    uint8_t hash[ENVELOPE_HASH_SIZE];
    envelope_config_hash(newer, strlen(newer), hash);
    assert_memory_equal(floor.hash, hash, ENVELOPE_HASH_SIZE);
    assert_int_equal(f->node.floor.version, 6);
    /* Judged against the floor: an older signed config is refused. */
    assert_int_equal(
        sync_compare_floor(f->node.floor.version, f->node.floor.hash, f->node.config_hash, 5, hash),
        SYNC_REJECTED_STALE);
    free(older);
    free(newer);
}

static void test_a_reload_below_the_floor_goes_past_it(void **state)
{
    struct fixture *f = *state;
    char *newer = config_text(6, "10.0.0.86");
    node_start(f, newer);
    assert_int_equal(unlink(saved_path(f)), 0);
    char *older = config_text(1, "10.0.0.81");
    node_restart(f, older);
    char *edited = config_text(1, "10.0.0.82");
    file_put(f->config_path, edited);

    struct node_reload_result result;
    assert_int_equal(node_reload(&f->node, &result), 0);
    assert_int_equal(result.version, 7);
    assert_int_equal(floor_on_disk(f).version, 7);
    node_reload_result_free(&result);
    free(edited);
    free(older);
    free(newer);
}

static void test_a_start_on_a_newer_file_raises_the_floor(void **state)
{
    struct fixture *f = *state;
    char *older = config_text(2, "10.0.0.82");
    node_start(f, older);
    char *newer = config_text(5, "10.0.0.85");
    node_restart(f, newer);
    assert_int_equal(f->node.version, 5);
    assert_int_equal(floor_on_disk(f).version, 5);
    free(newer);
    free(older);
}

static void test_a_start_with_a_floor_from_elsewhere_in_time_keeps_it(void **state)
{
    struct fixture *f = *state;
    /* No STATE/config.json at all, a floor of 40 (restored from a backup). */
    struct version_floor floor = {.version = 40};
    hash_fill(floor.hash, 0x40);
    char err[256];
    assert_int_equal(version_floor_write(floor_path(f), &floor, err, sizeof(err)), 0);
    char *text = config_text(3, "10.0.0.83");
    node_start(f, text);
    assert_int_equal(f->node.version, 40);
    struct version_floor now = floor_on_disk(f);
    assert_int_equal(now.version, 40);
    assert_memory_equal(now.hash, floor.hash, ENVELOPE_HASH_SIZE);
    free(text);
}

static void test_a_damaged_floor_file_stops_the_start(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(3, "10.0.0.83");
    file_put(f->config_path, text);
    file_put(floor_path(f), "nanodns-version 1 6\n");
    chmod(floor_path(f), 0600);
    node_open(f, true);
    assert_int_equal(node_load_initial(&f->node), -1);
    /* Removed by the operator, it is a first start. */
    assert_int_equal(unlink(floor_path(f)), 0);
    node_free(&f->node);
    node_open(f, true);
    assert_int_equal(node_load_initial(&f->node), 0);
    assert_int_equal(f->node.version, 3);
    free(text);
}

static void test_a_candidate_below_the_floor_is_never_put_in_force(void **state)
{
    struct fixture *f = *state;
    char *text = config_text(6, "10.0.0.86");
    node_start(f, text);
    char *older = config_text(5, "10.0.0.85");
    struct node_candidate c = {0};
    struct config_diags diags;
    config_diags_init(&diags, "older");
    assert_int_equal(config_load_buffer_at(older, strlen(older), f->config_path, &c.cfg, &diags),
                     0);
    config_diags_free(&diags);
    struct message_list errors = {0};
    assert_int_equal(node_candidate_compile(&f->node, &c, "older", &errors), 0);
    c.text = older;
    c.len = strlen(older);
    assert_int_equal(node_commit(&f->node, &c, &errors), -1); /* frees older */
    assert_true(errors.count > 0);
    assert_int_equal(f->node.version, 6);
    assert_int_equal(floor_on_disk(f).version, 6);
    message_list_free(&errors);
    free(text);
}

int main(void)
{
    log_init("test_node", LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_an_unchanged_file_publishes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_bytes_in_force_are_not_parsed_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_bytes_in_force_with_the_same_lists_are_unchanged,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_the_bytes_in_force_with_an_edited_list_are_the_next_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_bytes_in_force_with_a_list_gone_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_the_bytes_in_force_with_the_same_lists_are_not_parsed_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_file_that_differs_only_in_layout_publishes_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_changed_file_is_published_as_the_next_version, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_text_in_force_is_the_saved_file_mapped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_hash_and_checksum_follow_the_text_in_force,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_changed_file_is_written_back_with_its_version, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_version_goes_past_a_bump_in_the_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_version_never_goes_back_to_the_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_file_without_a_version_starts_from_memory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_broken_file_keeps_the_config_in_force, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_file_that_is_not_json_keeps_the_config_in_force,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_good_reload_after_a_broken_one_clears_the_failure,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_broken_file_put_back_as_it_was_clears_the_failure,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_missing_file_keeps_the_config_in_force, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_node_on_the_defaults_has_no_file_to_reload, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_start_with_a_broken_file_serves_the_last_good_config,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_start_with_a_broken_file_and_nothing_saved_fails,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_start_on_a_file_older_than_the_state_serves_the_states, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_start_on_a_newer_file_takes_the_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_config_version_above_2_to_the_53_does_not_load,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_start_takes_the_files_version_as_it_is, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_first_start_records_the_files_version_and_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_reload_records_its_version_before_it_is_in_force, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_start_below_the_floor_without_the_saved_config_serves_the_floors_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_reload_below_the_floor_goes_past_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_start_on_a_newer_file_raises_the_floor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_start_with_a_floor_from_elsewhere_in_time_keeps_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_damaged_floor_file_stops_the_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_candidate_below_the_floor_is_never_put_in_force, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
