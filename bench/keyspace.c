/*
 * Key selection and spelling; see keyspace.h.
 */
#include "keyspace.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* log1p(x)/x, accurate near 0. */
static double
helper1(double x)
{
    if (fabs(x) > 1e-8) {
        return log1p(x) / x;
    }
    return 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}

/* expm1(x)/x, accurate near 0. */
static double
helper2(double x)
{
    if (fabs(x) > 1e-8) {
        return expm1(x) / x;
    }
    return 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
}

/* H(x) = integral of h(t) = t^-s, shifted so that it is finite for s = 1. */
static double
zipf_h_integral(double s, double x)
{
    double log_x = log(x);
    return helper2((1.0 - s) * log_x) * log_x;
}

static double
zipf_h(double s, double x)
{
    return exp(-s * log(x));
}

static double
zipf_h_integral_inverse(double s, double x)
{
    double t = x * (1.0 - s);
    if (t < -1.0) {
        t = -1.0; /* numerical safety; t >= -1 mathematically */
    }
    return exp(helper1(t) * x);
}

static uint64_t
zipf_rank(const struct keyspace *ks, struct rng *r)
{
    double n = (double)ks->count;
    for (;;) {
        double u = ks->h_n + rng_double(r) * (ks->h_x1 - ks->h_n);
        double x = zipf_h_integral_inverse(ks->s, u);
        double kd = floor(x + 0.5);
        if (kd < 1.0) {
            kd = 1.0;
        } else if (kd > n) {
            kd = n;
        }
        if (kd - x <= ks->s_cut || u >= zipf_h_integral(ks->s, kd + 0.5) - zipf_h(ks->s, kd)) {
            return (uint64_t)kd;
        }
    }
}

int
keyspace_init(struct keyspace *ks, uint64_t key_min, uint64_t count, enum keyspace_dist dist,
              double zipf_s, const char *prefix, size_t key_size, size_t key_size_max)
{
    memset(ks, 0, sizeof(*ks));
    size_t plen = strlen(prefix);
    if (key_size == 0) {
        key_size_max = key_size;
    }
    if (count == 0 || plen > KEYSPACE_MAX_KEY || key_size_max < key_size ||
        key_size_max > KEYSPACE_MAX_KEY || key_min > UINT64_MAX - count) {
        return -EINVAL;
    }
    char digits[24];
    size_t longest = plen + keyspace_u64(digits, key_min + count - 1);
    /* A key shorter than its spelling is never cut: with a range, only the
     * largest size must hold every key (shorter draws are left unpadded). */
    if (longest > KEYSPACE_MAX_KEY || (key_size != 0 && longest > key_size_max)) {
        return -EINVAL;
    }
    ks->key_min = key_min;
    ks->count = count;
    ks->dist = dist;
    memcpy(ks->prefix, prefix, plen + 1);
    ks->prefix_len = plen;
    ks->key_size = key_size;
    ks->key_size_max = key_size_max;
    if (dist == KEYSPACE_ZIPF) {
        if (!(zipf_s > 0.0)) {
            return -EINVAL;
        }
        ks->s = zipf_s;
        ks->h_x1 = zipf_h_integral(zipf_s, 1.5) - 1.0;
        ks->h_n = zipf_h_integral(zipf_s, (double)count + 0.5);
        ks->s_cut = 2.0 - zipf_h_integral_inverse(zipf_s, zipf_h_integral(zipf_s, 2.5) -
                                                              zipf_h(zipf_s, 2.0));
    }
    return 0;
}

uint64_t
keyspace_next(const struct keyspace *ks, struct rng *r, uint64_t *seq)
{
    switch (ks->dist) {
    case KEYSPACE_SEQUENTIAL:
        return ks->key_min + (*seq)++ % ks->count;
    case KEYSPACE_ZIPF:
        return ks->key_min + zipf_rank(ks, r) - 1;
    case KEYSPACE_UNIFORM:
    default:
        return ks->key_min + rng_below(r, ks->count);
    }
}

size_t
keyspace_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }
    return n;
}

size_t
keyspace_key_size(const struct keyspace *ks, uint64_t idx)
{
    if (ks->key_size_max <= ks->key_size) {
        return ks->key_size;
    }
    struct rng r = {idx};
    return ks->key_size + (size_t)rng_below(&r, ks->key_size_max - ks->key_size + 1);
}

size_t
keyspace_format(const struct keyspace *ks, uint64_t idx, char *out)
{
    char digits[20];
    size_t nd = keyspace_u64(digits, idx);
    memcpy(out, ks->prefix, ks->prefix_len);
    size_t len = ks->prefix_len;
    size_t want = keyspace_key_size(ks, idx);
    if (want > len + nd) {
        size_t pad = want - len - nd;
        memset(out + len, '0', pad);
        len += pad;
    }
    memcpy(out + len, digits, nd);
    return len + nd;
}
