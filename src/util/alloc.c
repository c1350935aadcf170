/*
 * alloc: jemalloc arenas for groups of threads (see alloc.h).
 */
#include "stashd/util/alloc.h"

#ifdef STASHD_JEMALLOC
#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <stddef.h>

/* Weak: unit tests link this layer without jemalloc; there it is NULL. */
#pragma weak mallctl

#define ALLOC_GROUPS_MAX 64 /* later groups share the last one's arena */

static pthread_mutex_t groups_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned group_arena[ALLOC_GROUPS_MAX]; /* 0: not made yet */

int
alloc_thread_group(unsigned group)
{
    if (group == 0 || mallctl == NULL) {
        return 0;
    }
    if (group >= ALLOC_GROUPS_MAX) {
        group = ALLOC_GROUPS_MAX - 1;
    }
    pthread_mutex_lock(&groups_lock);
    unsigned ind = group_arena[group];
    int rc = 0;
    if (ind == 0) {
        size_t len = sizeof(ind);
        rc = mallctl("arenas.create", &ind, &len, NULL, 0);
        if (rc == 0) {
            group_arena[group] = ind;
        }
    }
    pthread_mutex_unlock(&groups_lock);
    return rc != 0 ? rc : mallctl("thread.arena", NULL, NULL, &ind, sizeof(ind));
}
#else
int
alloc_thread_group(unsigned group)
{
    (void)group;
    return 0;
}
#endif
