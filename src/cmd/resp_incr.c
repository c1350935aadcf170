/*
 * resp_incr: Redis's INCR, DECR, INCRBY, DECRBY and INCRBYFLOAT over the
 * shared keyspace. Each reads and rewrites a value in one store_update,
 * under the shard lock, so concurrent increments from any protocol
 * (memcached incr included) never lose an update. The value keeps its
 * memcached flags and expiry; number parsing and formatting follow Redis
 * 7.0's t_string.c (string2ll, long double for INCRBYFLOAT, %.17Lg).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/resp_arg.h"
#include "cmd/resp_internal.h"
#include "cmd/resp_reply.h"
#include "stashd/store/store.h"
#include "stashd/util/metrics.h"
#include "stashd/util/num.h"

/* --- INCR family ---------------------------------------------------------------------------- */

enum arith_rc {
    ARITH_OK,
    ARITH_NOT_INT,
    ARITH_OVERFLOW,
    ARITH_NOT_FLOAT,
    ARITH_NAN,
    ARITH_WRONGTYPE,
};

struct incr {
    int64_t delta;
    int64_t value;
    enum arith_rc rc;
    bool existed;
    char text[24];
    size_t len;
};

static void
incr_decide(void *ctx, const struct store_item_view *old, struct store_update *u)
{
    struct incr *in = ctx;
    int64_t v = 0;
    in->existed = old != NULL;
    if (old != NULL && old->type != STORE_TYPE_STRING) {
        in->rc = ARITH_WRONGTYPE;
        return;
    }
    if (old != NULL && !resp_arg_i64((struct bstr){.data = old->value, .len = old->nbytes}, &v)) {
        in->rc = ARITH_NOT_INT;
        return;
    }
    if ((in->delta < 0 && v < 0 && in->delta < INT64_MIN - v) ||
        (in->delta > 0 && v > 0 && in->delta > INT64_MAX - v)) {
        in->rc = ARITH_OVERFLOW;
        return;
    }
    in->rc = ARITH_OK;
    in->value = v + in->delta;
    uint64_t mag = in->value < 0 ? (uint64_t)0 - (uint64_t)in->value : (uint64_t)in->value;
    size_t n = 0;
    if (in->value < 0) {
        in->text[n++] = '-';
    }
    n += num_u64_to_dec(mag, in->text + n);
    in->len = n;
    u->op = STORE_UPDATE_WRITE;
    u->value = in->text;
    u->nbytes = (uint32_t)n;
    if (old != NULL) {
        u->flags = old->flags;
        u->keep_expiry = true;
    }
}

static void
incr_generic(struct resp_exec *x, int64_t delta)
{
    struct incr in = {.delta = delta};
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    enum store_rc rc = store_update(x->store, &k, incr_decide, NULL, &in);
    if (rc != STORE_OK) {
        resp_reply_err_store(x, rc, x->argv[1].len);
        return;
    }
    bool incr = delta >= 0;
    if (in.existed) {
        if (incr) {
            METRIC_INC(x->m, incr_hits);
        } else {
            METRIC_INC(x->m, decr_hits);
        }
    } else if (incr) {
        METRIC_INC(x->m, incr_misses);
    } else {
        METRIC_INC(x->m, decr_misses);
    }
    if (in.rc == ARITH_WRONGTYPE) {
        resp_reply_err(x, RESP_ERR_WRONGTYPE);
    } else if (in.rc == ARITH_NOT_INT) {
        resp_reply_err(x, RESP_ERR_NOT_INT);
    } else if (in.rc == ARITH_OVERFLOW) {
        resp_reply_err(x, "ERR increment or decrement would overflow");
    } else {
        resp_reply_int(x, in.value);
    }
}

void
resp_cmd_incr(struct resp_exec *x)
{
    incr_generic(x, 1);
}

void
resp_cmd_decr(struct resp_exec *x)
{
    incr_generic(x, -1);
}

void
resp_cmd_incrby(struct resp_exec *x)
{
    int64_t d;
    if (!resp_arg_i64(x->argv[2], &d)) {
        resp_reply_err(x, RESP_ERR_NOT_INT);
        return;
    }
    incr_generic(x, d);
}

void
resp_cmd_decrby(struct resp_exec *x)
{
    int64_t d;
    if (!resp_arg_i64(x->argv[2], &d)) {
        resp_reply_err(x, RESP_ERR_NOT_INT);
        return;
    }
    if (d == INT64_MIN) {
        resp_reply_err(x, "ERR decrement would overflow");
        return;
    }
    incr_generic(x, -d);
}

#define LD_CHARS RESP_LD_CHARS

bool
resp_parse_ld(const char *p, size_t n, long double *out)
{
    char buf[LD_CHARS];
    if (n == 0 || n >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    long double v = strtold(buf, &end);
    if (buf[0] == ' ' || (buf[0] >= '\t' && buf[0] <= '\r') || end != buf + n ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0)) || errno == EINVAL ||
        isnan(v)) {
        return false;
    }
    *out = v;
    return true;
}

size_t
resp_format_ld(long double v, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%.17Lf", v);
    if (n < 0 || (size_t)n >= cap) {
        return 0;
    }
    size_t len = (size_t)n;
    if (memchr(buf, '.', len) != NULL) {
        while (buf[len - 1] == '0') {
            len--;
        }
        if (buf[len - 1] == '.') {
            len--;
        }
    }
    if (len == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        len = 1;
    }
    return len;
}

struct incrf {
    long double delta;
    bool bad_delta; /* the increment is no float: reported after the key's type */
    enum arith_rc rc;
    char text[LD_CHARS];
    size_t len;
};

static void
incrf_decide(void *ctx, const struct store_item_view *old, struct store_update *u)
{
    struct incrf *in = ctx;
    long double v = 0;
    if (old != NULL && old->type != STORE_TYPE_STRING) {
        in->rc = ARITH_WRONGTYPE;
        return;
    }
    /* Redis's order: the key's type, its value, then the increment. */
    if ((old != NULL && !resp_parse_ld(old->value, old->nbytes, &v)) || in->bad_delta) {
        in->rc = ARITH_NOT_FLOAT;
        return;
    }
    v += in->delta;
    if (isnan(v) || isinf(v)) {
        in->rc = ARITH_NAN;
        return;
    }
    in->len = resp_format_ld(v, in->text, sizeof(in->text));
    in->rc = ARITH_OK;
    u->op = STORE_UPDATE_WRITE;
    u->value = in->text;
    u->nbytes = (uint32_t)in->len;
    if (old != NULL) {
        u->flags = old->flags;
        u->keep_expiry = true;
    }
}

void
resp_cmd_incrbyfloat(struct resp_exec *x)
{
    struct incrf *in = malloc(sizeof(*in)); /* 5 KiB: off the stack; not a hot command */
    if (in == NULL) {
        resp_reply_err(x, RESP_ERR_OOM);
        return;
    }
    in->rc = ARITH_OK;
    in->len = 0;
    in->bad_delta = !resp_parse_ld(x->argv[2].data, x->argv[2].len, &in->delta);
    struct store_key k;
    resp_key(x, &k, x->argv[1]);
    enum store_rc rc = store_update(x->store, &k, incrf_decide, NULL, in);
    if (rc != STORE_OK) {
        resp_reply_err_store(x, rc, x->argv[1].len);
    } else if (in->rc == ARITH_WRONGTYPE) {
        resp_reply_err(x, RESP_ERR_WRONGTYPE);
    } else if (in->rc == ARITH_NOT_FLOAT) {
        resp_reply_err(x, RESP_ERR_NOT_FLOAT);
    } else if (in->rc == ARITH_NAN) {
        resp_reply_err(x, "ERR increment would produce NaN or Infinity");
    } else {
        resp_reply_bulk(x, in->text, in->len);
    }
    free(in);
}
