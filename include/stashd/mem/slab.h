/*
 * slab: the memory budget every item lives under, in two parts.
 *
 * The page pool hands out fixed-size pages (SLAB_PAGE_SIZE bytes, aligned
 * to their size so that a chunk's page is found by masking its address)
 * while the bytes held stay under a limit that may change at run time.
 * Values too large for the largest chunk are "large" allocations: one
 * malloc each, with their usable size reserved from the same budget, so
 * the limit covers both. The pool keeps no pages of its own: a page given
 * back is freed (jemalloc backs malloc in the server), so lowering the
 * limit really lowers resident memory.
 *
 * The size-class table maps an item size to the smallest chunk that holds
 * it. Classes grow by a factor (-f) from header + slab_min_size (-n) up to
 * SLAB_CHUNK_MAX; who carves pages into chunks (the store's shards) is not
 * this module's business.
 *
 *   budget (limit, atomic)
 *   +--------------------------------------------------------------+
 *   | page | page | page | ... | large item | large item | (room)   |
 *   +--------------------------------------------------------------+
 *
 * Thread safety: every pool function may be called from any thread; the
 * accounting is a lock-free compare-and-swap on one counter (O(1)). Lock
 * order for callers: shard lock, then pool (the pool takes no lock of its
 * own, so it can never be the outer one).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLAB_PAGE_SIZE ((size_t)64 * 1024)  /* bytes per page, also its alignment */
#define SLAB_CHUNK_MAX (SLAB_PAGE_SIZE / 4) /* largest chunk; larger items are large */
#define SLAB_CHUNK_ALIGN 8                  /* every chunk size is a multiple of this */
#define SLAB_CLASSES_MAX 63                 /* memcached's limit on class count */

/*
 * The class table. Public because the store's hot path reads it inline;
 * every field is read-only after slab_classes_init.
 */
struct slab_classes {
    unsigned count;                      /* classes in use, 1..SLAB_CLASSES_MAX */
    uint32_t size[SLAB_CLASSES_MAX];     /* chunk bytes, ascending; last is SLAB_CHUNK_MAX */
    uint32_t per_page[SLAB_CLASSES_MAX]; /* chunks that one page holds */
    /* lookup[(n + 7) / 8] = class of an n-byte item (n <= SLAB_CHUNK_MAX) */
    uint8_t lookup[SLAB_CHUNK_MAX / SLAB_CHUNK_ALIGN + 1];
};

/*
 * Build the table: the smallest chunk is header + min_size rounded up to
 * SLAB_CHUNK_ALIGN, each next one the previous times factor, rounded up
 * likewise (and at least SLAB_CHUNK_ALIGN larger), and the last one
 * SLAB_CHUNK_MAX. 0, or -EINVAL if factor is not > 1 or the smallest
 * chunk would exceed SLAB_CHUNK_MAX.
 */
int slab_classes_init(struct slab_classes *sc, size_t header, uint32_t min_size, double factor);

/* The class index of an item of size bytes, or sc->count if it is large
 * (size > SLAB_CHUNK_MAX). */
static inline unsigned
slab_class_for(const struct slab_classes *sc, uint64_t size)
{
    if (size > SLAB_CHUNK_MAX) {
        return sc->count;
    }
    return sc->lookup[(size + SLAB_CHUNK_ALIGN - 1) / SLAB_CHUNK_ALIGN];
}

struct slab_pool;

/* 0, -EINVAL (limit 0), -ENOMEM. */
int slab_pool_create(struct slab_pool **pp, uint64_t limit);
/* Every page and large allocation must have been given back first. */
void slab_pool_destroy(struct slab_pool **pp);

/*
 * Borrow one page: SLAB_PAGE_SIZE bytes aligned to SLAB_PAGE_SIZE, not
 * initialised, owned by the caller until slab_page_return. 0, -ENOSPC
 * (the budget has no room), -ENOMEM (the system allocator failed).
 */
int slab_page_borrow(struct slab_pool *p, void **page);
void slab_page_return(struct slab_pool *p, void *page);

/*
 * Allocate size bytes for a large item and reserve its usable size from
 * the budget. 0, -EINVAL (size 0), -ENOSPC (no room for size bytes),
 * -ENOMEM. The usable size can exceed size by the allocator's rounding;
 * that surplus is charged even when it overshoots the limit a little, and
 * the next allocation that finds no room makes up for it.
 */
int slab_large_alloc(struct slab_pool *p, size_t size, void **out);
/* Free a large allocation and release what it was charged. */
void slab_large_free(struct slab_pool *p, void *ptr);
/* What slab_large_alloc charged for ptr (its usable size). */
size_t slab_large_charged(const void *ptr);

/*
 * Credit: memory freed to make room for one particular allocation can
 * keep its charge, so that another thread's borrow cannot take the room
 * before the allocation that made it. The *_credit forms take a counter
 * of such bytes (NULL: none): a return adds what it would have released
 * to *credit instead; a borrow or large allocation uses *credit before it
 * reserves from the budget. The holder of a credit must give back what
 * it did not use with slab_credit_release. The budget never sees more
 * than the limit charged: a credit is memory that was charged already.
 */
int slab_page_borrow_credit(struct slab_pool *p, uint64_t *credit, void **page);
void slab_page_return_credit(struct slab_pool *p, uint64_t *credit, void *page);
int slab_large_alloc_credit(struct slab_pool *p, uint64_t *credit, size_t size, void **out);
void slab_large_free_credit(struct slab_pool *p, uint64_t *credit, void *ptr);
/* Release an unused credit to the budget; *credit becomes 0. */
void slab_credit_release(struct slab_pool *p, uint64_t *credit);

/* Change the limit. Lowering it below what is used makes every borrow
 * fail until the holders give memory back. 0 or -EINVAL (0). */
int slab_set_limit(struct slab_pool *p, uint64_t limit);
uint64_t slab_limit(const struct slab_pool *p);
/* Bytes charged: pages held plus usable sizes of large allocations. */
uint64_t slab_used(const struct slab_pool *p);
/* Pages currently borrowed. */
uint64_t slab_pages(const struct slab_pool *p);
/* limit - used, or 0 when over the limit. */
uint64_t slab_room(const struct slab_pool *p);
