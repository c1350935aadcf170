/*
 * Unit tests for store/restart: a store over a memory file, saved at a
 * clean stop and created again, holds every item it held (value, flags,
 * cas, expiry, meta state), and the cas sequence goes on above them;
 * anything else (no metadata, a crash after a restore, a damaged,
 * truncated or foreign file or metadata, changed settings) starts empty,
 * and a second process cannot take the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/restart.h"
#include "store_helpers.h"

#define MIB (1024u * 1024)
#define NKEYS 3000

static char dir[64];
static char path[96];
static char meta[128];

static int
setup(void **state)
{
    (void)state;
    /* tmpfs when there is one (as in production), else the temp dir */
    snprintf(dir, sizeof(dir), "%s",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm/stashd-rsXXXXXX" : "/tmp/stashd-rsXXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/items", dir);
    snprintf(meta, sizeof(meta), "%s.meta", path);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    unlink(meta);
    unlink(path);
    rmdir(dir);
    return 0;
}

static struct store_config
file_config(uint64_t limit)
{
    struct store_config cfg = test_config(limit, 64);
    cfg.memory_file = path;
    return cfg;
}

static struct store *
open_store(const struct store_config *cfg, struct store_restart_info *info)
{
    struct store *s = test_store(cfg);
    store_restart_info(s, info);
    assert_true(info->file);
    return s;
}

static void
save_and_close(struct store **s)
{
    uint64_t items = 0;
    assert_int_equal(store_save(*s, &items), 0);
    store_destroy(s);
    assert_int_equal(access(meta, F_OK), 0);
}

/* What a key should read as. */
struct want {
    char *value;
    uint32_t nbytes, flags, exptime;
    uint64_t cas;
    bool present;
};

static struct want wants[NKEYS];
static char key_buf[32];

static const char *
key_of(unsigned i)
{
    snprintf(key_buf, sizeof(key_buf), "key:%u", i);
    return key_buf;
}

/* Fill with items of many sizes (one larger than a segment), some with
 * flags and expiry, then overwrite and delete some. */
static void
fill(struct store *s, uint32_t now)
{
    srand(7);
    for (unsigned i = 0; i < NKEYS; i++) {
        struct want *w = &wants[i];
        free(w->value);
        w->nbytes = i == 17 ? 700 * 1024 : (uint32_t)(rand() % 3000);
        w->value = malloc(w->nbytes + 1);
        for (uint32_t b = 0; b < w->nbytes; b++) {
            w->value[b] = (char)(rand() & 0xff);
        }
        w->flags = i % 3 == 0 ? (uint32_t)rand() : 0;
        w->exptime = i % 4 == 0 ? now + 3600 + i : 0;
        assert_int_equal(kv_set_mode(s, STORE_MODE_SET, key_of(i), w->value, w->nbytes, w->flags,
                                     w->exptime, 0, &w->cas),
                         STORE_OK);
        w->present = true;
    }
    for (unsigned i = 0; i < NKEYS; i += 7) {
        assert_int_equal(kv_delete(s, key_of(i), 0), STORE_OK);
        wants[i].present = false;
    }
    for (unsigned i = 1; i < NKEYS; i += 11) {
        struct want *w = &wants[i];
        w->nbytes = 5;
        memcpy(w->value, "again", 5);
        assert_int_equal(kv_set_mode(s, STORE_MODE_SET, key_of(i), w->value, 5, w->flags,
                                     w->exptime, 0, &w->cas),
                         STORE_OK);
        w->present = true;
    }
}

static void
check_all(struct store *s)
{
    static struct got g;
    for (unsigned i = 0; i < NKEYS; i++) {
        const struct want *w = &wants[i];
        enum store_rc rc = kv_get(s, key_of(i), &g, NULL);
        if (!w->present) {
            assert_int_equal(rc, STORE_NOT_FOUND);
            continue;
        }
        assert_int_equal(rc, STORE_OK);
        assert_int_equal(g.nbytes, w->nbytes);
        assert_int_equal(g.flags, w->flags);
        assert_int_equal(g.exptime, w->exptime);
        assert_true(g.cas == w->cas);
        if (!g.large_value) {
            assert_memory_equal(g.value, w->value, w->nbytes);
        }
    }
}

static void
set_stale(void *ctx, struct store_meta *m)
{
    (void)ctx;
    store_meta_set_state(m, STORE_META_STALE | STORE_META_WIN_SENT, 0);
}

static void
read_state(void *ctx, struct store_meta *m)
{
    *(unsigned *)ctx = store_meta_state(m);
}

static unsigned
meta_state(struct store *s, const char *key, store_meta_fn fn)
{
    struct store_key k;
    store_key_init(&k, key, strlen(key));
    struct store_meta_opts o = {.no_bump = true};
    unsigned st = 0;
    assert_int_equal(store_meta(s, &k, &o, fn, &st, NULL), STORE_OK);
    return st;
}

static void
test_restore_everything(void **state)
{
    (void)state;
    struct store_config cfg = file_config(8 * MIB);
    struct store_restart_info info;
    struct store *s = open_store(&cfg, &info);
    assert_false(info.restored);
    assert_string_equal(info.reason, "the file is new");
    fill(s, clock_now());
    meta_state(s, key_of(5), set_stale);
    uint64_t items_before = kv_stats(s).curr_items;
    save_and_close(&s);

    s = open_store(&cfg, &info);
    assert_true(info.restored);
    assert_int_equal(info.items, items_before);
    assert_int_equal(access(meta, F_OK), -1); /* consumed at start */
    check_all(s);
    assert_int_equal(meta_state(s, key_of(5), read_state), STORE_META_STALE | STORE_META_WIN_SENT);
    assert_int_equal(meta_state(s, key_of(6), read_state), 0);
    struct store_stats st = kv_stats(s);
    assert_int_equal(st.curr_items, items_before);
    assert_int_equal(st.restart_warm, 1);
    assert_int_equal(st.restart_items, items_before);
    /* The sequence goes on: a new store of a key gets a larger cas. */
    for (unsigned i = 1; i < 200; i++) {
        uint64_t cas = 0;
        assert_int_equal(kv_set_mode(s, STORE_MODE_SET, key_of(i), "x", 1, 0, 0, 0, &cas),
                         STORE_OK);
        assert_true(cas > wants[i].cas);
    }
    /* A cas from before the restart still works. */
    uint64_t cas = 0;
    assert_int_equal(
        kv_set_mode(s, STORE_MODE_CAS, key_of(300), "y", 1, 0, 0, wants[300].cas, &cas), STORE_OK);
    /* And the restored store saves and restores again. */
    wants[300] = (struct want){.value = wants[300].value, .nbytes = 1, .cas = cas, .present = true};
    wants[300].value[0] = 'y';
    for (unsigned i = 1; i < 200; i++) {
        wants[i].nbytes = 1;
        wants[i].value[0] = 'x';
        wants[i].flags = 0;
        wants[i].exptime = 0;
        wants[i].present = true;
        struct got g;
        assert_int_equal(kv_get(s, key_of(i), &g, NULL), STORE_OK);
        wants[i].cas = g.cas;
    }
    save_and_close(&s);
    s = open_store(&cfg, &info);
    assert_true(info.restored);
    check_all(s);
    store_destroy(&s);
}

static void
test_crash_starts_empty(void **state)
{
    (void)state;
    struct store_config cfg = file_config(8 * MIB);
    struct store_restart_info info;
    struct store *s = open_store(&cfg, &info);
    assert_int_equal(kv_set(s, "a", "1"), STORE_OK);
    save_and_close(&s);
    /* Restored, then "killed" (no save): the metadata was consumed. */
    s = open_store(&cfg, &info);
    assert_true(info.restored);
    assert_true(kv_exists(s, "a"));
    assert_int_equal(kv_set(s, "a", "2"), STORE_OK);
    store_destroy(&s);
    s = open_store(&cfg, &info);
    assert_false(info.restored);
    assert_non_null(strstr(info.reason, "not clean"));
    assert_false(kv_exists(s, "a"));
    assert_int_equal(kv_stats(s).curr_items, 0);
    /* The empty file gave its blocks back. */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_blocks * 512 <= 2 * MIB);
    store_destroy(&s);
}

/* Save one item, change the files with fn, and check the next start is
 * empty with a reason containing why. */
static void
expect_refused(struct store_config *cfg2, void (*fn)(void), const char *why)
{
    struct store_config cfg = file_config(8 * MIB);
    struct store_restart_info info;
    struct store *s = open_store(&cfg, &info);
    for (unsigned i = 0; i < 500; i++) {
        assert_int_equal(kv_set(s, key_of(i), "some value"), STORE_OK);
    }
    save_and_close(&s);
    if (fn != NULL) {
        fn();
    }
    s = open_store(cfg2 != NULL ? cfg2 : &cfg, &info);
    assert_false(info.restored);
    if (strstr(info.reason, why) == NULL) {
        fail_msg("reason '%s' lacks '%s'", info.reason, why);
    }
    assert_int_equal(kv_stats(s).curr_items, 0);
    assert_false(kv_exists(s, key_of(1)));
    /* ... and works */
    assert_int_equal(kv_set(s, "after", "1"), STORE_OK);
    store_destroy(&s);
}

static void
flip_byte(const char *p, long at_from_end_or_start, bool from_end)
{
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    off_t at = from_end ? st.st_size - at_from_end_or_start : at_from_end_or_start;
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

static void
damage_data(void)
{
    /* segment 0 (the first taken) holds items from its start */
    flip_byte(path, 4096 + 100, false);
}

static void
damage_meta(void)
{
    flip_byte(meta, 40, false);
}

static void
truncate_meta(void)
{
    struct stat st;
    assert_int_equal(stat(meta, &st), 0);
    assert_int_equal(truncate(meta, st.st_size - 30), 0);
}

static void
truncate_file(void)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
}

static void
foreign_meta(void)
{
    int fd = open(meta, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a stashd file\n", 18), 18);
    close(fd);
}

static void
remove_meta(void)
{
    assert_int_equal(unlink(meta), 0);
}

static void
test_damage_refused(void **state)
{
    (void)state;
    expect_refused(NULL, damage_data, "checksum");
    expect_refused(NULL, damage_meta, "checksum");
    expect_refused(NULL, truncate_meta, "checksum");
    expect_refused(NULL, truncate_file, "truncated");
    expect_refused(NULL, foreign_meta, "metadata");
    expect_refused(NULL, remove_meta, "not clean");
}

static void
test_settings_refused(void **state)
{
    (void)state;
    struct store_config cfg = file_config(16 * MIB);
    expect_refused(&cfg, NULL, "-m 8 MiB then, 16 MiB now");
    cfg = file_config(8 * MIB);
    cfg.cas_enabled = false;
    expect_refused(&cfg, NULL, "-C");
    cfg = file_config(8 * MIB);
    cfg.shards = 128;
    expect_refused(&cfg, NULL, "shard");
    cfg = file_config(8 * MIB);
    cfg.restart_tag = "databases=4";
    expect_refused(&cfg, NULL, "databases=4");
}

static void
test_expired_and_flushed_dropped(void **state)
{
    (void)state;
    struct store_config cfg = file_config(8 * MIB);
    struct store_restart_info info;
    struct store *s = open_store(&cfg, &info);
    clock_update();
    uint32_t now = clock_now();
    assert_int_equal(kv_set_exp(s, "soon", "x", now + 1), STORE_OK);
    assert_int_equal(kv_set_exp(s, "later", "y", now + 100), STORE_OK);
    assert_int_equal(kv_set(s, "never", "z"), STORE_OK);
    save_and_close(&s);
    sleep(2); /* the downtime counts: "soon" is past when restored */
    s = open_store(&cfg, &info);
    assert_true(info.restored);
    assert_int_equal(info.items, 2);
    assert_int_equal(info.dropped, 1);
    assert_false(kv_exists(s, "soon"));
    struct got g;
    assert_int_equal(kv_get(s, "later", &g, NULL), STORE_OK);
    assert_int_equal(g.exptime, now + 100);
    assert_true(clock_now() >= now + 2);
    /* A delayed flush_all pending at the stop still comes; one done
     * before it took effect. */
    store_flush(s, clock_now() + 1000);
    save_and_close(&s);
    s = open_store(&cfg, &info);
    assert_true(kv_exists(s, "never"));
    store_flush(s, 0);
    save_and_close(&s);
    s = open_store(&cfg, &info);
    assert_true(info.restored);
    assert_int_equal(info.items, 0);
    assert_false(kv_exists(s, "never"));
    store_destroy(&s);
}

static void
test_second_user_refused(void **state)
{
    (void)state;
    struct store_config cfg = file_config(8 * MIB);
    struct store_restart_info info;
    struct store *s = open_store(&cfg, &info);
    struct store *t = NULL;
    assert_int_equal(store_create(&t, &cfg), -EBUSY);
    assert_null(t);
    store_destroy(&s);
    /* and save without a file is refused */
    struct store_config anon = test_config(8 * MIB, 64);
    s = test_store(&anon);
    assert_int_equal(store_save(s, NULL), -ENOTSUP);
    store_restart_info(s, &info);
    assert_false(info.file);
    store_destroy(&s);
}

/* --- mutated files --------------------------------------------------------------- */

static char *
read_whole(const char *p, size_t *len)
{
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    char *buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return buf;
}

static void
write_whole(const char *p, const char *buf, size_t len)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

/* The saved pair: FILE.meta, and FILE's recorded ranges (the rest is a
 * hole), put back before each try since a refused start empties FILE. */
struct saved {
    char *meta;
    size_t meta_len;
    char *data;
    uint64_t file_size;
    const struct meta_head *h;
    struct meta_seg *recs;
};

static void
put_back(const struct saved *sv, const char *m, size_t mlen)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(ftruncate(fd, (off_t)sv->file_size), 0);
    for (uint32_t k = 0; k < sv->h->nrecs; k++) {
        uint64_t at = (uint64_t)sv->recs[k].first * sv->h->seg_size;
        assert_int_equal(pwrite(fd, sv->data + at, sv->recs[k].fill, (off_t)at),
                         (ssize_t)sv->recs[k].fill);
    }
    close(fd);
    write_whole(meta, m, mlen);
}

/* Seal m (of len bytes) with the checksum a save would give it. */
static void
reseal(char *m, size_t len)
{
    uint64_t sum = hash_checksum(m, len - sizeof(sum), META_SUM_SEED);
    memcpy(m + len - sizeof(sum), &sum, sizeof(sum));
}

static uint32_t
value_len(unsigned i)
{
    return 10 + (i * 37) % 900;
}

static void
value_of(unsigned i, char *v)
{
    for (uint32_t b = 0; b < value_len(i); b++) {
        v[b] = (char)('a' + (i + b) % 26);
    }
}

/*
 * Start from the saved pair mutated as kind says; the start must not
 * crash (the ASan build runs this too) and, but where the items' bytes
 * were forged with their checksums, must serve no wrong value.
 */
static void
try_mutated(struct saved *sv, unsigned kind, unsigned nkeys)
{
    char *m = malloc(sv->meta_len);
    memcpy(m, sv->meta, sv->meta_len);
    size_t mlen = sv->meta_len;
    bool must_refuse = false, forged = false;
    unsigned flips = 1 + (unsigned)rand() % 4;
    switch (kind) {
    case 0: /* bytes of FILE.meta changed */
        m[(size_t)rand() % mlen] ^= (char)(1 + rand() % 255);
        must_refuse = true;
        break;
    case 1: /* FILE.meta cut short */
        mlen = (size_t)rand() % mlen;
        must_refuse = true;
        break;
    case 2: /* FILE.meta changed, its checksum made right again */
        for (unsigned f = 0; f < flips; f++) {
            m[(size_t)rand() % (mlen - sizeof(uint64_t))] ^= (char)(1 + rand() % 255);
        }
        reseal(m, mlen);
        break;
    case 3: /* item bytes changed */
    case 4: /* ... and their segments' checksums made right again */
        break;
    }
    put_back(sv, m, mlen);
    if (kind >= 3) {
        int fd = open(path, O_RDWR);
        struct meta_seg *recs = (struct meta_seg *)(m + sizeof(struct meta_head));
        const struct meta_seg *r = &recs[(unsigned)rand() % sv->h->nrecs];
        uint64_t base = (uint64_t)r->first * sv->h->seg_size;
        uint32_t start = r->first == 0 ? (1u << sv->h->ref_shift) : 0;
        for (unsigned f = 0; f < flips; f++) {
            uint64_t at = base + start + (uint64_t)rand() % (r->fill - start);
            char b = sv->data[at] ^ (char)(1 + rand() % 255);
            assert_int_equal(pwrite(fd, &b, 1, (off_t)at), 1);
        }
        close(fd);
        if (kind == 4) {
            size_t dlen;
            char *d = read_whole(path, &dlen);
            for (uint32_t k = 0; k < sv->h->nrecs; k++) {
                uint32_t st = recs[k].first == 0 ? (1u << sv->h->ref_shift) : 0;
                recs[k].sum = hash_checksum(d + (uint64_t)recs[k].first * sv->h->seg_size + st,
                                            recs[k].fill - st, META_SUM_SEED);
            }
            free(d);
            reseal(m, mlen);
            write_whole(meta, m, mlen);
            forged = true;
        } else {
            must_refuse = true;
        }
    }
    free(m);

    struct store_config cfg = file_config(8 * MIB);
    struct store_restart_info info;
    struct store *s = open_store(&cfg, &info);
    if (must_refuse && info.restored) {
        fail_msg("kind %u: a damaged file was restored", kind);
    }
    static struct got g;
    static char want[1024];
    for (unsigned i = 0; i < nkeys; i++) {
        enum store_rc rc = kv_get(s, key_of(i), &g, NULL);
        if (rc != STORE_OK || forged) {
            continue;
        }
        value_of(i, want);
        assert_int_equal(g.nbytes, value_len(i));
        assert_memory_equal(g.value, want, g.nbytes);
    }
    /* and it works */
    assert_int_equal(kv_set(s, "after", "1"), STORE_OK);
    assert_true(kv_exists(s, "after"));
    store_destroy(&s);
}

static void
test_mutated_files(void **state)
{
    (void)state;
    const unsigned nkeys = 2000;
    struct store_config cfg = file_config(8 * MIB);
    struct store_restart_info info;
    struct store *s = open_store(&cfg, &info);
    static char v[1024];
    for (unsigned i = 0; i < nkeys; i++) {
        value_of(i, v);
        assert_int_equal(kv_set_mode(s, STORE_MODE_SET, key_of(i), v, value_len(i), i, 0, 0, NULL),
                         STORE_OK);
    }
    save_and_close(&s);
    struct saved sv;
    sv.meta = read_whole(meta, &sv.meta_len);
    size_t dlen;
    sv.data = read_whole(path, &dlen);
    sv.file_size = dlen;
    sv.h = (const struct meta_head *)sv.meta;
    sv.recs = (struct meta_seg *)(sv.meta + sizeof(struct meta_head));
    assert_true(sv.h->nrecs > 0);

    /* unchanged, it is restored whole (so the tries below can fail) */
    put_back(&sv, sv.meta, sv.meta_len);
    s = open_store(&cfg, &info);
    assert_true(info.restored);
    assert_int_equal(kv_stats(s).curr_items, nkeys);
    store_destroy(&s);

    srand(14);
    for (unsigned t = 0; t < 150; t++) {
        try_mutated(&sv, t % 5, nkeys);
    }
    free(sv.meta);
    free(sv.data);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restore_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_starts_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damage_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_and_flushed_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_user_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mutated_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
