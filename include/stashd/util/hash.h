/*
 * hash: one keyed 64-bit hash for keys. The key (seed) is drawn at start-up
 * from the OS so that clients cannot aim keys at one bucket.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

void hash_setup(uint64_t seed); /* 0: draw a random seed */
uint64_t hash_bytes(const void *p, size_t len);
