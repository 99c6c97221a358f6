/* The oneDNN training op tables (oneDNN v2 C API), on the inference backend's engine, status
 * mapping, blocked layout, memory descriptors, reorders and allocator (backend/onednn.h).
 *
 * What runs where (measured at 224 px, batch 32, 2 threads on this project's 2-core AVX-512
 * machine; numbers in onednn_train_conv.c and onednn_train_pool.c):
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
 *     buffers (onednn_train_eltwise.c, onednn_train_linear.c); about as fast as the
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
 *
 * Internals: the per-executor state, the scratch arena and "operands", the glue between the
 * executor's NCHW buffers and a primitive's layouts. Files: onednn_train.c (state, operands,
 * calls, plans, the tables), onednn_train_conv.c, onednn_train_pool.c (max pool),
 * onednn_train_eltwise.c (ReLU, ReLU6, add), onednn_train_linear.c (global average pool,
 * linear). */
#ifndef MLIC_BACKEND_ONEDNN_TRAIN_H
#define MLIC_BACKEND_ONEDNN_TRAIN_H

#include "backend/onednn.h"
#include "backend/train_ops.h"

typedef struct {
    const mlic_graph *g;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_format_tag_t blocked;  /* the CPU's blocked activation layout */
    int winograd;               /* 3x3 stride-1 convolutions try Winograd first */
    uint8_t *needs_grad;        /* (nvalues) a gradient flows in (the executor's rule) */
    int *last_reader;           /* (nvalues) the last node reading the value, -1 for none */
    void **node;                /* (nnodes) the op's cache for the node, NULL until first use */
    void (**node_free)(void *); /* (nnodes) frees node[i] */
    void *arena;                /* scratch for reordered operands and oneDNN's scratchpads */
    size_t arena_size;          /* bytes */
} mlic_train_onednn_state;

/* Make the arena at least `bytes` (its contents are not kept). Only between ops: operands
 * point into it only while one op runs. */
mlic_status mlic_train_onednn_reserve(mlic_train_onednn_state *s, size_t bytes);

typedef enum {
    ONEDNN_TRAIN_IN,          /* read by the primitive */
    ONEDNN_TRAIN_OUT,         /* written, replacing the executor's buffer */
    ONEDNN_TRAIN_OUT_ADD      /* written, added into the executor's buffer */
} mlic_train_onednn_role;

/* One tensor argument of a primitive: its memory in the primitive's layout, and, where the
 * executor's buffer cannot be used as is (another layout, or a result to add into it), a copy
 * in the arena with the reorder between the two. */
typedef struct {
    mlic_train_onednn_role role;
    dnnl_memory_t mem;        /* what the primitive reads or writes */
    dnnl_memory_t user;       /* the executor's buffer; NULL when mem is bound to it directly */
    dnnl_primitive_t reorder; /* user -> mem for an input, mem -> user for an output */
    size_t offset;            /* of the copy in the arena */
} mlic_train_onednn_operand;

/* How node i's backward writes the gradient of its input k: ONEDNN_TRAIN_OUT where the executor
 * has just zeroed it (this node is the input's last reader, so its backward writes first, and k
 * is the input's first mention here), else ONEDNN_TRAIN_OUT_ADD. */
mlic_train_onednn_role mlic_train_onednn_grad_role(const mlic_train_onednn_state *s, int i,
                                                   int k);

/* Set up o for a primitive argument in layout prim_md over an executor buffer in layout
 * user_md. A copy in the arena, if needed, is placed at *cursor (bytes), which advances. */
mlic_status mlic_train_onednn_operand_init(mlic_train_onednn_operand *o,
                                           mlic_train_onednn_state *s,
                                           const dnnl_memory_desc_t *user_md,
                                           const dnnl_memory_desc_t *prim_md,
                                           mlic_train_onednn_role role, size_t *cursor);
/* A memory in the arena at *cursor (advanced) for the primitive's scratchpad or a result the
 * op handles itself. */
mlic_status mlic_train_onednn_arena_mem(dnnl_memory_t *mem, size_t *offset,
                                        mlic_train_onednn_state *s, const dnnl_memory_desc_t *md,
                                        size_t *cursor);
void mlic_train_onednn_operand_free(mlic_train_onednn_operand *o);
/* Before the primitive runs: bind o to the executor's buffer; an input is reordered into its
 * copy here. */
mlic_status mlic_train_onednn_operand_bind(mlic_train_onednn_operand *o,
                                           mlic_train_onednn_state *s, const float *user);
/* After the primitive ran: an output copy is reordered (or added) into the executor's buffer. */
mlic_status mlic_train_onednn_operand_finish(mlic_train_onednn_operand *o,
                                             mlic_train_onednn_state *s);
mlic_status mlic_train_onednn_bind_arena(dnnl_memory_t mem, mlic_train_onednn_state *s,
                                         size_t offset);
/* Run a primitive on its arguments. */
mlic_status mlic_train_onednn_execute(mlic_train_onednn_state *s, dnnl_primitive_t prim,
                                      int nargs, const dnnl_exec_arg_t *args);

/* One primitive with its arguments, each an operand over an executor buffer: bind them all
 * (inputs reordered in), execute, finish the outputs (reordered or added back). */
#define MLIC_TRAIN_ONEDNN_MAX_ARGS 6
typedef struct {
    dnnl_primitive_t prim; /* NULL: not made */
    int nargs;
    int arg[MLIC_TRAIN_ONEDNN_MAX_ARGS]; /* DNNL_ARG_* */
    mlic_train_onednn_operand op[MLIC_TRAIN_ONEDNN_MAX_ARGS];
} mlic_train_onednn_call;

/* Make k's primitive from pd (attributes as pd's). */
mlic_status mlic_train_onednn_call_init(mlic_train_onednn_call *k, const_dnnl_primitive_desc_t pd);
/* Append an argument (mlic_train_onednn_operand_init's rules). */
mlic_status mlic_train_onednn_call_arg(mlic_train_onednn_call *k, mlic_train_onednn_state *s,
                                       int arg, const dnnl_memory_desc_t *user_md,
                                       const dnnl_memory_desc_t *prim_md,
                                       mlic_train_onednn_role role, size_t *cursor);
/* Run with user[a] the executor's buffer of argument a, in the order appended. */
mlic_status mlic_train_onednn_call_run(mlic_train_onednn_call *k, mlic_train_onednn_state *s,
                                       const float *const *user);
void mlic_train_onednn_call_free(mlic_train_onednn_call *k);

/* The primitives of one node of a simple op (one forward call, up to two backward calls) for a
 * batch size and thread count, cached in the state like the convolutions' plans. */
typedef struct mlic_train_onednn_plan {
    int n, threads;
    struct mlic_train_onednn_plan *next;
    size_t bytes;                      /* of arena the forward or a backward call needs */
    dnnl_primitive_desc_t fwd_pd;      /* the backward's hint */
    mlic_train_onednn_call fwd, bwd[2];
    int backward_ready;
} mlic_train_onednn_plan;

/* Fill p's forward (or backward) calls for node i; p->n is the batch size. */
typedef mlic_status (*mlic_train_onednn_planner)(mlic_train_onednn_plan *p,
                                                  mlic_train_onednn_state *s, int i);

/* A simple op's forward: node i's plan (made on first use, with its backward calls for a
 * training forward whose output gets a gradient), then its forward call on user
 * (mlic_train_onednn_call_run's order). */
mlic_status mlic_train_onednn_run_forward(mlic_train_ctx *c, int i,
                                          mlic_train_onednn_planner forward,
                                          mlic_train_onednn_planner backward,
                                          const float *const *user);
/* Backward call k of node i's plan on user (a missing plan or call is an error). */
mlic_status mlic_train_onednn_run_backward(mlic_train_ctx *c, int i, int k, const char *what,
                                   const float *const *user);

/* ---- ops (onednn_train_conv.c, onednn_train_pool.c) */

mlic_status mlic_train_onednn_conv_forward(mlic_train_ctx *c, int i);
mlic_status mlic_train_onednn_conv_backward(mlic_train_ctx *c, int i);
size_t mlic_train_onednn_conv_workspace(const mlic_graph *g, int i, int n);
mlic_status mlic_train_onednn_maxpool_forward(mlic_train_ctx *c, int i);
mlic_status mlic_train_onednn_maxpool_backward(mlic_train_ctx *c, int i);
/* onednn_train_eltwise.c: ReLU, ReLU6, add */
mlic_status mlic_train_onednn_relu_forward(mlic_train_ctx *c, int i);
mlic_status mlic_train_onednn_relu_backward(mlic_train_ctx *c, int i);
mlic_status mlic_train_onednn_add_forward(mlic_train_ctx *c, int i);
mlic_status mlic_train_onednn_add_backward(mlic_train_ctx *c, int i);
/* onednn_train_linear.c: global average pool, linear */
mlic_status mlic_train_onednn_gap_forward(mlic_train_ctx *c, int i);
mlic_status mlic_train_onednn_gap_backward(mlic_train_ctx *c, int i);
mlic_status mlic_train_onednn_linear_forward(mlic_train_ctx *c, int i);
mlic_status mlic_train_onednn_linear_backward(mlic_train_ctx *c, int i);

#endif
