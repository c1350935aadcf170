/*
 * sizeclass: memcached's class table, for statistics (see mem/sizeclass.h).
 */
#include "stashd/mem/sizeclass.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static inline uint64_t
align_up(uint64_t n, uint64_t a)
{
    return (n + a - 1) / a * a;
}

int
sizeclass_init(struct sizeclass *sc, size_t header, uint32_t min_size, double factor)
{
    /* !(factor > 1.0) also rejects NaN. */
    if (!(factor > 1.0) || isinf(factor)) {
        return -EINVAL;
    }
    uint64_t size = align_up((uint64_t)header + min_size, SIZECLASS_ALIGN);
    if (size > SIZECLASS_CHUNK_MAX) {
        return -EINVAL;
    }
    memset(sc, 0, sizeof(*sc));
    unsigned n = 0;
    while (size < SIZECLASS_CHUNK_MAX && n < SIZECLASS_MAX - 1) {
        sc->size[n++] = (uint32_t)size;
        double next = (double)size * factor;
        uint64_t grown =
            next >= (double)SIZECLASS_CHUNK_MAX ? SIZECLASS_CHUNK_MAX : (uint64_t)ceil(next);
        grown = align_up(grown, SIZECLASS_ALIGN);
        /* A factor barely above 1 must still make progress. */
        size = grown > size ? grown : size + SIZECLASS_ALIGN;
    }
    sc->size[n++] = SIZECLASS_CHUNK_MAX;
    sc->count = n;
    /* lookup[j] covers item sizes (8(j-1), 8j]: the first class >= 8j. */
    unsigned c = 0;
    for (size_t j = 0; j <= SIZECLASS_CHUNK_MAX / SIZECLASS_ALIGN; j++) {
        while (sc->size[c] < j * SIZECLASS_ALIGN) {
            c++;
        }
        sc->lookup[j] = (uint8_t)c;
    }
    return 0;
}
