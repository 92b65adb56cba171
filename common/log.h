/* Logging to stderr: "2026-11-26T09:00:00Z nanodns[123]: info: message".
 * Process-wide level and name, set once at start; safe from one thread. */
#ifndef NANODNS_LOG_H
#define NANODNS_LOG_H

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARNING, LOG_LEVEL_ERROR };

void log_init(const char *program, enum log_level level);
void log_set_level(enum log_level level);
/* "DEBUG", "info", "WARNING", "warn", "ERROR" (any case) → level; -1 when unknown. */
int log_level_parse(const char *text);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
