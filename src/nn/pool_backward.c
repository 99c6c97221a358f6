/* Pooling backward: max pool (gradient routed to each window's first maximum) and global
 * average pool. Parallel over (sample, channel) planes; within a plane the overlapping windows
 * add in output order, so the sums do not depend on the thread count. */
#include <math.h>

#include "nn/kernels_train.h"

void mlic_maxpool2d_backward(float *dx,       // (N, C, H, W)
                             const float *dy, // (N, C, OH, OW)
                             const float *x,  // (N, C, H, W)
                             const mlic_pool_geom *g)
{
    int h = g->h, w = g->w, k = g->kernel, stride = g->stride, pad = g->pad;
    int oh = g->ho, ow = g->wo;
    long planes = (long)g->n * g->c;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * h * w;
        const float *dyp = dy + (size_t)pl * oh * ow;
        float *dxp = dx + (size_t)pl * h * w;
        for (int oy = 0; oy < oh; oy++) {
            int y0 = oy * stride - pad, y1 = y0 + k < h ? y0 + k : h;
            if (y0 < 0)
                y0 = 0;
            for (int ox = 0; ox < ow; ox++) {
                int x0 = ox * stride - pad, x1 = x0 + k < w ? x0 + k : w;
                if (x0 < 0)
                    x0 = 0;
                /* PyTorch's scan: start at the window's first in-bounds element with -inf and
                 * take strictly greater values or NaN, which keeps the first maximum but the
                 * last NaN. */
                size_t best = (size_t)y0 * w + x0;
                float bestv = -INFINITY;
                for (int iy = y0; iy < y1; iy++) {
                    for (int ix = x0; ix < x1; ix++) {
                        float v = xp[(size_t)iy * w + ix];
                        if (v > bestv || isnan(v)) {
                            bestv = v;
                            best = (size_t)iy * w + ix;
                        }
                    }
                }
                dxp[best] += dyp[(size_t)oy * ow + ox];
            }
        }
    }
}

void mlic_global_avgpool_backward(float *dx,       // (N, C, H, W)
                                  const float *dy, // (N, C)
                                  int n, int c, int hw)
{
    long planes = (long)n * c;
    float scale = 1.0f / (float)hw;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < planes; pl++) {
        float gv = dy[pl] * scale;
        float *dxp = dx + (size_t)pl * hw;
#pragma omp simd
        for (int q = 0; q < hw; q++)
            dxp[q] += gv;
    }
}
