/* A small deterministic random generator (splitmix64) for training: augmentation, shuffling,
 * dropout, weight init. The state is a plain counter, so a stream is reproducible from
 * (seed, stream) alone and independent of which thread draws from it: give every sample or
 * worker its own stream instead of sharing one generator between threads. */
#ifndef MLIC_CORE_RNG_H
#define MLIC_CORE_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t state;
} mlic_rng;

/* Distinct (seed, stream) pairs give unrelated sequences. */
void mlic_rng_init(mlic_rng *r, uint64_t seed, uint64_t stream);
uint64_t mlic_rng_u64(mlic_rng *r);
/* Uniform in [0, 1), 53 random bits. */
double mlic_rng_uniform(mlic_rng *r);
/* Uniform in [lo, hi). */
double mlic_rng_range(mlic_rng *r, double lo, double hi);
/* Uniform integer in [0, n); n must be > 0. Unbiased (rejection). */
uint64_t mlic_rng_below(mlic_rng *r, uint64_t n);
/* Beta(a, b) for a, b > 0 (mixup's and CutMix's lambda): X / (X + Y) with X ~ Gamma(a) and
 * Y ~ Gamma(b) drawn in that order by Marsaglia and Tsang's method (normals by Box-Muller; for a
 * shape below 1, Gamma(shape + 1) * U^(1/shape)), in log space so that tiny shapes, whose draws
 * underflow a double, still give a value in [0, 1]. The number of uniforms used varies. */
double mlic_rng_beta(mlic_rng *r, double a, double b);

#endif
