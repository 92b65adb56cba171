/* Hot reload: the operator's file and the list files it names polled every 5 s (as the original)
 * while server.hot_reload asks. Borrows the node and the event base, which outlive it; one loop. */
#ifndef NANODNS_CONFIG_WATCH_H
#define NANODNS_CONFIG_WATCH_H

struct event_base;
struct node;
struct config_watch;

/* Poll node's file on base, when there is a file and the config in force
 * asks for it. NULL after logging when the timer cannot be made. */
struct config_watch *config_watch_start(struct node *node, struct event_base *base);

/* The config in force changed: start or stop polling as server.hot_reload
 * now says. */
void config_watch_follow(struct config_watch *watch);

void config_watch_free(struct config_watch *watch);

#endif
