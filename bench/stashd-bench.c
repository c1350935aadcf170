/*
 * stashd-bench: a closed-loop load generator for memcached- and
 * Redis-compatible servers, in the spirit of memtier_benchmark, that
 * verifies every reply. This file only composes the modules:
 *
 *   options.c   the command line (table-driven; --help)
 *   engine.c    connections, worker threads and their epoll loops,
 *               request generation, reply verification (proto.c, value.c)
 *   procstat.c  the server's CPU time and RSS from /proc (--server-pid)
 *   report.c    the text and JSON reports
 *
 * The main thread parses the options, starts the engine, samples the
 * server's CPU time at both ends of the measured window (sleeping in
 * between; workers never touch /proc), joins the workers and reports.
 * SIGINT and SIGTERM stop the load; what was measured is still reported.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine.h"
#include "options.h"
#include "procstat.h"
#include "report.h"

static struct engine *the_engine; /* for the signal handler only */

static void
on_signal(int sig)
{
    engine_stop(the_engine);
}

/* Runs the load and, with --server-pid, samples the server's CPU time at
 * the ends of the measured window (in --requests mode the window ends when
 * the workers do) and its RSS at the end. */
static void
run_and_sample(struct engine *e, const struct options *o, double *cpu_s, long *rss_kb)
{
    double cpu0 = -1, cpu1 = -1;
    if (o->server_pid) {
        engine_sleep_until(e, engine_window_start(e));
        cpu0 = procstat_cpu_s(o->server_pid);
        if (!o->requests) {
            engine_sleep_until(e, engine_window_end(e));
            cpu1 = procstat_cpu_s(o->server_pid);
        }
    }
    engine_join(e);
    if (o->server_pid) {
        if (o->requests) {
            cpu1 = procstat_cpu_s(o->server_pid);
        }
        if (cpu0 >= 0 && cpu1 >= 0) {
            *cpu_s = cpu1 - cpu0;
        }
        *rss_kb = procstat_rss_kb(o->server_pid);
    }
}

/* Says on stderr how the run ended when it did not end as asked. */
static void
note_ending(const struct engine *e, const struct options *o, struct report *rp)
{
    if (engine_stopped(e)) {
        fprintf(stderr, "stashd-bench: interrupted; reporting what was measured\n");
    }
    if (rp->st.cut) {
        /* The run did not do what it was asked (fewer requests, a shorter
         * window, keys not preloaded): one error, so that the exit status
         * and the JSON's error count both say so. */
        rp->st.errors++;
        fprintf(stderr,
                "stashd-bench: the --max-time deadline (%g s) stopped the run before it was "
                "done; reporting what was measured\n",
                o->max_time_s);
    }
}

int
main(int argc, char **argv)
{
    static struct options opts;
    static struct engine_stats st;
    static struct report rp;
    options_defaults(&opts);
    options_parse(&opts, argc, argv);

    struct engine *e = NULL;
    if (engine_create(&e, &opts) != 0) {
        engine_destroy(&e);
        return 2;
    }
    the_engine = e;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (engine_start(e) != 0) {
        engine_destroy(&e);
        return 2;
    }

    double preload_s = engine_begin_run(e);
    double cpu_s = -1;
    long rss_kb = -1;
    run_and_sample(e, &opts, &cpu_s, &rss_kb);
    engine_collect(e, &st);
    report_init(&rp, &st);
    rp.preload_s = preload_s;
    rp.duration_s = engine_measured_s(e, &st);
    rp.cpu_s = cpu_s;
    rp.rss_kb = rss_kb;
    note_ending(e, &opts, &rp);

    int rc = report_write(&opts, &rp) != 0 ? 2 : rp.st.errors ? 1 : 0;
    engine_destroy(&e);
    return rc;
}
