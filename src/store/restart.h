/*
 * restart: a warm restart through the memory file (-e; private to
 * store/).
 *
 * With a memory file the arena is a shared mapping of FILE (mem/arena.h),
 * so item bytes outlive the process as they are, whatever fields their
 * headers hold. What a restart needs besides them is written at a clean
 * stop into FILE.meta, and only then:
 *
 *   FILE       the arena's range, sparse: segments' bytes at their offsets
 *   FILE.meta  | head: settings, clock, hash seed, counts      |
 *              | a record per segment in use: where, how full, |
 *              |   when sealed, checksum of its bytes          |
 *              | a record per shard: cas and flush sequences,  |
 *              |   keys                                        |
 *              | checksum of all of the above                  |
 *
 * A start reads FILE.meta and removes it before anything else, so a
 * process that dies later (SIGKILL, OOM) leaves no metadata and the next
 * start is empty: only a stop that got to the end of store_save is ever
 * trusted. The metadata is written to FILE.meta.tmp, synced and renamed,
 * after the file's own pages are synced. A start trusts it only if its
 * checksum holds, the settings that shape the items match (item format,
 * -m and the arena's geometry, shards, -C, restart_tag) and FILE is as
 * long as it says; it then adopts the recorded segments, checks each
 * against its checksum and walks its items, linking the live ones into a
 * fresh index (keys hashed again, under the saved seed so that each key
 * falls in the shard whose cas sequence it was stamped from: a cas is
 * the same after the restart, and the sequence goes on above it). Any
 * failure empties the store and the file: the start is cold, never wrong.
 *
 * Relative times (expiry, access) stay as the items hold them: the
 * clock goes on from the stopped process's (util/clock.h,
 * clock_continue), plus the time the server was down.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "stashd/store/store.h"

struct store;
struct restart_meta; /* FILE.meta, read and checked */

/*
 * FILE.meta's format (here for the tests that damage it on purpose).
 * META_VERSION is this layout's; ITEM_FORMAT (item.h) is the items'. A
 * change to either layout (a field here, a field or bit in an item)
 * bumps its number, and a start refuses a file of another.
 */
#define META_MAGIC "stashdMF"
#define META_VERSION 1u
#define META_ENDIAN 0x01020304u
#define META_SUM_SEED 0x6d656d6f72796669ull /* any constant: every process uses it */
#define META_TAG_MAX 128
#define META_SUFFIX ".meta"
#define META_TMP_SUFFIX ".meta.tmp"

struct meta_head {
    char magic[8];
    uint32_t version;
    uint32_t endian;
    uint32_t item_format; /* ITEM_FORMAT */
    uint32_t head_size;   /* sizeof(struct meta_head) */
    uint64_t memory_limit;
    uint64_t file_size;
    uint32_t seg_size, nsegs, ref_shift, nshards;
    uint32_t cas_enabled;
    uint32_t nrecs;     /* segment records that follow */
    uint64_t hash_seed; /* hash_get_seed() of the saving process */
    int64_t stop_unix;  /* wall clock at the stop */
    uint32_t stop_rel;  /* relative clock then */
    uint32_t flush_at;  /* a delayed flush_all pending then (relative), or 0 */
    uint64_t items;     /* keys saved (dead ones not yet unlinked included) */
    uint64_t bytes;     /* their bytes */
    char tag[META_TAG_MAX];
};

/* A segment (or jumbo run) in use at the stop, oldest first. */
struct meta_seg {
    uint32_t first;     /* segment index */
    uint32_t nsegs;     /* 1, or a jumbo run's length */
    uint32_t fill;      /* bytes written from the segment's start */
    uint32_t sealed_at; /* relative time, 0 if it was open */
    uint64_t sum;       /* hash_checksum of [seg_start, fill) */
};

struct meta_shard {
    uint64_t cas_seq;
    uint64_t flush_seq;
    uint32_t fresh_lo; /* shard_cold.fresh_lo */
    uint32_t nitems;   /* keys in its index */
};

_Static_assert(sizeof(struct meta_head) % 8 == 0, "records follow the head aligned");
_Static_assert(sizeof(struct meta_seg) == 24, "no padding");
_Static_assert(sizeof(struct meta_shard) == 24, "no padding");

/* What FILE.meta must match: the store's shape. */
struct restart_shape {
    uint64_t memory_limit;
    uint64_t file_size; /* the arena's range */
    uint32_t seg_size, nsegs, nshards;
    unsigned ref_shift;
    bool cas_enabled;
    const char *tag; /* store_config.restart_tag, or NULL */
};

/*
 * Open (creating it) and lock the memory file at path; read, check and
 * remove its metadata. *fdp is the file; *mp the metadata when it can be
 * trusted for this shape, else NULL with info->reason saying why. 0, or
 * -errno when the file cannot be used at all (logged): -EBUSY when
 * another process holds it.
 */
int restart_open(const char *path, const struct restart_shape *shape, int *fdp,
                 struct restart_meta **mp, struct store_restart_info *info);
void restart_meta_free(struct restart_meta **mp);

/* Empty the file and size it for the shape (its old blocks go back to the
 * file system). 0 or -errno. */
int restart_clear(int fd, uint64_t file_size);

/* Restore m into s, just created over the file and empty. 0, or -EINVAL
 * with info->reason (s is then to be destroyed; the hash seed and the
 * clock are as before the call). */
int restart_restore(struct store *s, const struct restart_meta *m, struct store_restart_info *info);

/* The start's one log line about the memory file at path. */
void restart_log(const char *path, const struct store_restart_info *info);

/* store_save for the memory file at path. */
int restart_save(struct store *s, const char *path, const char *tag, uint64_t *items);
