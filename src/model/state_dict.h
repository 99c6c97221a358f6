/* Filling a graph's weights from a torchvision state dict held in a safetensors file. */
#ifndef MLIC_MODEL_STATE_DICT_H
#define MLIC_MODEL_STATE_DICT_H

#include "model/safetensors.h"
#include "nn/graph.h"

/* Suffix of batch norm's int64 step counter: written for PyTorch, ignored on load. */
#define MLIC_NUM_BATCHES_TRACKED "num_batches_tracked"

/* Check f against g and copy every parameter in, converting F16/BF16/F64 to F32. Errors, in
 * this order, each naming the file and tensors: the classifier head's size differs from
 * g->num_classes (the message ends with head_hint, e.g. "HINT: ..."), tensors missing, tensors
 * unexpected (<bn>.num_batches_tracked is accepted for every batch norm), a non-float dtype, a
 * shape differing from the arch's (expected vs got), a value that is NaN or infinite. */
/* int8: the file is an int8 model's, whose int8 tensors (mlic_model_int8_tensor) are accepted
 * here and read by mlic_model_int8_load. */
mlic_status mlic_state_dict_load(mlic_graph *g, const mlic_safetensors *f, int int8,
                                 const char *head_hint);

#endif
