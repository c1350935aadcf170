/*
 * resp_cmdstats: the layout of a worker's command statistics (see
 * stashd/cmd/cmdstats.h) and the calls the RESP dispatch makes on every
 * request (private to cmd/).
 *
 * Cost on the request path: one CLOCK_MONOTONIC_COARSE read per executed
 * command (a vDSO read of the kernel's tick time, no TSC: 7.5 ns on the
 * development VM against 37 ns for CLOCK_MONOTONIC) and two or three
 * single-writer counter updates in an array indexed by the command's table
 * row. A command's time runs from the end of the previous command of the
 * same read (or the start of the read) to its own end, so one clock read
 * per command suffices. The coarse clock advances in ticks (4 ms here):
 * a command is charged a whole tick when one falls inside it and nothing
 * otherwise, which is right on average (the chance of a tick is its
 * duration over the tick), so usec sums and rates are unbiased while one
 * rare command's usec_per_call is only a sample.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "stashd/cmd/cmdstats.h"
#include "stashd/util/metrics.h"

struct buf;
struct resp_exec;

/* One command table row's counters (Redis's cmdstat_ fields). */
struct cmdstat {
    uint64_t calls;    /* executed (failed included, rejected not) */
    uint64_t ns;       /* time charged, see above */
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
    uint64_t errors; /* every error reply (total_error_replies) */
    /* Slots of err[] in use: the worker writes a slot's name, then
     * publishes it with a release store of nerr; readers load nerr with
     * acquire, so the names they read are complete and never change. */
    uint32_t nerr;
    struct cmdstats_err err[CMDSTATS_ERR_SLOTS];
    size_t ncmd;
    struct cmdstat cmd[]; /* by resp_cmd_slot() */
};

/* The coarse monotonic clock, in ns. */
static inline uint64_t
cmdstats_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void
cmdstats_call(struct cmdstats *st, size_t slot, uint64_t ns, bool failed)
{
    struct cmdstat *c = &st->cmd[slot];
    METRIC_INC(c, calls);
    METRIC_ADD(c, ns, ns);
    if (failed) {
        METRIC_INC(c, failed);
    }
}

static inline void
cmdstats_reject(struct cmdstats *st, size_t slot)
{
    METRIC_INC(&st->cmd[slot], rejected);
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
