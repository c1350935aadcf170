/*
 * stats_state: the inside of struct stats (see stashd/cmd/stats.h),
 * private to cmd/. Its parts and what guards them:
 *
 *   head.wanted   atomics; set by the watch log (watch.c) and by
 *                 `stats detail on|off`
 *   base_*        the reset baseline, under base_lock (held only to copy)
 *   watch         the watch log: its own locks (watch.c)
 *   detail        per-prefix counts: its own lock (stats_detail.c)
 *   crawler_*,    lru_crawler settings and counts, `stats sizes_enable`:
 *   dumps_running,  relaxed atomics (any request may change or read them;
 *   sizes_enabled   no two need to agree)
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stashd/cmd/stats.h"
#include "stashd/util/metrics.h"

struct watch;
struct stats_detail;

/* Slab classes whose `stats items` counters a reset rebases; a class past
 * this keeps counting from the start. */
#define STATS_BASE_CLASSES 256

/* The per-class counters `stats reset` rebases. */
struct stats_class_base {
    uint64_t evicted, evicted_nonzero, evicted_unfetched, expired_unfetched, reclaimed, outofmemory;
};

struct stats {
    struct stats_head head; /* first: stats_wanted() reads it through the pointer */
    pthread_mutex_t base_lock;
    bool have_base;             /* no reset yet: nothing to subtract */
    uint64_t base[STATS_NROWS]; /* each COUNTER row's value at the reset, by row */
    struct stats_class_base base_cls[STATS_BASE_CLASSES];
    struct watch *watch;
    struct stats_detail *detail;
    bool crawler_enabled;     /* lru_crawler enable/disable */
    uint32_t crawler_tocrawl; /* lru_crawler tocrawl: remembered, shown nowhere */
    uint32_t crawler_sleep;   /* lru_crawler sleep: remembered, shown nowhere */
    uint64_t crawler_starts;  /* crawls and metadumps started */
    uint32_t dumps_running;   /* metadumps streaming now */
    bool sizes_enabled;       /* stats sizes_enable / sizes_disable */
};

/* Set or clear bits of head.wanted (atomically; others stay). */
void stats_want(struct stats *st, unsigned set, unsigned clear);

/* memcached's uriencode, as watch lines and metadump print keys: every
 * byte but [A-Za-z0-9.~_-] as %XX. out holds 3 * n bytes; returns the
 * length written (not terminated). */
size_t stats_uri_encode(const char *in, size_t n, char *out);
