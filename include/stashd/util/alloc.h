/*
 * alloc: which jemalloc arena a thread allocates from.
 *
 * jemalloc gives every thread one of 4 arenas per CPU by default, each with
 * its own metadata, partly used slabs and dirty pages. stashd allocates
 * nothing per request (items live in the store's own arena, buffers are
 * pooled), so that many arenas buy no speed and cost resident memory:
 * malloc_conf (server/malloc_conf.c) asks for one automatic arena, and
 * workers come in groups that share one (net/worker.c).
 */
#pragma once

/* From now on the calling thread allocates from group `group`'s arena:
 * group 0 is jemalloc's automatic arena, where every thread starts; a later
 * group gets an arena of its own, made on first use. 0 or an errno value.
 * A no-op returning 0 where jemalloc is not linked (sanitizer builds, unit
 * tests). */
int alloc_thread_group(unsigned group);
