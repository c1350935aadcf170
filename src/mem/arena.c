/*
 * arena: the reserved range of item memory and its budget of resident
 * segments (see mem/arena.h).
 *
 * Two bitmaps describe the segments: `used` and `resident` (USED implies
 * resident; SPARE is resident and not used; FREE is neither). A take of one
 * segment is a word scan from a rotating hint; a run of several is a scan
 * for n clear bits of `used` in a row, taking the run that needs the fewest
 * FREE segments. Both are O(nsegs / 64) at worst, and happen once per
 * segment's worth of items, never per item.
 */
#include "stashd/mem/arena.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "stashd/util/log.h"

/* Every field is guarded by the caller's lock; the atomics are also read
 * without it, by statistics. */
struct arena {
    char *base;
    uint32_t seg_size;
    uint32_t nsegs;
    uint32_t words;      /* (nsegs + 63) / 64 */
    uint32_t hint;       /* word where the next single take starts looking */
    uint64_t *used;      /* bit per segment: USED */
    uint64_t *resident;  /* bit per segment: USED or SPARE */
    uint32_t limit_segs; /* limit / seg_size */
    int fd;              /* the memory file, or -1: anonymous */
    bool huge;           /* madvised for transparent huge pages (arena_use_huge_pages) */
    bool allocate;       /* with a file: fallocate works there (else segments fault in) */
    bool warned_full;    /* the file system's refusal was logged */
    _Atomic uint64_t limit;
    _Atomic uint32_t nused;
    _Atomic uint32_t nresident;
};

static inline bool
bit(const uint64_t *map, uint32_t i)
{
    return (map[i / 64] >> (i % 64)) & 1;
}

static inline void
set_bit(uint64_t *map, uint32_t i)
{
    map[i / 64] |= (uint64_t)1 << (i % 64);
}

static inline void
clear_bit(uint64_t *map, uint32_t i)
{
    map[i / 64] &= ~((uint64_t)1 << (i % 64));
}

static inline uint32_t
load32(const _Atomic uint32_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static inline void
store32(_Atomic uint32_t *p, uint32_t v)
{
    atomic_store_explicit(p, v, memory_order_relaxed);
}

/* Bits past nsegs in the last word read as USED, so scans never pick them. */
static inline uint64_t
used_word(const struct arena *a, uint32_t w)
{
    uint64_t u = a->used[w];
    uint32_t tail = a->nsegs % 64;
    if (w == a->words - 1 && tail != 0) {
        u |= ~(uint64_t)0 << tail;
    }
    return u;
}

/* An anonymous range of len bytes that starts on a huge page's boundary,
 * so that every huge page of it lies over whole segments (or whole
 * huge pages over a segment): what arena_use_huge_pages can back. */
static void *
map_aligned(size_t len)
{
    size_t extra = ARENA_HUGE_PAGE;
    char *m = mmap(NULL, len + extra, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
        return MAP_FAILED;
    }
    uintptr_t start = ((uintptr_t)m + extra - 1) & ~(uintptr_t)(extra - 1);
    size_t head = start - (uintptr_t)m;
    if (head > 0) {
        munmap(m, head);
    }
    if (extra - head > 0) {
        munmap((char *)start + len, extra - head);
    }
    return (void *)start;
}

static int
create(struct arena **ap, uint64_t limit, uint32_t seg_size, uint32_t nsegs, int fd)
{
    bool pow2 = seg_size != 0 && (seg_size & (seg_size - 1)) == 0;
    if (!pow2 || seg_size < ARENA_SEG_MIN || seg_size > ARENA_SEG_MAX || nsegs == 0 ||
        nsegs > ARENA_NSEGS_MAX || limit == 0 || limit > (uint64_t)nsegs * seg_size) {
        return -EINVAL;
    }
    int rc = -ENOMEM;
    struct arena *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return -ENOMEM;
    }
    a->seg_size = seg_size;
    a->nsegs = nsegs;
    a->words = (nsegs + 63) / 64;
    a->used = calloc(a->words, sizeof(uint64_t));
    a->resident = calloc(a->words, sizeof(uint64_t));
    if (a->used == NULL || a->resident == NULL) {
        goto fail;
    }
    /* NORESERVE: the range is address space only; memory is committed as
     * segments are touched, within the budget. */
    void *m = fd < 0 ? map_aligned((size_t)nsegs * seg_size)
                     : mmap(NULL, (size_t)nsegs * seg_size, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (m == MAP_FAILED) {
        rc = fd < 0 ? -ENOMEM : -errno;
        goto fail;
    }
    a->base = m;
    a->fd = fd;
    a->allocate = fd >= 0;
    atomic_init(&a->limit, limit);
    a->limit_segs = (uint32_t)(limit / seg_size);
    atomic_init(&a->nused, 0);
    atomic_init(&a->nresident, 0);
    *ap = a;
    return 0;

fail:
    free(a->used);
    free(a->resident);
    free(a);
    return rc;
}

bool
arena_use_huge_pages(struct arena *a)
{
#ifdef MADV_HUGEPAGE
    if (a->fd < 0 && !a->huge) {
        a->huge = madvise(a->base, (size_t)a->nsegs * a->seg_size, MADV_HUGEPAGE) == 0;
    }
#endif
    return a->huge;
}

bool
arena_huge_pages(const struct arena *a)
{
    return a->huge;
}

int
arena_create(struct arena **ap, uint64_t limit, uint32_t seg_size, uint32_t nsegs)
{
    return create(ap, limit, seg_size, nsegs, -1);
}

int
arena_create_file(struct arena **ap, uint64_t limit, uint32_t seg_size, uint32_t nsegs, int fd)
{
    int rc = fd < 0 ? -EINVAL : create(ap, limit, seg_size, nsegs, fd);
    if (rc != 0 && fd >= 0) {
        close(fd);
    }
    return rc;
}

void
arena_destroy(struct arena **ap)
{
    struct arena *a = *ap;
    if (a == NULL) {
        return;
    }
    munmap(a->base, (size_t)a->nsegs * a->seg_size);
    if (a->fd >= 0) {
        close(a->fd);
    }
    free(a->used);
    free(a->resident);
    free(a);
    *ap = NULL;
}

char *
arena_base(const struct arena *a)
{
    return a->base;
}

uint32_t
arena_nsegs(const struct arena *a)
{
    return a->nsegs;
}

uint32_t
arena_seg_size(const struct arena *a)
{
    return a->seg_size;
}

uint32_t
arena_room(const struct arena *a)
{
    uint32_t res = load32(&a->nresident);
    return res >= a->limit_segs ? 0 : a->limit_segs - res;
}

uint32_t
arena_spare(const struct arena *a)
{
    return load32(&a->nresident) - load32(&a->nused);
}

bool
arena_is_used(const struct arena *a, uint32_t seg)
{
    return seg < a->nsegs && bit(a->used, seg);
}

bool
arena_is_resident(const struct arena *a, uint32_t seg)
{
    return seg < a->nsegs && bit(a->resident, seg);
}

/*
 * With a file: allocate its blocks behind segments [first, first + n), so
 * that writing them cannot fault for want of space later (a full tmpfs
 * raises SIGBUS on the write). false when the file system refuses; a file
 * system without fallocate is written without it from then on.
 */
static bool
back(struct arena *a, uint32_t first, uint32_t n)
{
    if (!a->allocate) {
        return true;
    }
    off_t off = (off_t)first * a->seg_size, len = (off_t)n * a->seg_size;
    if (fallocate(a->fd, FALLOC_FL_KEEP_SIZE, off, len) == 0) {
        return true;
    }
    if (errno == EOPNOTSUPP || errno == ENOSYS) {
        a->allocate = false;
        log_warn("memory file: the file system cannot allocate ahead (%s): a full file system "
                 "will fault the process",
                 strerror(errno));
        return true;
    }
    if (!a->warned_full) {
        a->warned_full = true;
        log_warn("memory file: the file system refused %u more segment(s) (%s): the cache keeps "
                 "what fits",
                 n, strerror(errno));
    }
    return false;
}

/* Give the memory of segments [first, first + n) back: the file's blocks
 * (a hole, reading as zeroes), or the anonymous pages. */
static void
unback(struct arena *a, uint32_t first, uint32_t n)
{
    char *p = a->base + (size_t)first * a->seg_size;
    size_t len = (size_t)n * a->seg_size;
    /* Failure leaves the memory resident but uncounted: harmless for
     * correctness, and not expected for a private anonymous range or a
     * file system that can punch holes (tmpfs, ext4, xfs). */
    if (a->fd < 0 || fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                               (off_t)first * a->seg_size, (off_t)len) != 0) {
        (void)madvise(p, len, a->fd < 0 ? MADV_DONTNEED : MADV_REMOVE);
    }
}

/* Mark segment i USED (and resident). */
static void
mark_used(struct arena *a, uint32_t i)
{
    if (!bit(a->resident, i)) {
        set_bit(a->resident, i);
        store32(&a->nresident, load32(&a->nresident) + 1);
    }
    set_bit(a->used, i);
    store32(&a->nused, load32(&a->nused) + 1);
}

/* The first segment not used whose residency is `res`, from the hint. */
static bool
find_one(struct arena *a, bool res, uint32_t *out)
{
    for (uint32_t k = 0; k < a->words; k++) {
        uint32_t w = (a->hint + k) % a->words;
        uint64_t cand = ~used_word(a, w) & (res ? a->resident[w] : ~a->resident[w]);
        if (cand != 0) {
            a->hint = w;
            *out = w * 64 + (uint32_t)__builtin_ctzll(cand);
            return true;
        }
    }
    return false;
}

/* Release SPARE segments outside [skip, skip + n) until `want` segments of
 * room are free in the budget; false if there were not enough. */
static bool
release_spare(struct arena *a, uint32_t want, uint32_t skip, uint32_t n)
{
    for (uint32_t w = 0; w < a->words && arena_room(a) < want; w++) {
        uint64_t spare = a->resident[w] & ~used_word(a, w);
        for (; spare != 0 && arena_room(a) < want; spare &= spare - 1) {
            uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(spare);
            if (i >= skip && i < skip + n) {
                continue;
            }
            arena_release(a, i, 1);
        }
    }
    return arena_room(a) >= want;
}

static int
take_one(struct arena *a, uint32_t *first)
{
    uint32_t i;
    if (arena_spare(a) > 0 && find_one(a, true, &i)) {
        mark_used(a, i);
        *first = i;
        return 0;
    }
    if (arena_room(a) == 0) {
        return -ENOSPC;
    }
    if (!find_one(a, false, &i)) {
        return -ENOMEM; /* cannot happen while the range exceeds the limit */
    }
    if (!back(a, i, 1)) {
        return -ENOSPC;
    }
    mark_used(a, i);
    *first = i;
    return 0;
}

/*
 * The run of n segments not used that has the fewest FREE ones (which the
 * budget must back); false if the range has no run of n.
 */
static bool
find_run(const struct arena *a, uint32_t n, uint32_t *start, uint32_t *cost)
{
    bool found = false;
    uint32_t len = 0, nfree = 0;
    for (uint32_t i = 0; i < a->nsegs; i++) {
        if (i % 64 == 0 && len == 0 && used_word(a, i / 64) == ~(uint64_t)0) {
            i += 63; /* a whole word in use */
            continue;
        }
        if (bit(a->used, i)) {
            len = nfree = 0;
            continue;
        }
        len++;
        nfree += !bit(a->resident, i);
        if (len > n) {
            nfree -= !bit(a->resident, i - n);
            len = n;
        }
        if (len == n && (!found || nfree < *cost)) {
            found = true;
            *start = i + 1 - n;
            *cost = nfree;
            if (nfree == 0) {
                break;
            }
        }
    }
    return found;
}

static int
take_run(struct arena *a, uint32_t n, uint32_t *first)
{
    uint32_t start = 0, cost = 0;
    if (!find_run(a, n, &start, &cost)) {
        return -ENOMEM;
    }
    if (arena_room(a) < cost && !release_spare(a, cost, start, n)) {
        return -ENOSPC;
    }
    for (uint32_t i = start; i < start + n; i++) {
        if (!bit(a->resident, i) && !back(a, i, 1)) {
            for (uint32_t j = start; j < i; j++) {
                if (!bit(a->resident, j)) {
                    unback(a, j, 1); /* backed just now: back to FREE */
                }
            }
            return -ENOSPC;
        }
    }
    for (uint32_t i = start; i < start + n; i++) {
        mark_used(a, i);
    }
    *first = start;
    return 0;
}

int
arena_take(struct arena *a, uint32_t n, uint32_t *first)
{
    if (n == 0 || n > a->nsegs) {
        return -ENOMEM;
    }
    return n == 1 ? take_one(a, first) : take_run(a, n, first);
}

void
arena_give(struct arena *a, uint32_t first, uint32_t n)
{
    for (uint32_t i = first; i < first + n; i++) {
        if (bit(a->used, i)) {
            clear_bit(a->used, i);
            store32(&a->nused, load32(&a->nused) - 1);
        }
    }
}

void
arena_release(struct arena *a, uint32_t first, uint32_t n)
{
    arena_give(a, first, n);
    uint32_t released = 0;
    for (uint32_t i = first; i < first + n; i++) {
        if (bit(a->resident, i)) {
            clear_bit(a->resident, i);
            released++;
        }
    }
    if (released == 0) {
        return;
    }
    store32(&a->nresident, load32(&a->nresident) - released);
    unback(a, first, n);
}

uint32_t
arena_trim(struct arena *a)
{
    uint32_t before = load32(&a->nresident);
    for (uint32_t w = 0; w < a->words && load32(&a->nresident) > a->limit_segs; w++) {
        uint64_t spare = a->resident[w] & ~used_word(a, w);
        for (; spare != 0 && load32(&a->nresident) > a->limit_segs; spare &= spare - 1) {
            arena_release(a, w * 64 + (uint32_t)__builtin_ctzll(spare), 1);
        }
    }
    return before - load32(&a->nresident);
}

int
arena_adopt(struct arena *a, uint32_t first, uint32_t n)
{
    if (n == 0 || first >= a->nsegs || n > a->nsegs - first) {
        return -EINVAL;
    }
    for (uint32_t i = first; i < first + n; i++) {
        if (bit(a->used, i) || bit(a->resident, i)) {
            return -EINVAL;
        }
    }
    for (uint32_t i = first; i < first + n; i++) {
        mark_used(a, i);
    }
    return 0;
}

int
arena_drop_free(struct arena *a)
{
    if (a->fd < 0) {
        return 0;
    }
    /* One hole per stretch of FREE segments. */
    for (uint32_t i = 0; i < a->nsegs;) {
        if (bit(a->resident, i)) {
            i++;
            continue;
        }
        uint32_t j = i;
        while (j < a->nsegs && !bit(a->resident, j)) {
            j++;
        }
        if (fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)i * a->seg_size,
                      (off_t)(j - i) * a->seg_size) != 0) {
            return -errno;
        }
        i = j;
    }
    return 0;
}

int
arena_sync(struct arena *a)
{
    if (a->fd < 0) {
        return 0;
    }
    if (msync(a->base, (size_t)a->nsegs * a->seg_size, MS_SYNC) != 0 || fsync(a->fd) != 0) {
        return -errno;
    }
    return 0;
}

bool
arena_is_file(const struct arena *a)
{
    return a->fd >= 0;
}

int
arena_set_limit(struct arena *a, uint64_t limit)
{
    if (limit == 0 || limit > (uint64_t)a->nsegs * a->seg_size) {
        return -EINVAL;
    }
    atomic_store_explicit(&a->limit, limit, memory_order_relaxed);
    a->limit_segs = (uint32_t)(limit / a->seg_size);
    return 0;
}

uint64_t
arena_limit(const struct arena *a)
{
    return atomic_load_explicit(&a->limit, memory_order_relaxed);
}

uint64_t
arena_used_bytes(const struct arena *a)
{
    return (uint64_t)load32(&a->nused) * a->seg_size;
}

uint64_t
arena_resident_bytes(const struct arena *a)
{
    return (uint64_t)load32(&a->nresident) * a->seg_size;
}

int
arena_debug_protect(struct arena *a, bool readonly)
{
    int prot = readonly ? PROT_READ : PROT_READ | PROT_WRITE;
    return mprotect(a->base, (size_t)a->nsegs * a->seg_size, prot) == 0 ? 0 : -errno;
}
