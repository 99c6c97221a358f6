/* The trainer's text outputs: the run's settings as JSON (stored in checkpoints, compared on
 * resume) and the --log file, JSON Lines rewritten atomically (temp + rename) at each line:
 *   {"epoch": 1, "step": 56, "lr": 0.0098, "train_loss": 0.41, "images_per_s": 12.5,
 *    "seconds": 180.2, "val_loss": 0.35, "map": 71.2, "cf1": 60.1, "of1": 66.0, "best": true}
 * (val_* keys null without validation; "seconds": the epoch's wall time, its validation and
 * checkpoint included), and a last line
 *   {"final": true, "best_epoch": 3, "map": ..., "cf1": ..., "of1": ..., "thresholds": [...],
 *    "config": {...}}
 * with the metrics at the tuned thresholds (without validation: {"final": true, "config": ...});
 * "config" is the run's settings (mlic_trainer_config_json: arch, classes, optimizer...), which
 * lets a reader of the log (mlic report) tell the model it belongs to. */
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
/* tuned: the metrics at the tuned thresholds (k of them), or NULL without validation. config:
 * the run's settings, JSON object text (mlic_trainer_config_json). */
mlic_status mlic_trainer_log_final(const char *path, const mlic_metrics *tuned, int best_epoch,
                                   const float *thresholds, int k, const char *config);

/* A log read back (mlic report). */
typedef struct {
    mlic_trainer_epoch_log *epochs; /* in file order; a resumed run's log repeats no epoch */
    int nepochs;
    int has_final;                  /* the run finished (the last line) */
    int best_epoch;                 /* final, with validation; 0 otherwise */
    double map, cf1, of1;           /* final: at the tuned thresholds; NaN without */
    float *thresholds;              /* final: the tuned thresholds (nthresholds), or NULL */
    int nthresholds;
    char *config;                   /* final: the run's settings, JSON object text, or NULL */
} mlic_trainer_log;

/* Reads a --log file: every line must be one of the objects above (a blank line is skipped);
 * anything else fails naming the file and line. An empty file is a log without epochs. */
mlic_status mlic_trainer_log_read(mlic_trainer_log *out, const char *path);
void mlic_trainer_log_free(mlic_trainer_log *l);

#endif
