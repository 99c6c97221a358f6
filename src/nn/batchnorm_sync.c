/* Batch norm in training mode in steps, so that data-parallel processes can sum the per-channel
 * statistics between the steps (--sync-bn): with sums over every process's batch and m the
 * number of values per channel in all of them, each process computes the batch norm of the
 * concatenated batch. Each step is one pass parallel over channels with the double-precision
 * arithmetic of the fused kernels (batchnorm_train.c, batchnorm_backward.c); those stay fused
 * because a channel's three passes then run while its data is in cache. */
#include <math.h>

#include "core/error.h"
#include "nn/batchnorm_apply.h"
#include "nn/kernels_train.h"

void mlic_batchnorm_sums(double *sum,    // (C)
                         const float *x, // (N, C, H, W)
                         int n, int c, int hw)
{
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        double s = 0.0;
        for (int i = 0; i < n; i++) {
            const float *xp = x + ((size_t)i * c + ch) * (size_t)hw;
#pragma omp simd reduction(+ : s)
            for (int q = 0; q < hw; q++)
                s += xp[q];
        }
        sum[ch] = s;
    }
}

void mlic_batchnorm_sq_dev_sums(double *ss,         // (C)
                                const float *x,     // (N, C, H, W)
                                const double *mean, // (C)
                                int n, int c, int hw)
{
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        const double mu = mean[ch];
        double s = 0.0;
        for (int i = 0; i < n; i++) {
            const float *xp = x + ((size_t)i * c + ch) * (size_t)hw;
#pragma omp simd reduction(+ : s)
            for (int q = 0; q < hw; q++) {
                double d = xp[q] - mu;
                s += d * d;
            }
        }
        ss[ch] = s;
    }
}

mlic_status mlic_batchnorm_forward_train_apply(float *y,            // (N, C, H, W)
                                               float *save_mean,    // (C)
                                               float *save_invstd,  // (C)
                                               float *save_scale,   // (C) or NULL
                                               float *save_shift,   // (C) or NULL
                                               float *running_mean, // (C) updated in place
                                               float *running_var,  // (C) updated in place
                                               const float *x,      // (N, C, H, W)
                                               const float *gamma,  // (C)
                                               const float *beta,   // (C)
                                               const double *mean,  // (C)
                                               const double *ss,    // (C)
                                               double m, int n, int c, int hw, float eps,
                                               float momentum)
{
    if (!(m > 1))
        return mlic_fail(MLIC_ERR_INVALID_ARG,
                         "batch norm in training mode: %g value(s) per channel over all "
                         "processes, the batch variance needs at least 2. HINT: use a batch size "
                         "of at least 2 or a larger input size", m);
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        const double mu = mean[ch], var = ss[ch] / m;
        const double invstd = 1.0 / sqrt(var + (double)eps);
        save_mean[ch] = (float)mu;
        save_invstd[ch] = (float)invstd;
        running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mu);
        running_var[ch] = (float)((1.0 - momentum) * running_var[ch] +
                                  momentum * (ss[ch] / (m - 1)));
        const double scale_d = gamma[ch] * invstd;
        const float scale = (float)scale_d, fmean = (float)mu;
        const float shift = (float)(beta[ch] - (mu - fmean) * scale_d);
        if (save_scale)
            save_scale[ch] = scale;
        if (save_shift)
            save_shift[ch] = shift;
        for (int i = 0; i < n; i++) {
            const size_t off = ((size_t)i * c + ch) * (size_t)hw;
            mlic_batchnorm_apply_plane(y + off, x + off, fmean, scale, shift, hw);
        }
    }
    return MLIC_OK;
}

void mlic_batchnorm_backward_sums(double *sum_dy,           // (C)
                                  double *sum_dy_xhat,      // (C)
                                  const float *dy,          // (N, C, H, W)
                                  const float *x,           // (N, C, H, W)
                                  const float *save_mean,   // (C)
                                  const float *save_invstd, // (C)
                                  int n, int c, int hw)
{
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        const double mean = save_mean[ch], invstd = save_invstd[ch];
        double s = 0.0, sx = 0.0;
        for (int i = 0; i < n; i++) {
            const size_t off = ((size_t)i * c + ch) * (size_t)hw;
            const float *xp = x + off, *dp = dy + off;
#pragma omp simd reduction(+ : s, sx)
            for (int q = 0; q < hw; q++) {
                s += dp[q];
                sx += dp[q] * ((xp[q] - mean) * invstd);
            }
        }
        sum_dy[ch] = s;
        sum_dy_xhat[ch] = sx;
    }
}

void mlic_batchnorm_backward_apply(float *dx,                 // (N, C, H, W)
                                   const float *dy,           // (N, C, H, W)
                                   const float *x,            // (N, C, H, W)
                                   const float *save_mean,    // (C)
                                   const float *save_invstd,  // (C)
                                   const float *gamma,        // (C)
                                   const double *sum_dy,      // (C)
                                   const double *sum_dy_xhat, // (C)
                                   double m, int n, int c, int hw)
{
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        const double mean = save_mean[ch], invstd = save_invstd[ch];
        /* dx = a * dy + b * (x - mean) + c0, as in the fused kernel. */
        const double a = gamma[ch] * invstd, b = -a * invstd * sum_dy_xhat[ch] / m;
        const float fmean = (float)mean, fa = (float)a, fb = (float)b;
        const float fc = (float)(-a * sum_dy[ch] / m - b * (mean - fmean));
        for (int i = 0; i < n; i++) {
            const size_t off = ((size_t)i * c + ch) * (size_t)hw;
            mlic_batchnorm_backward_plane(dx + off, dy + off, x + off, fmean, fa, fb, fc, hw);
        }
    }
}
