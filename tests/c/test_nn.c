/* Kernel and graph tests: every kernel against a naive loop written straight from the op's
 * definition, and folding against the unfolded graph on random weights. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "check.h"
#include "nn/graph.h"
#include "nn/graph_builder.h"
#include "nn/kernels.h"
#include "test_rng.h"

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        m = d > m || d != d ? d : m;
    }
    return m;
}

static float act_ref(double v, mlic_act act)
{
    if (act == MLIC_ACT_RELU)
        return (float)(v > 0 ? v : 0);
    if (act == MLIC_ACT_RELU6)
        return (float)(v > 0 ? (v < 6 ? v : 6) : 0);
    return (float)v;
}

/* Direct definition of a grouped 2-D convolution with zero padding. */
static void conv_naive(float *out, const float *in, const float *w, const float *bias,
                       const float *add, mlic_act act, const mlic_conv_geom *g)
{
    const int cin_g = g->cin / g->groups, cout_g = g->cout / g->groups, k = g->kernel;
    for (int n = 0; n < g->n; n++)
        for (int co = 0; co < g->cout; co++)
            for (int oy = 0; oy < g->ho; oy++)
                for (int ox = 0; ox < g->wo; ox++) {
                    double sum = bias ? bias[co] : 0;
                    const int grp = co / cout_g;
                    for (int ci = 0; ci < cin_g; ci++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                const int iy = oy * g->stride - g->pad + ky;
                                const int ix = ox * g->stride - g->pad + kx;
                                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                                    continue;
                                sum += (double)in[(((size_t)n * g->cin + grp * cin_g + ci) * g->h + iy) * g->w + ix] *
                                       w[(((size_t)co * cin_g + ci) * k + ky) * k + kx];
                            }
                    const size_t o = (((size_t)n * g->cout + co) * g->ho + oy) * g->wo + ox;
                    if (add)
                        sum += add[o];
                    out[o] = act_ref(sum, act);
                }
}

static void test_conv(void)
{
    static const struct {
        int n, cin, h, w, cout, k, s, p, groups, bias, add;
        mlic_act act;
    } cases[] = {
        {1, 3, 17, 19, 8, 7, 2, 3, 1, 0, 0, MLIC_ACT_RELU},    /* resnet stem, odd sizes */
        {2, 16, 9, 9, 70, 3, 1, 1, 1, 1, 1, MLIC_ACT_RELU},    /* rows beyond one tile, add */
        {2, 24, 12, 10, 24, 3, 2, 1, 24, 1, 0, MLIC_ACT_RELU6}, /* depthwise, stride 2 */
        {1, 32, 7, 7, 32, 3, 1, 1, 32, 0, 1, MLIC_ACT_NONE},   /* depthwise with add */
        {2, 12, 11, 13, 20, 1, 1, 0, 1, 1, 1, MLIC_ACT_RELU},  /* pointwise: no im2col */
        {1, 12, 11, 13, 20, 1, 2, 0, 1, 0, 0, MLIC_ACT_NONE},  /* strided 1x1 (downsample) */
        {2, 8, 10, 10, 12, 3, 2, 2, 4, 1, 1, MLIC_ACT_RELU6},  /* grouped, wide padding */
        {1, 5, 70, 3, 9, 5, 1, 2, 1, 0, 0, MLIC_ACT_NONE},     /* pixels > one tile, edge tile */
    };
    rng r = {1};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const mlic_conv_geom g = mlic_conv_geom_make(cases[c].n, cases[c].cin, cases[c].h,
                                                     cases[c].w, cases[c].cout, cases[c].k,
                                                     cases[c].s, cases[c].p, cases[c].groups);
        const size_t nin = (size_t)g.n * g.cin * g.h * g.w;
        const size_t nout = (size_t)g.n * g.cout * g.ho * g.wo;
        const size_t nw = (size_t)g.cout * (g.cin / g.groups) * g.kernel * g.kernel;
        float *in = random_buf(&r, nin, -1, 1), *w = random_buf(&r, nw, -0.5f, 0.5f);
        float *bias = cases[c].bias ? random_buf(&r, (size_t)g.cout, -1, 1) : NULL;
        float *add = cases[c].add ? random_buf(&r, nout, -2, 2) : NULL;
        float *ws = malloc((mlic_conv2d_workspace_floats(&g) + 1) * sizeof(float));
        float *got = malloc(nout * sizeof(float)), *want = malloc(nout * sizeof(float));
        mlic_conv2d_forward(got, ws, in, w, bias, add, cases[c].act, &g);
        conv_naive(want, in, w, bias, add, cases[c].act, &g);
        const double d = max_abs_diff(got, want, nout);
        CHECK(d < 1e-4, "conv case %zu: max abs diff %g", c, d);
        free(in), free(w), free(bias), free(add), free(ws), free(got), free(want);
    }
}

static void test_maxpool(void)
{
    /* All-negative input: a kernel that let zero padding win would return 0 at the borders. */
    rng r = {2};
    const mlic_pool_geom g = mlic_pool_geom_make(2, 3, 9, 8, 3, 2, 1);
    CHECK(g.ho == 5 && g.wo == 4, "maxpool 9x8 k3 s2 p1 gives %dx%d, PyTorch 5x4", g.ho, g.wo);
    const size_t nin = (size_t)2 * 3 * 9 * 8, nout = (size_t)2 * 3 * g.ho * g.wo;
    float *in = random_buf(&r, nin, -5, -1), *got = malloc(nout * sizeof(float));
    mlic_maxpool2d_forward(got, in, &g);
    int bad = 0;
    for (int nc = 0; nc < 6; nc++)
        for (int oy = 0; oy < g.ho; oy++)
            for (int ox = 0; ox < g.wo; ox++) {
                float m = -INFINITY;
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        const int iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx;
                        if (iy >= 0 && iy < 9 && ix >= 0 && ix < 8 && in[(nc * 9 + iy) * 8 + ix] > m)
                            m = in[(nc * 9 + iy) * 8 + ix];
                    }
                bad += got[(nc * g.ho + oy) * g.wo + ox] != m;
            }
    CHECK(bad == 0, "%d maxpool outputs differ from the naive window max", bad);
    free(in), free(got);
}

static void test_small_kernels(void)
{
    rng r = {3};
    enum { N = 2, C = 5, HW = 6, K = 4 };
    float *x = random_buf(&r, N * C * HW, -3, 3);
    float gamma[C], beta[C], mean[C], var[C], y[N * C * HW], pooled[N * C];
    for (int c = 0; c < C; c++) {
        gamma[c] = uniform(&r, 0.5f, 2), beta[c] = uniform(&r, -1, 1);
        mean[c] = uniform(&r, -1, 1), var[c] = uniform(&r, 0.1f, 3);
    }
    mlic_batchnorm_forward_infer(y, x, gamma, beta, mean, var, 1e-5f, N, C, HW);
    double d = 0;
    for (int i = 0; i < N * C * HW; i++) {
        const int c = (i / HW) % C;
        const double want = (x[i] - mean[c]) / sqrt(var[c] + 1e-5) * gamma[c] + beta[c];
        d = fmax(d, fabs(y[i] - want));
    }
    CHECK(d < 1e-5, "batchnorm max abs diff %g", d);

    float r6[N * C * HW];
    mlic_act_forward(r6, x, MLIC_ACT_RELU6, N * C * HW);
    mlic_act_forward(y, x, MLIC_ACT_RELU, N * C * HW);
    int bad = 0;
    for (int i = 0; i < N * C * HW; i++)
        bad += y[i] != (x[i] > 0 ? x[i] : 0) || r6[i] != fminf(fmaxf(x[i], 0), 6);
    CHECK(bad == 0, "%d relu/relu6 outputs wrong", bad);

    mlic_global_avgpool_forward(pooled, x, N, C, HW);
    d = 0;
    for (int nc = 0; nc < N * C; nc++) {
        double s = 0;
        for (int i = 0; i < HW; i++)
            s += x[nc * HW + i];
        d = fmax(d, fabs(pooled[nc] - s / HW));
    }
    CHECK(d < 1e-6, "global avgpool max abs diff %g", d);

    float *w = random_buf(&r, K * C, -1, 1), bias[K], lin[N * K];
    for (int k = 0; k < K; k++)
        bias[k] = uniform(&r, -1, 1);
    mlic_linear_forward(lin, pooled, w, bias, N, C, K);
    d = 0;
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            double s = bias[k];
            for (int c = 0; c < C; c++)
                s += (double)pooled[n * C + c] * w[k * C + c];
            d = fmax(d, fabs(lin[n * K + k] - s));
        }
    CHECK(d < 1e-5, "linear max abs diff %g", d);
    free(x), free(w);
}

/* Random weights everywhere, batch norm statistics included, so folding has work to do. */
static void randomise(mlic_graph *g, rng *r)
{
    for (int p = 0; p < g->nparams; p++) {
        const mlic_param *pr = &g->params[p];
        const int is_var = strstr(pr->name, "running_var") != NULL;
        const int is_gamma = strstr(pr->name, "bn") && strstr(pr->name, ".weight");
        float lo = -0.2f, hi = 0.2f;
        if (is_var)
            lo = 0.5f, hi = 2.0f;
        else if (is_gamma)
            lo = 0.5f, hi = 1.5f;
        float *v = mlic_graph_param(g, p);
        for (size_t i = 0; i < pr->numel; i++)
            v[i] = uniform(r, lo, hi);
    }
}

static float *run_graph(const mlic_graph *g, const float *in, int n, int max_batch)
{
    void *st = NULL;
    float *out = malloc((size_t)n * g->num_classes * sizeof(float));
    mlic_status s = mlic_backend_ref.create(&st, g, max_batch, 2, MLIC_PRECISION_FP32);
    CHECK(s == MLIC_OK, "ref create on %s: %s", g->arch, mlic_errmsg());
    if (s == MLIC_OK) {
        s = mlic_backend_ref.run(st, out, in, n);
        CHECK(s == MLIC_OK, "ref run on %s: %s", g->arch, mlic_errmsg());
    }
    mlic_backend_ref.destroy(st);
    return out;
}

static double max_rel_diff(const float *a, const float *b, size_t n)
{
    double scale = 1e-6;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(b[i]));
    return max_abs_diff(a, b, n) / scale;
}

static void test_fold_arch(const char *arch, int hw)
{
    rng r = {4};
    mlic_graph *g = NULL, *f = NULL;
    CHECK(mlic_graph_build(&g, arch, 7) == MLIC_OK, "build %s: %s", arch, mlic_errmsg());
    if (!g)
        return;
    randomise(g, &r);
    CHECK(mlic_graph_infer_shapes(g, hw, hw) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_graph_fold_for_inference(&f, g) == MLIC_OK, "fold %s: %s", arch, mlic_errmsg());
    if (!f) {
        mlic_graph_free(g);
        return;
    }
    CHECK(mlic_graph_infer_shapes(f, hw, hw) == MLIC_OK, "%s", mlic_errmsg());
    /* In these archs every batch norm follows a convolution and every ReLU or residual add
     * follows a convolution (or a residual add), so only these ops remain. */
    int leftover = 0;
    for (int i = 0; i < f->nnodes; i++) {
        const mlic_op op = f->nodes[i].op;
        leftover += op != MLIC_OP_CONV && op != MLIC_OP_MAXPOOL && op != MLIC_OP_GLOBAL_AVGPOOL &&
                    op != MLIC_OP_LINEAR;
    }
    CHECK(leftover == 0, "%s: %d unfused nodes after folding", arch, leftover);
    const int n = 2;
    float *in = random_buf(&r, (size_t)n * 3 * hw * hw, -2, 2);
    float *want = run_graph(g, in, n, n), *got = run_graph(f, in, n, 3);
    const double d = max_rel_diff(got, want, (size_t)n * 7);
    CHECK(d < 1e-4, "%s: folded logits differ by %g (relative to the largest)", arch, d);
    free(in), free(want), free(got);
    mlic_graph_free(f);
    mlic_graph_free(g);
}

/* conv (with its own bias) -> bn -> relu, plus a residual add: folding must carry the conv bias
 * through the batch norm, which no supported arch exercises. */
static void test_fold_conv_bias(void)
{
    rng r = {5};
    mlic_graph_builder b;
    mlic_graph *g = NULL, *f = NULL;
    CHECK(mlic_graph_builder_init(&b, "tiny", 3) == MLIC_OK, "%s", mlic_errmsg());
    int x = mlic_graph_emit_conv(&b, "c1", 0, 3, 6, 3, 1, 1, 1, 1);
    x = mlic_graph_emit_batchnorm(&b, "b1", x, 6);
    x = mlic_graph_emit_act(&b, "r1", x, MLIC_ACT_RELU6);
    int y = mlic_graph_emit_conv(&b, "c2", x, 6, 6, 3, 1, 1, 1, 1);
    y = mlic_graph_emit_batchnorm(&b, "b2", y, 6);
    y = mlic_graph_emit_add(&b, "", x, y);
    y = mlic_graph_emit_act(&b, "r2", y, MLIC_ACT_RELU);
    y = mlic_graph_emit_global_avgpool(&b, "", y);
    y = mlic_graph_emit_linear(&b, "fc", y, 6, 3);
    CHECK(mlic_graph_builder_finish(&b, &g, y) == MLIC_OK, "%s", mlic_errmsg());
    randomise(g, &r);
    for (int p = 0; p < g->nparams; p++) /* b1/b2 are batch norms, unlike randomise's "bn" */
        if (strstr(g->params[p].name, "running_var") || !strcmp(g->params[p].name, "b1.weight"))
            for (size_t i = 0; i < g->params[p].numel; i++)
                mlic_graph_param(g, p)[i] = uniform(&r, 0.5f, 2);
    mlic_graph_infer_shapes(g, 6, 5);
    CHECK(mlic_graph_fold_for_inference(&f, g) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(f->nnodes == 4, "tiny graph folds to %d nodes, expected conv, conv, pool, linear",
          f->nnodes);
    CHECK(f->nodes[1].fused_add == f->nodes[0].out && f->nodes[1].fused_act == MLIC_ACT_RELU &&
              f->nodes[0].fused_act == MLIC_ACT_RELU6,
          "tiny graph: fusions not as expected");
    float *in = random_buf(&r, 2 * 3 * 6 * 5, -2, 2);
    float *want = run_graph(g, in, 2, 2), *got = run_graph(f, in, 2, 2);
    const double d = max_rel_diff(got, want, 6);
    CHECK(d < 1e-5, "tiny graph: folded logits differ by %g", d);
    free(in), free(want), free(got);
    mlic_graph_free(f);
    mlic_graph_free(g);
}

static void test_graph_shapes(void)
{
    /* torchvision: resnet50's layer4 gives 2048x7x7 at 224; mobilenet_v2's features 1280x7x7. */
    static const struct { const char *arch; int c; } want[] = {
        {"resnet18", 512}, {"resnet34", 512}, {"resnet50", 2048}, {"resnet101", 2048},
        {"mobilenet_v2", 1280},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        mlic_graph *g = NULL;
        CHECK(mlic_graph_build(&g, want[i].arch, 11) == MLIC_OK, "%s", mlic_errmsg());
        if (!g)
            continue;
        CHECK(mlic_graph_infer_shapes(g, 224, 224) == MLIC_OK, "%s", mlic_errmsg());
        const mlic_node *pool = NULL;
        for (int k = 0; k < g->nnodes; k++)
            if (g->nodes[k].op == MLIC_OP_GLOBAL_AVGPOOL)
                pool = &g->nodes[k];
        CHECK(pool != NULL, "%s has no global pool", want[i].arch);
        if (pool) {
            const mlic_shape3 s = g->values[pool->in[0]];
            CHECK(s.c == want[i].c && s.h == 7 && s.w == 7, "%s: pooled input %dx%dx%d",
                  want[i].arch, s.c, s.h, s.w);
        }
        const mlic_shape3 o = g->values[g->output];
        CHECK(o.c == 11 && o.h == 1 && o.w == 1, "%s output %dx%dx%d", want[i].arch, o.c, o.h, o.w);
        CHECK(mlic_graph_find_param(g, "no.such.param") == -1, "find_param invented a param");
        CHECK(mlic_graph_infer_shapes(g, 0, 8) == MLIC_ERR_INVALID_ARG,
              "%s accepted a 0x8 input", want[i].arch);
        mlic_graph_free(g);
    }
    mlic_graph *g = NULL;
    CHECK(mlic_graph_build(&g, "vgg16", 3) == MLIC_ERR_UNSUPPORTED, "vgg16 was accepted");
    CHECK(g == NULL && strstr(mlic_errmsg(), "vgg16"), "error should name the arch: %s",
          mlic_errmsg());
    CHECK(mlic_graph_build(&g, "resnet18", 0) == MLIC_ERR_INVALID_ARG, "0 classes accepted");
}

int main(void)
{
    test_conv();
    test_maxpool();
    test_small_kernels();
    test_graph_shapes();
    test_fold_conv_bias();
    test_fold_arch("resnet18", 40);
    test_fold_arch("resnet50", 33);
    test_fold_arch("mobilenet_v2", 36);
    CHECK_DONE();
}
