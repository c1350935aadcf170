/*
 * resp_lcs: Redis 7.0's LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n]
 * [WITHMATCHLEN]: the longest common subsequence of two values, by the
 * same dynamic programming as Redis (a table of (n+1)*(m+1) lengths, then
 * a walk back from its corner), so that the subsequence and the match
 * ranges chosen among equally long ones are Redis's, byte for byte.
 *
 * Memory and time are bounded. The table takes 4*(n+1)*(m+1) bytes and
 * as many steps; Redis 7.0.15 refuses a table larger than
 * proto-max-bulk-len ("ERR Insufficient memory, transient memory for LCS
 * exceeds proto-max-bulk-len"), and stashd refuses the same way one
 * larger than its item size limit (-I), and one larger than LCS_TABLE_MAX
 * whatever -I is: 16 MiB, about 10 ms of one worker, two values of ~2000
 * bytes each. So a large -I (up to 1 GiB) never lets one request hold a
 * gigabyte or a worker for seconds. The two values are copied out of the
 * store (as one step, store_get_many) before any of this runs, so no lock
 * is held during the computation.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd/resp_arg.h"
#include "cmd/resp_internal.h"
#include "cmd/resp_reply.h"
#include "stashd/store/store.h"
#include "stashd/util/options.h"

/* The largest LCS table stashd builds, whatever -I allows (see above). */
#define LCS_TABLE_MAX ((uint64_t)16 << 20)

struct lcs_read {
    size_t len[2];
    char *buf[2]; /* cap[i] bytes, or NULL on the first pass */
    size_t cap[2];
    bool retry;     /* a value's length changed since the buffers were sized */
    bool wrongtype; /* a key holds another type than string */
};

static void
on_lcs_value(void *ctx, size_t i, const struct store_item_view *v, enum store_miss miss)
{
    struct lcs_read *r = ctx;
    r->wrongtype = r->wrongtype || miss == STORE_MISS_WRONGTYPE;
    size_t len = v != NULL ? v->nbytes : 0;
    if (r->buf[0] == NULL && r->buf[1] == NULL) {
        r->len[i] = len;
        return;
    }
    if (len != r->cap[i]) {
        r->len[i] = len;
        r->retry = true;
        return;
    }
    r->len[i] = len;
    if (len != 0) {
        memcpy(r->buf[i], v->value, len);
    }
}

/* Refuse (reply, false) a table over the limits for these lengths. */
static bool
lcs_fits(struct resp_exec *x, size_t alen, size_t blen)
{
    uint64_t cells = ((uint64_t)alen + 1) * ((uint64_t)blen + 1);
    uint64_t bytes = cells * sizeof(uint32_t);
    if (bytes > (uint64_t)x->s->env->opts->max_item_size) {
        resp_reply_err(x, "ERR Insufficient memory, transient memory for LCS exceeds "
                          "proto-max-bulk-len");
        return false;
    }
    if (bytes > LCS_TABLE_MAX) {
        resp_reply_err(x, "ERR Insufficient memory, transient memory for LCS exceeds stashd's "
                          "16 MiB limit");
        return false;
    }
    return true;
}

/* The keys' lengths and types, read first (Redis checks the types
 * before the options); false after a reply. */
static bool
lcs_look(struct resp_exec *x, struct store_key *keys, struct lcs_read *r)
{
    resp_key(x, &keys[0], x->argv[1]);
    resp_key(x, &keys[1], x->argv[2]);
    store_get_many(x->store, keys, 2, on_lcs_value, r);
    if (r->wrongtype) {
        resp_reply_err(x, "ERR The specified keys must contain string values");
        return false;
    }
    return true;
}

/* After lcs_look: copy both values (as one step) into r->buf; false
 * after a reply. */
static bool
lcs_read(struct resp_exec *x, const struct store_key *keys, struct lcs_read *r)
{
    for (;;) {
        if (r->wrongtype) {
            resp_reply_err(x, "ERR The specified keys must contain string values");
            return false;
        }
        if (!lcs_fits(x, r->len[0], r->len[1])) {
            return false;
        }
        for (int i = 0; i < 2; i++) {
            free(r->buf[i]);
            r->cap[i] = r->len[i];
            r->buf[i] = malloc(r->len[i] + 1); /* + 1: never malloc(0) */
            if (r->buf[i] == NULL) {
                resp_reply_err(x, "ERR Insufficient memory, failed allocating transient memory "
                                  "for LCS");
                return false;
            }
        }
        r->retry = false;
        store_get_many(x->store, keys, 2, on_lcs_value, r);
        if (!r->retry && !r->wrongtype) {
            return true;
        }
    }
}

struct lcs_opts {
    bool len, idx, withmatchlen;
    int64_t minmatchlen;
};

static bool
lcs_parse(struct resp_exec *x, struct lcs_opts *o)
{
    for (size_t j = 3; j < x->argc; j++) {
        struct bstr a = x->argv[j];
        bool more = j + 1 < x->argc;
        if (resp_arg_is(a, "idx")) {
            o->idx = true;
        } else if (resp_arg_is(a, "len")) {
            o->len = true;
        } else if (resp_arg_is(a, "withmatchlen")) {
            o->withmatchlen = true;
        } else if (resp_arg_is(a, "minmatchlen") && more) {
            if (!resp_arg_i64(x->argv[j + 1], &o->minmatchlen)) {
                resp_reply_err(x, RESP_ERR_NOT_INT);
                return false;
            }
            if (o->minmatchlen < 0) {
                o->minmatchlen = 0;
            }
            j++;
        } else {
            resp_reply_err(x, RESP_ERR_SYNTAX);
            return false;
        }
    }
    if (o->idx && o->len) {
        resp_reply_err(x, "ERR If you want both the length and indexes, please just use IDX.");
        return false;
    }
    return true;
}

/* The walk back from the table's corner, as Redis walks it: collects the
 * subsequence into out (when not NULL) and, when emit, replies each match
 * range long enough; returns the number of such ranges. */
static size_t
lcs_walk(struct resp_exec *x, const struct lcs_opts *o, const uint32_t *dp, const char *a,
         uint32_t alen, const char *b, uint32_t blen, char *out, bool emit)
{
#define LCS(I, J) dp[(size_t)(J) + (size_t)(I) * ((size_t)blen + 1)]
    uint32_t i = alen, j = blen, idx = LCS(alen, blen);
    uint32_t as = alen, ae = 0, bs = 0, be = 0; /* as == alen: no range open */
    size_t ranges = 0;
    while (i > 0 && j > 0) {
        bool close = false;
        if (a[i - 1] == b[j - 1]) {
            if (out != NULL) {
                out[idx - 1] = a[i - 1];
            }
            if (as == alen) {
                as = ae = i - 1;
                bs = be = j - 1;
            } else {
                /* contiguous with the open range: extend it backwards */
                as--;
                bs--;
            }
            if (as == 0 || bs == 0) {
                close = true;
            }
            idx--;
            i--;
            j--;
        } else {
            if (LCS(i - 1, j) > LCS(i, j - 1)) {
                i--;
            } else {
                j--;
            }
            if (as != alen) {
                close = true;
            }
        }
        if (close) {
            uint32_t mlen = ae - as + 1;
            if (o->minmatchlen == 0 || (int64_t)mlen >= o->minmatchlen) {
                if (emit) {
                    resp_reply_array(x, o->withmatchlen ? 3 : 2);
                    resp_reply_array(x, 2);
                    resp_reply_int(x, as);
                    resp_reply_int(x, ae);
                    resp_reply_array(x, 2);
                    resp_reply_int(x, bs);
                    resp_reply_int(x, be);
                    if (o->withmatchlen) {
                        resp_reply_int(x, mlen);
                    }
                }
                ranges++;
            }
            as = alen;
        }
    }
    return ranges;
#undef LCS
}

void
resp_cmd_lcs(struct resp_exec *x)
{
    struct lcs_opts o = {0};
    struct lcs_read r = {0};
    uint32_t *dp = NULL;
    char *out = NULL;
    struct store_key keys[2];
    if (!lcs_look(x, keys, &r) || !lcs_parse(x, &o) || !lcs_read(x, keys, &r)) {
        goto done;
    }
    /* Both fit the table's limit, so each is far below 2^32. */
    uint32_t alen = (uint32_t)r.len[0], blen = (uint32_t)r.len[1];
    const char *a = r.buf[0], *b = r.buf[1];
    size_t w = (size_t)blen + 1;
    dp = malloc(((size_t)alen + 1) * w * sizeof(*dp));
    if (dp == NULL) {
        resp_reply_err(x, "ERR Insufficient memory, failed allocating transient memory for LCS");
        goto done;
    }
    for (uint32_t i = 0; i <= alen; i++) {
        for (uint32_t j = 0; j <= blen; j++) {
            uint32_t v;
            if (i == 0 || j == 0) {
                v = 0;
            } else if (a[i - 1] == b[j - 1]) {
                v = dp[(size_t)(i - 1) * w + j - 1] + 1;
            } else {
                uint32_t up = dp[(size_t)(i - 1) * w + j], left = dp[(size_t)i * w + j - 1];
                v = up > left ? up : left;
            }
            dp[(size_t)i * w + j] = v;
        }
    }
    uint32_t total = dp[(size_t)alen * w + blen];
    if (o.len) {
        resp_reply_int(x, total);
        goto done;
    }
    if (o.idx) {
        size_t n = lcs_walk(x, &o, dp, a, alen, b, blen, NULL, false);
        resp_reply_map(x, 2);
        resp_reply_bulk_str(x, "matches");
        resp_reply_array(x, n);
        (void)lcs_walk(x, &o, dp, a, alen, b, blen, NULL, true);
        resp_reply_bulk_str(x, "len");
        resp_reply_int(x, total);
        goto done;
    }
    out = malloc((size_t)total + 1);
    if (out == NULL) {
        resp_reply_err(x, RESP_ERR_OOM);
        goto done;
    }
    (void)lcs_walk(x, &o, dp, a, alen, b, blen, out, false);
    resp_reply_bulk(x, out, total);
done:
    free(out);
    free(dp);
    free(r.buf[0]);
    free(r.buf[1]);
}
