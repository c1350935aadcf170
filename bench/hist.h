/*
 * A log-linear latency histogram in the style of HdrHistogram: values below
 * 2^HIST_SUB_BITS are counted exactly, larger ones in 2^(HIST_SUB_BITS-1)
 * linear sub-buckets per power of two, so every recorded value is known to
 * within 1/64 (1.6%) of itself. Recording is O(1) with no allocation, which
 * is why each load-generator thread owns one and they are merged at the end.
 *
 *   slot:   0 .. 127 | 128 .. 191 | 192 .. 255 | ...
 *   value:  0 .. 127 | 128 .. 255 | 256 .. 511 | ... (64 buckets per octave)
 */
#pragma once

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_MAX_BITS 44 /* values are clamped below 2^44 (ns: about 4.9 hours) */
#define HIST_SLOTS                                                                                 \
    ((HIST_MAX_BITS - HIST_SUB_BITS) * (1 << (HIST_SUB_BITS - 1)) + (1 << HIST_SUB_BITS))

/* All fields are read-only to callers; change them through hist_*(). */
struct hist {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    double sum;
    uint64_t slots[HIST_SLOTS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t v);
void hist_merge(struct hist *dst, const struct hist *src);
/* The smallest value v such that at least p percent (0..100) of the recorded
 * values are <= v, up to the bucket's precision; 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);
