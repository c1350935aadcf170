/*
 * shard: lifecycle, pages and free chunks, lookup, link/unlink/free and
 * the maintenance scan of one shard (see shard.h). Every function here
 * runs with the shard lock held, except shard_init and shard_fini.
 */
#include "store/shard.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stashd/util/clock.h"

int64_t
item_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((int64_t)ts.tv_sec - clock_process_started()) * 1000 + ts.tv_nsec / 1000000;
}

int
shard_init(struct shard *sh, struct shard_env *env, uint32_t index, unsigned ht_power)
{
    memset(sh, 0, sizeof(*sh));
    sh->env = env;
    sh->index = index;
    sh->cls = calloc((size_t)env->classes.count + 1, sizeof(*sh->cls));
    if (sh->cls == NULL) {
        goto fail_cls;
    }
    if (htable_init(&sh->ht, ht_power) != 0) {
        goto fail_ht;
    }
    /* Adaptive (glibc): spins briefly before sleeping, which suits
     * critical sections this short (a hash probe plus one value copy).
     * Not yet measured against a plain spinlock under contention. */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    int rc = pthread_mutex_init(&sh->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) {
        goto fail_lock;
    }
    return 0;

fail_lock:
    htable_fini(&sh->ht);
fail_ht:
    free(sh->cls);
    sh->cls = NULL;
fail_cls:
    return -ENOMEM;
}

void
shard_fini(struct shard *sh)
{
    if (sh->cls == NULL) {
        return;
    }
    struct slab_pool *pool = sh->env->pool;
    struct item_large *l = sh->large_head;
    while (l != NULL) {
        struct item_large *next = l->next;
        slab_large_free(pool, l);
        l = next;
    }
    for (unsigned c = 0; c < sh->env->classes.count; c++) {
        struct shard_class *sc = &sh->cls[c];
        for (uint32_t i = 0; i < sc->npages; i++) {
            slab_page_return(pool, sc->pages[i]);
        }
        free(sc->pages);
    }
    free(sh->cls);
    sh->cls = NULL;
    htable_fini(&sh->ht);
    pthread_mutex_destroy(&sh->lock);
}

/* --- free chunks ------------------------------------------------------ */

void
shard_chunk_push(struct shard_class *sc, struct item *it)
{
    it->iflags = 0;
    it->free_prev = NULL;
    it->next = sc->free_head;
    if (sc->free_head != NULL) {
        sc->free_head->free_prev = it;
    }
    sc->free_head = it;
    sc->nfree++;
}

void
shard_chunk_remove(struct shard_class *sc, struct item *it)
{
    if (it->free_prev != NULL) {
        it->free_prev->next = it->next;
    } else {
        sc->free_head = it->next;
    }
    if (it->next != NULL) {
        it->next->free_prev = it->free_prev;
    }
    it->next = NULL;
    it->free_prev = NULL;
    sc->nfree--;
}

struct item *
shard_chunk_pop(struct shard_class *sc)
{
    struct item *it = sc->free_head;
    if (it != NULL) {
        shard_chunk_remove(sc, it);
    }
    return it;
}

/* --- pages ------------------------------------------------------------ */

int
shard_page_attach(struct shard *sh, unsigned c, char *page)
{
    struct shard_class *sc = &sh->cls[c];
    if (sc->npages == sc->pages_cap) {
        uint32_t cap = sc->pages_cap ? sc->pages_cap * 2 : 8;
        char **np = realloc(sc->pages, (size_t)cap * sizeof(*np));
        if (np == NULL) {
            return -ENOMEM;
        }
        sc->pages = np;
        sc->pages_cap = cap;
    }
    sc->pages[sc->npages++] = page;
    sh->held += SLAB_PAGE_SIZE;
    /* Carve back to front so the free list hands chunks out in address
     * order. */
    uint32_t size = sh->env->classes.size[c];
    for (uint32_t k = sh->env->classes.per_page[c]; k-- > 0;) {
        struct item *it = (struct item *)(page + (size_t)k * size);
        it->clsid = (uint8_t)c;
        shard_chunk_push(sc, it);
    }
    return 0;
}

char *
shard_page_detach(struct shard *sh, unsigned c, uint32_t pi)
{
    struct shard_class *sc = &sh->cls[c];
    assert(pi < sc->npages);
    char *page = sc->pages[pi];
    sc->npages--;
    sc->pages[pi] = sc->pages[sc->npages];
    /* Keep the hand on a valid page: if the last page moved into pi and
     * the hand was on it, follow it; if the hand was on the removed page,
     * restart on whatever page took its place. */
    if (sc->hand_page == sc->npages) {
        sc->hand_page = pi;
    } else if (sc->hand_page == pi) {
        sc->hand_chunk = 0;
    }
    if (sc->hand_page >= sc->npages) {
        sc->hand_page = 0;
        sc->hand_chunk = 0;
    }
    sh->held -= SLAB_PAGE_SIZE;
    return page;
}

/* --- items ------------------------------------------------------------ */

static inline struct shard_class *
class_of(struct shard *sh, const struct item *it)
{
    return &sh->cls[(it->iflags & ITEM_LARGE) ? shard_large_class(sh) : it->clsid];
}

static void
large_list_remove(struct shard *sh, struct item_large *l)
{
    if (l->prev != NULL) {
        l->prev->next = l->next;
    } else {
        sh->large_head = l->next;
    }
    if (l->next != NULL) {
        l->next->prev = l->prev;
    } else {
        sh->large_tail = l->prev;
    }
    l->prev = l->next = NULL;
}

static void
large_list_push(struct shard *sh, struct item_large *l)
{
    l->prev = NULL;
    l->next = sh->large_head;
    if (sh->large_head != NULL) {
        sh->large_head->prev = l;
    } else {
        sh->large_tail = l;
    }
    sh->large_head = l;
}

void
shard_large_to_head(struct shard *sh, struct item_large *l)
{
    if (sh->large_head != l) {
        large_list_remove(sh, l);
        large_list_push(sh, l);
    }
}

/* Bookkeeping when an item becomes linked. */
static void
note_linked(struct shard *sh, struct item *it)
{
    struct shard_class *sc = class_of(sh, it);
    it->iflags |= ITEM_LINKED;
    sc->nitems++;
    sc->requested += item_total(it);
    sh->total_items++;
    if (it->exptime != 0) {
        sh->nexpiring++;
    }
    if (it->iflags & ITEM_LARGE) {
        large_list_push(sh, item_to_large(it));
    }
}

/* Bookkeeping when an item stops being linked. */
static void
note_unlinked(struct shard *sh, struct item *it)
{
    struct shard_class *sc = class_of(sh, it);
    it->iflags &= (uint8_t) ~(ITEM_LINKED | ITEM_ACCESSED);
    sc->nitems--;
    sc->requested -= item_total(it);
    if (it->exptime != 0) {
        sh->nexpiring--;
    }
    if (it->iflags & ITEM_LARGE) {
        large_list_remove(sh, item_to_large(it));
    }
}

void
shard_link(struct shard *sh, struct item *it, uint64_t hash)
{
    htable_insert(&sh->ht, hash, it);
    note_linked(sh, it);
}

void
shard_replace(struct shard *sh, struct item *old_it, struct item *new_it, uint64_t hash)
{
    htable_replace(&sh->ht, hash, old_it, new_it);
    note_linked(sh, new_it);
    note_unlinked(sh, old_it);
    shard_free(sh, old_it);
}

void
shard_unlink(struct shard *sh, struct item *it)
{
    htable_unlink(&sh->ht, item_hash(it), it);
    note_unlinked(sh, it);
}

void
shard_free(struct shard *sh, struct item *it)
{
    assert(!(it->iflags & ITEM_LINKED));
    if (it->iflags & ITEM_LARGE) {
        struct item_large *l = item_to_large(it);
        uint64_t charged = slab_large_charged(l);
        sh->large_bytes -= charged;
        sh->held -= charged;
        slab_large_free_credit(sh->env->pool, sh->credit, l);
        return;
    }
    shard_chunk_push(&sh->cls[it->clsid], it);
}

void
shard_count_gone(struct shard *sh, const struct item *it, enum item_state why)
{
    struct shard_counters *ctr = &class_of(sh, it)->ctr;
    if (why == ITEM_LIVE) {
        uint32_t now = clock_now();
        ctr->evicted++;
        ctr->evicted_at = now;
        ctr->evicted_time = now > it->atime ? now - it->atime : 0;
        if (it->exptime != 0) {
            ctr->evicted_nonzero++;
        }
        if (!(it->iflags & ITEM_FETCHED)) {
            ctr->evicted_unfetched++;
        }
        if (sh->env->on_evict != NULL) {
            const struct slab_classes *classes = &sh->env->classes;
            struct store_evict_info e = {
                .key = item_key((struct item *)it), /* not written */
                .nkey = it->nkey,
                .nbytes = it->nbytes,
                .exptime = it->exptime,
                .atime = it->atime,
                .fetched = (it->iflags & ITEM_FETCHED) != 0,
                .cls = (it->iflags & ITEM_LARGE) ? classes->count + 1 : (unsigned)it->clsid + 1,
            };
            sh->env->on_evict(sh->env->evict_ctx, &e);
        }
        return;
    }
    ctr->reclaimed++;
    if (why == ITEM_EXPIRED) {
        ctr->expired++;
        if (!(it->iflags & ITEM_FETCHED)) {
            ctr->expired_unfetched++;
        }
    }
}

/* Unlink through a known link (no hash needed), count and free. */
static void
drop_at(struct shard *sh, struct item **link, struct item *it, enum item_state why)
{
    *link = it->next;
    it->next = NULL;
    sh->ht.nitems--;
    note_unlinked(sh, it);
    shard_count_gone(sh, it, why);
    shard_free(sh, it);
}

void
shard_drop_dead(struct shard *sh, struct item *it, enum item_state why)
{
    shard_unlink(sh, it);
    shard_count_gone(sh, it, why);
    shard_free(sh, it);
}

struct item *
shard_find(struct shard *sh, const char *key, size_t nkey, uint64_t hash, uint32_t now,
           enum item_state *why)
{
    struct item **link = htable_slot(&sh->ht, hash, key, nkey);
    struct item *it = *link;
    *why = ITEM_LIVE;
    if (it == NULL) {
        return NULL;
    }
    enum item_state st = item_state(it, now, sh->flush_cas);
    if (st == ITEM_LIVE) {
        return it;
    }
    drop_at(sh, link, it, st);
    *why = st;
    return NULL;
}

uint64_t
shard_scan(struct shard *sh, uint64_t nbuckets, uint32_t now)
{
    uint64_t freed = 0;
    /* A grow in progress also moves on without inserts. */
    htable_migrate(&sh->ht, nbuckets);
    for (uint64_t i = 0; i < nbuckets; i++) {
        struct item **link = htable_bucket_head(&sh->ht, sh->scan_cursor & sh->ht.mask);
        sh->scan_cursor++;
        struct item *it;
        while ((it = *link) != NULL) {
            enum item_state st = item_state(it, now, sh->flush_cas);
            if (st == ITEM_LIVE) {
                link = &it->next;
                continue;
            }
            drop_at(sh, link, it, st);
            freed++;
        }
    }
    return freed;
}

void
shard_set_expiry(struct shard *sh, struct item *it, uint32_t exptime, uint32_t ms, bool ms_form)
{
    if ((it->exptime != 0) != (exptime != 0)) {
        if (exptime != 0) {
            sh->nexpiring++;
        } else {
            sh->nexpiring--;
        }
    }
    if (it->iflags & ITEM_EXP_MS) {
        /* The word held milliseconds: the client flags were 0. */
        it->flags = 0;
        it->iflags &= (uint8_t)~ITEM_EXP_MS;
    }
    it->exptime = exptime;
    if (ms_form && exptime != 0) {
        it->flags = ms;
        it->iflags |= ITEM_EXP_MS;
    }
}

uint64_t
shard_walk_bucket(struct shard *sh, uint64_t b, uint32_t now, shard_item_fn fn, void *ctx)
{
    uint64_t n = 0;
    struct item **link = htable_bucket_head(&sh->ht, b & sh->ht.mask);
    struct item *it;
    while ((it = *link) != NULL) {
        enum item_state st = item_state(it, now, sh->flush_cas);
        if (st != ITEM_LIVE) {
            drop_at(sh, link, it, st);
            continue;
        }
        fn(ctx, it);
        n++;
        link = &it->next;
    }
    return n;
}
