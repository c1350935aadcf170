/*
 * malloc_conf: jemalloc settings for the memory limit (see malloc_conf.c).
 */
#pragma once

/* In the child of the -d fork: restart jemalloc's background purge
 * threads, which a fork stops. 0, or jemalloc's error number; a no-op
 * without jemalloc (sanitizer builds). */
int malloc_after_daemon_fork(void);
