/*
 * malloc_math: exp, log and round for jemalloc's heap profiler, so that
 * stashd does not load libm.
 *
 * Debian's static jemalloc is built with its profiler, whose sampling
 * (prof.c: log) and unbiasing tables (prof_data.c: exp, round) are the
 * only callers of libm in the binary; the profiler is off unless
 * MALLOC_CONF says prof:true. Loading libm.so for them cost 0.34 MiB of
 * resident memory in every process (its 21 IFUNC resolvers run at load,
 * and the kernel maps 64 KiB around each page they touch). The link
 * (CMakeLists.txt, -Wl,--wrap=exp,--wrap=log,--wrap=round) sends the
 * archive's calls here instead; nothing else in stashd calls them.
 *
 * Each is accurate to a few units in the last place over its whole
 * domain, with the special cases of C's: NaN, infinities, signed zeros,
 * overflow and underflow (tests/unit/server/test_malloc_math.c checks
 * them against libm).
 */
#pragma once

double __wrap_exp(double x);
double __wrap_log(double x);
double __wrap_round(double x);
