/* Where the node's management API is. See target.h. */
#include "target.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "control_socket.h"
#include "state_dir.h"

static int target_set(struct target *t, const char *host, uint16_t port)
{
    size_t host_len = strlen(host);
    if (host_len == 0 || host_len >= sizeof(t->host))
        return -1;
    t->socket_path[0] = '\0';
    memcpy(t->host, host, host_len + 1);
    snprintf(t->port, sizeof(t->port), "%u", (unsigned)port);
    hostport_format(t->host, port, t->display, sizeof(t->display));
    return 0;
}

int target_socket(const char *path, struct target *t)
{
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(t->socket_path))
        return -1;
    memcpy(t->socket_path, path, len + 1);
    memcpy(t->display, path, len + 1);
    snprintf(t->host, sizeof(t->host), "localhost");
    t->port[0] = '\0';
    return 0;
}

int target_parse(const char *text, struct target *t)
{
    struct hostport hp;
    if (hostport_parse(text, strlen(text), HOSTPORT_NAME, &hp) < 0)
        return -1;
    return target_set(t, hp.host, hp.port);
}

/* The address to connect to for a listening address: the wildcard
 * addresses mean "this host", reached over loopback. */
static const char *connect_host_for(const char *listen_host)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, listen_host, &v4) == 1 && v4.s_addr == htonl(INADDR_ANY))
        return "127.0.0.1";
    if (inet_pton(AF_INET6, listen_host, &v6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&v6))
        return "::1";
    return listen_host;
}

/* The node's loader on path; its findings printed when it refuses the file. */
static int config_read(const char *path, struct config *cfg)
{
    struct config_diags diags;
    config_diags_init(&diags, path);
    int rc = config_load_management(path, cfg, &diags);
    for (size_t i = 0; rc < 0 && i < diags.count; i++) {
        char line[CONFIG_DIAG_TEXT_MAX];
        config_diag_format(&diags, i, line, sizeof(line));
        fprintf(stderr, "nanoctl: %s\n", line);
    }
    config_diags_free(&diags);
    return rc;
}

int target_from_config(const char *path, const char *why, bool verbose, struct target *t,
                       char *key_path, size_t key_path_len)
{
    key_path[0] = '\0';
    struct config cfg;
    if (config_read(path, &cfg) < 0)
        return -1;
    int rc = -1;
    const struct config_server *server = &cfg.server;
    if (server->mgmt_port == 0) {
        fprintf(stderr, "nanoctl: the management API is off (mgmt_port is 0) in %s\n", path);
        goto out;
    }
    const char *address = connect_host_for(server->mgmt_host);
    if (target_set(t, address, server->mgmt_port) < 0) {
        fprintf(stderr, "nanoctl: %s: server.mgmt_host is not a usable address\n", path);
        goto out;
    }
    if (server->sync_key != NULL)
        snprintf(key_path, key_path_len, "%s", server->sync_key);
    if (address != server->mgmt_host)
        cli_note(verbose,
                 "using %s (%s): node at %s (server.mgmt_host %s is reached over loopback)", path,
                 why, t->display, server->mgmt_host);
    else
        cli_note(verbose, "using %s (%s): node at %s", path, why, t->display);
    rc = 0;
out:
    config_free(&cfg);
    return rc;
}

/* Whether nothing is at path, so that the search goes on; a file that is
 * there but unusable stops it instead. */
static bool config_absent(const char *path)
{
    struct stat st;
    return stat(path, &st) < 0 && (errno == ENOENT || errno == ENOTDIR);
}

/* The default state directory's control socket (or SOCKET_ENV's), when a
 * node is there: it takes a connection, or its backlog is full (busy or
 * hung: the request itself then waits until the timeout). The socket must
 * be this user's or root's: in the shared /tmp fallback another user may
 * have made the folder first and would answer in the node's name. */
static bool default_socket_found(bool verbose, struct target *t)
{
    char state_dir[PATH_MAX], path[PATH_MAX];
    const char *from_env = getenv(SOCKET_ENV);
    if (from_env != NULL && from_env[0] != '\0') {
        if (snprintf(path, sizeof(path), "%s", from_env) >= (int)sizeof(path))
            return false;
    } else if (state_dir_default(state_dir, sizeof(state_dir)) < 0 ||
               control_socket_path(state_dir, path, sizeof(path)) < 0) {
        return false;
    }
    struct stat st;
    if (lstat(path, &st) == 0 && st.st_uid != geteuid() && st.st_uid != 0) {
        cli_note(verbose, "%s: owned by uid %lu, neither this user nor root, skipped", path,
                 (unsigned long)st.st_uid);
        return false;
    }
    int fd = control_socket_connect(path);
    if (fd < 0 && errno != EAGAIN) {
        cli_note(verbose, "%s: %s, skipped", path,
                 errno == ENOENT ? "not found" : strerror(errno));
        return false;
    }
    if (fd >= 0)
        close(fd);
    if (target_socket(path, t) < 0)
        return false;
    cli_note(verbose, "using %s (%s)", path,
             from_env != NULL && from_env[0] != '\0' ? "the control socket, from " SOCKET_ENV
                                                      : "the control socket of the default state "
                                                        "directory");
    return true;
}

int target_search(bool verbose, struct target *t, char *key_path, size_t key_path_len)
{
    key_path[0] = '\0';
    if (default_socket_found(verbose, t))
        return 0;
    const char *system = getenv(SYSTEM_CONFIG_ENV);
    bool from_env = system != NULL && system[0] != '\0';
    const struct {
        const char *path, *why;
    } places[] = {
        {CWD_CONFIG_PATH, "found in the current directory"},
        {from_env ? system : DEFAULT_CONFIG_PATH,
         from_env ? "the system config, from " SYSTEM_CONFIG_ENV : "the system config"},
    };
    for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
        if (config_absent(places[i].path)) {
            cli_note(verbose, "%s: not found, skipped", places[i].path);
            continue;
        }
        if (target_from_config(places[i].path, places[i].why, verbose, t, key_path, key_path_len) <
            0) {
            fprintf(stderr,
                    "nanoctl: %s is there but gives no management address, so nanoctl looks no "
                    "further: fix it, or give -c FILE or -s HOST:PORT\n",
                    places[i].path);
            return -1;
        }
        return 0;
    }
    key_path[0] = '\0';
    if (target_parse(DEFAULT_SERVER, t) < 0)
        return -1; /* cannot happen: a constant */
    cli_note(verbose, "using the default address %s (no config file found)", t->display);
    return 0;
}
