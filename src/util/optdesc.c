/*
 * optdesc: the STASHD_OPTIONS table (util/options.h) turned into an array
 * of descriptors, and the one path every value takes into the options
 * struct, whether it comes from a default, the command line, -o, the
 * YAML file or a check at start-up:
 *
 *     text --convert--> union optdesc_value --validate--> store
 *                       (syntax, units)       (rule hook, then [min, max])
 *
 * Only rules a row cannot express are written by hand: the rule hooks
 * below (e.g. -U must be 0, protocol names). Where the values are read
 * from lives above util/ (server/config*.c), and so do memcached's words
 * for showing them (cmd/mc_settings.c).
 */
#include "stashd/util/optdesc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "stashd/util/num.h"
#include "stashd/util/options.h"

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
     .help = hp_},
static const struct optdesc descs[] = {STASHD_OPTIONS(OPT_DESC)};
#undef OPT_DESC

/* Where each row's field is, indexed like descs[]; kept out of the public
 * descriptor so that fields are reached only through set/store/load. */
#define OPT_OFFSET(f_, t_, sf_, lf_, df_, mn_, mx_, fv_, sn_, hp_) offsetof(struct options, f_),
static const size_t offsets[] = {STASHD_OPTIONS(OPT_OFFSET)};
#undef OPT_OFFSET

#define NOPTS (sizeof(descs) / sizeof(descs[0]))

/* ---- rules a row cannot express ------------------------------------- */

typedef bool (*opt_rule_fn)(const union optdesc_value *v, char *why, size_t whylen);

static bool
rule_udp_port(const union optdesc_value *v, char *why, size_t whylen)
{
    if (v->i != 0) {
        snprintf(why, whylen, "UDP is not supported; -U must be 0");
        return false;
    }
    return true;
}

static bool
rule_growth_factor(const union optdesc_value *v, char *why, size_t whylen)
{
    if (!(v->d > 1.0)) {
        snprintf(why, whylen, "factor must be greater than 1.0 (got %g)", v->d);
        return false;
    }
    return true;
}

static bool
rule_protocol(const union optdesc_value *v, char *why, size_t whylen)
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
rule_log_format(const union optdesc_value *v, char *why, size_t whylen)
{
    if (strcmp(v->s, "text") != 0 && strcmp(v->s, "json") != 0) {
        snprintf(why, whylen, "'%s' is not a log format (should be text or json)", v->s);
        return false;
    }
    return true;
}

static bool
rule_large_pages(const union optdesc_value *v, char *why, size_t whylen)
{
    if (strcmp(v->s, "auto") != 0 && strcmp(v->s, "on") != 0 && strcmp(v->s, "off") != 0) {
        snprintf(why, whylen, "'%s' is not auto, on or off", v->s);
        return false;
    }
    return true;
}

static bool
rule_shards(const union optdesc_value *v, char *why, size_t whylen)
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
    {"shards", rule_shards},     {"large_pages", rule_large_pages},
};

static opt_rule_fn
rule_for(const struct optdesc *d)
{
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (strcmp(rules[i].name, d->name) == 0) {
            return rules[i].fn;
        }
    }
    return NULL;
}

/* ---- the iterator ------------------------------------------------------ */

size_t
optdesc_count(void)
{
    return NOPTS;
}

const struct optdesc *
optdesc_at(size_t i)
{
    return i < NOPTS ? &descs[i] : NULL;
}

const struct optdesc *
optdesc_find(const char *name)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (strcmp(descs[i].name, name) == 0) {
            return &descs[i];
        }
    }
    return NULL;
}

size_t
optdesc_index(const struct optdesc *d)
{
    return (size_t)(d - descs);
}

const char *
optdesc_label(const struct optdesc *d, char *buf, size_t len)
{
    if (d->short_flag != 0) {
        snprintf(buf, len, "-%c/--%s", d->short_flag, d->long_flag);
    } else {
        snprintf(buf, len, "--%s", d->long_flag);
    }
    return buf;
}

static void *
field_ptr(struct options *o, const struct optdesc *d)
{
    return (char *)o + offsets[optdesc_index(d)];
}

static const void *
field_cptr(const struct options *o, const struct optdesc *d)
{
    return (const char *)o + offsets[optdesc_index(d)];
}

/*
 * Numeric bounds: a row's max below its min means "no upper bound"
 * (memory_limit: 1, 0). A double row with 0, 0 is unbounded, since
 * integer bounds cannot express its range; its rule hook checks it.
 */
static bool
desc_bounded(const struct optdesc *d)
{
    return !(d->type == OPT_DOUBLE && d->min == 0 && d->max == 0);
}

static bool
desc_has_max(const struct optdesc *d)
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

/* OPT_MB: a plain number is MiB, a suffixed one what it says. */
static bool
parse_mb(const char *text, uint64_t *out)
{
    bool unit;
    if (strcmp(text, "auto") == 0) {
        *out = OPTIONS_MB_AUTO; /* resolved at start-up (server/config.c) */
        return true;
    }
    if (!parse_scaled(text, out, &unit)) {
        return false;
    }
    if (!unit) {
        if (*out > (UINT64_MAX >> 20)) {
            return false;
        }
        *out <<= 20;
    }
    return true;
}

bool
optdesc_convert(const struct optdesc *d, const char *text, union optdesc_value *v, char *why,
                size_t whylen)
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
        ok = parse_mb(text, &v->u);
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

/* "N is out of range [lo, hi]" or "N is below the minimum of lo". */
static void
range_message(const struct optdesc *d, const union optdesc_value *v, char *why, size_t whylen)
{
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
}

static bool
check_range(const struct optdesc *d, const union optdesc_value *v, char *why, size_t whylen)
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
            return true; /* "auto": checked once start-up resolves it */
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
    if (low || high) {
        range_message(d, v, why, whylen);
        return false;
    }
    return true;
}

bool
optdesc_validate(const struct optdesc *d, const union optdesc_value *v, char *why, size_t whylen)
{
    opt_rule_fn rule = rule_for(d);
    if (rule != NULL && !rule(v, why, whylen)) {
        return false;
    }
    return check_range(d, v, why, whylen);
}

/* ---- storing values --------------------------------------------------- */

int
optdesc_store(struct options *o, const struct optdesc *d, const union optdesc_value *v, char *why,
              size_t whylen)
{
    void *p = field_ptr(o, d);
    if (!optdesc_validate(d, v, why, whylen)) {
        return -EINVAL;
    }
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
        snprintf(why, whylen, "not a scalar option"); /* owned memory: optdesc_set() */
        return -EINVAL;
    }
    return 0;
}

void
optdesc_load(const struct options *o, const struct optdesc *d, union optdesc_value *v)
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
        v->l = p;
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

void
optdesc_release(struct options *o, const struct optdesc *d)
{
    if (d->type == OPT_LIST) {
        list_clear(field_ptr(o, d));
    } else if (d->type == OPT_STR) {
        char **p = field_ptr(o, d);
        free(*p);
        *p = NULL;
    }
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

int
optdesc_set(struct options *o, const struct optdesc *d, const char *text, bool append, char *why,
            size_t whylen)
{
    union optdesc_value v;
    if (d->type == OPT_LIST) {
        return set_list(field_ptr(o, d), text, append, why, whylen);
    }
    if (!optdesc_convert(d, text, &v, why, whylen)) {
        return -EINVAL;
    }
    if (d->type != OPT_STR) {
        return optdesc_store(o, d, &v, why, whylen);
    }
    if (!optdesc_validate(d, &v, why, whylen)) {
        return -EINVAL;
    }
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

/* ---- value to text ---------------------------------------------------- */

/* Items joined with ','; items never hold a comma (list_add_csv splits
 * on them), so the text reads back as the same list. */
static size_t
format_list(const struct options_list *l, char *buf, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        char *dst = n < len ? buf + n : NULL;
        int w = snprintf(dst, dst != NULL ? len - n : 0, "%s%s", i > 0 ? "," : "", l->v[i]);
        n += w > 0 ? (size_t)w : 0;
    }
    if (l->n == 0 && len > 0) {
        buf[0] = '\0';
    }
    return n;
}

static int
format_mb(uint64_t u, char *buf, size_t len)
{
    if (u == OPTIONS_MB_AUTO) {
        return snprintf(buf, len, "auto");
    }
    if (u % (1u << 20) == 0) {
        return snprintf(buf, len, "%" PRIu64 "m", u >> 20);
    }
    return snprintf(buf, len, "%" PRIu64 "k", u >> 10);
}

size_t
optdesc_format(const struct options *o, const struct optdesc *d, char *buf, size_t len)
{
    union optdesc_value v;
    int n = 0;
    optdesc_load(o, d, &v);
    switch (d->type) {
    case OPT_BOOL:
        n = snprintf(buf, len, "%s", v.b ? "true" : "false");
        break;
    case OPT_INT:
    case OPT_COUNT:
        n = snprintf(buf, len, "%" PRId64, v.i);
        break;
    case OPT_OCTAL:
        n = snprintf(buf, len, "0%" PRIo64, v.i);
        break;
    case OPT_SIZE:
        n = snprintf(buf, len, "%" PRIu64, v.u);
        break;
    case OPT_MB:
        n = format_mb(v.u, buf, len);
        break;
    case OPT_DOUBLE:
        n = snprintf(buf, len, "%.17g", v.d);
        break;
    case OPT_STR:
        n = snprintf(buf, len, "%s", v.s);
        break;
    case OPT_LIST:
        return format_list(v.l, buf, len);
    }
    return n > 0 ? (size_t)n : 0;
}

/* ---- table self-check ------------------------------------------------- */

/*
 * The rule hooks name table rows; check once (options_init) that they
 * still agree with the table, so that renaming a field cannot silently
 * disable a rule, and that no letter is taken twice.
 */
bool
optdesc_table_consistent(void)
{
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (optdesc_find(rules[i].name) == NULL) {
            fprintf(stderr, "options: rule for a missing option: %s\n", rules[i].name);
            return false;
        }
    }
    for (size_t i = 0; i < NOPTS; i++) {
        for (size_t j = 0; j < i; j++) {
            if (descs[i].short_flag != 0 && descs[i].short_flag == descs[j].short_flag) {
                fprintf(stderr, "options: short flag used twice: %s\n", descs[i].name);
                return false;
            }
        }
    }
    return true;
}
