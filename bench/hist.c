/*
 * Log-linear histogram; see hist.h for the bucket layout.
 */
#include "hist.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define HALF (1u << (HIST_SUB_BITS - 1))

static unsigned
slot_of(uint64_t v)
{
    if (v < (1u << HIST_SUB_BITS)) {
        return (unsigned)v;
    }
    if (v >= (1ull << HIST_MAX_BITS)) {
        v = (1ull << HIST_MAX_BITS) - 1;
    }
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - (HIST_SUB_BITS - 1);
    return shift * HALF + (unsigned)(v >> shift);
}

/* The largest value that lands in slot s. */
static uint64_t
slot_high(unsigned s)
{
    if (s < (1u << HIST_SUB_BITS)) {
        return s;
    }
    unsigned shift = s / HALF - 1;
    uint64_t sub = s - shift * HALF;
    return ((sub + 1) << shift) - 1;
}

void
hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

void
hist_record(struct hist *h, uint64_t v)
{
    h->slots[slot_of(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v < h->min) {
        h->min = v;
    }
    if (v > h->max) {
        h->max = v;
    }
}

void
hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_SLOTS; i++) {
        dst->slots[i] += src->slots[i];
    }
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min) {
        dst->min = src->min;
    }
    if (src->max > dst->max) {
        dst->max = src->max;
    }
}

uint64_t
hist_percentile(const struct hist *h, double p)
{
    if (h->count == 0) {
        return 0;
    }
    if (p >= 100.0) {
        return h->max;
    }
    /* p / 100 * count carries rounding error (99.9 / 100 * 1000 is
     * 999.0000000000001), and ceil() turned that into one rank too many:
     * p99.9 of 1000 values was the largest. A product within a few ulps of
     * an integer is taken as that integer. */
    double x = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)ceil(x - x * 4 * DBL_EPSILON);
    if (rank == 0) {
        rank = 1;
    }
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_SLOTS; i++) {
        seen += h->slots[i];
        if (seen >= rank) {
            uint64_t v = slot_high(i);
            if (v > h->max) {
                v = h->max;
            }
            if (v < h->min) {
                v = h->min;
            }
            return v;
        }
    }
    return h->max;
}

double
hist_mean(const struct hist *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}
