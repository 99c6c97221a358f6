/* Reference kernels: plain C (OpenMP for the loops that matter), NCHW float32.
 *
 * Pure functions: outputs first, then const inputs, then sizes. Every tensor argument carries a
 * shape comment. The forward kernels of one op family live in <family>_forward.c; training adds
 * <family>_backward.c beside them with the same geometry structs, accumulating (+=) into
 * parameter gradients. Backends (backend/ref.c) run a graph with these; faster backends are
 * tested against them.
 */
#ifndef MLIC_NN_KERNELS_H
#define MLIC_NN_KERNELS_H

#include <stddef.h>

#include "nn/graph.h"

/* ---------------------------------------------------------------- convolution */

typedef struct {
    int n;                  /* batch */
    int cin, h, w;          /* input (N, Cin, H, W) */
    int cout, ho, wo;       /* output (N, Cout, Ho, Wo) */
    int kernel, stride, pad, groups;
} mlic_conv_geom;

/* ho/wo from PyTorch's rule (floor((h + 2 pad - kernel) / stride) + 1). */
mlic_conv_geom mlic_conv_geom_make(int n, int cin, int h, int w, int cout, int kernel, int stride,
                                   int pad, int groups);

/* Floats of scratch mlic_conv2d_forward needs (0 when it needs none). */
size_t mlic_conv2d_workspace_floats(const mlic_conv_geom *g);

/* out = act(conv(in, weight) + bias + add). Depthwise (groups == cin == cout) runs a direct loop,
 * everything else im2col + blocked GEMM per sample and group. out must not alias in or add. */
void mlic_conv2d_forward(float *out,             /* (N, Cout, Ho, Wo) */
                         float *workspace,       /* (mlic_conv2d_workspace_floats(g)) */
                         const float *in,        /* (N, Cin, H, W) */
                         const float *weight,    /* (Cout, Cin/groups, K, K) */
                         const float *bias,      /* (Cout) or NULL */
                         const float *add,       /* (N, Cout, Ho, Wo) or NULL */
                         mlic_act act, const mlic_conv_geom *g);

/* ---------------------------------------------------------------- normalisation */

/* Inference batch norm with running statistics: (x - mean) / sqrt(var + eps) * gamma + beta. */
void mlic_batchnorm_forward_infer(float *out,          /* (N, C, HW) */
                                  const float *in,     /* (N, C, HW); may equal out */
                                  const float *gamma,  /* (C) */
                                  const float *beta,   /* (C) */
                                  const float *mean,   /* (C) */
                                  const float *var,    /* (C) */
                                  float eps, int n, int c, int hw);

/* ---------------------------------------------------------------- elementwise */

/* out = act(in); MLIC_ACT_NONE copies. */
void mlic_act_forward(float *out,      /* (count) */
                      const float *in, /* (count); may equal out */
                      mlic_act act, size_t count);

/* out = a + b. */
void mlic_add_forward(float *out,     /* (count); may equal a or b */
                      const float *a, /* (count) */
                      const float *b, /* (count) */
                      size_t count);

/* ---------------------------------------------------------------- pooling */

typedef struct {
    int n, c, h, w;         /* input (N, C, H, W) */
    int ho, wo;             /* output (N, C, Ho, Wo) */
    int kernel, stride, pad;
} mlic_pool_geom;

mlic_pool_geom mlic_pool_geom_make(int n, int c, int h, int w, int kernel, int stride, int pad);

/* PyTorch MaxPool2d (ceil_mode=False): padding never wins, as if it were -inf. */
void mlic_maxpool2d_forward(float *out,      /* (N, C, Ho, Wo) */
                            const float *in, /* (N, C, H, W) */
                            const mlic_pool_geom *g);

/* Mean over each channel's plane. */
void mlic_global_avgpool_forward(float *out,      /* (N, C) */
                                 const float *in, /* (N, C, HW) */
                                 int n, int c, int hw);

/* ---------------------------------------------------------------- linear */

/* out = in @ weight^T + bias. */
void mlic_linear_forward(float *out,          /* (N, K) */
                         const float *in,     /* (N, C) */
                         const float *weight, /* (K, C) */
                         const float *bias,   /* (K) or NULL */
                         int n, int c, int k);

#endif
