/* The network as data: a small static graph of nodes over values, with one weights buffer.
 *
 * One graph type serves every consumer: the arch builders (resnet*, mobilenet_v2) emit it with
 * torchvision's parameter names; the model file fills its weights; inference folds batch norm and
 * fuses activations/residual adds into it (mlic_graph_fold_for_inference) and hands it to a
 * backend (reference C, oneDNN, later CUDA); training runs it unfolded, forward and backward;
 * ONNX import will build one from an ONNX graph.
 *
 * Values are activations, identified by index; each has a per-sample shape (C, H, W) computed by
 * mlic_graph_infer_shapes for a given input size. Nodes are stored in execution (topological)
 * order. Parameters are views (offset, shape) into the single `weights` buffer, so a checkpoint
 * is one write and gradient averaging one reduction over an equally laid-out buffer.
 *
 * BatchNorm's num_batches_tracked (an int64 counter in torchvision state dicts) is not a
 * parameter here: the model writer emits it, the loader accepts and ignores it.
 */
#ifndef MLIC_NN_GRAPH_H
#define MLIC_NN_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "mlic.h"

typedef enum {
    MLIC_OP_CONV,           /* weight (Cout, Cin/groups, K, K), optional bias (Cout) */
    MLIC_OP_BATCHNORM,      /* weight, bias, running_mean, running_var: (C) each */
    MLIC_OP_RELU,
    MLIC_OP_RELU6,
    MLIC_OP_ADD,            /* in[0] + in[1], same shapes */
    MLIC_OP_MAXPOOL,        /* kernel, stride, pad (PyTorch semantics: pad with -inf) */
    MLIC_OP_GLOBAL_AVGPOOL, /* (C, H, W) -> (C, 1, 1) */
    MLIC_OP_DROPOUT,        /* identity at inference; drop_p in training */
    MLIC_OP_LINEAR          /* flattens its input; weight (K, C), bias (K) */
} mlic_op;

typedef enum { MLIC_ACT_NONE = 0, MLIC_ACT_RELU, MLIC_ACT_RELU6 } mlic_act;

/* One convolution of an int8 model (docs/quantization.md): its folded weight quantized
 * symmetrically per output channel, w ~ weight[o, ...] * weight_scale[o], and one scale for its
 * input, x ~ code * input_scale with u8 codes where the input is never negative
 * (mlic_graph_value_nonneg), s8 ones elsewhere. */
typedef struct {
    char name[64];        /* the convolution's torchvision module name */
    float input_scale;    /* > 0 */
    int out_c;
    size_t numel;         /* of weight: the folded convolution weight's */
    int8_t *weight;       /* (numel), in the weight's (O, I/groups, K, K) layout, in [-127, 127] */
    float *weight_scale;  /* (out_c), > 0 */
} mlic_conv_int8;

typedef struct {
    mlic_op op;
    int in[2];          /* value ids; in[1] only for ADD, else -1 */
    int out;            /* value id */
    char name[64];      /* torchvision module name, e.g. "layer1.0.conv1", "fc"; "" if none */
    int kernel, stride, pad, groups; /* CONV, MAXPOOL */
    int weight, bias;   /* param ids or -1: CONV, LINEAR, BATCHNORM (gamma, beta) */
    int running_mean, running_var; /* BATCHNORM param ids */
    float eps;          /* BATCHNORM */
    float drop_p;       /* DROPOUT */
    /* Fusion (set only by mlic_graph_fold_for_inference): after the op itself, add value
     * fused_add (if >= 0), then apply fused_act. */
    int fused_add;
    mlic_act fused_act;
    /* CONV of an int8 model's folded graph: set by the engine, owned by the model; else NULL. */
    const mlic_conv_int8 *int8;
} mlic_node;

typedef struct {
    int c, h, w;
} mlic_shape3; /* per-sample shape of a value */

typedef struct {
    char name[96];      /* torchvision name, e.g. "layer1.0.bn1.running_mean" */
    int ndim;
    int64_t dims[4];
    size_t offset;      /* in floats, into mlic_graph.weights */
    size_t numel;
    int trainable;      /* 0 for running statistics */
    int no_decay;       /* biases and norm parameters: no weight decay by default */
} mlic_param;

typedef struct mlic_graph {
    char arch[32];
    int num_classes;
    int nvalues;
    mlic_shape3 *values;  /* filled by mlic_graph_infer_shapes */
    int nnodes;
    mlic_node *nodes;
    int nparams;
    mlic_param *params;
    size_t nweights;      /* floats in `weights` */
    float *weights;       /* every parameter, one buffer */
    int input, output;    /* value ids: input (3, H, W), output (num_classes, 1, 1) logits */
} mlic_graph;

/* Archs this build knows, NULL-terminated ("resnet18", ..., "mobilenet_v2"). */
extern const char *const mlic_graph_archs[];

/* Build arch with a num_classes head. Weights are zeroed except batch norm's running_var and
 * weight (1) so that an unloaded graph is still well defined. */
mlic_status mlic_graph_build(mlic_graph **out, const char *arch, int num_classes);
void mlic_graph_free(mlic_graph *g);
/* The torchvision module name of arch's classifier head ("fc"), whose weight is [num_classes,
 * features]: what a file's class count is checked against before anything is built. NULL for an
 * arch this build does not know. */
const char *mlic_graph_head_name(const char *arch);

/* Compute every value's shape for an input of (3, h, w). */
mlic_status mlic_graph_infer_shapes(mlic_graph *g, int h, int w);

int mlic_graph_find_param(const mlic_graph *g, const char *name); /* -1 if absent */
static inline float *mlic_graph_param(const mlic_graph *g, int id)
{
    return g->weights + g->params[id].offset;
}

/* A new graph for inference: batch norm folded into the preceding convolution (which gains a
 * bias), ReLU/ReLU6 and residual adds fused into the producing convolution, dropout removed.
 * A fusion happens only where it is exact: the convolution's output has no other consumer.
 * The result has its own weights buffer (g is not modified) and renumbered values: 0 is the
 * input, then one value per node in order, so every value but the input has exactly one producer.
 * A fused_add value is always produced by an earlier node (or is the input). Value shapes are
 * carried over from g; call mlic_graph_infer_shapes on the result for another input size.
 * Nodes that cannot be fused (e.g. a batch norm after a pooling) stay as they are. */
mlic_status mlic_graph_fold_for_inference(mlic_graph **out, const mlic_graph *g);

/* 1 when value v of a folded graph is never negative: the output of a ReLU or ReLU6 (fused or
 * not), or a pooling of such a value. What decides u8 rather than s8 codes for an int8
 * convolution's input. */
int mlic_graph_value_nonneg(const mlic_graph *g, int v);

#endif
