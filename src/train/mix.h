/* Mixup and CutMix for multi-label batches (mlic train --mixup ALPHA, --cutmix ALPHA), as timm's
 * Mixup in its per-batch mode, with soft targets.
 *
 * Per step, from its own generator (seed, MLIC_TRAIN_STREAM_MIX + stream), in this order:
 *   - with both alphas > 0, CutMix when a uniform draw is < 0.5, else mixup (timm's switch_prob);
 *   - lambda ~ Beta(alpha, alpha) (core/rng.h) of the method picked;
 *   - CutMix: the box's centre cy, then cx, each uniform in [0, S); with cut = (int)(S *
 *     sqrt(1 - lambda)), rows [clamp(cy - cut / 2), clamp(cy + cut / 2)) and the same for columns,
 *     clamped to [0, S] (timm's rand_bbox), and lambda becomes 1 - box area / (S * S), the
 *     images' actual share (timm's correct_lam).
 * Image i of the N of the batch is paired with image N - 1 - i (the batch reversed, as timm; the
 * batch's order is already a shuffle, and an odd batch's middle image pairs with itself):
 *   mixup   x'_i = lambda * x_i + (1 - lambda) * x_{N-1-i}  (float32, lambda and 1 - lambda
 *           rounded to float first)
 *   CutMix  x'_i = x_i with the box's pixels (every channel) replaced by x_{N-1-i}'s
 *   targets y'_i = lambda * y_i + (1 - lambda) * y_{N-1-i} for both (in double, rounded to float
 *           once, so equal targets stay exact): soft targets, the share of
 *           each image in the mix, as timm's mixup_target (less its label smoothing); the losses
 *           take targets in [0, 1] (train/loss.h). The union of the two label sets would tell the
 *           network a label is fully present when it covers a sliver of the picture. */
#ifndef MLIC_TRAIN_MIX_H
#define MLIC_TRAIN_MIX_H

#include <stdint.h>

#include "core/rng.h"
#include "mlic.h"

#define MLIC_TRAIN_STREAM_MIX ((uint64_t)4 << 40) /* + optimizer step (train/init.h's list) */

typedef enum { MLIC_MIX_NONE = 0, MLIC_MIX_MIXUP, MLIC_MIX_CUTMIX } mlic_mix_kind;

typedef struct {
    double mixup_alpha, cutmix_alpha; /* 0: that method off */
} mlic_mix_cfg;

/* One draw. */
typedef struct {
    mlic_mix_kind kind;
    double lambda_drawn; /* the Beta draw */
    double lambda;       /* the first image's share: lambda_drawn, or CutMix's corrected one */
    int cy, cx;          /* CutMix: the box's centre */
    int top, left, height, width; /* CutMix: the box, clamped to the image */
} mlic_mix_params;

/* Refuses alphas that are negative or not finite, naming the option. */
mlic_status mlic_mix_cfg_check(const mlic_mix_cfg *c);

/* Whether c mixes at all. */
int mlic_mix_enabled(const mlic_mix_cfg *c);

/* Draws the parameters for images of size x size. */
void mlic_mix_sample(mlic_mix_params *p, const mlic_mix_cfg *c, int size, mlic_rng *r);

/* images_out: (n, 3, size, size), targets_out (n, k) from images, targets as p says; the outputs
 * must not overlap the inputs. */
void mlic_mix_apply(float *images_out, float *targets_out, const float *images,
                    const float *targets, int n, int size, int k, const mlic_mix_params *p);

#endif
