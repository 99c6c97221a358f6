/* Learning-rate schedules as pure functions of the step index.
 *
 * A "step" is whatever unit the caller advances the schedule in: optimizer steps (iterations) or
 * epochs. Durations (total_steps, warmup_steps, step_size) are in that same unit; to step a
 * per-epoch schedule per iteration, multiply them by the iterations per epoch.
 *
 * Warm-up: for step < W = warmup_steps the lr rises linearly to main(0), reaching it at the
 * warm-up's last step: lr = main(0) * (f + (1 - f) * (step + 1) / W), f = warmup_factor. With
 * f = 0 (the default) that is lr * (step + 1) / W, the usual PyTorch warm-up
 * LambdaLR(lambda s: (s + 1) / W if s < W else main(s - W)), so that a recipe written for
 * PyTorch means the same here (it starts at lr / W, not at LinearLR's default lr / 3).
 * Afterwards the main schedule runs on step - W over total_steps - W steps.
 *
 * Main schedules, t = step - warmup_steps, T = total_steps - warmup_steps:
 *   CONSTANT  lr
 *   STEP      lr * gamma^floor(t / step_size)                       (StepLR)
 *   COSINE    min_lr + (lr - min_lr) * (1 + cos(pi * t / T)) / 2, held at min_lr for t >= T
 *                                                                    (CosineAnnealingLR, T_max = T)
 *   ONECYCLE  OneCycleLR(max_lr = lr, total_steps = T) with cos annealing, two phases: from
 *             lr / div_factor up to lr over the first pct_start * T steps, then down to
 *             lr / div_factor / final_div_factor at step T - 1, held there afterwards. Momentum
 *             (SGD momentum or AdamW beta1) cycles from max_momentum down to base_momentum and
 *             back, as OneCycleLR's cycle_momentum does. */
#ifndef MLIC_TRAIN_SCHEDULE_H
#define MLIC_TRAIN_SCHEDULE_H

#include <stdint.h>

#include "mlic.h"

/* The kinds (mlic_*_kind) and their parsing are in mlic.h. */

typedef struct {
    mlic_sched_kind kind;
    double lr;               /* the base lr; ONECYCLE: the peak (max_lr) */
    int64_t total_steps;     /* COSINE, ONECYCLE: the whole run, warm-up included */
    int64_t warmup_steps;    /* 0 = no warm-up */
    double warmup_factor;    /* in [0, 1]: the warm-up starts at lr * (f + (1 - f) / W) */
    int64_t step_size;       /* STEP */
    double gamma;            /* STEP */
    double min_lr;           /* COSINE */
    double pct_start;        /* ONECYCLE */
    double div_factor;       /* ONECYCLE */
    double final_div_factor; /* ONECYCLE */
    double base_momentum;    /* ONECYCLE; both 0 = leave the momentum alone */
    double max_momentum;     /* ONECYCLE */
} mlic_sched_cfg;

/* PyTorch's defaults for kind at base lr: warm-up factor 0 (from lr / W) but no warm-up steps;
 * STEP gamma 0.1; COSINE min_lr 0; ONECYCLE pct_start 0.3, div_factor 25, final_div_factor 1e4,
 * momentum 0.85..0.95. step_size and total_steps are left 0: the caller must set them. */
mlic_sched_cfg mlic_sched_defaults(mlic_sched_kind kind, double lr);
/* Check a config once before using it; mlic_sched_lr assumes a valid one. */
mlic_status mlic_sched_check(const mlic_sched_cfg *c);

/* The learning rate for step (>= 0; negative counts as 0). */
double mlic_sched_lr(const mlic_sched_cfg *c, int64_t step);
/* ONECYCLE with momentum cycling: the momentum for step; otherwise -1 (leave it alone). */
double mlic_sched_momentum(const mlic_sched_cfg *c, int64_t step);

#endif
