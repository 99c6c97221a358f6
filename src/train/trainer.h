/* `mlic train`'s loop: data, model, executor, optimizer, schedule, validation, checkpoints.
 *
 * Each epoch shuffles the previous epoch's item order (seeded: (seed, MLIC_TRAIN_STREAM_SHUFFLE
 * + epoch)), runs the loader's augmented batches (the last incomplete batch is dropped, as batch
 * norm needs whole batches) through a training step each: lr (and one-cycle momentum) from the
 * schedule at the step, forward, loss, zeroed gradients, backward, optimizer step. After each
 * epoch, with validation data: loss, mAP, CF1 and OF1 of the current weights through the
 * inference engine at the model's thresholds; a better mAP writes the model file (so it always
 * holds the best model so far). Then the checkpoint is written. At the end the best model (or,
 * without validation, the last) gets per-class thresholds tuned on the validation data (best F1
 * each, eval/metrics.h) and is written again.
 *
 * A run with resume continues from the checkpoint exactly: its final weights equal an
 * uninterrupted run's bit for bit (same settings and thread count).
 *
 * Cancelling (cancel, set by the caller's signal handler): the run finishes the step in hand,
 * rank 0 writes a mid-epoch checkpoint (when a step of the epoch was taken; else the last
 * epoch's checkpoint stands) and the run returns MLIC_ERR_CANCELLED naming it; a resume
 * continues at the next batch, with the same result as an uninterrupted run. Under MPI the ranks
 * agree before every batch, so a cancel on any rank stops all at the same step.
 *
 * Data-parallel (distributed = 1, under mpirun; dist/train_comm.h): every rank computes the same
 * order, and rank r of N takes the r-th slice of B = batch_size images of every global batch of
 * N * B; gradients are summed across ranks in buckets while the backward runs, batch norm uses
 * each rank's batch (the running statistics are averaged) or, with sync_bn, the global batch;
 * every rank takes the same optimizer step. Rank 0 alone validates and writes the model, the
 * checkpoint and the log. A checkpoint records the global batch N * B: a resume may use another
 * N with the same N * B.
 *
 * The library prints nothing: progress comes through the callback, and the JSON Lines log is a
 * file (--log) with one object per epoch and a final one. */
#ifndef MLIC_TRAIN_TRAINER_H
#define MLIC_TRAIN_TRAINER_H

#include <signal.h>
#include <stdint.h>

#include "mlic.h"
#include "train/loss.h"
#include "train/optim.h"
#include "train/schedule.h"
#include "train/train_graph.h"

typedef enum {
    MLIC_TRAIN_EVENT_INFO = 0, /* a message (what was loaded, resumed from) */
    MLIC_TRAIN_EVENT_STEP,     /* after each optimizer step */
    MLIC_TRAIN_EVENT_EPOCH     /* after each epoch's validation and checkpoint */
} mlic_train_event;

typedef struct {
    mlic_train_event kind;
    const char *message;     /* INFO */
    int epoch, epochs;       /* 1-based */
    int64_t step;            /* optimizer steps done in the whole run */
    int64_t batch, batches;  /* STEP: batches done in this epoch, of how many */
    double loss;             /* STEP: the epoch's mean loss so far; EPOCH: the epoch's mean */
    double lr;
    double images_per_s;     /* training images per second in this epoch */
    double eta_s;            /* seconds left in the run, estimated */
    int has_val;             /* EPOCH */
    double val_loss, val_map, val_cf1, val_of1;
    int best;                /* EPOCH: this epoch's model is the best so far */
} mlic_train_progress;

typedef void (*mlic_train_progress_fn)(void *user, const mlic_train_progress *p);

typedef struct {
    const char *arch;
    const char *train_path;       /* the training data (any data-set format) */
    const char *val_path;         /* NULL: no validation */
    const char *classes_path;     /* NULL: the data set's own class list */
    const char *root;             /* image paths' root; NULL = the data set's default */
    int confine_to_root;          /* every image path must lie under the root (data/dataset.h) */
    const char *output_path;      /* the model file */
    const char *checkpoint_path;  /* NULL = output_path + ".ckpt" */
    const char *log_path;         /* JSON Lines, NULL = none */
    const char *pretrained_path;  /* NULL: from scratch */
    /* Any of the paths above but the log may be remote (s3://, oss://; the data and
     * --pretrained also http(s)://), reached as storage says (NULL: the defaults); the model
     * and the checkpoint are then written with one PUT each (docs/storage.md). */
    const mlic_storage_opts *storage;
    const char *cache_dir;        /* non-NULL: remote images are kept there (io/cache.h) */
    uint64_t cache_bytes;         /* its bound; 0 = MLIC_IO_CACHE_DEFAULT_BYTES */
    int epochs;
    int batch_size;               /* per rank */
    double lr;
    double weight_decay;
    double momentum;              /* SGD's momentum; AdamW's beta1 */
    float max_grad_norm;          /* > 0: clip the gradient's global norm */
    mlic_optim_kind optimizer;
    mlic_sched_kind schedule;
    int warmup_epochs;
    int lr_step_epochs;           /* STEP schedule: epochs between decays (x0.1) */
    mlic_loss_kind loss;
    int crop, resize;
    float jitter;                 /* colour jitter strength (brightness, contrast, saturation); 0 = off */
    int freeze_backbone;
    uint64_t seed;
    int threads;                  /* compute threads, 0 = all cores */
    int direct_conv;              /* oneDNN: no Winograd convolutions (train_ops_onednn.h) */
    int workers;                  /* decoding threads, 0 = as many as threads */
    int resume;                   /* continue from the checkpoint if it exists */
    int stop_after_epochs;        /* > 0: end this run after so many epochs, as if interrupted */
    int distributed;              /* train across MPI_COMM_WORLD's ranks (MPI initialised) */
    int sync_bn;                  /* distributed: batch norm on the global batch's statistics */
    int check_weights;            /* distributed: compare the weights' checksums every step */
    mlic_train_progress_fn progress;
    void *progress_user;
    const mlic_train_backend *backend; /* NULL: the default (direct_conv picks); tests inject ops */
    const volatile sig_atomic_t *cancel; /* non-NULL: stop at the next step once *cancel != 0 */
    /* Distributed, out (may be NULL): set to 1 when the run failed on this rank in a way the
     * other ranks cannot learn of (an MPI call failed): they may wait forever, so the caller must
     * abort the job (MPI_Abort). Every other failure is agreed: all ranks return it. */
    int *abort_job;
} mlic_train_opts;

/* The CLI's defaults: 10 epochs, batch 32, SGD lr 0.01 momentum 0.9 weight decay 1e-4 (AdamW:
 * lr 1e-3, weight decay 0.01, beta1 0.9), cosine schedule without warm-up, step 30, BCE, crop
 * 224, resize 256, seed 0. */
void mlic_train_opts_init(mlic_train_opts *o);
/* After choosing the optimizer: its default lr, weight decay and momentum. */
void mlic_train_opts_optimizer_defaults(mlic_train_opts *o, mlic_optim_kind kind);

mlic_status mlic_train_run(const mlic_train_opts *o);

#endif
