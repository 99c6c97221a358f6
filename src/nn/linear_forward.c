#include "nn/kernels.h"

void mlic_linear_forward(float *out, const float *in, const float *weight, const float *bias,
                         int n, int c, int k)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int s = 0; s < n; s++)
        for (int j = 0; j < k; j++) {
            const float *x = in + (size_t)s * c, *w = weight + (size_t)j * c;
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int i = 0; i < c; i++)
                sum += x[i] * w[i];
            out[(size_t)s * k + j] = sum + (bias ? bias[j] : 0.0f);
        }
}
