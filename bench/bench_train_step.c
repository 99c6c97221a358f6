/* Training-step timing of the mlic executor on random input, the same work as PyTorch's
 * bench_train.py: forward, BCE on random multi-hot targets, backward, SGD (lr 0.01, momentum 0.9,
 * weight decay 1e-4). usage: bench_train_step ARCH BATCH SIZE THREADS REPS ITERS [ref|onednn]
 * Prints one JSON line: images/s median/min/max and the executor's buffer bytes. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_time.h"
#include "core/rng.h"
#include "nn/graph.h"
#include "train/init.h"
#include "train/loss.h"
#include "train/optim.h"
#include "train/train_graph.h"

static int fail(const char *what)
{
    fprintf(stderr, "bench_train_step: %s: %s\n", what, mlic_errmsg());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: bench_train_step ARCH BATCH SIZE THREADS REPS ITERS [ref|onednn]\n");
        return 2;
    }
    const char *arch = argv[1];
    int n = atoi(argv[2]), size = atoi(argv[3]), threads = atoi(argv[4]);
    int reps = atoi(argv[5]), iters = atoi(argv[6]), k = 20;
    const mlic_train_backend *be = argc > 7 ? mlic_train_backend_find(argv[7]) : mlic_train_backend_default();
    if (n < 1 || size < 32 || threads < 1 || reps < 1 || reps > 100 || iters < 1 || !be) {
        fprintf(stderr, "bench_train_step: bad arguments (or no such backend in this build)\n");
        return 2;
    }
    omp_set_num_threads(threads);
    mlic_graph *g;
    mlic_train_graph *t;
    if (mlic_graph_build(&g, arch, k) != MLIC_OK)
        return fail("building the graph");
    mlic_train_init_weights(g, 0);
    if (mlic_train_graph_create(&t, g, n, size, size, be) != MLIC_OK)
        return fail("preparing the executor");
    uint8_t *roles = malloc(g->nweights);
    mlic_optim_roles_from_graph(roles, g);
    mlic_optim_cfg oc = mlic_optim_defaults(MLIC_OPTIM_SGD);
    oc.momentum = 0.9f;
    oc.weight_decay = 1e-4f;
    mlic_optim *opt;
    if (mlic_optim_create(&opt, &oc, g->nweights, roles) != MLIC_OK)
        return fail("creating the optimizer");
    size_t nin = (size_t)n * 3 * size * size;
    float *x = malloc(nin * sizeof *x), *y = malloc((size_t)n * k * sizeof *y);
    float *dlogits = malloc((size_t)n * k * sizeof *dlogits);
    mlic_rng rng;
    mlic_rng_init(&rng, 0, 0);
    for (size_t i = 0; i < nin; i++)
        x[i] = (float)mlic_rng_range(&rng, -2.0, 2.0);
    for (int i = 0; i < n * k; i++)
        y[i] = mlic_rng_uniform(&rng) < 0.15 ? 1.0f : 0.0f;
    mlic_loss_cfg lc = mlic_loss_defaults(MLIC_LOSS_BCE);
    double rates[100], loss = 0;
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up (primitive creation, first touch) */
        double t0 = now();
        for (int i = 0; i < (r < 0 ? 2 : iters); i++) {
            const float *logits;
            if (mlic_train_graph_forward(t, &logits, x, n, 1, 0, (uint64_t)i) != MLIC_OK)
                return fail("forward");
            if (mlic_loss_compute(&loss, dlogits, logits, y, n, k, &lc) != MLIC_OK)
                return fail("loss");
            mlic_train_graph_zero_grad(t);
            if (mlic_train_graph_backward(t, dlogits) != MLIC_OK)
                return fail("backward");
            if (mlic_optim_step(opt, g->weights, mlic_train_graph_grads(t), 0.01) != MLIC_OK)
                return fail("optimizer step");
        }
        if (r >= 0)
            rates[r] = (double)n * iters / (now() - t0);
    }
    qsort(rates, reps, sizeof rates[0], cmp_double);
    printf("{\"arch\": \"%s\", \"backend\": \"%s\", \"bs\": %d, \"threads\": %d, \"img_s_median\": %.2f, "
           "\"img_s_min\": %.2f, \"img_s_max\": %.2f, \"buffer_bytes\": %zu, \"loss\": %.4f}\n",
           arch, be->name, n, threads, rates[reps / 2], rates[0], rates[reps - 1],
           mlic_train_graph_bytes(t), loss);
    free(x);
    free(y);
    free(dlogits);
    free(roles);
    mlic_optim_destroy(opt);
    mlic_train_graph_destroy(t);
    mlic_graph_free(g);
    return 0;
}
