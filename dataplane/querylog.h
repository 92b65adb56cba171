/* The query log (log_queries): one line per answered query, as text or as
 * JSON Lines. Lines are appended to a 64 KiB buffer that goes out with one
 * write(2) when it is three-quarters full or when the owner's 100 ms timer
 * calls querylog_flush; the answer path never waits for the reader. A line
 * that finds the buffer full is dropped and counted. One owner, one
 * thread; the struct owns its buffer and its descriptor. */
#ifndef NANODNS_QUERYLOG_H
#define NANODNS_QUERYLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "answer.h"

#define QUERYLOG_BUFFER_SIZE 65536
#define QUERYLOG_FLUSH_INTERVAL_MS 100
/* Room for the longest line: a 255-octet name written as \DDD escapes is
 * 1020 characters, 1275 once JSON escapes its backslashes. */
#define QUERYLOG_LINE_MAX 1600

/* The formats of image_settings.log_format. */
enum querylog_format { QUERYLOG_TEXT = 0, QUERYLOG_JSON = 1 };

struct querylog_entry {
    uint64_t time_ms;              /* UTC, milliseconds since the epoch */
    const struct sockaddr *client; /* AF_INET or AF_INET6 */
    const uint8_t *qname;          /* wire form; NULL when the question did not parse */
    size_t qname_len;
    uint16_t qtype;
    uint16_t rcode;
    enum answer_source source;
    uint64_t latency_ns; /* from receipt to send */
};

/* Format one line, newline included, into out (cap octets):
 *   2026-11-26T10:00:00.123Z 127.0.0.1#53124 www.example.com. A NOERROR upstream 1.234ms
 *   {"time":"...","client":"127.0.0.1#53124","qname":"www.example.com.","qtype":"A",
 *    "rcode":"NOERROR","source":"upstream","latency_ms":1.234}
 * Returns its length, or 0 when it does not fit. */
size_t querylog_format(const struct querylog_entry *entry, enum querylog_format format, char *out,
                       size_t cap);

/* Names as the log writes them: "A", "TYPE65534" (RFC 3597 §5); "NOERROR",
 * "RCODE12"; "local", "cache", "upstream", "blocked", "refused", "error". */
const char *querylog_qtype_name(uint16_t qtype, char *buf, size_t cap);
const char *querylog_rcode_name(uint16_t rcode, char *buf, size_t cap);
const char *querylog_source_name(enum answer_source source);

/* A descriptor for stderr that does not block: for a pipe or a terminal a
 * new open file description with O_NONBLOCK (never the shared one, which
 * other processes use), for a socket a duplicate written with
 * MSG_DONTWAIT, for a file a duplicate. Call before dropping privileges
 * (/proc/self/fd is out of reach afterwards). -1 on failure. */
int querylog_open_stderr(bool *is_socket);

struct querylog;

/* Takes ownership of fd. NULL when out of memory. */
struct querylog *querylog_new(int fd, bool is_socket);
/* Flush what is buffered, close the descriptor, free. */
void querylog_free(struct querylog *log);

/* Append entry's line; flush when the buffer is three-quarters full.
 * Returns 0, or -1 when the line was dropped (buffer full). */
int querylog_record(struct querylog *log, const struct querylog_entry *entry,
                    enum querylog_format format);

/* Write what is buffered, as far as the reader takes it without waiting;
 * the rest stays for the next call. */
void querylog_flush(struct querylog *log);

/* Lines dropped since querylog_new. */
uint64_t querylog_dropped(const struct querylog *log);

#endif
