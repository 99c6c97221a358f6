#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct mlic_optim {
    mlic_optim_cfg cfg;
    size_t n;
    uint8_t *roles;   /* (n) */
    float *state;     /* (nstate) */
    size_t nstate;
    int64_t steps;
    double grad_norm;
};

/* Below this many elements a step is not worth waking threads for. */
#define PARALLEL_MIN 32768

mlic_optim_cfg mlic_optim_defaults(mlic_optim_kind kind)
{
    mlic_optim_cfg c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    if (kind == MLIC_OPTIM_ADAMW) {
        c.beta1 = 0.9f;
        c.beta2 = 0.999f;
        c.eps = 1e-8f;
        c.weight_decay = 0.01f;
    }
    return c;
}

mlic_status mlic_optim_parse_kind(mlic_optim_kind *out, const char *name)
{
    if (name && strcmp(name, "sgd") == 0)
        *out = MLIC_OPTIM_SGD;
    else if (name && strcmp(name, "adamw") == 0)
        *out = MLIC_OPTIM_ADAMW;
    else
        return mlic_fail(MLIC_ERR_INVALID_ARG, "optimizer \"%s\" is unknown. HINT: use sgd or adamw",
                         name ? name : "(null)");
    return MLIC_OK;
}

static int in01(float v) { return v >= 0 && v < 1; }

static mlic_status check_cfg(const mlic_optim_cfg *c)
{
    if (!(c->weight_decay >= 0) || isinf(c->weight_decay) || !(c->max_grad_norm >= 0) ||
        isinf(c->max_grad_norm))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "optimizer: weight_decay = %g, max_grad_norm = %g. "
                         "HINT: both finite and >= 0 (max_grad_norm 0 = no clipping)",
                         c->weight_decay, c->max_grad_norm);
    if (c->kind == MLIC_OPTIM_SGD) {
        if (!in01(c->momentum) || !(c->dampening >= 0 && c->dampening <= 1))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "optimizer sgd: momentum = %g, dampening = %g. "
                             "HINT: momentum in [0, 1), dampening in [0, 1]", c->momentum,
                             c->dampening);
        if (c->nesterov && (c->momentum == 0 || c->dampening != 0))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "optimizer sgd: nesterov needs momentum > 0 and "
                             "dampening 0 (momentum = %g, dampening = %g)", c->momentum,
                             c->dampening);
        return MLIC_OK;
    }
    if (c->kind == MLIC_OPTIM_ADAMW) {
        if (!in01(c->beta1) || !in01(c->beta2) || !(c->eps > 0) || isinf(c->eps))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "optimizer adamw: betas = (%g, %g), eps = %g. "
                             "HINT: betas in [0, 1), eps > 0", c->beta1, c->beta2, c->eps);
        return MLIC_OK;
    }
    return mlic_fail(MLIC_ERR_INVALID_ARG, "optimizer kind %d is unknown", (int)c->kind);
}

mlic_status mlic_optim_create(mlic_optim **out, const mlic_optim_cfg *cfg, size_t n,
                              const uint8_t *roles)
{
    *out = NULL;
    if (!cfg || n == 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "optimizer: needs a config and n > 0 weights");
    mlic_status st = check_cfg(cfg);
    if (st != MLIC_OK)
        return st;
    if (roles)
        for (size_t i = 0; i < n; i++)
            if (roles[i] > MLIC_OPTIM_FROZEN)
                return mlic_fail(MLIC_ERR_INVALID_ARG, "optimizer: roles[%zu] = %d is not one of "
                                 "MLIC_OPTIM_NO_DECAY, _DECAY, _FROZEN", i, roles[i]);
    mlic_optim *o = calloc(1, sizeof *o);
    if (!o)
        return mlic_fail(MLIC_ERR_NOMEM, "optimizer: out of memory");
    o->cfg = *cfg;
    o->n = n;
    o->nstate = cfg->kind == MLIC_OPTIM_ADAMW ? 2 * n : cfg->momentum != 0 ? n : 0;
    o->roles = malloc(n);
    o->state = o->nstate ? calloc(o->nstate, sizeof *o->state) : NULL;
    if (!o->roles || (o->nstate && !o->state)) {
        mlic_optim_destroy(o);
        return mlic_fail(MLIC_ERR_NOMEM, "optimizer: out of memory for %zu weights", n);
    }
    if (roles)
        memcpy(o->roles, roles, n);
    else
        memset(o->roles, MLIC_OPTIM_DECAY, n);
    *out = o;
    return MLIC_OK;
}

void mlic_optim_destroy(mlic_optim *o)
{
    if (!o)
        return;
    free(o->roles);
    free(o->state);
    free(o);
}

static double grad_sq_norm(const mlic_optim *o, const float *g)
{
    double sum = 0;
    const uint8_t *roles = o->roles;
#pragma omp parallel for schedule(static) reduction(+ : sum) if (o->n >= PARALLEL_MIN)
    for (size_t i = 0; i < o->n; i++)
        if (roles[i] != MLIC_OPTIM_FROZEN)
            sum += (double)g[i] * g[i];
    return sum;
}

static void sgd_step(mlic_optim *o, float *w, const float *g, float lr, float scale)
{
    const mlic_optim_cfg *c = &o->cfg;
    const uint8_t *roles = o->roles;
    float *buf = o->state;
    int first = o->steps == 0;
#pragma omp parallel for schedule(static) if (o->n >= PARALLEL_MIN)
    for (size_t i = 0; i < o->n; i++) {
        if (roles[i] == MLIC_OPTIM_FROZEN)
            continue;
        float d = scale == 1.0f ? g[i] : g[i] * scale;
        if (roles[i] == MLIC_OPTIM_DECAY && c->weight_decay != 0)
            d += c->weight_decay * w[i];
        if (buf) {
            buf[i] = first ? d : c->momentum * buf[i] + (1.0f - c->dampening) * d;
            d = c->nesterov ? d + c->momentum * buf[i] : buf[i];
        }
        w[i] -= lr * d;
    }
}

static void adamw_step(mlic_optim *o, float *w, const float *g, double lr, float scale)
{
    const mlic_optim_cfg *c = &o->cfg;
    const uint8_t *roles = o->roles;
    float *m = o->state, *v = o->state + o->n;
    double t = (double)(o->steps + 1);
    float decay = (float)(1.0 - lr * c->weight_decay);
    float step_size = (float)(lr / (1.0 - pow(c->beta1, t)));
    float bc2_sqrt = (float)sqrt(1.0 - pow(c->beta2, t));
    float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
#pragma omp parallel for schedule(static) if (o->n >= PARALLEL_MIN)
    for (size_t i = 0; i < o->n; i++) {
        if (roles[i] == MLIC_OPTIM_FROZEN)
            continue;
        float gi = scale == 1.0f ? g[i] : g[i] * scale;
        if (roles[i] == MLIC_OPTIM_DECAY)
            w[i] *= decay;
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        w[i] -= step_size * (m[i] / (sqrtf(v[i]) / bc2_sqrt + eps));
    }
}

mlic_status mlic_optim_step(mlic_optim *o, float *w, const float *g, double lr)
{
    if (!o || !w || !g)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "optimizer step: needs the optimizer, weights and "
                         "gradients");
    if (!(lr >= 0) || isinf(lr))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "optimizer step: learning rate %g is not a finite "
                         "number >= 0", lr);
    double norm = sqrt(grad_sq_norm(o, g));
    if (!isfinite(norm))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "optimizer step %lld: the gradient has a NaN or "
                         "infinite value (norm %g); weights left unchanged. HINT: lower the "
                         "learning rate or clip the gradient", (long long)o->steps + 1, norm);
    float scale = 1.0f;
    if (o->cfg.max_grad_norm > 0) {
        double coef = o->cfg.max_grad_norm / (norm + 1e-6);
        if (coef < 1.0)
            scale = (float)coef;
    }
    if (o->cfg.kind == MLIC_OPTIM_SGD)
        sgd_step(o, w, g, (float)lr, scale);
    else
        adamw_step(o, w, g, lr, scale);
    o->steps++;
    o->grad_norm = norm;
    return MLIC_OK;
}

double mlic_optim_grad_norm(const mlic_optim *o) { return o->grad_norm; }

mlic_status mlic_optim_set_momentum(mlic_optim *o, float momentum)
{
    if (o->cfg.kind == MLIC_OPTIM_ADAMW) {
        if (!in01(momentum))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "optimizer adamw: beta1 = %g is not in [0, 1)",
                             momentum);
        o->cfg.beta1 = momentum;
        return MLIC_OK;
    }
    if (!in01(momentum) || (!o->state && momentum != 0) || (o->cfg.nesterov && momentum == 0))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "optimizer sgd: cannot set momentum %g%s", momentum,
                         o->state ? "" : ": created without momentum. HINT: create it with "
                         "momentum > 0 to vary it");
    o->cfg.momentum = momentum;
    return MLIC_OK;
}

float *mlic_optim_state(mlic_optim *o, size_t *count)
{
    *count = o->nstate;
    return o->state;
}

int64_t mlic_optim_step_count(const mlic_optim *o) { return o->steps; }

void mlic_optim_set_step_count(mlic_optim *o, int64_t steps) { o->steps = steps < 0 ? 0 : steps; }

void mlic_optim_roles_from_graph(uint8_t *roles, const mlic_graph *g)
{
    memset(roles, MLIC_OPTIM_FROZEN, g->nweights);
    for (int p = 0; p < g->nparams; p++) {
        const mlic_param *pp = &g->params[p];
        uint8_t r = !pp->trainable ? MLIC_OPTIM_FROZEN
                    : pp->no_decay ? MLIC_OPTIM_NO_DECAY
                                   : MLIC_OPTIM_DECAY;
        memset(roles + pp->offset, r, pp->numel);
    }
}
