/* The training executor's recomputed values (train/train_graph.h, Memory): the ReLU outputs it
 * does not keep are recomputed in the backward bit for bit as the forward made them, with batch
 * statistics of this process's batch and through the --sync-bn path, on every backend of the
 * build. The gradients themselves are checked against PyTorch by tests/py/test_train_step.py and
 * test_train_onednn.py, which run the same plans. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "train/init.h"
#include "train/train_graph.h"

typedef struct {
    const mlic_graph *g;
    const mlic_train_graph *t;
    const mlic_train_backend *base;
    float **forward_copy; /* (nvalues) the forward's output of each recomputed value */
    int n, compared, differed;
} watch;

/* The base backend's ReLU, recording what the forward (not a replay) writes of a recomputed
 * value before the executor recycles its view. The watch comes through the hooks' user. */
static mlic_status relu_forward_recorded(mlic_train_ctx *c, int i)
{
    watch *w = c->hooks->user;
    const int v = c->g->nodes[i].out;
    mlic_status st = w->base->op[c->g->nodes[i].op].forward(c, i);
    if (st == MLIC_OK && !c->replay && mlic_train_graph_recomputed(w->t)[v]) {
        const mlic_shape3 s = c->g->values[v];
        const size_t bytes = (size_t)c->n * s.c * s.h * s.w * sizeof(float);
        free(w->forward_copy[v]);
        w->forward_copy[v] = malloc(bytes);
        memcpy(w->forward_copy[v], c->value[v], bytes);
    }
    return st;
}

/* After a ReLU's backward (its output's last reader) the recomputed view still holds the
 * value: compare it with the forward's. */
static void backward_done(void *user, int node)
{
    watch *w = user;
    const int v = w->g->nodes[node].out;
    if (!mlic_train_graph_recomputed(w->t)[v])
        return;
    const mlic_shape3 s = w->g->values[v];
    const size_t count = (size_t)w->n * s.c * s.h * s.w;
    w->compared++;
    if (!w->forward_copy[v] ||
        memcmp(mlic_train_graph_ctx(w->t)->value[v], w->forward_copy[v], count * sizeof(float)))
        w->differed++;
}

/* One process: the sums are already the global ones. */
static void bn_allreduce_one(void *user, double *values, int count)
{
}

static void check_arch(const char *arch, int size, int n, const mlic_train_backend *base,
                       int synced)
{
    const int k = 5;
    mlic_train_backend be_copy = *base;
    const mlic_train_backend *be = &be_copy;
    be_copy.op[MLIC_OP_RELU].forward = be_copy.op[MLIC_OP_RELU6].forward = relu_forward_recorded;
    mlic_graph *g = NULL;
    mlic_train_graph *t = NULL;
    CHECK(mlic_graph_build(&g, arch, k) == MLIC_OK, "%s: %s", arch, mlic_errmsg());
    if (!g)
        return;
    mlic_train_init_weights(g, 4);
    CHECK(mlic_train_graph_create(&t, g, n, size, size, be) == MLIC_OK, "%s: %s", arch,
          mlic_errmsg());
    if (!t) {
        mlic_graph_free(g);
        return;
    }
    const uint8_t *rec = mlic_train_graph_recomputed(t);
    int nrec = 0;
    for (int v = 0; v < g->nvalues; v++)
        nrec += rec[v];
    CHECK(nrec > 0, "%s at %d px, batch %d: no value is recomputed", arch, size, n);

    mlic_rng r;
    mlic_rng_init(&r, 9, 0);
    const size_t nin = (size_t)n * 3 * size * size;
    float *x = malloc(nin * sizeof *x), *dlogits = malloc((size_t)n * k * sizeof *dlogits);
    for (size_t j = 0; j < nin; j++)
        x[j] = (float)mlic_rng_range(&r, -2.0, 2.0);
    for (int j = 0; j < n * k; j++)
        dlogits[j] = (float)mlic_rng_range(&r, -0.1, 0.1);
    watch w = {g, t, base, calloc((size_t)g->nvalues, sizeof(float *)), n, 0, 0};
    const mlic_train_hooks hooks = {synced ? bn_allreduce_one : NULL, backward_done, &w};
    mlic_train_graph_set_hooks(t, &hooks);
    const float *logits;
    CHECK(mlic_train_graph_forward(t, &logits, x, n, 1, 1, 0) == MLIC_OK, "%s: %s", arch,
          mlic_errmsg());
    mlic_train_graph_zero_grad(t);
    CHECK(mlic_train_graph_backward(t, dlogits) == MLIC_OK, "%s: %s", arch, mlic_errmsg());
    CHECK(w.compared == nrec && w.differed == 0,
          "%s (%s%s): %d of %d recomputed values compared, %d differ from the forward's", arch,
          base->name, synced ? ", synced batch norm" : "", w.compared, nrec, w.differed);
    for (int v = 0; v < g->nvalues; v++)
        free(w.forward_copy[v]);
    free(w.forward_copy);
    free(x);
    free(dlogits);
    mlic_train_graph_destroy(t);
    mlic_graph_free(g);
}

int main(void)
{
    const char *backends[] = {"ref", "onednn"};
    for (int b = 0; b < 2; b++) {
        const mlic_train_backend *be = mlic_train_backend_find(backends[b]);
        if (!be)
            continue; /* built without oneDNN */
        for (int synced = 0; synced < 2; synced++) {
            check_arch("resnet18", 64, 3, be, synced);
            check_arch("mobilenet_v2", 64, 2, be, synced); /* ReLU6 */
        }
        check_arch("resnet50", 96, 2, be, 0);
    }
    CHECK_DONE();
}
