#include "train/mix.h"

#include <math.h>
#include <string.h>

#include "core/error.h"

mlic_status mlic_mix_cfg_check(const mlic_mix_cfg *c)
{
    if (!(c->mixup_alpha >= 0) || !isfinite(c->mixup_alpha))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "--mixup %g: alpha must be a finite number >= 0 "
                         "(0 turns mixup off). HINT: 0.2 to 1 is usual", c->mixup_alpha);
    if (!(c->cutmix_alpha >= 0) || !isfinite(c->cutmix_alpha))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "--cutmix %g: alpha must be a finite number >= 0 "
                         "(0 turns CutMix off). HINT: 1 is usual", c->cutmix_alpha);
    return MLIC_OK;
}

int mlic_mix_enabled(const mlic_mix_cfg *c)
{
    return c->mixup_alpha > 0 || c->cutmix_alpha > 0;
}

static int clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

void mlic_mix_sample(mlic_mix_params *p, const mlic_mix_cfg *c, int size, mlic_rng *r)
{
    memset(p, 0, sizeof *p);
    p->kind = MLIC_MIX_NONE;
    p->lambda = p->lambda_drawn = 1.0;
    if (!mlic_mix_enabled(c))
        return;
    if (c->mixup_alpha > 0 && c->cutmix_alpha > 0)
        p->kind = mlic_rng_uniform(r) < 0.5 ? MLIC_MIX_CUTMIX : MLIC_MIX_MIXUP;
    else
        p->kind = c->cutmix_alpha > 0 ? MLIC_MIX_CUTMIX : MLIC_MIX_MIXUP;
    const double alpha = p->kind == MLIC_MIX_CUTMIX ? c->cutmix_alpha : c->mixup_alpha;
    p->lambda = p->lambda_drawn = mlic_rng_beta(r, alpha, alpha);
    if (p->kind != MLIC_MIX_CUTMIX)
        return;
    const int cut = (int)(size * sqrt(1.0 - p->lambda_drawn));
    p->cy = (int)mlic_rng_below(r, (uint64_t)size);
    p->cx = (int)mlic_rng_below(r, (uint64_t)size);
    p->top = clamp(p->cy - cut / 2, 0, size);
    p->left = clamp(p->cx - cut / 2, 0, size);
    p->height = clamp(p->cy + cut / 2, 0, size) - p->top;
    p->width = clamp(p->cx + cut / 2, 0, size) - p->left;
    p->lambda = 1.0 - (double)p->height * p->width / ((double)size * size);
}

void mlic_mix_apply(float *images_out, float *targets_out, const float *images,
                    const float *targets, int n, int size, int k, const mlic_mix_params *p)
{
    const size_t plane = (size_t)size * size, per = 3 * plane;
    const float a = (float)p->lambda, b = (float)(1.0 - p->lambda);
    for (int i = 0; i < n; i++) {
        const int j = n - 1 - i;
        float *out = images_out + (size_t)i * per;
        const float *x = images + (size_t)i * per, *y = images + (size_t)j * per;
        if (p->kind == MLIC_MIX_MIXUP) {
            for (size_t e = 0; e < per; e++)
                out[e] = a * x[e] + b * y[e];
        } else {
            memcpy(out, x, per * sizeof *out);
        }
        if (p->kind == MLIC_MIX_CUTMIX)
            for (int c = 0; c < 3; c++)
                for (int row = p->top; row < p->top + p->height; row++) {
                    const size_t at = (size_t)c * plane + (size_t)row * size + (size_t)p->left;
                    memcpy(out + at, y + at, (size_t)p->width * sizeof *out);
                }
        /* In double, rounded once: two equal targets stay exactly themselves (0 or 1), where
         * a + b in float may round above 1. */
        const float *ti = targets + (size_t)i * k, *tj = targets + (size_t)j * k;
        for (int c = 0; c < k; c++)
            targets_out[(size_t)i * k + c] =
                (float)(p->lambda * ti[c] + (1.0 - p->lambda) * tj[c]);
    }
}
