/*
 * metrics: summing the per-worker counters (see util/metrics.h).
 */
#include "stashd/util/metrics.h"

#define METRICS_SUM(src, id, kind, when, mc, sec, info, prom, labels, help) METRICS_SUM_##src(id)
#define METRICS_SUM_W(id) sum->id += __atomic_load_n(&m->id, __ATOMIC_RELAXED);
#define METRICS_SUM_V(id)
#define METRICS_SUM_S(id)
#define METRICS_SUM_F(id)
#define METRICS_SUM_K(id)

void
metrics_accumulate(struct metrics *sum, const struct metrics *m)
{
    STASHD_STATS(METRICS_SUM)
}
