/*
 * optdesc: the rows of STASHD_OPTIONS (util/options.h) as descriptors, for
 * the code above util/ that reads options in (server/: the command line,
 * the YAML file) or shows them (cmd/: `stats settings`).
 *
 * A descriptor is its row as declared. The field it describes is reached
 * only through the functions below, and every value set goes through the
 * same two steps, so a bound or a rule holds wherever the value came from:
 *
 *     text --optdesc_convert()--> value --optdesc_validate()--> field
 *             (syntax, units)              (rule hook, [min, max])
 *
 * Start-up only and single-threaded, like the options struct itself.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct options;
struct options_list;

/* The type column of STASHD_OPTIONS; options.h gives each one's C type. */
enum opt_type {
    OPT_BOOL,
    OPT_INT,
    OPT_OCTAL,
    OPT_SIZE,
    OPT_MB,
    OPT_DOUBLE,
    OPT_STR,
    OPT_LIST,
    OPT_COUNT,
};

/* One row of STASHD_OPTIONS (see the column comments in options.h).
 * Read-only and static: a descriptor lives as long as the process. */
struct optdesc {
    const char *name; /* the struct field and YAML key */
    enum opt_type type;
    int short_flag;         /* memcached's letter, or 0 */
    const char *long_flag;  /* without "--" */
    const char *def;        /* the default, as text */
    int64_t min, max;       /* bounds; max < min: none above (a double 0, 0: none) */
    bool flag_value;        /* OPT_BOOL: what the bare flag sets */
    const char *stats_name; /* `stats settings` name, or NULL */
    const char *help;
};

/* A value of a row's type. s is borrowed (from the text converted, or
 * from the options struct loaded); l only ever comes from a load. */
union optdesc_value {
    bool b;
    int64_t i;  /* OPT_INT, OPT_OCTAL, OPT_COUNT */
    uint64_t u; /* OPT_SIZE, OPT_MB (bytes, or OPTIONS_MB_AUTO) */
    double d;
    const char *s;
    const struct options_list *l;
};

/* ---- the iterator ---------------------------------------------------- */

/* Rows in table order: optdesc_at(0) .. optdesc_at(optdesc_count() - 1);
 * NULL past the end. */
size_t optdesc_count(void);
const struct optdesc *optdesc_at(size_t i);
/* The row whose field (YAML key) is name, or NULL. */
const struct optdesc *optdesc_find(const char *name);
/* d's position, for arrays indexed like the table. */
size_t optdesc_index(const struct optdesc *d);
/* "-p/--port" or "--idle-timeout", for messages; returns buf. */
const char *optdesc_label(const struct optdesc *d, char *buf, size_t len);

/* ---- values ---------------------------------------------------------- */

/* Text to a value of d's type: syntax and units only (k/m/g suffixes,
 * memory_limit's plain MiB and "auto"). false with the reason in why. */
bool optdesc_convert(const struct optdesc *d, const char *text, union optdesc_value *v, char *why,
                     size_t whylen);
/* d's rule hook, if it has one, then its [min, max]. false with the
 * reason in why (which never names the option: the caller knows how the
 * user spelled it). */
bool optdesc_validate(const struct optdesc *d, const union optdesc_value *v, char *why,
                      size_t whylen);

/*
 * Set d's field in o from text: convert, validate, store. For a list,
 * text is one or more comma-separated items and append adds them to the
 * items already there instead of replacing those. On failure the field
 * is unchanged. 0, -EINVAL or -ENOMEM, with the reason in why.
 */
int optdesc_set(struct options *o, const struct optdesc *d, const char *text, bool append,
                char *why, size_t whylen);
/* Validate and store a value of a scalar type (not OPT_STR or OPT_LIST). */
int optdesc_store(struct options *o, const struct optdesc *d, const union optdesc_value *v,
                  char *why, size_t whylen);
/* Free what d's field owns: a list becomes empty, a string NULL (which
 * only options_fini() may leave behind); other types are untouched. */
void optdesc_release(struct options *o, const struct optdesc *d);

/* Read d's field; strings and lists are borrowed from o. */
void optdesc_load(const struct options *o, const struct optdesc *d, union optdesc_value *v);

/*
 * d's value as text that optdesc_set() reads back to the same value:
 * true/false, decimal integers (octal with a leading 0), sizes in bytes,
 * memory_limit with a unit (64m, 512k: rounded down to a KiB) or "auto",
 * a double with 17 digits, a string as is, a list comma-joined. Writes at
 * most len bytes with the NUL, like snprintf, and returns the length the
 * whole text needs.
 */
size_t optdesc_format(const struct options *o, const struct optdesc *d, char *buf, size_t len);

/* Whether the hand-written rules still name rows of the table and no
 * letter is taken twice; options_init() aborts on a mismatch, a
 * programmer error reported on stderr. */
bool optdesc_table_consistent(void);
