/* The in-memory model: a graph with its weights plus everything the model file's metadata holds.
 *
 * File format (docs/model-format.md): one safetensors file whose tensors carry torchvision's
 * state-dict names (F32; num_batches_tracked as I64 scalars) and whose __metadata__ has one key,
 * "mlic", a JSON string:
 *   {"format_version": 1, "arch": "resnet50", "classes": ["a", ...], "thresholds": [0.5, ...],
 *    "resize": 256, "crop": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
 */
#ifndef MLIC_MODEL_MODEL_H
#define MLIC_MODEL_MODEL_H

#include "mlic.h"
#include "model/safetensors.h"
#include "nn/graph.h"

#define MLIC_MODEL_FORMAT_VERSION 1

struct mlic_model {
    mlic_graph *graph;   /* arch, num_classes and the weights */
    int num_classes;
    char **classes;      /* (num_classes) */
    float *thresholds;   /* (num_classes) */
    mlic_preprocess pre;
    uint64_t file_size;  /* of the file loaded; 0 for a model made in memory */
    /* An int8 model (mlic_model_quantize): its quantized convolutions, in graph order, and how
     * their input ranges were measured ("percentile 99.99, 200 images"); else 0, NULL, "". */
    int nint8;
    mlic_conv_int8 *int8;
    char calibration[64];
};

/* Release m's int8 convolutions (it becomes an fp32 model). */
void mlic_model_int8_clear(mlic_model *m);
/* The int8 tensors of an int8 model, for the file (docs/model-format.md): three per quantized
 * convolution, "<conv>.weight_int8" (I8), "<conv>.weight_scale" (F32, one per output channel)
 * and "<conv>.input_scale" (F32 scalar). *e and *names are malloc'd (free both); *n entries. */
mlic_status mlic_model_int8_entries(const mlic_model *m, mlic_safetensors_entry **e,
                                    char **names, int *n);
/* 1 when name is one of those tensors' for a convolution of g. */
int mlic_model_int8_tensor(const mlic_graph *g, const char *name);
/* Read them from f into m (whose metadata said int8), each checked: dtype, shape, scales
 * finite and > 0, weights in [-127, 127]; every convolution after the first must have them. */
mlic_status mlic_model_int8_load(mlic_model *m, const mlic_safetensors *f);

/* Build an empty model around a freshly built graph (weights as mlic_graph_build leaves them). */
mlic_status mlic_model_create(mlic_model **out, const mlic_model_spec *spec);
/* The same for a spec that has passed the checks below already (a loaded file's metadata). */
mlic_status mlic_model_create_checked(mlic_model **out, const mlic_model_spec *spec);
/* mlic_model_save is in mlic.h. */
/* Load and save through io, so that path may be remote (one GET, one PUT: safetensors.h); io
 * NULL: local paths only. mlic_model_load_from (mlic.h, src/api/model_api.c) makes the io. */
mlic_status mlic_model_load_io(mlic_model **out, mlic_io *io, const char *path);
mlic_status mlic_model_save_io(const mlic_model *m, mlic_io *io, const char *path);
/* mlic_model_import and mlic_model_import_onnx through io: the input and the output may be
 * remote. */
mlic_status mlic_model_import_io(mlic_io *io, const char *weights_path,
                                 const mlic_model_spec *spec, const char *out_path);
mlic_status mlic_model_import_onnx_io(mlic_io *io, const char *onnx_path,
                                      const mlic_model_spec *spec, const char *out_path,
                                      const char **arch_found);
/* The model's tensors as a torchvision state dict (num_batches_tracked included) with the given
 * __metadata__ entries (none: a plain state dict), atomically. mlic_model_save adds "mlic". */
mlic_status mlic_model_save_tensors(const mlic_model *m, const char *path,
                                    const char *const *meta_keys, const char *const *meta_values,
                                    int nmeta);
/* The "mlic" metadata of m as JSON text (docs/model-format.md); malloc'd, NULL when out of
 * memory. */
char *mlic_model_meta_text(const mlic_model *m);

/* Called with the arch and class count of metadata before anything is allocated per class:
 * checks them against the weights' head (mlic_model_check_head for a safetensors file). */
typedef mlic_status (*mlic_model_head_check)(const void *ctx, const char *arch, int n);
/* A model (graph built, weights as mlic_graph_build leaves them) from "mlic" metadata text,
 * every field checked; messages start with path. */
mlic_status mlic_model_create_from_meta(mlic_model **out, const char *text, const char *path,
                                       mlic_model_head_check check_head, const void *ctx);

/* mlic_model_check_classes, _thresholds and _preprocess (shared by create, load and import),
 * mlic_model_num_parameters and mlic_model_float_text are in mlic.h. */

/* Before any per-class work: n, the classes counted (`counted`: "metadata lists", "the class list
 * has"), against the rows of arch's head tensor in f, so that a crafted class count is refused in
 * time linear in the file. A missing head is an error, unless hint is given (the state-dict
 * check then reports it with its own hints); hint ends a mismatch's message. An unknown arch
 * passes (building its graph names it). */
mlic_status mlic_model_check_head(const mlic_safetensors *f, const char *arch, int n,
                                  const char *counted, const char *hint);

#endif
