/*
 * options: the options struct's life (defaults, clean-up), the check of
 * every field against its row, and the table's --help lines. The values
 * themselves go in and out through util/optdesc; the command line and the
 * YAML file are read in server/, `stats settings` is rendered in cmd/.
 */
#include "stashd/util/options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/util/optdesc.h"

void
options_init(struct options *o)
{
    char why[256];
    if (!optdesc_table_consistent()) {
        abort(); /* a programmer error in the table, reported on stderr */
    }
    memset(o, 0, sizeof(*o));
    o->config_file = strdup("");
    if (o->config_file == NULL) {
        abort();
    }
    for (size_t i = 0; i < optdesc_count(); i++) {
        const struct optdesc *d = optdesc_at(i);
        /* A default that does not parse is a bug in the table. */
        if (optdesc_set(o, d, d->def, false, why, sizeof(why)) != 0) {
            fprintf(stderr, "options: bad default for %s: %s\n", d->name, why);
            abort();
        }
    }
}

void
options_fini(struct options *o)
{
    for (size_t i = 0; i < optdesc_count(); i++) {
        optdesc_release(o, optdesc_at(i));
    }
    free(o->config_file);
    o->config_file = NULL;
}

int
options_validate(const struct options *o, char *err, size_t errlen)
{
    char why[256], label[64];
    for (size_t i = 0; i < optdesc_count(); i++) {
        const struct optdesc *d = optdesc_at(i);
        union optdesc_value v;
        if (d->type == OPT_LIST) {
            continue;
        }
        optdesc_load(o, d, &v);
        if (!optdesc_validate(d, &v, why, sizeof(why))) {
            snprintf(err, errlen, "%s: %s", optdesc_label(d, label, sizeof(label)), why);
            return -EINVAL;
        }
    }
    return 0;
}

/* ---- --help ----------------------------------------------------------- */

static const char *
arg_placeholder(enum opt_type t)
{
    switch (t) {
    case OPT_BOOL:
    case OPT_COUNT:
        return "";
    case OPT_OCTAL:
        return "=<mask>";
    case OPT_SIZE:
        return "=<size>";
    case OPT_STR:
        return "=<str>";
    case OPT_LIST:
        return "=<list>";
    default:
        return "=<num>";
    }
}

#define HELP_COLUMN 32

void
options_help_line(FILE *out, const char *left, const char *text, const char *def)
{
    int w = fprintf(out, "%s", left);
    fprintf(out, "%*s%s", w < HELP_COLUMN ? HELP_COLUMN - w : 2, "", text);
    if (def != NULL) {
        fprintf(out, " (default: %s)", def);
    }
    fputc('\n', out);
}

void
options_print_help(FILE *out)
{
    char left[96];
    for (size_t i = 0; i < optdesc_count(); i++) {
        const struct optdesc *d = optdesc_at(i);
        char sf[8] = "   ";
        if (d->short_flag != 0) {
            snprintf(sf, sizeof(sf), "-%c,", d->short_flag);
        }
        snprintf(left, sizeof(left), "%s --%s%s", sf, d->long_flag, arg_placeholder(d->type));
        bool show_def = d->type != OPT_BOOL && d->type != OPT_COUNT && d->def[0] != '\0';
        options_help_line(out, left, d->help, show_def ? d->def : NULL);
    }
}
