/* nanoctl: reload, status and cluster against a node's HTTP management API
 * (controlplane/api.c). Human output by default, the API's JSON with
 * --json. Exit status: 0 ok, 1 the node reported a failure, 2 usage error
 * (including a config file that gives no management address, and a --key
 * file that cannot be read), 3 the node could not be reached.
 *
 * The node is -S (its control socket), -s, or the one a config names: -c;
 * else the control socket of the default state directory, else
 * ./nanodns.json, else the system config, else DEFAULT_SERVER. The config
 * is read by the node's own loader (config.h), so nanoctl takes its
 * defaults as the node does.
 *
 * Over the control socket reload goes unsigned (only the node's user and
 * root can connect). Over TCP it is signed (envelope.h), as a node
 * requires even from loopback, with the key file given by --key, or else
 * with the one the config names in server.sync_key when we can read it. A signed request
 * names the node it is for by its public key: --target-key, or else the
 * signing key's own (the node's key, signing for itself).
 *
 * This file reads the command line; target.c finds the node, command.c
 * asks it, print.c shows the answer. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "command.h"
#include "control_socket.h"
#include "envelope.h"
#include "target.h"

#define MAX_TIMEOUT_S 3600.0

static const char usage_text[] =
    "usage: nanoctl [-c CONFIG | -s HOST:PORT | -S SOCKET] [--key FILE [--target-key KEY]]\n"
    "               [--json] [--timeout SECONDS] [--verbose] COMMAND\n"
    "\n"
    "Manage a running NanoDNS node through its HTTP management API.\n"
    "\n"
    "commands:\n"
    "  status    version, records, zones, uptime, query rate, cache hit rate,\n"
    "            data plane and config state\n"
    "  reload    have the node re-read its config file and publish it (over\n"
    "            TCP signed with --key, or server.sync_key of the config when\n"
    "            nanoctl can read it; over the control socket unsigned)\n"
    "  cluster   this node and each of its peers: reachable, status, version,\n"
    "            config hash, trusted, last sync, agrees with this node\n"
    "\n"
    "options:\n"
    "  -c, --config FILE       read the management address (server.mgmt_host and\n"
    "                          server.mgmt_port) and the signing key\n"
    "                          (server.sync_key) from FILE; without -c, -s or -S:\n"
    "                          the control socket of the default state directory\n"
    "                          (/var/lib/nanodns/" CONTROL_SOCKET_NAME " for root) when a node\n"
    "                          listens there, else " CWD_CONFIG_PATH ", else\n"
    "                          " DEFAULT_CONFIG_PATH ", else " DEFAULT_SERVER "\n"
    "  -s, --server HOST:PORT  the node's management address; [ADDRESS]:PORT for IPv6\n"
    "  -S, --socket PATH       the node's control socket (STATE_DIR/" CONTROL_SOCKET_NAME "):\n"
    "                          for a node started with --state-dir\n"
    "  -k, --key FILE          sign reload with the secret key in FILE (nanodns\n"
    "                          keygen), with -s too\n"
    "      --target-key KEY    the public key of the node asked (as listed in\n"
    "                          server.peers): a signed reload is good on that node\n"
    "                          only; default: the public key of the signing key\n"
    "  -j, --json              print the API's JSON answer, with \"schema_version\": 1\n"
    "  -t, --timeout SECONDS   give up after SECONDS (default 5; 60 for reload)\n"
    "  -v, --verbose           say on stderr which node is used and why (which\n"
    "                          config, which places were skipped), and the key\n"
    "  -h, --help              show this help and exit\n"
    "  -V, --version           show the version and exit\n"
    "\n"
    "exit status: 0 ok, 1 the node reported a failure (for cluster: a peer\n"
    "unreachable or not agreeing with this node), 2 usage error,\n"
    "3 the node could not be reached.\n";

/* What the command line asks for. */
struct options {
    const char *config_path, *server, *socket, *key; /* -c, -s, -S, --key; NULL when not given */
    bool has_target_key;                    /* --target-key */
    uint8_t target_key[ENVELOPE_PUBLIC_KEY_SIZE];
    bool json, verbose;
    double timeout_s;
};

/* The options before COMMAND into o. Returns -1 to go on, or the exit
 * status (--help, --version, a usage error). */
static int options_parse(int argc, char **argv, struct options *o)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"server", required_argument, NULL, 's'},
        {"socket", required_argument, NULL, 'S'},
        {"key", required_argument, NULL, 'k'},    {"target-key", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},         {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {"verbose", no_argument, NULL, 'v'},      {NULL, 0, NULL, 0},
    };
    *o = (struct options){.timeout_s = 0}; /* 0: the command's default */
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":c:s:S:k:jt:hVv", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            o->config_path = optarg;
            break;
        case 's':
            o->server = optarg;
            break;
        case 'S':
            o->socket = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 'T':
            if (envelope_public_key_parse(optarg, o->target_key) < 0)
                return cli_usage_error("--target-key wants a public key (the base64 nanodns "
                                       "keygen prints), not '%s'",
                                       optarg);
            o->has_target_key = true;
            break;
        case 'j':
            o->json = true;
            break;
        case 'v':
            o->verbose = true;
            break;
        case 't': {
            char *end;
            errno = 0;
            o->timeout_s = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(o->timeout_s > 0) ||
                o->timeout_s > MAX_TIMEOUT_S)
                return cli_usage_error("--timeout must be a number of seconds from 0.001 to %.0f, "
                                       "not '%s'",
                                       MAX_TIMEOUT_S, optarg);
            break;
        }
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        case 'V':
            printf("nanoctl %s\n", NANODNS_VERSION);
            return EXIT_OK;
        case ':':
            return cli_usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt != 0)
                return cli_usage_error("unknown option '-%c'", optopt);
            return cli_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    return -1;
}

/* The node (-s, -c, or the search) and the key to sign with (--key over
 * server.sync_key). Returns -1 to go on, or the exit status. */
static int node_choose(const struct options *o, const struct command *cmd, struct target *t,
                       char *key_path, size_t key_path_len)
{
    key_path[0] = '\0';
    if (o->socket != NULL) {
        if (target_socket(o->socket, t) < 0)
            return cli_usage_error("-S wants the path of a node's control socket");
        cli_note(o->verbose, "using %s (-S)", t->display);
    } else if (o->server != NULL) {
        if (target_parse(o->server, t) < 0)
            return cli_usage_error("-s wants HOST:PORT or [IPv6]:PORT with a port from 1 to 65535, "
                                   "not '%s'",
                                   o->server);
        cli_note(o->verbose, "using %s (-s)", t->display);
    } else if (o->config_path != NULL) {
        if (target_from_config(o->config_path, "-c", o->verbose, t, key_path, key_path_len) < 0)
            return EXIT_USAGE;
    } else if (target_search(o->verbose, t, key_path, key_path_len) < 0) {
        return EXIT_USAGE;
    }
    if (o->key != NULL) {
        if (o->key[0] == '\0' || strlen(o->key) >= key_path_len)
            return cli_usage_error("--key wants the path of a key file");
        snprintf(key_path, key_path_len, "%s", o->key); /* over server.sync_key */
    }
    if (strcmp(cmd->name, "reload") == 0 && t->socket_path[0] == '\0') {
        if (key_path[0] == '\0')
            cli_note(o->verbose, "reload is unsigned (no --key, no server.sync_key): a node takes "
                                 "it on its control socket only");
        else
            cli_note(o->verbose, "reload is signed with %s (%s)", key_path,
                     o->key != NULL ? "--key" : "server.sync_key");
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = options_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return cli_usage_error("missing COMMAND (status, reload or cluster)");
    if (argc - optind > 1)
        return cli_usage_error("unexpected argument '%s'", argv[optind + 1]);
    const struct command *cmd = command_find(argv[optind]);
    if (cmd == NULL)
        return cli_usage_error("unknown command '%s' (status, reload or cluster)", argv[optind]);
    if ((o.config_path != NULL) + (o.server != NULL) + (o.socket != NULL) > 1)
        return cli_usage_error("-c, -s and -S cannot be used together");
    if (o.socket != NULL && (o.key != NULL || o.has_target_key))
        return cli_usage_error("-S sends reload unsigned: --key and --target-key are for TCP");

    struct target target;
    char key_path[PATH_MAX];
    rc = node_choose(&o, cmd, &target, key_path, sizeof(key_path));
    if (rc >= 0)
        return rc;
    double timeout_s = o.timeout_s > 0 ? o.timeout_s : cmd->default_timeout_s;
    int timeout_ms = (int)(timeout_s * 1000 + 0.999); /* at least 1 ms */
    return command_run(cmd, &target, o.json, timeout_ms, key_path, o.key != NULL,
                       o.has_target_key ? o.target_key : NULL, o.verbose);
}
