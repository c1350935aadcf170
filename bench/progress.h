/*
 * stashd-bench's live progress line. On a terminal, about once a second,
 * one line written over the last with '\r':
 *
 *   stashd-bench    3.0 s  run            152,341 ops/s  hits  91.2%  errors 0
 *
 * elapsed time since stashd-bench began to connect, the phase, requests
 * answered per second over the last second (every phase: the preload's
 * sets and the warm-up's requests too), the hit ratio of the measured gets
 * over that second ("-" when there were none) and the errors so far. The
 * line is cleared before the report.
 *
 * The counts are those the workers publish from the timer that already
 * checks their deadlines (engine_progress()), read by the main thread,
 * which sleeps in between: the line adds nothing per request. It is shown
 * only when stderr is a terminal and --quiet is not given; otherwise
 * nothing at all is written.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine.h"
#include "options.h"

struct progress {
    FILE *f;          /* where the line goes; NULL: off */
    uint64_t t0;      /* elapsed time counts from here */
    uint64_t next_ns; /* when the next line is due; UINT64_MAX when off */
    uint64_t last_ns; /* when the counts in last were read */
    struct engine_progress last;
    int shown; /* characters of the line now on the screen */
};

/* Turns the line on when f is a terminal and o has no --quiet; the first
 * line is due a second after now (the engine's clock). */
void progress_init(struct progress *p, const struct options *o, FILE *f, uint64_t now);

/* Writes the line when one is due at now and sets when the next is. */
void progress_tick(struct progress *p, const struct engine *e, uint64_t now);

/* Wipes the line off the screen, if one is there. */
void progress_clear(struct progress *p);

/* Formats one line into buf (without '\r'); hit_ratio < 0 shows as "-".
 * Returns what snprintf returns. */
int progress_format(char *buf, size_t n, double elapsed_s, const char *phase, double ops_s,
                    double hit_ratio, uint64_t errors);
