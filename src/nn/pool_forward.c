#include <math.h>

#include "nn/kernels.h"

mlic_pool_geom mlic_pool_geom_make(int n, int c, int h, int w, int kernel, int stride, int pad)
{
    mlic_pool_geom g = {n, c, h, w, 0, 0, kernel, stride, pad};
    g.ho = (h + 2 * pad - kernel) / stride + 1;
    g.wo = (w + 2 * pad - kernel) / stride + 1;
    return g;
}

void mlic_maxpool2d_forward(float *out, const float *in, const mlic_pool_geom *g)
{
    const int k = g->kernel, s = g->stride, p = g->pad;
#pragma omp parallel for schedule(static)
    for (int nc = 0; nc < g->n * g->c; nc++) {
        const float *x = in + (size_t)nc * g->h * g->w;
        float *y = out + (size_t)nc * g->ho * g->wo;
        for (int oy = 0; oy < g->ho; oy++) {
            const int iy0 = oy * s - p;
            const int y0 = iy0 < 0 ? 0 : iy0, y1 = iy0 + k > g->h ? g->h : iy0 + k;
            for (int ox = 0; ox < g->wo; ox++) {
                const int ix0 = ox * s - p;
                const int x0 = ix0 < 0 ? 0 : ix0, x1 = ix0 + k > g->w ? g->w : ix0 + k;
                float m = -INFINITY;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++) {
                        const float v = x[(size_t)iy * g->w + ix];
                        /* NaN propagates, as in PyTorch */
                        if (v > m || v != v)
                            m = v;
                    }
                y[(size_t)oy * g->wo + ox] = m;
            }
        }
    }
}

void mlic_global_avgpool_forward(float *out, const float *in, int n, int c, int hw)
{
#pragma omp parallel for schedule(static)
    for (int nc = 0; nc < n * c; nc++) {
        const float *x = in + (size_t)nc * hw;
        double sum = 0.0;
        for (int i = 0; i < hw; i++)
            sum += x[i];
        out[nc] = (float)(sum / hw);
    }
}
