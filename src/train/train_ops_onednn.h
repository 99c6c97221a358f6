/* The oneDNN training op table (oneDNN v2 C API, CPU engine, OpenMP runtime).
 *
 * What runs where (measured at 224 px, batch 32, 2 threads on this project's 2-core AVX-512
 * machine; numbers in train_ops_onednn_conv.c and train_ops_onednn_pool.c):
 *   - convolutions (plain, grouped, depthwise): oneDNN's forward, backward-data and
 *     backward-weights primitives, with each operand reordered from the executor's NCHW into the
 *     CPU's blocked layout (nChw16c on AVX-512, nChw8c on AVX2) in a scratch arena and the
 *     results back. Blocked with reorders trained resnet18 at 17.9 images/s against 13.4 for
 *     oneDNN's NCHW (GEMM) convolutions, resnet50 at 6.1 against 6.0; a mix (1x1 convolutions
 *     on large maps in NCHW) gained 2% on resnet50 and lost on mobilenet_v2, so it is not used.
 *     Where oneDNN has only its reference kernel for a shape, the node runs the reference
 *     convolution;
 *   - the 3x3 stride-1 convolutions, most of a ResNet's work, run oneDNN's Winograd F(4x4, 3x3)
 *     kernels (jit_wino_4x3: forward, backward data and backward weights) where it has them for
 *     the shape (AVX-512 CPUs only), direct ones elsewhere: resnet18 trains at 26.5 images/s against 17.2 with
 *     direct convolutions only, resnet50 at 7.3 against 6.5 (those layers run 2.2x faster). The
 *     price is rounding: Winograd's transforms add a relative error of about 1e-5 to each such
 *     convolution's outputs and gradients (tests hold them to 2e-5 of the largest value, as the
 *     direct ones), where direct kernels match PyTorch's CPU ones to about 1e-6.
 *     mlic_train_backend_onednn_direct ("onednn-direct", `mlic train --conv direct`) uses direct
 *     convolutions only;
 *   - max pool and global average pool: oneDNN's pooling, directly on NCHW;
 *   - ReLU/ReLU6 (eltwise, the backward from the output), add (binary; its backward reorders
 *     with a sum post-op) and linear (inner product) on oneDNN, directly on the executor's
 *     buffers (train_ops_onednn_eltwise.c, train_ops_onednn_linear.c); about as fast as the
 *     reference kernels, which are single passes over memory too;
 *   - batch norm and dropout: the reference kernels (train_ops_ref.c). oneDNN 2.6 has no
 *     dropout, and its batch norm on NCHW (a plain "ncsp" implementation; the JIT ones need
 *     the blocked or NHWC layout, so reorders around each) measured 3x slower than
 *     mlic's, which also gives --sync-bn its hooks and the backward its bit-exact replay
 *     (train_graph.h).
 *
 * Semantics are the executor's (train/train_graph.h, nn/kernels_train.h): every gradient
 * accumulates. oneDNN's backward primitives overwrite, so their results reach the executor's
 * buffers through a reorder with a sum post-op (dst += result); only where the executor has
 * just zeroed an input gradient (the node is the value's last reader, so its backward is the
 * first to write that gradient) is it written without the sum. Max pool: PyTorch's tie rule
 * (the first maximum takes the gradient) holds; a NaN input does not propagate as in PyTorch.
 *
 * Primitives are created on first use per (node, batch size, thread count) and cached in the
 * executor's backend state (mlic_train_backend.state_create); a training forward also creates
 * the node's backward primitives, so that every failure is reported by a forward (the backward
 * cannot report one; should a primitive still fail to run there, the next forward returns that
 * error). Memory besides the executor's: the arena (the largest convolution's reordered
 * operands: 160 MB for resnet50 at batch 32, whose executor buffers take 3.4 GB) and max
 * pool's argmax workspace.
 *
 * Determinism: for a fixed thread count a step gives bitwise identical results from run to run
 * (tests/c/test_train_onednn.c checks it); results differ in the last bits between thread
 * counts, since oneDNN splits the backward-weights reductions by thread.
 */
#ifndef MLIC_TRAIN_TRAIN_OPS_ONEDNN_H
#define MLIC_TRAIN_TRAIN_OPS_ONEDNN_H

#include "train/train_graph.h"

#if MLIC_HAVE_ONEDNN
extern const mlic_train_backend mlic_train_backend_onednn;        /* Winograd where it has it */
extern const mlic_train_backend mlic_train_backend_onednn_direct; /* direct convolutions only */
#endif

/* The fastest training backend of this build: oneDNN's when built with it, else the
 * reference. */
const mlic_train_backend *mlic_train_backend_default(void);

/* A backend by name ("ref", "onednn", "onednn-direct"); NULL when this build has none of that name. */
const mlic_train_backend *mlic_train_backend_find(const char *name);

#endif
