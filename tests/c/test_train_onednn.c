/* The oneDNN training backend (src/backend/onednn_train.h) against the reference one, whose
 * results tests/py/test_train_step.py checks against PyTorch.
 *
 * Node by node: a checking op table runs every node of a real network with both backends on the
 * same inputs (the reference first, its results kept aside, then oneDNN's, whose results the
 * step goes on with) and compares what each wrote: the output, batch norm's statistics, and in
 * the backward the input gradients (which already hold other readers' contributions, so the
 * accumulation is checked too) and the parameter gradients. Comparing whole steps instead would
 * mostly measure chaos: at these sizes a 1e-7 change of one activation can flip a ReLU and move
 * a batch norm's gradients by percents (tests/py/test_train_onednn.py compares whole steps with
 * PyTorch where that cannot happen).
 *
 * Whole steps: a run is bitwise repeatable, two backwards without zeroing give twice one, and
 * one executor serves batches of several sizes. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/init.h"
#include "train/loss.h"
#include "train/train_graph.h"

#if MLIC_HAVE_ONEDNN

#include "check.h"

#define K 6
#define NODE_TOL 2e-5

static size_t floats_of(const mlic_graph *g, int v)
{
    const mlic_shape3 s = g->values[v];
    return (size_t)s.c * s.h * s.w;
}

static float *dup_floats(const float *a, size_t count)
{
    float *d = malloc((count ? count : 1) * sizeof(float));
    if (d && count)
        memcpy(d, a, count * sizeof(float));
    return d;
}

static double max_abs(const float *a, size_t count)
{
    double m = 0.0;
    for (size_t j = 0; j < count; j++)
        m = fmax(m, fabs(a[j]));
    return m;
}

/* got within NODE_TOL of want's largest entry: float rounding in another summation order. */
static void check_close(const float *got, const float *want, size_t count, const mlic_graph *g,
                        int i, const char *what)
{
    double err = 0.0;
    for (size_t j = 0; j < count; j++)
        err = fmax(err, fabs((double)got[j] - want[j]));
    const double limit = NODE_TOL * max_abs(want, count) + 1e-30;
    CHECK(err <= limit, "%s node %d (%s): %s differs by %g (largest %g)", g->arch, i,
          g->nodes[i].name, what, err, max_abs(want, count));
}

/* ---------------------------------------------------------------- the checking table */

typedef struct {
    float *data;
    size_t count;
} saved_buf;

/* What a node's forward may write besides its output: running statistics (training batch
 * norm), the saved batch statistics and the dropout generator. */
static int forward_extras(mlic_train_ctx *c, int i, float **ptr, size_t *count)
{
    const mlic_node *nd = &c->g->nodes[i];
    int k = 0;
    if (nd->op == MLIC_OP_BATCHNORM) {
        const size_t ch = (size_t)c->g->values[nd->out].c;
        ptr[k] = c->weights + c->g->params[nd->running_mean].offset;
        count[k++] = ch;
        ptr[k] = c->weights + c->g->params[nd->running_var].offset;
        count[k++] = ch;
        ptr[k] = c->saved[i];
        count[k++] = 4 * ch;
    }
    return k;
}

static mlic_status check_forward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const mlic_train_backend *ref = &mlic_train_backend_ref, *dnn = &mlic_train_backend_onednn;
    float *ptr[3];
    size_t count[3];
    saved_buf before[3], want[3];
    const int nx = forward_extras(c, i, ptr, count);
    const size_t nout = (size_t)c->n * floats_of(c->g, nd->out);
    const mlic_rng rng = c->rng;
    for (int k = 0; k < nx; k++)
        before[k] = (saved_buf){dup_floats(ptr[k], count[k]), count[k]};
    mlic_status st = ref->op[nd->op].forward(c, i);
    if (st != MLIC_OK)
        return st;
    float *out = dup_floats(c->value[nd->out], nout);
    for (int k = 0; k < nx; k++) {
        want[k] = (saved_buf){dup_floats(ptr[k], count[k]), count[k]};
        memcpy(ptr[k], before[k].data, count[k] * sizeof(float));
    }
    c->rng = rng;
    st = dnn->op[nd->op].forward(c, i);
    if (st == MLIC_OK) {
        check_close(c->value[nd->out], out, nout, c->g, i, "forward output");
        for (int k = 0; k < nx; k++)
            check_close(ptr[k], want[k].data, count[k], c->g, i, "forward statistics");
    }
    free(out);
    for (int k = 0; k < nx; k++) {
        free(before[k].data);
        free(want[k].data);
    }
    return st;
}

/* What a node's backward writes: its inputs' gradients and its parameters'. */
static int backward_outputs(mlic_train_ctx *c, int i, float **ptr, size_t *count)
{
    const mlic_node *nd = &c->g->nodes[i];
    int k = 0;
    for (int j = 0; j < 2; j++)
        if (nd->in[j] >= 0 && c->dvalue[nd->in[j]] && (j == 0 || nd->in[1] != nd->in[0])) {
            ptr[k] = c->dvalue[nd->in[j]];
            count[k++] = (size_t)c->n * floats_of(c->g, nd->in[j]);
        }
    const int params[2] = {nd->weight, nd->bias};
    for (int j = 0; j < 2; j++)
        if (params[j] >= 0 && c->param_grad[params[j]]) {
            ptr[k] = c->grads + c->g->params[params[j]].offset;
            count[k++] = c->g->params[params[j]].numel;
        }
    return k;
}

static mlic_status check_backward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    float *ptr[4];
    size_t count[4];
    saved_buf before[4], want[4];
    const int nb = backward_outputs(c, i, ptr, count);
    for (int k = 0; k < nb; k++)
        before[k] = (saved_buf){dup_floats(ptr[k], count[k]), count[k]};
    mlic_status st = mlic_train_backend_ref.op[nd->op].backward(c, i);
    for (int k = 0; k < nb; k++) {
        want[k] = (saved_buf){dup_floats(ptr[k], count[k]), count[k]};
        memcpy(ptr[k], before[k].data, count[k] * sizeof(float));
    }
    if (st == MLIC_OK)
        st = mlic_train_backend_onednn.op[nd->op].backward(c, i);
    for (int k = 0; k < nb; k++) {
        if (st == MLIC_OK)
            check_close(ptr[k], want[k].data, count[k], c->g, i, "gradient");
        free(before[k].data);
        free(want[k].data);
    }
    return st;
}

static size_t check_workspace(const mlic_graph *g, int i, int n)
{
    const size_t a = mlic_train_backend_ref.op[g->nodes[i].op].workspace_floats(g, i, n);
    const size_t b = mlic_train_backend_onednn.op[g->nodes[i].op].workspace_floats(g, i, n);
    return a > b ? a : b;
}

/* The checking table over the state of `base` (onednn or onednn-direct: the same op functions,
 * a state with or without Winograd convolutions). */
static mlic_train_backend checking_backend(const mlic_train_backend *base)
{
    mlic_train_backend be = *base;
    be.name = "check";
    for (int k = 0; k < MLIC_TRAIN_NUM_OPS; k++)
        be.op[k] = (mlic_train_op_impl){check_forward, check_backward, check_workspace};
    return be;
}

/* ---------------------------------------------------------------- steps */

/* torchvision's init, with running statistics and batch norm affine parameters moved off their
 * initial values. */
static mlic_graph *make_graph(const char *arch, uint64_t seed)
{
    mlic_graph *g = NULL;
    if (mlic_graph_build(&g, arch, K) != MLIC_OK)
        return NULL;
    mlic_train_init_weights(g, seed);
    mlic_rng r;
    mlic_rng_init(&r, seed, 99);
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        if (nd->op != MLIC_OP_BATCHNORM)
            continue;
        const int ps[4] = {nd->weight, nd->bias, nd->running_mean, nd->running_var};
        for (int k = 0; k < 4; k++) {
            float *w = mlic_graph_param(g, ps[k]);
            for (size_t j = 0; j < g->params[ps[k]].numel; j++)
                w[j] = (float)(k == 0 || k == 3 ? mlic_rng_range(&r, 0.7, 1.3)
                                                : mlic_rng_range(&r, -0.2, 0.2));
        }
    }
    return g;
}

static float *make_batch(float *y, int n, int size, uint64_t seed)
{
    mlic_rng r;
    mlic_rng_init(&r, seed, 1);
    float *x = malloc((size_t)n * 3 * size * size * sizeof(float));
    for (size_t j = 0; x && j < (size_t)n * 3 * size * size; j++)
        x[j] = (float)mlic_rng_range(&r, -2.0, 2.0);
    for (int j = 0; j < n * K; j++)
        y[j] = mlic_rng_uniform(&r) < 0.4 ? 1.0f : 0.0f;
    return x;
}

/* A training step's forward and backward (no optimizer step); zero: zero the gradients first. */
static mlic_status step(mlic_train_graph *t, const float *x, const float *y, int n, int zero)
{
    const float *logits;
    float dlogits[16 * K];
    double loss;
    const mlic_loss_cfg lc = mlic_loss_defaults(MLIC_LOSS_BCE);
    mlic_status st = mlic_train_graph_forward(t, &logits, x, n, 1, 5, 0);
    if (st == MLIC_OK)
        st = mlic_loss_compute(&loss, dlogits, logits, y, n, K, &lc);
    if (st != MLIC_OK)
        return st;
    if (zero)
        mlic_train_graph_zero_grad(t);
    return mlic_train_graph_backward(t, dlogits);
}

/* Node-by-node agreement over steps with batches of each size in ns (one executor). */
static void nodes_agree(const mlic_train_backend *base, const char *arch, int size,
                        const int *ns, int nsteps, int freeze)
{
    const mlic_train_backend be = checking_backend(base);
    mlic_graph *g = make_graph(arch, 7);
    int max_batch = 0;
    for (int s = 0; s < nsteps; s++)
        max_batch = ns[s] > max_batch ? ns[s] : max_batch;
    if (g && freeze)
        mlic_train_graph_freeze_backbone(g);
    mlic_train_graph *t = NULL;
    CHECK(g && mlic_train_graph_create(&t, g, max_batch, size, size, &be) == MLIC_OK, "%s: %s",
          arch, mlic_errmsg());
    for (int s = 0; t && s < nsteps; s++) {
        float y[16 * K];
        float *x = make_batch(y, ns[s], size, 3 + s);
        CHECK(x && step(t, x, y, ns[s], 1) == MLIC_OK, "%s step %d: %s", arch, s, mlic_errmsg());
        free(x);
    }
    mlic_train_graph_destroy(t);
    mlic_graph_free(g);
}

/* Two executors give the same bits; two backwards without zeroing add up to twice one. */
static void repeat_and_accumulate(const char *arch, int n, int size)
{
    mlic_graph *ga = make_graph(arch, 5), *gb = make_graph(arch, 5);
    mlic_train_graph *a = NULL, *b = NULL;
    float y[16 * K];
    float *x = make_batch(y, n, size, 4);
    const int ok = x && ga && gb &&
                   mlic_train_graph_create(&a, ga, n, size, size, &mlic_train_backend_onednn) ==
                       MLIC_OK &&
                   mlic_train_graph_create(&b, gb, n, size, size, &mlic_train_backend_onednn) ==
                       MLIC_OK &&
                   step(a, x, y, n, 1) == MLIC_OK && step(b, x, y, n, 1) == MLIC_OK;
    CHECK(ok, "%s: %s", arch, mlic_errmsg());
    if (ok) {
        const float *once = mlic_train_graph_grads(b);
        CHECK(!memcmp(mlic_train_graph_grads(a), once, ga->nweights * sizeof(float)),
              "%s: two runs of the same step differ", arch);
        /* Training batch norm uses batch statistics: the second backward's gradients are the
         * first's, added onto them. */
        CHECK(step(a, x, y, n, 0) == MLIC_OK, "%s: %s", arch, mlic_errmsg());
        const float *twice = mlic_train_graph_grads(a);
        const double scale = max_abs(once, ga->nweights);
        int bad = 0;
        /* Up to rounding: the reference kernels (the head's) add each term onto the sums. */
        for (size_t j = 0; j < ga->nweights && !bad; j++)
            if (fabs(twice[j] - 2.0 * once[j]) > 1e-5 * (2.0 * fabs(once[j]) + scale)) {
                CHECK(0, "%s: accumulated gradient [%zu] is %g, once %g", arch, j, twice[j],
                      once[j]);
                bad = 1;
            }
    }
    mlic_train_graph_destroy(a);
    mlic_train_graph_destroy(b);
    mlic_graph_free(ga);
    mlic_graph_free(gb);
    free(x);
}

int main(void)
{
    omp_set_num_threads(2);
    const int three[1] = {3}, mixed[3] = {4, 2, 4}, two[1] = {2};
    const mlic_train_backend *wino = &mlic_train_backend_onednn,
                             *direct = &mlic_train_backend_onednn_direct;
    nodes_agree(wino, "resnet18", 64, three, 1, 0);
    nodes_agree(direct, "resnet18", 64, three, 1, 0);
    nodes_agree(wino, "mobilenet_v2", 64, mixed, 3, 0); /* plans for two batch sizes */
    nodes_agree(wino, "resnet50", 64, two, 1, 0);
    nodes_agree(direct, "resnet50", 64, two, 1, 0);
    nodes_agree(wino, "resnet18", 48, two, 1, 1);
    repeat_and_accumulate("resnet18", 2, 64);
    repeat_and_accumulate("mobilenet_v2", 2, 64);
    CHECK_DONE();
}

#else

int main(void)
{
    printf("skipped: built without oneDNN\n");
    return 0;
}

#endif
