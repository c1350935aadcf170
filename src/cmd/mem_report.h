/*
 * mem_report: the process's memory and its parts, as stats, INFO and
 * /metrics report them (private to cmd/). The parts are what stashd
 * accounts for itself; "other" is the rest of the resident set (code,
 * stacks, allocator metadata, memory freed but not yet returned).
 */
#pragma once

#include <stdint.h>

#include "stashd/store/store.h"
#include "stashd/util/metrics.h"

struct mem_report {
    uint64_t items;        /* slab pages and large items (store_stats.total_malloced) */
    uint64_t hash;         /* hash tables (store_stats.hash_bytes) */
    uint64_t conn_buffers; /* connection read and reply buffers (metrics) */
    uint64_t total;        /* items + hash + conn_buffers */
    uint64_t resident;     /* the process's resident set, 0 if unknown */
    uint64_t other;        /* resident - total, 0 if that is negative */
};

/* The resident set size of this process in bytes (/proc/self/statm),
 * or 0 if it cannot be read. */
uint64_t mem_resident_bytes(void);

void mem_report_fill(struct mem_report *r, const struct metrics *m, const struct store_stats *st);
