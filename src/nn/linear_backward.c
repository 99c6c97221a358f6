/* Linear backward: dx += dy · weight, dw += dy^T · x, db += column sums of dy. Each parallel
 * loop splits over rows of its output, so the sums do not depend on the thread count. */
#include "nn/kernels_train.h"

void mlic_linear_backward(float *dx,           // (N, C) or NULL
                          float *dw,           // (K, C)
                          float *db,           // (K) or NULL
                          const float *x,      // (N, C)
                          const float *weight, // (K, C)
                          const float *dy,     // (N, K)
                          int n, int c, int k)
{
    if (dx) {
#pragma omp parallel for schedule(static)
        for (int i = 0; i < n; i++) {
            float *dxi = dx + (size_t)i * c;
            for (int o = 0; o < k; o++) {
                float g = dy[(size_t)i * k + o];
                const float *wo = weight + (size_t)o * c;
#pragma omp simd
                for (int j = 0; j < c; j++)
                    dxi[j] += g * wo[j];
            }
        }
    }
#pragma omp parallel for schedule(static)
    for (int o = 0; o < k; o++) {
        float *dwo = dw + (size_t)o * c;
        float bsum = 0.0f;
        for (int i = 0; i < n; i++) {
            float g = dy[(size_t)i * k + o];
            const float *xi = x + (size_t)i * c;
            bsum += g;
#pragma omp simd
            for (int j = 0; j < c; j++)
                dwo[j] += g * xi[j];
        }
        if (db)
            db[o] += bsum;
    }
}
