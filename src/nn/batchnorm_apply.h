/* The expressions batch norm in training mode maps a plane with, each shared by the kernels
 * that need it (batchnorm_train.c, batchnorm_sync.c, batchnorm_backward.c).
 *
 * Forward: the statistics kernels and the one that replays their output from the saved map
 * (mlic_batchnorm_forward_replay) share one definition, which keeps a replay bit for bit equal
 * to the forward (the build does not contract into FMAs: -std=c11). Centred on the float mean,
 * with the mean's rounding error moved into the shift, so that a mean large against the spread
 * does not cancel in float. */
#ifndef MLIC_NN_BATCHNORM_APPLY_H
#define MLIC_NN_BATCHNORM_APPLY_H

#include <stddef.h>

static inline void mlic_batchnorm_apply_plane(float *y,       // (hw)
                                              const float *x, // (hw)
                                              float mean, float scale, float shift, int hw)
{
#pragma omp simd
    for (int q = 0; q < hw; q++)
        y[q] = (x[q] - mean) * scale + shift;
}

/* Backward: dx += a * dy + b * (x - mean) + c0 (xhat's invstd folded into b, the float mean's
 * rounding error into c0), or with dx == dy the same value written over dy (in place: each
 * element of dy is read before it is replaced). */
static inline void mlic_batchnorm_backward_plane(float *dx,       // (hw)
                                                 const float *dy, // (hw)
                                                 const float *x,  // (hw)
                                                 float mean, float a, float b, float c0, int hw)
{
    if (dx == dy) {
#pragma omp simd
        for (int q = 0; q < hw; q++)
            dx[q] = a * dy[q] + b * (x[q] - mean) + c0;
        return;
    }
#pragma omp simd
    for (int q = 0; q < hw; q++)
        dx[q] += a * dy[q] + b * (x[q] - mean) + c0;
}

#endif
