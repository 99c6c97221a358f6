/* A backend runs a folded inference graph (see nn/graph.h) on some device.
 *
 * Each backend is a const table of functions; the engine (backend/engine.c) picks one, folds the
 * model's graph for it and forwards calls. A backend may swap the kernel of any single op (for
 * example a Winograd 3x3 convolution) without the rest of the system knowing.
 */
#ifndef MLIC_BACKEND_BACKEND_H
#define MLIC_BACKEND_BACKEND_H

#include "mlic.h"
#include "nn/graph.h"

typedef struct {
    const char *name;
    /* g is folded (mlic_graph_fold_for_inference), shapes inferred for (3, H, W); the backend
     * may keep pointers into g for its lifetime. precision is FP32 or BF16 (the engine resolves
     * AUTO), BF16 only where bf16_unavailable says NULL, or INT8 when g's convolutions carry
     * int8 weights (mlic_node.int8). */
    mlic_status (*create)(void **state, const mlic_graph *g, int max_batch, int threads,
                          mlic_precision precision);
    /* logits: (n, num_classes); input: (n, 3, H, W) NCHW float; 1 <= n <= max_batch. */
    mlic_status (*run)(void *state, float *logits, const float *input, int n);
    void (*destroy)(void *state);
    /* NULL when the backend computes bf16 with native instructions on this CPU, else why not
     * (a phrase for an error message). */
    const char *(*bf16_unavailable)(void);
} mlic_backend_ops;

extern const mlic_backend_ops mlic_backend_ref;

/* Called by mlic_backend_ref_run_observed just before convolution `node` runs, with its input x
 * (count floats: the batch of the input value); a failure stops the run. */
typedef mlic_status (*mlic_conv_observer)(void *ctx, int node, const float *x, size_t count);
/* mlic_backend_ref's run, showing every convolution's input to observe: how calibration
 * (mlic_model_quantize) measures activation ranges in fp32. */
mlic_status mlic_backend_ref_run_observed(void *state, float *logits, const float *input, int n,
                                          mlic_conv_observer observe, void *ctx);
#if MLIC_HAVE_ONEDNN
extern const mlic_backend_ops mlic_backend_onednn;
#endif

#endif
