/* The training op tables: what the training executor (train/train_graph.h) calls to run one
 * node of an unfolded graph forward in training mode and backward. A table has a forward, a
 * backward and a scratch size per mlic_op, so a faster backend can replace any op; it knows ops
 * and tensors, never archs, data or trainers.
 *
 *   - mlic_train_backend_ref (backend/train_ops_ref.c): the plain C kernels of nn/kernels.h and
 *     nn/kernels_train.h, the oracle the others are tested against;
 *   - mlic_train_backend_onednn and _onednn_direct (backend/onednn_train*.c, when built with
 *     oneDNN): oneDNN's training primitives on the inference backend's engine, layouts and
 *     reorders (backend/onednn_train.h says what runs where).
 */
#ifndef MLIC_BACKEND_TRAIN_OPS_H
#define MLIC_BACKEND_TRAIN_OPS_H

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
