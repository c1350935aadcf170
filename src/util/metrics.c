/*
 * metrics: summing and walking the per-worker counter table (see
 * util/metrics.h).
 */
#include "stashd/util/metrics.h"

void
metrics_accumulate(struct metrics *sum, const struct metrics *m)
{
#define METRICS_SUM(name, kind, help) sum->name += __atomic_load_n(&m->name, __ATOMIC_RELAXED);
    STASHD_WORKER_METRICS(METRICS_SUM)
#undef METRICS_SUM
}

void
metrics_each(const struct metrics *m, metrics_emit_fn emit, void *ctx)
{
#define METRICS_EMIT(name, kind, help)                                                             \
    emit(ctx, #name, #kind[0] == 'C' ? "counter" : "gauge", help,                                  \
         __atomic_load_n(&m->name, __ATOMIC_RELAXED));
    STASHD_WORKER_METRICS(METRICS_EMIT)
#undef METRICS_EMIT
}
