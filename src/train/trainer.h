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

#include "mlic.h"
#include "train/loss.h"
#include "train/optim.h"
#include "train/schedule.h"
#include "train/train_graph.h"

/* mlic_train_opts, its defaults, the progress records and mlic_train_run are in mlic.h. */

/* mlic_train_run with the training ops of `backend` (NULL: the default, direct_conv picks):
 * tests inject failing ops through it. */
mlic_status mlic_train_run_backend(const mlic_train_opts *o, const mlic_train_backend *backend);

#endif
