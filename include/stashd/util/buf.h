/*
 * buf: a growable contiguous byte buffer, used for connection read and
 * reply buffers.
 *
 *   data                 data+rpos          data+wpos         data+cap
 *   |---- consumed ------|---- readable ----|---- writable ---|
 *
 * Growth is bounded by the caller (buf_reserve fails with -ENOMEM past
 * max); nothing here allocates unless asked to reserve room.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A buffer's first allocation (jemalloc's 512 class, 449-512 bytes).
 * Connection structs must stay out of that class: freed reply buffers
 * would leave holes in the pages live connections keep resident (10,000
 * idle connections: 1.6 KiB each with buffers of their structs' class,
 * 0.9 without). net/conn.c checks it at compile time. */
#define BUF_MIN_CAP 512
#define BUF_MIN_CAP_CLASS_LO 449

struct buf {
    char *data;  /* owned; NULL until the first reserve */
    size_t rpos; /* first unread byte */
    size_t wpos; /* first free byte */
    size_t cap;
};

void buf_init(struct buf *b);
void buf_fini(struct buf *b);

/* buf_reserve's slow half: compact or grow. */
int buf_reserve_slow(struct buf *b, size_t n, size_t max);

/* Move readable bytes to the front. */
void buf_compact(struct buf *b);

/* Release storage beyond keep bytes of capacity when the buffer is empty. */
void buf_shrink(struct buf *b, size_t keep);

static inline size_t
buf_readable(const struct buf *b)
{
    return b->wpos - b->rpos;
}

static inline size_t
buf_writable(const struct buf *b)
{
    return b->cap - b->wpos;
}

static inline void
buf_reset(struct buf *b)
{
    b->rpos = b->wpos = 0;
}

/* Make room for at least n more bytes after wpos, compacting first and
 * growing (doubling) up to max total capacity. 0 or -ENOMEM. Inline: every
 * reply reserves (callgrind: ~30 instructions a get as a call). */
static inline int
buf_reserve(struct buf *b, size_t n, size_t max)
{
    return buf_writable(b) >= n ? 0 : buf_reserve_slow(b, n, max);
}

/* Copy n bytes where n is usually short (a key, a number): up to 16 bytes
 * in two overlapping fixed-size moves, without memcpy's call (~17
 * instructions for a variable n); longer ones by memcpy. */
static inline void
buf_copy_short(char *dst, const char *src, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, src, 8);
        memcpy(&b, src + n - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, b;
        memcpy(&a, src, 4);
        memcpy(&b, src + n - 4, 4);
        memcpy(dst, &a, 4);
        memcpy(dst + n - 4, &b, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++) {
            dst[i] = src[i];
        }
    } else {
        memcpy(dst, src, n);
    }
}

/* Append helpers for replies. They grow without a max (the caller bounds
 * reply growth by pausing request processing); 0 or -ENOMEM. */
static inline int
buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0) {
        return 0;
    }
    int rc = buf_reserve(b, n, 0);
    if (rc == 0) {
        memcpy(b->data + b->wpos, p, n);
        b->wpos += n;
    }
    return rc;
}
int buf_append_u64(struct buf *b, uint64_t v); /* decimal */
int buf_append_i64(struct buf *b, int64_t v);  /* decimal */
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define BUF_APPEND_LIT(b, s) buf_append((b), (s), sizeof(s) - 1)
