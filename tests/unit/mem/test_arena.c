/*
 * Unit tests for mem/arena: segments taken under a budget of resident
 * memory, spare segments reused before new memory is touched, runs of
 * several segments, releasing memory to the kernel, and limit changes.
 * (tests/fuzz/fuzz_arena.c checks the same against a model at random.)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "stashd/mem/arena.h"

#define SEG ARENA_SEG_MIN

/* Sanitizers' shadow memory makes RSS meaningless. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RSS_CHECKS 0
#else
#define RSS_CHECKS 1
#endif

static void
test_create_invalid(void **state)
{
    (void)state;
    struct arena *a = NULL;
    assert_int_equal(arena_create(&a, 4 * SEG, SEG + 1, 16), -EINVAL);        /* not a power of 2 */
    assert_int_equal(arena_create(&a, 4 * SEG, SEG / 2, 16), -EINVAL);        /* too small */
    assert_int_equal(arena_create(&a, 0, SEG, 16), -EINVAL);                  /* no budget */
    assert_int_equal(arena_create(&a, 17 * (uint64_t)SEG, SEG, 16), -EINVAL); /* over the range */
    assert_int_equal(arena_create(&a, 4 * SEG, SEG, 0), -EINVAL);
    assert_null(a);
}

static void
test_budget_and_spares(void **state)
{
    (void)state;
    struct arena *a = NULL;
    assert_int_equal(arena_create(&a, 4 * SEG, SEG, 16), 0);
    uint32_t s[5];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(arena_take(a, 1, &s[i]), 0);
        assert_true(arena_is_used(a, s[i]));
        memset(arena_base(a) + (size_t)s[i] * SEG, 'a' + i, SEG);
    }
    assert_int_equal(arena_used_bytes(a), 4 * SEG);
    assert_int_equal(arena_take(a, 1, &s[4]), -ENOSPC); /* the budget is spent */
    /* A given-back segment stays resident and is the next one taken. */
    arena_give(a, s[1], 1);
    assert_int_equal(arena_spare(a), 1);
    assert_int_equal(arena_resident_bytes(a), 4 * SEG);
    assert_int_equal(arena_take(a, 1, &s[4]), 0);
    assert_int_equal(s[4], s[1]);
    assert_int_equal(arena_base(a)[(size_t)s[4] * SEG], 'b'); /* its memory as it was */
    /* A released one goes back to the kernel: room for new memory. */
    arena_release(a, s[2], 1);
    assert_int_equal(arena_resident_bytes(a), 3 * SEG);
    assert_int_equal(arena_room(a), 1);
    assert_int_equal(arena_take(a, 1, &s[2]), 0);
    assert_int_equal(arena_base(a)[(size_t)s[2] * SEG], 0); /* fresh memory */
    arena_destroy(&a);
    assert_null(a);
}

static void
test_runs(void **state)
{
    (void)state;
    struct arena *a = NULL;
    assert_int_equal(arena_create(&a, 8 * SEG, SEG, 8), 0);
    uint32_t s[8];
    for (int i = 0; i < 8; i++) {
        assert_int_equal(arena_take(a, 1, &s[i]), 0);
    }
    /* Every other segment free: no run of two. */
    for (int i = 0; i < 8; i += 2) {
        arena_give(a, s[i], 1);
    }
    uint32_t first;
    assert_int_equal(arena_take(a, 2, &first), -ENOMEM);
    arena_give(a, s[3], 1);
    assert_int_equal(arena_take(a, 3, &first), 0);
    assert_true(first <= s[3] && s[3] < first + 3);
    for (uint32_t i = first; i < first + 3; i++) {
        assert_true(arena_is_used(a, i));
    }
    arena_destroy(&a);
}

/* A run that needs new memory when the budget is held by spares
 * elsewhere releases them to make room. */
static void
test_run_releases_spares(void **state)
{
    (void)state;
    struct arena *a = NULL;
    assert_int_equal(arena_create(&a, 4 * SEG, SEG, 16), 0);
    uint32_t s[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(arena_take(a, 1, &s[i]), 0);
    }
    arena_give(a, s[0], 1);
    arena_give(a, s[2], 1);
    uint32_t first;
    assert_int_equal(arena_take(a, 3, &first), -ENOSPC); /* 3 new, 2 spare to give */
    assert_int_equal(arena_take(a, 2, &first), 0);
    assert_true(arena_resident_bytes(a) <= 4 * SEG);
    arena_destroy(&a);
}

static long
rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) {
            res = 0;
        }
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Lowering the limit and trimming gives memory back to the kernel. */
static void
test_limit_and_trim(void **state)
{
    (void)state;
    enum { BIG = 1u << 20, N = 32 };
    struct arena *a = NULL;
    assert_int_equal(arena_create(&a, (uint64_t)N * BIG, BIG, 2 * N), 0);
    long before = rss_kb();
    uint32_t s[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(arena_take(a, 1, &s[i]), 0);
        memset(arena_base(a) + (size_t)s[i] * BIG, 1, BIG);
    }
    long full = rss_kb();
    assert_true(!RSS_CHECKS || full - before >= N * 1024 * 9 / 10);
    for (int i = 0; i < N; i++) {
        arena_give(a, s[i], 1);
    }
    assert_int_equal(arena_set_limit(a, 0), -EINVAL);
    assert_int_equal(arena_set_limit(a, 8ull * BIG), 0);
    assert_int_equal(arena_limit(a), 8ull * BIG);
    assert_int_equal(arena_trim(a), N - 8);
    assert_int_equal(arena_resident_bytes(a), 8ull * BIG);
    long trimmed = rss_kb();
    print_message("arena: +%ld KiB filled, +%ld KiB after trimming to 8 MiB\n", full - before,
                  trimmed - before);
    assert_true(!RSS_CHECKS || trimmed - before <= 9 * 1024);
    /* Spares first, then nothing new past the lowered limit. */
    for (int i = 0; i < 8; i++) {
        assert_int_equal(arena_take(a, 1, &s[i]), 0);
    }
    uint32_t x;
    assert_int_equal(arena_take(a, 1, &x), -ENOSPC);
    arena_destroy(&a);
}

/* The kernel's transparent huge pages are usable (not "[never]"). */
static bool
thp_available(void)
{
    char line[256] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f == NULL) {
        return false;
    }
    bool ok = fgets(line, sizeof(line), f) != NULL && strstr(line, "[never]") == NULL;
    fclose(f);
    return ok;
}

/* AnonHugePages (KiB) of the mapping that holds p, from /proc/self/smaps. */
static long
huge_kb_at(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    bool in = false;
    long kb = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        unsigned long lo, hi;
        /* a mapping's first line: "lo-hi perms ..." (field lines such as
         * "AnonHugePages:" do not parse as two hex numbers and a dash) */
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        } else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1) {
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kb;
}

/* arena_use_huge_pages: an anonymous range starts on a huge page and,
 * where the kernel allows, is backed by huge pages once written; giving
 * segments back still returns their memory. A file's arena keeps its
 * pages. */
static void
test_huge_pages(void **state)
{
    (void)state;
    enum { HUGE = ARENA_HUGE_PAGE, N = 8 };
    struct arena *a = NULL;
    assert_int_equal(arena_create(&a, (uint64_t)N * HUGE, HUGE, 4 * N), 0);
    assert_int_equal((uintptr_t)arena_base(a) % ARENA_HUGE_PAGE, 0);
    assert_false(arena_huge_pages(a));
    bool on = arena_use_huge_pages(a);
    assert_int_equal(on, arena_huge_pages(a));
    if (thp_available()) {
        assert_true(on);
    }
    long before = rss_kb();
    uint32_t s[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(arena_take(a, 1, &s[i]), 0);
        memset(arena_base(a) + (size_t)s[i] * HUGE, 7, HUGE);
    }
    long huge = huge_kb_at(arena_base(a));
    long full = rss_kb();
    print_message("arena: huge pages %s, %ld KiB of them after filling %d segments\n",
                  on ? "advised" : "refused", huge, N);
    if (RSS_CHECKS && on) {
        assert_true(huge >= HUGE / 1024); /* at least one: memory may be fragmented */
    }
    assert_true(!RSS_CHECKS || full - before >= N * (HUGE / 1024) * 9 / 10);
    for (int i = 0; i < N; i++) {
        assert_int_equal(arena_base(a)[(size_t)s[i] * HUGE + HUGE - 1], 7);
        arena_give(a, s[i], 1);
    }
    assert_int_equal(arena_set_limit(a, 2ull * HUGE), 0);
    assert_int_equal(arena_trim(a), N - 2);
    long trimmed = rss_kb();
    assert_true(!RSS_CHECKS || trimmed - before <= 3 * (HUGE / 1024));
    arena_destroy(&a);

    /* A memory file's arena: its pages are the file's. */
    FILE *tf = tmpfile();
    assert_non_null(tf);
    int fd = dup(fileno(tf));
    fclose(tf);
    assert_int_equal(ftruncate(fd, (off_t)4 * N * HUGE), 0);
    assert_int_equal(arena_create_file(&a, (uint64_t)N * HUGE, HUGE, 4 * N, fd), 0);
    assert_false(arena_use_huge_pages(a));
    assert_false(arena_huge_pages(a));
    arena_destroy(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_invalid), cmocka_unit_test(test_budget_and_spares),
        cmocka_unit_test(test_runs),           cmocka_unit_test(test_run_releases_spares),
        cmocka_unit_test(test_limit_and_trim), cmocka_unit_test(test_huge_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
