/*
 * arena: the memory every item lives in. One address range is reserved
 * at start (no memory behind it yet) and cut into equal segments; the
 * store packs items into segments (see store/seg.h) and addresses them by
 * their offset from the arena's base, so that one mapping holds them all.
 *
 * A segment is in one of three states:
 *
 *   FREE   no memory behind it: never touched, or given back to the kernel
 *   SPARE  not in use, but its pages are resident (freed, not yet reused)
 *   USED   taken by the store
 *
 *   base                                                      base + nsegs * seg_size
 *   | USED | USED | SPARE | FREE | FREE | USED | USED | FREE | ... |
 *
 * The budget is resident memory: (USED + SPARE) * seg_size <= limit. A
 * take prefers SPARE segments (no new memory) and only backs a FREE one
 * while the budget has room; a release (madvise) turns segments back into
 * FREE, which is how a lowered limit lowers resident memory. The range is
 * larger than the limit so that runs of several contiguous segments (items
 * larger than a segment) can be found; untouched, it costs nothing.
 *
 * The range is anonymous memory, or a shared mapping of a file (a memory
 * file, -e: what is written survives the process, for a warm restart; see
 * store/restart.h). With a file, a segment's blocks are allocated in the
 * file when it is first backed (fallocate: a full file system refuses the
 * take, as the budget would, rather than fault later) and given back to
 * the file system when it is released (a hole punched), so the file's
 * allocated size follows resident memory; the file itself is as long as
 * the whole range, sparse.
 *
 * Not thread-safe: the caller serialises every call (the store's segment
 * lock). The counters that statistics read from other threads are relaxed
 * atomics.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARENA_SEG_MIN (64u * 1024) /* smallest segment; a multiple of the page size */
#define ARENA_SEG_MAX (1u << 30)   /* largest segment */
#define ARENA_NSEGS_MAX (1u << 26) /* segments in one range */

struct arena;

/*
 * Reserve nsegs segments of seg_size bytes (a power of two in
 * [ARENA_SEG_MIN, ARENA_SEG_MAX]) under a budget of limit bytes. 0,
 * -EINVAL (bad sizes, limit 0 or larger than the range), -ENOMEM (the
 * address range could not be reserved).
 */
int arena_create(struct arena **ap, uint64_t limit, uint32_t seg_size, uint32_t nsegs);
/*
 * The same, over the file open read-write at fd, at least nsegs * seg_size
 * bytes long (a shared mapping: its content stays as it is, and every
 * segment starts FREE: arena_adopt claims the ones whose content is kept).
 * The arena owns fd from the call on (closed by arena_destroy, or here on
 * failure). 0, -EINVAL, -ENOMEM, or -errno of the mapping.
 */
int arena_create_file(struct arena **ap, uint64_t limit, uint32_t seg_size, uint32_t nsegs, int fd);

/* An anonymous arena's range starts on a multiple of this. */
#define ARENA_HUGE_PAGE ((size_t)2 << 20)
/*
 * Ask the kernel to back an anonymous arena with transparent huge pages
 * (madvise MADV_HUGEPAGE; what it does then follows the kernel's
 * transparent_hugepage settings: nothing under "never"). A 2 MiB page
 * maps what 512 TLB entries would: a pipelined batch's items, scattered
 * over the arena, then miss the TLB far less. The cost is in residency:
 * the first write in a huge page makes all of it resident, so a segment
 * just opened holds up to 2 MiB (ARENA_HUGE_PAGE) before it is filled.
 * True if the range is so advised; false for a file's arena (its pages
 * are the file's) or when the kernel refused.
 */
bool arena_use_huge_pages(struct arena *a);
bool arena_huge_pages(const struct arena *a);
void arena_destroy(struct arena **ap);

/* The reserved range: valid until arena_destroy. */
char *arena_base(const struct arena *a);
uint32_t arena_nsegs(const struct arena *a);
uint32_t arena_seg_size(const struct arena *a);

/*
 * Take n >= 1 contiguous segments that are not USED; they become USED
 * and *first is the first of them. Their memory holds whatever it held
 * before (zeroes if it was FREE). 0; -ENOSPC when the budget cannot back
 * them (the caller gives or releases some and tries again); -ENOMEM when
 * the range has no run of n free segments (only for n > 1, when the
 * range is fragmented).
 */
int arena_take(struct arena *a, uint32_t n, uint32_t *first);
/* USED -> SPARE: still resident and counted, ready for the next take. */
void arena_give(struct arena *a, uint32_t first, uint32_t n);
/* USED or SPARE -> FREE: the memory goes back to the kernel. */
void arena_release(struct arena *a, uint32_t first, uint32_t n);
/* Release SPARE segments until resident memory is within the limit
 * (after it was lowered); returns how many were released. */
uint32_t arena_trim(struct arena *a);

/*
 * Mark the FREE segments [first, first + n) USED, keeping their memory as
 * it is (a restart adopts what the file holds). The budget does not bound
 * this: a caller over it releases until within (arena_trim, eviction).
 * 0, or -EINVAL when the run is out of range or a segment is not FREE.
 */
int arena_adopt(struct arena *a, uint32_t first, uint32_t n);
/* With a file: give the file system back the blocks behind every FREE
 * segment (whatever an earlier process left there). 0 or -errno. */
int arena_drop_free(struct arena *a);
/* With a file: write what the range holds to it (msync) and the file to
 * its device (fsync); 0 or -errno. Anonymous: 0. */
int arena_sync(struct arena *a);
bool arena_is_file(const struct arena *a);

/* Change the budget. Lowering it below what is resident makes takes of
 * FREE segments fail until the caller has given back and released enough
 * (arena_trim, arena_release). 0 or -EINVAL (0, or over the range). */
int arena_set_limit(struct arena *a, uint64_t limit);

/* Statistics: any thread, without the caller's lock. */
uint64_t arena_limit(const struct arena *a);
uint64_t arena_used_bytes(const struct arena *a);     /* USED */
uint64_t arena_resident_bytes(const struct arena *a); /* USED + SPARE */

/* Under the caller's lock: segments the budget could still back. */
uint32_t arena_room(const struct arena *a);
/* SPARE segments. */
uint32_t arena_spare(const struct arena *a);
bool arena_is_used(const struct arena *a, uint32_t seg);

/* For tests: make the whole range read-only (or writable again), so that
 * a write to item memory faults. 0 or -errno. */
int arena_debug_protect(struct arena *a, bool readonly);
bool arena_is_resident(const struct arena *a, uint32_t seg);
