/*
 * Unit tests for server/config: the checks once every option is read
 * (config_finish), the whole of --help, and -m auto against fake cgroup
 * v1 and v2 hierarchies (server/cgroup).
 */
#include "config_fixture.h"

#include "stashd/net/net.h"

/* ---- config_finish ---------------------------------------------------- */

static void
expect_finish_bad(struct options *o, const char *want)
{
    err[0] = '\0';
    if (config_finish(o, err, sizeof(err)) != -EINVAL || strstr(err, want) == NULL) {
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
    assert_int_equal(config_finish(&o, err, sizeof(err)), 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(o.threads, cpus > 1024 ? 1024 : cpus);
    options_fini(&o);

    assert_int_equal(fresh(&o, "-t", "7", "-m", "2", "-I", "1m", NULL), 0);
    assert_int_equal(config_finish(&o, err, sizeof(err)), 0); /* exactly half is allowed */
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

/* ---- --help ----------------------------------------------------------- */

static void
test_help(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    config_print_help(f);
    fclose(f);
    /* Every row's line is util's (tests/unit/util/test_options.c); here,
     * that they are all there, between the usage and the command line's
     * own flags. */
    char *rows = NULL;
    size_t rlen = 0;
    f = open_memstream(&rows, &rlen);
    assert_non_null(f);
    options_print_help(f);
    fclose(f);
    char *at = strstr(text, rows);
    assert_non_null(at);
    assert_true(at > strstr(text, "Usage: stashd"));
    assert_true(at < strstr(text, "--config=<file>"));
    free(rows);
    assert_non_null(strstr(text, "--config=<file>"));
    assert_non_null(strstr(text, "-o, --extended"));
    assert_non_null(strstr(text, "-h, --help"));
    assert_non_null(strstr(text, "-V, --version"));
    assert_non_null(strstr(text, "ignored: -k -L -r -D <arg>"));
    free(text);
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
 * /proc/self/cgroup saying proc; returns config_finish()'s result, the
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
    int rc = config_finish(&o, err, sizeof(err));
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
    /* The figures below take net/'s budget from its header: 64 MiB, and
     * 4 * (max_item_size + 256 KiB) per worker. */
    assert_true(NET_CONN_BUDGET == 64u << 20);
    assert_true(NET_CONN_WORST(1u << 20) == 5u << 20);
    snprintf(cgroot, sizeof(cgroot), "/tmp/stashd-test-cgroup-XXXXXX");
    assert_non_null(mkdtemp(cgroot));

    /* cgroup v2, the container's own cgroup at the mount (cgroupns):
     * (1024 MiB - 48 MiB - 64 MiB of connection buffers) * 8/9 = 810.7 */
    cg_write("memory.max", "1073741824\n");
    assert_int_equal(auto_limit("0::/\n", &mb, NULL, NULL), 0);
    assert_int_equal(mb, 810);
    /* the budget grows with threads (16 * 4 * (1 MiB + 256 KiB) = 80 MiB)
     * and with -I (4 * 4 * (4 MiB + 256 KiB) = 68 MiB) */
    assert_int_equal(auto_limit("0::/\n", &mb, "-t", "16"), 0);
    assert_int_equal(mb, 796);
    assert_int_equal(auto_limit("0::/\n", &mb, "-I", "4m"), 0);
    assert_int_equal(mb, 807);

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
        config_load_yaml(&o, write_file("a.yaml", "memory_limit: auto\n"), err, sizeof(err)), 0);
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
        cmocka_unit_test(test_finish),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_memory_auto),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
