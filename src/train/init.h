/* Where a training run's weights start: torchvision's from-scratch initialisation, or a
 * pretrained file for fine-tuning.
 *
 * From scratch (mlic_train_init_weights), as torchvision's constructors do:
 *   resnet*       convolutions kaiming_normal_(mode="fan_out", nonlinearity="relu"), batch norm
 *                 weight 1 and bias 0, the head as nn.Linear's default (below);
 *   mobilenet_v2  convolutions kaiming_normal_(mode="fan_out") (the same gain, sqrt 2), their
 *                 biases 0, batch norm 1 / 0, the head normal(0, 0.01) with bias 0.
 * Running statistics start at mean 0, variance 1. Every parameter draws from its own generator
 * (seed, MLIC_TRAIN_STREAM_INIT + parameter index), so the result is the same on any machine
 * (but not PyTorch's numbers: its generator differs).
 *
 * Head (mlic_train_init_head): nn.Linear.reset_parameters, kaiming_uniform_(a=sqrt(5)) for the
 * weight, i.e. uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias. */
#ifndef MLIC_TRAIN_INIT_H
#define MLIC_TRAIN_INIT_H

#include <stdint.h>

#include "io/client.h"
#include "mlic.h"
#include "nn/graph.h"

/* Generator streams of a training run (seed, stream); the data loader owns those with the top
 * bit set. */
#define MLIC_TRAIN_STREAM_INIT ((uint64_t)1 << 40)    /* + parameter index */
#define MLIC_TRAIN_STREAM_SHUFFLE ((uint64_t)2 << 40) /* + epoch */
#define MLIC_TRAIN_STREAM_DROPOUT ((uint64_t)3 << 40) /* + optimizer step */

void mlic_train_init_weights(mlic_graph *g, uint64_t seed);
void mlic_train_init_head(mlic_graph *g, uint64_t seed);

typedef struct {
    int loaded;      /* parameters copied from the file */
    int total;       /* parameters of the graph */
    int head_kept;   /* the head came from the file (an mlic model with the same classes) */
    int mismatched;  /* tensors named like a parameter but shaped differently */
} mlic_pretrained_report;

/* Fine-tuning's start: initialise g from scratch, then copy in every tensor of the safetensors
 * file at path (a torchvision state dict or an mlic model) whose name and shape match a
 * parameter of g. The classifier head is re-initialised (mlic_train_init_head) unless the file
 * is an mlic model whose class list equals classes (then training continues it). Fails when no
 * backbone tensor matches (the wrong --arch or not a state dict) and on non-finite values. */
mlic_status mlic_train_load_pretrained(mlic_graph *g, const char *path,
                                       const char *const *classes, int num_classes,
                                       uint64_t seed, mlic_pretrained_report *report);
/* The same with the file read through io (NULL: local only), so that it may be remote. */
mlic_status mlic_train_load_pretrained_io(mlic_graph *g, mlic_io *io, const char *path,
                                          const char *const *classes, int num_classes,
                                          uint64_t seed, mlic_pretrained_report *report);

#endif
