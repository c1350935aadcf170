/* Unit tests for bench/procstat: a process's user and system CPU time and
 * RSS read from /proc. This process is its own subject: busy work in user
 * space shows in user time, system calls in system time, a command name
 * with spaces and parentheses (which /proc/PID/stat prints inside its
 * second field) does not shift the fields, and a process that is not
 * there reads as -1. Context switches add up every thread's: each sleep
 * of this process's threads is at least one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "procstat.h"

static double
mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Spins in user space until user time has moved past where it was (at
 * most 5 s): the clock tick is 10 ms, so this takes a tick or two. */
static void
test_user_time_grows_with_user_work(void **state)
{
    struct procstat_cpu c0, c1;
    assert_int_equal(procstat_cpu(getpid(), &c0), 0);
    assert_true(c0.user >= 0 && c0.sys >= 0);
    volatile uint64_t x = 1;
    double end = mono_s() + 5;
    do {
        for (int i = 0; i < 1000000; i++) {
            x = x * 6364136223846793005u + 1442695040888963407u;
        }
        assert_int_equal(procstat_cpu(getpid(), &c1), 0);
    } while (c1.user <= c0.user && mono_s() < end);
    assert_true(c1.user > c0.user);
    assert_true(c1.sys >= c0.sys); /* never goes back */
}

/* System calls that do work in the kernel (reading /dev/zero into a
 * large buffer) show in system time. */
static void
test_sys_time_grows_with_syscalls(void **state)
{
    static char buf[1 << 20];
    int fd = open("/dev/zero", O_RDONLY);
    assert_true(fd >= 0);
    struct procstat_cpu c0, c1;
    assert_int_equal(procstat_cpu(getpid(), &c0), 0);
    double end = mono_s() + 5;
    do {
        for (int i = 0; i < 64; i++) {
            assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
        }
        assert_int_equal(procstat_cpu(getpid(), &c1), 0);
    } while (c1.sys <= c0.sys && mono_s() < end);
    close(fd);
    assert_true(c1.sys > c0.sys);
    assert_true(c1.user >= c0.user);
}

/* A command name of ") (x y) 1 2" must not shift utime and stime: the
 * fields are counted from the last ')'. With the name shifted, the
 * numbers read would be other fields (flags, fault counts), which do not
 * match the times read under a plain name. */
static void
test_command_name_with_parentheses(void **state)
{
    char old[17] = {0};
    assert_int_equal(prctl(PR_GET_NAME, old, 0, 0, 0), 0);
    struct procstat_cpu plain, odd, after;
    assert_int_equal(procstat_cpu(getpid(), &plain), 0);
    assert_int_equal(prctl(PR_SET_NAME, ") (x y) 1 2", 0, 0, 0), 0);
    assert_int_equal(procstat_cpu(getpid(), &odd), 0);
    assert_int_equal(prctl(PR_SET_NAME, old, 0, 0, 0), 0);
    assert_int_equal(procstat_cpu(getpid(), &after), 0);
    assert_true(plain.user <= odd.user && odd.user <= after.user);
    assert_true(plain.sys <= odd.sys && odd.sys <= after.sys);
    assert_true(after.user - plain.user < 1 && after.sys - plain.sys < 1);
}

static pthread_barrier_t napped, done;

static void *
nap_10(void *arg)
{
    struct timespec ms = {.tv_nsec = 1000000};
    for (int i = 0; i < 10; i++) {
        nanosleep(&ms, NULL);
    }
    pthread_barrier_wait(&napped);
    pthread_barrier_wait(&done);
    return arg;
}

/* Each nanosleep gives the CPU up: a voluntary switch, counted for the
 * thread that slept. Ten of them in another thread than the main one
 * show in the process's count while that thread lives. */
static void
test_switches_count_every_thread(void **state)
{
    struct procstat_cpu c0, c1;
    assert_int_equal(procstat_cpu(getpid(), &c0), 0);
    assert_true(c0.switches >= 0);
    assert_int_equal(pthread_barrier_init(&napped, NULL, 2), 0);
    assert_int_equal(pthread_barrier_init(&done, NULL, 2), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, nap_10, NULL), 0);
    pthread_barrier_wait(&napped);
    assert_int_equal(procstat_cpu(getpid(), &c1), 0);
    pthread_barrier_wait(&done);
    assert_int_equal(pthread_join(t, NULL), 0);
    pthread_barrier_destroy(&napped);
    pthread_barrier_destroy(&done);
    assert_true(c1.switches >= c0.switches + 10);
    assert_true(c1.switches < c0.switches + 100000);
}

static void
test_missing_process(void **state)
{
    struct procstat_cpu c = {.user = 7, .sys = 7, .switches = 7};
    /* PIDs stop at pid_max (at most 2^22): this one is never a process */
    assert_int_equal(procstat_cpu(1L << 30, &c), -1);
    assert_int_equal(procstat_rss_kb(1L << 30), -1);
    assert_true(procstat_rss_kb(getpid()) > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_time_grows_with_user_work),
        cmocka_unit_test(test_sys_time_grows_with_syscalls),
        cmocka_unit_test(test_command_name_with_parentheses),
        cmocka_unit_test(test_switches_count_every_thread),
        cmocka_unit_test(test_missing_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
