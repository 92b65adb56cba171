/* libFuzzer target for the config loader (controlplane/config_*.c): any bytes go to
 * config_load_buffer; it must neither crash nor leak, and what it reports
 * or loads must print. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink)
        sink = fopen("/dev/null", "w");

    struct config cfg;
    struct config_diags diags;
    config_diags_init(&diags, "fuzz.json");
    if (config_load_buffer((const char *)data, size, &cfg, &diags) == 0 && sink)
        config_print_summary(&cfg, sink);
    if (sink)
        config_diags_print(&diags, sink);
    config_free(&cfg);
    config_diags_free(&diags);
    return 0;
}
