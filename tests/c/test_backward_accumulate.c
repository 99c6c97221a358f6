/* The training kernels' contracts that the torch comparison (tests/py/test_backward.py) cannot
 * see: every gradient accumulates, so running a backward twice from zero doubles it; and the
 * results are bit-identical whatever the number of OpenMP threads. The exception, in place
 * (dx == dy: the input's gradient replaces dy), gives what accumulating into zeros gives. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/kernels_train.h"

static float *randn(mlic_rng *r, size_t count)
{
    float *a = malloc(count * sizeof(float));
    for (size_t i = 0; i < count; i++)
        a[i] = (float)mlic_rng_range(r, -1.0, 1.0);
    return a;
}

static float *zeros(size_t count)
{
    return calloc(count ? count : 1, sizeof(float));
}

/* twice[i] must be 2 * once[i] up to float rounding: the second call adds its terms onto the
 * first call's sums, in a different rounding sequence. */
static void check_doubled(const float *twice, const float *once, size_t count, const char *what)
{
    int bad = 0;
    double scale = 0.0;
    for (size_t i = 0; i < count; i++)
        scale = fmax(scale, fabs(once[i]));
    CHECK(scale > 0.0, "%s: the gradient is all zero, nothing was tested", what);
    for (size_t i = 0; i < count && !bad; i++) {
        double want = 2.0 * once[i];
        if (fabs(twice[i] - want) > 1e-5 * (fabs(want) + scale)) {
            CHECK(0, "%s[%zu]: twice %g, once %g", what, i, twice[i], once[i]);
            bad = 1;
        }
    }
}

typedef struct {
    int n, cin, h, w, cout, k, stride, pad, groups;
    const char *name;
} conv_case;

static const conv_case conv_cases[] = {
    {2, 3, 13, 13, 8, 7, 2, 3, 1, "stem 7x7/2"},
    {2, 8, 6, 6, 12, 3, 1, 1, 1, "3x3/1"},
    {2, 16, 23, 23, 8, 1, 1, 0, 1, "1x1 in place"},
    {2, 16, 5, 5, 8, 1, 1, 0, 1, "1x1 small map"},
    {8, 4, 10, 11, 8, 3, 1, 1, 1, "samples batched 5 + 3"},
    {2, 8, 6, 6, 16, 1, 2, 0, 1, "1x1/2"},
    {2, 12, 7, 7, 12, 3, 2, 1, 12, "depthwise 3x3/2"},
    {2, 8, 5, 5, 12, 3, 1, 1, 4, "grouped"},
};

static mlic_conv_geom conv_geom(const conv_case *c)
{
    return mlic_conv_geom_make(c->n, c->cin, c->h, c->w, c->cout, c->k, c->stride, c->pad,
                               c->groups);
}

static void conv_run(const conv_case *c, float *dx, float *dw, float *db, const float *x,
                     const float *wt, const float *dy, int calls)
{
    mlic_conv_geom g = conv_geom(c);
    float *work = zeros(mlic_conv2d_backward_workspace_floats(&g));
    for (int i = 0; i < calls; i++)
        mlic_conv2d_backward(dx, dw, db, work, x, wt, dy, &g);
    free(work);
}

static void test_conv(mlic_rng *r, const conv_case *c)
{
    mlic_conv_geom g = conv_geom(c);
    size_t nx = (size_t)c->n * c->cin * c->h * c->w;
    size_t nw = (size_t)c->cout * (c->cin / c->groups) * c->k * c->k;
    size_t ny = (size_t)c->n * c->cout * g.ho * g.wo;
    float *x = randn(r, nx), *wt = randn(r, nw), *dy = randn(r, ny);
    float *dx1 = zeros(nx), *dw1 = zeros(nw), *db1 = zeros(c->cout);
    float *dx2 = zeros(nx), *dw2 = zeros(nw), *db2 = zeros(c->cout);
    conv_run(c, dx1, dw1, db1, x, wt, dy, 1);
    conv_run(c, dx2, dw2, db2, x, wt, dy, 2);
    check_doubled(dw2, dw1, nw, c->name);
    check_doubled(dx2, dx1, nx, c->name);
    check_doubled(db2, db1, c->cout, c->name);

    /* Skipping dx leaves the weight gradient unchanged. */
    float *dw_nodx = zeros(nw);
    conv_run(c, NULL, dw_nodx, NULL, x, wt, dy, 1);
    CHECK(memcmp(dw_nodx, dw1, nw * sizeof(float)) == 0, "%s: dw differs without dx", c->name);

    /* One thread and several give the same bits. */
    float *dxt = zeros(nx), *dwt = zeros(nw), *dbt = zeros(c->cout);
    int threads = omp_get_max_threads();
    omp_set_num_threads(threads > 1 ? 1 : 3);
    conv_run(c, dxt, dwt, dbt, x, wt, dy, 1);
    omp_set_num_threads(threads);
    CHECK(memcmp(dxt, dx1, nx * sizeof(float)) == 0 && memcmp(dwt, dw1, nw * sizeof(float)) == 0 &&
              memcmp(dbt, db1, c->cout * sizeof(float)) == 0,
          "%s: result depends on the thread count", c->name);
    free(x), free(wt), free(dy), free(dx1), free(dw1), free(db1), free(dx2), free(dw2), free(db2);
    free(dw_nodx), free(dxt), free(dwt), free(dbt);
}

static void test_batchnorm(mlic_rng *r)
{
    int n = 3, c = 5, h = 4, w = 3;
    size_t nx = (size_t)n * c * h * w;
    float *x = randn(r, nx), *dy = randn(r, nx), *gamma = randn(r, c), *beta = randn(r, c);
    float *y = zeros(nx), *mean = zeros(c), *invstd = zeros(c), *rm = zeros(c), *rv = zeros(c);
    CHECK(mlic_batchnorm_forward_train(y, mean, invstd, NULL, NULL, rm, rv, x, gamma, beta, n, c, h * w,
                                       1e-5f, 0.1f) == MLIC_OK, "bn forward: %s", mlic_errmsg());
    float *dx1 = zeros(nx), *dg1 = zeros(c), *db1 = zeros(c);
    float *dx2 = zeros(nx), *dg2 = zeros(c), *db2 = zeros(c);
    mlic_batchnorm_backward(dx1, dg1, db1, dy, x, mean, invstd, gamma, n, c, h * w);
    for (int i = 0; i < 2; i++)
        mlic_batchnorm_backward(dx2, dg2, db2, dy, x, mean, invstd, gamma, n, c, h * w);
    check_doubled(dx2, dx1, nx, "bn dx");
    check_doubled(dg2, dg1, c, "bn dgamma");
    check_doubled(db2, db1, c, "bn dbeta");

    float *m1 = zeros(c), *is1 = zeros(c);
    mlic_status s = mlic_batchnorm_forward_train(y, m1, is1, NULL, NULL, rm, rv, x, gamma, beta, 1, c, 1,
                                                 1e-5f, 0.1f);
    CHECK(s == MLIC_ERR_INVALID_ARG && strstr(mlic_errmsg(), "batch") != NULL,
          "bn with one value per channel: status %d, message '%s'", (int)s, mlic_errmsg());
    free(x), free(dy), free(gamma), free(beta), free(y), free(mean), free(invstd), free(rm);
    free(rv), free(dx1), free(dg1), free(db1), free(dx2), free(dg2), free(db2), free(m1), free(is1);
}

static void test_linear(mlic_rng *r)
{
    int n = 4, c = 37, k = 6;
    float *x = randn(r, (size_t)n * c), *wt = randn(r, (size_t)k * c), *dy = randn(r, (size_t)n * k);
    float *dx1 = zeros((size_t)n * c), *dw1 = zeros((size_t)k * c), *db1 = zeros(k);
    float *dx2 = zeros((size_t)n * c), *dw2 = zeros((size_t)k * c), *db2 = zeros(k);
    mlic_linear_backward(dx1, dw1, db1, x, wt, dy, n, c, k);
    for (int i = 0; i < 2; i++)
        mlic_linear_backward(dx2, dw2, db2, x, wt, dy, n, c, k);
    check_doubled(dx2, dx1, (size_t)n * c, "linear dx");
    check_doubled(dw2, dw1, (size_t)k * c, "linear dw");
    check_doubled(db2, db1, k, "linear db");
    free(x), free(wt), free(dy), free(dx1), free(dw1), free(db1), free(dx2), free(dw2), free(db2);
}

static void test_elementwise_and_pools(mlic_rng *r)
{
    int n = 2, c = 3, h = 7, w = 7;
    mlic_pool_geom pg = mlic_pool_geom_make(n, c, h, w, 3, 2, 1);
    size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c * pg.ho * pg.wo;
    float *x = randn(r, nx), *dyx = randn(r, nx), *dy = randn(r, ny), *dyc = randn(r, (size_t)n * c);
    float *once = zeros(nx), *twice = zeros(nx);
    mlic_maxpool2d_backward(once, dy, x, &pg);
    for (int i = 0; i < 2; i++)
        mlic_maxpool2d_backward(twice, dy, x, &pg);
    check_doubled(twice, once, nx, "maxpool dx");

    memset(once, 0, nx * sizeof(float)), memset(twice, 0, nx * sizeof(float));
    mlic_global_avgpool_backward(once, dyc, n, c, h * w);
    for (int i = 0; i < 2; i++)
        mlic_global_avgpool_backward(twice, dyc, n, c, h * w);
    check_doubled(twice, once, nx, "global avgpool dx");

    memset(once, 0, nx * sizeof(float)), memset(twice, 0, nx * sizeof(float));
    mlic_relu_backward(once, dyx, x, nx);
    mlic_relu6_backward(once, dyx, x, nx);
    mlic_add_backward(once, dyx, nx);
    for (int i = 0; i < 2; i++) {
        mlic_relu_backward(twice, dyx, x, nx);
        mlic_relu6_backward(twice, dyx, x, nx);
        mlic_add_backward(twice, dyx, nx);
    }
    check_doubled(twice, once, nx, "relu + relu6 + add dx");

    uint8_t *mask = malloc(nx);
    float *y = zeros(nx);
    mlic_rng dr;
    mlic_rng_init(&dr, 5, 0);
    mlic_dropout_forward_train(y, mask, x, nx, 0.3f, &dr);
    memset(once, 0, nx * sizeof(float)), memset(twice, 0, nx * sizeof(float));
    mlic_dropout_backward(once, dyx, mask, nx, 0.3f);
    for (int i = 0; i < 2; i++)
        mlic_dropout_backward(twice, dyx, mask, nx, 0.3f);
    check_doubled(twice, once, nx, "dropout dx");
    free(x), free(dyx), free(dy), free(dyc), free(once), free(twice), free(mask), free(y);
}

static void check_same(const float *got, const float *want, size_t count, const char *what)
{
    CHECK(!memcmp(got, want, count * sizeof(float)), "%s: in place differs from into zeros",
          what);
}

static void test_in_place(mlic_rng *r)
{
    int n = 3, c = 5, hw = 12;
    size_t nx = (size_t)n * c * hw;
    float *x = randn(r, nx), *dy = randn(r, nx), *gamma = randn(r, c), *beta = randn(r, c);
    float *y = zeros(nx), *st = zeros(4 * (size_t)c), *rm = zeros(c), *rv = zeros(c);
    float *want = zeros(nx), *dg = zeros(c), *db = zeros(c), *inplace = malloc(nx * sizeof(float));
    for (size_t i = 0; i < nx; i++)
        y[i] = x[i] > 0.0f ? (x[i] < 6.0f ? x[i] : 6.0f) : 0.0f;
    mlic_relu_backward(want, dy, y, nx);
    memcpy(inplace, dy, nx * sizeof(float));
    mlic_relu_backward(inplace, inplace, y, nx);
    check_same(inplace, want, nx, "relu");
    memset(want, 0, nx * sizeof(float));
    mlic_relu6_backward(want, dy, y, nx);
    memcpy(inplace, dy, nx * sizeof(float));
    mlic_relu6_backward(inplace, inplace, y, nx);
    check_same(inplace, want, nx, "relu6");

    CHECK(mlic_batchnorm_forward_train(y, st, st + c, NULL, NULL, rm, rv, x, gamma, beta, n, c,
                                       hw, 1e-5f, 0.1f) == MLIC_OK, "%s", mlic_errmsg());
    memset(want, 0, nx * sizeof(float));
    mlic_batchnorm_backward(want, dg, db, dy, x, st, st + c, gamma, n, c, hw);
    memcpy(inplace, dy, nx * sizeof(float));
    mlic_batchnorm_backward(inplace, dg, db, inplace, x, st, st + c, gamma, n, c, hw);
    check_same(inplace, want, nx, "batch norm");
    double sum_dy[5], sum_dy_xhat[5];
    mlic_batchnorm_backward_sums(sum_dy, sum_dy_xhat, dy, x, st, st + c, n, c, hw);
    memcpy(inplace, dy, nx * sizeof(float));
    mlic_batchnorm_backward_apply(inplace, inplace, x, st, st + c, gamma, sum_dy, sum_dy_xhat,
                                  (double)n * hw, n, c, hw);
    check_same(inplace, want, nx, "batch norm (synced steps)");
    free(x), free(dy), free(gamma), free(beta), free(y), free(st), free(rm), free(rv);
    free(want), free(dg), free(db), free(inplace);
}

int main(void)
{
    mlic_rng r;
    mlic_rng_init(&r, 42, 0);
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        test_conv(&r, &conv_cases[i]);
    test_batchnorm(&r);
    test_linear(&r);
    test_elementwise_and_pools(&r);
    test_in_place(&r);
    CHECK_DONE();
}
