/* Error lines gathered for one result (see message_list.h). */
#include "message_list.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

void message_list_add(struct message_list *m, const char *text)
{
    char **items = realloc(m->items, (m->count + 1) * sizeof(*items));
    if (items == NULL)
        return;
    m->items = items;
    char *copy = strdup(text);
    if (copy != NULL)
        m->items[m->count++] = copy;
}

void message_list_addf(struct message_list *m, const char *fmt, ...)
{
    char *text;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    message_list_add(m, text);
    free(text);
}

void message_list_add_diags(struct message_list *m, const struct config_diags *diags)
{
    size_t before = m->count;
    for (size_t i = 0; i < diags->count; i++) {
        if (diags->items[i].severity != CONFIG_ERROR)
            continue;
        char line[CONFIG_DIAG_TEXT_MAX];
        config_diag_format(diags, i, line, sizeof(line));
        message_list_add(m, line);
    }
    if (m->count == before && diags->errors > 0) /* findings lost to a failed allocation */
        message_list_add(m, "the configuration does not validate");
}

char *message_list_join(const struct message_list *m)
{
    size_t total = 1;
    for (size_t i = 0; i < m->count; i++)
        total += strlen(m->items[i]) + 1;
    char *out = malloc(total);
    if (out == NULL)
        return NULL;
    size_t used = 0;
    for (size_t i = 0; i < m->count; i++) {
        size_t n = strlen(m->items[i]);
        memcpy(out + used, m->items[i], n);
        out[used + n] = '\n';
        used += n + 1;
    }
    out[used] = '\0';
    return out;
}

void message_list_free(struct message_list *m)
{
    for (size_t i = 0; i < m->count; i++)
        free(m->items[i]);
    free(m->items);
    m->items = NULL;
    m->count = 0;
}
