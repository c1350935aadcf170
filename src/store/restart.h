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
