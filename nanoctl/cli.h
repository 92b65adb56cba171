/* nanoctl's command-line conventions: its exit statuses and its messages on
 * stderr (usage errors, --verbose notes). Single-threaded, no state. */
#ifndef NANOCTL_CLI_H
#define NANOCTL_CLI_H

#include <stdbool.h>

enum {
    EXIT_OK = 0,
    EXIT_NODE_FAILURE = 1, /* the node answered, and what it said is a failure */
    EXIT_USAGE = 2,        /* a bad command line, or no node to ask */
    EXIT_UNREACHABLE = 3,  /* no HTTP answer at all */
};

/* "nanoctl: MESSAGE" and the hint to --help, on stderr. Returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* With --verbose, "nanoctl: MESSAGE" on stderr: how the node was found,
 * which key signs. */
void cli_note(bool verbose, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
