/* Error lines gathered for one result (a reload, a peer's config), as POST /reload reports them.
 * A struct message_list owns its strings; one thread, whoever holds the list. */
#ifndef NANODNS_MESSAGE_LIST_H
#define NANODNS_MESSAGE_LIST_H

#include <stddef.h>

struct config_diags;

/* Zero-initialised, it is empty. Out of memory, a line is dropped, never
 * the list. */
struct message_list {
    char **items;
    size_t count;
};

void message_list_add(struct message_list *m, const char *text);
void message_list_addf(struct message_list *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The error findings of diags, as config_diags_print writes them; "the
 * configuration does not validate" when they were lost to memory. */
void message_list_add_diags(struct message_list *m, const struct config_diags *diags);
/* Every line, each ending with a newline (malloc'd), or NULL. */
char *message_list_join(const struct message_list *m);
void message_list_free(struct message_list *m);

#endif
