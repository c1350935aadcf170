/*
 * hash: a keyed 64-bit hash for cache keys (see util/hash.h).
 *
 * Keys are short (typically 10-60 bytes), so the design favours few
 * instructions over throughput on long inputs: 16 bytes per round folded
 * through a 64x64->128 multiply ("multiply-fold"), with the seed mixed into
 * every round so that an attacker who does not know it cannot build
 * colliding keys offline. The seed comes from getrandom() at start-up.
 */
#include "stashd/util/hash.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Odd constants with well-mixed bits (from the digits of pi and e). */
#define HASH_K0 0x243f6a8885a308d3ull
#define HASH_K1 0x13198a2e03707345ull
#define HASH_K2 0xa4093822299f31d1ull
#define HASH_K3 0xb7e151628aed2a6bull

/* Written once in hash_setup before any worker starts; read-only after. */
static uint64_t hash_seed = HASH_K3;

static inline uint64_t
fold(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t
load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t
load32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

void
hash_setup(uint64_t seed)
{
    if (seed == 0) {
        if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
            seed = (uint64_t)time(NULL) * HASH_K1;
        }
    }
    hash_seed = seed | 1;
}

uint64_t
hash_bytes(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t s = hash_seed ^ fold(len ^ HASH_K0, HASH_K1);
    uint64_t a, b;
    size_t n = len;
    while (n > 16) {
        s = fold(load64(p) ^ HASH_K2 ^ s, load64(p + 8) ^ HASH_K1 ^ hash_seed);
        p += 16;
        n -= 16;
    }
    if (n >= 8) {
        a = load64(p);
        b = load64(p + n - 8);
    } else if (n >= 4) {
        a = load32(p);
        b = load32(p + n - 4);
    } else if (n > 0) {
        a = ((uint64_t)p[0] << 16) | ((uint64_t)p[n >> 1] << 8) | p[n - 1];
        b = 0;
    } else {
        a = b = 0;
    }
    s = fold(a ^ HASH_K2 ^ s, b ^ HASH_K1 ^ hash_seed);
    return fold(s ^ HASH_K0, (uint64_t)len ^ HASH_K3);
}

uint64_t
hash_get_seed(void)
{
    return hash_seed;
}

uint64_t
hash_checksum(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t lane[4] = {seed ^ HASH_K0, seed ^ HASH_K1, seed ^ HASH_K2, seed ^ HASH_K3};
    size_t n = len;
    /* 64 bytes a round, a lane per 16: the four multiplies overlap. The
     * product is xored in (not assigned), so no input wipes a lane. */
    while (n >= 64) {
        for (unsigned i = 0; i < 4; i++) {
            lane[i] ^=
                fold(load64(p + 16 * i) ^ HASH_K2 ^ lane[i], load64(p + 16 * i + 8) ^ HASH_K1);
        }
        p += 64;
        n -= 64;
    }
    uint64_t s =
        fold(lane[0] ^ HASH_K3, lane[1] ^ HASH_K0) ^ fold(lane[2] ^ HASH_K1, lane[3] ^ HASH_K2);
    /* The tail, 16 bytes at a time, the last zero-padded. */
    while (n > 0) {
        unsigned char tail[16] = {0};
        size_t k = n < 16 ? n : 16;
        memcpy(tail, p, k);
        s = fold(load64(tail) ^ HASH_K2 ^ s, load64(tail + 8) ^ HASH_K1 ^ seed);
        p += k;
        n -= k;
    }
    return fold(s ^ HASH_K0, (uint64_t)len ^ HASH_K3);
}
