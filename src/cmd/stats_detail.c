/*
 * stats_detail: per-prefix counts (see cmd/stats_detail.h). A chained hash
 * of STATS_DETAIL_BUCKETS buckets, as memcached's; an entry is allocated
 * when a prefix is first seen (while detail is on: never on the request
 * path otherwise).
 */
#include "cmd/stats_detail.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/util/buf.h"
#include "stashd/util/hash.h"

#define STATS_DETAIL_BUCKETS 256
#define STATS_DETAIL_DELIM ':'

struct prefix {
    struct prefix *next;
    uint64_t gets, hits, sets, dels;
    size_t len;
    char name[]; /* len bytes, not terminated */
};

/* lock guards every field. */
struct stats_detail {
    pthread_mutex_t lock;
    struct prefix *bucket[STATS_DETAIL_BUCKETS];
    size_t count;
};

int
stats_detail_create(struct stats_detail **dp)
{
    struct stats_detail *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return -ENOMEM;
    }
    pthread_mutex_init(&d->lock, NULL);
    *dp = d;
    return 0;
}

static void
clear_locked(struct stats_detail *d)
{
    for (size_t i = 0; i < STATS_DETAIL_BUCKETS; i++) {
        struct prefix *p = d->bucket[i];
        while (p != NULL) {
            struct prefix *next = p->next;
            free(p);
            p = next;
        }
        d->bucket[i] = NULL;
    }
    d->count = 0;
}

void
stats_detail_destroy(struct stats_detail **dp)
{
    struct stats_detail *d = *dp;
    if (d == NULL) {
        return;
    }
    clear_locked(d);
    pthread_mutex_destroy(&d->lock);
    free(d);
    *dp = NULL;
}

/* The prefix's entry, made if new and there is room; NULL otherwise.
 * Called with the lock held. */
static struct prefix *
find_locked(struct stats_detail *d, const char *name, size_t len)
{
    size_t b = hash_bytes(name, len) % STATS_DETAIL_BUCKETS;
    for (struct prefix *p = d->bucket[b]; p != NULL; p = p->next) {
        if (p->len == len && memcmp(p->name, name, len) == 0) {
            return p;
        }
    }
    if (d->count >= STATS_DETAIL_MAX) {
        return NULL;
    }
    struct prefix *p = calloc(1, sizeof(*p) + len);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p->name, name, len);
    p->len = len;
    p->next = d->bucket[b];
    d->bucket[b] = p;
    d->count++;
    return p;
}

void
stats_detail_record(struct stats_detail *d, const char *key, size_t nkey, enum stats_detail_op op,
                    bool hit)
{
    const char *delim = memchr(key, STATS_DETAIL_DELIM, nkey);
    if (delim == NULL) {
        return;
    }
    pthread_mutex_lock(&d->lock);
    struct prefix *p = find_locked(d, key, (size_t)(delim - key));
    if (p != NULL) {
        switch (op) {
        case STATS_DETAIL_GET:
            p->gets++;
            p->hits += hit;
            break;
        case STATS_DETAIL_SET:
            p->sets++;
            break;
        case STATS_DETAIL_DEL:
            p->dels++;
            break;
        }
    }
    pthread_mutex_unlock(&d->lock);
}

int
stats_detail_dump(struct stats_detail *d, struct buf *out)
{
    int rc = 0;
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < STATS_DETAIL_BUCKETS && rc == 0; i++) {
        for (const struct prefix *p = d->bucket[i]; p != NULL && rc == 0; p = p->next) {
            rc =
                buf_appendf(out, "PREFIX %.*s get %llu hit %llu set %llu del %llu\r\n", (int)p->len,
                            p->name, (unsigned long long)p->gets, (unsigned long long)p->hits,
                            (unsigned long long)p->sets, (unsigned long long)p->dels);
        }
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

void
stats_detail_clear(struct stats_detail *d)
{
    pthread_mutex_lock(&d->lock);
    clear_locked(d);
    pthread_mutex_unlock(&d->lock);
}
