/* Training checkpoints: everything a resumed run needs to continue exactly where an
 * uninterrupted one would be, in one safetensors file written atomically (temp + rename) after
 * every epoch, and mid-epoch when a run is cancelled (SIGINT/SIGTERM in the CLI).
 *
 * Tensors: every graph parameter under its torchvision name (F32; running statistics included,
 * so the file also reads as a state dict), "optim.state" (F32: SGD's momentum buffer, AdamW's
 * exp_avg then exp_avg_sq; absent for SGD without momentum) and "data.order" (I64: the order of
 * the training items in the epoch just finished, which the next epoch shuffles further; mid-epoch,
 * the order of the epoch in progress), and with --ema "ema.weights" (F32, laid out as the weights).
 * Metadata "mlic_checkpoint", a JSON object:
 *   {"format_version": 2, "arch": ..., "epoch": epochs completed, "step": optimizer steps done,
 *    "batch": batches done of the epoch in progress (0 after a whole epoch), "epoch_loss": the
 *    sum of their losses, "seed": ..., "best_map": the best validation mAP so far (null: none),
 *    "best_epoch": ..., "config": {the settings a resumed run must share}}
 * Version 1 (no batch, epoch_loss: always after a whole epoch) still loads.
 * The generators need no state of their own: every random draw comes from (seed, stream) with
 * the stream a function of the epoch, step, item or parameter (train/init.h, data/loader.h). */
#ifndef MLIC_TRAIN_CHECKPOINT_H
#define MLIC_TRAIN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "io/client.h"
#include "mlic.h"
#include "nn/graph.h"
#include "train/optim.h"

#define MLIC_CHECKPOINT_FORMAT_VERSION 2

typedef struct {
    int64_t epoch;       /* epochs completed */
    int64_t step;        /* optimizer steps done */
    int64_t batch;       /* batches done of epoch `epoch` (0-based) in progress; 0: none */
    double epoch_loss;   /* the sum of those batches' losses */
    uint64_t seed;
    double best_map;     /* NaN: no validation yet */
    int64_t best_epoch;  /* 1-based; 0: none */
    /* (g->nweights) the moving average of the weights (train/ema.h), saved as tensor
     * "ema.weights" and restored into it; NULL: the run keeps none. */
    float *ema;
} mlic_checkpoint_state;

/* config: a JSON object text of the run's settings. order: (n) item indices. */
mlic_status mlic_checkpoint_save(const char *path, const mlic_graph *g, mlic_optim *o,
                                 const size_t *order, size_t n, const mlic_checkpoint_state *st,
                                 const char *config);

/* Restore into g (same arch and classes count), o (same kind and size), order (n) and, when the
 * caller sets st->ema (else NULL), the moving average into it; the other fields of st are
 * outputs. The stored config must equal config key by key: a difference is an error naming the
 * setting and both values (a checkpoint from before "ema", "mixup" and "cutmix" existed had them
 * at 0). */
mlic_status mlic_checkpoint_load(const char *path, mlic_graph *g, mlic_optim *o, size_t *order,
                                 size_t n, mlic_checkpoint_state *st, const char *config);

/* The same through io, so that path may be remote (one PUT of the whole file, one GET). */
mlic_status mlic_checkpoint_save_io(mlic_io *io, const char *path, const mlic_graph *g,
                                    mlic_optim *o, const size_t *order, size_t n,
                                    const mlic_checkpoint_state *st, const char *config);
mlic_status mlic_checkpoint_load_io(mlic_io *io, const char *path, mlic_graph *g, mlic_optim *o,
                                    size_t *order, size_t n, mlic_checkpoint_state *st,
                                    const char *config);

#endif
