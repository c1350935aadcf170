/*
 * hotkeys: the most requested keys, estimated per worker with a sampled
 * Space-Saving sketch (Metwally et al.) and merged on read: `stats
 * hotkeys`, RESP `HOTKEYS [N]`, and stashd_hot_key_requests on /metrics.
 *
 * Each worker owns one sketch and is its only writer; a reader on another
 * thread takes the sketch's mutex, which the worker takes only for a
 * sampled read (one in HOTKEYS_SAMPLE), never across a store call. Memory
 * is fixed: HOTKEYS_SLOTS keys of at most 250 bytes per worker.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define HOTKEYS_SLOTS 32
#define HOTKEYS_SAMPLE 32 /* one read in this many is recorded (weight 32) */

/*
 * The sketch. Public only for hotkeys_note's inline fast path: countdown
 * is the owning worker's (reads until the next sampled one); the rest is
 * private to hotkeys.c.
 */
struct hotkeys {
    uint32_t countdown;
    struct hotkeys_private *priv;
};

int hotkeys_create(struct hotkeys **hp);
void hotkeys_destroy(struct hotkeys **hp);

/* A sampled read: records key in the sketch and draws the next gap. */
void hotkeys_sample(struct hotkeys *h, const char *key, size_t len, uint64_t hash);

/*
 * A read of key (hash = hash_bytes(key)); the owning worker only. Gaps
 * between sampled reads are random (1 to 2 x HOTKEYS_SAMPLE - 1, mean
 * HOTKEYS_SAMPLE), so a periodic request pattern cannot alias with them;
 * an unsampled read costs a decrement (callgrind: the call with its
 * xorshift cost ~45 instructions a get).
 */
static inline void
hotkeys_note(struct hotkeys *h, const char *key, size_t len, uint64_t hash)
{
    if (h != NULL && --h->countdown == 0) {
        hotkeys_sample(h, key, len, hash);
    }
}

struct hotkeys_entry {
    char key[256];
    size_t len;
    uint64_t count; /* estimated reads (sampled count x HOTKEYS_SAMPLE) */
};

/* Merge sketches (same key summed) and return the top min(max, found)
 * entries, most requested first. Any thread. */
size_t hotkeys_top(struct hotkeys *const *hs, size_t n, struct hotkeys_entry *out, size_t max);
