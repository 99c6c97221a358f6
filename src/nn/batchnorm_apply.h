/* The one expression every batch norm in training mode maps x with, shared by the kernels that
 * compute the statistics (batchnorm_train.c, batchnorm_sync.c) and the one that replays their
 * output from the saved map (mlic_batchnorm_forward_replay): one definition keeps a replay bit
 * for bit equal to the forward (the build does not contract into FMAs: -std=c11). Centred on
 * the float mean, with the mean's rounding error moved into the shift, so that a mean large
 * against the spread does not cancel in float. */
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

#endif
