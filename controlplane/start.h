/* `nanodns start`: the control-plane daemon, which publishes the image and runs all the rest.
 * start_run owns every part of it for the process's life; one libevent loop, no threads. */
#ifndef NANODNS_START_H
#define NANODNS_START_H

/* It validates and compiles the
 * config, publishes the zone image, opens the DNS sockets, runs the data
 * plane with them (the LISTEN_FDS protocol) and supervises it (restart on
 * a crash), runs the HTTP API and hot reload, reloads on SIGHUP, stops in
 * order on SIGINT/SIGTERM. With external_dataplane, systemd runs the data
 * plane and this process only publishes and manages. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct start_options {
    const char *config_path; /* NULL: the built-in defaults, as the original */
    const char *host;        /* NULL: server.host from the config */
    uint16_t port;           /* 0: server.port from the config */
    int log_level;           /* enum log_level, or -1: server.log_level from the config */
    bool no_cache;
    const char *state_dir; /* NULL: state_dir_default() */
    const char *mgmt_host; /* NULL: server.mgmt_host */
    int32_t mgmt_port;     /* -1: server.mgmt_port; 0 turns the API off */
    /* The data plane runs on its own (systemd socket activation): open no
     * DNS socket, start no data plane; publish, and SIGHUP the data plane
     * whose pid the stats file gives. */
    bool external_dataplane;
};

/* Run until stopped. Returns the process exit status: 0 after an orderly
 * stop, 1 when the server could not be started. */
int start_run(const struct start_options *opts);

#endif
