/* Multi-label losses on logits: the loss value and its gradient with respect to the logits.
 *
 * All three are computed element by element in double precision from stable pieces
 * (softplus(x) = max(x, 0) + log1p(exp(-|x|)), sigmoid(-x) instead of 1 - sigmoid(x)), so logits
 * of +-1e4 give finite values and no NaN. Targets are floats in [0, 1] (1 = positive); soft
 * targets are accepted and follow the same formulas.
 *
 *   BCE    torch.nn.BCEWithLogitsLoss(pos_weight=...):
 *            l = pos_weight[k] * t * softplus(-x) + (1 - t) * softplus(x)
 *   FOCAL  torchvision.ops.sigmoid_focal_loss:
 *            p = sigmoid(x), q = 1 - p_t = t * (1 - p) + (1 - t) * p,
 *            l = alpha_t * ce * q^gamma, ce = t * softplus(-x) + (1 - t) * softplus(x),
 *            alpha_t = alpha * t + (1 - alpha) * (1 - t), or 1 when alpha < 0.
 *   ASL    the official AsymmetricLoss (Ridnik et al. 2021, Alibaba-MIIL/ASL losses.py):
 *            p_m = min(1 - p + clip, 1) when clip > 0 else 1 - p   (probability shifting)
 *            l = -[t * log(max(p, eps)) + (1 - t) * log(max(p_m, eps))] * w,
 *            w = (1 - p * t - p_m * (1 - t))^(gamma_pos * t + gamma_neg * (1 - t)).
 *          The gradient flows through w as in the current official AsymmetricLoss; set
 *          detach_weight to treat w as a constant (disable_torch_grad_focal_loss=True).
 *
 * Reduction: MLIC_REDUCE_DEFAULT is each loss's reference reduction: the mean over the N*K
 * elements for BCE and FOCAL (PyTorch's and torchvision's reduction='mean') and, for ASL, the
 * sum over classes averaged over the batch (the official -loss.sum() divided by N, so the learning
 * rate does not depend on the batch size). Any loss can ask for another reduction explicitly. */
#ifndef MLIC_TRAIN_LOSS_H
#define MLIC_TRAIN_LOSS_H

#include "mlic.h"

/* The kinds (mlic_*_kind) and their parsing are in mlic.h. */

typedef enum {
    MLIC_REDUCE_DEFAULT = 0,
    MLIC_REDUCE_MEAN,       /* sum / (N * K) */
    MLIC_REDUCE_BATCH_MEAN, /* sum / N */
    MLIC_REDUCE_SUM
} mlic_reduction;

typedef struct {
    mlic_loss_kind kind;
    mlic_reduction reduction;
    const float *pos_weight; /* (K) BCE only; NULL = all 1 */
    float gamma;             /* FOCAL */
    float alpha;             /* FOCAL; < 0 = no alpha weighting */
    float gamma_neg;         /* ASL */
    float gamma_pos;         /* ASL */
    float clip;              /* ASL; <= 0 = no probability shifting */
    float eps;               /* ASL; the clamp inside the logs */
    int detach_weight;       /* ASL */
} mlic_loss_cfg;

/* The reference defaults of each loss: BCE without pos_weight; focal gamma 2, alpha 0.25
 * (torchvision); ASL gamma_neg 4, gamma_pos 1, clip 0.05, eps 1e-8 (the official class). */
mlic_loss_cfg mlic_loss_defaults(mlic_loss_kind kind);

/* loss: the reduced loss. grad: (N, K) d loss / d logits, overwritten (not accumulated: the logits
 * are not a parameter); NULL to skip. logits, targets: (N, K). */
mlic_status mlic_loss_compute(double *loss, float *grad, const float *logits, const float *targets,
                              int n, int k, const mlic_loss_cfg *cfg);


#endif
