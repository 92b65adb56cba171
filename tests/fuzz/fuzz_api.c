/* libFuzzer target: the management API's request path, whole. A real node (config, state
 * directory, sync key, one peer) runs the API on loopback TCP and on its control socket, on one
 * event loop in this process; each input is sent on a new connection, and the loop runs until
 * the API has answered and closed it (or a bound). evhttp parses the octets, then api.c's
 * origin checks, routing, api_request_allowed with its signature checks, and the handlers
 * (/reload, /sync with its envelope, /cluster asking the peer, /config/raw, /metrics...).
 *
 * The first octet picks the way in: even, TCP from 127.0.0.1 (the loopback rules); odd, the
 * control socket (unsigned changes allowed). The rest is sent as is, then the write side is
 * shut, so that an incomplete request ends at once instead of at the 5 s deadline. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>

#include "api.h"
#include "api_internal.h"
#include "control_socket.h"
#include "dataplane_link.h"
#include "envelope.h"
#include "log.h"
#include "node.h"
#include "sync.h"

/* Loop turns per input before the client gives up waiting for the close:
 * a few dozen are enough for any request the API can answer at once (a
 * peer's refusal to /cluster's connection included). */
#define TURNS_MAX 1000

static struct {
    char dir[64];
    struct event_base *base;
    struct node node;
    struct sync *sync;
    struct dataplane_link *link;
    struct api *api;
    struct sockaddr_in tcp;
    char socket_path[PATH_MAX];
} fx;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_api: setup: %s\n", what);
    abort();
}

static void file_write(const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", fx.dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        die(path);
}

/* A node as `nanodns start` makes it (start.c), but with no data plane and
 * no DNS sockets. */
static void node_setup(void)
{
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/fuzz_api.XXXXXX");
    if (mkdtemp(fx.dir) == NULL)
        die("mkdtemp");
    char key_path[PATH_MAX], err[PATH_MAX + 256];
    snprintf(key_path, sizeof(key_path), "%s/node.key", fx.dir);
    struct envelope_key key;
    envelope_key_generate(&key);
    if (envelope_key_write(key_path, &key, err, sizeof(err)) < 0)
        die(err);
    struct envelope_key other;
    envelope_key_generate(&other);
    char public_text[ENVELOPE_PUBLIC_KEY_TEXT], other_text[ENVELOPE_PUBLIC_KEY_TEXT], config[4096];
    envelope_public_key_text(key.public_key, public_text);
    envelope_public_key_text(other.public_key, other_text);
    /* Itself and one other peer, at ports that refuse at once: /cluster
     * answers without waiting. */
    snprintf(config, sizeof(config),
             "{\"server\": {\"host\": \"127.0.0.1\", \"port\": 5353, \"upstream\": [],\n"
             " \"mgmt_host\": \"127.0.0.1\", \"mgmt_port\": 9053, \"hot_reload\": false,\n"
             " \"log_level\": \"ERROR\", \"sync_key\": \"node.key\",\n"
             " \"peers\": [{\"address\": \"127.0.0.1:2\", \"public_key\": \"%s\"},\n"
             "           {\"address\": \"127.0.0.1:1\", \"public_key\": \"%s\"}]},\n"
             " \"zones\": {\"x.test\": {\"soa\": {\"mname\": \"ns1.x.test\", \"rname\": "
             "\"admin.x.test\"}, \"ns\": [\"ns1.x.test\"]}},\n"
             " \"records\": [{\"name\": \"ns1.x.test\", \"type\": \"A\", \"value\": \"10.0.0.1\"}]}\n",
             public_text, other_text);
    file_write("nanodns.json", config);
    char config_path[PATH_MAX], state_dir[PATH_MAX];
    snprintf(config_path, sizeof(config_path), "%s/nanodns.json", fx.dir);
    snprintf(state_dir, sizeof(state_dir), "%s/state", fx.dir);
    if (mkdir(state_dir, 0700) < 0)
        die("mkdir state");
    struct node_overrides overrides = {.log_level = LOG_LEVEL_ERROR, .mgmt_port = -1};
    if (node_init(&fx.node, config_path, state_dir, &overrides) < 0 ||
        node_load_initial(&fx.node) < 0 || node_publish(&fx.node) < 0)
        die("node");
    log_set_level(LOG_LEVEL_ERROR);

    fx.base = event_base_new();
    fx.link = fx.base != NULL ? dataplane_link_new(fx.base, state_dir) : NULL;
    fx.sync = fx.link != NULL ? sync_start(&fx.node, fx.base) : NULL;
    if (fx.sync == NULL)
        die("event loop, link or sync");
    if (control_socket_path(state_dir, fx.socket_path, sizeof(fx.socket_path)) < 0)
        die("socket path");
    struct api_context context = {
        .base = fx.base, .node = &fx.node, .sync = fx.sync, .link = fx.link};
    /* Port 0: the kernel picks one; asked back below. */
    fx.api = api_start(&context, "127.0.0.1", 0, fx.socket_path, err, sizeof(err));
    if (fx.api == NULL)
        die(err);
    socklen_t len = sizeof(fx.tcp);
    if (getsockname(evhttp_bound_socket_get_fd(fx.api->bound), (struct sockaddr *)&fx.tcp,
                    &len) < 0)
        die("getsockname");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_init("fuzz_api", LOG_LEVEL_ERROR);
    node_setup();
    return 0;
}

static int client_connect(bool local)
{
    int fd;
    if (local) {
        fd = control_socket_connect(fx.socket_path);
    } else {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&fx.tcp, sizeof(fx.tcp)) < 0) {
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        die("connect");
    return fd;
}

/* One turn of the API's loop (what is ready, without waiting), then
 * whether the API has closed fd (its answer read and dropped). */
static bool turn(int fd)
{
    event_base_loop(fx.base, EVLOOP_NONBLOCK);
    char buf[16384];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0)
            continue;
        return n == 0 || (errno != EAGAIN && errno != EINTR);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int fd = client_connect(data[0] & 1);
    const uint8_t *rest = data + 1;
    size_t left = size - 1;
    int turns = 0;
    bool closed = false;
    while (left > 0 && !closed && turns++ < TURNS_MAX) {
        ssize_t n = send(fd, rest, left, MSG_NOSIGNAL);
        if (n > 0) {
            rest += n;
            left -= (size_t)n;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            break; /* the API closed it (a request too large, say) */
        }
        closed = turn(fd);
    }
    shutdown(fd, SHUT_WR);
    while (!closed && turns++ < TURNS_MAX)
        closed = turn(fd);
    close(fd);
    /* Let the API see the close of a connection it still had. */
    for (int i = 0; i < 4; i++)
        event_base_loop(fx.base, EVLOOP_NONBLOCK);
    return 0;
}
