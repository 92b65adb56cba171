/* nanoctl's commands (status, reload, cluster): what each asks the node's API, and the exit
 * status its answer earns (cli.h). Single-threaded; borrows the target it is given. */
#ifndef NANOCTL_COMMAND_H
#define NANOCTL_COMMAND_H

#include <stdbool.h>
#include <stdint.h>

#include "target.h"

struct json_object;

struct command {
    const char *name;
    const char *method;
    const char *path;
    /* The verdict on a 2xx answer: EXIT_OK or EXIT_NODE_FAILURE. */
    int (*judge)(struct json_object *answer);
    /* The answer for people; node is where it came from. */
    void (*print)(struct json_object *answer, const char *node);
    /* How long to wait without --timeout. */
    double default_timeout_s;
};

/* The command called name, or NULL. */
const struct command *command_find(const char *name);

/* Run cmd against the node at t, printing the answer (its JSON with json),
 * within timeout_ms. key_path: the key file to sign a reload with ("" for
 * none); key_required: it was asked for (--key), so not being able to sign
 * is an error rather than a fallback to unsigned. target_key: the public
 * key of the node the signed request is for (NULL: the signing key's own,
 * right when nanoctl signs with the node's own key). Returns the exit
 * status. */
int command_run(const struct command *cmd, const struct target *t, bool json, int timeout_ms,
                const char *key_path, bool key_required, const uint8_t *target_key, bool verbose);

#endif
