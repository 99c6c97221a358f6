/* The oneDNN backend against the reference backend (itself tested against naive loops and, via
 * the Python tests, PyTorch): a small hand-built graph that exercises every op and fusion path
 * (grouped/depthwise convs, sum post-op in place and by copy, standalone ReLU6/ReLU/add,
 * dropout, max pooling with padding, global average pooling, linear), then whole folded archs
 * on random weights, at full and at smaller batch sizes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "nn/graph.h"
#include "nn/graph_builder.h"

#if MLIC_HAVE_ONEDNN

#include "check.h"
#include "test_rng.h"

/* Random weights in [-w, w]; batch norm scales and variances in [0.5, 2]. */
static void randomise(mlic_graph *g, rng *r, float w)
{
    for (int p = 0; p < g->nparams; p++) {
        const mlic_param *pr = &g->params[p];
        const int positive = strstr(pr->name, "running_var") ||
                             (strstr(pr->name, "bn") && strstr(pr->name, ".weight"));
        float *v = mlic_graph_param(g, p);
        for (size_t i = 0; i < pr->numel; i++)
            v[i] = positive ? uniform(r, 0.5f, 2.0f) : uniform(r, -w, w);
    }
}

/* Max |a - b| relative to the largest |b|. */
static double max_rel_diff(const float *a, const float *b, size_t n)
{
    double scale = 1e-6, d = 0;
    for (size_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(b[i]));
        const double e = fabs((double)a[i] - b[i]);
        d = e > d || e != e ? e : d;
    }
    return d / scale;
}

static float *run(const mlic_backend_ops *be, const mlic_graph *g, const float *in, int n,
                  int max_batch)
{
    void *st = NULL;
    float *out = calloc((size_t)n * g->num_classes, sizeof(float));
    mlic_status s = be->create(&st, g, max_batch, 2, MLIC_PRECISION_FP32);
    CHECK(s == MLIC_OK, "%s create on %s: %s", be->name, g->arch, mlic_errmsg());
    if (s == MLIC_OK) {
        s = be->run(st, out, in, n);
        CHECK(s == MLIC_OK, "%s run on %s: %s", be->name, g->arch, mlic_errmsg());
    }
    be->destroy(st);
    return out;
}

/* Compare oneDNN with the reference on folded graph f for batches n_list (one backend
 * instance, so smaller batches go through their own plans, and a repeat reuses them). */
static void compare(const mlic_graph *f, int max_batch, const int *n_list, int count, rng *r,
                    float x_range, double tol)
{
    const mlic_shape3 in = f->values[f->input];
    const size_t per = (size_t)in.c * in.h * in.w;
    float *x = random_buf(r, per * max_batch, -x_range, x_range);
    float *want = run(&mlic_backend_ref, f, x, max_batch, max_batch);
    float *got = calloc((size_t)max_batch * f->num_classes, sizeof(float));
    void *st = NULL;
    mlic_status s = mlic_backend_onednn.create(&st, f, max_batch, 2, MLIC_PRECISION_FP32);
    CHECK(s == MLIC_OK, "onednn create on %s: %s", f->arch, mlic_errmsg());
    for (int k = 0; s == MLIC_OK && k < count; k++) {
        const int n = n_list[k];
        memset(got, 0, (size_t)max_batch * f->num_classes * sizeof(float));
        /* The last images of the batch, so a plan reading the wrong offset would show. */
        const float *xi = x + per * (size_t)(max_batch - n);
        s = mlic_backend_onednn.run(st, got, xi, n);
        CHECK(s == MLIC_OK, "onednn run n=%d on %s: %s", n, f->arch, mlic_errmsg());
        const double d = max_rel_diff(got, want + (size_t)(max_batch - n) * f->num_classes,
                                      (size_t)n * f->num_classes);
        CHECK(d < tol, "%s n=%d: oneDNN logits differ from the reference by %g (relative)",
              f->arch, n, d);
    }
    mlic_backend_onednn.destroy(st);
    free(x), free(want), free(got);
}

static mlic_graph *tiny_graph(rng *r)
{
    mlic_graph_builder b;
    mlic_graph *g = NULL;
    if (mlic_graph_builder_init(&b, "tiny", 5) != MLIC_OK)
        return NULL;
    int a = mlic_graph_emit_conv(&b, "c1", 0, 3, 16, 3, 2, 1, 1, 1);
    a = mlic_graph_emit_batchnorm(&b, "bn1", a, 16);
    a = mlic_graph_emit_act(&b, "", a, MLIC_ACT_RELU6);
    int d = mlic_graph_emit_conv(&b, "dw", a, 16, 16, 3, 1, 1, 16, 0);
    d = mlic_graph_emit_batchnorm(&b, "bn2", d, 16);
    d = mlic_graph_emit_act(&b, "", d, MLIC_ACT_RELU6);
    int c = mlic_graph_emit_conv(&b, "pw", d, 16, 24, 1, 1, 0, 1, 0);
    c = mlic_graph_emit_batchnorm(&b, "bn3", c, 24);
    /* Residual c is also the convolution's input: the sum post-op must work on a copy. */
    int e = mlic_graph_emit_conv(&b, "c4", c, 24, 24, 3, 1, 1, 1, 0);
    e = mlic_graph_emit_batchnorm(&b, "bn4", e, 24);
    e = mlic_graph_emit_add(&b, "", c, e);
    e = mlic_graph_emit_act(&b, "", e, MLIC_ACT_RELU);
    int p = mlic_graph_emit_maxpool(&b, "", e, 3, 2, 1);
    /* Not after a convolution, so these stay standalone. */
    p = mlic_graph_emit_act(&b, "", p, MLIC_ACT_RELU6);
    p = mlic_graph_emit_dropout(&b, "", p, 0.2f);
    int g1 = mlic_graph_emit_conv(&b, "c5", p, 24, 24, 1, 1, 0, 1, 1);
    int h = mlic_graph_emit_add(&b, "", g1, p); /* g1 has two readers: not fused */
    h = mlic_graph_emit_act(&b, "", h, MLIC_ACT_RELU);
    /* Grouped (not depthwise) conv whose residual h dies here: sum post-op in place. */
    int i = mlic_graph_emit_conv(&b, "c6", g1, 24, 24, 3, 1, 1, 4, 1);
    i = mlic_graph_emit_add(&b, "", h, i);
    int y = mlic_graph_emit_global_avgpool(&b, "", i);
    y = mlic_graph_emit_linear(&b, "fc", y, 24, 5);
    if (mlic_graph_builder_finish(&b, &g, y) != MLIC_OK)
        return NULL;
    /* Large weights: activations well beyond 6, so a wrong ReLU6 bound shows. */
    randomise(g, r, 1.0f);
    return g;
}

static mlic_graph *folded(mlic_graph *g, int h, int w)
{
    mlic_graph *f = NULL;
    CHECK(mlic_graph_infer_shapes(g, h, w) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_graph_fold_for_inference(&f, g) == MLIC_OK, "fold %s: %s", g->arch,
          mlic_errmsg());
    if (f)
        CHECK(mlic_graph_infer_shapes(f, h, w) == MLIC_OK, "%s", mlic_errmsg());
    return f;
}

static void test_tiny(void)
{
    rng r = {11};
    mlic_graph *g = tiny_graph(&r);
    CHECK(g != NULL, "tiny graph: %s", mlic_errmsg());
    if (!g)
        return;
    /* Odd sizes: padding on the right edge, channel counts not multiples of the SIMD block. */
    mlic_graph *f = folded(g, 19, 23);
    if (f) {
        int standalone = 0;
        for (int k = 0; k < f->nnodes; k++)
            standalone += f->nodes[k].op == MLIC_OP_RELU || f->nodes[k].op == MLIC_OP_RELU6 ||
                          f->nodes[k].op == MLIC_OP_ADD;
        CHECK(standalone == 3, "tiny graph keeps %d standalone relu/add nodes, expected 3",
              standalone);
        const int ns[] = {3, 1, 2, 3};
        compare(f, 3, ns, 4, &r, 10.0f, 1e-5);
    }
    mlic_graph_free(f);
    mlic_graph_free(g);
}

static void test_errors(void)
{
    rng r = {12};
    mlic_graph *g = tiny_graph(&r);
    if (!g)
        return;
    CHECK(mlic_graph_infer_shapes(g, 16, 16) == MLIC_OK, "%s", mlic_errmsg());
    void *st = NULL;
    /* Unfolded: batch norm has no oneDNN step here; the error names the node. */
    mlic_status s = mlic_backend_onednn.create(&st, g, 2, 1, MLIC_PRECISION_FP32);
    CHECK(s == MLIC_ERR_UNSUPPORTED && strstr(mlic_errmsg(), "bn1"),
          "unfolded graph: status %d, %s", s, mlic_errmsg());
    mlic_graph *f = NULL;
    mlic_graph_fold_for_inference(&f, g);
    if (f && mlic_graph_infer_shapes(f, 16, 16) == MLIC_OK &&
        mlic_backend_onednn.create(&st, f, 2, 1, MLIC_PRECISION_FP32) == MLIC_OK) {
        float in[2 * 3 * 16 * 16] = {0}, out[3 * 5];
        CHECK(mlic_backend_onednn.run(st, out, in, 3) == MLIC_ERR_INVALID_ARG,
              "batch above max_batch accepted");
        CHECK(mlic_backend_onednn.run(st, out, in, 0) == MLIC_ERR_INVALID_ARG,
              "empty batch accepted");
        mlic_backend_onednn.destroy(st);
    } else {
        CHECK(0, "folded tiny graph: %s", mlic_errmsg());
    }
    CHECK(mlic_backend_onednn.create(&st, f, 0, 1, MLIC_PRECISION_FP32) == MLIC_ERR_INVALID_ARG, "max_batch 0 accepted");
    mlic_graph_free(f);
    mlic_graph_free(g);
}

static void test_arch(const char *arch, int hw)
{
    rng r = {13};
    mlic_graph *g = NULL;
    CHECK(mlic_graph_build(&g, arch, 7) == MLIC_OK, "build %s: %s", arch, mlic_errmsg());
    if (!g)
        return;
    randomise(g, &r, 0.2f);
    mlic_graph *f = folded(g, hw, hw);
    if (f) {
        const int ns[] = {2, 1};
        compare(f, 2, ns, 2, &r, 2.0f, 1e-4);
    }
    mlic_graph_free(f);
    mlic_graph_free(g);
}

int main(void)
{
    test_tiny();
    test_errors();
    test_arch("resnet18", 64);
    test_arch("resnet50", 64);
    test_arch("mobilenet_v2", 64);
    CHECK_DONE();
}

#else

int main(void)
{
    printf("skipped: built without oneDNN\n");
    return 0;
}

#endif
