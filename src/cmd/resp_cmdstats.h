/*
 * resp_cmdstats: the layout of a worker's command statistics (see
 * stashd/cmd/cmdstats.h) and the calls the RESP dispatch makes on every
 * request (private to cmd/).
 *
 * Counts are exact: every executed command adds one call to its table
 * row's counter (rejected and failed calls are counted on the error
 * paths, never on the request path). Time is sampled: one command in
 * CMDSTATS_SAMPLE on average, at random gaps (1 to 2*CMDSTATS_SAMPLE-1,
 * so that no periodic pipeline, SET GET SET GET..., aliases with them),
 * is timed with two CLOCK_MONOTONIC reads around its handler, as Redis
 * times call(), and charged CMDSTATS_SAMPLE times its duration: every
 * command is timed with the same chance whatever its kind, so the sums
 * (usec, and usec_per_call = usec / calls) are unbiased for every
 * command, though a command run only a few times shows 0 or a multiple
 * of its true time.
 *
 * Why sampled, measured with callgrind (redis-benchmark -t get -P 16 -c 4,
 * 400k requests, -t 1; ~1080 instructions a request): a clock read per
 * command, even CLOCK_MONOTONIC_COARSE (a vDSO read with no TSC, 7.5 ns
 * here against 37 ns for CLOCK_MONOTONIC) with the counters, cost ~46
 * instructions a request, 4.2% of the server's; sampled, the statistics
 * cost ~1.4% (see the commit that made it so for the figures).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stashd/cmd/cmdstats.h"
#include "stashd/util/metrics.h"

struct buf;
struct resp_exec;

/* One command table row's counters (Redis's cmdstat_ fields). */
struct cmdstat {
    uint64_t calls;    /* executed (failed included, rejected not) */
    uint64_t ns;       /* time charged (sampled, see above) */
    uint64_t rejected; /* refused before running: arity, authentication */
    uint64_t failed;   /* ran and answered with an error */
};

/* Error prefixes a worker tells apart ("ERR", "WRONGPASS", ...); the
 * prefixes come from stashd's own error texts, a handful in all. */
#define CMDSTATS_ERR_SLOTS 32
#define CMDSTATS_ERR_NAME 32

struct cmdstats_err {
    char name[CMDSTATS_ERR_NAME]; /* written once, before nerr counts it */
    uint64_t count;
};

struct cmdstats {
    /* The worker's own (no other thread reads them): commands before the
     * next timed one, and the xorshift state that draws the gaps. */
    uint32_t countdown;
    uint64_t rng;
    uint64_t errors; /* every error reply (total_error_replies) */
    /* Slots of err[] in use: the worker writes a slot's name, then
     * publishes it with a release store of nerr; readers load nerr with
     * acquire, so the names they read are complete and never change. */
    uint32_t nerr;
    struct cmdstats_err err[CMDSTATS_ERR_SLOTS];
    size_t ncmd;
    struct cmdstat cmd[]; /* by resp_cmd_slot() */
};

/* Commands in one timed, on average. */
#define CMDSTATS_SAMPLE 16

/* Is the next command timed? One decrement a command. */
static inline bool
cmdstats_sample(struct cmdstats *st)
{
    return --st->countdown == 0;
}

/* Run fn(x), the handler of slot's row, timed (and draw the next gap). */
void cmdstats_timed(struct cmdstats *st, size_t slot, void (*fn)(struct resp_exec *),
                    struct resp_exec *x);

static inline void
cmdstats_call(struct cmdstats *st, size_t slot)
{
    METRIC_INC(&st->cmd[slot], calls);
}

static inline void
cmdstats_reject(struct cmdstats *st, size_t slot)
{
    METRIC_INC(&st->cmd[slot], rejected);
}

static inline void
cmdstats_fail(struct cmdstats *st, size_t slot)
{
    METRIC_INC(&st->cmd[slot], failed);
}

/* An error reply msg (without the leading '-'): counted under its prefix,
 * the text before the first space (within the first 32 bytes; "ERR" when
 * there is none), as Redis's afterErrorReply. */
void cmdstats_error(struct cmdstats *st, const char *msg, size_t len);

/* INFO's sections: append "# Commandstats" / "# Errorstats" and their
 * lines, summed over every worker, to b. 0 or -ENOMEM. */
int resp_cmdstats_info_commands(struct resp_exec *x, struct buf *b);
int resp_cmdstats_info_errors(struct resp_exec *x, struct buf *b);
/* total_error_replies, summed over every worker. */
uint64_t resp_cmdstats_total_errors(struct resp_exec *x);
/* CONFIG RESETSTAT: later reads count from now. */
void resp_cmdstats_reset(struct resp_exec *x);
