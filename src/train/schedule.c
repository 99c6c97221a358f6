#include "train/schedule.h"

#include <math.h>
#include <string.h>

#include "core/error.h"

mlic_sched_cfg mlic_sched_defaults(mlic_sched_kind kind, double lr)
{
    mlic_sched_cfg c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = lr;
    c.gamma = 0.1;
    c.pct_start = 0.3;
    c.div_factor = 25;
    c.final_div_factor = 1e4;
    c.base_momentum = 0.85;
    c.max_momentum = 0.95;
    return c;
}

mlic_status mlic_sched_parse_kind(mlic_sched_kind *out, const char *name)
{
    static const char *const names[] = {"constant", "step", "cosine", "onecycle"};
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (mlic_sched_kind)i;
            return MLIC_OK;
        }
    return mlic_fail(MLIC_ERR_INVALID_ARG, "lr schedule \"%s\" is unknown. HINT: use constant, "
                     "step, cosine or onecycle", name ? name : "(null)");
}

static int finite_pos(double v) { return v > 0 && isfinite(v); }

mlic_status mlic_sched_check(const mlic_sched_cfg *c)
{
    if (!(c->lr >= 0) || !isfinite(c->lr))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "lr schedule: lr %g is not a finite number >= 0",
                         c->lr);
    if (c->warmup_steps < 0 || !(c->warmup_factor >= 0 && c->warmup_factor <= 1))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "lr schedule: warm-up of %lld steps from factor %g. "
                         "HINT: steps >= 0, factor in [0, 1]", (long long)c->warmup_steps,
                         c->warmup_factor);
    int64_t t = c->total_steps - c->warmup_steps;
    switch (c->kind) {
    case MLIC_SCHED_CONSTANT: return MLIC_OK;
    case MLIC_SCHED_STEP:
        if (c->step_size <= 0 || !(c->gamma >= 0) || !isfinite(c->gamma))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "lr schedule step: step_size %lld, gamma %g. "
                             "HINT: step_size > 0, gamma >= 0", (long long)c->step_size, c->gamma);
        return MLIC_OK;
    case MLIC_SCHED_COSINE:
        if (t <= 0 || !(c->min_lr >= 0) || !(c->min_lr <= c->lr))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "lr schedule cosine: %lld total steps, %lld of "
                             "warm-up, min_lr %g, lr %g. HINT: total steps > warm-up steps, "
                             "0 <= min_lr <= lr", (long long)c->total_steps,
                             (long long)c->warmup_steps, c->min_lr, c->lr);
        return MLIC_OK;
    case MLIC_SCHED_ONECYCLE:
        if (!finite_pos(c->div_factor) || !finite_pos(c->final_div_factor) ||
            !(c->pct_start > 0 && c->pct_start < 1) || t <= 0 || c->pct_start * (double)t <= 1 ||
            c->pct_start * (double)t >= (double)t)
            return mlic_fail(MLIC_ERR_INVALID_ARG, "lr schedule onecycle: %lld steps after "
                             "warm-up, pct_start %g, div_factor %g, final_div_factor %g. HINT: both "
                             "phases need at least one step (pct_start * steps > 1) and the "
                             "factors must be > 0", (long long)t, c->pct_start, c->div_factor,
                             c->final_div_factor);
        if (!(c->base_momentum >= 0 && c->base_momentum <= c->max_momentum &&
              c->max_momentum < 1))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "lr schedule onecycle: momentum range %g..%g. "
                             "HINT: 0 <= base_momentum <= max_momentum < 1 (both 0: no cycling)",
                             c->base_momentum, c->max_momentum);
        return MLIC_OK;
    }
    return mlic_fail(MLIC_ERR_INVALID_ARG, "lr schedule kind %d is unknown", (int)c->kind);
}

/* OneCycleLR's cos annealing from start (pct 0) to end (pct 1). */
static double anneal_cos(double start, double end, double pct)
{
    return end + (start - end) / 2.0 * (cos(M_PI * pct) + 1.0);
}

/* OneCycleLR's two phases at step t of n: returns the value for the (start, peak, end) triple. */
static double one_cycle(const mlic_sched_cfg *c, int64_t t, int64_t n, double start, double peak,
                        double end)
{
    double phase1_end = c->pct_start * (double)n - 1.0, phase2_end = (double)n - 1.0;
    double s = (double)(t < n ? t : n - 1);
    if (s <= phase1_end)
        return anneal_cos(start, peak, s / phase1_end);
    return anneal_cos(peak, end, (s - phase1_end) / (phase2_end - phase1_end));
}

static double main_lr(const mlic_sched_cfg *c, int64_t t)
{
    int64_t n = c->total_steps - c->warmup_steps;
    switch (c->kind) {
    case MLIC_SCHED_STEP: return c->lr * pow(c->gamma, (double)(t / c->step_size));
    case MLIC_SCHED_COSINE:
        if (t >= n)
            return c->min_lr;
        return c->min_lr + (c->lr - c->min_lr) * (1.0 + cos(M_PI * (double)t / (double)n)) / 2.0;
    case MLIC_SCHED_ONECYCLE: {
        double initial = c->lr / c->div_factor;
        return one_cycle(c, t, n, initial, c->lr, initial / c->final_div_factor);
    }
    default: return c->lr;
    }
}

double mlic_sched_lr(const mlic_sched_cfg *c, int64_t step)
{
    if (step < 0)
        step = 0;
    if (step < c->warmup_steps) {
        const double f = c->warmup_factor;
        return main_lr(c, 0) * (f + (1.0 - f) * (double)(step + 1) / (double)c->warmup_steps);
    }
    return main_lr(c, step - c->warmup_steps);
}

double mlic_sched_momentum(const mlic_sched_cfg *c, int64_t step)
{
    if (c->kind != MLIC_SCHED_ONECYCLE || (c->base_momentum == 0 && c->max_momentum == 0))
        return -1;
    int64_t t = step < c->warmup_steps ? 0 : step - c->warmup_steps;
    return one_cycle(c, t, c->total_steps - c->warmup_steps, c->max_momentum, c->base_momentum,
                     c->max_momentum);
}
