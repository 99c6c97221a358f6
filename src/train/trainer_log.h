/* The trainer's text outputs: the run's settings as JSON (stored in checkpoints, compared on
 * resume) and the --log file, JSON Lines rewritten atomically (temp + rename) at each line:
 *   {"epoch": 1, "step": 56, "lr": 0.0098, "train_loss": 0.41, "images_per_s": 12.5,
 *    "seconds": 180.2, "val_loss": 0.35, "map": 71.2, "cf1": 60.1, "of1": 66.0, "best": true}
 * (val_* keys null without validation), and a last line
 *   {"final": true, "best_epoch": 3, "map": ..., "cf1": ..., "of1": ..., "thresholds": [...]}
 * with the metrics at the tuned thresholds (without validation: {"final": true}). */
#ifndef MLIC_TRAIN_TRAINER_LOG_H
#define MLIC_TRAIN_TRAINER_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "eval/metrics.h"
#include "model/model.h"
#include "train/trainer.h"

typedef struct {
    int epoch;
    int64_t step;
    double lr, train_loss, images_per_s, seconds;
    double val_loss, val_map, val_cf1, val_of1; /* NaN without validation */
    int best;
} mlic_trainer_epoch_log;

/* The settings a resumed run must share with the checkpoint's (not the epochs, threads or file
 * names): malloc'd JSON object text, NULL when out of memory. */
char *mlic_trainer_config_json(const mlic_train_opts *o, const mlic_model *m, size_t train_items);

/* Start an empty log (a fresh run). */
mlic_status mlic_trainer_log_truncate(const char *path);
mlic_status mlic_trainer_log_epoch(const char *path, const mlic_trainer_epoch_log *e);
/* tuned: the metrics at the tuned thresholds (k of them), or NULL without validation. */
mlic_status mlic_trainer_log_final(const char *path, const mlic_metrics *tuned, int best_epoch,
                                   const float *thresholds, int k);

#endif
