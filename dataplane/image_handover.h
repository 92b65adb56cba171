/* Handing a new image to every worker: the main thread publishes it (an
 * atomic pointer and a generation), each worker takes it between two of
 * its events and acknowledges the generation, and the previous image may
 * be unmapped only once every worker has acknowledged the new one (no
 * worker can still be building an answer from it). Lock-free: one writer
 * (the main thread) for the pointer and the generation, one writer per
 * worker for its acknowledgement; anyone may read. */
#ifndef NANODNS_IMAGE_HANDOVER_H
#define NANODNS_IMAGE_HANDOVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "image.h"
#include "stats.h"

#define IMAGE_HANDOVER_WORKERS_MAX STATS_WORKERS_MAX

struct image_handover {
    /* The image to serve and its generation (1 for the first): stored
     * pointer first, then the generation with release, so a worker that
     * reads the generation with acquire sees that image or a later one. */
    _Atomic(const struct image *) image;
    _Atomic uint64_t generation;
    /* Worker i serves generation acknowledged[i] (and no older image). */
    _Atomic uint64_t acknowledged[IMAGE_HANDOVER_WORKERS_MAX];
    unsigned workers;
};

/* workers (1..IMAGE_HANDOVER_WORKERS_MAX) serve first from the start: it is
 * generation 1, acknowledged by all. */
void image_handover_init(struct image_handover *h, unsigned workers, const struct image *first);

/* Main thread: serve img from now on. Returns its generation. */
uint64_t image_handover_publish(struct image_handover *h, const struct image *img);

/* Worker: when a generation newer than *served is published, the image to
 * switch to (and *served is moved to it); NULL when there is none. Once
 * the worker serves it, it calls image_handover_acknowledge. */
const struct image *image_handover_take(struct image_handover *h, uint64_t *served);

/* Worker: nothing it holds points into images older than generation. */
void image_handover_acknowledge(struct image_handover *h, unsigned worker, uint64_t generation);

/* Has every worker acknowledged the generation last published? Then the
 * images before it can be unmapped. */
bool image_handover_settled(const struct image_handover *h);

/* The workers that have not (a bit per worker), for log lines. */
uint32_t image_handover_laggards(const struct image_handover *h);

#endif
