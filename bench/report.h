/*
 * stashd-bench's results: a text report in the layout of memtier_benchmark
 * (ops/s, hits/s, misses/s and latency percentiles per request type), and
 * the same numbers as one JSON document for scripts (bench/compare, the
 * tests). Every count in the JSON adds up: ops = sets + gets, each latency
 * histogram counts its requests, hit_ratio = hits / (hits + misses).
 */
#pragma once

#include <stdio.h>

#include "engine.h"
#include "hist.h"
#include "options.h"

struct report {
    double duration_s; /* the measured window */
    double preload_s;
    struct engine_stats st;
    struct hist all;    /* sets and gets together */
    double cpu_s;       /* server CPU over the window; -1: not measured */
    double cpu_user_s;  /* ... of it in user mode (the server's code) */
    double cpu_sys_s;   /* ... and in the kernel on its behalf */
    long long switches; /* its threads' context switches over the window; -1: not measured */
    long rss_kb;        /* server RSS at the end; -1: not measured */
};

/* Copies *st into *rp, fills rp->all, and marks CPU and RSS unmeasured. */
void report_init(struct report *rp, const struct engine_stats *st);

void report_text(FILE *f, const struct options *o, const struct report *rp);
void report_json(FILE *f, const struct options *o, const struct report *rp);

/* Writes what *o asks for: the text report (unless --quiet; on stderr when
 * the JSON goes to stdout) and the JSON (--json). 0, or -1 after a message
 * when the JSON file cannot be written. */
int report_write(const struct options *o, const struct report *rp);
