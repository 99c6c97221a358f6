/* Batch norm backward for training mode, where the batch statistics depend on x:
 *   xhat = (x - mean) * invstd,  M = N * HW
 *   dbeta  = sum dy,  dgamma = sum dy * xhat
 *   dx = gamma * invstd * (dy - dbeta / M - xhat * dgamma / M)
 * The per-channel sums run in double (as in the forward), parallel over channels. */
#include "nn/batchnorm_apply.h"
#include "nn/kernels_train.h"

void mlic_batchnorm_backward(float *dx,                // (N, C, H, W)
                             float *dgamma,            // (C)
                             float *dbeta,             // (C)
                             const float *dy,          // (N, C, H, W)
                             const float *x,           // (N, C, H, W)
                             const float *save_mean,   // (C)
                             const float *save_invstd, // (C)
                             const float *gamma,       // (C)
                             int n, int c, int hw)
{
    double m = (double)n * (double)hw;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        double mean = save_mean[ch], invstd = save_invstd[ch];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int i = 0; i < n; i++) {
            size_t off = ((size_t)i * c + ch) * (size_t)hw;
            const float *xp = x + off, *dp = dy + off;
#pragma omp simd reduction(+ : sum_dy, sum_dy_xhat)
            for (int q = 0; q < hw; q++) {
                sum_dy += dp[q];
                sum_dy_xhat += dp[q] * ((xp[q] - mean) * invstd);
            }
        }
        dbeta[ch] += (float)sum_dy;
        dgamma[ch] += (float)sum_dy_xhat;
        /* nn/batchnorm_apply.h: dx = a * dy + b * (x - mean) + c0. */
        double a = gamma[ch] * invstd, b = -a * invstd * sum_dy_xhat / m;
        float fmean = (float)mean;
        float fa = (float)a, fb = (float)b;
        float fc = (float)(-a * sum_dy / m - b * (mean - fmean));
        for (int i = 0; i < n; i++) {
            size_t off = ((size_t)i * c + ch) * (size_t)hw;
            mlic_batchnorm_backward_plane(dx + off, dy + off, x + off, fmean, fa, fb, fc, hw);
        }
    }
}
