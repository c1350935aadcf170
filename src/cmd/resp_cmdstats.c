/*
 * resp_cmdstats: Redis's INFO commandstats and errorstats, from per-worker
 * counters (resp_cmdstats.h says what they cost on the request path and
 * how time is sampled).
 *
 *   cmdstat_get:calls=N,usec=N,usec_per_call=N.NN,rejected_calls=N,failed_calls=N
 *   cmdstat_client|list:...     (a container's subcommands by their own row)
 *   errorstat_ERR:count=N       (by error prefix, sorted by name)
 *
 * as redis_exporter reads them. CONFIG RESETSTAT cannot zero counters that
 * other threads write, so it records a baseline that later reads subtract
 * (as `stats reset` does for memcached's counters, mc_stats.c).
 */
#include "cmd/resp_cmdstats.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/resp_internal.h"
#include "cmd/resp_reply.h"
#include "stashd/util/buf.h"
#include "stashd/util/clock.h"

int
cmdstats_create(struct cmdstats **sp)
{
    size_t n = RESP_CMD_SLOTS;
    size_t size = sizeof(struct cmdstats) + n * sizeof(struct cmdstat);
    /* Whole cache lines of its own: only its worker writes here. */
    size = (size + 63) & ~(size_t)63;
    struct cmdstats *st = aligned_alloc(64, size);
    if (st == NULL) {
        return -ENOMEM;
    }
    memset(st, 0, size);
    st->ncmd = n;
    st->rng = (uint64_t)(uintptr_t)st * 0x9e3779b97f4a7c15ull | 1;
    st->countdown = 1;
    *sp = st;
    return 0;
}

void
cmdstats_destroy(struct cmdstats **sp)
{
    free(*sp);
    *sp = NULL;
}

void
cmdstats_timed(struct cmdstats *st, size_t slot, void (*fn)(struct resp_exec *),
               struct resp_exec *x)
{
    uint64_t t0 = clock_mono_ns();
    fn(x);
    uint64_t ns = clock_mono_ns() - t0;
    METRIC_ADD(&st->cmd[slot], ns, ns * CMDSTATS_SAMPLE);
    uint64_t r = st->rng; /* xorshift64 */
    r ^= r << 13;
    r ^= r >> 7;
    r ^= r << 17;
    st->rng = r;
    st->countdown = 1 + (uint32_t)(r % (2 * CMDSTATS_SAMPLE - 1)); /* 1 .. 2*SAMPLE-1 */
}

void
cmdstats_error(struct cmdstats *st, const char *msg, size_t len)
{
    METRIC_INC(st, errors);
    size_t n = len < CMDSTATS_ERR_NAME ? len : CMDSTATS_ERR_NAME;
    const char *sp = memchr(msg, ' ', n);
    if (sp == NULL || sp == msg) {
        msg = "ERR";
        n = 3;
    } else {
        n = (size_t)(sp - msg);
    }
    uint32_t used = st->nerr; /* only this worker writes it */
    for (uint32_t i = 0; i < used; i++) {
        struct cmdstats_err *e = &st->err[i];
        if (strncmp(e->name, msg, n) == 0 && e->name[n] == '\0') {
            METRIC_INC(e, count);
            return;
        }
    }
    if (used == CMDSTATS_ERR_SLOTS) {
        return; /* counted in the total only */
    }
    struct cmdstats_err *e = &st->err[used];
    memcpy(e->name, msg, n); /* n < CMDSTATS_ERR_NAME: the rest stays zero */
    METRIC_INC(e, count);
    __atomic_store_n(&st->nerr, used + 1, __ATOMIC_RELEASE);
}

/* --- sums over the workers ----------------------------------------------------------- */

#define SUM_ERR_MAX (2 * CMDSTATS_ERR_SLOTS)

struct err_sum {
    char name[CMDSTATS_ERR_NAME];
    uint64_t count;
};

/* What INFO shows, or what a reset keeps as its baseline. */
struct sums {
    struct cmdstat *cmd; /* RESP_CMD_SLOTS rows */
    struct err_sum err[SUM_ERR_MAX];
    size_t nerr;
    uint64_t errors;
};

static void
err_add(struct sums *s, const char *name, uint64_t count)
{
    for (size_t i = 0; i < s->nerr; i++) {
        if (strcmp(s->err[i].name, name) == 0) {
            s->err[i].count += count;
            return;
        }
    }
    if (s->nerr < SUM_ERR_MAX) {
        memcpy(s->err[s->nerr].name, name, CMDSTATS_ERR_NAME);
        s->err[s->nerr++].count = count;
    }
}

static void
sum_one(struct sums *s, const struct cmdstats *st)
{
    for (size_t i = 0; i < st->ncmd && i < RESP_CMD_SLOTS; i++) {
        const struct cmdstat *c = &st->cmd[i];
        s->cmd[i].calls += __atomic_load_n(&c->calls, __ATOMIC_RELAXED);
        s->cmd[i].ns += __atomic_load_n(&c->ns, __ATOMIC_RELAXED);
        s->cmd[i].rejected += __atomic_load_n(&c->rejected, __ATOMIC_RELAXED);
        s->cmd[i].failed += __atomic_load_n(&c->failed, __ATOMIC_RELAXED);
    }
    uint32_t n = __atomic_load_n(&st->nerr, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n; i++) {
        err_add(s, st->err[i].name, __atomic_load_n(&st->err[i].count, __ATOMIC_RELAXED));
    }
    s->errors += __atomic_load_n(&st->errors, __ATOMIC_RELAXED);
}

/* One baseline per process (CONFIG RESETSTAT), for the env it was taken
 * on; lock guards every field and is held only to copy them. */
static struct {
    pthread_mutex_t lock;
    const struct cmd_env *env; /* NULL: no reset yet */
    struct sums base;
} cmdstats_state = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint64_t
since(uint64_t now, uint64_t base)
{
    return now >= base ? now - base : now;
}

static void
subtract_baseline(struct resp_exec *x, struct sums *s)
{
    pthread_mutex_lock(&cmdstats_state.lock);
    const struct sums *b = &cmdstats_state.base;
    if (cmdstats_state.env == x->s->env && b->cmd != NULL) {
        for (size_t i = 0; i < RESP_CMD_SLOTS; i++) {
            s->cmd[i].calls = since(s->cmd[i].calls, b->cmd[i].calls);
            s->cmd[i].ns = since(s->cmd[i].ns, b->cmd[i].ns);
            s->cmd[i].rejected = since(s->cmd[i].rejected, b->cmd[i].rejected);
            s->cmd[i].failed = since(s->cmd[i].failed, b->cmd[i].failed);
        }
        for (size_t i = 0; i < s->nerr; i++) {
            for (size_t j = 0; j < b->nerr; j++) {
                if (strcmp(s->err[i].name, b->err[j].name) == 0) {
                    s->err[i].count = since(s->err[i].count, b->err[j].count);
                }
            }
        }
        s->errors = since(s->errors, b->errors);
    }
    pthread_mutex_unlock(&cmdstats_state.lock);
}

/* The raw sums over every worker (no baseline); false on ENOMEM. */
static bool
sum_raw(struct resp_exec *x, struct sums *s)
{
    memset(s, 0, sizeof(*s));
    s->cmd = calloc(RESP_CMD_SLOTS, sizeof(*s->cmd));
    if (s->cmd == NULL) {
        return false;
    }
    const struct cmd_env *env = x->s->env;
    if (env->cmdstats != NULL) {
        for (unsigned i = 0; i < env->ncmdstats; i++) {
            sum_one(s, env->cmdstats[i]);
        }
    } else if (x->s->cmdstats != NULL) {
        sum_one(s, x->s->cmdstats);
    }
    return true;
}

static bool
sum_all(struct resp_exec *x, struct sums *s)
{
    if (!sum_raw(x, s)) {
        return false;
    }
    subtract_baseline(x, s);
    return true;
}

void
resp_cmdstats_reset(struct resp_exec *x)
{
    struct sums s;
    if (!sum_raw(x, &s)) {
        return;
    }
    pthread_mutex_lock(&cmdstats_state.lock);
    free(cmdstats_state.base.cmd);
    cmdstats_state.base = s;
    cmdstats_state.env = x->s->env;
    pthread_mutex_unlock(&cmdstats_state.lock);
}

uint64_t
resp_cmdstats_total_errors(struct resp_exec *x)
{
    struct sums s;
    if (!sum_all(x, &s)) {
        return 0;
    }
    free(s.cmd);
    return s.errors;
}

/* --- the sections ---------------------------------------------------------------------- */

int
resp_cmdstats_info_commands(struct resp_exec *x, struct buf *b)
{
    struct sums s;
    if (!sum_all(x, &s)) {
        return -ENOMEM;
    }
    int rc = buf_append(b, "# Commandstats\r\n", 16);
    for (size_t i = 0; i < RESP_CMD_SLOTS && rc == 0; i++) {
        const struct cmdstat *c = &s.cmd[i];
        if (c->calls == 0 && c->rejected == 0 && c->failed == 0) {
            continue;
        }
        const struct resp_cmd *row = i < resp_ncmds ? &resp_cmds[i] : &resp_subcmds[i - resp_ncmds];
        char name[2 * RESP_NAME_MAX + 2];
        resp_cmd_fullname(row, name, sizeof(name));
        uint64_t usec = c->ns / 1000;
        double per = c->calls != 0 ? (double)usec / (double)c->calls : 0.0;
        rc = buf_appendf(b,
                         "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,"
                         "failed_calls=%llu\r\n",
                         name, (unsigned long long)c->calls, (unsigned long long)usec, per,
                         (unsigned long long)c->rejected, (unsigned long long)c->failed);
    }
    free(s.cmd);
    return rc;
}

static int
err_cmp(const void *a, const void *b)
{
    return strcmp(((const struct err_sum *)a)->name, ((const struct err_sum *)b)->name);
}

int
resp_cmdstats_info_errors(struct resp_exec *x, struct buf *b)
{
    struct sums s;
    if (!sum_all(x, &s)) {
        return -ENOMEM;
    }
    free(s.cmd);
    qsort(s.err, s.nerr, sizeof(s.err[0]), err_cmp);
    int rc = buf_append(b, "# Errorstats\r\n", 14);
    for (size_t i = 0; i < s.nerr && rc == 0; i++) {
        if (s.err[i].count != 0) {
            rc = buf_appendf(b, "errorstat_%s:count=%llu\r\n", s.err[i].name,
                             (unsigned long long)s.err[i].count);
        }
    }
    return rc;
}
