/* Where the node's API is: --socket PATH, -s HOST:PORT, or mgmt_host/mgmt_port of a config the
 * node's loader reads (-c); without any of them the control socket of the default state
 * directory when a node listens there, else ./nanodns.json, the system config, DEFAULT_SERVER.
 * Single-threaded. */
#ifndef NANOCTL_TARGET_H
#define NANOCTL_TARGET_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "hostport.h"

/* Where the node is looked for without -c or -s, in this order. */
#define CWD_CONFIG_PATH "./nanodns.json" /* the quickstart's file, beside the operator */
#define DEFAULT_CONFIG_PATH "/etc/nanodns/nanodns.json"
#define SYSTEM_CONFIG_ENV "NANOCTL_SYSTEM_CONFIG" /* another path for the system config */
#define SOCKET_ENV "NANOCTL_SOCKET" /* another path for the default control socket */
#define DEFAULT_SERVER "127.0.0.1:9053"           /* the example config's API */

struct target {
    char socket_path[PATH_MAX];      /* the node's control socket; "": TCP to host:port */
    char host[HOSTPORT_HOST_MAX];    /* name or address, IPv6 without brackets */
    char port[6];                    /* 1..65535 as text, for http_request */
    char display[PATH_MAX];          /* host:port, [v6]:port, or the socket's path */
};

/* --socket: the control socket at path. Returns 0, or -1 when it does not fit. */
int target_socket(const char *path, struct target *t);

/* -s: HOST:PORT or [IPv6]:PORT (hostport_parse with HOSTPORT_NAME).
 * Returns 0, or -1 when text is neither. */
int target_parse(const char *text, struct target *t);

/* The node's management address (server.mgmt_host, server.mgmt_port) and
 * signing key (server.sync_key, "" when none) from the config at path, as
 * the node reads them (config_load_management: its defaults, its checks, a
 * relative key taken against the file's folder); a wildcard mgmt_host is
 * reached over loopback. why says how path was chosen, for --verbose.
 * Problems are printed; returns 0 or -1. */
int target_from_config(const char *path, const char *why, bool verbose, struct target *t,
                       char *key_path, size_t key_path_len);

/* Neither -c, -s nor --socket: the control socket of the default state
 * directory (state_dir.h), or SOCKET_ENV's, when a node answers a
 * connection there (a node started with --state-dir needs --socket), then ./nanodns.json, then the
 * system config, then DEFAULT_SERVER. A config that is there but gives no address is an error
 * (printed), not a reason to look further: the next place may name
 * another node, and the operator meant this one. Returns 0 or -1. */
int target_search(bool verbose, struct target *t, char *key_path, size_t key_path_len);

#endif
