/* zone.img as the data plane serves it: two slots (the image served, and
 * the one a reload loads; each a private copy, image_map_file), and the
 * stat that tells a new file from the one last tried. One owner (main.c),
 * on the main thread: after image_watch_switch the previous image stays
 * mapped until image_watch_release, which the owner calls once no worker
 * can point into it any more (image_handover.h). */
#ifndef NANODNS_IMAGE_WATCH_H
#define NANODNS_IMAGE_WATCH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "image.h"

/* How often the owner checks for a new file: the backstop for a
 * notification (SIGHUP) that did not come. */
#define IMAGE_WATCH_INTERVAL_MS 1000

struct image_watch {
    char path[PATH_MAX]; /* STATE_DIR/zone.img */
    struct image images[2];
    void *maps[2];
    size_t map_lens[2];
    int current; /* the slot served */
    /* The file last tried, served or refused: a check loads zone.img
     * again only when it is no longer that file. */
    struct stat last;
    bool last_failed;
    bool stat_failed;
};

enum image_watch_change {
    IMAGE_WATCH_SAME,    /* nothing new, or no file to look at: still serving (logged) */
    IMAGE_WATCH_REFUSED, /* a new file that fails the checks: still serving (logged) */
    IMAGE_WATCH_LOADED,  /* a new image waits in the other slot: image_watch_switch */
};

/* Watch STATE_DIR/zone.img; nothing mapped yet. Returns -1 when the path
 * is too long. */
int image_watch_init(struct image_watch *w, const char *state_dir);

/* Map the first image. Returns -1 with the reason in err (cap octets). */
int image_watch_load_first(struct image_watch *w, char *err, size_t cap);

/* Load zone.img into the other slot if it is a new file, or if forced
 * (SIGHUP) after a refusal. forced also logs an unchanged file. The other
 * slot must be free (image_watch_release). */
enum image_watch_change image_watch_check(struct image_watch *w, bool forced);

/* Serve the image image_watch_check loaded; the previous one stays mapped
 * until image_watch_release. */
void image_watch_switch(struct image_watch *w);

/* Unmap the image served before the last switch (nothing if none). */
void image_watch_release(struct image_watch *w);

/* The image served. */
static inline const struct image *image_watch_served(const struct image_watch *w)
{
    return &w->images[w->current];
}

/* Its config version, for log lines. */
static inline unsigned long long image_watch_version(const struct image_watch *w)
{
    return (unsigned long long)image_watch_served(w)->header->config_version;
}

/* Unmap both slots. */
void image_watch_close(struct image_watch *w);

#endif
