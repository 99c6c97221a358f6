/* Batch norm forward in training mode. Statistics are accumulated in double over each channel
 * (two passes: mean, then squared deviations) because a channel of a real batch holds up to
 * millions of values; parallel over channels, so the result is independent of the thread count. */
#include <math.h>

#include "core/error.h"
#include "nn/batchnorm_apply.h"
#include "nn/kernels_train.h"

mlic_status mlic_batchnorm_forward_train(float *y,            // (N, C, H, W)
                                         float *save_mean,    // (C)
                                         float *save_invstd,  // (C)
                                         float *save_scale,   // (C) or NULL
                                         float *save_shift,   // (C) or NULL
                                         float *running_mean, // (C) updated in place
                                         float *running_var,  // (C) updated in place
                                         const float *x,      // (N, C, H, W)
                                         const float *gamma,  // (C)
                                         const float *beta,   // (C)
                                         int n, int c, int hw, float eps, float momentum)
{
    size_t m = (size_t)n * hw;
    if (m <= 1)
        return mlic_fail(MLIC_ERR_INVALID_ARG,
                         "batch norm in training mode: %zu value(s) per channel (batch %d, "
                         "%d pixel(s) per map), the batch variance needs at least 2. HINT: use "
                         "a batch size of at least 2 or a larger input size",
                         m, n, hw);
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        double sum = 0.0;
        for (int i = 0; i < n; i++) {
            const float *xp = x + ((size_t)i * c + ch) * (size_t)hw;
#pragma omp simd reduction(+ : sum)
            for (int q = 0; q < hw; q++)
                sum += xp[q];
        }
        double mean = sum / (double)m;
        double ss = 0.0;
        for (int i = 0; i < n; i++) {
            const float *xp = x + ((size_t)i * c + ch) * (size_t)hw;
#pragma omp simd reduction(+ : ss)
            for (int q = 0; q < hw; q++) {
                double d = xp[q] - mean;
                ss += d * d;
            }
        }
        double var = ss / (double)m;
        double invstd = 1.0 / sqrt(var + (double)eps);
        save_mean[ch] = (float)mean;
        save_invstd[ch] = (float)invstd;
        running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mean);
        running_var[ch] = (float)((1.0 - momentum) * running_var[ch] +
                                  momentum * (ss / (double)(m - 1)));
        double scale_d = gamma[ch] * invstd;
        float scale = (float)scale_d, fmean = (float)mean;
        float shift = (float)(beta[ch] - (mean - fmean) * scale_d);
        if (save_scale)
            save_scale[ch] = scale;
        if (save_shift)
            save_shift[ch] = shift;
        for (int i = 0; i < n; i++) {
            size_t off = ((size_t)i * c + ch) * (size_t)hw;
            mlic_batchnorm_apply_plane(y + off, x + off, fmean, scale, shift, hw);
        }
    }
    return MLIC_OK;
}

void mlic_batchnorm_forward_replay(float *y,                // (N, C, H, W)
                                   const float *x,          // (N, C, H, W)
                                   const float *save_mean,  // (C)
                                   const float *save_scale, // (C)
                                   const float *save_shift, // (C)
                                   int n, int c, int hw)
{
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < n; i++) {
            const size_t off = ((size_t)i * c + ch) * (size_t)hw;
            mlic_batchnorm_apply_plane(y + off, x + off, save_mean[ch], save_scale[ch],
                                       save_shift[ch], hw);
        }
}
