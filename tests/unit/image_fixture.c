/* A zone image compiled from JSON for the unit tests (image_fixture.h). */
#include "image_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "compile.h"
#include "config.h"

void image_fixture_open(struct image_fixture *f, const char *json)
{
    struct config cfg;
    struct config_diags diags;
    config_diags_init(&diags, "test config");
    if (config_load_buffer(json, strlen(json), &cfg, &diags) < 0) {
        config_diags_print(&diags, stderr);
        config_diags_free(&diags);
        fail_msg("the test config does not load");
    }
    config_diags_free(&diags);
    char err[256] = "";
    int rc = compile_config(&cfg, &f->buf, &f->len, err, sizeof err);
    config_free(&cfg);
    if (rc < 0)
        fail_msg("compile_config: %s", err);
    if (image_open(&f->img, f->buf, f->len, err, sizeof err) < 0)
        fail_msg("image_open: %s", err);
}

void image_fixture_compile(struct image_fixture *f, const char *json_format, ...)
{
    char json[8192];
    va_list ap;
    va_start(ap, json_format);
    int n = vsnprintf(json, sizeof json, json_format, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof json);
    image_fixture_open(f, json);
}

void image_fixture_free(struct image_fixture *f)
{
    free(f->buf);
    f->buf = NULL;
}
