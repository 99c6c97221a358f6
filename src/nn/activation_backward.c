/* Elementwise backward: ReLU, ReLU6 (from the forward output) and add (pass-through). */
#include "nn/kernels_train.h"

void mlic_relu_backward(float *dx,       // (count)
                        const float *dy, // (count)
                        const float *y,  // (count)
                        size_t count)
{
    if (dx == dy) {
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < count; i++)
            dx[i] = y[i] > 0.0f ? dx[i] : 0.0f;
        return;
    }
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++)
        dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
}

void mlic_relu6_backward(float *dx,       // (count)
                         const float *dy, // (count)
                         const float *y,  // (count)
                         size_t count)
{
    if (dx == dy) {
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < count; i++)
            dx[i] = y[i] > 0.0f && y[i] < 6.0f ? dx[i] : 0.0f;
        return;
    }
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++)
        dx[i] += y[i] > 0.0f && y[i] < 6.0f ? dy[i] : 0.0f;
}

void mlic_add_backward(float *dx,       // (count)
                       const float *dy, // (count)
                       size_t count)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++)
        dx[i] += dy[i];
}
