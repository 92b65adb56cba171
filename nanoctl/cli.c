/* nanoctl's messages on stderr. See cli.h. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>

int cli_usage_error(const char *fmt, ...)
{
    fputs("nanoctl: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'nanoctl --help' for more information.\n", stderr);
    return EXIT_USAGE;
}

void cli_note(bool verbose, const char *fmt, ...)
{
    if (!verbose)
        return;
    fputs("nanoctl: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
