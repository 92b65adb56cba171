/* The default state directory. See state_dir.h. */
#include "state_dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int state_dir_default(char *out, size_t out_len)
{
    int n;
    int shared = 0;
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    if (geteuid() == 0) {
        n = snprintf(out, out_len, "/var/lib/nanodns");
    } else if (xdg != NULL && xdg[0] == '/') { /* relative values are invalid (XDG spec) */
        n = snprintf(out, out_len, "%s/nanodns", xdg);
    } else if (home != NULL && home[0] == '/') {
        n = snprintf(out, out_len, "%s/.local/state/nanodns", home);
    } else {
        n = snprintf(out, out_len, "/tmp/nanodns-%lu", (unsigned long)geteuid());
        shared = 1;
    }
    if (n < 0 || (size_t)n >= out_len)
        return -1;
    return shared;
}
