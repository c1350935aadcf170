/*
 * sizeclass: memcached's slab classes, kept as a way of grouping items by
 * size for statistics (`stats slabs`, `stats items`, `me`'s cls). Items
 * are no longer stored in class-sized chunks (see mem/arena.h and
 * store/seg.h: they are packed whole into segments), but memcached's
 * exporters and operators read per-class figures, and -f / -n still shape
 * the classes as memcached's do.
 *
 * Classes grow by a factor (-f) from header + min_size (-n) up to
 * SIZECLASS_CHUNK_MAX; items larger than that fall in one last class, as
 * memcached's chunked items do.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SIZECLASS_CHUNK_MAX ((size_t)16 * 1024) /* largest class; larger items are "large" */
#define SIZECLASS_ALIGN 8                       /* every class size is a multiple of this */
#define SIZECLASS_MAX 63                        /* memcached's limit on class count */

/* Read-only after sizeclass_init. */
struct sizeclass {
    unsigned count;               /* classes in use, 1..SIZECLASS_MAX */
    uint32_t size[SIZECLASS_MAX]; /* bytes, ascending; the last is SIZECLASS_CHUNK_MAX */
    /* lookup[(n + 7) / 8] = class of an n-byte item (n <= SIZECLASS_CHUNK_MAX) */
    uint8_t lookup[SIZECLASS_CHUNK_MAX / SIZECLASS_ALIGN + 1];
};

/*
 * Build the table: the smallest class is header + min_size rounded up to
 * SIZECLASS_ALIGN, each next one the previous times factor, rounded up
 * likewise (and at least SIZECLASS_ALIGN larger), the last one
 * SIZECLASS_CHUNK_MAX. 0, or -EINVAL if factor is not > 1 or the smallest
 * class would exceed SIZECLASS_CHUNK_MAX.
 */
int sizeclass_init(struct sizeclass *sc, size_t header, uint32_t min_size, double factor);

/* The class of an item of size bytes, or sc->count if it is large. */
static inline unsigned
sizeclass_of(const struct sizeclass *sc, uint64_t size)
{
    if (size > SIZECLASS_CHUNK_MAX) {
        return sc->count;
    }
    return sc->lookup[(size + SIZECLASS_ALIGN - 1) / SIZECLASS_ALIGN];
}
