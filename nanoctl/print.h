/* nanoctl's output: the node's answers for people (status, reload, cluster)
 * and for scripts (--json). Borrows the answers; writes to stdout. */
#ifndef NANOCTL_PRINT_H
#define NANOCTL_PRINT_H

#include <stdio.h>

struct json_object;

/* node is the address the answer came from ("127.0.0.1:9053"). */
void print_status(struct json_object *metrics, const char *node);
void print_reload(struct json_object *answer, const char *node);
void print_cluster(struct json_object *answer, const char *node);

/* The answer with "schema_version": 1 added as its first member. */
void print_json(struct json_object *answer);

/* Each line of text (a multi-line message) to out, the first as it is,
 * the others indented by indent; empty lines left out. */
void print_lines(FILE *out, const char *text, int indent);

#endif
