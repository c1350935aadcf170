/*
 * stashd-bench: a closed-loop load generator for memcached- and
 * Redis-compatible servers, in the spirit of memtier_benchmark, that
 * verifies every reply. This file only composes the modules:
 *
 *   options.c   the command line (table-driven; --help)
 *   engine.c    connections, worker threads and their epoll loops,
 *               request generation, reply verification (proto.c, value.c)
 *   procstat.c  the server's CPU time and RSS from /proc (--server-pid)
 *   progress.c  the live progress line on a terminal
 *   report.c    the text and JSON reports
 *
 * The main thread parses the options, starts the engine, samples the
 * server's CPU time at both ends of the measured window (sleeping in
 * between; workers never touch /proc), joins the workers and reports. On
 * a terminal it wakes once a second on the way to show the progress line.
 * SIGINT and SIGTERM stop the load; what was measured is still reported.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine.h"
#include "options.h"
#include "procstat.h"
#include "progress.h"
#include "report.h"

static struct engine *the_engine; /* for the signal handler only */

static void
on_signal(int sig)
{
    engine_stop(the_engine);
}

/* engine_sleep_until(), showing the progress line on the way. */
static void
sleep_until(struct engine *e, struct progress *pg, uint64_t t)
{
    while (pg->next_ns < t) {
        if (!engine_sleep_until(e, pg->next_ns)) {
            return; /* a stop or the deadline: nothing more to wait for */
        }
        progress_tick(pg, e, engine_now_ns());
    }
    engine_sleep_until(e, t);
}

/* Starts the run once every worker has preloaded; returns the seconds the
 * preload took. */
static double
begin_run(struct engine *e, struct progress *pg)
{
    while (!engine_wait_preloaded(e, pg->next_ns)) {
        progress_tick(pg, e, engine_now_ns());
    }
    return engine_begin_run(e);
}

/* What --server-pid read of the server over the measured window. */
struct server_sample {
    double cpu_user_s, cpu_sys_s, cpu_s; /* -1: not measured */
    long long switches;                  /* context switches; -1: not measured */
    long rss_kb;                         /* -1: not measured */
};

/* Runs the load and, with --server-pid, samples the server's CPU time at
 * the ends of the measured window (in --requests mode the window ends when
 * the workers do) and its RSS at the end. */
static void
run_and_sample(struct engine *e, const struct options *o, struct progress *pg,
               struct server_sample *sm)
{
    struct procstat_cpu c0, c1;
    bool have0 = false, have1 = false;
    if (o->server_pid) {
        sleep_until(e, pg, engine_window_start(e));
        have0 = procstat_cpu(o->server_pid, &c0) == 0;
        if (!o->requests) {
            sleep_until(e, pg, engine_window_end(e));
            have1 = procstat_cpu(o->server_pid, &c1) == 0;
        }
    }
    while (!engine_wait_finished(e, pg->next_ns)) {
        progress_tick(pg, e, engine_now_ns());
    }
    engine_join(e);
    if (o->server_pid) {
        if (o->requests) {
            have1 = procstat_cpu(o->server_pid, &c1) == 0;
        }
        if (have0 && have1) {
            sm->cpu_user_s = c1.user - c0.user;
            sm->cpu_sys_s = c1.sys - c0.sys;
            sm->cpu_s = sm->cpu_user_s + sm->cpu_sys_s;
            if (c0.switches >= 0 && c1.switches >= c0.switches) {
                sm->switches = c1.switches - c0.switches;
            }
        }
        sm->rss_kb = procstat_rss_kb(o->server_pid);
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
    static struct progress pg;
    progress_init(&pg, &opts, stderr, engine_now_ns());
    engine_set_progress(e, pg.f != NULL);
    if (engine_start(e) != 0) {
        engine_destroy(&e);
        return 2;
    }

    double preload_s = begin_run(e, &pg);
    struct server_sample sm = {
        .cpu_user_s = -1, .cpu_sys_s = -1, .cpu_s = -1, .switches = -1, .rss_kb = -1};
    run_and_sample(e, &opts, &pg, &sm);
    progress_clear(&pg);
    engine_collect(e, &st);
    report_init(&rp, &st);
    rp.preload_s = preload_s;
    rp.duration_s = engine_measured_s(e, &st);
    rp.cpu_s = sm.cpu_s;
    rp.cpu_user_s = sm.cpu_user_s;
    rp.cpu_sys_s = sm.cpu_sys_s;
    rp.switches = sm.switches;
    rp.rss_kb = sm.rss_kb;
    note_ending(e, &opts, &rp);

    int rc = report_write(&opts, &rp) != 0 ? 2 : rp.st.errors ? 1 : 0;
    engine_destroy(&e);
    return rc;
}
