/*
 * Unit tests for util/options: defaults, memcached's flag spellings, -o,
 * the YAML loader and its error lines, cross-option checks, --help and
 * `stats settings` in memcached's formats, and conf/stashd.yaml.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stashd/util/options.h"

static char tmpdir[64];
static char err[512];

/* ---- helpers ---------------------------------------------------------- */

/* Parse "stashd" followed by the NULL-terminated arguments. */
static int
parse_v(struct options *o, enum options_action *act, va_list ap)
{
    char *argv[40] = {"stashd"};
    int argc = 1;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        assert_true(argc < 39);
        argv[argc++] = (char *)a;
    }
    err[0] = '\0';
    return options_parse_args(o, argc, argv, act, err, sizeof(err));
}

static int
parse(struct options *o, ...)
{
    enum options_action act;
    va_list ap;
    va_start(ap, o);
    int rc = parse_v(o, &act, ap);
    va_end(ap);
    if (rc == 0) {
        assert_int_equal(act, OPTIONS_RUN);
    }
    return rc;
}

/* Fresh defaults, then the arguments; the caller finis. */
static int
fresh(struct options *o, ...)
{
    enum options_action act;
    va_list ap;
    options_init(o);
    va_start(ap, o);
    int rc = parse_v(o, &act, ap);
    va_end(ap);
    return rc;
}

/* Expect the arguments to fail with a message containing want. */
static void
expect_bad(const char *want, ...)
{
    struct options o;
    enum options_action act;
    va_list ap;
    options_init(&o);
    va_start(ap, want);
    int rc = parse_v(&o, &act, ap);
    va_end(ap);
    if (rc != -EINVAL || strstr(err, want) == NULL) {
        print_error("rc %d, err \"%s\", wanted \"%s\"\n", rc, err, want);
        fail();
    }
    options_fini(&o);
}

static const char *
write_file(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
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

static void
expect_yaml_error(const char *text, const char *want1, const char *want2)
{
    struct options o;
    options_init(&o);
    const char *path = write_file("bad.yaml", text);
    int rc = options_load_yaml(&o, path, err, sizeof(err));
    if (rc != -EINVAL || strstr(err, want1) == NULL || strstr(err, want2) == NULL ||
        strstr(err, path) == NULL) {
        print_error("rc %d, err \"%s\", wanted \"%s\" and \"%s\"\n", rc, err, want1, want2);
        fail();
    }
    options_fini(&o);
}

static int
setup_tmp(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/stashd-test-options-XXXXXX");
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int
teardown_tmp(void **state)
{
    const char *names[] = {"a.yaml", "bad.yaml", "all.yaml", "list.yaml"};
    char path[128];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    return rmdir(tmpdir);
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

static void
test_flag_styles(void **state)
{
    struct options o;
    options_init(&o);
    assert_int_equal(parse(&o, "-p", "1234", NULL), 0);
    assert_int_equal(o.port, 1234);
    assert_int_equal(parse(&o, "-p1235", NULL), 0);
    assert_int_equal(o.port, 1235);
    assert_int_equal(parse(&o, "--port=1236", NULL), 0);
    assert_int_equal(o.port, 1236);
    assert_int_equal(parse(&o, "--port", "1237", NULL), 0);
    assert_int_equal(o.port, 1237);
    assert_int_equal(parse(&o, "-c", "10", "--threads=3", "-R5", "-b", "77", "-n", "64", NULL), 0);
    assert_int_equal(o.conn_limit, 10);
    assert_int_equal(o.threads, 3);
    assert_int_equal(o.reqs_per_event, 5);
    assert_int_equal(o.backlog, 77);
    assert_int_equal(o.slab_min_size, 64);
    assert_int_equal(parse(&o, "-f", "1.5", "-a", "755", "-s", "/tmp/x.sock", "-B", "ascii", "-u",
                           "nobody", "-P", "/tmp/pid", NULL),
                     0);
    assert_true(o.growth_factor == 1.5);
    assert_int_equal(o.unix_mask, 0755);
    assert_string_equal(o.unix_socket, "/tmp/x.sock");
    assert_string_equal(o.protocol, "ascii");
    assert_string_equal(o.user, "nobody");
    assert_string_equal(o.pid_file, "/tmp/pid");
    assert_int_equal(parse(&o, "--idle-timeout=30", "--shards", "16", "--log-format=json",
                           "--unix-mask=0600", "-U", "0", NULL),
                     0);
    assert_int_equal(o.idle_timeout, 30);
    assert_int_equal(o.shards, 16);
    assert_string_equal(o.log_format, "json");
    assert_int_equal(o.unix_mask, 0600);
    options_fini(&o);
}

static void
test_bool_flags(void **state)
{
    struct options o;
    assert_int_equal(fresh(&o, "-M", "-C", "-F", "-A", "-d", NULL), 0);
    assert_false(o.evictions || o.cas_enabled || o.flush_enabled);
    assert_true(o.shutdown_enabled && o.daemonize);
    options_fini(&o);
    assert_int_equal(fresh(&o, "--disable-evictions", "--disable-cas", "--disable-flush-all",
                           "--enable-shutdown", "--daemon", NULL),
                     0);
    assert_false(o.evictions || o.cas_enabled || o.flush_enabled);
    assert_true(o.shutdown_enabled && o.daemonize);
    options_fini(&o);
    /* Bundled short flags, as getopt allows. */
    assert_int_equal(fresh(&o, "-MC", NULL), 0);
    assert_false(o.evictions || o.cas_enabled);
    assert_true(o.flush_enabled);
    options_fini(&o);
}

static void
test_verbosity(void **state)
{
    static const struct {
        const char *a, *b;
        int64_t want;
    } cases[] = {
        {"-v", NULL, 1},          {"-vv", NULL, 2},        {"-vvv", NULL, 3},
        {"-v", "-v", 2},          {"-vvvv", NULL, 3},      {"--verbose", NULL, 1},
        {"--verbose=2", NULL, 2}, {"-vv", "--verbose", 3}, {"-Mv", NULL, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct options o;
        assert_int_equal(fresh(&o, cases[i].a, cases[i].b, NULL), 0);
        assert_int_equal(o.verbosity, cases[i].want);
        options_fini(&o);
    }
    expect_bad("--verbose", "--verbose=4", NULL);
}

static void
test_listen(void **state)
{
    struct options o;
    assert_int_equal(fresh(&o, "-l", "10.0.0.1", "-l", "10.0.0.2, 10.0.0.3", "-p", "1", NULL), 0);
    assert_list(&o.listen, 3, "10.0.0.1", "10.0.0.2", "10.0.0.3");
    options_fini(&o);
    assert_int_equal(fresh(&o, "--listen=[::1]", "-l0.0.0.0:11311", NULL), 0);
    assert_list(&o.listen, 2, "[::1]", "0.0.0.0:11311");
    options_fini(&o);
    expect_bad("-l/--listen", "-l", "a,,b", NULL);
}

static void
test_mb_and_size(void **state)
{
    static const struct {
        const char *m;
        uint64_t want;
    } mb[] = {
        {"64", 64ull << 20}, {"1", 1ull << 20},  {"64k", 64ull << 10}, {"64K", 64ull << 10},
        {"2m", 2ull << 20},  {"1g", 1ull << 30}, {"3G", 3ull << 30},
    };
    for (size_t i = 0; i < sizeof(mb) / sizeof(mb[0]); i++) {
        struct options o;
        assert_int_equal(fresh(&o, "-m", mb[i].m, NULL), 0);
        assert_true(o.memory_limit == mb[i].want);
        options_fini(&o);
    }
    struct options o;
    assert_int_equal(fresh(&o, "-I", "2048", NULL), 0);
    assert_true(o.max_item_size == 2048);
    assert_int_equal(parse(&o, "-I", "1m", NULL), 0);
    assert_true(o.max_item_size == 1u << 20);
    assert_int_equal(parse(&o, "--max-item-size=512k", NULL), 0);
    assert_true(o.max_item_size == 512u << 10);
    assert_int_equal(parse(&o, "-I", "1g", NULL), 0);
    assert_true(o.max_item_size == 1u << 30);
    options_fini(&o);
    expect_bad("-m/--memory-limit", "-m", "0", NULL);
    expect_bad("-m/--memory-limit", "-m", "0k", NULL);
    expect_bad("-m/--memory-limit", "-m", "64x", NULL);
    expect_bad("-m/--memory-limit", "-m", "-1", NULL);
    expect_bad("-I/--max-item-size", "-I", "1023", NULL);
    expect_bad("-I/--max-item-size", "-I", "2g", NULL);
    expect_bad("-I/--max-item-size", "-I", "1.5m", NULL);
}

static void
test_bad_values(void **state)
{
    expect_bad("-p/--port", "-p", "abc", NULL);
    expect_bad("out of range [0, 65535]", "-p", "70000", NULL);
    expect_bad("-p/--port", "--port=", NULL);
    expect_bad("-f/--slab-growth-factor", "-f", "1.0", NULL);
    expect_bad("-f/--slab-growth-factor", "-f", "x", NULL);
    expect_bad("-t/--threads", "-t", "-1", NULL);
    expect_bad("-c/--conn-limit", "-c", "0", NULL);
    expect_bad("UDP is not supported; -U must be 0", "-U", "11211", NULL);
    expect_bad("-a/--unix-mask", "-a", "0800", NULL);
    expect_bad("-a/--unix-mask", "-a", "1777", NULL);
    expect_bad("binding protocol", "-B", "foo", NULL);
    expect_bad("--shards", "--shards=3", NULL);
    expect_bad("--log-format", "--log-format=xml", NULL);
    expect_bad("requires a value", "-p", NULL);
    expect_bad("requires a value", "--port", NULL);
    expect_bad("unknown", "--bogus", NULL);
    expect_bad("unknown", "-Z", NULL);
    expect_bad("unexpected argument 'modern'", "-m", "64", "modern", NULL);
    expect_bad("--config given more than once", "--config", "a", "--config=b", NULL);
}

static void
test_extended(void **state)
{
    struct options o;
    assert_int_equal(fresh(&o, "-o", "idle_timeout=30,shards=16", NULL), 0);
    assert_int_equal(o.idle_timeout, 30);
    assert_int_equal(o.shards, 16);
    assert_int_equal(parse(&o, "--extended=port=2000,evictions=off", "-o", "cas_enabled=no", NULL),
                     0);
    assert_int_equal(o.port, 2000);
    assert_false(o.evictions || o.cas_enabled);
    assert_int_equal(parse(&o, "-o", "evictions", NULL), 0); /* bare boolean key = true */
    assert_true(o.evictions);
    options_fini(&o);
    /* memcached-only keys start unchanged (with a warning). */
    assert_int_equal(fresh(&o, "-o",
                           "modern,no_modern,hashpower=20,slab_reassign,slab_automove=1,"
                           "lru_crawler,no_lru_maintainer,hot_lru_pct=20,warm_lru_pct=40,"
                           "tail_repair_time=0,maxconns_fast,hash_algorithm=murmur3,"
                           "slab_chunk_max=512,temporary_ttl=61,watcher_logbuf_size=256,"
                           "worker_logbuf_size=64,track_sizes,no_inline_ascii_resp,"
                           "ext_path=/mnt/d1/extstore:1G,ext_threads=2",
                           NULL),
                     0);
    assert_int_equal(o.port, 11211);
    options_fini(&o);
    expect_bad("-o bogus", "-o", "bogus=1", NULL);
    expect_bad("-o bogus", "-o", "modern,bogus", NULL);
    expect_bad("-o ext_", "-o", "ext_", NULL);
    expect_bad("-o idle_timeout: needs a value", "-o", "idle_timeout", NULL);
    expect_bad("-o idle_timeout", "-o", "idle_timeout=-5", NULL);
    expect_bad("-o shards", "-o", "shards=5", NULL);
}

static void
test_ignored_flags(void **state)
{
    struct options o;
    assert_int_equal(fresh(&o, "-k", "-L", "-r", "-X", "-W", "-D", ":", "-e", "/tmp/mem", "-N", "2",
                           "--lock-memory", "--enable-largepages", "--enable-coredumps",
                           "--memory-file=/tmp/m", "--napi-ids=1", "-p", "5000", NULL),
                     0);
    assert_int_equal(o.port, 5000);
    options_fini(&o);
    /* -Y (memcached's ASCII auth file) is a real option, never ignored. */
    assert_int_equal(fresh(&o, "-Y", "/etc/auth", NULL), 0);
    assert_string_equal(o.auth_file, "/etc/auth");
    options_fini(&o);
    assert_int_equal(fresh(&o, "--auth-file=/etc/auth", NULL), 0);
    assert_string_equal(o.auth_file, "/etc/auth");
    options_fini(&o);
}

/* Values memcached refuses fail with memcached's own words. */
static void
test_memcached_refusals(void **state)
{
    expect_bad("Number of threads must be greater than 0", "-t", "0", NULL);
    expect_bad("Number of threads must be greater than 0", "-t", "-1", NULL);
    expect_bad("Number of threads must be greater than 0", "--threads=abc", NULL);
    expect_bad("Maximum connections must be greater than 0", "-c", "0", NULL);
    expect_bad("Number of requests per event must be greater than 0", "-R", "0", NULL);
    expect_bad("Factor must be greater than 1", "-f", "1.0", NULL);
    expect_bad("Chunk size must be greater than 0", "-n", "0", NULL);
    expect_bad("Item max size cannot be less than 1024 bytes.", "-I", "1023", NULL);
    expect_bad("Cannot set item size limit higher than a gigabyte.", "-I", "2g", NULL);
    /* The YAML file keeps 0 = one worker per online CPU. */
    struct options o;
    const char *path = write_file("threads0.yaml", "threads: 0\n");
    assert_int_equal(fresh(&o, "--config", path, NULL), 0);
    assert_int_equal(o.threads, 0);
    options_fini(&o);
}

static void
test_help_version(void **state)
{
    static const char *help_args[][2] = {
        {"-h", NULL}, {"--help", NULL}, {"-h", "--bogus"}, {"-p", "-h"}};
    for (size_t i = 0; i < sizeof(help_args) / sizeof(help_args[0]); i++) {
        struct options o;
        enum options_action act = OPTIONS_RUN;
        char *argv[] = {"stashd", (char *)help_args[i][0], (char *)help_args[i][1]};
        int argc = help_args[i][1] != NULL ? 3 : 2;
        options_init(&o);
        int rc = options_parse_args(&o, argc, argv, &act, err, sizeof(err));
        /* "-p -h": -h is -p's value, as with memcached's getopt; -p then fails. */
        assert_int_equal(rc, i == 3 ? -EINVAL : 0);
        assert_int_equal(act, i == 3 ? OPTIONS_RUN : OPTIONS_HELP);
        options_fini(&o);
    }
    struct options o;
    enum options_action act;
    char *argv[] = {"stashd", "-V"};
    char *argv2[] = {"stashd", "--version"};
    options_init(&o);
    assert_int_equal(options_parse_args(&o, 2, argv, &act, err, sizeof(err)), 0);
    assert_int_equal(act, OPTIONS_VERSION);
    assert_int_equal(options_parse_args(&o, 2, argv2, &act, err, sizeof(err)), 0);
    assert_int_equal(act, OPTIONS_VERSION);
    options_fini(&o);
}

/* ---- YAML ------------------------------------------------------------- */

static void
test_yaml_all_types(void **state)
{
    struct options o;
    const char *path = write_file("all.yaml", "# every type\n"
                                              "port: 2222\n"
                                              "listen: [10.0.0.1, '[::1]']\n"
                                              "unix_socket: \"/tmp/s.sock\"\n"
                                              "unix_mask: 0750\n"
                                              "memory_limit: 1g\n"
                                              "max_item_size: 2m\n"
                                              "growth_factor: 1.5\n"
                                              "evictions: off\n"
                                              "cas_enabled: no\n"
                                              "flush_enabled: False\n"
                                              "shutdown_enabled: yes\n"
                                              "daemonize: on\n"
                                              "verbosity: 2\n"
                                              "protocol: ascii\n"
                                              "idle_timeout: 60\n"
                                              "user: ~\n"
                                              "pid_file:\n"
                                              "log_format: 'json'\n");
    options_init(&o);
    assert_int_equal(options_load_yaml(&o, path, err, sizeof(err)), 0);
    assert_int_equal(o.port, 2222);
    assert_list(&o.listen, 2, "10.0.0.1", "[::1]");
    assert_string_equal(o.unix_socket, "/tmp/s.sock");
    assert_int_equal(o.unix_mask, 0750);
    assert_true(o.memory_limit == 1ull << 30);
    assert_true(o.max_item_size == 2u << 20);
    assert_true(o.growth_factor == 1.5);
    assert_false(o.evictions || o.cas_enabled || o.flush_enabled);
    assert_true(o.shutdown_enabled && o.daemonize);
    assert_int_equal(o.verbosity, 2);
    assert_string_equal(o.protocol, "ascii");
    assert_int_equal(o.idle_timeout, 60);
    assert_string_equal(o.user, "");
    assert_string_equal(o.pid_file, "");
    assert_string_equal(o.log_format, "json");
    options_fini(&o);
}

static void
test_yaml_lists(void **state)
{
    struct options o;
    options_init(&o);
    const char *path = write_file("list.yaml", "listen: a, b ,c\n");
    assert_int_equal(options_load_yaml(&o, path, err, sizeof(err)), 0);
    assert_list(&o.listen, 3, "a", "b", "c");
    path = write_file("list.yaml", "listen:\n  - x\n  - y\n");
    assert_int_equal(options_load_yaml(&o, path, err, sizeof(err)), 0);
    assert_list(&o.listen, 2, "x", "y");
    path = write_file("list.yaml", "listen: []\n");
    assert_int_equal(options_load_yaml(&o, path, err, sizeof(err)), 0);
    assert_int_equal(o.listen.n, 0);
    /* Empty file and comment-only file are fine and change nothing. */
    path = write_file("list.yaml", "");
    assert_int_equal(options_load_yaml(&o, path, err, sizeof(err)), 0);
    path = write_file("list.yaml", "# nothing\n---\n");
    assert_int_equal(options_load_yaml(&o, path, err, sizeof(err)), 0);
    assert_int_equal(o.port, 11211);
    options_fini(&o);
}

static void
test_yaml_errors(void **state)
{
    expect_yaml_error("port: 1\n\nbogus: 2\n", "line 3: key 'bogus'", "unknown key");
    expect_yaml_error("max-item-size: 2m\n", "line 1: key 'max-item-size'", "max_item_size");
    expect_yaml_error("# c\nport: abc\n", "line 2: key 'port'", "'abc'");
    expect_yaml_error("port: 1\nport: 2\n", "line 2: key 'port'", "more than once");
    expect_yaml_error("port:\n  - 1\n", "line 2: key 'port'", "not a list");
    expect_yaml_error("evictions: maybe\n", "line 1: key 'evictions'", "'maybe'");
    expect_yaml_error("listen:\n  - a\n  - [b]\n", "line 3: key 'listen'", "single values");
    expect_yaml_error("port: {a: 1}\n", "line 1: key 'port'", "mapping");
    expect_yaml_error("udp_port: 1\n", "key 'udp_port'", "-U must be 0");
    expect_yaml_error("- port\n", "line 1", "mapping");
    expect_yaml_error("port: 1\n---\nport: 2\n", "line 2", "one YAML document");
    expect_yaml_error("listen: [a, b\n", "line 2", "");
    expect_yaml_error("a: b: c\n", "line 1", "");

    struct options o;
    options_init(&o);
    char path[160];
    snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
    assert_int_equal(options_load_yaml(&o, path, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "missing.yaml"));
    options_fini(&o);
}

/* The in-memory entry point (used by the config fuzzer) parses alike:
 * values land, errors name the given name and line, no NUL needed. */
static void
test_yaml_buf(void **state)
{
    (void)state;
    struct options o;
    options_init(&o);
    const char good[] = "port: 11999\nthreads: 3\nXXX";
    assert_int_equal(
        options_load_yaml_buf(&o, "mem.yaml", good, sizeof(good) - 4, err, sizeof(err)), 0);
    assert_int_equal(o.port, 11999);
    assert_int_equal(o.threads, 3);
    options_fini(&o);

    options_init(&o);
    const char bad[] = "port: 1\nbogus: 2\n";
    assert_int_equal(options_load_yaml_buf(&o, "mem.yaml", bad, strlen(bad), err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "mem.yaml"));
    assert_non_null(strstr(err, "line 2: key 'bogus'"));
    options_fini(&o);

    options_init(&o);
    assert_int_equal(options_load_yaml_buf(&o, "empty.yaml", "", 0, err, sizeof(err)), 0);
    options_fini(&o);
}

static void
test_cli_overrides_yaml(void **state)
{
    struct options o;
    const char *path = write_file("a.yaml", "port: 2222\nlisten: [a, b]\nthreads: 3\n"
                                            "memory_limit: 128\n");
    char cfg[160];
    snprintf(cfg, sizeof(cfg), "--config=%s", path);
    /* The command line wins wherever --config appears on it. */
    assert_int_equal(fresh(&o, "-p", "3333", cfg, "-t", "5", NULL), 0);
    assert_int_equal(o.port, 3333);
    assert_int_equal(o.threads, 5);
    assert_true(o.memory_limit == 128ull << 20);
    assert_list(&o.listen, 2, "a", "b");
    assert_string_equal(o.config_file, path);
    options_fini(&o);
    /* -l replaces the YAML list rather than adding to it. */
    assert_int_equal(fresh(&o, "-l", "c", "--config", path, "-l", "d", NULL), 0);
    assert_list(&o.listen, 2, "c", "d");
    assert_int_equal(o.port, 2222);
    options_fini(&o);
    /* -v counts from zero on the command line, over the file's verbosity. */
    path = write_file("a.yaml", "verbosity: 2\n");
    assert_int_equal(fresh(&o, "--config", path, NULL), 0);
    assert_int_equal(o.verbosity, 2);
    assert_int_equal(parse(&o, "--config", path, "-v", NULL), 0);
    assert_int_equal(o.verbosity, 1);
    options_fini(&o);
    /* A bad config fails the parse and names the file. */
    const char *bad = write_file("bad.yaml", "port: x\n");
    assert_int_equal(fresh(&o, "--config", bad, NULL), -EINVAL);
    assert_non_null(strstr(err, "bad.yaml line 1: key 'port'"));
    options_fini(&o);
}

/* ---- options_finish --------------------------------------------------- */

static void
expect_finish_bad(struct options *o, const char *want)
{
    err[0] = '\0';
    if (options_finish(o, err, sizeof(err)) != -EINVAL || strstr(err, want) == NULL) {
        print_error("err \"%s\", wanted \"%s\"\n", err, want);
        fail();
    }
    options_fini(o);
}

static void
test_finish(void **state)
{
    struct options o;
    options_init(&o);
    assert_int_equal(options_finish(&o, err, sizeof(err)), 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(o.threads, cpus > 1024 ? 1024 : cpus);
    options_fini(&o);

    assert_int_equal(fresh(&o, "-t", "7", "-m", "2", "-I", "1m", NULL), 0);
    assert_int_equal(options_finish(&o, err, sizeof(err)), 0); /* exactly half is allowed */
    assert_int_equal(o.threads, 7);
    options_fini(&o);

    assert_int_equal(fresh(&o, "-m", "1", NULL), 0);
    expect_finish_bad(&o, "higher than 1/2 of memory max");
    assert_int_equal(fresh(&o, "-m", "64", "-I", "33m", NULL), 0);
    expect_finish_bad(&o, "-I/--max-item-size");

    /* Rules hold for values set directly, not only for parsed ones. */
    options_init(&o);
    o.udp_port = 11211;
    expect_finish_bad(&o, "-U must be 0");
    options_init(&o);
    o.shards = 6;
    expect_finish_bad(&o, "--shards");
    options_init(&o);
    o.growth_factor = 1.0;
    expect_finish_bad(&o, "-f/--slab-growth-factor");
    options_init(&o);
    free(o.protocol);
    o.protocol = strdup("memcache");
    expect_finish_bad(&o, "binding protocol");
    options_init(&o);
    free(o.log_format);
    o.log_format = strdup("xml");
    expect_finish_bad(&o, "--log-format");
    options_init(&o);
    o.port = 65536;
    expect_finish_bad(&o, "-p/--port");
}

/* ---- --help and stats settings ---------------------------------------- */

static void
test_help_lists_every_flag(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    options_print_help(f);
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
    assert_non_null(strstr(text, "--config=<file>"));
    assert_non_null(strstr(text, "-o, --extended"));
    assert_non_null(strstr(text, "-h, --help"));
    assert_non_null(strstr(text, "-V, --version"));
    free(text);
}

struct stats_buf {
    char text[4096];
    size_t len;
    int count;
};

static void
collect(void *ctx, const char *name, const char *value)
{
    struct stats_buf *b = ctx;
    b->len +=
        (size_t)snprintf(b->text + b->len, sizeof(b->text) - b->len, "STAT %s %s\n", name, value);
    b->count++;
}

static void
assert_stats(const struct options *o, ...)
{
    struct stats_buf b = {.len = 0};
    options_render_stats(o, collect, &b);
    va_list ap;
    va_start(ap, o);
    const char *line;
    while ((line = va_arg(ap, const char *)) != NULL) {
        char want[128];
        snprintf(want, sizeof(want), "STAT %s\n", line);
        if (strstr(b.text, want) == NULL) {
            print_error("missing \"%s\" in:\n%s", line, b.text);
            fail();
        }
    }
    va_end(ap);
}

static void
test_render_stats(void **state)
{
    struct options o;
    options_init(&o);
    assert_stats(&o, "maxbytes 67108864", "maxconns 1024", "tcpport 11211", "udpport 0",
                 "inter 127.0.0.1", "verbosity 0", "evictions on", "domain_socket NULL",
                 "umask 700", "shutdown_command no", "growth_factor 1.25", "chunk_size 48",
                 "num_threads 0", "reqs_per_event 20", "cas_enabled yes", "tcp_backlog 1024",
                 "binding_protocol auto-negotiate", "item_size_max 1048576", "flush_enabled yes",
                 "idle_timeout 0", NULL);
    struct stats_buf b = {.len = 0};
    options_render_stats(&o, collect, &b);
    int rows = 0;
#define COUNT_STATS(fd, ty, sf, lf, df, mn, mx, fv, sn, help) rows += (sn) != NULL;
    STASHD_OPTIONS(COUNT_STATS)
#undef COUNT_STATS
    assert_int_equal(b.count, rows);
    assert_null(strstr(b.text, "STAT user"));
    options_fini(&o);

    assert_int_equal(fresh(&o, "-M", "-C", "-F", "-A", "-B", "binary", "-l", "10.0.0.1", "-l",
                           "10.0.0.2:11311", "-a", "644", "-s", "/tmp/x.sock", "-f", "1.5", "-m",
                           "1g", "-vv", "-t", "4", NULL),
                     0);
    assert_stats(&o, "evictions off", "cas_enabled no", "flush_enabled no", "shutdown_command yes",
                 "binding_protocol binary", "inter 10.0.0.1,10.0.0.2:11311", "umask 644",
                 "domain_socket /tmp/x.sock", "growth_factor 1.50", "maxbytes 1073741824",
                 "verbosity 2", "num_threads 4", NULL);
    options_fini(&o);

    assert_int_equal(fresh(&o, "-B", "ascii", "-f", "1.08", NULL), 0);
    assert_stats(&o, "binding_protocol ascii", "growth_factor 1.08", NULL);
    options_fini(&o);
}

/* ---- conf/stashd.yaml -------------------------------------------------- */

static bool
eq_str(char *a, char *b)
{
    return strcmp(a, b) == 0;
}
static bool
eq_bool(bool a, bool b)
{
    return a == b;
}
static bool
eq_i64(int64_t a, int64_t b)
{
    return a == b;
}
static bool
eq_u64(uint64_t a, uint64_t b)
{
    return a == b;
}
static bool
eq_dbl(double a, double b)
{
    return a == b;
}
static bool
eq_list(struct options_list a, struct options_list b)
{
    if (a.n != b.n) {
        return false;
    }
    for (size_t i = 0; i < a.n; i++) {
        if (strcmp(a.v[i], b.v[i]) != 0) {
            return false;
        }
    }
    return true;
}
#define EQ(a, b)                                                                                   \
    _Generic((a), char *: eq_str, bool: eq_bool, int64_t: eq_i64, uint64_t: eq_u64,                \
             double: eq_dbl, struct options_list: eq_list)(a, b)

/* The repository root, from this file's path (CMake compiles it by its
 * absolute path), or $STASHD_CONF for the file itself. */
static void
example_conf_path(char *out, size_t len)
{
    const char *env = getenv("STASHD_CONF");
    const char *suffix = "tests/unit/util/test_options.c";
    if (env != NULL) {
        snprintf(out, len, "%s", env);
        return;
    }
    const char *here = __FILE__;
    size_t n = strlen(here), sl = strlen(suffix);
    assert_true(n >= sl && strcmp(here + n - sl, suffix) == 0);
    snprintf(out, len, "%.*sconf/stashd.yaml", (int)(n - sl), here);
}

static void
test_example_conf(void **state)
{
    char path[1024];
    example_conf_path(path, sizeof(path));
    struct options def, o;
    options_init(&def);
    options_init(&o);
    /* Load over values that differ from every default, so that a key the
     * file forgets leaves a difference behind. */
    o.port = 1;
    o.verbosity = 1;
    int rc = options_load_yaml(&o, path, err, sizeof(err));
    if (rc != 0) {
        print_error("%s\n", err);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(options_finish(&o, err, sizeof(err)), 0);
    def.threads = o.threads; /* filled in by finish */
#define CHECK_DEFAULT(fd, ty, sf, lf, df, mn, mx, fv, sn, help)                                    \
    if (!EQ(o.fd, def.fd)) {                                                                       \
        print_error("conf/stashd.yaml: %s is not the default %s\n", #fd, df);                      \
        fail();                                                                                    \
    }
    STASHD_OPTIONS(CHECK_DEFAULT)
#undef CHECK_DEFAULT
    options_fini(&o);
    options_fini(&def);

    /* Every key appears in the file, with its help text as the comment. */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char text[32768];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    char want[128];
#define CHECK_KEY(fd, ty, sf, lf, df, mn, mx, fv, sn, help)                                        \
    snprintf(want, sizeof(want), "\n%s:", #fd);                                                    \
    if (strstr(text, want) == NULL || strstr(text, help) == NULL) {                                \
        print_error("conf/stashd.yaml does not document %s\n", #fd);                               \
        fail();                                                                                    \
    }
    STASHD_OPTIONS(CHECK_KEY)
#undef CHECK_KEY
}

/* ---- --memory-limit auto ---------------------------------------------- */

/* A fake cgroup hierarchy under a temporary directory: files written with
 * cg_write() are removed, deepest first, by cg_cleanup(). */
static char cgroot[64];
static char cgpaths[16][256];
static int ncgpaths;

static void
cg_write(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", cgroot, rel);
    /* Make every directory on the way, remembering each for clean-up. */
    for (char *p = path + strlen(cgroot) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(path, 0700) == 0) {
            assert_true(ncgpaths < 16);
            snprintf(cgpaths[ncgpaths++], sizeof(cgpaths[0]), "%s", path);
        }
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_true(ncgpaths < 16);
    snprintf(cgpaths[ncgpaths++], sizeof(cgpaths[0]), "%s", path);
}

static void
cg_cleanup(void)
{
    while (ncgpaths > 0) {
        const char *p = cgpaths[--ncgpaths];
        if (unlink(p) != 0) {
            rmdir(p);
        }
    }
}

/* "-m auto -t 4" (plus args) under the fake hierarchy, with
 * /proc/self/cgroup saying proc; returns options_finish()'s result, the
 * limit in *mb. -t is given: the connection-buffer budget depends on it. */
static int
auto_limit(const char *proc, uint64_t *mb, const char *arg, const char *val)
{
    struct options o;
    cg_write("proc_self_cgroup", proc);
    char procpath[256];
    snprintf(procpath, sizeof(procpath), "%s/proc_self_cgroup", cgroot);
    setenv("STASHD_CGROUP_ROOT", cgroot, 1);
    setenv("STASHD_CGROUP_PROC", procpath, 1);
    assert_int_equal(fresh(&o, "-m", "auto", "-t", "4", arg, val, NULL), 0);
    assert_true(o.memory_limit == OPTIONS_MB_AUTO);
    err[0] = '\0';
    int rc = options_finish(&o, err, sizeof(err));
    if (rc != 0) {
        print_message("finish: %s\n", err);
    }
    *mb = o.memory_limit >> 20;
    options_fini(&o);
    unsetenv("STASHD_CGROUP_ROOT");
    unsetenv("STASHD_CGROUP_PROC");
    return rc;
}

static void
test_memory_auto(void **state)
{
    uint64_t mb;
    snprintf(cgroot, sizeof(cgroot), "/tmp/stashd-test-cgroup-XXXXXX");
    assert_non_null(mkdtemp(cgroot));

    /* cgroup v2, the container's own cgroup at the mount (cgroupns):
     * (1024 MiB - 48 MiB - 64 MiB of connection buffers) * 8/9 = 810.7 */
    cg_write("memory.max", "1073741824\n");
    assert_int_equal(auto_limit("0::/\n", &mb, NULL, NULL), 0);
    assert_int_equal(mb, 810);
    /* the budget grows with threads (16 * 4 * (1 MiB + 1 MiB) = 128 MiB)
     * and with -I (4 * 4 * (4 MiB + 1 MiB) = 80 MiB) */
    assert_int_equal(auto_limit("0::/\n", &mb, "-t", "16"), 0);
    assert_int_equal(mb, 753);
    assert_int_equal(auto_limit("0::/\n", &mb, "-I", "4m"), 0);
    assert_int_equal(mb, 796);

    /* no limit: refuse, naming the file */
    cg_write("memory.max", "max\n");
    assert_int_equal(auto_limit("0::/\n", &mb, NULL, NULL), -EINVAL);
    assert_non_null(strstr(err, "-m/--memory-limit auto: no cgroup memory limit"));
    assert_non_null(strstr(err, "memory.max"));

    /* v2 without cgroupns: the pod's cgroup sets 512 MiB, the container's
     * says max; the smallest on the way up binds: (512 - 112) * 8/9. */
    cg_write("kubepods/pod1/ctr/memory.max", "max\n");
    cg_write("kubepods/pod1/memory.max", "536870912\n");
    assert_int_equal(auto_limit("0::/kubepods/pod1/ctr\n", &mb, NULL, NULL), 0);
    assert_int_equal(mb, 355);

    /* too small a limit for -m auto */
    cg_write("kubepods/pod1/memory.max", "67108864\n");
    assert_int_equal(auto_limit("0::/kubepods/pod1/ctr\n", &mb, NULL, NULL), -EINVAL);
    assert_non_null(strstr(err, "too small"));
    cg_cleanup();

    /* cgroup v1: memory.limit_in_bytes under <root>/memory; the root's
     * "unlimited" (2^63 - 4096) is no limit. (2048 - 112) * 8/9. */
    cg_write("memory/memory.limit_in_bytes", "9223372036854771712\n");
    assert_int_equal(auto_limit("4:memory:/docker/abc\n0::/\n", &mb, NULL, NULL), -EINVAL);
    cg_write("memory/docker/abc/memory.limit_in_bytes", "2147483648\n");
    assert_int_equal(auto_limit("5:cpu,cpuacct:/\n4:memory:/docker/abc\n0::/\n", &mb, NULL, NULL),
                     0);
    assert_int_equal(mb, 1720);
    cg_cleanup();

    /* no cgroup files at all */
    assert_int_equal(auto_limit("0::/\n", &mb, NULL, NULL), -EINVAL);
    assert_non_null(strstr(err, "no cgroup memory limit"));
    cg_cleanup();

    /* "auto" is a value like any other: YAML and -o; not for other types */
    struct options o;
    options_init(&o);
    assert_int_equal(
        options_load_yaml(&o, write_file("a.yaml", "memory_limit: auto\n"), err, sizeof(err)), 0);
    assert_true(o.memory_limit == OPTIONS_MB_AUTO);
    options_fini(&o);
    assert_int_equal(fresh(&o, "-o", "memory_limit=auto", NULL), 0);
    assert_true(o.memory_limit == OPTIONS_MB_AUTO);
    options_fini(&o);
    expect_bad("-I/--max-item-size", "-I", "auto", NULL);
    expect_bad("-m/--memory-limit", "-m", "autox", NULL);
    assert_int_equal(rmdir(cgroot), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flag_styles),
        cmocka_unit_test(test_bool_flags),
        cmocka_unit_test(test_verbosity),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_mb_and_size),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_extended),
        cmocka_unit_test(test_ignored_flags),
        cmocka_unit_test(test_memcached_refusals),
        cmocka_unit_test(test_help_version),
        cmocka_unit_test(test_yaml_all_types),
        cmocka_unit_test(test_yaml_lists),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_cli_overrides_yaml),
        cmocka_unit_test(test_finish),
        cmocka_unit_test(test_help_lists_every_flag),
        cmocka_unit_test(test_render_stats),
        cmocka_unit_test(test_example_conf),
        cmocka_unit_test(test_memory_auto),
        cmocka_unit_test(test_yaml_buf),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
