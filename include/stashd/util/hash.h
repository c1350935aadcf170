/*
 * hash: one keyed 64-bit hash for keys. The key (seed) is drawn at start-up
 * from the OS so that clients cannot aim keys at one bucket.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

void hash_setup(uint64_t seed); /* 0: draw a random seed */
uint64_t hash_bytes(const void *p, size_t len);
/* The seed in use, for a later process that must hash keys the same way
 * (a warm restart: store/restart.c hands it to hash_setup there). */
uint64_t hash_get_seed(void);

/*
 * A checksum of long inputs (megabytes: a memory file's segments): four
 * lanes of the same multiply-fold, so that it runs at memory speed rather
 * than at one multiply's latency per 16 bytes. Keyed by seed only, not
 * by hash_setup's, so that every process computes the same value.
 */
uint64_t hash_checksum(const void *p, size_t len, uint64_t seed);
