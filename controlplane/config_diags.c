/* The findings of a config load: kept in a growing array, printed as
 * "FILE:LINE:COL: PATH: MESSAGE", sorted into the order of the file. See
 * config.h (the public part) and config_loader.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_loader.h"

void config_diags_init(struct config_diags *d, const char *file)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->file, sizeof(d->file), "%s", file ? file : "");
}

void config_diags_free(struct config_diags *d)
{
    free(d->items);
    d->items = NULL;
    d->count = d->capacity = 0;
    d->errors = d->warnings = 0;
}

void config_diag_format(const struct config_diags *d, size_t i, char *out, size_t out_len)
{
    const struct config_diag *g = &d->items[i];
    char where[sizeof(d->file) + 32];
    if (g->line > 0)
        snprintf(where, sizeof(where), "%s:%u:%u", d->file, g->line, g->column);
    else
        snprintf(where, sizeof(where), "%s", d->file);
    snprintf(out, out_len, "%s: %s%s%s%s", where, g->severity == CONFIG_WARNING ? "warning: " : "",
             g->path, g->path[0] != '\0' ? ": " : "", g->message);
}

void config_diags_print(const struct config_diags *d, FILE *out)
{
    for (size_t i = 0; i < d->count; i++) {
        char line[CONFIG_DIAG_TEXT_MAX];
        config_diag_format(d, i, line, sizeof(line));
        fprintf(out, "%s\n", line);
    }
}

void config_diags_add(struct config_diags *d, enum config_severity severity, unsigned line,
                      unsigned column, const char *path, const char *message)
{
    if (severity == CONFIG_ERROR)
        d->errors++;
    else
        d->warnings++;
    if (d->count == d->capacity) {
        size_t capacity = d->capacity ? d->capacity * 2 : 16;
        struct config_diag *items = realloc(d->items, capacity * sizeof(*items));
        if (!items)
            return; /* still counted, so the load fails as it should */
        d->items = items;
        d->capacity = capacity;
    }
    struct config_diag *g = &d->items[d->count++];
    g->severity = severity;
    g->line = line;
    g->column = column;
    snprintf(g->path, sizeof(g->path), "%s", path);
    snprintf(g->message, sizeof(g->message), "%s", message);
}

static int diag_pointer_compare(const void *a, const void *b)
{
    const struct config_diag *x = *(const struct config_diag *const *)a;
    const struct config_diag *y = *(const struct config_diag *const *)b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x < y ? -1 : x > y; /* found first, shown first */
}

/* The checks across records come last but belong among the others. */
void config_diags_sort(struct config_diags *d, size_t first)
{
    size_t n = d->count - first;
    if (n < 2)
        return;
    const struct config_diag **order = malloc(n * sizeof(*order));
    struct config_diag *sorted = malloc(n * sizeof(*sorted));
    if (order && sorted) {
        for (size_t i = 0; i < n; i++)
            order[i] = &d->items[first + i];
        qsort(order, n, sizeof(*order), diag_pointer_compare);
        for (size_t i = 0; i < n; i++)
            sorted[i] = *order[i];
        memcpy(d->items + first, sorted, n * sizeof(*sorted));
    }
    free(order);
    free(sorted);
}
