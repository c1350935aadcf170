/*
 * stashd-bench's options, declared once in opt_rows[]: a row names the
 * option, its letter and argument, and either the field it stores and the
 * bounds of its value (plain flags, strings and numbers) or a function that
 * parses it (values with a syntax of their own: SET:GET, MIN-MAX, CPU
 * lists). getopt_long's tables and --help are built from the rows:
 *
 *   opt_rows[i] --> struct option { .val = OPT_VAL_BASE + i }   (long)
 *               --> "s:p:P:..."                                (short)
 *               --> one line of --help
 *
 * A value out of bounds is a usage error (exit 2), never clamped: a
 * benchmark run with another configuration than asked for would mislead.
 */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "value.h"

/* getopt_long's value for row i; above every short option letter. */
#define OPT_VAL_BASE 256

enum opt_kind {
    OPT_FLAG,   /* bool at .off, set to true */
    OPT_STR,    /* const char * at .off */
    OPT_UINT,   /* unsigned at .off, in [.min, .max] */
    OPT_U64,    /* uint64_t at .off, in [.min, .max] */
    OPT_DOUBLE, /* double at .off, in [.dmin, .dmax] */
    OPT_FN,     /* .fn parses and stores */
};

typedef void opt_parse_fn(struct options *o, const char *name, const char *val);

struct opt_row {
    const char *name;
    int letter;      /* 0: long name only */
    const char *arg; /* NULL: a flag */
    enum opt_kind kind;
    size_t off;
    uint64_t min, max;
    double dmin, dmax;
    opt_parse_fn *fn;
    const char *help;
};

static opt_parse_fn opt_port, opt_protocol, opt_time, opt_ratio, opt_multiget, opt_key_size,
    opt_dist, opt_value_size, opt_value_range, opt_value_dist, opt_server_pid, opt_cpu_pin,
    opt_help;

/* One row: ROW(name, letter, argument, how it is stored, help). */
/* clang-format off */
#define ROW(n, l, a, how, h) {.name = n, .letter = l, .arg = a, how, .help = h}
/* clang-format on */
#define FIELD(f) .off = offsetof(struct options, f)
#define FLAG(f) .kind = OPT_FLAG, FIELD(f)
#define STR(f) .kind = OPT_STR, FIELD(f)
#define UINT(f, lo, hi) .kind = OPT_UINT, FIELD(f), .min = (lo), .max = (hi)
#define U64(f, lo, hi) .kind = OPT_U64, FIELD(f), .min = (lo), .max = (hi)
#define DOUBLE(f, lo, hi) .kind = OPT_DOUBLE, FIELD(f), .dmin = (lo), .dmax = (hi)
#define FN(f) .kind = OPT_FN, .fn = (f)

static const struct opt_row opt_rows[] = {
    ROW("server", 's', "HOST", STR(host), "server address (default 127.0.0.1)"),
    ROW("port", 'p', "PORT", FN(opt_port), "server port (default 11211)"),
    ROW("protocol", 'P', "NAME", FN(opt_protocol),
        "mc-text | mc-meta | mc-binary | resp | resp-hash (HSET/HGET of field f) | "
        "resp-multi (MULTI, --multiget commands, EXEC)"),
    ROW("tls", 0, NULL, FLAG(tls), "speak TLS to the server (OpenSSL)"),
    ROW("tls-ca", 0, "FILE", STR(tls_ca),
        "verify the server against these CAs (default: the system's)"),
    ROW("tls-cert", 0, "FILE", STR(tls_cert), "client certificate (chain), for mutual TLS"),
    ROW("tls-key", 0, "FILE", STR(tls_key), "the client certificate's key (default: in its file)"),
    ROW("tls-insecure", 0, NULL, FLAG(tls_insecure), "do not verify the server's certificate"),
    ROW("threads", 't', "N", UINT(threads, 1, 1024), "worker threads (default 1)"),
    ROW("conns", 'c', "N", UINT(conns, 1, 65536), "connections per thread (default 50)"),
    ROW("pipeline", 0, "N", UINT(pipeline, 1, 65536),
        "requests in flight per connection (default 1)"),
    ROW("time", 0, "SECS", FN(opt_time),
        "measured seconds (default 10; 0 with --preload: load only)"),
    ROW("requests", 'n', "N", U64(requests, 1, UINT64_MAX),
        "measured requests per connection instead of --time"),
    ROW("rate", 0, "N", DOUBLE(rate, 0, 1e9),
        "requests per second in all, spread over the connections (default 0: no limit)"),
    ROW("warmup", 0, "SECS", DOUBLE(warmup_s, 0, 86400),
        "seconds of load before measuring (default 0)"),
    ROW("preload", 0, NULL, FLAG(preload), "set every key once before the warm-up"),
    ROW("preload-pipeline", 0, "N", UINT(preload_pipeline, 1, 65536),
        "pipeline depth of the preload (32)"),
    ROW("ratio", 0, "SET:GET", FN(opt_ratio), "request mix (default 1:10)"),
    ROW("multiget", 0, "N", FN(opt_multiget),
        "keys per get (default 1); resp-multi: commands per transaction (default 3)"),
    ROW("set-on-miss", 0, NULL, FLAG(set_on_miss), "after a get misses, set that key"),
    ROW("keys", 'k', "N", U64(keys, 1, UINT64_MAX / 2), "key space size (default 100000)"),
    ROW("key-min", 0, "N", U64(key_min, 0, UINT64_MAX / 2), "smallest key index (default 0)"),
    ROW("key-prefix", 0, "STR", STR(key_prefix), "key prefix (default \"key:\")"),
    ROW("key-size", 0, "B|MIN-MAX", FN(opt_key_size),
        "zero-pad keys to B bytes, or to a length in [MIN, MAX] fixed per key (default: no pad)"),
    ROW("dist", 0, "NAME", FN(opt_dist), "uniform | sequential | zipf (default uniform)"),
    ROW("zipf-s", 0, "S", DOUBLE(zipf_s, 1e-6, 100), "Zipf exponent (default 0.99)"),
    ROW("value-size", 'd', "BYTES", FN(opt_value_size), "value size (default 100)"),
    ROW("value-range", 0, "MIN-MAX", FN(opt_value_range), "value sizes, uniform in [MIN, MAX]"),
    ROW("value-dist", 0, "NAME", FN(opt_value_dist),
        "sizes of --value-range: uniform | log (log-uniform: as many of 10-100 B as of 10-100 kB)"),
    ROW("json", 0, "FILE", STR(json), "also write the results as JSON (- for stdout)"),
    ROW("server-pid", 0, "PID", FN(opt_server_pid), "report this process's CPU time and RSS"),
    ROW("cpu-pin", 0, "LIST", FN(opt_cpu_pin), "pin worker i to the i-th CPU of LIST (e.g. 1,3-5)"),
    ROW("reply-timeout", 0, "SECS", DOUBLE(reply_timeout_s, 0.001, 3600),
        "error if no reply comes for this long (5)"),
    ROW("max-time", 0, "SECS", DOUBLE(max_time_s, 0.001, 86400),
        "hard limit on the whole run (default 300)"),
    ROW("seed", 0, "N", U64(seed, 0, UINT64_MAX), "random seed (default 1)"),
    ROW("quiet", 'q', NULL, FLAG(quiet), "no text report and no progress line"),
    ROW("help", 'h', NULL, FN(opt_help), "this help"),
};

#define NOPTS (sizeof(opt_rows) / sizeof(opt_rows[0]))

static const char *const dist_names[] = {
    [KEYSPACE_UNIFORM] = "uniform",
    [KEYSPACE_SEQUENTIAL] = "sequential",
    [KEYSPACE_ZIPF] = "zipf",
};

void
options_defaults(struct options *o)
{
    *o = (struct options){
        .host = "127.0.0.1",
        .port = "11211",
        .proto = PROTO_MC_TEXT,
        .threads = 1,
        .conns = 50,
        .pipeline = 1,
        .preload_pipeline = 32,
        .time_s = 10,
        .ratio_set = 1,
        .ratio_get = 10,
        .multiget = 1,
        .keys = 100000,
        .key_prefix = "key:",
        .dist = KEYSPACE_UNIFORM,
        .zipf_s = 0.99,
        .vmin = 100,
        .vmax = 100,
        .reply_timeout_s = 5,
        .max_time_s = 300,
        .seed = 1,
    };
}

const char *
options_dist_name(enum keyspace_dist d)
{
    return dist_names[d];
}

void
options_usage(FILE *f)
{
    fprintf(f, "usage: stashd-bench [options]\n\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt_row *r = &opt_rows[i];
        char left[64];
        if (r->letter) {
            snprintf(left, sizeof(left), "-%c, --%s%s%s", r->letter, r->name, r->arg ? " " : "",
                     r->arg ? r->arg : "");
        } else {
            snprintf(left, sizeof(left), "    --%s%s%s", r->name, r->arg ? " " : "",
                     r->arg ? r->arg : "");
        }
        fprintf(f, "  %-34s %s\n", left, r->help);
    }
    fprintf(f, "\nExit status: 0 when every reply was right, 1 on any error, 2 on a usage or\n"
               "set-up failure.\n");
}

/* ---- value parsers ---- */

static void
bad_option(const char *name, const char *val)
{
    fprintf(stderr, "stashd-bench: bad value for --%s: '%s'\n", name, val);
    exit(2);
}

static void
usage_error(const char *msg)
{
    fprintf(stderr, "stashd-bench: %s\n", msg);
    exit(2);
}

static uint64_t
parse_u64(const char *name, const char *val, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(val, &end, 10);
    if (errno != 0 || end == val || *end != '\0' || val[0] == '-' || v < lo || v > hi) {
        bad_option(name, val);
    }
    return v;
}

static double
parse_double(const char *name, const char *val, double lo, double hi)
{
    char *end;
    double v = strtod(val, &end);
    if (end == val || *end != '\0' || !(v >= lo && v <= hi)) {
        bad_option(name, val);
    }
    return v;
}

/* "A-B" with 1 <= A <= B <= max; false when val is not of that form. */
static bool
parse_range(const char *val, unsigned long max, size_t *a, size_t *b)
{
    unsigned long x, y;
    char tail;
    if (sscanf(val, "%lu-%lu%c", &x, &y, &tail) != 2 || x < 1 || y < x || y > max) {
        return false;
    }
    *a = x;
    *b = y;
    return true;
}

static void
opt_port(struct options *o, const char *name, const char *val)
{
    parse_u64(name, val, 1, 65535);
    o->port = val;
}

static void
opt_protocol(struct options *o, const char *name, const char *val)
{
    o->proto = proto_by_name(val);
    if (o->proto == PROTO_COUNT) {
        bad_option(name, val);
    }
}

static void
opt_multiget(struct options *o, const char *name, const char *val)
{
    o->multiget = (unsigned)parse_u64(name, val, 1, 1000);
    o->multiget_given = true;
}

static void
opt_time(struct options *o, const char *name, const char *val)
{
    o->time_s = parse_double(name, val, 0, 86400);
    o->time_given = true;
}

static void
opt_ratio(struct options *o, const char *name, const char *val)
{
    unsigned a, b;
    char tail;
    if (sscanf(val, "%u:%u%c", &a, &b, &tail) != 2 || a + b == 0 || a > 1000000 || b > 1000000) {
        bad_option(name, val);
    }
    o->ratio_set = a;
    o->ratio_get = b;
}

static void
opt_key_size(struct options *o, const char *name, const char *val)
{
    if (strchr(val, '-') == NULL) {
        o->key_size = o->key_size_max = (size_t)parse_u64(name, val, 1, KEYSPACE_MAX_KEY);
    } else if (!parse_range(val, KEYSPACE_MAX_KEY, &o->key_size, &o->key_size_max)) {
        bad_option(name, val);
    }
}

static void
opt_dist(struct options *o, const char *name, const char *val)
{
    for (size_t i = 0; i < sizeof(dist_names) / sizeof(dist_names[0]); i++) {
        if (strcmp(val, dist_names[i]) == 0) {
            o->dist = (enum keyspace_dist)i;
            return;
        }
    }
    bad_option(name, val);
}

static void
opt_value_size(struct options *o, const char *name, const char *val)
{
    o->vmin = o->vmax = (size_t)parse_u64(name, val, 1, VALUE_MAX_LEN);
}

static void
opt_value_range(struct options *o, const char *name, const char *val)
{
    if (!parse_range(val, VALUE_MAX_LEN, &o->vmin, &o->vmax)) {
        bad_option(name, val);
    }
}

static void
opt_value_dist(struct options *o, const char *name, const char *val)
{
    if (strcmp(val, "uniform") == 0 || strcmp(val, "log") == 0) {
        o->vlog = val[0] == 'l';
        return;
    }
    bad_option(name, val);
}

static void
opt_server_pid(struct options *o, const char *name, const char *val)
{
    o->server_pid = (long)parse_u64(name, val, 1, 1u << 30);
}

/* A CPU list as taskset takes it: "1,3-5". */
static void
opt_cpu_pin(struct options *o, const char *name, const char *val)
{
    const char *s = val;
    o->ncpus = 0;
    while (*s) {
        char *end;
        long a = strtol(s, &end, 10), b = a;
        if (end == s || a < 0 || a >= CPU_SETSIZE) {
            bad_option(name, val);
        }
        s = end;
        if (*s == '-') {
            b = strtol(s + 1, &end, 10);
            if (end == s + 1 || b < a || b >= CPU_SETSIZE) {
                bad_option(name, val);
            }
            s = end;
        }
        for (long i = a; i <= b && o->ncpus < CPU_SETSIZE; i++) {
            o->cpus[o->ncpus++] = (int)i;
        }
        if (*s == ',') {
            s++;
        } else if (*s != '\0') {
            bad_option(name, val);
        }
    }
}

static void
opt_help(struct options *o, const char *name, const char *val)
{
    options_usage(stdout);
    exit(0);
}

/* ---- the command line ---- */

static void
apply(struct options *o, const struct opt_row *r, const char *val)
{
    char *field = (char *)o + r->off;
    switch (r->kind) {
    case OPT_FLAG:
        *(bool *)field = true;
        break;
    case OPT_STR:
        *(const char **)field = val;
        break;
    case OPT_UINT:
        *(unsigned *)field = (unsigned)parse_u64(r->name, val, r->min, r->max);
        break;
    case OPT_U64:
        *(uint64_t *)field = parse_u64(r->name, val, r->min, r->max);
        break;
    case OPT_DOUBLE:
        *(double *)field = parse_double(r->name, val, r->dmin, r->dmax);
        break;
    case OPT_FN:
        r->fn(o, r->name, val);
        break;
    }
}

/* Fills getopt_long's tables from opt_rows[]. */
static void
getopt_tables(struct option *longs, char *shorts)
{
    size_t ns = 0;
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt_row *r = &opt_rows[i];
        longs[i] = (struct option){
            .name = r->name,
            .has_arg = r->arg ? required_argument : no_argument,
            .flag = NULL,
            .val = OPT_VAL_BASE + (int)i,
        };
        if (r->letter) {
            shorts[ns++] = (char)r->letter;
            if (r->arg) {
                shorts[ns++] = ':';
            }
        }
    }
    longs[NOPTS] = (struct option){0};
    shorts[ns] = '\0';
}

static const struct opt_row *
row_of(int ch)
{
    if (ch >= OPT_VAL_BASE) {
        return &opt_rows[ch - OPT_VAL_BASE];
    }
    for (size_t i = 0; i < NOPTS; i++) {
        if (opt_rows[i].letter == ch) {
            return &opt_rows[i];
        }
    }
    return NULL;
}

/* Combinations that no single row can refuse. */
static void
check_combinations(const struct options *o)
{
    if (o->requests != 0 && o->time_given) {
        usage_error("give --time or --requests, not both");
    }
    if (o->proto == PROTO_RESP_MULTI && o->set_on_miss) {
        usage_error("--set-on-miss does not apply to resp-multi (a miss is one of a transaction's "
                    "keys)");
    }
    if (o->proto == PROTO_RESP_MULTI && o->multiget < 2) {
        usage_error("resp-multi needs --multiget 2 or more (commands per transaction)");
    }
    if (o->set_on_miss && o->multiget != 1) {
        usage_error("--set-on-miss needs --multiget 1");
    }
    if (!o->tls && (o->tls_ca || o->tls_cert || o->tls_key || o->tls_insecure)) {
        usage_error("--tls-ca, --tls-cert, --tls-key and --tls-insecure need --tls");
    }
    if (o->tls_key && !o->tls_cert) {
        usage_error("--tls-key needs --tls-cert");
    }
    if (o->requests == 0 && o->time_s == 0 && !o->preload) {
        usage_error("--time 0 makes sense only with --preload");
    }
}

void
options_parse(struct options *o, int argc, char **argv)
{
    struct option longs[NOPTS + 1];
    char shorts[3 * NOPTS + 1];
    getopt_tables(longs, shorts);
    int ch;
    while ((ch = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        const struct opt_row *r = row_of(ch);
        if (r == NULL) { /* '?' or ':': getopt has said what was wrong */
            options_usage(stderr);
            exit(2);
        }
        apply(o, r, optarg);
    }
    if (optind < argc) {
        fprintf(stderr, "stashd-bench: unexpected argument '%s'\n", argv[optind]);
        exit(2);
    }
    if (o->proto == PROTO_RESP_MULTI && !o->multiget_given) {
        o->multiget = 3; /* a transaction of 3 commands (bench/compare's cells k, l) */
    }
    check_combinations(o);
}
