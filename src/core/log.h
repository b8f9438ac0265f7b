/* log: structured, leveled log lines on stderr (or a file):
 *   2026-11-24T12:00:00.123Z pid=123 level=info module=wal msg="..." key=value ...
 * The level threshold is set once at start-up and by CONFIG SET loglevel. */
#ifndef POLIS_CORE_LOG_H
#define POLIS_CORE_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "debug" "verbose" "notice" "warning" (Redis' names); returns -1 on anything else. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);
/* Sends log lines to the file at path (appending) instead of stderr; 0 or -errno. */
int log_set_file(const char *path);

void log_write(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(module, ...) log_write(LOG_DEBUG, module, __VA_ARGS__)
#define log_verbose(module, ...) log_write(LOG_VERBOSE, module, __VA_ARGS__)
#define log_notice(module, ...) log_write(LOG_NOTICE, module, __VA_ARGS__)
#define log_warning(module, ...) log_write(LOG_WARNING, module, __VA_ARGS__)

#endif
