#include <string.h>

#include "nn/kernels.h"

/* GEMM tile: TILE_M output channels x TILE_N output pixels accumulate in a small local array that
 * stays in L1 while the reduction streams through the weights and im2col rows. */
#define TILE_M 8
#define TILE_N 64

mlic_conv_geom mlic_conv_geom_make(int n, int cin, int h, int w, int cout, int kernel, int stride,
                                   int pad, int groups)
{
    mlic_conv_geom g = {n, cin, h, w, cout, 0, 0, kernel, stride, pad, groups};
    g.ho = (h + 2 * pad - kernel) / stride + 1;
    g.wo = (w + 2 * pad - kernel) / stride + 1;
    return g;
}

static int is_depthwise(const mlic_conv_geom *g)
{
    return g->groups > 1 && g->groups == g->cin && g->groups == g->cout;
}

/* A 1x1, stride 1, unpadded convolution reads its input directly as the GEMM's right operand. */
static int is_pointwise(const mlic_conv_geom *g)
{
    return g->kernel == 1 && g->stride == 1 && g->pad == 0;
}

size_t mlic_conv2d_workspace_floats(const mlic_conv_geom *g)
{
    if (is_depthwise(g) || is_pointwise(g))
        return 0;
    return (size_t)(g->cin / g->groups) * g->kernel * g->kernel * g->ho * g->wo;
}

static inline float activate(float v, mlic_act act)
{
    if (act == MLIC_ACT_RELU)
        return v > 0.0f ? v : 0.0f;
    if (act == MLIC_ACT_RELU6)
        return v > 0.0f ? (v < 6.0f ? v : 6.0f) : 0.0f;
    return v;
}

/* col: (Cin_g * K * K, Ho * Wo); row (ci, ky, kx) holds the input pixels that kernel tap meets. */
static void im2col(float *col, const float *x /* (Cin_g, H, W) */, int cin_g,
                   const mlic_conv_geom *g)
{
    const int k = g->kernel, s = g->stride, p = g->pad, ho = g->ho, wo = g->wo;
    const int rows = cin_g * k * k;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        const int ci = r / (k * k), ky = (r / k) % k, kx = r % k;
        const float *plane = x + (size_t)ci * g->h * g->w;
        float *dst = col + (size_t)r * ho * wo;
        /* ox range whose input column ox*s - p + kx lies inside [0, w) */
        int ox0 = 0, ox1 = wo;
        while (ox0 < wo && ox0 * s - p + kx < 0)
            ox0++;
        while (ox1 > ox0 && (ox1 - 1) * s - p + kx >= g->w)
            ox1--;
        for (int oy = 0; oy < ho; oy++) {
            const int iy = oy * s - p + ky;
            float *d = dst + (size_t)oy * wo;
            if (iy < 0 || iy >= g->h) {
                memset(d, 0, (size_t)wo * sizeof *d);
                continue;
            }
            const float *srow = plane + (size_t)iy * g->w - p + kx;
            for (int ox = 0; ox < ox0; ox++)
                d[ox] = 0.0f;
            if (s == 1) {
                memcpy(d + ox0, srow + ox0, (size_t)(ox1 - ox0) * sizeof *d);
            } else {
                for (int ox = ox0; ox < ox1; ox++)
                    d[ox] = srow[ox * s];
            }
            for (int ox = ox1; ox < wo; ox++)
                d[ox] = 0.0f;
        }
    }
}

/* c = act(a @ b + bias + add) for one sample and group.
 * c, add: (M, N); a: (M, K); b: (K, N); bias: (M) or NULL. */
static void gemm_bias_act(float *c, const float *a, const float *b, int m, int n, int k,
                          const float *bias, const float *add, mlic_act act)
{
    const int mt = (m + TILE_M - 1) / TILE_M, nt = (n + TILE_N - 1) / TILE_N;
    /* Tiles of one column strip are consecutive, so a thread reuses the strip of b it loaded. */
#pragma omp parallel for schedule(static)
    for (int t = 0; t < mt * nt; t++) {
        const int i0 = (t % mt) * TILE_M, j0 = (t / mt) * TILE_N;
        const int mi = m - i0 < TILE_M ? m - i0 : TILE_M;
        const int nj = n - j0 < TILE_N ? n - j0 : TILE_N;
        float acc[TILE_M][TILE_N];
        memset(acc, 0, sizeof acc);
        const float *arow = a + (size_t)i0 * k;
        if (nj == TILE_N) {
            for (int p = 0; p < k; p++) {
                const float *brow = b + (size_t)p * n + j0;
                for (int i = 0; i < mi; i++) {
                    const float av = arow[(size_t)i * k + p];
#pragma omp simd
                    for (int j = 0; j < TILE_N; j++)
                        acc[i][j] += av * brow[j];
                }
            }
        } else {
            for (int p = 0; p < k; p++) {
                const float *brow = b + (size_t)p * n + j0;
                for (int i = 0; i < mi; i++) {
                    const float av = arow[(size_t)i * k + p];
#pragma omp simd
                    for (int j = 0; j < nj; j++)
                        acc[i][j] += av * brow[j];
                }
            }
        }
        for (int i = 0; i < mi; i++) {
            const float bv = bias ? bias[i0 + i] : 0.0f;
            float *crow = c + (size_t)(i0 + i) * n + j0;
            const float *addrow = add ? add + (size_t)(i0 + i) * n + j0 : NULL;
            for (int j = 0; j < nj; j++) {
                float v = acc[i][j] + bv;
                if (addrow)
                    v += addrow[j];
                crow[j] = activate(v, act);
            }
        }
    }
}

/* One K x K filter per channel: a direct loop, im2col would only copy. */
static void depthwise_forward(float *out, const float *in, const float *weight, const float *bias,
                              const float *add, mlic_act act, const mlic_conv_geom *g)
{
    const int k = g->kernel, s = g->stride, p = g->pad, ho = g->ho, wo = g->wo;
#pragma omp parallel for schedule(static)
    for (int nc = 0; nc < g->n * g->cout; nc++) {
        const int c = nc % g->cout;
        const float *x = in + (size_t)nc * g->h * g->w;
        const float *wk = weight + (size_t)c * k * k;
        float *y = out + (size_t)nc * ho * wo;
        const float *ad = add ? add + (size_t)nc * ho * wo : NULL;
        const float bv = bias ? bias[c] : 0.0f;
        for (int oy = 0; oy < ho; oy++) {
            const int iy0 = oy * s - p;
            const int ky0 = iy0 < 0 ? -iy0 : 0;
            const int ky1 = iy0 + k > g->h ? g->h - iy0 : k;
            for (int ox = 0; ox < wo; ox++) {
                const int ix0 = ox * s - p;
                const int kx0 = ix0 < 0 ? -ix0 : 0;
                const int kx1 = ix0 + k > g->w ? g->w - ix0 : k;
                float sum = bv;
                for (int ky = ky0; ky < ky1; ky++) {
                    const float *xr = x + (size_t)(iy0 + ky) * g->w + ix0;
                    const float *wr = wk + ky * k;
                    for (int kx = kx0; kx < kx1; kx++)
                        sum += xr[kx] * wr[kx];
                }
                if (ad)
                    sum += ad[(size_t)oy * wo + ox];
                y[(size_t)oy * wo + ox] = activate(sum, act);
            }
        }
    }
}

void mlic_conv2d_forward(float *out, float *workspace, const float *in, const float *weight,
                         const float *bias, const float *add, mlic_act act, const mlic_conv_geom *g)
{
    if (is_depthwise(g)) {
        depthwise_forward(out, in, weight, bias, add, act, g);
        return;
    }
    const int cin_g = g->cin / g->groups, cout_g = g->cout / g->groups;
    const int kdim = cin_g * g->kernel * g->kernel, npix = g->ho * g->wo;
    const size_t in_plane = (size_t)g->h * g->w, out_plane = (size_t)npix;
    for (int s = 0; s < g->n; s++) {
        for (int grp = 0; grp < g->groups; grp++) {
            const float *x = in + ((size_t)s * g->cin + (size_t)grp * cin_g) * in_plane;
            const size_t oofs = ((size_t)s * g->cout + (size_t)grp * cout_g) * out_plane;
            const float *col = x;
            if (!is_pointwise(g)) {
                im2col(workspace, x, cin_g, g);
                col = workspace;
            }
            gemm_bias_act(out + oofs, weight + (size_t)grp * cout_g * kdim, col, cout_g, npix,
                          kdim, bias ? bias + (size_t)grp * cout_g : NULL, add ? add + oofs : NULL,
                          act);
        }
    }
}
