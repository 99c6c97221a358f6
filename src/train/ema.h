/* An exponential moving average of the weights (mlic train --ema DECAY), kept beside the weights
 * buffer and laid out like it (mlic_graph.weights), so that an update is one pass and swapping it
 * in for validation or saving is another.
 *
 * It starts as a copy of the starting weights. After optimizer step number t (0-based, the
 * steps taken before it), every element e of it moves towards the weight w:
 *     d_t = min(DECAY, (1 + t) / (10 + t)),    e = e + (1 - d_t) * (w - e)
 * (float32; the lerp form of d * e + (1 - d) * w, which keeps an element that does not change
 * exactly where it is). The warm-up of the decay is TensorFlow's ExponentialMovingAverage
 * num_updates rule: without it the random initial weights would keep DECAY^steps of the average,
 * 15% after the 1875 steps of a 15-epoch Corel-5k run at 0.999; with it their share is below
 * 1e-5 after 10 steps, and until d_t reaches DECAY (after about 9 / (1 - DECAY) steps) the
 * average leans on the last tenth or so of the steps taken, whatever the run's length.
 *
 * Every element is averaged, batch-norm running statistics included, as timm's ModelEmaV2 (and
 * ModelEmaV3 by default) does: statistics averaged over the same steps as the weights they
 * normalise stay consistent with them, and elements that never change (a frozen backbone) stay
 * exact. */
#ifndef MLIC_TRAIN_EMA_H
#define MLIC_TRAIN_EMA_H

#include <stddef.h>
#include <stdint.h>

#include "mlic.h"

typedef struct mlic_ema mlic_ema;

/* decay in (0, 1). weights: (n) the starting weights, copied. */
mlic_status mlic_ema_create(mlic_ema **out, const float *weights, size_t n, double decay);
void mlic_ema_destroy(mlic_ema *e);

/* The decay the update after `steps` earlier optimizer steps uses (d_t above). */
double mlic_ema_decay_at(double decay, int64_t steps);

/* The update after optimizer step number `steps` (0-based), from the weights (n) it left. */
void mlic_ema_update(mlic_ema *e, const float *weights, int64_t steps);

/* Exchange the average and weights (n), element by element: a second swap restores both. */
void mlic_ema_swap(mlic_ema *e, float *weights);

/* The average (n), writable: checkpoints save and restore it. */
float *mlic_ema_weights(mlic_ema *e);

#endif
