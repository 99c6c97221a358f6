#include "train/ema.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct mlic_ema {
    double decay;
    size_t n;
    float *avg; /* (n) */
};

/* Below this many elements a pass is not worth waking threads for. */
#define PARALLEL_MIN 65536

mlic_status mlic_ema_create(mlic_ema **out, const float *weights, size_t n, double decay)
{
    *out = NULL;
    if (!(decay > 0 && decay < 1))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "--ema %g: the decay must be in (0, 1), e.g. "
                         "0.999. HINT: 0 turns the moving average off", decay);
    mlic_ema *e = calloc(1, sizeof *e);
    float *avg = malloc((n ? n : 1) * sizeof *avg);
    if (!e || !avg) {
        free(e);
        free(avg);
        return mlic_fail(MLIC_ERR_NOMEM, "--ema: out of memory for a copy of %zu weights", n);
    }
    memcpy(avg, weights, n * sizeof *avg);
    *e = (mlic_ema){.decay = decay, .n = n, .avg = avg};
    *out = e;
    return MLIC_OK;
}

void mlic_ema_destroy(mlic_ema *e)
{
    if (!e)
        return;
    free(e->avg);
    free(e);
}

double mlic_ema_decay_at(double decay, int64_t steps)
{
    const double warm = (1.0 + (double)steps) / (10.0 + (double)steps);
    return warm < decay ? warm : decay;
}

void mlic_ema_update(mlic_ema *e, const float *weights, int64_t steps)
{
    const float a = (float)(1.0 - mlic_ema_decay_at(e->decay, steps));
    float *avg = e->avg;
    const long n = (long)e->n;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (long i = 0; i < n; i++)
        avg[i] += a * (weights[i] - avg[i]);
}

void mlic_ema_swap(mlic_ema *e, float *weights)
{
    float *avg = e->avg;
    const long n = (long)e->n;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (long i = 0; i < n; i++) {
        const float w = weights[i];
        weights[i] = avg[i];
        avg[i] = w;
    }
}

float *mlic_ema_weights(mlic_ema *e)
{
    return e->avg;
}
