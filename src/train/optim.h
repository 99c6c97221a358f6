/* Optimizers over flat buffers: the weights, the gradients and the optimizer state are each one
 * contiguous float buffer of the same layout (mlic_graph.weights), so a step is a few passes over
 * memory and a checkpoint is one write.
 *
 * Every element has a role: decayed, not decayed (biases and norm parameters, mlic_param.no_decay)
 * or frozen (running statistics and anything else that is not trained: never changed, and left
 * out of the gradient norm).
 *
 *   SGD    torch.optim.SGD: d = g + wd * w (decayed elements); with momentum, b = d on the first
 *          step and b = momentum * b + (1 - dampening) * d after; d = d + momentum * b (nesterov)
 *          or d = b; w -= lr * d.
 *   ADAMW  torch.optim.AdamW (amsgrad off): w *= 1 - lr * wd (decayed elements);
 *          m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 *          w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 *
 * With max_grad_norm > 0 the gradient is first scaled as torch.nn.utils.clip_grad_norm_ does:
 * by max_grad_norm / (norm + 1e-6) when that is below 1, norm being the 2-norm over every
 * element that is not frozen. The gradient buffer itself is not modified. */
#ifndef MLIC_TRAIN_OPTIM_H
#define MLIC_TRAIN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "mlic.h"
#include "nn/graph.h"

/* The kinds (mlic_*_kind) and their parsing are in mlic.h. */

/* Per-element roles (one byte each). */
enum { MLIC_OPTIM_NO_DECAY = 0, MLIC_OPTIM_DECAY = 1, MLIC_OPTIM_FROZEN = 2 };

typedef struct {
    mlic_optim_kind kind;
    float weight_decay;
    float momentum;      /* SGD */
    float dampening;     /* SGD */
    int nesterov;        /* SGD; needs momentum > 0 and dampening 0 */
    float beta1, beta2;  /* ADAMW */
    float eps;           /* ADAMW */
    float max_grad_norm; /* > 0: clip the gradient's global 2-norm to this */
} mlic_optim_cfg;

typedef struct mlic_optim mlic_optim;

/* PyTorch's defaults: SGD momentum 0, wd 0; AdamW betas (0.9, 0.999), eps 1e-8, wd 0.01. */
mlic_optim_cfg mlic_optim_defaults(mlic_optim_kind kind);

/* n: elements in the weight buffer. roles: (n) MLIC_OPTIM_* per element, copied; NULL = every
 * element decayed. */
mlic_status mlic_optim_create(mlic_optim **out, const mlic_optim_cfg *cfg, size_t n,
                              const uint8_t *roles);
void mlic_optim_destroy(mlic_optim *o);

/* One update of w (n) from g (n) at learning rate lr. A gradient with a NaN or infinity is
 * refused (MLIC_ERR_INVALID_ARG) and nothing changes, so a caller can skip that batch. */
mlic_status mlic_optim_step(mlic_optim *o, float *w, const float *g, double lr);

/* The gradient norm (before clipping) that the last successful step saw. */
double mlic_optim_grad_norm(const mlic_optim *o);

/* Change SGD's momentum or AdamW's beta1 between steps (one-cycle momentum cycling). SGD created
 * with momentum 0 has no momentum buffer: asking it for momentum is an error. */
mlic_status mlic_optim_set_momentum(mlic_optim *o, float momentum);

/* The state for checkpoints: SGD with momentum: the momentum buffer (n); SGD without: none
 * (count 0); AdamW: exp_avg (n) then exp_avg_sq (n). Writable, for restoring. Together with the
 * step count it is everything a resumed run needs. */
float *mlic_optim_state(mlic_optim *o, size_t *count);
int64_t mlic_optim_step_count(const mlic_optim *o);
void mlic_optim_set_step_count(mlic_optim *o, int64_t steps);

/* roles (g->nweights): frozen for parameters that are not trainable and for any element no
 * parameter covers, no decay for parameters marked no_decay, decay otherwise. */
void mlic_optim_roles_from_graph(uint8_t *roles, const mlic_graph *g);

#endif
