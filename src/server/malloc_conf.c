/*
 * malloc_conf: how jemalloc returns freed memory to the kernel, so that the
 * memory limit holds for resident memory and not only for what the store
 * counts (README, "Memory").
 *
 * Items over the largest slab chunk are separate allocations; under churn
 * every eviction frees one and every set allocates one. With jemalloc's
 * defaults (dirty pages purged over 10 s, and only when the arena that owns
 * them is busy) freed pages stay resident: a 64 MiB cache churning values
 * of 10 B to 500 kB peaked at 155 MiB RSS (tests/integration/test_memcap.py).
 * Purging within ~100 ms from jemalloc's own background threads peaks at
 * 92 MiB under the same churn and costs ~20% more CPU per large-value
 * request (stashd-bench, values 20-200 kB, 1:1 set:get); purging at once
 * (dirty_decay_ms:0) holds 68 MiB but costs 3.7x. Small items live in slab
 * pages, which are not freed, so small-value workloads do not pay.
 *
 * Freed blocks of up to tcache_max stay in the freeing thread's cache,
 * where neither decay nor the background threads reach them: by default
 * up to 32 KiB, 20 of each size, per thread, so read and reply buffers of
 * 16-32 KiB freed by four workers under the same churn (-m 64 -t 4) held
 * ~2 MiB more at the peak: 75.2 / 75.6 MiB against 73.2 / 72.9 MiB with
 * tcache_max:4096 (alternating runs). Nothing on a request's path
 * allocates blocks that large, so the cache loses no speed there.
 *
 * One automatic arena (narenas:1) instead of 4 per CPU: an arena holds its
 * own metadata, a partly used slab per size class and its dirty pages, and
 * stashd allocates nothing per request, so arenas buy it no speed. Workers
 * share one arena per 4 (net/worker.c, util/alloc.h). Idle -m 64: -t 4
 * 6.2 -> 6.0 MiB RSS; -t 16 8.6 -> 7.5 MiB where every thread had its own
 * arena (a 16-CPU host). Churn at -m 64 -t 4: 71.7-72.0 -> 71.1-71.4 MiB.
 * Server CPU per request with 2-64 kB values at -t 2: the same (42-44 us).
 *
 * jemalloc reads this symbol at start-up; the MALLOC_CONF environment
 * variable still overrides it. Sanitizer builds do not link jemalloc and
 * ignore it.
 *
 * A fork stops jemalloc's background threads in the child (jemalloc's
 * postfork handler), so -d would run without them and return freed memory
 * only on allocator activity; malloc_after_daemon_fork starts them again.
 */
#include "server/malloc_conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifdef STASHD_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

/* Not static and not in a header: jemalloc looks the name up. */
extern const char *malloc_conf;
const char *malloc_conf =
    "background_thread:true,dirty_decay_ms:100,muzzy_decay_ms:0,tcache_max:4096,narenas:1";

int
malloc_after_daemon_fork(void)
{
#ifdef STASHD_JEMALLOC
    const char *env = getenv("MALLOC_CONF");
    if (env != NULL && strstr(env, "background_thread:false") != NULL) {
        return 0; /* the operator turned them off */
    }
    bool on = true;
    return mallctl("background_thread", NULL, NULL, &on, sizeof(on));
#else
    return 0;
#endif
}
