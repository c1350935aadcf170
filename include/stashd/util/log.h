/*
 * log: one line per event on stderr: "<time> <level> <message>", or JSON
 * lines with log_set_json(true). The level changes at run time (memcached's
 * `verbosity` command), so it is an atomic read; debug logging compiles out
 * of hot paths unless STASHD_DEBUG_LOG is defined.
 */
#pragma once

#include <stdbool.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_VERBOSE = 3, LOG_DEBUG = 4 };

/* verbosity as memcached counts it: 0 = warnings and errors, 1 = -v, 2 = -vv, 3 = -vvv */
void log_set_verbosity(int v);
int log_get_verbosity(void);
void log_set_json(bool on);
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_verbose(...) log_write(LOG_VERBOSE, __VA_ARGS__)
#ifdef STASHD_DEBUG_LOG
#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#else
#define log_debug(...) ((void)0)
#endif
