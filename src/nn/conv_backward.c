/* Convolution backward. General convolutions go through im2col: per sample and group,
 *   dw  += dy · col^T          (Cout/g, OH*OW) x (OH*OW, Cin/g*K*K)
 *   dcol = weight^T · dy       (Cin/g*K*K, Cout/g) x (Cout/g, OH*OW), then col2im into dx.
 * Samples run in order and each parallel loop splits over rows that one thread owns, so the
 * results do not depend on the thread count. A 1x1 stride 1 unpadded convolution uses x and dx
 * as col and dcol directly; depthwise convolutions (one input channel per group) use a direct
 * loop parallel over channels, where im2col per group would leave nothing to parallelise. */
#include <string.h>

#include "nn/kernels_train.h"

static int out_size(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

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

static int is_depthwise(int cin, int cout, int groups)
{
    return groups > 1 && cin == groups && cout == groups;
}

static int is_pointwise(int k, int stride, int pad)
{
    return k == 1 && stride == 1 && pad == 0;
}

size_t mlic_conv2d_backward_workspace(int cin, int h, int w, int cout, int k, int stride,
                                      int pad, int groups)
{
    if (is_depthwise(cin, cout, groups) || is_pointwise(k, stride, pad))
        return 0;
    size_t rows = (size_t)(cin / groups) * k * k;
    size_t p = (size_t)out_size(h, k, stride, pad) * out_size(w, k, stride, pad);
    return 2 * rows * p;
}

static void im2col(float *col,     // (C * K * K, OH * OW)
                   const float *x, // (C, H, W)
                   int c, int h, int w, int k, int stride, int pad, int oh, int ow)
{
    int rows = c * k * k;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        int ci = r / (k * k), kh = r / k % k, kw = r % k;
        const float *xc = x + (size_t)ci * h * w;
        float *cr = col + (size_t)r * oh * ow;
        int ylo, yhi, xlo, xhi;
        valid_range(&ylo, &yhi, h, oh, kh, stride, pad);
        valid_range(&xlo, &xhi, w, ow, kw, stride, pad);
        for (int oy = 0; oy < oh; oy++) {
            float *dst = cr + (size_t)oy * ow;
            if (oy < ylo || oy >= yhi) {
                memset(dst, 0, (size_t)ow * sizeof(float));
                continue;
            }
            const float *src = xc + (size_t)(oy * stride - pad + kh) * w;
            int ix0 = kw - pad;
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

/* dx += col2im(dcol); parallel over input channels, each owning its plane of dx. */
static void col2im_add(float *dx,         // (C, H, W)
                       const float *dcol, // (C * K * K, OH * OW)
                       int c, int h, int w, int k, int stride, int pad, int oh, int ow)
{
#pragma omp parallel for schedule(static)
    for (int ci = 0; ci < c; ci++) {
        float *dxc = dx + (size_t)ci * h * w;
        for (int kh = 0; kh < k; kh++) {
            int ylo, yhi;
            valid_range(&ylo, &yhi, h, oh, kh, stride, pad);
            for (int kw = 0; kw < k; kw++) {
                int xlo, xhi;
                valid_range(&xlo, &xhi, w, ow, kw, stride, pad);
                const float *src = dcol + ((size_t)(ci * k + kh) * k + kw) * oh * ow;
                int ix0 = kw - pad;
                for (int oy = ylo; oy < yhi; oy++) {
                    float *dst = dxc + (size_t)(oy * stride - pad + kh) * w;
                    const float *s = src + (size_t)oy * ow;
                    #pragma omp simd
                    for (int ox = xlo; ox < xhi; ox++)
                        dst[ox * stride + ix0] += s[ox];
                }
            }
        }
    }
}

/* dw += dy · col^T. Four output channels at a time share each load of a col row. */
static void weight_grad(float *dw,        // (OC, R)
                        const float *dy,  // (OC, P)
                        const float *col, // (R, P)
                        int oc, size_t r, size_t p)
{
    int blocks = (oc + 3) / 4;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < blocks; b++) {
        int o = 4 * b;
        if (o + 4 <= oc) {
            const float *d0 = dy + (size_t)o * p, *d1 = d0 + p, *d2 = d1 + p, *d3 = d2 + p;
            for (size_t j = 0; j < r; j++) {
                const float *cj = col + j * p;
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
                const float *d = dy + (size_t)o * p;
                for (size_t j = 0; j < r; j++) {
                    const float *cj = col + j * p;
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

/* dcol (+)= weight^T · dy: overwrite for a scratch dcol, accumulate when dcol is dx itself.
 * Four rows at a time share each load of a dy row. */
static void col_grad(float *dcol,         // (R, P)
                     const float *weight, // (OC, R)
                     const float *dy,     // (OC, P)
                     int oc, size_t r, size_t p, int accumulate)
{
    size_t blocks = (r + 3) / 4;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < blocks; b++) {
        size_t j = 4 * b;
        size_t nj = r - j < 4 ? r - j : 4;
        if (!accumulate)
            memset(dcol + j * p, 0, nj * p * sizeof(float));
        if (nj == 4) {
            float *c0 = dcol + j * p, *c1 = c0 + p, *c2 = c1 + p, *c3 = c2 + p;
            for (int o = 0; o < oc; o++) {
                const float *wo = weight + (size_t)o * r + j;
                float w0 = wo[0], w1 = wo[1], w2 = wo[2], w3 = wo[3];
                const float *d = dy + (size_t)o * p;
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
                float *cj = dcol + j * p;
                for (int o = 0; o < oc; o++) {
                    float wv = weight[(size_t)o * r + j];
                    const float *d = dy + (size_t)o * p;
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
                               int n, int c, int h, int w, int k, int stride, int pad, int oh,
                               int ow)
{
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

void mlic_conv2d_backward(float *dx,           // (N, Cin, H, W) or NULL
                          float *dw,           // (Cout, Cin / groups, K, K)
                          float *db,           // (Cout) or NULL
                          float *work,         // (workspace floats)
                          const float *x,      // (N, Cin, H, W)
                          const float *weight, // (Cout, Cin / groups, K, K)
                          const float *dy,     // (N, Cout, OH, OW)
                          int n, int cin, int h, int w, int cout, int k, int stride, int pad,
                          int groups)
{
    int oh = out_size(h, k, stride, pad), ow = out_size(w, k, stride, pad);
    size_t p = (size_t)oh * ow, hw = (size_t)h * w;
    if (db)
        bias_grad(db, dy, n, cout, p);
    if (is_depthwise(cin, cout, groups)) {
        depthwise_backward(dx, dw, x, weight, dy, n, cin, h, w, k, stride, pad, oh, ow);
        return;
    }
    int cg = cin / groups, og = cout / groups;
    size_t rows = (size_t)cg * k * k;
    int pointwise = is_pointwise(k, stride, pad);
    float *col = work, *dcol = pointwise ? NULL : work + rows * p;
    for (int i = 0; i < n; i++) {
        for (int g = 0; g < groups; g++) {
            const float *xg = x + ((size_t)i * cin + (size_t)g * cg) * hw;
            const float *dyg = dy + ((size_t)i * cout + (size_t)g * og) * p;
            const float *wg = weight + (size_t)g * og * rows;
            const float *cols = xg;
            if (!pointwise) {
                im2col(col, xg, cg, h, w, k, stride, pad, oh, ow);
                cols = col;
            }
            weight_grad(dw + (size_t)g * og * rows, dyg, cols, og, rows, p);
            if (!dx)
                continue;
            float *dxg = dx + ((size_t)i * cin + (size_t)g * cg) * hw;
            if (pointwise) {
                col_grad(dxg, wg, dyg, og, rows, p, 1);
            } else {
                col_grad(dcol, wg, dyg, og, rows, p, 0);
                col2im_add(dxg, dcol, cg, h, w, k, stride, pad, oh, ow);
            }
        }
    }
}
