/*
 * options: the STASHD_OPTIONS table (util/options.h) turned into a
 * descriptor array, and everything that reads it: defaults, the
 * command line (getopt_long with memcached's letters and long names),
 * -o key=value lists, the YAML loader, cross-option checks, --help and
 * `stats settings`.
 *
 * Every value, wherever it comes from, goes through the same three steps,
 * so a bound or a rule is enforced identically on the command line, in
 * -o, in YAML and again in options_finish():
 *
 *     text --convert()--> union opt_val --validate()--> store()
 *                         (syntax, units)   (rule hook, then [min, max])
 *
 * Only rules a table row cannot express are written by hand: the rule
 * hooks below (e.g. -U must be 0, protocol names), the memcached flags
 * and -o keys that are accepted and ignored, and the few `stats settings`
 * values memcached prints in its own words (evictions on/off,
 * binding_protocol auto-negotiate).
 *
 * All of this runs once, single-threaded, at start-up: getopt's globals
 * and the error-path allocations are fine here.
 */
#include "stashd/util/options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "stashd/util/log.h"
#include "stashd/util/num.h"

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

/* One row of STASHD_OPTIONS; see the field comments in options.h. */
struct opt_desc {
    const char *name;
    enum opt_type type;
    int short_flag;
    const char *long_flag;
    const char *def;
    int64_t min;
    int64_t max;
    bool flag_value;
    const char *stats_name;
    const char *help;
    size_t offset; /* of the field in struct options */
};

/* Macro parameters are suffixed so that they never replace a designator. */
#define OPT_DESC(f_, t_, sf_, lf_, df_, mn_, mx_, fv_, sn_, hp_)                                   \
    {.name = #f_,                                                                                  \
     .type = t_,                                                                                   \
     .short_flag = sf_,                                                                            \
     .long_flag = lf_,                                                                             \
     .def = df_,                                                                                   \
     .min = mn_,                                                                                   \
     .max = mx_,                                                                                   \
     .flag_value = fv_,                                                                            \
     .stats_name = sn_,                                                                            \
     .help = hp_,                                                                                  \
     .offset = offsetof(struct options, f_)},
static const struct opt_desc descs[] = {STASHD_OPTIONS(OPT_DESC)};
#undef OPT_DESC

#define NOPTS (sizeof(descs) / sizeof(descs[0]))

/* A converted scalar; s points into the caller's text. */
union opt_val {
    bool b;
    int64_t i;
    uint64_t u;
    double d;
    const char *s;
};

/* ---- rules a row cannot express ------------------------------------- */

typedef bool (*opt_rule_fn)(const union opt_val *v, char *why, size_t whylen);

static bool
rule_udp_port(const union opt_val *v, char *why, size_t whylen)
{
    if (v->i != 0) {
        snprintf(why, whylen, "UDP is not supported; -U must be 0");
        return false;
    }
    return true;
}

static bool
rule_growth_factor(const union opt_val *v, char *why, size_t whylen)
{
    if (!(v->d > 1.0)) {
        snprintf(why, whylen, "factor must be greater than 1.0 (got %g)", v->d);
        return false;
    }
    return true;
}

static bool
rule_protocol(const union opt_val *v, char *why, size_t whylen)
{
    if (strcmp(v->s, "auto") != 0 && strcmp(v->s, "ascii") != 0 && strcmp(v->s, "binary") != 0) {
        snprintf(why, whylen,
                 "invalid value for binding protocol: '%s' (should be one of auto, "
                 "binary, or ascii)",
                 v->s);
        return false;
    }
    return true;
}

static bool
rule_log_format(const union opt_val *v, char *why, size_t whylen)
{
    if (strcmp(v->s, "text") != 0 && strcmp(v->s, "json") != 0) {
        snprintf(why, whylen, "'%s' is not a log format (should be text or json)", v->s);
        return false;
    }
    return true;
}

static bool
rule_shards(const union opt_val *v, char *why, size_t whylen)
{
    if (v->i < 0 || (v->i & (v->i - 1)) != 0) {
        snprintf(why, whylen, "%" PRId64 " is not 0 or a power of two", v->i);
        return false;
    }
    return true;
}

static const struct {
    const char *name;
    opt_rule_fn fn;
} rules[] = {
    {"udp_port", rule_udp_port}, {"growth_factor", rule_growth_factor},
    {"protocol", rule_protocol}, {"log_format", rule_log_format},
    {"shards", rule_shards},
};

static opt_rule_fn
rule_for(const struct opt_desc *d)
{
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (strcmp(rules[i].name, d->name) == 0) {
            return rules[i].fn;
        }
    }
    return NULL;
}

/* ---- descriptors ------------------------------------------------------ */

static const struct opt_desc *
desc_by_name(const char *name)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (strcmp(descs[i].name, name) == 0) {
            return &descs[i];
        }
    }
    return NULL;
}

static void *
field_ptr(struct options *o, const struct opt_desc *d)
{
    return (char *)o + d->offset;
}

static const void *
field_cptr(const struct options *o, const struct opt_desc *d)
{
    return (const char *)o + d->offset;
}

/* "-p/--port" or "--idle-timeout", for messages. */
static const char *
desc_label(const struct opt_desc *d, char *buf, size_t len)
{
    if (d->short_flag != 0) {
        snprintf(buf, len, "-%c/--%s", d->short_flag, d->long_flag);
    } else {
        snprintf(buf, len, "--%s", d->long_flag);
    }
    return buf;
}

/*
 * Numeric bounds: a row's max below its min means "no upper bound"
 * (memory_limit: 1, 0). A double row with 0, 0 is unbounded, since
 * integer bounds cannot express its range; its rule hook checks it.
 */
static bool
desc_bounded(const struct opt_desc *d)
{
    return !(d->type == OPT_DOUBLE && d->min == 0 && d->max == 0);
}

static bool
desc_has_max(const struct opt_desc *d)
{
    return desc_bounded(d) && d->max >= d->min;
}

/* ---- text to value ---------------------------------------------------- */

static bool
parse_bool_word(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Digits with an optional k/m/g suffix (case-insensitive). has_unit says
 * whether a suffix was given, so that OPT_MB can default to MiB. */
static bool
parse_scaled(const char *s, uint64_t *out, bool *has_unit)
{
    size_t len = strlen(s);
    unsigned shift = 0;
    *has_unit = false;
    if (len > 0) {
        switch (s[len - 1]) {
        case 'k':
        case 'K':
            shift = 10;
            break;
        case 'm':
        case 'M':
            shift = 20;
            break;
        case 'g':
        case 'G':
            shift = 30;
            break;
        default:
            break;
        }
    }
    if (shift != 0) {
        *has_unit = true;
        len--;
    }
    uint64_t v;
    if (!num_parse_u64(s, len, &v) || v > (UINT64_MAX >> shift)) {
        return false;
    }
    *out = v << shift;
    return true;
}

static bool
parse_octal(const char *s, int64_t *out)
{
    size_t len = strlen(s);
    if (len == 0 || len > 21) {
        return false;
    }
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '7') {
            return false;
        }
        v = v * 8 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static const char *
type_expects(enum opt_type t)
{
    switch (t) {
    case OPT_BOOL:
        return "true/false, yes/no or on/off";
    case OPT_INT:
    case OPT_COUNT:
        return "an integer";
    case OPT_OCTAL:
        return "an octal number";
    case OPT_SIZE:
        return "a size in bytes, with optional k/m/g suffix";
    case OPT_MB:
        return "megabytes, a size with k/m/g suffix, or auto";
    case OPT_DOUBLE:
        return "a number";
    default:
        return "a string";
    }
}

/* Syntax and units only; validate() checks the result. */
static bool
convert(const struct opt_desc *d, const char *text, union opt_val *v, char *why, size_t whylen)
{
    bool ok = true;
    bool unit;
    switch (d->type) {
    case OPT_BOOL:
        ok = parse_bool_word(text, &v->b);
        break;
    case OPT_INT:
    case OPT_COUNT:
        ok = num_parse_i64(text, strlen(text), &v->i);
        break;
    case OPT_OCTAL:
        ok = parse_octal(text, &v->i);
        break;
    case OPT_SIZE:
        ok = parse_scaled(text, &v->u, &unit);
        break;
    case OPT_MB:
        if (strcmp(text, "auto") == 0) {
            v->u = OPTIONS_MB_AUTO; /* resolved by options_finish() */
            break;
        }
        ok = parse_scaled(text, &v->u, &unit);
        if (ok && !unit) {
            ok = v->u <= (UINT64_MAX >> 20);
            v->u <<= 20;
        }
        break;
    case OPT_DOUBLE:
        ok = num_parse_double(text, strlen(text), &v->d);
        break;
    case OPT_STR:
    case OPT_LIST:
        v->s = text;
        break;
    }
    if (!ok) {
        snprintf(why, whylen, "invalid value '%s' (expected %s)", text, type_expects(d->type));
    }
    return ok;
}

static bool
check_range(const struct opt_desc *d, const union opt_val *v, char *why, size_t whylen)
{
    bool low, high;
    switch (d->type) {
    case OPT_INT:
    case OPT_OCTAL:
    case OPT_COUNT:
        low = v->i < d->min;
        high = desc_has_max(d) && v->i > d->max;
        break;
    case OPT_MB:
        if (v->u == OPTIONS_MB_AUTO) {
            return true; /* "auto": checked once options_finish() resolves it */
        }
        /* fall through */
    case OPT_SIZE:
        low = v->u < (uint64_t)d->min;
        high = desc_has_max(d) && v->u > (uint64_t)d->max;
        break;
    case OPT_DOUBLE:
        low = desc_bounded(d) && v->d < (double)d->min;
        high = desc_has_max(d) && v->d > (double)d->max;
        break;
    default:
        return true;
    }
    if (!low && !high) {
        return true;
    }
    const char *fmt = d->type == OPT_OCTAL ? "%" PRIo64 : "%" PRId64;
    char val[32], lo[32], hi[32] = "";
    if (d->type == OPT_DOUBLE) {
        snprintf(val, sizeof(val), "%g", v->d);
    } else if (d->type == OPT_SIZE || d->type == OPT_MB) {
        snprintf(val, sizeof(val), "%" PRIu64, v->u);
    } else {
        snprintf(val, sizeof(val), fmt, v->i);
    }
    snprintf(lo, sizeof(lo), fmt, d->min);
    if (desc_has_max(d)) {
        snprintf(hi, sizeof(hi), fmt, d->max);
    }
    const char *unit = d->type == OPT_SIZE || d->type == OPT_MB ? " bytes" : "";
    if (!desc_has_max(d)) {
        snprintf(why, whylen, "%s%s is below the minimum of %s%s", val, unit, lo, unit);
    } else {
        snprintf(why, whylen, "%s%s is out of range [%s, %s]%s", val, unit, lo, hi, unit);
    }
    return false;
}

static bool
validate(const struct opt_desc *d, const union opt_val *v, char *why, size_t whylen)
{
    opt_rule_fn rule = rule_for(d);
    if (rule != NULL && !rule(v, why, whylen)) {
        return false;
    }
    return check_range(d, v, why, whylen);
}

/* ---- storing values --------------------------------------------------- */

static void
store(struct options *o, const struct opt_desc *d, const union opt_val *v)
{
    void *p = field_ptr(o, d);
    switch (d->type) {
    case OPT_BOOL:
        *(bool *)p = v->b;
        break;
    case OPT_INT:
    case OPT_OCTAL:
    case OPT_COUNT:
        *(int64_t *)p = v->i;
        break;
    case OPT_SIZE:
    case OPT_MB:
        *(uint64_t *)p = v->u;
        break;
    case OPT_DOUBLE:
        *(double *)p = v->d;
        break;
    case OPT_STR:
    case OPT_LIST:
        break; /* owned memory: see set_text() */
    }
}

/* The inverse of store(); a string is borrowed from o. Lists have no
 * scalar form and load as NULL. */
static void
load(const struct options *o, const struct opt_desc *d, union opt_val *v)
{
    const void *p = field_cptr(o, d);
    switch (d->type) {
    case OPT_BOOL:
        v->b = *(const bool *)p;
        break;
    case OPT_INT:
    case OPT_OCTAL:
    case OPT_COUNT:
        v->i = *(const int64_t *)p;
        break;
    case OPT_SIZE:
    case OPT_MB:
        v->u = *(const uint64_t *)p;
        break;
    case OPT_DOUBLE:
        v->d = *(const double *)p;
        break;
    case OPT_STR:
        v->s = *(char *const *)p;
        break;
    case OPT_LIST:
        v->s = NULL;
        break;
    }
}

static void
list_clear(struct options_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int
list_push(struct options_list *l, const char *s, size_t len)
{
    char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (v == NULL) {
        return -ENOMEM;
    }
    l->v = v;
    if ((v[l->n] = strndup(s, len)) == NULL) {
        return -ENOMEM;
    }
    l->n++;
    return 0;
}

/* Append the comma-separated items of text, trimmed of blanks. */
static int
list_add_csv(struct options_list *l, const char *text, char *why, size_t whylen)
{
    const char *p = text;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (len > 0 && (*s == ' ' || *s == '\t')) {
            s++;
            len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
            len--;
        }
        if (len == 0) {
            snprintf(why, whylen, "empty item in list '%s'", text);
            return -EINVAL;
        }
        if (list_push(l, s, len) != 0) {
            snprintf(why, whylen, "out of memory");
            return -ENOMEM;
        }
        if (end == NULL) {
            return 0;
        }
        p = end + 1;
    }
}

/* Parse text into a list, then replace (or append to) the field, so that
 * a bad item leaves the field unchanged. */
static int
set_list(struct options_list *dst, const char *text, bool append, char *why, size_t whylen)
{
    struct options_list tmp = {0};
    int rc = list_add_csv(&tmp, text, why, whylen);
    if (rc != 0) {
        list_clear(&tmp);
        return rc;
    }
    if (!append) {
        list_clear(dst);
        *dst = tmp;
        return 0;
    }
    for (size_t i = 0; i < tmp.n; i++) {
        if (list_push(dst, tmp.v[i], strlen(tmp.v[i])) != 0) {
            list_clear(&tmp);
            snprintf(why, whylen, "out of memory");
            return -ENOMEM;
        }
    }
    list_clear(&tmp);
    return 0;
}

/*
 * Set one option from text. For a list, append adds to the items already
 * there instead of replacing them. 0, -EINVAL (why says what is wrong,
 * without naming the option: the caller knows how it was spelled), or
 * -ENOMEM.
 */
static int
set_text(struct options *o, const struct opt_desc *d, const char *text, bool append, char *why,
         size_t whylen)
{
    union opt_val v;
    if (d->type == OPT_LIST) {
        return set_list(field_ptr(o, d), text, append, why, whylen);
    }
    if (!convert(d, text, &v, why, whylen) || !validate(d, &v, why, whylen)) {
        return -EINVAL;
    }
    if (d->type == OPT_STR) {
        char *s = strdup(text);
        if (s == NULL) {
            snprintf(why, whylen, "out of memory");
            return -ENOMEM;
        }
        char **p = field_ptr(o, d);
        free(*p);
        *p = s;
        return 0;
    }
    store(o, d, &v);
    return 0;
}

/* ---- defaults --------------------------------------------------------- */

static bool table_consistent(void);

void
options_init(struct options *o)
{
    char why[256];
    if (!table_consistent()) {
        abort(); /* a programmer error in the table, reported by table_consistent() */
    }
    memset(o, 0, sizeof(*o));
    o->config_file = strdup("");
    if (o->config_file == NULL) {
        abort();
    }
    for (size_t i = 0; i < NOPTS; i++) {
        /* A default that does not parse is a bug in the table. */
        if (set_text(o, &descs[i], descs[i].def, false, why, sizeof(why)) != 0) {
            fprintf(stderr, "options: bad default for %s: %s\n", descs[i].name, why);
            abort();
        }
    }
}

void
options_fini(struct options *o)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt_desc *d = &descs[i];
        if (d->type == OPT_STR) {
            char **p = field_ptr(o, d);
            free(*p);
            *p = NULL;
        } else if (d->type == OPT_LIST) {
            list_clear(field_ptr(o, d));
        }
    }
    free(o->config_file);
    o->config_file = NULL;
}

/* ---- command line ----------------------------------------------------- */

/* getopt codes beyond the table's letters ('h', 'V', 'o' are memcached's). */
enum {
    CODE_CONFIG = 0x100,
    CODE_LONG_ONLY = 0x200, /* + index into descs[] */
};

/*
 * memcached flags stashd accepts and ignores with a warning, so existing
 * memcached command lines start unchanged. -S (SASL) and -Y (the ASCII
 * auth file) are table rows. -Z (TLS) is deliberately absent (unknown),
 * since serving without it would silently weaken what the operator asked
 * for.
 */
static const struct {
    int letter;
    const char *long_flag; /* NULL: memcached has no long form */
    bool has_arg;
} ignored_flags[] = {
    {'k', "lock-memory", false},      {'L', "enable-largepages", false},
    {'r', "enable-coredumps", false}, {'D', NULL, true},
    {'e', "memory-file", true},       {'N', "napi-ids", true},
    {'X', "disable-dumping", false},  {'W', "disable-watch", false},
};
#define NIGNORED (sizeof(ignored_flags) / sizeof(ignored_flags[0]))

/* -o keys memcached 1.6 accepts that mean nothing to stashd (matched
 * after stripping a "no_" prefix); "ext_*" (extstore) is matched too. */
static const char *const ignored_ext_keys[] = {
    "maxconns_fast",        "hashpower",
    "tail_repair_time",     "hash_algorithm",
    "lru_crawler",          "lru_crawler_sleep",
    "lru_crawler_tocrawl",  "read_buf_mem_limit",
    "lru_maintainer",       "lru_segmented",
    "hot_lru_pct",          "warm_lru_pct",
    "hot_max_factor",       "warm_max_factor",
    "temporary_ttl",        "slab_chunk_max",
    "slab_sizes",           "watcher_logbuf_size",
    "worker_logbuf_size",   "track_sizes",
    "hashexpand",           "modern",
    "sock_cookie_id",       "slab_reassign",
    "slab_automove",        "slab_automove_ratio",
    "slab_automove_window", "slab_automove_freeratio",
    "inline_ascii_resp",    "drop_privileges",
    "meta_response_old",
};

static bool
ignored_ext_key(const char *key)
{
    if (strncmp(key, "no_", 3) == 0) {
        key += 3;
    }
    if (strncmp(key, "ext_", 4) == 0 && key[4] != '\0') {
        return true;
    }
    for (size_t i = 0; i < sizeof(ignored_ext_keys) / sizeof(ignored_ext_keys[0]); i++) {
        if (strcmp(key, ignored_ext_keys[i]) == 0) {
            return true;
        }
    }
    return false;
}

struct getopt_spec {
    char shortopts[NOPTS * 2 + 2 * NIGNORED + 16];
    struct option longopts[NOPTS + NIGNORED + 8];
};

static void
spec_add_long(struct getopt_spec *g, size_t *n, const char *name, int has_arg, int code)
{
    g->longopts[(*n)++] = (struct option){.name = name, .has_arg = has_arg, .val = code};
}

static void
build_spec(struct getopt_spec *g)
{
    /* Leading ':' makes a missing argument return ':' and keeps getopt quiet. */
    char *s = g->shortopts;
    size_t n = 0;
    *s++ = ':';
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt_desc *d = &descs[i];
        bool bare = d->type == OPT_BOOL || d->type == OPT_COUNT;
        int code = d->short_flag != 0 ? d->short_flag : (int)(CODE_LONG_ONLY + i);
        if (d->short_flag != 0) {
            *s++ = (char)d->short_flag;
            if (!bare) {
                *s++ = ':';
            }
        }
        int has_arg = d->type == OPT_BOOL    ? no_argument
                      : d->type == OPT_COUNT ? optional_argument
                                             : required_argument;
        spec_add_long(g, &n, d->long_flag, has_arg, code);
    }
    for (size_t i = 0; i < NIGNORED; i++) {
        *s++ = (char)ignored_flags[i].letter;
        if (ignored_flags[i].has_arg) {
            *s++ = ':';
        }
        if (ignored_flags[i].long_flag != NULL) {
            spec_add_long(g, &n, ignored_flags[i].long_flag,
                          ignored_flags[i].has_arg ? required_argument : no_argument,
                          ignored_flags[i].letter);
        }
    }
    strcpy(s, "hVo:");
    spec_add_long(g, &n, "help", no_argument, 'h');
    spec_add_long(g, &n, "version", no_argument, 'V');
    spec_add_long(g, &n, "extended", required_argument, 'o');
    spec_add_long(g, &n, "config", required_argument, CODE_CONFIG);
    g->longopts[n] = (struct option){0};
}

static const struct opt_desc *
desc_for_code(int code)
{
    if (code >= CODE_LONG_ONLY && (size_t)(code - CODE_LONG_ONLY) < NOPTS) {
        return &descs[code - CODE_LONG_ONLY];
    }
    for (size_t i = 0; i < NOPTS; i++) {
        if (descs[i].short_flag != 0 && descs[i].short_flag == code) {
            return &descs[i];
        }
    }
    return NULL;
}

static bool
ignored_flag(int code)
{
    for (size_t i = 0; i < NIGNORED; i++) {
        if (ignored_flags[i].letter == code) {
            return true;
        }
    }
    return false;
}

/* Restart getopt: glibc re-initialises fully when optind is 0. */
static void
getopt_reset(void)
{
    optind = 0;
    opterr = 0;
}

/* Pass 1: find -h, -V and --config without acting on anything else;
 * errors are left for pass 2, which reports them in context. */
static int
scan_meta(int argc, char **av, const struct getopt_spec *g, enum options_action *action,
          const char **config, char *err, size_t errlen)
{
    int c;
    bool twice = false;
    getopt_reset();
    while ((c = getopt_long(argc, av, g->shortopts, g->longopts, NULL)) != -1) {
        if ((c == 'h' || c == 'V') && *action == OPTIONS_RUN) {
            *action = c == 'h' ? OPTIONS_HELP : OPTIONS_VERSION;
        } else if (c == CODE_CONFIG) {
            twice = twice || *config != NULL;
            *config = optarg;
        }
    }
    if (twice && *action == OPTIONS_RUN) {
        snprintf(err, errlen, "--config given more than once");
        return -EINVAL;
    }
    return 0;
}

/*
 * Apply one table option from the command line. seen[] marks options
 * already given on this command line: the first -l replaces the default
 * (or YAML) list, later ones add to it.
 */
/*
 * memcached's words for command-line values it refuses, so that a
 * memcached command line that fails keeps failing the same way. cli_min
 * is memcached's lower bound where the table's is lower: `threads: 0`
 * means one worker per CPU in the YAML file (and is the default), but
 * memcached refuses `-t 0`.
 */
static const struct {
    const char *name;
    const char *msg;
    int64_t cli_min;
} mc_refusals[] = {
    {"threads", "Number of threads must be greater than 0", 1},
    {"conn_limit", "Maximum connections must be greater than 0", 1},
    {"reqs_per_event", "Number of requests per event must be greater than 0", 1},
    {"growth_factor", "Factor must be greater than 1", 0},
    {"slab_min_size", "Chunk size must be greater than 0", 1},
};

/* The refusal for d's value arg on the command line, or NULL to take the
 * value as the table does. */
static const char *
mc_refusal(const struct opt_desc *d, const char *arg, bool refused)
{
    if (strcmp(d->name, "max_item_size") == 0 && refused) {
        union opt_val v;
        char why[64];
        bool big = convert(d, arg, &v, why, sizeof(why)) && v.u > (uint64_t)d->max;
        return big ? "Cannot set item size limit higher than a gigabyte."
                   : "Item max size cannot be less than 1024 bytes.";
    }
    for (size_t i = 0; i < sizeof(mc_refusals) / sizeof(mc_refusals[0]); i++) {
        if (strcmp(mc_refusals[i].name, d->name) != 0) {
            continue;
        }
        union opt_val v;
        char why[64];
        if (refused || !convert(d, arg, &v, why, sizeof(why)) ||
            (d->type == OPT_INT && v.i < mc_refusals[i].cli_min)) {
            return mc_refusals[i].msg;
        }
    }
    return NULL;
}

static int
apply_flag(struct options *o, const struct opt_desc *d, const char *arg, bool *seen, char *err,
           size_t errlen)
{
    size_t idx = (size_t)(d - descs);
    char why[256], label[64];
    int rc = 0;
    if (d->type == OPT_BOOL) {
        *(bool *)field_ptr(o, d) = d->flag_value;
    } else if (d->type == OPT_COUNT && arg == NULL) {
        /* -v, -vv, -vvv: counted from 0 on this command line (over any
         * YAML value); memcached counts without limit, we stop at max. */
        int64_t *p = field_ptr(o, d);
        if (!seen[idx]) {
            *p = 0;
        }
        if (!desc_has_max(d) || *p < d->max) {
            (*p)++;
        }
    } else {
        rc = set_text(o, d, arg, d->type == OPT_LIST && seen[idx], why, sizeof(why));
        const char *mc = mc_refusal(d, arg, rc == -EINVAL);
        if (mc != NULL) {
            /* memcached's words first, then which option and why */
            snprintf(err, errlen, "%s (%s: %s)", mc, desc_label(d, label, sizeof(label)),
                     rc != 0 ? why : arg);
            rc = -EINVAL;
        } else if (rc != 0) {
            snprintf(err, errlen, "%s: %s", desc_label(d, label, sizeof(label)), why);
        }
    }
    seen[idx] = true;
    return rc;
}

/* One key[=value] of -o. */
static int
apply_ext_item(struct options *o, char *item, bool *seen, char *err, size_t errlen)
{
    char *value = strchr(item, '=');
    if (value != NULL) {
        *value++ = '\0';
    }
    const struct opt_desc *d = desc_by_name(item);
    if (d == NULL) {
        if (ignored_ext_key(item)) {
            log_warn("ignoring memcached option -o %s%s%s", item, value != NULL ? "=" : "",
                     value != NULL ? value : "");
            return 0;
        }
        snprintf(err, errlen, "-o %s: unknown option", item);
        return -EINVAL;
    }
    if (value == NULL && d->type != OPT_BOOL) {
        snprintf(err, errlen, "-o %s: needs a value (%s=...)", item, item);
        return -EINVAL;
    }
    char why[256];
    size_t idx = (size_t)(d - descs);
    int rc = set_text(o, d, value != NULL ? value : "true", d->type == OPT_LIST && seen[idx], why,
                      sizeof(why));
    if (rc != 0) {
        snprintf(err, errlen, "-o %s: %s", item, why);
    }
    seen[idx] = true;
    return rc;
}

/* -o key=value,key2,key3=value: memcached's comma-separated list. */
static int
apply_extended(struct options *o, const char *arg, bool *seen, char *err, size_t errlen)
{
    char *copy = strdup(arg);
    char *save = NULL;
    int rc = 0;
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (char *item = strtok_r(copy, ",", &save); item != NULL && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        rc = apply_ext_item(o, item, seen, err, errlen);
    }
    free(copy);
    return rc;
}

/* How the user spelled the option getopt just rejected. */
static void
bad_option_text(char **av, int argc, char *buf, size_t len)
{
    if (optind >= 1 && optind <= argc && strncmp(av[optind - 1], "--", 2) == 0) {
        snprintf(buf, len, "'%s'", av[optind - 1]);
    } else if (optopt > 0 && optopt < 0x100) {
        snprintf(buf, len, "-%c", optopt);
    } else {
        snprintf(buf, len, "'%s'", optind >= 1 && optind <= argc ? av[optind - 1] : "?");
    }
}

static int
apply_one(struct options *o, int c, int argc, char **av, bool *seen, char *err, size_t errlen)
{
    char text[128];
    const struct opt_desc *d;
    switch (c) {
    case 'h':
    case 'V':
    case CODE_CONFIG:
        return 0; /* handled by scan_meta() */
    case 'o':
        return apply_extended(o, optarg, seen, err, errlen);
    case ':':
        bad_option_text(av, argc, text, sizeof(text));
        snprintf(err, errlen, "option %s requires a value", text);
        return -EINVAL;
    case '?':
        bad_option_text(av, argc, text, sizeof(text));
        snprintf(err, errlen, "unknown or malformed option %s (see --help)", text);
        return -EINVAL;
    }
    if (ignored_flag(c)) {
        log_warn("ignoring memcached option -%c%s%s", c, optarg != NULL ? " " : "",
                 optarg != NULL ? optarg : "");
        return 0;
    }
    d = desc_for_code(c);
    if (d == NULL) {
        snprintf(err, errlen, "internal error: unhandled option code %d", c);
        return -EINVAL;
    }
    return apply_flag(o, d, optarg, seen, err, errlen);
}

/* Pass 2: apply every option in order, over the defaults and the config. */
static int
apply_args(struct options *o, int argc, char **av, const struct getopt_spec *g, char *err,
           size_t errlen)
{
    bool seen[NOPTS] = {0};
    int c, rc = 0;
    getopt_reset();
    while (rc == 0 && (c = getopt_long(argc, av, g->shortopts, g->longopts, NULL)) != -1) {
        rc = apply_one(o, c, argc, av, seen, err, errlen);
    }
    if (rc == 0 && optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s' (options take the form -x or --name)",
                 av[optind]);
        rc = -EINVAL;
    }
    return rc;
}

static int
set_config_file(struct options *o, const char *path, char *err, size_t errlen)
{
    char *s = strdup(path);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    free(o->config_file);
    o->config_file = s;
    return 0;
}

int
options_parse_args(struct options *o, int argc, char **argv, enum options_action *action, char *err,
                   size_t errlen)
{
    struct getopt_spec g;
    const char *config = NULL;
    int rc;
    *action = OPTIONS_RUN;
    if (argc < 1) {
        return 0;
    }
    /* getopt_long permutes what it parses: work on a copy of argv. */
    size_t avsize = ((size_t)argc + 1) * sizeof(char *);
    char **av = malloc(avsize);
    if (av == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    build_spec(&g);
    memcpy(av, argv, avsize - sizeof(char *));
    av[argc] = NULL;
    rc = scan_meta(argc, av, &g, action, &config, err, errlen);
    if (rc == 0 && *action == OPTIONS_RUN && config != NULL) {
        rc = options_load_yaml(o, config, err, errlen);
        if (rc == 0) {
            rc = set_config_file(o, config, err, errlen);
        }
    }
    if (rc == 0 && *action == OPTIONS_RUN) {
        memcpy(av, argv, avsize - sizeof(char *));
        rc = apply_args(o, argc, av, &g, err, errlen);
    }
    free(av);
    return rc;
}

/* ---- YAML ------------------------------------------------------------- */

/*
 * The file is a single mapping of `key: scalar` (or `key: [scalars]` for
 * a list), read with libyaml's event API so that every error names a line:
 *
 *     STREAM_START DOCUMENT_START MAPPING_START
 *         (SCALAR key, SCALAR value | SEQUENCE_START SCALAR* SEQUENCE_END)*
 *     MAPPING_END DOCUMENT_END STREAM_END
 */
struct yaml_ctx {
    struct options *o;
    yaml_parser_t parser;
    const char *path;
    char *err;
    size_t errlen;
    bool seen[NOPTS];
};

static int yaml_fail(struct yaml_ctx *y, size_t line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
yaml_fail(struct yaml_ctx *y, size_t line, const char *key, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (key != NULL) {
        snprintf(y->err, y->errlen, "config %s line %zu: key '%s': %s", y->path, line, key, why);
    } else {
        snprintf(y->err, y->errlen, "config %s line %zu: %s", y->path, line, why);
    }
    return -EINVAL;
}

static int
yaml_next(struct yaml_ctx *y, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&y->parser, ev)) {
        const char *problem = y->parser.problem != NULL ? y->parser.problem : "syntax error";
        return yaml_fail(y, y->parser.problem_mark.line + 1, NULL, "%s", problem);
    }
    return 0;
}

/* Pull one event and insist on its type. */
static int
yaml_expect(struct yaml_ctx *y, yaml_event_type_t type, const char *what)
{
    yaml_event_t ev;
    if (yaml_next(y, &ev) != 0) {
        return -EINVAL;
    }
    int rc = 0;
    if (ev.type != type) {
        rc = yaml_fail(y, ev.start_mark.line + 1, NULL, "expected %s", what);
    }
    yaml_event_delete(&ev);
    return rc;
}

/* A plain empty, "~" or "null" scalar means "no value": the empty string. */
static const char *
scalar_text(const yaml_event_t *ev)
{
    static const char *const nulls[] = {"~", "null", "Null", "NULL"};
    const char *s = (const char *)ev->data.scalar.value;
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
            if (strcmp(s, nulls[i]) == 0) {
                return "";
            }
        }
    }
    return s;
}

static int
yaml_set(struct yaml_ctx *y, const struct opt_desc *d, const char *text, bool append, size_t line)
{
    char why[256];
    if (set_text(y->o, d, text, append, why, sizeof(why)) != 0) {
        return yaml_fail(y, line, d->name, "%s", why);
    }
    return 0;
}

/* key: [a, b] or key:\n  - a\n  - b; the sequence replaces the list. */
static int
yaml_sequence(struct yaml_ctx *y, const struct opt_desc *d)
{
    list_clear(field_ptr(y->o, d));
    for (;;) {
        yaml_event_t ev;
        int rc;
        if (yaml_next(y, &ev) != 0) {
            return -EINVAL;
        }
        size_t line = ev.start_mark.line + 1;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            rc = 1;
        } else if (ev.type == YAML_SCALAR_EVENT) {
            rc = yaml_set(y, d, scalar_text(&ev), true, line);
        } else {
            rc = yaml_fail(y, line, d->name, "list items must be single values");
        }
        yaml_event_delete(&ev);
        if (rc != 0) {
            return rc > 0 ? 0 : rc;
        }
    }
}

static int
yaml_value(struct yaml_ctx *y, const struct opt_desc *d)
{
    yaml_event_t ev;
    int rc;
    if (yaml_next(y, &ev) != 0) {
        return -EINVAL;
    }
    size_t line = ev.start_mark.line + 1;
    switch (ev.type) {
    case YAML_SCALAR_EVENT:
        rc = yaml_set(y, d, scalar_text(&ev), false, line);
        break;
    case YAML_SEQUENCE_START_EVENT:
        rc = d->type == OPT_LIST
                 ? yaml_sequence(y, d)
                 : yaml_fail(y, line, d->name, "expected a single value, not a list");
        break;
    case YAML_MAPPING_START_EVENT:
        rc = yaml_fail(y, line, d->name, "expected a value, not a mapping");
        break;
    default:
        rc = yaml_fail(y, line, d->name, "expected a value");
        break;
    }
    yaml_event_delete(&ev);
    return rc;
}

static int
yaml_pair(struct yaml_ctx *y, const char *key, size_t line)
{
    const struct opt_desc *d = desc_by_name(key);
    if (d == NULL) {
        for (size_t i = 0; i < NOPTS; i++) {
            if (strcmp(descs[i].long_flag, key) == 0) {
                return yaml_fail(y, line, key, "unknown key (did you mean '%s'?)", descs[i].name);
            }
        }
        return yaml_fail(y, line, key, "unknown key");
    }
    size_t idx = (size_t)(d - descs);
    if (y->seen[idx]) {
        return yaml_fail(y, line, key, "given more than once");
    }
    y->seen[idx] = true;
    return yaml_value(y, d);
}

static int
yaml_mapping(struct yaml_ctx *y)
{
    for (;;) {
        yaml_event_t ev;
        int rc;
        if (yaml_next(y, &ev) != 0) {
            return -EINVAL;
        }
        size_t line = ev.start_mark.line + 1;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            rc = 1;
        } else if (ev.type == YAML_SCALAR_EVENT) {
            rc = yaml_pair(y, (const char *)ev.data.scalar.value, line);
        } else {
            rc = yaml_fail(y, line, NULL, "keys must be option names");
        }
        yaml_event_delete(&ev);
        if (rc != 0) {
            return rc > 0 ? 0 : rc;
        }
    }
}

static int
yaml_document(struct yaml_ctx *y)
{
    yaml_event_t ev;
    int rc;
    if (yaml_next(y, &ev) != 0) {
        return -EINVAL;
    }
    size_t line = ev.start_mark.line + 1;
    if (ev.type == YAML_MAPPING_START_EVENT) {
        rc = yaml_mapping(y);
    } else if (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.length == 0) {
        rc = 0; /* "---" and nothing else */
    } else {
        rc = yaml_fail(y, line, NULL, "the top level must be a mapping of key: value");
    }
    yaml_event_delete(&ev);
    if (rc == 0) {
        rc = yaml_expect(y, YAML_DOCUMENT_END_EVENT, "the end of the document");
    }
    return rc;
}

static int
yaml_stream(struct yaml_ctx *y)
{
    yaml_event_t ev;
    if (yaml_expect(y, YAML_STREAM_START_EVENT, "a YAML stream") != 0 || yaml_next(y, &ev) != 0) {
        return -EINVAL;
    }
    yaml_event_type_t type = ev.type;
    size_t line = ev.start_mark.line + 1;
    yaml_event_delete(&ev);
    if (type == YAML_STREAM_END_EVENT) {
        return 0; /* empty file, or only comments */
    }
    if (type != YAML_DOCUMENT_START_EVENT) {
        return yaml_fail(y, line, NULL, "expected a YAML document");
    }
    if (yaml_document(y) != 0) {
        return -EINVAL;
    }
    return yaml_expect(y, YAML_STREAM_END_EVENT, "one YAML document only");
}

/* Run the parser over input already set on y->parser; frees the parser. */
static int
yaml_run(struct yaml_ctx *y)
{
    int rc = yaml_stream(y);
    yaml_parser_delete(&y->parser);
    return rc;
}

int
options_load_yaml(struct options *o, const char *path, char *err, size_t errlen)
{
    struct yaml_ctx y = {.o = o, .path = path, .err = err, .errlen = errlen};
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int rc = -errno;
        snprintf(err, errlen, "config %s: %s", path, strerror(errno));
        return rc;
    }
    if (!yaml_parser_initialize(&y.parser)) {
        fclose(f);
        snprintf(err, errlen, "config %s: out of memory", path);
        return -ENOMEM;
    }
    yaml_parser_set_input_file(&y.parser, f);
    int rc = yaml_run(&y);
    fclose(f);
    return rc;
}

int
options_load_yaml_buf(struct options *o, const char *name, const void *data, size_t len, char *err,
                      size_t errlen)
{
    struct yaml_ctx y = {.o = o, .path = name, .err = err, .errlen = errlen};
    if (!yaml_parser_initialize(&y.parser)) {
        snprintf(err, errlen, "config %s: out of memory", name);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)data, len);
    return yaml_run(&y);
}

/* ---- --memory-limit auto --------------------------------------------- */

/*
 * -m auto: the item memory is the container's memory limit less what the
 * process uses beyond -m (README, "Memory", measured with
 * tests/integration/test_memcap.py and tests/soak/soak.py):
 *
 *     RSS <= m + m / 8 + AUTO_FIXED + connection-buffer budget
 *
 * AUTO_FIXED covers code, stacks, allocator metadata and freed memory not
 * yet returned to the kernel (measured peaks: 24-31 MiB); m / 8 the hash
 * tables (at most ~11 bytes per item, items of at least ~88 bytes) and
 * slack that grows with m. The budget is net/'s NET_CONN_BUDGET (64 MiB)
 * or, when larger, one slow reader of maximal values per worker
 * (NET_CONN_WORST: 4 * (max_item_size + 1 MiB of replies)). So:
 *
 *     m = (cgroup_limit - AUTO_FIXED - budget) * 8 / 9
 */
#define AUTO_FIXED ((uint64_t)48 << 20)
#define AUTO_CONN_BUDGET ((uint64_t)64 << 20)                /* NET_CONN_BUDGET */
#define AUTO_CONN_WORST(i) (4 * ((i) + ((uint64_t)1 << 20))) /* NET_CONN_WORST */
/* Below this an "auto" limit is refused rather than run starved. */
#define AUTO_MIN ((uint64_t)8 << 20)
/* cgroup v1 reports "no limit" as the largest page-aligned long. */
#define CGROUP_V1_UNLIMITED ((uint64_t)1 << 62)

/* A cgroup limit file: a number of bytes, or "max" (v2: no limit).
 * 0 with *limit set (UINT64_MAX for none), or -errno. */
static int
cgroup_read_limit(const char *path, uint64_t *limit)
{
    char text[64];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -errno;
    }
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ')) {
        n--;
    }
    text[n] = '\0';
    if (strcmp(text, "max") == 0) {
        *limit = UINT64_MAX;
        return 0;
    }
    uint64_t v;
    if (!num_parse_u64(text, n, &v)) {
        return -EINVAL;
    }
    *limit = v >= CGROUP_V1_UNLIMITED ? UINT64_MAX : v;
    return 0;
}

/*
 * Fold the limits on dir and each of its ancestors up to base (the
 * hierarchy's mount) into *best: a limit set on the pod's cgroup binds a
 * container whose own cgroup says "max". *found counts the files read.
 */
static void
cgroup_walk(const char *base, const char *self, const char *file, uint64_t *best, char *src,
            size_t srclen, int *found)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    size_t blen = strlen(base);
    if ((size_t)snprintf(dir, sizeof(dir), "%s%s", base, self) >= sizeof(dir)) {
        return;
    }
    for (;;) {
        size_t len = strlen(dir);
        while (len > blen && dir[len - 1] == '/') {
            dir[--len] = '\0';
        }
        uint64_t v = UINT64_MAX;
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        if (cgroup_read_limit(path, &v) == 0) {
            /* src: the file that set the limit, else the first one read */
            if (++*found == 1 || v < *best) {
                snprintf(src, srclen, "%s", path);
            }
            *best = v < *best ? v : *best;
        }
        if (len <= blen) {
            return;
        }
        char *slash = strrchr(dir + blen, '/');
        if (slash == NULL) {
            return;
        }
        *slash = '\0';
    }
}

/*
 * This process's memory limit from its cgroup: v2 memory.max or v1
 * memory.limit_in_bytes, the smallest on the way from its own cgroup (named
 * in /proc/self/cgroup) to the hierarchy's root. Tests point
 * $STASHD_CGROUP_ROOT at a fake hierarchy and $STASHD_CGROUP_PROC at a
 * fake /proc/self/cgroup. UINT64_MAX when no limit is set anywhere;
 * src names the file that set it (or the first place looked at).
 */
static uint64_t
cgroup_memory_limit(char *src, size_t srclen)
{
    const char *root = getenv("STASHD_CGROUP_ROOT");
    const char *proc = getenv("STASHD_CGROUP_PROC");
    char v1base[PATH_MAX], line[1024];
    char v2self[sizeof(line)] = "/", v1self[sizeof(line)] = "/";
    uint64_t best = UINT64_MAX;
    int found = 0;
    root = root != NULL && root[0] != '\0' ? root : "/sys/fs/cgroup";
    FILE *f = fopen(proc != NULL && proc[0] != '\0' ? proc : "/proc/self/cgroup", "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        /* "0::/path" (v2) or "4:memory:/path" (v1, controllers comma-listed) */
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL || c2[1] != '/') {
            continue;
        }
        *c1 = *c2 = '\0';
        if (strcmp(line, "0") == 0 && c1[1] == '\0') {
            snprintf(v2self, sizeof(v2self), "%s", c2 + 1);
        }
        for (char *save = NULL, *t = strtok_r(c1 + 1, ",", &save); t != NULL;
             t = strtok_r(NULL, ",", &save)) {
            if (strcmp(t, "memory") == 0) {
                snprintf(v1self, sizeof(v1self), "%s", c2 + 1);
            }
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    cgroup_walk(root, v2self, "memory.max", &best, src, srclen, &found);
    snprintf(v1base, sizeof(v1base), "%s/memory", root);
    cgroup_walk(v1base, v1self, "memory.limit_in_bytes", &best, src, srclen, &found);
    if (found == 0) {
        snprintf(src, srclen, "no memory.max or memory/memory.limit_in_bytes under %s", root);
    }
    return best;
}

/* Replace memory_limit "auto" by what the cgroup limit leaves for items. */
static int
resolve_memory_auto(struct options *o, char *err, size_t errlen)
{
    char src[PATH_MAX + 32], label[64];
    desc_label(desc_by_name("memory_limit"), label, sizeof(label));
    uint64_t limit = cgroup_memory_limit(src, sizeof(src));
    if (limit == UINT64_MAX) {
        snprintf(err, errlen,
                 "%s auto: no cgroup memory limit is set (%s; no limit on this cgroup or "
                 "its parents); give the item memory in megabytes instead",
                 label, src);
        return -EINVAL;
    }
    uint64_t budget = (uint64_t)o->threads * AUTO_CONN_WORST(o->max_item_size);
    budget = budget > AUTO_CONN_BUDGET ? budget : AUTO_CONN_BUDGET;
    uint64_t reserve = AUTO_FIXED + budget;
    if (limit < reserve || (limit - reserve) / 9 * 8 < AUTO_MIN) {
        uint64_t need = (reserve + AUTO_MIN / 8 * 9 + (1 << 20) - 1) >> 20;
        snprintf(err, errlen,
                 "%s auto: the cgroup memory limit (%" PRIu64 " bytes, %s) is too small; "
                 "with -t %" PRId64 " and -I %" PRIu64 " -m auto needs at least %" PRIu64 " MiB",
                 label, limit, src, o->threads, o->max_item_size, need);
        return -EINVAL;
    }
    o->memory_limit = (limit - reserve) / 9 * 8 >> 20 << 20; /* whole MiB, as -m N */
    log_info("memory_limit auto: cgroup limit %" PRIu64 " MiB (%s) leaves %" PRIu64
             " MiB for items",
             limit >> 20, src, o->memory_limit >> 20);
    return 0;
}

/* ---- cross-option checks ---------------------------------------------- */

int
options_finish(struct options *o, char *err, size_t errlen)
{
    char why[256], label[64], mlabel[64];
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt_desc *d = &descs[i];
        union opt_val v;
        if (d->type == OPT_LIST) {
            continue;
        }
        load(o, d, &v);
        if (!validate(d, &v, why, sizeof(why))) {
            snprintf(err, errlen, "%s: %s", desc_label(d, label, sizeof(label)), why);
            return -EINVAL;
        }
    }
    if (o->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        int64_t max = desc_by_name("threads")->max;
        o->threads = n < 1 ? 1 : n > max ? max : n;
    }
    /* -m auto depends on -t and -I (the connection-buffer budget). */
    if (o->memory_limit == OPTIONS_MB_AUTO && resolve_memory_auto(o, err, errlen) != 0) {
        return -EINVAL;
    }
    /* memcached's rule and words (memcached.c, "Cannot set item size limit
     * higher than 1/2 of memory max."): an item may use at most half of -m. */
    if (o->max_item_size > o->memory_limit / 2) {
        snprintf(err, errlen,
                 "%s: cannot set item size limit (%" PRIu64 " bytes) higher than 1/2 of "
                 "memory max (%s, %" PRIu64 " bytes)",
                 desc_label(desc_by_name("max_item_size"), label, sizeof(label)), o->max_item_size,
                 desc_label(desc_by_name("memory_limit"), mlabel, sizeof(mlabel)), o->memory_limit);
        return -EINVAL;
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

static void
help_line(FILE *out, const char *left, const char *text, const char *def)
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
    fprintf(out, "Usage: stashd [options]\n"
                 "memcached 1.6's flags are accepted; --config FILE is read first and the\n"
                 "command line overrides it.\n\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt_desc *d = &descs[i];
        char sf[8] = "   ";
        if (d->short_flag != 0) {
            snprintf(sf, sizeof(sf), "-%c,", d->short_flag);
        }
        snprintf(left, sizeof(left), "%s --%s%s", sf, d->long_flag, arg_placeholder(d->type));
        bool show_def = d->type != OPT_BOOL && d->type != OPT_COUNT && d->def[0] != '\0';
        help_line(out, left, d->help, show_def ? d->def : NULL);
    }
    help_line(out, "    --config=<file>",
              "YAML file of key: value (keys are the names in "
              "conf/stashd.yaml); read before the command line",
              NULL);
    help_line(out, "-o, --extended=<list>",
              "comma-separated key=value options (same keys as "
              "the YAML file); memcached's -o options are accepted and ignored",
              NULL);
    help_line(out, "-h, --help", "print this help and exit", NULL);
    help_line(out, "-V, --version", "print version and exit", NULL);
    fprintf(out, "\nAccepted for memcached compatibility and ignored:");
    for (size_t i = 0; i < NIGNORED; i++) {
        fprintf(out, " -%c%s", ignored_flags[i].letter, ignored_flags[i].has_arg ? " <arg>" : "");
    }
    fputc('\n', out);
}

/* ---- stats settings --------------------------------------------------- */

/* Where memcached prints a value in its own words rather than ours. */
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
    {"auth_file", "", "no"}, /* memcached: auth_enabled_ascii no, or the file */
};

static const char *
render_bool(const struct opt_desc *d, bool b)
{
    for (size_t i = 0; i < sizeof(bool_words) / sizeof(bool_words[0]); i++) {
        if (strcmp(bool_words[i].name, d->name) == 0) {
            return b ? bool_words[i].on : bool_words[i].off;
        }
    }
    return b ? "yes" : "no";
}

static const char *
render_str(const struct opt_desc *d, const char *s)
{
    for (size_t i = 0; i < sizeof(str_words) / sizeof(str_words[0]); i++) {
        if (strcmp(str_words[i].name, d->name) == 0 && strcmp(str_words[i].value, s) == 0) {
            return str_words[i].shown;
        }
    }
    return s[0] == '\0' ? "NULL" : s; /* as memcached prints an unset string */
}

/* memcached joins repeated -l values with ',' and prints them as given.
 * Returns a heap string the caller frees, or NULL for an empty list. */
static char *
render_list(const struct options_list *l)
{
    size_t len = 0;
    for (size_t i = 0; i < l->n; i++) {
        len += strlen(l->v[i]) + 1;
    }
    char *s = len > 0 ? malloc(len) : NULL;
    if (s == NULL) {
        return NULL;
    }
    s[0] = '\0';
    for (size_t i = 0; i < l->n; i++) {
        if (i > 0) {
            strcat(s, ",");
        }
        strcat(s, l->v[i]);
    }
    return s;
}

/* A value as memcached's `stats settings` prints it: a view into o, into
 * buf, or into *heap (which the caller frees). */
static const char *
render_value(const struct options *o, const struct opt_desc *d, char *buf, size_t len, char **heap)
{
    union opt_val v;
    load(o, d, &v);
    switch (d->type) {
    case OPT_BOOL:
        return render_bool(d, v.b);
    case OPT_INT:
    case OPT_COUNT:
        snprintf(buf, len, "%" PRId64, v.i);
        break;
    case OPT_OCTAL:
        snprintf(buf, len, "%" PRIo64, v.i);
        break; /* umask 700 */
    case OPT_SIZE:
    case OPT_MB:
        snprintf(buf, len, "%" PRIu64, v.u);
        break;
    case OPT_DOUBLE:
        snprintf(buf, len, "%.2f", v.d);
        break; /* growth_factor 1.25 */
    case OPT_STR:
        return render_str(d, v.s);
    case OPT_LIST:
        *heap = render_list(field_cptr(o, d));
        return *heap != NULL ? *heap : "NULL";
    }
    return buf;
}

void
options_render_stats(const struct options *o, options_emit_fn emit, void *ctx)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt_desc *d = &descs[i];
        char buf[64];
        char *heap = NULL;
        if (d->stats_name == NULL) {
            continue;
        }
        emit(ctx, d->stats_name, render_value(o, d, buf, sizeof(buf), &heap));
        free(heap);
    }
}

/* ---- table self-check ------------------------------------------------- */

static bool
table_fail(const char *what, const char *name)
{
    fprintf(stderr, "options: %s: %s\n", what, name);
    return false;
}

/*
 * The hand-written parts name table rows and letters; check once that
 * they still agree with the table, so that renaming a field or taking a
 * letter memcached uses cannot silently disable a rule.
 */
static bool
table_consistent(void)
{
    static const char reserved[] = "hVo";
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (desc_by_name(rules[i].name) == NULL) {
            return table_fail("rule for a missing option", rules[i].name);
        }
    }
    for (size_t i = 0; i < sizeof(bool_words) / sizeof(bool_words[0]); i++) {
        if (desc_by_name(bool_words[i].name) == NULL) {
            return table_fail("stats words for a missing option", bool_words[i].name);
        }
    }
    for (size_t i = 0; i < sizeof(str_words) / sizeof(str_words[0]); i++) {
        if (desc_by_name(str_words[i].name) == NULL) {
            return table_fail("stats words for a missing option", str_words[i].name);
        }
    }
    for (size_t i = 0; i < NOPTS; i++) {
        int sf = descs[i].short_flag;
        if (sf == 0) {
            continue;
        }
        if (strchr(reserved, sf) != NULL || ignored_flag(sf) || desc_for_code(sf) != &descs[i]) {
            return table_fail("short flag used twice", descs[i].name);
        }
    }
    return true;
}
