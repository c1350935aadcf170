/*
 * cmd_count: the counters every protocol's read path moves, in one place
 * (private to cmd/). A read that also touches (gat, GAT) counts as a touch,
 * as memcached counts it, not as a get.
 */
#pragma once

#include <stdbool.h>

#include "stashd/store/store.h"
#include "stashd/util/metrics.h"

static inline void
cmd_count_read(struct metrics *m, bool touch, enum store_rc rc)
{
    if (touch) {
        METRIC_INC(m, cmd_touch);
        if (rc == STORE_OK) {
            METRIC_INC(m, touch_hits);
        } else {
            METRIC_INC(m, touch_misses);
        }
    } else {
        METRIC_INC(m, cmd_get);
        if (rc == STORE_OK) {
            METRIC_INC(m, get_hits);
        } else {
            METRIC_INC(m, get_misses);
        }
    }
}

/* Why a lookup missed, counted as memcached's item lookup counts it (an
 * expired or flushed item found on the way). */
static inline void
cmd_count_miss_reason(struct metrics *m, enum store_miss miss)
{
    if (miss == STORE_MISS_EXPIRED) {
        METRIC_INC(m, get_expired);
    } else if (miss == STORE_MISS_FLUSHED) {
        METRIC_INC(m, get_flushed);
    }
}
