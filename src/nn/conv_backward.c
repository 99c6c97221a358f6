/* Convolution backward. General convolutions go through im2col: per group and chunk of samples,
 *   dw  += dy · col^T          (Cout/g, cols) x (cols, Cin/g*K*K)
 *   dcol = weight^T · dy       (Cin/g*K*K, Cout/g) x (Cout/g, cols), then col2im into dx,
 * where cols = samples * OH*OW. Small maps put several samples side by side in one im2col
 * buffer, so the GEMMs still get rows long enough to vectorise (layer4 of a resnet at 224 has
 * 7x7 maps). Chunks run in order and each parallel loop splits over rows that one thread owns,
 * so the results do not depend on the thread count. A 1x1 stride 1 unpadded convolution over a
 * large map uses x and dx as col and dcol directly; depthwise convolutions (one input channel
 * per group) use a direct loop parallel over channels, where im2col per group would leave
 * nothing to parallelise. */
#include <string.h>

#include "nn/kernels_train.h"

/* Columns (samples * OH*OW) the GEMMs aim for before samples are batched together. */
#define MIN_COLS 512

/* The outputs [*lo, *hi) whose input coordinate o * stride - pad + kk falls inside [0, in). */
static void valid_range(int *lo, int *hi, int in, int out, int kk, int stride, int pad)
{
    int off = pad - kk;
    int l = off > 0 ? (off + stride - 1) / stride : 0;
    int u = in - 1 + off >= 0 ? (in - 1 + off) / stride + 1 : 0;
    if (u > out)
        u = out;
    if (l > u)
        l = u;
    *lo = l;
    *hi = u;
}

static int is_depthwise(const mlic_conv_geom *g)
{
    return g->groups > 1 && g->cin == g->groups && g->cout == g->groups;
}

/* Samples per im2col chunk. */
static int chunk_samples(const mlic_conv_geom *g)
{
    size_t p = (size_t)g->ho * g->wo;
    size_t nb = p ? (MIN_COLS + p - 1) / p : 1;
    return nb < (size_t)g->n ? (int)nb : g->n;
}

/* x and dx serve as col and dcol: a 1x1 stride 1 unpadded convolution, one sample at a time. */
static int is_direct(const mlic_conv_geom *g)
{
    return g->kernel == 1 && g->stride == 1 && g->pad == 0 && chunk_samples(g) == 1;
}

size_t mlic_conv2d_backward_workspace_floats(const mlic_conv_geom *g)
{
    if (is_depthwise(g) || is_direct(g))
        return 0;
    size_t rows = (size_t)(g->cin / g->groups) * g->kernel * g->kernel;
    size_t cols = (size_t)chunk_samples(g) * g->ho * g->wo;
    /* col and dcol, plus the chunk's dy gathered into rows when it spans several samples. */
    size_t gathered = chunk_samples(g) > 1 ? (size_t)(g->cout / g->groups) * cols : 0;
    return 2 * rows * cols + gathered;
}

/* One sample's im2col into columns [0, OH*OW) of rows with stride ld. */
static void im2col(float *col,     // (C * K * K, ld)
                   const float *x, // (C, H, W)
                   int c, size_t ld, const mlic_conv_geom *g)
{
    int k = g->kernel, stride = g->stride, pad = g->pad, h = g->h, w = g->w;
    int oh = g->ho, ow = g->wo, rows = c * k * k;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        int ci = r / (k * k), kh = r / k % k, kw = r % k;
        const float *xc = x + (size_t)ci * h * w;
        float *cr = col + (size_t)r * ld;
        int ylo, yhi, xlo, xhi;
        valid_range(&ylo, &yhi, h, oh, kh, stride, pad);
        valid_range(&xlo, &xhi, w, ow, kw, stride, pad);
        int ix0 = kw - pad;
        for (int oy = 0; oy < oh; oy++) {
            float *dst = cr + (size_t)oy * ow;
            if (oy < ylo || oy >= yhi) {
                memset(dst, 0, (size_t)ow * sizeof(float));
                continue;
            }
            const float *src = xc + (size_t)(oy * stride - pad + kh) * w;
            for (int ox = 0; ox < xlo; ox++)
                dst[ox] = 0.0f;
#pragma omp simd
            for (int ox = xlo; ox < xhi; ox++)
                dst[ox] = src[ox * stride + ix0];
            for (int ox = xhi; ox < ow; ox++)
                dst[ox] = 0.0f;
        }
    }
}

/* dx += col2im(dcol) for one sample, from columns [0, OH*OW) of rows with stride ld; parallel
 * over input channels, each owning its plane of dx. */
static void col2im_add(float *dx,         // (C, H, W)
                       const float *dcol, // (C * K * K, ld)
                       int c, size_t ld, const mlic_conv_geom *g)
{
    int k = g->kernel, stride = g->stride, pad = g->pad, h = g->h, w = g->w;
    int oh = g->ho, ow = g->wo;
#pragma omp parallel for schedule(static)
    for (int ci = 0; ci < c; ci++) {
        float *dxc = dx + (size_t)ci * h * w;
        for (int kh = 0; kh < k; kh++) {
            int ylo, yhi;
            valid_range(&ylo, &yhi, h, oh, kh, stride, pad);
            for (int kw = 0; kw < k; kw++) {
                int xlo, xhi;
                valid_range(&xlo, &xhi, w, ow, kw, stride, pad);
                const float *src = dcol + ((size_t)(ci * k + kh) * k + kw) * ld;
                int ix0 = kw - pad;
                for (int oy = ylo; oy < yhi; oy++) {
                    float *dst = dxc + (size_t)(oy * stride - pad + kh) * w;
                    const float *sr = src + (size_t)oy * ow;
#pragma omp simd
                    for (int ox = xlo; ox < xhi; ox++)
                        dst[ox * stride + ix0] += sr[ox];
                }
            }
        }
    }
}

/* dw += dy · col^T over p columns. Four output channels at a time share each load of a col
 * row; the dot products vectorise as reductions. */
static void weight_grad(float *dw,        // (OC, R)
                        const float *dy,  // (OC, ldy)
                        size_t ldy,
                        const float *col, // (R, ldc)
                        size_t ldc, int oc, size_t r, size_t p)
{
    int blocks = (oc + 3) / 4;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < blocks; b++) {
        int o = 4 * b;
        if (o + 4 <= oc) {
            const float *d0 = dy + (size_t)o * ldy, *d1 = d0 + ldy, *d2 = d1 + ldy, *d3 = d2 + ldy;
            for (size_t j = 0; j < r; j++) {
                const float *cj = col + j * ldc;
                float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
                for (size_t q = 0; q < p; q++) {
                    s0 += d0[q] * cj[q];
                    s1 += d1[q] * cj[q];
                    s2 += d2[q] * cj[q];
                    s3 += d3[q] * cj[q];
                }
                dw[(size_t)o * r + j] += s0;
                dw[(size_t)(o + 1) * r + j] += s1;
                dw[(size_t)(o + 2) * r + j] += s2;
                dw[(size_t)(o + 3) * r + j] += s3;
            }
        } else {
            for (; o < oc; o++) {
                const float *d = dy + (size_t)o * ldy;
                for (size_t j = 0; j < r; j++) {
                    const float *cj = col + j * ldc;
                    float s = 0.0f;
#pragma omp simd reduction(+ : s)
                    for (size_t q = 0; q < p; q++)
                        s += d[q] * cj[q];
                    dw[(size_t)o * r + j] += s;
                }
            }
        }
    }
}

/* dcol (+)= weight^T · dy over p columns: overwrite for a scratch dcol, accumulate when dcol is
 * dx itself. Four rows at a time share each load of a dy row. */
static void col_grad(float *dcol,         // (R, ldd)
                     size_t ldd,
                     const float *weight, // (OC, R)
                     const float *dy,     // (OC, ldy)
                     size_t ldy, int oc, size_t r, size_t p, int accumulate)
{
    size_t blocks = (r + 3) / 4;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < blocks; b++) {
        size_t j = 4 * b;
        size_t nj = r - j < 4 ? r - j : 4;
        if (!accumulate)
            for (size_t t = 0; t < nj; t++)
                memset(dcol + (j + t) * ldd, 0, p * sizeof(float));
        if (nj == 4) {
            float *c0 = dcol + j * ldd, *c1 = c0 + ldd, *c2 = c1 + ldd, *c3 = c2 + ldd;
            for (int o = 0; o < oc; o++) {
                const float *wo = weight + (size_t)o * r + j;
                float w0 = wo[0], w1 = wo[1], w2 = wo[2], w3 = wo[3];
                const float *d = dy + (size_t)o * ldy;
#pragma omp simd
                for (size_t q = 0; q < p; q++) {
                    c0[q] += w0 * d[q];
                    c1[q] += w1 * d[q];
                    c2[q] += w2 * d[q];
                    c3[q] += w3 * d[q];
                }
            }
        } else {
            for (; j < r; j++) {
                float *cj = dcol + j * ldd;
                for (int o = 0; o < oc; o++) {
                    float wv = weight[(size_t)o * r + j];
                    const float *d = dy + (size_t)o * ldy;
#pragma omp simd
                    for (size_t q = 0; q < p; q++)
                        cj[q] += wv * d[q];
                }
            }
        }
    }
}

static void bias_grad(float *db,       // (C)
                      const float *dy, // (N, C, P)
                      int n, int c, size_t p)
{
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        float total = 0.0f;
        for (int i = 0; i < n; i++) {
            const float *d = dy + ((size_t)i * c + ch) * p;
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (size_t q = 0; q < p; q++)
                s += d[q];
            total += s;
        }
        db[ch] += total;
    }
}

static void depthwise_backward(float *dx,           // (N, C, H, W) or NULL
                               float *dw,           // (C, 1, K, K)
                               const float *x,      // (N, C, H, W)
                               const float *weight, // (C, 1, K, K)
                               const float *dy,     // (N, C, OH, OW)
                               const mlic_conv_geom *g)
{
    int n = g->n, c = g->cin, h = g->h, w = g->w, k = g->kernel, stride = g->stride;
    int pad = g->pad, oh = g->ho, ow = g->wo;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        for (int kh = 0; kh < k; kh++) {
            int ylo, yhi;
            valid_range(&ylo, &yhi, h, oh, kh, stride, pad);
            for (int kw = 0; kw < k; kw++) {
                int xlo, xhi;
                valid_range(&xlo, &xhi, w, ow, kw, stride, pad);
                int ix0 = kw - pad;
                float wv = weight[((size_t)ch * k + kh) * k + kw];
                float s = 0.0f;
                for (int i = 0; i < n; i++) {
                    size_t plane = (size_t)i * c + ch;
                    const float *xp = x + plane * h * w;
                    const float *dyp = dy + plane * oh * ow;
                    float *dxp = dx ? dx + plane * h * w : NULL;
                    for (int oy = ylo; oy < yhi; oy++) {
                        size_t row = (size_t)(oy * stride - pad + kh) * w;
                        const float *xr = xp + row;
                        const float *dr = dyp + (size_t)oy * ow;
#pragma omp simd reduction(+ : s)
                        for (int ox = xlo; ox < xhi; ox++)
                            s += dr[ox] * xr[ox * stride + ix0];
                        if (dxp) {
                            float *xdr = dxp + row;
#pragma omp simd
                            for (int ox = xlo; ox < xhi; ox++)
                                xdr[ox * stride + ix0] += wv * dr[ox];
                        }
                    }
                }
                dw[((size_t)ch * k + kh) * k + kw] += s;
            }
        }
    }
}

/* Copies the group's dy rows of samples [i0, i0 + nb) side by side: (OC, nb * P). */
static void gather_dy(float *dyc,      // (OC, nb * P)
                      const float *dy, // (N, Cout, P)
                      int i0, int nb, int oc0, int oc, const mlic_conv_geom *g)
{
    size_t p = (size_t)g->ho * g->wo;
#pragma omp parallel for schedule(static)
    for (int o = 0; o < oc; o++)
        for (int s = 0; s < nb; s++)
            memcpy(dyc + ((size_t)o * nb + s) * p,
                   dy + ((size_t)(i0 + s) * g->cout + oc0 + o) * p, p * sizeof(float));
}

void mlic_conv2d_backward(float *dx,           // (N, Cin, H, W) or NULL
                          float *dw,           // (Cout, Cin / groups, K, K)
                          float *db,           // (Cout) or NULL
                          float *workspace,    // (mlic_conv2d_backward_workspace_floats(g))
                          const float *x,      // (N, Cin, H, W)
                          const float *weight, // (Cout, Cin / groups, K, K)
                          const float *dy,     // (N, Cout, OH, OW)
                          const mlic_conv_geom *g)
{
    size_t p = (size_t)g->ho * g->wo, hw = (size_t)g->h * g->w;
    if (db)
        bias_grad(db, dy, g->n, g->cout, p);
    if (is_depthwise(g)) {
        depthwise_backward(dx, dw, x, weight, dy, g);
        return;
    }
    int cg = g->cin / g->groups, og = g->cout / g->groups, nb = chunk_samples(g);
    size_t rows = (size_t)cg * g->kernel * g->kernel;
    for (int i0 = 0; i0 < g->n; i0 += nb) {
        int cnt = g->n - i0 < nb ? g->n - i0 : nb;
        size_t cols = (size_t)cnt * p, ld = (size_t)nb * p;
        for (int grp = 0; grp < g->groups; grp++) {
            const float *xg = x + ((size_t)i0 * g->cin + (size_t)grp * cg) * hw;
            const float *dyg = dy + ((size_t)i0 * g->cout + (size_t)grp * og) * p;
            const float *wg = weight + (size_t)grp * og * rows;
            float *dwg = dw + (size_t)grp * og * rows;
            float *dxg = dx ? dx + ((size_t)i0 * g->cin + (size_t)grp * cg) * hw : NULL;
            if (is_direct(g)) {
                weight_grad(dwg, dyg, p, xg, p, og, rows, p);
                if (dxg)
                    col_grad(dxg, p, wg, dyg, p, og, rows, p, 1);
                continue;
            }
            float *col = workspace, *dcol = workspace + rows * ld;
            for (int s = 0; s < cnt; s++)
                im2col(col + s * p, xg + (size_t)s * g->cin * hw, cg, ld, g);
            /* One sample's dy rows are already contiguous; a chunk's are gathered. */
            size_t ldy = p;
            if (nb > 1) {
                float *dyc = dcol + rows * ld;
                gather_dy(dyc, dy, i0, cnt, grp * og, og, g);
                dyg = dyc;
                ldy = cols;
            }
            weight_grad(dwg, dyg, ldy, col, ld, og, rows, cols);
            if (!dxg)
                continue;
            col_grad(dcol, ld, wg, dyg, ldy, og, rows, cols, 0);
            for (int s = 0; s < cnt; s++)
                col2im_add(dxg + (size_t)s * g->cin * hw, dcol + s * p, cg, ld, g);
        }
    }
}
