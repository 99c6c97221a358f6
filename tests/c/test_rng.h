/* A small deterministic generator for the C tests' random inputs and weights (a 64-bit LCG:
 * the same numbers on every platform, unlike rand()). */
#ifndef MLIC_TESTS_TEST_RNG_H
#define MLIC_TESTS_TEST_RNG_H

#include <stdint.h>
#include <stdlib.h>

typedef struct {
    uint64_t s;
} rng;

static inline float uniform(rng *r, float lo, float hi)
{
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((r->s >> 40) / 16777216.0);
}

/* n values uniform in [lo, hi), in a buffer to free(). */
static inline float *random_buf(rng *r, size_t n, float lo, float hi)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = uniform(r, lo, hi);
    return p;
}

#endif
