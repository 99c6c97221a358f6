/* The training executor: runs an UNFOLDED graph (nn/graph.h) forward in training mode and
 * backward, with every buffer a training step needs.
 *
 * Memory:
 *   - one activation arena: every value the backward reads (the input of a convolution, batch
 *     norm, max pool or linear, the output of a ReLU/ReLU6) keeps its own view for the whole
 *     step; values only the forward reads (a batch norm's output feeding a ReLU, an add's output)
 *     share recycled views;
 *   - except the output of a ReLU/ReLU6 of a batch norm on batch statistics (conv -> bn -> relu,
 *     most of a ResNet's or MobileNetV2's activations): the batch norm's input is kept anyway,
 *     so the backward recomputes the ReLU's output from it (the batch norm replayed with the
 *     forward's saved map, bit for bit the same values) just before the first backward that
 *     reads it, into the value-gradient arena, where it lives until the ReLU's backward. This
 *     keeps about a third less activation memory (resnet50 at 224, batch 32: 2.87 GB ->
 *     2.39 GB) for an extra elementwise pass per such value;
 *   - one parameter-gradient buffer laid out exactly like mlic_graph.weights (a parameter's
 *     gradient at the parameter's offset), so an optimizer step is one pass over two equal
 *     buffers and averaging gradients across processes is one all-reduce;
 *   - one value-gradient arena, planned in reverse node order: a value's gradient lives from its
 *     last reader's backward to its producer's backward, then its memory is reused. A ReLU,
 *     ReLU6, add or training batch norm whose backward writes its first input's gradient first
 *     takes over its output's gradient's view: the op sees c->dvalue[in[0]] ==
 *     c->dvalue[out], already holding the output's gradient, and leaves the input's there
 *     (ReLU: masked in place; add: nothing to do for that input; batch norm: its sums first,
 *     then each element replaced).
 *
 * Semantics, as PyTorch's model.train():
 *   - batch norm normalises with batch statistics and updates the running ones (momentum 0.1)
 *     when its weight is trainable; a batch norm whose weight is frozen (mlic_param.trainable 0,
 *     e.g. after mlic_train_graph_freeze_backbone) runs in eval mode on its running statistics
 *     and leaves them alone, like a frozen feature extractor;
 *   - dropout draws its mask from one generator seeded per forward (seed, stream), in node
 *     order;
 *   - gradients follow the accumulate convention of nn/kernels_train.h: the caller zeroes the
 *     parameter gradients once per step (mlic_train_graph_zero_grad), the backward adds into
 *     them; value gradients are zeroed by the executor where they start (except an in-place
 *     one, above);
 *   - no gradient is computed where none can reach a trainable parameter (the network's input,
 *     a frozen backbone), and no parameter gradient of a frozen parameter.
 *
 * Ops dispatch through a const table (mlic_train_backend) of forward/backward functions per
 * mlic_op, so a faster backend (oneDNN's training primitives) can replace any op; the reference
 * table (mlic_train_backend_ref) runs the kernels of nn/kernels.h and nn/kernels_train.h.
 * Results do not depend on the number of OpenMP threads. */
#ifndef MLIC_TRAIN_TRAIN_GRAPH_H
#define MLIC_TRAIN_TRAIN_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "mlic.h"
#include "nn/graph.h"

/* Entries in an op table: one per mlic_op (MLIC_OP_LINEAR is the last). */
#define MLIC_TRAIN_NUM_OPS (MLIC_OP_LINEAR + 1)

/* PyTorch's BatchNorm2d momentum for the running statistics. */
#define MLIC_TRAIN_BN_MOMENTUM 0.1f

/* Data-parallel training's hooks into the passes (dist/train_comm.h). Called on the thread that
 * runs the pass, outside parallel regions; a hook records its own failures (its MPI requests
 * must still be completed on every rank), for the trainer to collect after the pass. */
typedef struct {
    /* --sync-bn: sum count doubles element-wise over all processes, in place. A batch norm op in
     * training mode of any backend must call it on its per-channel sums, its count of values per
     * channel last, as train_ops_ref.c does (nn/kernels_train.h: mlic_batchnorm_sums ...), so
     * that every process normalises with the statistics of the whole global batch. NULL: each
     * process's own batch. */
    void (*bn_allreduce)(void *user, double *values, int count);
    /* After node i's backward ran or was skipped, in reverse node order: the parameter
     * gradients of nodes i..nnodes-1 are final (their all-reduce may start). */
    void (*backward_done)(void *user, int node);
    void *user;
} mlic_train_hooks;

/* What an op implementation sees: the graph and the views of the current pass. */
typedef struct {
    const mlic_graph *g;     /* shapes inferred for the training input size */
    float *weights;          /* g->weights: running statistics are updated here */
    int n;                   /* samples in this pass */
    int training;            /* 1: training forward; 0: eval (running stats, no dropout) */
    int replay;              /* 1 while the backward recomputes a value: a batch norm on batch
                              * statistics maps its input with its saved scale and shift
                              * (nn/kernels_train.h: mlic_batchnorm_forward_replay) and changes
                              * nothing else; a ReLU runs as in the forward */
    float **value;           /* (g->nvalues) (n, C, H, W) activations; valid for the current node's
                              * inputs and output, and for every value the backward reads */
    float **dvalue;          /* (g->nvalues) gradients; NULL where no gradient flows */
    float *grads;            /* (g->nweights) parameter gradients, laid out like weights */
    const uint8_t *param_grad; /* (g->nparams) 1 where the parameter gets a gradient */
    const uint8_t *bn_train; /* (g->nnodes) 1 for a batch norm on batch statistics */
    float **saved;           /* (g->nnodes) batch norm: mean (C) and 1/std (C) of the batch, the
                              * scale (C) and shift (C) its output was made with */
    uint8_t **mask;          /* (g->nnodes) dropout: (n * values per sample) keep mask */
    float *workspace;        /* scratch, the largest any op asks for */
    mlic_rng rng;            /* dropout, drawn in node order */
    void *state;             /* the backend's per-executor state (NULL if it has none) */
    const mlic_train_hooks *hooks; /* NULL: one process */
} mlic_train_ctx;

typedef struct {
    /* Compute node i's output from its inputs. */
    mlic_status (*forward)(mlic_train_ctx *c, int i);
    /* Add node i's input and parameter gradients from its output's gradient. Called only when
     * the output has a gradient (c->dvalue[out] != NULL); input gradients to compute are the
     * non-NULL c->dvalue[in], parameter gradients those with c->param_grad set. A failure
     * leaves the gradients partial: the step must not be taken. */
    mlic_status (*backward)(mlic_train_ctx *c, int i);
    /* Floats of scratch node i needs for a batch of n (forward or backward). */
    size_t (*workspace_floats)(const mlic_graph *g, int i, int n);
} mlic_train_op_impl;

typedef struct {
    const char *name;
    /* Optional (both NULL for a stateless backend): per-executor state such as cached
     * primitives, made by mlic_train_graph_create once g's shapes are known (batches up to
     * max_batch) and reachable from the ops as c->state; freed by mlic_train_graph_destroy. */
    mlic_status (*state_create)(void **state, const mlic_graph *g, int max_batch);
    void (*state_destroy)(void *state);
    mlic_train_op_impl op[MLIC_TRAIN_NUM_OPS];
} mlic_train_backend;

extern const mlic_train_backend mlic_train_backend_ref;

typedef struct mlic_train_graph mlic_train_graph;

/* Prepare g for training on batches of up to max_batch (3, h, w) images. g's shapes are
 * (re)inferred for h x w; the executor keeps g and uses its weights in place (the optimizer
 * updates them between steps). backend NULL = the reference. */
mlic_status mlic_train_graph_create(mlic_train_graph **out, mlic_graph *g, int max_batch, int h,
                                    int w, const mlic_train_backend *backend);
void mlic_train_graph_destroy(mlic_train_graph *t);

/* Forward n images (input: (n, 3, h, w), copied). training: 1 for a training step, 0 for eval
 * mode. Dropout's generator is (seed, stream). *logits: (n, num_classes), valid until the next
 * forward. A training forward keeps what the backward needs. */
mlic_status mlic_train_graph_forward(mlic_train_graph *t, const float **logits,
                                     const float *input, int n, int training, uint64_t seed,
                                     uint64_t stream);

/* Backward of the last training forward from dlogits (n, num_classes): adds into the parameter
 * gradients. On failure (naming the node) they are partial: the caller must not step on them.
 * The hooks' backward_done still runs for every node, so that the collectives started for the
 * other ranks complete. */
mlic_status mlic_train_graph_backward(mlic_train_graph *t, const float *dlogits);

/* Install (a copy of) h, or none with NULL, for the following passes. */
void mlic_train_graph_set_hooks(mlic_train_graph *t, const mlic_train_hooks *h);

/* Zero the parameter gradients (once per step, before the backward). */
void mlic_train_graph_zero_grad(mlic_train_graph *t);
/* (g->nweights) the parameter gradients. */
float *mlic_train_graph_grads(mlic_train_graph *t);
/* For the error of a step whose gradient is not finite, into buf ("" or "; ..." clauses): the
 * parameter the backward (which runs from the last node) made non-finite first, and the training
 * batch norm with the fewest values per channel, its statistics taken over `batch` samples. A
 * training batch norm passes its input up to |gamma| / sqrt(var + eps) times its output's
 * gradient, 316x at var 0 and eps 1e-5; over a few values var is often near 0, so a chain of them
 * (MobileNetV2's 1x1 maps at a small crop and batch) can overflow float, in PyTorch as well. */
void mlic_train_graph_explain_nonfinite(const mlic_train_graph *t, int batch, char *buf,
                                        size_t size);
/* The executor's views, for tests and tools (dropout masks, batch statistics). */
const mlic_train_ctx *mlic_train_graph_ctx(const mlic_train_graph *t);
/* (g->nvalues) 1 for each value the backward recomputes instead of keeping (Memory, above). */
const uint8_t *mlic_train_graph_recomputed(const mlic_train_graph *t);
/* Bytes held by the activation, value-gradient and parameter-gradient buffers. */
size_t mlic_train_graph_bytes(const mlic_train_graph *t);

/* --freeze-backbone: mark every parameter except the classifier head's (the last linear node)
 * as not trainable. Call before mlic_train_graph_create and before building optimizer roles. */
void mlic_train_graph_freeze_backbone(mlic_graph *g);

#endif
