/*
 * clock: the coarse server clock (see util/clock.h). One process-wide
 * cached value, refreshed by clock_update() from a timer; every reader
 * does a relaxed atomic load, so reading the time costs no syscall.
 */
#include "stashd/util/clock.h"

#include <time.h>

/* Guarded by nothing: written with relaxed atomic stores by whoever calls
 * clock_update (any thread), read with relaxed loads. */
static struct clock_state {
    int64_t started_unix;  /* unix time at relative 0; set once in setup */
    uint64_t started_mono; /* monotonic ns at setup (or clock_continue) */
    uint64_t started_frac; /* ns past the wall clock's second then */
    uint32_t rel_base;     /* relative time then: 2, or a previous process's */
    uint32_t now;          /* relative seconds + 2 */
    int64_t now_unix;
} clock_state;

static uint64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
clock_setup(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* Relative time 2 is "now" at start; back-date relative 0 by 2 s. */
    clock_state.started_unix = (int64_t)ts.tv_sec - 2;
    clock_state.started_mono = mono_ns();
    clock_state.started_frac = (uint64_t)ts.tv_nsec;
    clock_state.rel_base = 2;
    __atomic_store_n(&clock_state.now, 2, __ATOMIC_RELAXED);
    __atomic_store_n(&clock_state.now_unix, (int64_t)ts.tv_sec, __ATOMIC_RELAXED);
}

uint32_t
clock_continue(uint32_t stop_rel, int64_t stop_unix, uint32_t limit)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t down = (int64_t)ts.tv_sec - stop_unix;
    uint64_t rel = (uint64_t)(stop_rel < 2 ? 2 : stop_rel) + (uint64_t)(down > 0 ? down : 0);
    if (rel >= limit) {
        return 0;
    }
    clock_state.started_unix = (int64_t)ts.tv_sec - (int64_t)rel;
    clock_state.started_mono = mono_ns();
    clock_state.started_frac = (uint64_t)ts.tv_nsec;
    clock_state.rel_base = (uint32_t)rel;
    __atomic_store_n(&clock_state.now, (uint32_t)rel, __ATOMIC_RELAXED);
    __atomic_store_n(&clock_state.now_unix, (int64_t)ts.tv_sec, __ATOMIC_RELAXED);
    return (uint32_t)rel;
}

void
clock_update(void)
{
    /* The relative second turns when the wall clock's second does, so that
     * a deadline on a whole second (Redis's EXAT, or PX landing on one),
     * kept without its millisecond field and checked against this clock,
     * passes within a tick of when clock_wall_ms() says it does, not up
     * to a second later. */
    uint64_t elapsed =
        (mono_ns() - clock_state.started_mono + clock_state.started_frac) / 1000000000u;
    uint32_t rel = (uint32_t)elapsed + clock_state.rel_base;
    __atomic_store_n(&clock_state.now, rel, __ATOMIC_RELAXED);
    __atomic_store_n(&clock_state.now_unix, clock_state.started_unix + rel, __ATOMIC_RELAXED);
}

uint32_t
clock_now(void)
{
    return __atomic_load_n(&clock_state.now, __ATOMIC_RELAXED);
}

int64_t
clock_unix_now(void)
{
    return __atomic_load_n(&clock_state.now_unix, __ATOMIC_RELAXED);
}

int64_t
clock_process_started(void)
{
    return clock_state.started_unix;
}

uint64_t
clock_mono_ns(void)
{
    return mono_ns();
}

int64_t
clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((int64_t)ts.tv_sec - clock_state.started_unix) * 1000 + ts.tv_nsec / 1000000;
}

uint32_t
clock_exptime_to_rel(int64_t exptime)
{
    if (exptime == 0) {
        return 0;
    }
    if (exptime < 0) {
        return CLOCK_EXPIRED;
    }
    if (exptime > CLOCK_MAX_DELTA) {
        /* Absolute Unix time. */
        if (exptime <= clock_state.started_unix) {
            return CLOCK_EXPIRED;
        }
        int64_t rel = exptime - clock_state.started_unix;
        return rel > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)rel;
    }
    return (uint32_t)exptime + clock_now();
}

int64_t
clock_rel_to_unix(uint32_t rel)
{
    return rel == 0 ? 0 : clock_state.started_unix + rel;
}
