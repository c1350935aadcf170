/*
 * clock: the server's coarse clock, in seconds, read once per use from a
 * cached value that clock_update() refreshes (a timer calls it a few times
 * a second). Item times are "relative" seconds since the process started,
 * as memcached keeps them, so they fit in 32 bits.
 *
 * Relative time 0 means "never" for expiry; the clock starts at 2 so that
 * relative time 1 is always in the past ("already expired").
 */
#pragma once

#include <stdint.h>

#define CLOCK_EXPIRED 1u                    /* a relative expiry time that is always past */
#define CLOCK_MAX_DELTA (60 * 60 * 24 * 30) /* memcached's 30 days */

void clock_setup(void);
/*
 * Go on from a previous process's clock (a warm restart, store/restart.c),
 * which stopped at relative time stop_rel, Unix second stop_unix (its
 * clock_rel_to_unix(stop_rel)): relative time goes on from stop_rel
 * plus the whole seconds the wall clock has turned since (none if it went
 * back), counting up, so that relative expiry times written by that
 * process keep meaning the same instants. The wall clock is read once,
 * exactly (not time()'s tick-old second), for both the downtime and the
 * new origin. Returns the relative time now; when it would reach limit,
 * leaves the clock as it was and returns 0. Before any other thread reads
 * the clock. stop_rel >= 2.
 */
uint32_t clock_continue(uint32_t stop_rel, int64_t stop_unix, uint32_t limit);
/* Refresh the cached time; safe to call from any thread. */
void clock_update(void);

/* Seconds since start, plus 2 (see above), turning with the wall clock's
 * second (clock_wall_ms() / 1000, within a tick). Relaxed atomic read. */
uint32_t clock_now(void);
/* Unix time of the cached clock, in seconds. */
int64_t clock_unix_now(void);
/* Unix time at which relative time 0 falls. */
int64_t clock_process_started(void);
/* Monotonic nanoseconds, read from the OS (not cached): for latency. */
uint64_t clock_mono_ns(void);
/*
 * Milliseconds since relative time 0 on the wall clock (CLOCK_REALTIME less
 * clock_process_started()): the clock of Redis's millisecond deadlines.
 * Read from the OS (vDSO, no syscall) on each call.
 */
int64_t clock_wall_ms(void);

/*
 * memcached's exptime rule: 0 = never (returns 0); negative = already
 * expired (CLOCK_EXPIRED); up to 30 days = relative to now; larger = an
 * absolute Unix time (CLOCK_EXPIRED if not after process start).
 */
uint32_t clock_exptime_to_rel(int64_t exptime);
/* Back to Unix time for display (0 stays 0). */
int64_t clock_rel_to_unix(uint32_t rel);
