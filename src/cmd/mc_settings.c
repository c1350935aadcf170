/*
 * mc_settings: `stats settings` from the option table. Names are the
 * table's stats_name column; values are printed as memcached 1.6 prints
 * them, which is the descriptor's own text (util/optdesc.h) except where
 * memcached uses its own words or units, listed here:
 *
 *     booleans      yes/no, but evictions on/off
 *     strings       "NULL" when unset; binding_protocol auto-negotiate;
 *                   auth_enabled_ascii no, or the file; memory_file (null)
 *     sizes, -m     bytes (maxbytes 67108864, not "64m")
 *     octal         without the leading 0 (umask 700)
 *     doubles       two decimals (growth_factor 1.25)
 *     TLS           ssl_min_version as a word (tlsv1.2), ssl_wbuf_size
 *                   (given in KiB) in bytes
 *
 * Not on the hot path: a stats request, printf is fine.
 */
#include "cmd/mc_settings.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/util/optdesc.h"
#include "stashd/util/options.h"

/* Where memcached prints a value in its own words rather than ours. A row
 * naming no option is caught by tests/unit/cmd/test_mc_settings.c. */
static const struct {
    const char *name;
    const char *on, *off;
} bool_words[] = {
    {"evictions", "on", "off"}, /* every other boolean prints yes/no */
};
static const struct {
    const char *name;
    const char *value, *shown;
} str_words[] = {
    {"protocol", "auto", "auto-negotiate"},
    {"auth_file", "", "no"},       /* memcached: auth_enabled_ascii no, or the file */
    {"memory_file", "", "(null)"}, /* memcached prints its unset -e so */
};

/* Integers memcached prints as words (ssl_min_version 2 is "tlsv1.2"); the
 * rows bound the values to the words' indexes. */
static const struct {
    const char *name;
    const char *words[4];
} int_words[] = {
    {"ssl_min_version", {"tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3"}},
};
/* Integers given in KiB that memcached prints in bytes. */
static const char *const kib_rows[] = {"ssl_wbuf_size"};

/* An OPT_INT in memcached's words or units, or NULL for the plain text. */
static const char *
render_int(const struct optdesc *d, int64_t v, char *buf, size_t len)
{
    for (size_t i = 0; i < sizeof(int_words) / sizeof(int_words[0]); i++) {
        if (strcmp(int_words[i].name, d->name) == 0 && v >= 0 && v < 4) {
            return int_words[i].words[v];
        }
    }
    for (size_t i = 0; i < sizeof(kib_rows) / sizeof(kib_rows[0]); i++) {
        if (strcmp(kib_rows[i], d->name) == 0 && v <= INT64_MAX / 1024) {
            snprintf(buf, len, "%" PRId64, v * 1024);
            return buf;
        }
    }
    return NULL;
}

static const char *
render_bool(const struct optdesc *d, bool b)
{
    for (size_t i = 0; i < sizeof(bool_words) / sizeof(bool_words[0]); i++) {
        if (strcmp(bool_words[i].name, d->name) == 0) {
            return b ? bool_words[i].on : bool_words[i].off;
        }
    }
    return b ? "yes" : "no";
}

static const char *
render_str(const struct optdesc *d, const char *s)
{
    for (size_t i = 0; i < sizeof(str_words) / sizeof(str_words[0]); i++) {
        if (strcmp(str_words[i].name, d->name) == 0 && strcmp(str_words[i].value, s) == 0) {
            return str_words[i].shown;
        }
    }
    return s[0] == '\0' ? "NULL" : s; /* as memcached prints an unset string */
}

/* The descriptor's text, in buf or, when longer (a long -l list), in
 * *heap, which the caller frees. */
static const char *
render_text(const struct options *o, const struct optdesc *d, char *buf, size_t len, char **heap)
{
    size_t n = optdesc_format(o, d, buf, len);
    if (n < len) {
        return buf;
    }
    if ((*heap = malloc(n + 1)) == NULL) {
        return "NULL";
    }
    optdesc_format(o, d, *heap, n + 1);
    return *heap;
}

/* A value as memcached's `stats settings` prints it: a view into o, a
 * word, buf, or *heap (which the caller frees). */
static const char *
render_value(const struct options *o, const struct optdesc *d, char *buf, size_t len, char **heap)
{
    union optdesc_value v;
    optdesc_load(o, d, &v);
    switch (d->type) {
    case OPT_BOOL:
        return render_bool(d, v.b);
    case OPT_STR:
        return render_str(d, v.s);
    case OPT_LIST:
        /* memcached joins repeated -l values with ',' and prints them as given */
        return v.l->n == 0 ? "NULL" : render_text(o, d, buf, len, heap);
    case OPT_OCTAL:
        snprintf(buf, len, "%" PRIo64, v.i); /* umask 700 */
        return buf;
    case OPT_MB:
        snprintf(buf, len, "%" PRIu64, v.u); /* maxbytes in bytes */
        return buf;
    case OPT_DOUBLE:
        snprintf(buf, len, "%.2f", v.d); /* growth_factor 1.25 */
        return buf;
    case OPT_INT: {
        const char *w = render_int(d, v.i, buf, len);
        if (w != NULL) {
            return w;
        }
        break;
    }
    case OPT_COUNT:
    case OPT_SIZE:
        break;
    }
    return render_text(o, d, buf, len, heap);
}

void
mc_settings_render(const struct options *o, mc_settings_emit_fn emit, void *ctx)
{
    for (size_t i = 0; i < optdesc_count(); i++) {
        const struct optdesc *d = optdesc_at(i);
        char buf[64];
        char *heap = NULL;
        if (d->stats_name == NULL) {
            continue;
        }
        emit(ctx, d->stats_name, render_value(o, d, buf, sizeof(buf), &heap));
        free(heap);
    }
}
