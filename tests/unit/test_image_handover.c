/* Unit tests for dataplane/image_handover.c: a published image reaches
 * every worker once, with a new generation; the old one may go only when
 * every worker has acknowledged the new one, and a worker that takes it
 * on another thread sees it whole. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "image_handover.h"

/* Only their addresses matter here. */
static struct image first, second, third;

static void test_the_first_image_is_settled_from_the_start(void **state)
{
    (void)state;
    struct image_handover h;
    image_handover_init(&h, 4, &first);
    assert_true(image_handover_settled(&h));
    assert_int_equal(image_handover_laggards(&h), 0);
    uint64_t served = 1; /* what a worker starts with */
    assert_null(image_handover_take(&h, &served));
    assert_int_equal(served, 1);
}

static void test_a_published_image_is_taken_once_with_its_generation(void **state)
{
    (void)state;
    struct image_handover h;
    image_handover_init(&h, 2, &first);
    assert_int_equal(image_handover_publish(&h, &second), 2);
    uint64_t served = 1;
    assert_ptr_equal(image_handover_take(&h, &served), &second);
    assert_int_equal(served, 2);
    assert_null(image_handover_take(&h, &served)); /* nothing newer */
}

static void test_the_old_image_is_retired_only_when_every_worker_acknowledged(void **state)
{
    (void)state;
    struct image_handover h;
    image_handover_init(&h, 3, &first);
    image_handover_publish(&h, &second);
    assert_false(image_handover_settled(&h));
    assert_int_equal(image_handover_laggards(&h), 0x7);

    uint64_t served[3] = {1, 1, 1};
    for (unsigned i = 0; i < 3; i++)
        assert_ptr_equal(image_handover_take(&h, &served[i]), &second);
    /* Taken is not acknowledged: a worker may still be inside an event
     * that reads the old image. */
    assert_false(image_handover_settled(&h));

    image_handover_acknowledge(&h, 0, served[0]);
    image_handover_acknowledge(&h, 2, served[2]);
    assert_false(image_handover_settled(&h));
    assert_int_equal(image_handover_laggards(&h), 1u << 1);

    image_handover_acknowledge(&h, 1, served[1]);
    assert_true(image_handover_settled(&h));
}

static void test_an_acknowledgement_of_an_older_generation_does_not_settle(void **state)
{
    (void)state;
    struct image_handover h;
    image_handover_init(&h, 2, &first);
    image_handover_publish(&h, &second);
    image_handover_acknowledge(&h, 0, 2);
    image_handover_acknowledge(&h, 1, 2);
    assert_true(image_handover_settled(&h));

    image_handover_publish(&h, &third); /* generation 3 */
    image_handover_acknowledge(&h, 0, 3);
    image_handover_acknowledge(&h, 1, 2); /* still on the second */
    assert_false(image_handover_settled(&h));
    assert_int_equal(image_handover_laggards(&h), 1u << 1);
    uint64_t served = 2;
    assert_ptr_equal(image_handover_take(&h, &served), &third);
    image_handover_acknowledge(&h, 1, served);
    assert_true(image_handover_settled(&h));
}

static void test_workers_beyond_the_count_are_not_waited_for(void **state)
{
    (void)state;
    struct image_handover h;
    image_handover_init(&h, 1, &first);
    image_handover_publish(&h, &second);
    image_handover_acknowledge(&h, 0, 2);
    assert_true(image_handover_settled(&h));
}

static void test_the_worker_count_is_kept_within_the_stats_slots(void **state)
{
    (void)state;
    struct image_handover h;
    image_handover_init(&h, 0, &first);
    assert_int_equal(h.workers, 1);
    image_handover_init(&h, IMAGE_HANDOVER_WORKERS_MAX + 5, &first);
    assert_int_equal(h.workers, IMAGE_HANDOVER_WORKERS_MAX);
}

/* A worker thread that takes every image published and checks what it
 * points at was written before the publication. */
struct payload {
    struct image img;
    int value;
};

#define ROUNDS 2000
static struct payload payloads[2];

struct worker_arg {
    struct image_handover *h;
    unsigned index;
    uint64_t taken;
    int bad;
};

static void *worker(void *arg)
{
    struct worker_arg *w = arg;
    uint64_t served = 1;
    while (served < ROUNDS + 1) {
        const struct image *img = image_handover_take(w->h, &served);
        if (img == NULL)
            continue;
        const struct payload *p = (const struct payload *)img;
        if (p->value != (int)served)
            w->bad++;
        w->taken++;
        image_handover_acknowledge(w->h, w->index, served);
    }
    return NULL;
}

static void test_workers_on_other_threads_see_each_image_whole(void **state)
{
    (void)state;
    struct image_handover h;
    payloads[0].value = 1;
    image_handover_init(&h, 2, &payloads[0].img);
    struct worker_arg args[2] = {{&h, 0, 0, 0}, {&h, 1, 0, 0}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, worker, &args[i]), 0);
    for (uint64_t generation = 2; generation <= ROUNDS + 1; generation++) {
        /* Only the slot no worker can still read is written: the one
         * retired when the previous publication settled. */
        while (!image_handover_settled(&h))
            ;
        struct payload *p = &payloads[generation % 2];
        p->value = (int)generation;
        assert_int_equal(image_handover_publish(&h, &p->img), generation);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(args[i].bad, 0);
        assert_true(args[i].taken >= 1);
    }
    assert_true(image_handover_settled(&h));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_first_image_is_settled_from_the_start),
        cmocka_unit_test(test_a_published_image_is_taken_once_with_its_generation),
        cmocka_unit_test(test_the_old_image_is_retired_only_when_every_worker_acknowledged),
        cmocka_unit_test(test_an_acknowledgement_of_an_older_generation_does_not_settle),
        cmocka_unit_test(test_workers_beyond_the_count_are_not_waited_for),
        cmocka_unit_test(test_the_worker_count_is_kept_within_the_stats_slots),
        cmocka_unit_test(test_workers_on_other_threads_see_each_image_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
