/*
 * Unit tests for server/config_cli: memcached's flag spellings, -o lists,
 * the memcached flags and -o keys accepted and ignored, memcached's
 * refusal messages, -h/-V, and the command line over a --config file.
 */
#include "config_fixture.h"

/* ---- flag spellings ---------------------------------------------------- */

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

/* Units are util/optdesc's (tests/unit/util/test_options.c); here, that
 * flags pass them through and failures name the flag as spelled. */
static void
test_mb_and_size(void **state)
{
    struct options o;
    assert_int_equal(fresh(&o, "-m", "64", "-I", "2048", NULL), 0);
    assert_true(o.memory_limit == 64ull << 20);
    assert_true(o.max_item_size == 2048);
    assert_int_equal(parse(&o, "--memory-limit=64k", "--max-item-size=512k", NULL), 0);
    assert_true(o.memory_limit == 64ull << 10);
    assert_true(o.max_item_size == 512u << 10);
    assert_int_equal(parse(&o, "-m3G", "-I", "1g", NULL), 0);
    assert_true(o.memory_limit == 3ull << 30);
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
    expect_bad("-o ssl_verify_mode: 4 is out of range [0, 3]", "-o", "ssl_verify_mode=4", NULL);
    expect_bad("-o ssl_min_version", "-o", "ssl_min_version=tlsv1.2", NULL);
    expect_bad("--ssl-keyformat", "--ssl-keyformat=3", NULL);
    expect_bad("unexpected argument 'modern'", "-m", "64", "modern", NULL);
    expect_bad("--config given more than once", "--config", "a", "--config=b", NULL);
}

/* memcached's -Z and -o ssl_* keys, Redis's --tls-port, and the same
 * keys in YAML. */
static void
test_tls_options(void **state)
{
    struct options o;
    assert_int_equal(fresh(&o, "-Z", "-o",
                           "ssl_chain_cert=/c.pem,ssl_key=/k.pem,ssl_ca_cert=/ca.pem,"
                           "ssl_verify_mode=2,ssl_session_cache,ssl_min_version=3,"
                           "ssl_wbuf_size=32,ssl_ciphers=HIGH,ssl_kernel_tls",
                           "--tls-port", "6380", "-l", "notls:127.0.0.1:11212", NULL),
                     0);
    assert_true(o.ssl_enabled);
    assert_string_equal(o.ssl_chain_cert, "/c.pem");
    assert_string_equal(o.ssl_key, "/k.pem");
    assert_string_equal(o.ssl_ca_cert, "/ca.pem");
    assert_string_equal(o.ssl_ciphers, "HIGH");
    assert_int_equal(o.ssl_verify_mode, 2);
    assert_int_equal(o.ssl_min_version, 3);
    assert_int_equal(o.ssl_wbuf_size, 32);
    assert_true(o.ssl_session_cache);
    assert_true(o.ssl_kernel_tls);
    assert_int_equal(o.tls_port, 6380);
    assert_list(&o.listen, 1, "notls:127.0.0.1:11212");
    options_fini(&o);
    assert_int_equal(fresh(&o, "--enable-ssl", "--ssl-chain-cert=/x.pem", NULL), 0);
    assert_true(o.ssl_enabled);
    assert_string_equal(o.ssl_chain_cert, "/x.pem");
    options_fini(&o);
    const char *path = write_file("tls.yaml", "ssl_enabled: true\nssl_chain_cert: /y.pem\n"
                                              "ssl_verify_mode: 1\ntls_port: 6390\n");
    assert_int_equal(fresh(&o, "--config", path, NULL), 0);
    assert_true(o.ssl_enabled);
    assert_string_equal(o.ssl_chain_cert, "/y.pem");
    assert_int_equal(o.ssl_verify_mode, 1);
    assert_int_equal(o.tls_port, 6390);
    options_fini(&o);
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
    assert_int_equal(fresh(&o, "-k", "-L", "-r", "-X", "-W", "-D", ":", "-N", "2", "--lock-memory",
                           "--enable-largepages", "--enable-coredumps", "--napi-ids=1", "-p",
                           "5000", NULL),
                     0);
    assert_int_equal(o.port, 5000);
    options_fini(&o);
    /* -e (memcached's restartable cache) is a real option: the memory file. */
    assert_int_equal(fresh(&o, "-e", "/dev/shm/mem", NULL), 0);
    assert_string_equal(o.memory_file, "/dev/shm/mem");
    options_fini(&o);
    assert_int_equal(fresh(&o, "--memory-file=/tmp/m", NULL), 0);
    assert_string_equal(o.memory_file, "/tmp/m");
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
        enum config_action act = CONFIG_RUN;
        char *argv[] = {"stashd", (char *)help_args[i][0], (char *)help_args[i][1]};
        int argc = help_args[i][1] != NULL ? 3 : 2;
        options_init(&o);
        int rc = config_parse_args(&o, argc, argv, &act, err, sizeof(err));
        /* "-p -h": -h is -p's value, as with memcached's getopt; -p then fails. */
        assert_int_equal(rc, i == 3 ? -EINVAL : 0);
        assert_int_equal(act, i == 3 ? CONFIG_RUN : CONFIG_HELP);
        options_fini(&o);
    }
    struct options o;
    enum config_action act;
    char *argv[] = {"stashd", "-V"};
    char *argv2[] = {"stashd", "--version"};
    options_init(&o);
    assert_int_equal(config_parse_args(&o, 2, argv, &act, err, sizeof(err)), 0);
    assert_int_equal(act, CONFIG_VERSION);
    assert_int_equal(config_parse_args(&o, 2, argv2, &act, err, sizeof(err)), 0);
    assert_int_equal(act, CONFIG_VERSION);
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flag_styles),        cmocka_unit_test(test_bool_flags),
        cmocka_unit_test(test_verbosity),          cmocka_unit_test(test_listen),
        cmocka_unit_test(test_mb_and_size),        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_extended),           cmocka_unit_test(test_ignored_flags),
        cmocka_unit_test(test_memcached_refusals), cmocka_unit_test(test_help_version),
        cmocka_unit_test(test_cli_overrides_yaml), cmocka_unit_test(test_tls_options),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
