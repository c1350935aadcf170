/*
 * Unit tests for util/options and util/optdesc: defaults, the descriptor
 * iterator, conversion with units, the rule hooks and bounds (with the
 * messages the command line and YAML loader pass on), lists, the check of
 * values set directly, text that reads back to the same value, and the
 * table's --help lines. Reading the command line and the YAML file is
 * tested in tests/unit/server/, `stats settings` in tests/unit/cmd/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/util/optdesc.h"
#include "stashd/util/options.h"

static char why[256];

/* Set the option called name from text; 0 or -errno, the reason in why. */
static int
set(struct options *o, const char *name, const char *text)
{
    const struct optdesc *d = optdesc_find(name);
    assert_non_null(d);
    why[0] = '\0';
    return optdesc_set(o, d, text, false, why, sizeof(why));
}

/* Expect text to be refused for name with a reason containing want. */
static void
expect_bad(const char *name, const char *text, const char *want)
{
    struct options o;
    options_init(&o);
    int rc = set(&o, name, text);
    if (rc != -EINVAL || strstr(why, want) == NULL) {
        print_error("%s=%s: rc %d, why \"%s\", wanted \"%s\"\n", name, text, rc, why, want);
        fail();
    }
    options_fini(&o);
}

static void
assert_list(const struct options_list *l, size_t n, ...)
{
    va_list ap;
    assert_int_equal(l->n, n);
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(l->v[i], va_arg(ap, const char *));
    }
    va_end(ap);
}

/* ---- defaults and flag spellings -------------------------------------- */

static void
test_defaults(void **state)
{
    struct options o;
    options_init(&o);
    assert_int_equal(o.port, 11211);
    assert_list(&o.listen, 1, "127.0.0.1");
    assert_string_equal(o.unix_socket, "");
    assert_int_equal(o.unix_mask, 0700);
    assert_true(o.memory_limit == 64ull << 20);
    assert_int_equal(o.conn_limit, 1024);
    assert_int_equal(o.threads, 0);
    assert_true(o.max_item_size == 1u << 20);
    assert_true(o.growth_factor == 1.25);
    assert_int_equal(o.slab_min_size, 48);
    assert_true(o.evictions && o.cas_enabled && o.flush_enabled);
    assert_false(o.shutdown_enabled || o.daemonize);
    assert_int_equal(o.reqs_per_event, 20);
    assert_int_equal(o.backlog, 1024);
    assert_string_equal(o.protocol, "auto");
    assert_int_equal(o.udp_port, 0);
    assert_int_equal(o.verbosity, 0);
    assert_string_equal(o.user, "");
    assert_string_equal(o.pid_file, "");
    assert_int_equal(o.idle_timeout, 0);
    assert_int_equal(o.shards, 0);
    assert_string_equal(o.log_format, "text");
    assert_string_equal(o.config_file, "");
    options_fini(&o);
}

/* ---- the iterator ------------------------------------------------------ */

/* Two names equal, or both NULL. */
static bool
same_name(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static void
test_iterator(void **state)
{
    size_t rows = 0;
    char label[64];
#define CHECK_ROW(fd, ty, sf, lf, df, mn, mx, fv, sn, hp)                                          \
    {                                                                                              \
        const struct optdesc *d = optdesc_at(rows);                                                \
        assert_non_null(d);                                                                        \
        assert_string_equal(d->name, #fd);                                                         \
        assert_int_equal(d->type, ty);                                                             \
        assert_int_equal(d->short_flag, sf);                                                       \
        assert_string_equal(d->long_flag, lf);                                                     \
        assert_string_equal(d->def, df);                                                           \
        assert_true(same_name(d->stats_name, sn));                                                 \
        assert_ptr_equal(optdesc_find(#fd), d);                                                    \
        assert_int_equal(optdesc_index(d), rows);                                                  \
        rows++;                                                                                    \
    }
    STASHD_OPTIONS(CHECK_ROW)
#undef CHECK_ROW
    assert_int_equal(optdesc_count(), rows);
    assert_null(optdesc_at(rows));
    assert_null(optdesc_find("bogus"));
    assert_null(optdesc_find("max-item-size")); /* keys are field names */
    assert_string_equal(optdesc_label(optdesc_find("port"), label, sizeof(label)), "-p/--port");
    assert_string_equal(optdesc_label(optdesc_find("idle_timeout"), label, sizeof(label)),
                        "--idle-timeout");
}

/* ---- conversion, rules and bounds -------------------------------------- */

static void
test_units(void **state)
{
    static const struct {
        const char *m;
        uint64_t want;
    } mb[] = {
        {"64", 64ull << 20}, {"1", 1ull << 20},  {"64k", 64ull << 10}, {"64K", 64ull << 10},
        {"2m", 2ull << 20},  {"1g", 1ull << 30}, {"3G", 3ull << 30},
    };
    struct options o;
    options_init(&o);
    for (size_t i = 0; i < sizeof(mb) / sizeof(mb[0]); i++) {
        assert_int_equal(set(&o, "memory_limit", mb[i].m), 0);
        assert_true(o.memory_limit == mb[i].want);
    }
    assert_int_equal(set(&o, "memory_limit", "auto"), 0);
    assert_true(o.memory_limit == OPTIONS_MB_AUTO);
    assert_int_equal(set(&o, "max_item_size", "2048"), 0); /* plain: bytes */
    assert_true(o.max_item_size == 2048);
    assert_int_equal(set(&o, "max_item_size", "512k"), 0);
    assert_true(o.max_item_size == 512u << 10);
    assert_int_equal(set(&o, "max_item_size", "1g"), 0);
    assert_true(o.max_item_size == 1u << 30);
    assert_int_equal(set(&o, "unix_mask", "0755"), 0);
    assert_int_equal(o.unix_mask, 0755);
    assert_int_equal(set(&o, "growth_factor", "1.5"), 0);
    assert_true(o.growth_factor == 1.5);
    static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        assert_int_equal(set(&o, "evictions", "off"), 0);
        assert_false(o.evictions);
        assert_int_equal(set(&o, "evictions", yes[i]), 0);
        assert_true(o.evictions);
    }
    options_fini(&o);
    expect_bad("memory_limit", "0", "0 bytes is below the minimum of 1 bytes");
    expect_bad("memory_limit", "0k", "below the minimum");
    expect_bad("memory_limit", "64x", "invalid value '64x'");
    expect_bad("memory_limit", "-1", "megabytes, a size with k/m/g suffix, or auto");
    expect_bad("memory_limit", "autox", "invalid value");
    expect_bad("max_item_size", "1023", "out of range [1024, 1073741824] bytes");
    expect_bad("max_item_size", "2g", "out of range");
    expect_bad("max_item_size", "1.5m", "invalid value");
    expect_bad("max_item_size", "auto", "invalid value");
    expect_bad("memory_limit", "99999999999999999999", "invalid value");
}

static void
test_rules_and_bounds(void **state)
{
    expect_bad("port", "abc", "invalid value 'abc' (expected an integer)");
    expect_bad("port", "70000", "70000 is out of range [0, 65535]");
    expect_bad("port", "", "invalid value ''");
    expect_bad("growth_factor", "1.0", "factor must be greater than 1.0");
    expect_bad("growth_factor", "x", "expected a number");
    expect_bad("threads", "-1", "out of range [0, 1024]");
    expect_bad("conn_limit", "0", "out of range");
    expect_bad("udp_port", "11211", "UDP is not supported; -U must be 0");
    expect_bad("unix_mask", "0800", "expected an octal number");
    expect_bad("unix_mask", "1777", "1777 is out of range [0, 777]");
    expect_bad("protocol", "foo", "invalid value for binding protocol: 'foo'");
    expect_bad("shards", "3", "3 is not 0 or a power of two");
    expect_bad("log_format", "xml", "'xml' is not a log format");
    expect_bad("evictions", "maybe", "true/false, yes/no or on/off");
    expect_bad("verbosity", "4", "out of range [0, 3]");

    /* A refused value leaves the field as it was. */
    struct options o;
    options_init(&o);
    assert_int_equal(set(&o, "protocol", "ascii"), 0);
    assert_int_equal(set(&o, "protocol", "bogus"), -EINVAL);
    assert_string_equal(o.protocol, "ascii");
    /* optdesc_convert checks syntax only; optdesc_validate the value. */
    const struct optdesc *d = optdesc_find("port");
    union optdesc_value v;
    assert_true(optdesc_convert(d, "70000", &v, why, sizeof(why)));
    assert_int_equal(v.i, 70000);
    assert_false(optdesc_validate(d, &v, why, sizeof(why)));
    /* optdesc_store validates too, and takes scalars only. */
    assert_int_equal(optdesc_store(&o, d, &v, why, sizeof(why)), -EINVAL);
    assert_int_equal(o.port, 11211);
    v.i = 4000;
    assert_int_equal(optdesc_store(&o, d, &v, why, sizeof(why)), 0);
    assert_int_equal(o.port, 4000);
    v.s = "x";
    assert_int_equal(optdesc_store(&o, optdesc_find("user"), &v, why, sizeof(why)), -EINVAL);
    options_fini(&o);
}

static void
test_lists(void **state)
{
    struct options o;
    const struct optdesc *d = optdesc_find("listen");
    options_init(&o);
    assert_list(&o.listen, 1, "127.0.0.1");
    assert_int_equal(set(&o, "listen", "a, b ,c"), 0);
    assert_list(&o.listen, 3, "a", "b", "c");
    assert_int_equal(optdesc_set(&o, d, "[::1]", true, why, sizeof(why)), 0);
    assert_list(&o.listen, 4, "a", "b", "c", "[::1]");
    assert_int_equal(set(&o, "listen", "x,,y"), -EINVAL);
    assert_non_null(strstr(why, "empty item in list 'x,,y'"));
    assert_list(&o.listen, 4, "a", "b", "c", "[::1]");
    optdesc_release(&o, d);
    assert_int_equal(o.listen.n, 0);
    union optdesc_value v;
    optdesc_load(&o, d, &v);
    assert_ptr_equal(v.l, &o.listen);
    options_fini(&o);
}

/* Values set in the struct directly obey the rows' rules too. */
static void
test_validate(void **state)
{
    struct options o;
    char err[256];
    options_init(&o);
    assert_int_equal(options_validate(&o, err, sizeof(err)), 0);
    o.udp_port = 11211;
    assert_int_equal(options_validate(&o, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "-U/--udp-port: UDP is not supported"));
    o.udp_port = 0;
    o.shards = 6;
    assert_int_equal(options_validate(&o, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--shards"));
    o.shards = 0;
    o.memory_limit = OPTIONS_MB_AUTO; /* left for start-up to resolve */
    assert_int_equal(options_validate(&o, err, sizeof(err)), 0);
    options_fini(&o);
    options_fini(&o); /* a second fini is harmless */
}

/* ---- value to text ----------------------------------------------------- */

static const char *
text_of(const struct options *o, const char *name)
{
    static char buf[256];
    size_t n = optdesc_format(o, optdesc_find(name), buf, sizeof(buf));
    assert_true(n < sizeof(buf));
    assert_int_equal(strlen(buf), n);
    return buf;
}

/* Whether d's field holds the same value in a and b. */
static bool
same_value(const struct optdesc *d, const struct options *a, const struct options *b)
{
    union optdesc_value va, vb;
    char ta[256], tb[256];
    optdesc_load(a, d, &va);
    optdesc_load(b, d, &vb);
    switch (d->type) {
    case OPT_BOOL:
        return va.b == vb.b;
    case OPT_INT:
    case OPT_OCTAL:
    case OPT_COUNT:
        return va.i == vb.i;
    case OPT_SIZE:
    case OPT_MB:
        return va.u == vb.u;
    case OPT_DOUBLE:
        return va.d == vb.d;
    case OPT_STR:
        return strcmp(va.s, vb.s) == 0;
    case OPT_LIST:
        break;
    }
    optdesc_format(a, d, ta, sizeof(ta));
    optdesc_format(b, d, tb, sizeof(tb));
    return va.l->n == vb.l->n && strcmp(ta, tb) == 0;
}

/* Every row's text, set into fresh defaults, gives the same value back. */
static void
assert_round_trip(const struct options *o)
{
    struct options back;
    char text[256];
    options_init(&back);
    for (size_t i = 0; i < optdesc_count(); i++) {
        const struct optdesc *d = optdesc_at(i);
        optdesc_format(o, d, text, sizeof(text));
        if (d->type == OPT_LIST && text[0] == '\0') {
            optdesc_release(&back, d);
        } else if (optdesc_set(&back, d, text, false, why, sizeof(why)) != 0) {
            print_error("%s: '%s' does not read back: %s\n", d->name, text, why);
            fail();
        }
        if (!same_value(d, o, &back)) {
            print_error("%s: '%s' reads back to another value\n", d->name, text);
            fail();
        }
    }
    options_fini(&back);
}

static void
test_format(void **state)
{
    struct options o;
    options_init(&o);
    assert_string_equal(text_of(&o, "port"), "11211");
    assert_string_equal(text_of(&o, "unix_mask"), "0700");
    assert_string_equal(text_of(&o, "memory_limit"), "64m");
    assert_string_equal(text_of(&o, "max_item_size"), "1048576");
    assert_string_equal(text_of(&o, "growth_factor"), "1.25");
    assert_string_equal(text_of(&o, "evictions"), "true");
    assert_string_equal(text_of(&o, "listen"), "127.0.0.1");
    assert_string_equal(text_of(&o, "user"), "");
    assert_round_trip(&o);
    assert_int_equal(set(&o, "memory_limit", "1536k"), 0);
    assert_string_equal(text_of(&o, "memory_limit"), "1536k");
    assert_int_equal(set(&o, "listen", "a,b,[::1]:11211"), 0);
    assert_string_equal(text_of(&o, "listen"), "a,b,[::1]:11211");
    assert_int_equal(set(&o, "growth_factor", "1.0000000000000002"), 0); /* 1 + DBL_EPSILON */
    assert_int_equal(set(&o, "unix_mask", "0"), 0);
    assert_int_equal(set(&o, "evictions", "no"), 0);
    assert_int_equal(set(&o, "user", "nobody"), 0);
    assert_int_equal(set(&o, "verbosity", "2"), 0);
    assert_round_trip(&o);
    assert_int_equal(set(&o, "memory_limit", "auto"), 0);
    assert_string_equal(text_of(&o, "memory_limit"), "auto");
    optdesc_release(&o, optdesc_find("listen"));
    assert_string_equal(text_of(&o, "listen"), "");
    assert_round_trip(&o);
    /* Too small a buffer: truncated, NUL-terminated, the whole length told. */
    char small[4];
    assert_int_equal(set(&o, "listen", "abcdef,ghi"), 0);
    assert_int_equal(optdesc_format(&o, optdesc_find("listen"), small, sizeof(small)), 10);
    assert_string_equal(small, "abc");
    assert_int_equal(optdesc_format(&o, optdesc_find("port"), small, sizeof(small)), 5);
    assert_string_equal(small, "112");
    options_fini(&o);
}

/* ---- --help ------------------------------------------------------------- */

static void
test_help_rows(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    options_print_help(f);
    options_help_line(f, "-x, --extra", "a line of the caller's", "7");
    fclose(f);
    char want[96];
#define CHECK_HELP(fd, ty, sf, lf, df, mn, mx, fv, sn, help)                                       \
    snprintf(want, sizeof(want), "--%s", lf);                                                      \
    assert_non_null(strstr(text, want));                                                           \
    assert_non_null(strstr(text, help));                                                           \
    if (sf != 0) {                                                                                 \
        snprintf(want, sizeof(want), "-%c, --%s", sf, lf);                                         \
        assert_non_null(strstr(text, want));                                                       \
    }
    STASHD_OPTIONS(CHECK_HELP)
#undef CHECK_HELP
    assert_non_null(strstr(text, "-p, --port=<num>"));
    assert_non_null(strstr(text, "(default: 11211)"));
    assert_non_null(strstr(text, "-M, --disable-evictions      "));
    assert_non_null(
        strstr(text, "-x, --extra                     a line of the caller's (default: 7)\n"));
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_iterator),
        cmocka_unit_test(test_units),    cmocka_unit_test(test_rules_and_bounds),
        cmocka_unit_test(test_lists),    cmocka_unit_test(test_validate),
        cmocka_unit_test(test_format),   cmocka_unit_test(test_help_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
