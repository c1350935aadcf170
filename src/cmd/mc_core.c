/*
 * mc_core: memcached's shared semantics (see mc_core.h).
 */
#include "cmd/mc_core.h"

#include "stashd/util/clock.h"
#include "stashd/util/metrics.h"

void
mc_core_too_large(struct session *s, const struct store_key *k, bool drop_old, bool count)
{
    if (count) {
        METRIC_INC(s->metrics, store_too_large);
    }
    if (drop_old) {
        (void)store_delete(s->env->store, k, 0);
    }
}

void
mc_core_store_failed(struct session *s, const struct store_key *k, enum store_rc rc, bool drop_old)
{
    if (rc == STORE_TOO_LARGE) {
        mc_core_too_large(s, k, drop_old, true);
        return;
    }
    METRIC_INC(s->metrics, store_no_memory);
    if (drop_old) {
        (void)store_delete(s->env->store, k, 0);
    }
}

enum store_rc
mc_core_arith(struct session *s, const struct store_key *k, struct store_arith_req *r,
              uint64_t *value, uint64_t *cas)
{
    struct metrics *m = s->metrics;
    bool created = false;
    bool *created_out = r->created_out;
    if (created_out == NULL) {
        r->created_out = &created;
    }
    enum store_rc rc = store_arith(s->env->store, k, r, value, cas);
    created = *r->created_out;
    r->created_out = created_out;
    if (rc == STORE_OK && !created) {
        if (r->incr) {
            METRIC_INC(m, incr_hits);
        } else {
            METRIC_INC(m, decr_hits);
        }
    } else if (rc == STORE_NOT_FOUND) {
        if (r->incr) {
            METRIC_INC(m, incr_misses);
        } else {
            METRIC_INC(m, decr_misses);
        }
    }
    return rc;
}

enum store_rc
mc_core_delete(struct session *s, const struct store_key *k, uint64_t cas)
{
    enum store_rc rc = store_delete(s->env->store, k, cas);
    if (rc == STORE_OK) {
        METRIC_INC(s->metrics, delete_hits);
    } else if (rc == STORE_NOT_FOUND) {
        METRIC_INC(s->metrics, delete_misses);
    }
    return rc;
}

void
mc_core_flush(struct session *s, int64_t delay)
{
    uint32_t at = 0;
    if (delay > 0) {
        at = clock_exptime_to_rel(delay);
        if (at <= clock_now()) {
            at = 0;
        }
    }
    store_flush(s->env->store, at);
}
