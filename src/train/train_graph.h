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
 * Ops dispatch through a const table (mlic_train_backend, backend/train_ops.h) of
 * forward/backward functions per mlic_op, so a faster backend (oneDNN's training primitives) can
 * replace any op; the reference table (mlic_train_backend_ref) runs the kernels of nn/kernels.h
 * and nn/kernels_train.h. Results do not depend on the number of OpenMP threads. */
#ifndef MLIC_TRAIN_TRAIN_GRAPH_H
#define MLIC_TRAIN_TRAIN_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "backend/train_ops.h"
#include "mlic.h"
#include "nn/graph.h"

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
