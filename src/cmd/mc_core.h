/*
 * mc_core: what memcached's text, meta and binary protocols mean in common
 * (private to cmd/): the store calls, the counting `stats` reports and the
 * failure rules, written once. The protocol files parse, pick the mode and
 * word the replies; the semantics of a read, a store, an arithmetic, a
 * delete and a flush are here, so the three protocols cannot drift.
 *
 * memcached 1.6.18 rules kept:
 *  - a store that fails for size or memory drops the key's old value when
 *    the caller says so (text and binary: only a set; meta: any ms), so no
 *    stale value outlives a failed write;
 *  - a CAS counts cas_hits, cas_badval or cas_misses; every store counts
 *    cmd_set;
 *  - incr/decr count a hit unless they created the item, a miss when it
 *    is absent;
 *  - a read notes the key for the hot-key sketch and counts get or touch
 *    hits and misses, and why a miss missed (expired, flushed).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cmd/cmd_count.h"
#include "stashd/cmd/hotkeys.h"
#include "stashd/cmd/session.h"
#include "stashd/cmd/stats.h"
#include "stashd/store/store.h"
#include "stashd/util/metrics.h"

/* A value refused before it was read, for being over the size limit:
 * counted in store_too_large when count (memcached 1.6.18 counts it for
 * text and meta, not for binary: checked against the real server). */
void mc_core_too_large(struct session *s, const struct store_key *k, bool drop_old, bool count);

/* A failed store's counting and old-value rule (mc_core_store's cold
 * half). */
void mc_core_store_failed(struct session *s, const struct store_key *k, enum store_rc rc,
                          bool drop_old);

/* What a read counts (mc_core_read and its watched twin). */
static inline __attribute__((always_inline)) void
mc_core_count_read(struct session *s, const struct store_key *k, const struct store_get_opts *o,
                   enum store_rc rc, enum store_miss miss)
{
    hotkeys_note(s->hot, k->data, k->len, k->hash);
    cmd_count_read(s->metrics, o != NULL && o->touch, rc);
    if (rc != STORE_OK) {
        cmd_count_miss_reason(s->metrics, miss);
    }
}

/* mc_core_read while someone watches fetches or counts prefixes (`watch
 * fetchers`, `stats detail on`): the same read, then the log line and,
 * unless it is a touch command (memcached counts gets only), the prefix
 * count. */
__attribute__((cold)) enum store_rc mc_core_read_noted(struct session *s, const struct store_key *k,
                                                       const struct store_get_opts *o,
                                                       store_read_fn fn, void *ctx, bool is_get);

/*
 * A get, gat or touch (o NULL: a plain get); is_get is false for the touch
 * command. Inline: the hot path of every memcached read (callgrind: out of
 * line it cost ~18 instructions a get). Watching costs it a test of
 * s->want (stats_wanted() as of this batch) while nobody watches.
 */
static inline __attribute__((always_inline)) enum store_rc
mc_core_read_as(struct session *s, const struct store_key *k, const struct store_get_opts *o,
                store_read_fn fn, void *ctx, bool is_get)
{
    if (__builtin_expect(s->want & (STATS_WANT_FETCHERS | STATS_WANT_DETAIL), 0)) {
        return mc_core_read_noted(s, k, o, fn, ctx, is_get);
    }
    enum store_miss miss = STORE_MISS_NONE;
    enum store_rc rc = store_get(s->env->store, k, o, fn, ctx, &miss);
    mc_core_count_read(s, k, o, rc, miss);
    return rc;
}

/* A get or gat (o NULL: a plain get). */
static inline __attribute__((always_inline)) enum store_rc
mc_core_read(struct session *s, const struct store_key *k, const struct store_get_opts *o,
             store_read_fn fn, void *ctx)
{
    return mc_core_read_as(s, k, o, fn, ctx, true);
}

/* After a store, while someone watches mutations or counts prefixes. */
void mc_core_note_store(struct session *s, const struct store_key *k, const struct store_set_req *r,
                        enum store_rc rc);

/* After a read that did not go through mc_core_read (meta mg), or a
 * delete (deleted: whether it removed an item; nbytes of the value read,
 * 0 on a miss), while someone watches or counts prefixes. */
void mc_core_note_get(struct session *s, const struct store_key *k, enum store_miss miss,
                      bool found, uint32_t nbytes, bool is_get);
void mc_core_note_delete(struct session *s, const struct store_key *k);

/* What a store of any mode counts, and its old-value rule, given the
 * store's answer rc (also for a value stored in place: store_commit). */
static inline enum store_rc
mc_core_stored(struct session *s, const struct store_key *k, const struct store_set_req *r,
               bool drop_old, enum store_rc rc)
{
    struct metrics *m = s->metrics;
    METRIC_INC(m, cmd_set);
    if (r->mode == STORE_MODE_CAS) {
        if (rc == STORE_OK) {
            METRIC_INC(m, cas_hits);
        } else if (rc == STORE_EXISTS) {
            METRIC_INC(m, cas_badval);
        } else if (rc == STORE_NOT_FOUND) {
            METRIC_INC(m, cas_misses);
        }
    }
    if (rc == STORE_TOO_LARGE || rc == STORE_NO_MEMORY) {
        mc_core_store_failed(s, k, rc, drop_old);
    }
    if (__builtin_expect(s->want & (STATS_WANT_MUTATIONS | STATS_WANT_DETAIL), 0)) {
        mc_core_note_store(s, k, r, rc);
    }
    return rc;
}

/* A store of any mode; *cas_out (may be NULL) gets the new item's cas. */
static inline __attribute__((always_inline)) enum store_rc
mc_core_store(struct session *s, const struct store_key *k, const struct store_set_req *r,
              bool drop_old, uint64_t *cas_out)
{
    return mc_core_stored(s, k, r, drop_old, store_set(s->env->store, k, r, cas_out));
}

/* incr or decr; r->created_out may be NULL. */
enum store_rc mc_core_arith(struct session *s, const struct store_key *k, struct store_arith_req *r,
                            uint64_t *value, uint64_t *cas);

/* delete, comparing cas unless it is 0. */
enum store_rc mc_core_delete(struct session *s, const struct store_key *k, uint64_t cas);

/* flush_all: now (delay <= 0, or a time already past), else in delay
 * seconds or at a Unix time, as memcached reads an exptime. The caller
 * has checked -F and counts cmd_flush (text and binary differ there). */
void mc_core_flush(struct session *s, int64_t delay);
