/* Loss gradients against central finite differences of the loss itself, for every loss and
 * reduction, on moderate logits and soft targets (tests/py/test_loss.py compares values and
 * gradients with PyTorch, including the extremes). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train/loss.h"

#define N 3
#define K 4

static double loss_at(const float *x, const float *t, const mlic_loss_cfg *c)
{
    double l = NAN;
    if (mlic_loss_compute(&l, NULL, x, t, N, K, c) != MLIC_OK)
        CHECK(0, "%s", mlic_errmsg());
    return l;
}

static void check_gradient(const mlic_loss_cfg *c, const char *what)
{
    float x[N * K], t[N * K], g[N * K];
    for (int i = 0; i < N * K; i++) {
        x[i] = (float)((i * 37 % 23) - 11) / 3.0f; /* -3.7 .. 4 */
        t[i] = (float)((i * 7) % 5) / 4.0f;        /* 0, .25, .5, .75, 1 */
    }
    double l;
    CHECK(mlic_loss_compute(&l, g, x, t, N, K, c) == MLIC_OK, "%s: %s", what, mlic_errmsg());
    for (int i = 0; i < N * K; i++) {
        const float h = 1e-2f;
        float save = x[i];
        x[i] = save + h;
        double up = loss_at(x, t, c);
        x[i] = save - h;
        double down = loss_at(x, t, c);
        x[i] = save;
        double fd = (up - down) / (2.0 * h);
        CHECK(fabs(fd - g[i]) <= 2e-4 * (1 + fabs(fd)), "%s: d/dx[%d] = %g, finite difference %g",
              what, i, g[i], fd);
    }
}

int main(void)
{
    float pos_weight[K] = {0.5f, 1, 2, 4};
    for (int r = MLIC_REDUCE_DEFAULT; r <= MLIC_REDUCE_SUM; r++) {
        mlic_loss_cfg c = mlic_loss_defaults(MLIC_LOSS_BCE);
        c.reduction = (mlic_reduction)r;
        check_gradient(&c, "bce");
        c.pos_weight = pos_weight;
        check_gradient(&c, "bce pos_weight");
        c = mlic_loss_defaults(MLIC_LOSS_FOCAL);
        c.reduction = (mlic_reduction)r;
        check_gradient(&c, "focal");
        c.gamma = 0.5f;
        check_gradient(&c, "focal gamma 0.5");
        c = mlic_loss_defaults(MLIC_LOSS_ASL);
        c.reduction = (mlic_reduction)r;
        check_gradient(&c, "asl");
        c.clip = 0;
        check_gradient(&c, "asl no clip");
    }

    mlic_loss_kind k;
    CHECK(mlic_loss_parse_kind(&k, "asl") == MLIC_OK && k == MLIC_LOSS_ASL, "asl");
    CHECK(mlic_loss_parse_kind(&k, "ce") == MLIC_ERR_INVALID_ARG, "ce is unknown");
    mlic_loss_cfg c = mlic_loss_defaults(MLIC_LOSS_FOCAL);
    c.gamma = -1;
    float x[1] = {0}, t[1] = {1};
    double l;
    CHECK(mlic_loss_compute(&l, NULL, x, t, 1, 1, &c) == MLIC_ERR_INVALID_ARG, "negative gamma");
    CHECK(strstr(mlic_errmsg(), "gamma") != NULL, "%s", mlic_errmsg());
    CHECK_DONE();
}
