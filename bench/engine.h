/*
 * The load generator's engine: connections, one epoll loop per worker
 * thread, request generation and the verification of every reply.
 *
 * The caller (stashd-bench.c) drives a run through its phases, all bounded
 * in time by --max-time:
 *
 *   engine_create()   key space, values, the server's address
 *   engine_start()    connect everything; workers start (and preload)
 *   engine_begin_run() waits for the preload everywhere; opens the warm-up
 *                     and fixes the measured window
 *   engine_join()     waits for the workers to finish and drain
 *   engine_collect()  sums the workers' counters
 *
 * A caller with something to do while it waits (the progress line) waits
 * in steps first: engine_wait_preloaded() before engine_begin_run(),
 * engine_wait_finished() before engine_join(), each until a time.
 *
 * engine_stop() may be called from a signal handler at any time: nothing is
 * sent after it, and what was measured is still reported.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "options.h"

/* What a worker counts; engine_collect() sums them over workers. */
struct engine_stats {
    uint64_t ops[2]; /* by enum proto_op, measured */
    uint64_t hits;
    uint64_t misses;
    uint64_t errors;  /* every phase */
    uint64_t refused; /* sets declined for memory (proto_result), every phase */
    uint64_t desyncs;
    uint64_t timeouts;
    uint64_t closed;
    uint64_t preload_ops;
    uint64_t last_done_ns; /* when the last measured reply came */
    bool cut;              /* the --max-time deadline stopped work left to do */
    struct hist lat[2];    /* by enum proto_op, ns */
};

/* The running totals the progress line shows (engine_progress()). */
struct engine_progress {
    uint64_t done;         /* requests answered or failed, every phase */
    uint64_t hits, misses; /* keys, measured requests only */
    uint64_t errors;       /* every phase */
};

struct engine;

/* CLOCK_MONOTONIC in ns: the clock of every time the engine takes. */
uint64_t engine_now_ns(void);

/* Builds the key space and values of *o (which must outlive the engine)
 * and resolves the server's address. 0, or -1 after a message on stderr;
 * either way engine_destroy() frees what *ep holds. */
int engine_create(struct engine **ep, const struct options *o);

/* Connects every connection and starts the worker threads, which preload
 * when asked and then wait in engine_begin_run(). The threads block every
 * signal: signals are the calling thread's. 0, or -1 after a message (no
 * thread started; engine_destroy() closes what was opened). */
int engine_start(struct engine *e);

/* Makes the workers publish their counters for engine_progress(), every
 * 10 ms from the timer that already checks their deadlines (so nothing is
 * added per request). Before engine_start(); off by default. */
void engine_set_progress(struct engine *e, bool on);

/* The workers' totals as last published; zeros unless engine_set_progress()
 * turned publishing on. Any thread. */
void engine_progress(const struct engine *e, struct engine_progress *p);

/* "preload" (before engine_begin_run()), "warm-up", "run" or "drain" (the
 * measured window is over; replies still come) at now. */
const char *engine_phase_name(const struct engine *e, uint64_t now);

/* Wait until every worker has finished its preload (the first) or its run
 * (the second), or until engine_now_ns() reaches until (UINT64_MAX: no
 * limit); true when they have. After engine_start(). */
bool engine_wait_preloaded(struct engine *e, uint64_t until);
bool engine_wait_finished(struct engine *e, uint64_t until);

/* Waits until every worker has preloaded, then starts the warm-up and the
 * measured window. Returns the seconds the preload took (0 without one). */
double engine_begin_run(struct engine *e);

/* The measured window (engine_now_ns() times), fixed by engine_begin_run();
 * its end is UINT64_MAX in --requests mode. */
uint64_t engine_window_start(const struct engine *e);
uint64_t engine_window_end(const struct engine *e);

/* Sleeps until t, engine_stop() or the --max-time deadline, the earliest;
 * true when it was t. */
bool engine_sleep_until(const struct engine *e, uint64_t t);

/* Waits for every worker to finish. */
void engine_join(struct engine *e);

/* Asks the workers to send nothing more; async-signal-safe. */
void engine_stop(struct engine *e);
bool engine_stopped(const struct engine *e);

/* Sums the workers' counters into *st; after engine_join(). */
void engine_collect(const struct engine *e, struct engine_stats *st);

/* Seconds the measured window really lasted: to the last reply in
 * --requests mode, else to its end, a stop or the deadline, the earliest. */
double engine_measured_s(const struct engine *e, const struct engine_stats *st);

/* Closes every connection and frees the engine; *ep becomes NULL. */
void engine_destroy(struct engine **ep);
