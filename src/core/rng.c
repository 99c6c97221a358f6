#include "core/rng.h"

#include <math.h>

#define GOLDEN_GAMMA 0x9E3779B97F4A7C15ull

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void mlic_rng_init(mlic_rng *r, uint64_t seed, uint64_t stream)
{
    /* Mixing the stream through its own splitmix step keeps stream k of seed s from being
     * a shifted copy of stream k+1 of a nearby seed. */
    r->state = mix64(seed + GOLDEN_GAMMA) ^ mix64(mix64(stream + 2 * GOLDEN_GAMMA));
}

uint64_t mlic_rng_u64(mlic_rng *r)
{
    r->state += GOLDEN_GAMMA;
    return mix64(r->state);
}

double mlic_rng_uniform(mlic_rng *r)
{
    return (double)(mlic_rng_u64(r) >> 11) * 0x1.0p-53;
}

double mlic_rng_range(mlic_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * mlic_rng_uniform(r);
}

uint64_t mlic_rng_below(mlic_rng *r, uint64_t n)
{
    /* Reject the top partial block of 2^64 so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = mlic_rng_u64(r);
    while (x >= limit);
    return x % n;
}

/* A standard normal (Box-Muller, one of the pair; 1 - U keeps the log finite). */
static double normal(mlic_rng *r)
{
    const double u = 1.0 - mlic_rng_uniform(r), v = mlic_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* log of a Gamma(shape, 1) draw. */
static double log_gamma_draw(mlic_rng *r, double shape)
{
    double boost = 0.0; /* shape < 1: Gamma(shape) = Gamma(shape + 1) * U^(1/shape) */
    if (shape < 1.0) {
        boost = log(1.0 - mlic_rng_uniform(r)) / shape;
        shape += 1.0;
    }
    const double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        const double x = normal(r), t = 1.0 + c * x;
        if (t <= 0)
            continue;
        const double v = t * t * t, u = 1.0 - mlic_rng_uniform(r);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            return log(d * v) + boost;
    }
}

double mlic_rng_beta(mlic_rng *r, double a, double b)
{
    const double lx = log_gamma_draw(r, a), ly = log_gamma_draw(r, b);
    return 1.0 / (1.0 + exp(ly - lx));
}
