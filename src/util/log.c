/*
 * log: one line per event on stderr (see util/log.h). Each line is built
 * in a stack buffer and written with one write(2), so lines from different
 * threads never interleave.
 */
#include "stashd/util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Both read with relaxed atomics on every call; changed at run time by the
 * verbosity command and at start-up. */
static int log_verbosity;
static bool log_json;

static const char *const level_names[] = {"error", "warn", "info", "verbose", "debug"};

void
log_set_verbosity(int v)
{
    __atomic_store_n(&log_verbosity, v, __ATOMIC_RELAXED);
}

int
log_get_verbosity(void)
{
    return __atomic_load_n(&log_verbosity, __ATOMIC_RELAXED);
}

void
log_set_json(bool on)
{
    __atomic_store_n(&log_json, on, __ATOMIC_RELAXED);
}

/* Escape msg into out as a JSON string body; returns bytes written. */
static size_t
json_escape(char *out, size_t cap, const char *msg)
{
    size_t n = 0;
    for (const char *p = msg; *p != '\0' && n + 7 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    return n;
}

void
log_write(enum log_level level, const char *fmt, ...)
{
    /* verbosity 0 shows errors and warnings; each -v adds a level. */
    if ((int)level > log_get_verbosity() + 1) {
        return;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[80];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ts.tv_nsec / 1000000) % 1000);

    char line[2600];
    int n;
    if (__atomic_load_n(&log_json, __ATOMIC_RELAXED)) {
        char esc[2200];
        size_t e = json_escape(esc, sizeof(esc), msg);
        n = snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%.*s\"}\n",
                     when, level_names[level], (int)e, esc);
    } else {
        n = snprintf(line, sizeof(line), "%s %s %s\n", when, level_names[level], msg);
    }
    if (n > 0) {
        size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
        ssize_t w = write(STDERR_FILENO, line, len);
        (void)w;
    }
}
