/* Hot reload (see config_watch.h). Content, not mtime, decides what is a
 * change: node_file_unchanged knows what the node last loaded, wrote back
 * or refused, so our own write-back is no change and a broken file is
 * reported once, not every 5 s. The list files the config in force names
 * are read too, each compared with the digest of what was loaded: an edit
 * of one reloads as an edit of the config does. */
#include "config_watch.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "atomic_file.h"
#include "config.h"
#include "log.h"
#include "node.h"

#define HOT_RELOAD_INTERVAL_S 5 /* as the original */

struct config_watch {
    struct node *node;
    struct event *timer;  /* NULL when there is no file to watch */
    bool file_unreadable; /* the last poll could not read the file (reported once) */
    /* Why the last poll could not read a list file ("" when it could):
     * reported once, until the reason changes or the list is back. */
    char list_problem[512];
    /* config_blocklists_recheck's digest of the list files as the last
     * poll found them: lists it already reloaded for (or found as loaded)
     * are not taken up again, so a reload they failed is not repeated
     * every 5 s. */
    bool lists_seen_known;
    uint8_t lists_seen[CONFIG_DIGEST_SIZE];
};

/* Whether the list files hold something new since the config in force
 * was loaded and since the last poll; an unreadable list is reported once
 * and is no change: the lists loaded keep serving. */
static bool lists_changed(struct config_watch *watch)
{
    struct node *node = watch->node;
    uint8_t now[CONFIG_DIGEST_SIZE];
    char err[sizeof(watch->list_problem)];
    enum config_lists_state state = config_blocklists_recheck(&node->config, now, err, sizeof(err));
    if (state == CONFIG_LISTS_UNREADABLE) {
        if (strcmp(err, watch->list_problem) != 0)
            log_warning("hot reload: %s; still serving version %" PRIu64 " with the lists loaded",
                        err, node->version);
        snprintf(watch->list_problem, sizeof(watch->list_problem), "%s", err);
        return false;
    }
    if (watch->list_problem[0] != '\0')
        log_info("hot reload: the list files can be read again");
    watch->list_problem[0] = '\0';
    bool seen = watch->lists_seen_known && memcmp(now, watch->lists_seen, sizeof(now)) == 0;
    memcpy(watch->lists_seen, now, sizeof(now));
    watch->lists_seen_known = true;
    return state == CONFIG_LISTS_CHANGED && !seen;
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct config_watch *watch = arg;
    struct node *node = watch->node;
    char *text;
    size_t len;
    char err[512];
    if (atomic_file_read(node->config_path, &text, &len, err, sizeof(err)) < 0) {
        if (!watch->file_unreadable)
            log_warning("hot reload: cannot read %s; still serving version %" PRIu64, err,
                        node->version);
        watch->file_unreadable = true;
        return;
    }
    watch->file_unreadable = false;
    /* Read before any reload: what a reload is given is what the next
     * poll compares with. */
    bool lists = lists_changed(watch);
    /* A touch is no change, and an edit within the same second as the
     * last one is. */
    if (node_file_unchanged(node, text, len)) {
        if (!lists) {
            log_debug("hot reload: %s unchanged", node->config_path);
            free(text);
            return;
        }
        log_info("a list file of %s changed: reloading", node->config_path);
    } else {
        log_info("%s changed: reloading", node->config_path);
    }
    node_reload_text(node, text, len, NULL);
}

void config_watch_follow(struct config_watch *watch)
{
    if (watch == NULL || watch->timer == NULL)
        return;
    bool want = watch->node->config.server.hot_reload;
    bool running = evtimer_pending(watch->timer, NULL);
    if (want && !running) {
        struct timeval interval = {.tv_sec = HOT_RELOAD_INTERVAL_S};
        event_add(watch->timer, &interval);
        log_info("hot reload: checking %s every %d s", watch->node->config_path,
                 HOT_RELOAD_INTERVAL_S);
    } else if (!want && running) {
        event_del(watch->timer);
        log_info("hot reload: off");
    }
}

struct config_watch *config_watch_start(struct node *node, struct event_base *base)
{
    struct config_watch *watch = calloc(1, sizeof(*watch));
    if (watch == NULL) {
        log_error("cannot create the hot-reload timer");
        return NULL;
    }
    watch->node = node;
    if (node_file_path(node) == NULL)
        return watch; /* the built-in defaults: nothing to watch */
    watch->timer = event_new(base, -1, EV_PERSIST, on_poll, watch);
    if (watch->timer == NULL) {
        log_error("cannot create the hot-reload timer");
        free(watch);
        return NULL;
    }
    config_watch_follow(watch);
    return watch;
}

void config_watch_free(struct config_watch *watch)
{
    if (watch == NULL)
        return;
    if (watch->timer != NULL)
        event_free(watch->timer);
    free(watch);
}
