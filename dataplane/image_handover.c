/* Handing a new image to every worker (image_handover.h). */
#include "image_handover.h"

void image_handover_init(struct image_handover *h, unsigned workers, const struct image *first)
{
    if (workers < 1)
        workers = 1;
    if (workers > IMAGE_HANDOVER_WORKERS_MAX)
        workers = IMAGE_HANDOVER_WORKERS_MAX;
    h->workers = workers;
    atomic_store_explicit(&h->image, first, memory_order_relaxed);
    for (unsigned i = 0; i < IMAGE_HANDOVER_WORKERS_MAX; i++)
        atomic_store_explicit(&h->acknowledged[i], 1, memory_order_relaxed);
    atomic_store_explicit(&h->generation, 1, memory_order_release);
}

uint64_t image_handover_publish(struct image_handover *h, const struct image *img)
{
    atomic_store_explicit(&h->image, img, memory_order_relaxed);
    uint64_t generation = atomic_load_explicit(&h->generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&h->generation, generation, memory_order_release);
    return generation;
}

const struct image *image_handover_take(struct image_handover *h, uint64_t *served)
{
    uint64_t generation = atomic_load_explicit(&h->generation, memory_order_acquire);
    if (generation == *served)
        return NULL;
    /* The pointer stored before this generation (acquire above): the
     * publisher waits for every acknowledgement of it before it publishes
     * again, so no newer one can be stored meanwhile. */
    const struct image *img = atomic_load_explicit(&h->image, memory_order_relaxed);
    *served = generation;
    return img;
}

void image_handover_acknowledge(struct image_handover *h, unsigned worker, uint64_t generation)
{
    if (worker < IMAGE_HANDOVER_WORKERS_MAX)
        atomic_store_explicit(&h->acknowledged[worker], generation, memory_order_release);
}

uint32_t image_handover_laggards(const struct image_handover *h)
{
    uint64_t generation = atomic_load_explicit(&h->generation, memory_order_relaxed);
    uint32_t laggards = 0;
    for (unsigned i = 0; i < h->workers; i++)
        if (atomic_load_explicit(&h->acknowledged[i], memory_order_acquire) < generation)
            laggards |= 1u << i;
    return laggards;
}

bool image_handover_settled(const struct image_handover *h)
{
    return image_handover_laggards(h) == 0;
}
