/* nanodns: the command line of the original NanoDNS (start, init, check,
 * --version), plus keygen for cluster sync, in front of the control plane. Exit status: 0 success,
 * 1 the command failed, 2 usage error (as the original's argparse). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"
#include "config.h"
#include "envelope.h"
#include "log.h"
#include "start.h"

#define EXIT_USAGE 2
#define INIT_DEFAULT_OUTPUT "nanodns.json"
#define INIT_FILE_MODE 0644
#define KEYGEN_DEFAULT_OUTPUT "nanodns.key"

static const char usage_text[] =
    "usage: nanodns [-V | --version] [-h | --help] COMMAND [ARGS]\n"
    "\n"
    "NanoDNS: a lightweight, JSON-configurable DNS server.\n"
    "\n"
    "commands:\n"
    "  start [-c FILE] [--host HOST] [-p PORT] [--log-level LEVEL] [--no-cache]\n"
    "        [--state-dir DIR] [--mgmt-host HOST] [--mgmt-port PORT]\n"
    "        [--external-dataplane]\n"
    "                      run the DNS server\n"
    "  init [OUTPUT] [--force]\n"
    "                      write an example config (default " INIT_DEFAULT_OUTPUT ")\n"
    "  check FILE          validate a config file\n"
    "  keygen [--out FILE] [--force] | keygen --public FILE\n"
    "                      make this node's sync key (default " KEYGEN_DEFAULT_OUTPUT ")\n"
    "                      and print its public key, or print the public key of FILE\n"
    "\n"
    "Run 'nanodns COMMAND --help' for the options of a command.\n";

static const char start_usage_text[] =
    "usage: nanodns start [-c FILE] [--host HOST] [-p PORT] [--log-level LEVEL]\n"
    "                     [--no-cache] [--state-dir DIR] [--mgmt-host HOST]\n"
    "                     [--mgmt-port PORT] [--external-dataplane]\n"
    "\n"
    "  -c, --config FILE     the JSON config (default: built-in defaults)\n"
    "      --host HOST       listen address, IPv4 or IPv6 (default: server.host)\n"
    "  -p, --port PORT       listen port (default: server.port)\n"
    "      --log-level LEVEL DEBUG, INFO, WARNING or ERROR (default: server.log_level)\n"
    "      --no-cache        disable the DNS cache\n"
    "      --state-dir DIR   where the zone image is published (default: /var/lib/nanodns\n"
    "                        as root, else $XDG_STATE_HOME/nanodns or\n"
    "                        ~/.local/state/nanodns)\n"
    "      --mgmt-host HOST  management API address (default: server.mgmt_host)\n"
    "      --mgmt-port PORT  management API port, 0 for none (default: server.mgmt_port)\n"
    "      --external-dataplane\n"
    "                        the data plane runs as its own service (systemd socket\n"
    "                        activation of nanodns-dataplane on the same state\n"
    "                        directory): open no DNS socket and start no data plane;\n"
    "                        publish the image, run the API and reloads, and signal\n"
    "                        the data plane whose pid its stats file gives\n"
    "\n"
    "A reload (SIGHUP, POST /reload, or a changed file with server.hot_reload) sets\n"
    "server.config_version to max(version in the file, version served) + 1, writes\n"
    "it back into the file and publishes; the SOA serial served is each zone's\n"
    "serial plus config_version. A file that says what the running config says\n"
    "(white space, member order and config_version aside) changes nothing: no new\n"
    "version, no write-back, no push. A file that does not validate is refused and\n"
    "the running config keeps serving; at start, the last good config published in\n"
    "the state directory is served instead (loudly), or start fails when there is\n"
    "none.\n"
    "\n"
    "Signals: SIGHUP reloads the config file, SIGINT and SIGTERM stop the server.\n";

static const char init_usage_text[] =
    "usage: nanodns init [OUTPUT] [-f | --force]\n"
    "\n"
    "Write an example config to OUTPUT (default " INIT_DEFAULT_OUTPUT ").\n"
    "  -f, --force   overwrite OUTPUT if it exists\n";

static const char check_usage_text[] = "usage: nanodns check FILE\n"
                                       "\n"
                                       "Validate a config file: every error with its line and "
                                       "column; exit 0 when it is valid.\n";

static const char keygen_usage_text[] =
    "usage: nanodns keygen [-o FILE | --out FILE] [-f | --force]\n"
    "       nanodns keygen --public FILE\n"
    "\n"
    "Make an Ed25519 key pair for signed cluster sync: the secret key goes to FILE\n"
    "(default " KEYGEN_DEFAULT_OUTPUT ", mode 0600) and the public key, 44 characters of\n"
    "base64, to stdout. Name FILE in this node's server.sync_key and list the public\n"
    "key in every node's server.peers as {\"address\": \"HOST:PORT\", \"public_key\": KEY}.\n"
    "\n"
    "  -o, --out FILE      where to write the secret key\n"
    "  -f, --force         overwrite FILE if it exists (its old key is lost)\n"
    "  -p, --public FILE   print the public key of the secret key in FILE\n";

static int usage_error(const char *command, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int usage_error(const char *command, const char *usage, const char *fmt, ...)
{
    fprintf(stderr, "nanodns%s%s: ", command ? " " : "", command ? command : "");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage);
    return EXIT_USAGE;
}

/* Report getopt's '?' and ':' the same way for every command. */
static int option_error(const char *command, const char *usage, int opt, char **argv)
{
    const char *text = argv[optind - 1];
    if (opt == ':')
        return usage_error(command, usage, "option '%s' needs a value", text);
    return usage_error(command, usage, "unknown option '%s'", text);
}

static int parse_port(const char *text, uint16_t *port)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 1 || value > 65535)
        return -1;
    *port = (uint16_t)value;
    return 0;
}

static bool ip_address_valid(const char *text)
{
    unsigned char addr[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, text, addr) == 1 || inet_pton(AF_INET6, text, addr) == 1;
}

static int command_start(int argc, char **argv)
{
    enum {
        OPT_HOST = 256,
        OPT_LOG_LEVEL,
        OPT_NO_CACHE,
        OPT_STATE_DIR,
        OPT_MGMT_HOST,
        OPT_MGMT_PORT,
        OPT_EXTERNAL_DATAPLANE
    };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, 'p'},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"no-cache", no_argument, NULL, OPT_NO_CACHE},
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"mgmt-host", required_argument, NULL, OPT_MGMT_HOST},
        {"mgmt-port", required_argument, NULL, OPT_MGMT_PORT},
        {"external-dataplane", no_argument, NULL, OPT_EXTERNAL_DATAPLANE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct start_options opts = {.log_level = -1, .mgmt_port = -1};
    int opt;
    while ((opt = getopt_long(argc, argv, ":c:p:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            opts.config_path = optarg;
            break;
        case OPT_HOST:
            opts.host = optarg;
            break;
        case 'p':
            if (parse_port(optarg, &opts.port) < 0)
                return usage_error("start", start_usage_text,
                                   "--port must be a number from 1 to 65535, not '%s'", optarg);
            break;
        case OPT_LOG_LEVEL:
            opts.log_level = log_level_parse(optarg);
            if (opts.log_level < 0)
                return usage_error("start", start_usage_text,
                                   "--log-level must be DEBUG, INFO, WARNING or ERROR, not '%s'",
                                   optarg);
            break;
        case OPT_NO_CACHE:
            opts.no_cache = true;
            break;
        case OPT_STATE_DIR:
            opts.state_dir = optarg;
            break;
        case OPT_MGMT_HOST:
            if (!ip_address_valid(optarg))
                return usage_error("start", start_usage_text,
                                   "--mgmt-host must be an IPv4 or IPv6 address, not '%s'", optarg);
            opts.mgmt_host = optarg;
            break;
        case OPT_MGMT_PORT: {
            uint16_t port = 0;
            if (strcmp(optarg, "0") != 0 && parse_port(optarg, &port) < 0)
                return usage_error("start", start_usage_text,
                                   "--mgmt-port must be a number from 0 to 65535, not '%s'",
                                   optarg);
            opts.mgmt_port = port;
            break;
        }
        case OPT_EXTERNAL_DATAPLANE:
            opts.external_dataplane = true;
            break;
        case 'h':
            fputs(start_usage_text, stdout);
            return 0;
        default:
            return option_error("start", start_usage_text, opt, argv);
        }
    }
    if (optind < argc)
        return usage_error("start", start_usage_text, "unexpected argument '%s'", argv[optind]);
    return start_run(&opts);
}

static int command_init(int argc, char **argv)
{
    static const struct option options[] = {
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool force = false;
    int opt;
    while ((opt = getopt_long(argc, argv, ":fh", options, NULL)) != -1) {
        switch (opt) {
        case 'f':
            force = true;
            break;
        case 'h':
            fputs(init_usage_text, stdout);
            return 0;
        default:
            return option_error("init", init_usage_text, opt, argv);
        }
    }
    if (argc - optind > 1)
        return usage_error("init", init_usage_text, "unexpected argument '%s'", argv[optind + 1]);
    const char *output = optind < argc ? argv[optind] : INIT_DEFAULT_OUTPUT;

    /* Never overwrite someone's config by accident (the original did). */
    struct stat st;
    if (!force && lstat(output, &st) == 0) {
        fprintf(stderr, "Error: %s exists; use --force to overwrite\n", output);
        return 1;
    }
    char err[512];
    if (atomic_file_write(output, CONFIG_EXAMPLE_JSON, strlen(CONFIG_EXAMPLE_JSON), INIT_FILE_MODE,
                          err, sizeof(err)) < 0) {
        fprintf(stderr, "Error: cannot write %s: %s\n", output, err);
        return 1;
    }
    printf("Example config written to: %s\n", output);
    return 0;
}

static int command_check(int argc, char **argv)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (opt == 'h') {
            fputs(check_usage_text, stdout);
            return 0;
        }
        return option_error("check", check_usage_text, opt, argv);
    }
    if (optind >= argc)
        return usage_error("check", check_usage_text, "missing the config FILE");
    if (argc - optind > 1)
        return usage_error("check", check_usage_text, "unexpected argument '%s'", argv[optind + 1]);
    const char *path = argv[optind];

    struct config cfg;
    struct config_diags diags;
    config_diags_init(&diags, path);
    int rc = config_load_file(path, &cfg, &diags);
    /* Errors and warnings to stderr, the summary alone on stdout. */
    config_diags_print(&diags, stderr);
    if (rc < 0) {
        fprintf(stderr, "FAIL Config error: %zu error(s)\n", diags.errors);
        config_diags_free(&diags);
        return 1;
    }
    config_print_summary(&cfg, stdout);
    config_free(&cfg);
    config_diags_free(&diags);
    return 0;
}

static int keygen_print_public(const char *path)
{
    struct envelope_key key;
    char err[PATH_MAX + 256];
    if (envelope_key_read(path, &key, err, sizeof(err)) < 0) {
        fprintf(stderr, "Error: %s\n", err);
        return 1;
    }
    char text[ENVELOPE_PUBLIC_KEY_TEXT];
    envelope_public_key_text(key.public_key, text);
    printf("%s\n", text);
    return 0;
}

static int command_keygen(int argc, char **argv)
{
    static const struct option options[] = {
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"public", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL, *public_of = NULL;
    bool force = false;
    int opt;
    while ((opt = getopt_long(argc, argv, ":o:fp:h", options, NULL)) != -1) {
        switch (opt) {
        case 'o':
            output = optarg;
            break;
        case 'f':
            force = true;
            break;
        case 'p':
            public_of = optarg;
            break;
        case 'h':
            fputs(keygen_usage_text, stdout);
            return 0;
        default:
            return option_error("keygen", keygen_usage_text, opt, argv);
        }
    }
    if (optind < argc)
        return usage_error("keygen", keygen_usage_text, "unexpected argument '%s'", argv[optind]);
    if (public_of != NULL) {
        if (output != NULL || force)
            return usage_error("keygen", keygen_usage_text,
                               "--public reads a key: it takes no --out or --force");
        return keygen_print_public(public_of);
    }
    if (output == NULL)
        output = KEYGEN_DEFAULT_OUTPUT;

    /* A node's key is its identity to its peers: replacing it by accident
     * cuts the node off until every config lists the new one. */
    struct stat st;
    if (!force && lstat(output, &st) == 0) {
        fprintf(stderr, "Error: %s exists; use --force to replace the key in it\n", output);
        return 1;
    }
    struct envelope_key key;
    char err[PATH_MAX + 256];
    envelope_key_generate(&key);
    if (envelope_key_write(output, &key, err, sizeof(err)) < 0) {
        fprintf(stderr, "Error: cannot write %s: %s\n", output, err);
        return 1;
    }
    char text[ENVELOPE_PUBLIC_KEY_TEXT];
    envelope_public_key_text(key.public_key, text);
    /* The public key alone on stdout, for scripts: KEY=$(nanodns keygen). */
    fprintf(stderr, "Secret key written to: %s\n", output);
    printf("%s\n", text);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *command = argv[1];
    if (strcmp(command, "--version") == 0 || strcmp(command, "-V") == 0) {
        printf("nanodns %s\n", NANODNS_VERSION);
        return 0;
    }
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 ||
        strcmp(command, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }

    /* Each command parses its own arguments, with itself as argv[0]. */
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } commands[] = {
        {"start", command_start},
        {"init", command_init},
        {"check", command_check},
        {"keygen", command_keygen},
    };
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(command, commands[i].name) == 0) {
            optind = 1;
            opterr = 0;
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    if (command[0] == '-')
        return usage_error(NULL, usage_text, "unknown option '%s'", command);
    return usage_error(NULL, usage_text, "unknown command '%s'", command);
}
