/* The query log: lines formatted on the answer path into a buffer, written
 * out in one system call per flush (querylog.h). */
#include "querylog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

/* Flush when the buffer is this full: room is left for the lines that
 * arrive before the write. */
#define QUERYLOG_FLUSH_AT (QUERYLOG_BUFFER_SIZE / 4 * 3)

struct querylog {
    int fd;
    bool is_socket;
    size_t used;
    uint64_t dropped;
    /* The last write did not take everything: lines wait for the timer
     * instead of trying (a system call each) while the reader is behind. */
    bool behind;
    char buf[QUERYLOG_BUFFER_SIZE];
};

const char *querylog_qtype_name(uint16_t qtype, char *buf, size_t cap)
{
    switch (qtype) {
    case 1:
        return "A";
    case 2:
        return "NS";
    case 5:
        return "CNAME";
    case 6:
        return "SOA";
    case 12:
        return "PTR";
    case 13:
        return "HINFO";
    case 15:
        return "MX";
    case 16:
        return "TXT";
    case 28:
        return "AAAA";
    case 33:
        return "SRV";
    case 35:
        return "NAPTR";
    case 43:
        return "DS";
    case 46:
        return "RRSIG";
    case 47:
        return "NSEC";
    case 48:
        return "DNSKEY";
    case 50:
        return "NSEC3";
    case 52:
        return "TLSA";
    case 64:
        return "SVCB";
    case 65:
        return "HTTPS";
    case 99:
        return "SPF";
    case 251:
        return "IXFR";
    case 252:
        return "AXFR";
    case 255:
        return "ANY";
    case 257:
        return "CAA";
    default:
        snprintf(buf, cap, "TYPE%u", (unsigned)qtype); /* RFC 3597 §5 */
        return buf;
    }
}

const char *querylog_rcode_name(uint16_t rcode, char *buf, size_t cap)
{
    static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                        "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                        "NXRRSET", "NOTAUTH", "NOTZONE"};
    if (rcode < sizeof(names) / sizeof(names[0]))
        return names[rcode];
    if (rcode == WIRE_RCODE_BADVERS)
        return "BADVERS";
    snprintf(buf, cap, "RCODE%u", (unsigned)rcode);
    return buf;
}

const char *querylog_source_name(enum answer_source source)
{
    switch (source) {
    case ANSWER_SOURCE_LOCAL:
        return "local";
    case ANSWER_SOURCE_BLOCKED:
        return "blocked";
    case ANSWER_SOURCE_REFUSED:
        return "refused";
    case ANSWER_SOURCE_ERROR:
        return "error";
    case ANSWER_SOURCE_FORWARD: /* never logged: the answer comes later */
    case ANSWER_SOURCE_UPSTREAM:
        return "upstream";
    case ANSWER_SOURCE_CACHE:
        return "cache";
    }
    return "error";
}

/* "127.0.0.1#53124", "::1#53124" (the BIND and dnsmasq way). */
static void client_text(const struct sockaddr *sa, char *out, size_t cap)
{
    char addr[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
        port = ntohs(in->sin_port);
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, cap, "%s#%u", addr, port);
}

/* "2026-11-26T10:00:00.123Z" */
static void time_text(uint64_t time_ms, char *out, size_t cap)
{
    time_t seconds = (time_t)(time_ms / 1000);
    struct tm tm;
    if (gmtime_r(&seconds, &tm) == NULL) {
        snprintf(out, cap, "1970-01-01T00:00:00.000Z");
        return;
    }
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03uZ", (unsigned)(time_ms % 1000));
}

/* The name with its trailing dot ("www.example.com.", "." for the root);
 * for JSON with '\' and '"' escaped as well. */
static int qname_text(const struct querylog_entry *e, bool json, char *out, size_t cap)
{
    char text[WIRE_NAME_MAX * 4 + 2];
    int n = wire_name_to_text(e->qname, e->qname_len, text, sizeof(text) - 1);
    if (n < 0)
        return -1;
    if (!(n == 1 && text[0] == '.'))
        text[n++] = '.';
    text[n] = '\0';
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        bool escape = json && (text[i] == '\\' || text[i] == '"');
        if (used + 2 >= cap)
            return -1;
        if (escape)
            out[used++] = '\\';
        out[used++] = text[i];
    }
    out[used] = '\0';
    return (int)used;
}

size_t querylog_format(const struct querylog_entry *e, enum querylog_format format, char *out,
                       size_t cap)
{
    bool json = format == QUERYLOG_JSON;
    char when[40], client[INET6_ADDRSTRLEN + 8], name[WIRE_NAME_MAX * 5 + 4];
    char qtype_buf[16], rcode_buf[16];
    time_text(e->time_ms, when, sizeof(when));
    client_text(e->client, client, sizeof(client));
    bool has_name = e->qname != NULL && qname_text(e, json, name, sizeof(name)) >= 0;
    const char *qtype =
        has_name ? querylog_qtype_name(e->qtype, qtype_buf, sizeof(qtype_buf)) : NULL;
    const char *rcode = querylog_rcode_name(e->rcode, rcode_buf, sizeof(rcode_buf));
    const char *source = querylog_source_name(e->source);
    /* Milliseconds with three decimals, from integers: no rounding surprises. */
    uint64_t us = e->latency_ns / 1000;
    unsigned long long ms = (unsigned long long)(us / 1000);
    unsigned frac = (unsigned)(us % 1000);

    int n;
    if (json) {
        char qname_json[sizeof(name) + 2], qtype_json[sizeof(qtype_buf) + 2];
        if (has_name) {
            snprintf(qname_json, sizeof(qname_json), "\"%s\"", name);
            snprintf(qtype_json, sizeof(qtype_json), "\"%s\"", qtype);
        } else {
            snprintf(qname_json, sizeof(qname_json), "null");
            snprintf(qtype_json, sizeof(qtype_json), "null");
        }
        n = snprintf(out, cap,
                     "{\"time\":\"%s\",\"client\":\"%s\",\"qname\":%s,\"qtype\":%s,"
                     "\"rcode\":\"%s\",\"source\":\"%s\",\"latency_ms\":%llu.%03u}\n",
                     when, client, qname_json, qtype_json, rcode, source, ms, frac);
    } else {
        n = snprintf(out, cap, "%s %s %s %s %s %s %llu.%03ums\n", when, client,
                     has_name ? name : "-", has_name ? qtype : "-", rcode, source, ms, frac);
    }
    if (n < 0 || (size_t)n >= cap)
        return 0;
    return (size_t)n;
}

int querylog_open_stderr(bool *is_socket)
{
    struct stat st;
    *is_socket = false;
    if (fstat(STDERR_FILENO, &st) < 0)
        return -1;
    if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
        /* Setting O_NONBLOCK on fd 2 itself would change it for every
         * process sharing the description (the control plane, a shell). */
        int fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0)
            return fd;
    }
    *is_socket = S_ISSOCK(st.st_mode);
    return fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
}

struct querylog *querylog_new(int fd, bool is_socket)
{
    struct querylog *log = malloc(sizeof(*log));
    if (log == NULL)
        return NULL;
    log->fd = fd;
    log->is_socket = is_socket;
    log->used = 0;
    log->dropped = 0;
    log->behind = false;
    return log;
}

void querylog_free(struct querylog *log)
{
    if (log == NULL)
        return;
    querylog_flush(log);
    if (log->fd >= 0)
        close(log->fd);
    free(log);
}

void querylog_flush(struct querylog *log)
{
    log->behind = false;
    if (log->used == 0)
        return;
    ssize_t n;
    do {
        n = log->is_socket ? send(log->fd, log->buf, log->used, MSG_DONTWAIT | MSG_NOSIGNAL)
                           : write(log->fd, log->buf, log->used);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            log->behind = true; /* try again at the next tick */
        else
            log->used = 0; /* nobody reads any more (EPIPE, say): what is buffered is lost */
        return;
    }
    /* A partial write leaves the rest for the next tick. */
    memmove(log->buf, log->buf + n, log->used - (size_t)n);
    log->used -= (size_t)n;
    log->behind = log->used > 0;
}

int querylog_record(struct querylog *log, const struct querylog_entry *entry,
                    enum querylog_format format)
{
    if (QUERYLOG_BUFFER_SIZE - log->used < QUERYLOG_LINE_MAX) {
        if (!log->behind)
            querylog_flush(log);
        if (QUERYLOG_BUFFER_SIZE - log->used < QUERYLOG_LINE_MAX) {
            log->dropped++;
            return -1;
        }
    }
    size_t n = querylog_format(entry, format, log->buf + log->used, QUERYLOG_LINE_MAX);
    if (n == 0) {
        log->dropped++;
        return -1;
    }
    log->used += n;
    if (log->used >= QUERYLOG_FLUSH_AT && !log->behind)
        querylog_flush(log);
    return 0;
}

uint64_t querylog_dropped(const struct querylog *log)
{
    return log->dropped;
}
