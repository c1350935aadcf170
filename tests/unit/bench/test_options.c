/* Unit tests for bench/options: every kind of table row stores into its own
 * field (a wrong offsetof would show here as a value in the wrong place),
 * short and long spellings agree, bounds and combinations are refused with
 * exit status 2 (checked in a child process, since a usage error exits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "options.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1)

static void
parse(struct options *o, int argc, char **argv)
{
    options_defaults(o);
    optind = 0; /* getopt_long: start over, and re-initialise */
    options_parse(o, argc, argv);
}

static void
test_defaults(void **state)
{
    char *argv[] = {"b", NULL};
    struct options o;
    parse(&o, ARGC(argv), argv);
    assert_string_equal(o.host, "127.0.0.1");
    assert_string_equal(o.port, "11211");
    assert_int_equal(o.proto, PROTO_MC_TEXT);
    assert_int_equal(o.threads, 1);
    assert_int_equal(o.conns, 50);
    assert_int_equal(o.pipeline, 1);
    assert_int_equal(o.preload_pipeline, 32);
    assert_true(o.time_s == 10 && !o.time_given);
    assert_int_equal(o.ratio_set, 1);
    assert_int_equal(o.ratio_get, 10);
    assert_int_equal(o.keys, 100000);
    assert_int_equal(o.vmin, 100);
    assert_int_equal(o.vmax, 100);
    assert_true(o.reply_timeout_s == 5 && o.max_time_s == 300);
    assert_false(o.preload || o.set_on_miss || o.quiet);
    assert_null(o.json);
}

static void
test_every_kind_stores_its_field(void **state)
{
    /* clang-format off */
    char *argv[] = {"b", "-s", "::1", "-p", "6379", "-P", "resp", "-t", "3", "-c", "7",
                    "--pipeline", "16", "--warmup", "0.5", "--preload",
                    "--preload-pipeline", "8", "--ratio", "2:5", "--multiget", "4",
                    "-k", "1234", "--key-min", "10", "--key-prefix", "x:",
                    "--key-size", "8-40", "--dist", "zipf", "--zipf-s", "1.2",
                    "--value-range", "10-2000", "--value-dist", "log", "--json", "-", "--server-pid", "42",
                    "--cpu-pin", "1,3-5", "--reply-timeout", "0.25", "--max-time", "9",
                    "--seed", "77", "-q", "--time", "2.5", "--tls", "--tls-ca", "ca.pem",
                    "--tls-cert", "c.pem", "--tls-key", "k.pem", "--rate", "2500.5", NULL};
    /* clang-format on */
    struct options o;
    parse(&o, ARGC(argv), argv);
    assert_string_equal(o.host, "::1");
    assert_string_equal(o.port, "6379");
    assert_int_equal(o.proto, PROTO_RESP);
    assert_int_equal(o.threads, 3);
    assert_int_equal(o.conns, 7);
    assert_int_equal(o.pipeline, 16);
    assert_true(o.warmup_s == 0.5);
    assert_true(o.preload);
    assert_int_equal(o.preload_pipeline, 8);
    assert_int_equal(o.ratio_set, 2);
    assert_int_equal(o.ratio_get, 5);
    assert_int_equal(o.multiget, 4);
    assert_int_equal(o.keys, 1234);
    assert_int_equal(o.key_min, 10);
    assert_string_equal(o.key_prefix, "x:");
    assert_int_equal(o.key_size, 8);
    assert_int_equal(o.key_size_max, 40);
    assert_int_equal(o.dist, KEYSPACE_ZIPF);
    assert_true(o.zipf_s == 1.2);
    assert_int_equal(o.vmin, 10);
    assert_int_equal(o.vmax, 2000);
    assert_true(o.vlog);
    assert_string_equal(o.json, "-");
    assert_int_equal(o.server_pid, 42);
    assert_int_equal(o.ncpus, 4);
    assert_int_equal(o.cpus[0], 1);
    assert_int_equal(o.cpus[1], 3);
    assert_int_equal(o.cpus[3], 5);
    assert_true(o.reply_timeout_s == 0.25 && o.max_time_s == 9);
    assert_int_equal(o.seed, 77);
    assert_true(o.quiet);
    assert_true(o.time_s == 2.5 && o.time_given);
    assert_false(o.set_on_miss);
    assert_true(o.tls && !o.tls_insecure);
    assert_string_equal(o.tls_ca, "ca.pem");
    assert_string_equal(o.tls_cert, "c.pem");
    assert_string_equal(o.tls_key, "k.pem");
    assert_true(o.rate == 2500.5);
}

static void
test_long_and_short_agree(void **state)
{
    char *a[] = {"b", "--threads", "5", "--value-size", "64", "--requests", "9", NULL};
    char *b[] = {"b", "-t", "5", "-d", "64", "-n", "9", NULL};
    struct options x, y;
    parse(&x, ARGC(a), a);
    parse(&y, ARGC(b), b);
    assert_int_equal(x.threads, 5);
    assert_int_equal(x.vmin, 64);
    assert_int_equal(x.vmax, 64);
    assert_int_equal(x.requests, 9);
    assert_int_equal(y.threads, 5);
    assert_int_equal(y.vmin, 64);
    assert_int_equal(y.vmax, 64);
    assert_int_equal(y.requests, 9);
}

static void
test_names(void **state)
{
    assert_string_equal(options_dist_name(KEYSPACE_UNIFORM), "uniform");
    assert_string_equal(options_dist_name(KEYSPACE_SEQUENTIAL), "sequential");
    assert_string_equal(options_dist_name(KEYSPACE_ZIPF), "zipf");
}

/* Exit status of options_parse() on argv in a child; -1 if it returned. */
static int
child_status(char **argv)
{
    int argc = 0;
    while (argv[argc] != NULL) {
        argc++;
    }
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        freopen("/dev/null", "w", stdout);
        struct options o;
        parse(&o, argc, argv);
        _exit(99);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st) == 99 ? -1 : WEXITSTATUS(st);
}

/* resp-multi: --multiget is the commands per transaction, 3 unless given;
 * the other protocols keep their default of 1. */
static void
test_multi_commands(void **state)
{
    struct options o;
    char *dflt[] = {"b", "-P", "resp-multi", NULL};
    parse(&o, ARGC(dflt), dflt);
    assert_int_equal(o.proto, PROTO_RESP_MULTI);
    assert_int_equal(o.multiget, 3);
    char *given[] = {"b", "--multiget", "5", "-P", "resp-multi", NULL};
    parse(&o, ARGC(given), given);
    assert_int_equal(o.multiget, 5);
    char *plain[] = {"b", "-P", "resp", NULL};
    parse(&o, ARGC(plain), plain);
    assert_int_equal(o.multiget, 1);
}

static void
test_refused(void **state)
{
    char *bad[][6] = {
        {"b", "-t", "0", NULL},
        {"b", "-t", "1025", NULL},
        {"b", "-t", "-1", NULL},
        {"b", "-c", "2x", NULL},
        {"b", "-p", "0", NULL},
        {"b", "-p", "65536", NULL},
        {"b", "-P", "http", NULL},
        {"b", "--ratio", "0:0", NULL},
        {"b", "--ratio", "1:2:3", NULL},
        {"b", "--key-size", "0", NULL},
        {"b", "--key-size", "251", NULL},
        {"b", "--key-size", "9-8", NULL},
        {"b", "--value-range", "0-5", NULL},
        {"b", "--dist", "pareto", NULL},
        {"b", "--value-dist", "zipf", NULL},
        {"b", "--zipf-s", "0", NULL},
        {"b", "--max-time", "0", NULL},
        {"b", "--cpu-pin", "1-", NULL},
        {"b", "--cpu-pin", "a", NULL},
        {"b", "--time", "-1", NULL},
        {"b", "--time", "0", NULL},
        {"b", "--time", "1", "-n", "5"},
        {"b", "--set-on-miss", "--multiget", "2", NULL},
        {"b", "-P", "resp-multi", "--multiget", "1", NULL},
        {"b", "-P", "resp-multi", "--set-on-miss", NULL},
        {"b", "--no-such-option", NULL},
        {"b", "stray", NULL},
        {"b", "--tls-ca", "ca.pem", NULL},
        {"b", "--rate", "-1", NULL},
        {"b", "--tls-insecure", NULL},
        {"b", "--tls", "--tls-key", "k.pem", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (child_status(bad[i]) != 2) {
            fail_msg("accepted: %s %s %s", bad[i][1], bad[i][2] ? bad[i][2] : "",
                     bad[i][2] && bad[i][3] ? bad[i][3] : "");
        }
    }
    char *ok[] = {"b", "--time", "0", "--preload", NULL};
    assert_int_equal(child_status(ok), -1);
    char *tls[] = {"b", "--tls", "--tls-cert", "c.pem", "--tls-insecure", NULL};
    assert_int_equal(child_status(tls), -1);
    char *help[] = {"b", "--help", NULL};
    assert_int_equal(child_status(help), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_kind_stores_its_field),
        cmocka_unit_test(test_long_and_short_agree),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_multi_commands),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
