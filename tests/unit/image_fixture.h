/* Test fixture: a zone image compiled from a JSON config, as the control
 * plane would publish it. The fixture owns its buffer; cmocka fails the test
 * on any error. */
#ifndef NANODNS_IMAGE_FIXTURE_H
#define NANODNS_IMAGE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

struct image_fixture {
    uint8_t *buf;
    size_t len;
    struct image img;
};

/* Load, compile and open json into f->img. */
void image_fixture_open(struct image_fixture *f, const char *json);
/* The same, json being a printf format that the arguments fill in. */
void image_fixture_compile(struct image_fixture *f, const char *json_format, ...);
void image_fixture_free(struct image_fixture *f);

#endif
