#include "train/loss.h"

#include <math.h>
#include <string.h>

#include "core/error.h"

/* Each element function returns the unreduced loss of one logit and stores d loss / d x. */

static double softplus(double x) { return fmax(x, 0.0) + log1p(exp(-fabs(x))); }

static double sigmoid(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static double bce_elem(double *d, double x, double t, double pos_weight)
{
    *d = -pos_weight * t * sigmoid(-x) + (1.0 - t) * sigmoid(x);
    return pos_weight * t * softplus(-x) + (1.0 - t) * softplus(x);
}

static double focal_elem(double *d, double x, double t, const mlic_loss_cfg *c)
{
    double p = sigmoid(x), pc = sigmoid(-x);
    double ce = t * softplus(-x) + (1.0 - t) * softplus(x);
    /* 1 - p_t from the two stable sigmoids: 1 - p would round to 0 for large logits. */
    double q = t * pc + (1.0 - t) * p;
    double a = c->alpha < 0 ? 1.0 : c->alpha * t + (1.0 - c->alpha) * (1.0 - t);
    double g = c->gamma;
    double qg = g == 0 ? 1.0 : pow(q, g);
    /* d q^g / dx = g q^g (1 - 2t) p pc / q, and p pc / q <= 1, so this never overflows; at q = 0
     * the whole term vanishes with q^g. */
    double dfocus = (g == 0 || q == 0) ? 0.0 : g * qg * (1.0 - 2.0 * t) * (p * pc / q);
    *d = a * ((p - t) * qg + ce * dfocus);
    return a * ce * qg;
}

static double asl_elem(double *d, double x, double t, const mlic_loss_cfg *c)
{
    double p = sigmoid(x), pc = sigmoid(-x);
    double eps = c->eps;
    double xs_neg, one_minus_xs_neg, log_pos, log_neg;
    int clamped = 0; /* min(., 1) active: no gradient through the shifted probability */
    if (c->clip > 0) {
        double s = pc + c->clip;
        clamped = s > 1.0;
        xs_neg = clamped ? 1.0 : s;
        one_minus_xs_neg = clamped ? 0.0 : p - c->clip;
        log_neg = log(fmax(xs_neg, eps));
    } else {
        xs_neg = pc;
        one_minus_xs_neg = p;
        log_neg = xs_neg >= eps ? -softplus(x) : log(eps);
    }
    log_pos = p >= eps ? -softplus(-x) : log(eps);
    double a = t * log_pos + (1.0 - t) * log_neg;
    double da = t * (p >= eps ? pc : 0.0) +
                (1.0 - t) * ((xs_neg >= eps && !clamped) ? -p * pc / xs_neg : 0.0);

    double w = 1.0, dw = 0.0;
    if (c->gamma_neg > 0 || c->gamma_pos > 0) {
        double u = t * pc + (1.0 - t) * one_minus_xs_neg; /* 1 - pt */
        double du = -t * p * pc + (1.0 - t) * (clamped ? 0.0 : p * pc);
        double g = c->gamma_pos * t + c->gamma_neg * (1.0 - t);
        w = pow(u, g);
        if (g != 0 && u > 0 && !c->detach_weight)
            dw = g * w * (du / u);
    }
    *d = -(da * w + a * dw);
    return -a * w;
}

mlic_loss_cfg mlic_loss_defaults(mlic_loss_kind kind)
{
    mlic_loss_cfg c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.alpha = -1;
    if (kind == MLIC_LOSS_FOCAL) {
        c.gamma = 2;
        c.alpha = 0.25f;
    } else if (kind == MLIC_LOSS_ASL) {
        c.gamma_neg = 4;
        c.gamma_pos = 1;
        c.clip = 0.05f;
        c.eps = 1e-8f;
    }
    return c;
}

mlic_status mlic_loss_parse_kind(mlic_loss_kind *out, const char *name)
{
    static const char *const names[] = {"bce", "focal", "asl"};
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (mlic_loss_kind)i;
            return MLIC_OK;
        }
    return mlic_fail(MLIC_ERR_INVALID_ARG, "loss \"%s\" is unknown. HINT: use bce, focal or asl",
                     name ? name : "(null)");
}

static mlic_status check_cfg(const mlic_loss_cfg *c, int k)
{
    switch (c->kind) {
    case MLIC_LOSS_BCE:
        if (c->pos_weight)
            for (int j = 0; j < k; j++)
                if (!(c->pos_weight[j] >= 0) || isinf(c->pos_weight[j]))
                    return mlic_fail(MLIC_ERR_INVALID_ARG,
                                     "loss bce: pos_weight[%d] = %g is not a finite number >= 0", j,
                                     c->pos_weight[j]);
        return MLIC_OK;
    case MLIC_LOSS_FOCAL:
        if (!(c->gamma >= 0) || isinf(c->gamma) || !(c->alpha <= 1))
            return mlic_fail(MLIC_ERR_INVALID_ARG,
                             "loss focal: gamma = %g, alpha = %g. HINT: gamma >= 0, alpha in [0, 1] "
                             "or negative for none", c->gamma, c->alpha);
        return MLIC_OK;
    case MLIC_LOSS_ASL:
        if (!(c->gamma_neg >= 0) || !(c->gamma_pos >= 0) || isinf(c->gamma_neg) ||
            isinf(c->gamma_pos) || !(c->clip < 1) || !(c->eps > 0) || !(c->eps < 1))
            return mlic_fail(MLIC_ERR_INVALID_ARG,
                             "loss asl: gamma_neg = %g, gamma_pos = %g, clip = %g, eps = %g. HINT: "
                             "gammas >= 0, clip < 1, eps in (0, 1)", c->gamma_neg, c->gamma_pos,
                             c->clip, c->eps);
        return MLIC_OK;
    }
    return mlic_fail(MLIC_ERR_INVALID_ARG, "loss kind %d is unknown", (int)c->kind);
}

static double divisor(const mlic_loss_cfg *c, int n, int k)
{
    mlic_reduction r = c->reduction;
    if (r == MLIC_REDUCE_DEFAULT)
        r = c->kind == MLIC_LOSS_ASL ? MLIC_REDUCE_BATCH_MEAN : MLIC_REDUCE_MEAN;
    switch (r) {
    case MLIC_REDUCE_MEAN: return (double)n * k;
    case MLIC_REDUCE_BATCH_MEAN: return n;
    default: return 1.0;
    }
}

mlic_status mlic_loss_compute(double *loss, float *grad, const float *logits, const float *targets,
                              int n, int k, const mlic_loss_cfg *cfg)
{
    if (!loss || !logits || !targets || !cfg || n <= 0 || k <= 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "loss: needs logits, targets and a config for "
                         "n = %d > 0 rows of k = %d > 0 classes", n, k);
    if ((unsigned)cfg->reduction > MLIC_REDUCE_SUM)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "loss: reduction %d is unknown", (int)cfg->reduction);
    mlic_status st = check_cfg(cfg, k);
    if (st != MLIC_OK)
        return st;
    for (size_t i = 0; i < (size_t)n * k; i++) {
        if (!isfinite(logits[i]))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "loss: logit (%zu, %zu) is %g. HINT: training "
                             "diverged; lower the learning rate", i / k, i % k, logits[i]);
        if (!(targets[i] >= 0 && targets[i] <= 1))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "loss: target (%zu, %zu) is %g, not in [0, 1]",
                             i / k, i % k, targets[i]);
    }
    double scale = 1.0 / divisor(cfg, n, k), total = 0;
    for (size_t i = 0; i < (size_t)n * k; i++) {
        double x = logits[i], t = targets[i], d, l;
        switch (cfg->kind) {
        case MLIC_LOSS_BCE:
            l = bce_elem(&d, x, t, cfg->pos_weight ? cfg->pos_weight[i % k] : 1.0);
            break;
        case MLIC_LOSS_FOCAL: l = focal_elem(&d, x, t, cfg); break;
        default: l = asl_elem(&d, x, t, cfg); break;
        }
        total += l;
        if (grad)
            grad[i] = (float)(d * scale);
    }
    *loss = total * scale;
    return MLIC_OK;
}
