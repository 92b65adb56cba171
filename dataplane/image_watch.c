/* The served zone image and its reloads (image_watch.h). */
#include "image_watch.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

int image_watch_init(struct image_watch *w, const char *state_dir)
{
    int written = snprintf(w->path, sizeof(w->path), "%s/%s", state_dir, IMAGE_FILE_NAME);
    return written < 0 || (size_t)written >= sizeof(w->path) ? -1 : 0;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Map zone.img into slot. The stat comes first: if the file is replaced
 * between the stat and the map we load the newer file and the next check
 * loads it once more, instead of missing it. */
static int image_watch_load(struct image_watch *w, int slot, char *err, size_t cap)
{
    if (stat(w->path, &w->last) < 0) {
        snprintf(err, cap, "%s", strerror(errno));
        return -1;
    }
    if (image_map_file(w->path, &w->images[slot], &w->maps[slot], &w->map_lens[slot], err, cap) ==
        0)
        return 0;
    /* The reader may name the file itself; our log lines already do. */
    size_t path_len = strlen(w->path);
    if (strncmp(err, w->path, path_len) == 0 && err[path_len] == ':' && err[path_len + 1] == ' ')
        memmove(err, err + path_len + 2, strlen(err + path_len + 2) + 1);
    return -1;
}

int image_watch_load_first(struct image_watch *w, char *err, size_t cap)
{
    w->current = 0;
    return image_watch_load(w, 0, err, cap);
}

enum image_watch_change image_watch_check(struct image_watch *w, bool forced)
{
    struct stat now;
    if (stat(w->path, &now) < 0) {
        if (!w->stat_failed || forced)
            log_warning("cannot stat %s: %s; still serving version %llu", w->path, strerror(errno),
                        image_watch_version(w));
        w->stat_failed = true;
        return IMAGE_WATCH_SAME;
    }
    w->stat_failed = false;
    if (same_file(&now, &w->last) && !(forced && w->last_failed)) {
        if (forced)
            log_info("image %s unchanged; serving version %llu", w->path, image_watch_version(w));
        return IMAGE_WATCH_SAME;
    }
    char err[256];
    if (image_watch_load(w, 1 - w->current, err, sizeof(err)) < 0) {
        log_error("refusing image %s: %s; still serving version %llu", w->path, err,
                  image_watch_version(w));
        w->last_failed = true;
        return IMAGE_WATCH_REFUSED;
    }
    w->last_failed = false;
    return IMAGE_WATCH_LOADED;
}

void image_watch_switch(struct image_watch *w)
{
    w->current = 1 - w->current;
}

void image_watch_release(struct image_watch *w)
{
    int old = 1 - w->current;
    if (w->maps[old] != NULL)
        image_unmap(w->maps[old], w->map_lens[old]);
    w->maps[old] = NULL;
    w->map_lens[old] = 0;
}

void image_watch_close(struct image_watch *w)
{
    for (int i = 0; i < 2; i++) {
        if (w->maps[i] != NULL)
            image_unmap(w->maps[i], w->map_lens[i]);
        w->maps[i] = NULL;
        w->map_lens[i] = 0;
    }
}
