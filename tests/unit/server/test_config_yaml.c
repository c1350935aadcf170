/*
 * Unit tests for server/config_yaml: every value type from a file, lists,
 * errors that name the file, line and key, the in-memory entry point the
 * fuzzer uses, and that conf/stashd.yaml documents every option at its
 * default.
 */
#include "config_fixture.h"

#include <stdbool.h>

static void
expect_yaml_error(const char *text, const char *want1, const char *want2)
{
    struct options o;
    options_init(&o);
    const char *path = write_file("bad.yaml", text);
    int rc = config_load_yaml(&o, path, err, sizeof(err));
    if (rc != -EINVAL || strstr(err, want1) == NULL || strstr(err, want2) == NULL ||
        strstr(err, path) == NULL) {
        print_error("rc %d, err \"%s\", wanted \"%s\" and \"%s\"\n", rc, err, want1, want2);
        fail();
    }
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
    assert_int_equal(config_load_yaml(&o, path, err, sizeof(err)), 0);
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
    assert_int_equal(config_load_yaml(&o, path, err, sizeof(err)), 0);
    assert_list(&o.listen, 3, "a", "b", "c");
    path = write_file("list.yaml", "listen:\n  - x\n  - y\n");
    assert_int_equal(config_load_yaml(&o, path, err, sizeof(err)), 0);
    assert_list(&o.listen, 2, "x", "y");
    path = write_file("list.yaml", "listen: []\n");
    assert_int_equal(config_load_yaml(&o, path, err, sizeof(err)), 0);
    assert_int_equal(o.listen.n, 0);
    /* Empty file and comment-only file are fine and change nothing. */
    path = write_file("list.yaml", "");
    assert_int_equal(config_load_yaml(&o, path, err, sizeof(err)), 0);
    path = write_file("list.yaml", "# nothing\n---\n");
    assert_int_equal(config_load_yaml(&o, path, err, sizeof(err)), 0);
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
    assert_int_equal(config_load_yaml(&o, path, err, sizeof(err)), -ENOENT);
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
    assert_int_equal(config_load_yaml_buf(&o, "mem.yaml", good, sizeof(good) - 4, err, sizeof(err)),
                     0);
    assert_int_equal(o.port, 11999);
    assert_int_equal(o.threads, 3);
    options_fini(&o);

    options_init(&o);
    const char bad[] = "port: 1\nbogus: 2\n";
    assert_int_equal(config_load_yaml_buf(&o, "mem.yaml", bad, strlen(bad), err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "mem.yaml"));
    assert_non_null(strstr(err, "line 2: key 'bogus'"));
    options_fini(&o);

    options_init(&o);
    assert_int_equal(config_load_yaml_buf(&o, "empty.yaml", "", 0, err, sizeof(err)), 0);
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
    const char *suffix = "tests/unit/server/test_config_yaml.c";
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
    int rc = config_load_yaml(&o, path, err, sizeof(err));
    if (rc != 0) {
        print_error("%s\n", err);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(config_finish(&o, err, sizeof(err)), 0);
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_yaml_all_types), cmocka_unit_test(test_yaml_lists),
        cmocka_unit_test(test_yaml_errors),    cmocka_unit_test(test_yaml_buf),
        cmocka_unit_test(test_example_conf),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
