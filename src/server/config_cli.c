/*
 * config_cli: the command line. memcached's letters and long names come
 * from the option table (getopt_long's spec is built from it); what is
 * written by hand here is what memcached's command line has beyond the
 * table: -o key=value lists, --config, -h and -V, the memcached flags and
 * -o keys stashd accepts and ignores, and memcached's own words for the
 * values it refuses. Values go through util/optdesc like every other.
 *
 * Parsing takes two passes over a copy of argv: the first finds -h, -V
 * and --config, so that the YAML file is loaded before any flag is
 * applied and the command line wins wherever --config appears on it.
 */
#include "server/config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/util/log.h"
#include "stashd/util/optdesc.h"

/* getopt codes beyond the table's letters ('h', 'V', 'o' are memcached's). */
enum {
    CODE_CONFIG = 0x100,
    CODE_LONG_ONLY = 0x200, /* + index into the table */
};

/*
 * memcached flags stashd accepts and ignores with a warning, so existing
 * memcached command lines start unchanged (but -L, which means
 * --large-pages=on). -S (SASL), -Y (the ASCII
 * auth file) and -Z (TLS) are table rows; a build without TLS refuses -Z
 * at start-up (net/tls.c) rather than serve in clear text what was asked
 * to be private.
 */
static const struct {
    int letter;
    const char *long_flag; /* NULL: memcached has no long form */
    bool has_arg;
} ignored_flags[] = {
    {'k', "lock-memory", false},      {'L', "enable-largepages", false},
    {'r', "enable-coredumps", false}, {'D', NULL, true},
    {'N', "napi-ids", true},          {'X', "disable-dumping", false},
    {'W', "disable-watch", false},
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

/* ---- getopt's spec, from the table ------------------------------------ */

struct getopt_spec {
    char shortopts[CONFIG_NOPTS * 2 + 2 * NIGNORED + 16];
    struct option longopts[CONFIG_NOPTS + NIGNORED + 8];
};

/*
 * The table's letters must stay clear of the ones written here, so that
 * taking a letter memcached uses cannot silently shadow a flag; a clash
 * is a programmer error, reported once and fatal.
 */
static void
check_letters(void)
{
    static const char reserved[] = "hVo";
    for (size_t i = 0; i < optdesc_count(); i++) {
        int sf = optdesc_at(i)->short_flag;
        if (sf != 0 && (strchr(reserved, sf) != NULL || ignored_flag(sf))) {
            fprintf(stderr, "options: short flag used twice: %s\n", optdesc_at(i)->name);
            abort();
        }
    }
}

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
    check_letters();
    *s++ = ':';
    for (size_t i = 0; i < optdesc_count(); i++) {
        const struct optdesc *d = optdesc_at(i);
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

static const struct optdesc *
desc_for_code(int code)
{
    if (code >= CODE_LONG_ONLY) {
        return optdesc_at((size_t)(code - CODE_LONG_ONLY));
    }
    for (size_t i = 0; i < optdesc_count(); i++) {
        if (optdesc_at(i)->short_flag == code) {
            return optdesc_at(i);
        }
    }
    return NULL;
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
scan_meta(int argc, char **av, const struct getopt_spec *g, enum config_action *action,
          const char **config, char *err, size_t errlen)
{
    int c;
    bool twice = false;
    getopt_reset();
    while ((c = getopt_long(argc, av, g->shortopts, g->longopts, NULL)) != -1) {
        if ((c == 'h' || c == 'V') && *action == CONFIG_RUN) {
            *action = c == 'h' ? CONFIG_HELP : CONFIG_VERSION;
        } else if (c == CODE_CONFIG) {
            twice = twice || *config != NULL;
            *config = optarg;
        }
    }
    if (twice && *action == CONFIG_RUN) {
        snprintf(err, errlen, "--config given more than once");
        return -EINVAL;
    }
    return 0;
}

/* ---- applying flags --------------------------------------------------- */

/* The refusal for d's value arg on the command line, or NULL to take the
 * value as the table does. */
static const char *
mc_refusal(const struct optdesc *d, const char *arg, bool refused)
{
    union optdesc_value v;
    char why[64];
    if (strcmp(d->name, "max_item_size") == 0 && refused) {
        bool big = optdesc_convert(d, arg, &v, why, sizeof(why)) && v.u > (uint64_t)d->max;
        return big ? "Cannot set item size limit higher than a gigabyte."
                   : "Item max size cannot be less than 1024 bytes.";
    }
    for (size_t i = 0; i < sizeof(mc_refusals) / sizeof(mc_refusals[0]); i++) {
        if (strcmp(mc_refusals[i].name, d->name) != 0) {
            continue;
        }
        if (refused || !optdesc_convert(d, arg, &v, why, sizeof(why)) ||
            (d->type == OPT_INT && v.i < mc_refusals[i].cli_min)) {
            return mc_refusals[i].msg;
        }
    }
    return NULL;
}

/* A flag without a value: a boolean's flag_value, or -v counted up from 0
 * on this command line (over any YAML value); memcached counts without
 * limit, we stop at the row's max. */
static int
apply_bare(struct options *o, const struct optdesc *d, bool seen, char *why, size_t whylen)
{
    union optdesc_value v = {.b = d->flag_value};
    if (d->type == OPT_COUNT) {
        optdesc_load(o, d, &v);
        v.i = seen ? v.i : 0;
        if (d->max < d->min || v.i < d->max) {
            v.i++;
        }
    }
    return optdesc_store(o, d, &v, why, whylen);
}

/*
 * Apply one table option from the command line. seen[] marks options
 * already given on this command line: the first -l replaces the default
 * (or YAML) list, later ones add to it.
 */
static int
apply_flag(struct options *o, const struct optdesc *d, const char *arg, bool *seen, char *err,
           size_t errlen)
{
    size_t idx = optdesc_index(d);
    char why[256], label[64];
    int rc;
    optdesc_label(d, label, sizeof(label));
    if (d->type == OPT_BOOL || (d->type == OPT_COUNT && arg == NULL)) {
        rc = apply_bare(o, d, seen[idx], why, sizeof(why));
        if (rc != 0) {
            snprintf(err, errlen, "%s: %s", label, why);
        }
    } else {
        rc = optdesc_set(o, d, arg, d->type == OPT_LIST && seen[idx], why, sizeof(why));
        const char *mc = mc_refusal(d, arg, rc == -EINVAL);
        if (mc != NULL) {
            /* memcached's words first, then which option and why */
            snprintf(err, errlen, "%s (%s: %s)", mc, label, rc != 0 ? why : arg);
            rc = -EINVAL;
        } else if (rc != 0) {
            snprintf(err, errlen, "%s: %s", label, why);
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
    const struct optdesc *d = optdesc_find(item);
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
    size_t idx = optdesc_index(d);
    int rc = optdesc_set(o, d, value != NULL ? value : "true", d->type == OPT_LIST && seen[idx],
                         why, sizeof(why));
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
    const struct optdesc *d;
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
    if (c == 'L') {
        /* memcached's "try to use large memory pages": --large-pages=on */
        return apply_flag(o, optdesc_find("large_pages"), "on", seen, err, errlen);
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
    bool seen[CONFIG_NOPTS] = {0};
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

/* ---- the entry point -------------------------------------------------- */

/* --config FILE: load it, and remember its path (o->config_file). */
static int
load_config(struct options *o, const char *path, char *err, size_t errlen)
{
    int rc = config_load_yaml(o, path, err, errlen);
    if (rc != 0) {
        return rc;
    }
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
config_parse_args(struct options *o, int argc, char **argv, enum config_action *action, char *err,
                  size_t errlen)
{
    struct getopt_spec g;
    const char *config = NULL;
    int rc;
    *action = CONFIG_RUN;
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
    if (rc == 0 && *action == CONFIG_RUN && config != NULL) {
        rc = load_config(o, config, err, errlen);
    }
    if (rc == 0 && *action == CONFIG_RUN) {
        memcpy(av, argv, avsize - sizeof(char *));
        rc = apply_args(o, argc, av, &g, err, errlen);
    }
    free(av);
    return rc;
}

void
config_cli_print_help(FILE *out)
{
    options_help_line(out, "    --config=<file>",
                      "YAML file of key: value (keys are the names in "
                      "conf/stashd.yaml); read before the command line",
                      NULL);
    options_help_line(out, "-o, --extended=<list>",
                      "comma-separated key=value options (same keys as "
                      "the YAML file); memcached's -o options are accepted and ignored",
                      NULL);
    options_help_line(out, "-h, --help", "print this help and exit", NULL);
    options_help_line(out, "-V, --version", "print version and exit", NULL);
    fprintf(out, "\nAccepted for memcached compatibility and ignored:");
    for (size_t i = 0; i < NIGNORED; i++) {
        fprintf(out, " -%c%s", ignored_flags[i].letter, ignored_flags[i].has_arg ? " <arg>" : "");
    }
    fputc('\n', out);
}
