/* Dropout in training mode (inverted dropout, as PyTorch: kept values are scaled by 1 / (1 - p)
 * so inference needs no rescaling). The mask is drawn sequentially from the caller's generator:
 * dropout sits before the classifier on (N, features) values, too few to be worth threads. */
#include "nn/kernels_train.h"

static float keep_scale(float p)
{
    return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
}

void mlic_dropout_forward_train(float *y,       // (count)
                                uint8_t *mask,  // (count)
                                const float *x, // (count)
                                size_t count, float p, mlic_rng *rng)
{
    float scale = keep_scale(p);
    for (size_t i = 0; i < count; i++) {
        mask[i] = p < 1.0f && mlic_rng_uniform(rng) >= (double)p;
        y[i] = mask[i] ? x[i] * scale : 0.0f;
    }
}

void mlic_dropout_backward(float *dx,           // (count)
                           const float *dy,     // (count)
                           const uint8_t *mask, // (count)
                           size_t count, float p)
{
    float scale = keep_scale(p);
    for (size_t i = 0; i < count; i++)
        if (mask[i])
            dx[i] += dy[i] * scale;
}
