/* The oneDNN training op table (oneDNN v2 C API, CPU engine, OpenMP runtime).
 *
 * Convolutions (plain, grouped, depthwise) run oneDNN's forward, backward-data and
 * backward-weights primitives; batch norm, max pool and the rest run the reference kernels of
 * train_ops_ref.c, which measured as fast as oneDNN's on NCHW data here (see
 * train_ops_onednn_conv.c for the numbers). The executor keeps every activation and gradient
 * in plain NCHW; each convolution reorders its operands into the CPU's blocked layout
 * (nChw16c on AVX-512, nChw8c on AVX2) in a scratch arena and its results back, which measured
 * faster than oneDNN's NCHW (GEMM) convolutions by far more than the reorders cost.
 *
 * Semantics are the executor's (train/train_graph.h, nn/kernels_train.h): every gradient
 * accumulates. oneDNN's backward primitives overwrite, so their results reach the executor's
 * buffers through a reorder with a sum post-op (dst += result); only where the executor has
 * just zeroed an input gradient (the node is the value's last reader, so its backward is the
 * first to write that gradient) is it written without the sum.
 *
 * Primitives are created on first use per (node, batch size, thread count) and cached in the
 * executor's backend state; a training forward also creates the node's backward primitives, so
 * that every failure is reported by a forward (the backward cannot report one; should a
 * primitive still fail to run there, the next forward returns that error).
 *
 * Determinism: for a fixed thread count, oneDNN 2.6's JIT kernels give bitwise identical results
 * from run to run (tests/c/test_train_onednn.c checks it); results differ slightly between
 * thread counts, since backward-weights reductions are split by thread.
 */
#ifndef MLIC_TRAIN_TRAIN_OPS_ONEDNN_H
#define MLIC_TRAIN_TRAIN_OPS_ONEDNN_H

#include "train/train_graph.h"

#if MLIC_HAVE_ONEDNN
extern const mlic_train_backend mlic_train_backend_onednn;
#endif

/* The fastest training backend of this build: oneDNN's when built with it, else the
 * reference. */
const mlic_train_backend *mlic_train_backend_default(void);

/* A backend by name ("ref", "onednn"); NULL when this build has none of that name. */
const mlic_train_backend *mlic_train_backend_find(const char *name);

#endif
