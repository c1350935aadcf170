/*
 * buf: growable contiguous byte buffers (see util/buf.h). Growth doubles so
 * a buffer that serves a large request reaches its size in few steps;
 * buf_shrink gives the memory back once the buffer is empty again.
 */
#include "stashd/util/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/util/num.h"

void
buf_init(struct buf *b)
{
    b->data = NULL;
    b->rpos = b->wpos = b->cap = 0;
}

void
buf_fini(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

void
buf_compact(struct buf *b)
{
    if (b->rpos == 0) {
        return;
    }
    size_t n = buf_readable(b);
    if (n > 0) {
        memmove(b->data, b->data + b->rpos, n);
    }
    b->rpos = 0;
    b->wpos = n;
}

static int
buf_grow(struct buf *b, size_t need, size_t max)
{
    size_t cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            return -ENOMEM;
        }
        cap *= 2;
    }
    if (max != 0 && cap > max) {
        if (need > max) {
            return -ENOMEM;
        }
        cap = max;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        return -ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int
buf_reserve_slow(struct buf *b, size_t n, size_t max)
{
    if (buf_writable(b) >= n) {
        return 0;
    }
    /* Compact when that makes enough room and the move is cheap relative
     * to the space it frees. */
    if (b->rpos > 0 && b->cap - buf_readable(b) >= n) {
        buf_compact(b);
        return 0;
    }
    size_t used = buf_readable(b);
    if (n > SIZE_MAX - used) {
        return -ENOMEM;
    }
    buf_compact(b);
    return buf_grow(b, used + n, max);
}

void
buf_shrink(struct buf *b, size_t keep)
{
    if (buf_readable(b) != 0 || b->cap <= keep) {
        return;
    }
    buf_reset(b);
    if (keep == 0) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
        return;
    }
    char *p = realloc(b->data, keep);
    if (p != NULL) {
        b->data = p;
        b->cap = keep;
    }
}

int
buf_append_u64(struct buf *b, uint64_t v)
{
    char tmp[24];
    size_t n = num_u64_to_dec(v, tmp);
    return buf_append(b, tmp, n);
}

int
buf_append_i64(struct buf *b, int64_t v)
{
    if (v < 0) {
        int rc = buf_append(b, "-", 1);
        if (rc != 0) {
            return rc;
        }
        return buf_append_u64(b, (uint64_t)0 - (uint64_t)v);
    }
    return buf_append_u64(b, (uint64_t)v);
}

int
buf_appendf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return -EINVAL;
    }
    int rc = buf_reserve(b, (size_t)n + 1, 0);
    if (rc != 0) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->wpos, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->wpos += (size_t)n;
    return 0;
}
