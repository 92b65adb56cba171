/* Logging to stderr, one write(2) per line so that lines from several
 * processes (and threads) sharing the descriptor never interleave. The
 * level may be changed by one thread while others log: it is atomic. */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static const char *log_program = "nanodns";
static _Atomic int log_threshold = LOG_LEVEL_INFO;

static const char *const log_level_names[] = {
    [LOG_LEVEL_DEBUG] = "debug",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_WARNING] = "warning",
    [LOG_LEVEL_ERROR] = "error",
};

void log_init(const char *program, enum log_level level)
{
    if (program != NULL && program[0] != '\0')
        log_program = program;
    log_set_level(level);
}

void log_set_level(enum log_level level)
{
    if (level < LOG_LEVEL_DEBUG || level > LOG_LEVEL_ERROR)
        level = LOG_LEVEL_INFO;
    atomic_store_explicit(&log_threshold, (int)level, memory_order_relaxed);
}

int log_level_parse(const char *text)
{
    if (text == NULL)
        return -1;
    if (strcasecmp(text, "debug") == 0)
        return LOG_LEVEL_DEBUG;
    if (strcasecmp(text, "info") == 0)
        return LOG_LEVEL_INFO;
    if (strcasecmp(text, "warning") == 0 || strcasecmp(text, "warn") == 0)
        return LOG_LEVEL_WARNING;
    if (strcasecmp(text, "error") == 0)
        return LOG_LEVEL_ERROR;
    return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if ((int)level < atomic_load_explicit(&log_threshold, memory_order_relaxed))
        return;
    if (level > LOG_LEVEL_ERROR)
        level = LOG_LEVEL_ERROR;

    /* Logging must not disturb the caller's errno (callers log strerror
     * after the fact and may test errno again). */
    int saved_errno = errno;
    char line[LOG_LINE_MAX];
    size_t used = 0;

    struct tm tm;
    time_t now = time(NULL);
    if (gmtime_r(&now, &tm) != NULL)
        used = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &tm);

    int n = snprintf(line + used, sizeof(line) - used, "%s[%ld]: %s: ", log_program, (long)getpid(),
                     log_level_names[level]);
    if (n > 0)
        used += (size_t)n < sizeof(line) - used ? (size_t)n : sizeof(line) - used - 1;

    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
    va_end(ap);
    if (n > 0)
        used += (size_t)n < sizeof(line) - used ? (size_t)n : sizeof(line) - used - 1;

    /* A message longer than the line is cut, not split: keep room for the newline. */
    if (used > sizeof(line) - 1)
        used = sizeof(line) - 1;
    line[used++] = '\n';

    size_t done = 0;
    while (done < used) {
        ssize_t w = write(STDERR_FILENO, line + done, used - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break; /* nowhere left to report it */
        }
        done += (size_t)w;
    }
    errno = saved_errno;
}
