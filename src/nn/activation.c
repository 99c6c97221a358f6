/* Elementwise ops: activations and the residual add. */
#include <math.h>

#include "nn/kernels.h"

void mlic_act_forward(float *out, const float *in, mlic_act act, size_t count)
{
    const float hi = act == MLIC_ACT_RELU6 ? 6.0f : INFINITY;
    if (act == MLIC_ACT_NONE) {
        if (out != in)
            for (size_t i = 0; i < count; i++)
                out[i] = in[i];
        return;
    }
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++) {
        const float v = in[i] > 0.0f ? in[i] : 0.0f;
        out[i] = v < hi ? v : hi;
    }
}

void mlic_add_forward(float *out, const float *a, const float *b, size_t count)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < count; i++)
        out[i] = a[i] + b[i];
}
