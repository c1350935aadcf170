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
