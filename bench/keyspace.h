/*
 * The load generator's key space: which key index comes next (uniform,
 * sequential or Zipf-skewed) and how an index is spelled on the wire.
 *
 * Key index i (key_min <= i < key_min + count) is spelled as the prefix
 * followed by i in decimal, zero-padded so the whole key is key_size bytes
 * when key_size is set: "key:" + "0000000000000000000000000042" for 32 B.
 * With a range of sizes (key_size < key_size_max) each index has its own
 * length, uniform in [key_size, key_size_max] and a fixed function of the
 * index (a hash), so a key is spelled the same way every time it is drawn.
 * Keys stay distinct: the digits never start with 0 (except index 0), so
 * stripping the padding gives the index back.
 *
 * Zipf ranks are drawn by rejection-inversion (Hörmann and Derflinger 1996,
 * as in Apache Commons' RejectionInversionZipfSampler): O(1) time, no table,
 * so a key space of hundreds of millions costs nothing to set up. Rank 1, the
 * hottest, is key_min; rank r is key_min + r - 1.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define KEYSPACE_MAX_KEY 250 /* memcached's limit on key length */

enum keyspace_dist {
    KEYSPACE_UNIFORM,
    KEYSPACE_SEQUENTIAL,
    KEYSPACE_ZIPF,
};

/* splitmix64: tiny, fast and good enough to pick keys; one per connection. */
struct rng {
    uint64_t s;
};

static inline uint64_t
rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), by multiply-shift (bias below 2^-64 * n). */
static inline uint64_t
rng_below(struct rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [0, 1). */
static inline double
rng_double(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Configuration fields are set by keyspace_init() and read-only after. */
struct keyspace {
    uint64_t key_min;
    uint64_t count;
    enum keyspace_dist dist;
    char prefix[KEYSPACE_MAX_KEY + 1];
    size_t prefix_len;
    size_t key_size;     /* 0: no padding; else the shortest padded length */
    size_t key_size_max; /* == key_size unless a range of lengths */
    /* Zipf constants (private). */
    double s;
    double h_x1;
    double h_n;
    double s_cut;
};

/* key_size 0: keys are not padded (key_size_max is ignored); else keys are
 * padded to key_size bytes, or to a length in [key_size, key_size_max] when
 * key_size_max > key_size. 0, or -EINVAL when a key would not fit the
 * largest size (or KEYSPACE_MAX_KEY) or the parameters make no sense
 * (count 0, zipf_s <= 0, key_size_max below key_size). */
int keyspace_init(struct keyspace *ks, uint64_t key_min, uint64_t count, enum keyspace_dist dist,
                  double zipf_s, const char *prefix, size_t key_size, size_t key_size_max);

/* The length key index idx is padded to (0 when keys are not padded). */
size_t keyspace_key_size(const struct keyspace *ks, uint64_t idx);

/* The next key index. *seq is the caller's cursor for the sequential
 * distribution (a per-connection counter, any start value). */
uint64_t keyspace_next(const struct keyspace *ks, struct rng *r, uint64_t *seq);

/* Spells key index idx into out (at least KEYSPACE_MAX_KEY + 1 bytes, not
 * NUL-terminated on return) and returns its length. */
size_t keyspace_format(const struct keyspace *ks, uint64_t idx, char *out);

/* Writes v in decimal at out (at least 20 bytes); returns the length. */
size_t keyspace_u64(char *out, uint64_t v);
