/* Reference C training kernels: the forward ops whose training behaviour differs from inference
 * (batch norm on batch statistics, dropout) and the backward of every op in nn/graph.h. Forward
 * ops that behave the same in training (convolution, ReLU/ReLU6, add, max pool, global average
 * pool, linear) use the inference kernels of nn/kernels.h, unfused; convolution and max pool
 * take the same geometry structs (mlic_conv_geom, mlic_pool_geom) as those.
 *
 * Conventions:
 *   - Pure functions: outputs first, inputs const; float32, row-major, NCHW, contiguous.
 *   - EVERY gradient output ACCUMULATES (+=): parameter gradients (dw, db, dgamma, dbeta) and
 *     input gradients (dx) alike. The trainer zeroes all gradient buffers once before a backward
 *     pass; a value read by two nodes (the identity branch of a residual block) then collects
 *     both contributions without a temporary, and add's backward is one += per input.
 *   - Results are deterministic and do not depend on the number of OpenMP threads: each output
 *     element is written by one thread, and every reduction runs in a fixed order.
 *   - Shapes are trusted (the graph checked them in mlic_graph_infer_shapes); the only input
 *     checked here is the one PyTorch also refuses at run time (batch norm on one value).
 *   - Optional outputs (a NULL pointer skips the work) are marked "or NULL".
 */
#ifndef MLIC_NN_KERNELS_TRAIN_H
#define MLIC_NN_KERNELS_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "mlic.h"
#include "nn/kernels.h"

/* ---------------------------------------------------------------- convolution */

/* Floats of scratch memory mlic_conv2d_backward needs for this geometry: 0 for depthwise
 * convolutions and for 1x1 stride 1 unpadded ones over maps of at least 512 pixels (or a batch
 * of one); otherwise im2col buffers for a chunk of samples, about 2 * Cin/groups * K*K * 512. */
size_t mlic_conv2d_backward_workspace_floats(const mlic_conv_geom *g);

/* Gradients of y = conv2d(x, weight, bias, stride, pad, groups) (PyTorch's F.conv2d with a
 * square kernel) for the geometry of mlic_conv_geom_make. dx may be NULL (the network's input
 * needs no gradient), db NULL when the convolution has no bias. The workspace is clobbered. */
void mlic_conv2d_backward(float *dx,           // (N, Cin, H, W) or NULL
                          float *dw,           // (Cout, Cin / groups, K, K)
                          float *db,           // (Cout) or NULL
                          float *workspace,    // (mlic_conv2d_backward_workspace_floats(g))
                          const float *x,      // (N, Cin, H, W)
                          const float *weight, // (Cout, Cin / groups, K, K)
                          const float *dy,     // (N, Cout, OH, OW)
                          const mlic_conv_geom *g);

/* ---------------------------------------------------------------- batch norm */

/* Batch norm in training mode, as PyTorch's F.batch_norm(training=True): normalise with the
 * batch mean and biased variance over (N, H, W), then
 *   running_mean = (1 - momentum) * running_mean + momentum * mean
 *   running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)
 * (the UNBIASED variance, M = N * HW). Saves the batch mean and 1 / sqrt(var + eps) for the
 * backward, and (unless NULL) the affine map y was made with for mlic_batchnorm_forward_replay.
 * y may be x (the backward then needs a copy of x). Fails when M is 1, where the unbiased
 * variance does not exist. */
mlic_status mlic_batchnorm_forward_train(float *y,            // (N, C, H, W)
                                         float *save_mean,    // (C)
                                         float *save_invstd,  // (C)
                                         float *save_scale,   // (C) or NULL
                                         float *save_shift,   // (C) or NULL
                                         float *running_mean, // (C) updated in place
                                         float *running_var,  // (C) updated in place
                                         const float *x,      // (N, C, H, W)
                                         const float *gamma,  // (C)
                                         const float *beta,   // (C)
                                         int n, int c, int hw, float eps, float momentum);

/* y again, bit for bit as the forward in training mode made it, from that forward's saved mean,
 * scale and shift: for a backward that recomputes y instead of keeping it. */
void mlic_batchnorm_forward_replay(float *y,                // (N, C, H, W)
                                   const float *x,          // (N, C, H, W)
                                   const float *save_mean,  // (C)
                                   const float *save_scale, // (C)
                                   const float *save_shift, // (C)
                                   int n, int c, int hw);

/* Gradients of mlic_batchnorm_forward_train's y (running statistics carry none). dx may be dy
 * (here and in mlic_batchnorm_backward_apply): the input's gradient then REPLACES dy in place,
 * as the ReLUs' below. */
void mlic_batchnorm_backward(float *dx,                // (N, C, H, W)
                             float *dgamma,            // (C)
                             float *dbeta,             // (C)
                             const float *dy,          // (N, C, H, W)
                             const float *x,           // (N, C, H, W)
                             const float *save_mean,   // (C)
                             const float *save_invstd, // (C)
                             const float *gamma,       // (C)
                             int n, int c, int hw);

/* The same two passes in steps, for statistics summed over data-parallel processes between the
 * steps (batchnorm_sync.c). m: values per channel over all processes' batches. Forward:
 * sums -> (sum them, mean = sum / m) -> squared deviations from that mean -> (sum them) ->
 * forward_train_apply (fails when m <= 1). Backward: backward_sums (this batch's dbeta and dgamma
 * are these sums) -> (sum them) -> backward_apply adds dx. */
void mlic_batchnorm_sums(double *sum,    // (C)
                         const float *x, // (N, C, H, W)
                         int n, int c, int hw);
void mlic_batchnorm_sq_dev_sums(double *ss,         // (C)
                                const float *x,     // (N, C, H, W)
                                const double *mean, // (C)
                                int n, int c, int hw);
mlic_status mlic_batchnorm_forward_train_apply(float *y,            // (N, C, H, W)
                                               float *save_mean,    // (C)
                                               float *save_invstd,  // (C)
                                               float *save_scale,   // (C) or NULL
                                               float *save_shift,   // (C) or NULL
                                               float *running_mean, // (C) updated in place
                                               float *running_var,  // (C) updated in place
                                               const float *x,      // (N, C, H, W)
                                               const float *gamma,  // (C)
                                               const float *beta,   // (C)
                                               const double *mean,  // (C)
                                               const double *ss,    // (C)
                                               double m, int n, int c, int hw, float eps,
                                               float momentum);
void mlic_batchnorm_backward_sums(double *sum_dy,           // (C)
                                  double *sum_dy_xhat,      // (C)
                                  const float *dy,          // (N, C, H, W)
                                  const float *x,           // (N, C, H, W)
                                  const float *save_mean,   // (C)
                                  const float *save_invstd, // (C)
                                  int n, int c, int hw);
void mlic_batchnorm_backward_apply(float *dx,                 // (N, C, H, W)
                                   const float *dy,           // (N, C, H, W)
                                   const float *x,            // (N, C, H, W)
                                   const float *save_mean,    // (C)
                                   const float *save_invstd,  // (C)
                                   const float *gamma,        // (C)
                                   const double *sum_dy,      // (C)
                                   const double *sum_dy_xhat, // (C)
                                   double m, int n, int c, int hw);

/* ---------------------------------------------------------------- activations, add */

/* ReLU and ReLU6 backward from the forward OUTPUT y, so the forward may run in place: the
 * gradient passes where 0 < y (ReLU) or 0 < y < 6 (ReLU6), exactly PyTorch's rule on the input
 * (no gradient at x = 0 or x = 6). dx may be dy: the input's gradient then REPLACES dy in place
 * (the training executor's in-place backward, train/train_graph.h), the one exception to
 * accumulating. */
void mlic_relu_backward(float *dx,       // (count)
                        const float *dy, // (count)
                        const float *y,  // (count)
                        size_t count);
void mlic_relu6_backward(float *dx,       // (count)
                         const float *dy, // (count)
                         const float *y,  // (count)
                         size_t count);

/* y = a + b passes dy through unchanged: call once with a's gradient, once with b's. */
void mlic_add_backward(float *dx,       // (count)
                       const float *dy, // (count)
                       size_t count);

/* ---------------------------------------------------------------- pooling */

/* Max pool backward: each output's gradient goes to the first maximum of its window in
 * row-major order (PyTorch's tie rule; a NaN beats any number, and the last NaN wins), found
 * again from x rather than saved by the forward. Padding is -inf, so it never wins. */
void mlic_maxpool2d_backward(float *dx,       // (N, C, H, W)
                             const float *dy, // (N, C, OH, OW)
                             const float *x,  // (N, C, H, W)
                             const mlic_pool_geom *g);

/* (N, C, H, W) -> (N, C, 1, 1) average: every input gets dy / (H * W). */
void mlic_global_avgpool_backward(float *dx,       // (N, C, H, W)
                                  const float *dy, // (N, C)
                                  int n, int c, int hw);

/* ---------------------------------------------------------------- linear */

/* y = x weight^T + bias with x flattened to (N, C). */
void mlic_linear_backward(float *dx,           // (N, C) or NULL
                          float *dw,           // (K, C)
                          float *db,           // (K) or NULL
                          const float *x,      // (N, C)
                          const float *weight, // (K, C)
                          const float *dy,     // (N, K)
                          int n, int c, int k);

/* ---------------------------------------------------------------- dropout */

/* Training dropout: element i is kept with probability 1 - p and scaled by 1 / (1 - p)
 * (p >= 1 drops everything). Draws count uniforms from rng in element order, so the mask is a
 * function of the generator's seed and stream. mask[i] is 1 where kept, for the backward. */
void mlic_dropout_forward_train(float *y,       // (count)
                                uint8_t *mask,  // (count)
                                const float *x, // (count)
                                size_t count, float p, mlic_rng *rng);

void mlic_dropout_backward(float *dx,           // (count)
                           const float *dy,     // (count)
                           const uint8_t *mask, // (count)
                           size_t count, float p);

#endif
