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
    "background_thread:true,dirty_decay_ms:100,muzzy_decay_ms:0,tcache_max:4096";

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
