/*
 * slab: page pool under the memory limit, large allocations charged to the
 * same budget, and the size-class table (see mem/slab.h).
 *
 * The budget is two atomics: the limit and the bytes used. A reservation
 * is a compare-and-swap loop that only succeeds while used + n <= limit,
 * so concurrent borrowers can never push the total past the limit (except
 * the documented allocator rounding of large allocations).
 */
#include "stashd/mem/slab.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* No lock: each field is one atomic, updated with relaxed ordering since
 * no other memory is published through them (the page itself is private
 * to its borrower). */
struct slab_pool {
    _Atomic uint64_t limit; /* bytes; changed by slab_set_limit */
    _Atomic uint64_t used;  /* bytes charged: pages + large usable sizes */
    _Atomic uint64_t pages; /* pages borrowed, for statistics */
};

static inline uint64_t
align_up(uint64_t n, uint64_t a)
{
    return (n + a - 1) / a * a;
}

int
slab_classes_init(struct slab_classes *sc, size_t header, uint32_t min_size, double factor)
{
    /* !(factor > 1.0) also rejects NaN. */
    if (!(factor > 1.0) || isinf(factor)) {
        return -EINVAL;
    }
    uint64_t size = align_up((uint64_t)header + min_size, SLAB_CHUNK_ALIGN);
    if (size > SLAB_CHUNK_MAX) {
        return -EINVAL;
    }
    memset(sc, 0, sizeof(*sc));
    unsigned n = 0;
    while (size < SLAB_CHUNK_MAX && n < SLAB_CLASSES_MAX - 1) {
        sc->size[n++] = (uint32_t)size;
        double next = (double)size * factor;
        uint64_t grown = next >= (double)SLAB_CHUNK_MAX ? SLAB_CHUNK_MAX : (uint64_t)ceil(next);
        grown = align_up(grown, SLAB_CHUNK_ALIGN);
        /* A factor barely above 1 must still make progress. */
        size = grown > size ? grown : size + SLAB_CHUNK_ALIGN;
    }
    sc->size[n++] = SLAB_CHUNK_MAX;
    sc->count = n;
    for (unsigned i = 0; i < n; i++) {
        sc->per_page[i] = (uint32_t)(SLAB_PAGE_SIZE / sc->size[i]);
    }
    /* lookup[j] covers item sizes (8(j-1), 8j]: the first class >= 8j. */
    unsigned c = 0;
    for (size_t j = 0; j <= SLAB_CHUNK_MAX / SLAB_CHUNK_ALIGN; j++) {
        while (sc->size[c] < j * SLAB_CHUNK_ALIGN) {
            c++;
        }
        sc->lookup[j] = (uint8_t)c;
    }
    return 0;
}

int
slab_pool_create(struct slab_pool **pp, uint64_t limit)
{
    if (limit == 0) {
        return -EINVAL;
    }
    struct slab_pool *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }
    atomic_init(&p->limit, limit);
    atomic_init(&p->used, 0);
    atomic_init(&p->pages, 0);
    *pp = p;
    return 0;
}

void
slab_pool_destroy(struct slab_pool **pp)
{
    if (*pp == NULL) {
        return;
    }
    free(*pp);
    *pp = NULL;
}

/* Charge n bytes if they fit under the limit. */
static bool
budget_reserve(struct slab_pool *p, uint64_t n)
{
    uint64_t used = atomic_load_explicit(&p->used, memory_order_relaxed);
    for (;;) {
        uint64_t limit = atomic_load_explicit(&p->limit, memory_order_relaxed);
        if (n > limit || used > limit - n) {
            return false;
        }
        if (atomic_compare_exchange_weak_explicit(&p->used, &used, used + n, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            return true;
        }
    }
}

static void
budget_release(struct slab_pool *p, uint64_t n)
{
    atomic_fetch_sub_explicit(&p->used, n, memory_order_relaxed);
}

/* Charge n bytes, from *credit first (if any), then from the budget. */
static bool
charge(struct slab_pool *p, uint64_t *credit, uint64_t n)
{
    uint64_t from_credit = credit != NULL ? (*credit < n ? *credit : n) : 0;
    if (n > from_credit && !budget_reserve(p, n - from_credit)) {
        return false;
    }
    if (credit != NULL) {
        *credit -= from_credit;
    }
    return true;
}

/* Give back a charge of n bytes: to *credit if there is one. */
static void
uncharge(struct slab_pool *p, uint64_t *credit, uint64_t n)
{
    if (credit != NULL) {
        *credit += n;
    } else {
        budget_release(p, n);
    }
}

int
slab_page_borrow_credit(struct slab_pool *p, uint64_t *credit, void **page)
{
    if (!charge(p, credit, SLAB_PAGE_SIZE)) {
        return -ENOSPC;
    }
    void *m = aligned_alloc(SLAB_PAGE_SIZE, SLAB_PAGE_SIZE);
    if (m == NULL) {
        uncharge(p, credit, SLAB_PAGE_SIZE);
        return -ENOMEM;
    }
    atomic_fetch_add_explicit(&p->pages, 1, memory_order_relaxed);
    *page = m;
    return 0;
}

int
slab_page_borrow(struct slab_pool *p, void **page)
{
    return slab_page_borrow_credit(p, NULL, page);
}

void
slab_page_return_credit(struct slab_pool *p, uint64_t *credit, void *page)
{
    free(page);
    atomic_fetch_sub_explicit(&p->pages, 1, memory_order_relaxed);
    uncharge(p, credit, SLAB_PAGE_SIZE);
}

void
slab_page_return(struct slab_pool *p, void *page)
{
    slab_page_return_credit(p, NULL, page);
}

int
slab_large_alloc_credit(struct slab_pool *p, uint64_t *credit, size_t size, void **out)
{
    if (size == 0) {
        return -EINVAL;
    }
    if (!charge(p, credit, size)) {
        return -ENOSPC;
    }
    void *m = malloc(size);
    if (m == NULL) {
        uncharge(p, credit, size);
        return -ENOMEM;
    }
    /* Charge the allocator's rounding too: it is resident memory. */
    size_t usable = malloc_usable_size(m);
    if (usable > size) {
        uint64_t extra = usable - size;
        uint64_t from_credit = credit != NULL ? (*credit < extra ? *credit : extra) : 0;
        if (credit != NULL) {
            *credit -= from_credit;
        }
        atomic_fetch_add_explicit(&p->used, extra - from_credit, memory_order_relaxed);
    }
    *out = m;
    return 0;
}

int
slab_large_alloc(struct slab_pool *p, size_t size, void **out)
{
    return slab_large_alloc_credit(p, NULL, size, out);
}

size_t
slab_large_charged(const void *ptr)
{
    return malloc_usable_size((void *)ptr);
}

void
slab_large_free_credit(struct slab_pool *p, uint64_t *credit, void *ptr)
{
    size_t charged = malloc_usable_size(ptr);
    free(ptr);
    uncharge(p, credit, charged);
}

void
slab_large_free(struct slab_pool *p, void *ptr)
{
    slab_large_free_credit(p, NULL, ptr);
}

void
slab_credit_release(struct slab_pool *p, uint64_t *credit)
{
    if (*credit != 0) {
        budget_release(p, *credit);
        *credit = 0;
    }
}

int
slab_set_limit(struct slab_pool *p, uint64_t limit)
{
    if (limit == 0) {
        return -EINVAL;
    }
    atomic_store_explicit(&p->limit, limit, memory_order_relaxed);
    return 0;
}

uint64_t
slab_limit(const struct slab_pool *p)
{
    return atomic_load_explicit(&((struct slab_pool *)p)->limit, memory_order_relaxed);
}

uint64_t
slab_used(const struct slab_pool *p)
{
    return atomic_load_explicit(&((struct slab_pool *)p)->used, memory_order_relaxed);
}

uint64_t
slab_pages(const struct slab_pool *p)
{
    return atomic_load_explicit(&((struct slab_pool *)p)->pages, memory_order_relaxed);
}

uint64_t
slab_room(const struct slab_pool *p)
{
    uint64_t limit = slab_limit(p);
    uint64_t used = slab_used(p);
    return used >= limit ? 0 : limit - used;
}
