/*
 * malloc_math: exp, log and round without libm, for jemalloc's profiler
 * (see malloc_math.h). Not even frexp and ldexp: libc exports them too,
 * but a link that finds them in libm first keeps libm.
 */
#include "server/malloc_math.h"

#include <float.h>
#include <math.h> /* NAN, HUGE_VAL: no calls */
#include <stdint.h>
#include <string.h>

/* ln 2 as fdlibm splits it: HI has its low 21 bits zero, so k * HI is
 * exact for |k| <= 2048, and HI + LO is ln 2 to 2^-80. */
#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10
#define INV_LN2 1.44269504088896338700e+00
#define SQRT1_2 0.70710678118654752440
#define EXP_MAX 709.782712893383973096    /* past it, exp overflows */
#define EXP_MIN (-745.133219101941108420) /* below it, exp is 0 */

static uint64_t
bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof(u));
    return u;
}

static double
double_of(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof(x));
    return x;
}

/* 2^k as a double, for k in [-1022, 1023]. */
static double
pow2(int k)
{
    return double_of((uint64_t)(k + 1023) << 52);
}

/* p 2^k, rounded once; p in [1/2, 2), k in [-1080, 1025]. */
static double
scale(double p, int k)
{
    if (k > 1023) {
        return p * pow2(1023) * pow2(k - 1023);
    }
    if (k < -1022) { /* exact up to the last product, which rounds */
        return p * pow2(k + 60) * pow2(-60);
    }
    return p * pow2(k);
}

double
__wrap_log(double x)
{
    if (x != x || x == HUGE_VAL) {
        return x; /* NaN, +inf */
    }
    if (x < 0) {
        return NAN;
    }
    if (x == 0) {
        return -HUGE_VAL;
    }
    /* x = m 2^e, m in [1/2, 1) (a subnormal x scaled up first) */
    int e = 0;
    if (x < DBL_MIN) {
        x *= pow2(60);
        e = -60;
    }
    uint64_t u = bits_of(x);
    e += (int)(u >> 52) - 1022;
    double m = double_of((u & 0x000fffffffffffffull) | (1022ull << 52));
    if (m < SQRT1_2) {
        m *= 2;
        e--;
    }
    /* m = 1 + f in [sqrt(1/2), sqrt(2)), f exact. With s = f / (2 + f),
     * |s| < 0.172: log m = 2 atanh(s) = f - (h - s (h + R)), h = f^2 / 2,
     * R = 2 (s^2/3 + s^4/5 + ...) (s^2 < 0.0295: 15 terms leave under
     * 2^-100), the form of fdlibm's log, where the one large term, f, is
     * exact. */
    double f = m - 1;
    double s = f / (2 + f);
    double s2 = s * s;
    double sum = 0;
    for (int k = 31; k >= 3; k -= 2) {
        sum = sum * s2 + 1.0 / k;
    }
    double r = 2 * s2 * sum;
    double h = 0.5 * f * f;
    return e * LN2_HI - ((h - (s * (h + r) + e * LN2_LO)) - f);
}

double
__wrap_exp(double x)
{
    if (x != x) {
        return x;
    }
    if (x > EXP_MAX) {
        return HUGE_VAL;
    }
    if (x < EXP_MIN) {
        return 0;
    }
    /* x = k ln 2 + r, |r| <= ln 2 / 2 (a little more from rounding):
     * exp x = 2^k exp r, exp r by its series in Horner's form (20 terms:
     * r^21 / 21! < 2^-100). */
    double kd = x * INV_LN2;
    int k = (int)(kd < 0 ? kd - 0.5 : kd + 0.5);
    double r = (x - k * LN2_HI) - k * LN2_LO;
    double p = 1;
    for (int i = 20; i >= 1; i--) {
        p = 1 + r * p / i;
    }
    return scale(p, k);
}

double
__wrap_round(double x)
{
    const uint64_t sign = 1ull << 63;
    uint64_t u = bits_of(x);
    int ex = (int)((u >> 52) & 0x7ff) - 1023;
    if (ex >= 52) {
        return x; /* integral already, or inf, or NaN */
    }
    if (ex < -1) {
        return double_of(u & sign); /* |x| < 1/2: a zero of x's sign */
    }
    if (ex == -1) {
        return double_of((u & sign) | bits_of(1.0)); /* 1/2 <= |x| < 1 */
    }
    uint64_t frac = 0x000fffffffffffffull >> ex; /* the bits below the point */
    if ((u & frac) == 0) {
        return x;
    }
    /* Add a half in the magnitude's bits and drop the fraction; a carry
     * into the exponent is right (1.5 -> 2). */
    u += 0x0008000000000000ull >> ex;
    return double_of(u & ~frac);
}
