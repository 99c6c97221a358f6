/* Optimizer and schedule checks that need no PyTorch: config validation, the roles a graph's
 * parameter table gives (torchvision naming says which tensors are biases, norms, statistics),
 * and that a refused step leaves everything unchanged. The numerics are compared with
 * torch.optim in tests/py/test_optim*.py. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/graph.h"
#include "train/optim.h"
#include "train/schedule.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void test_bad_configs(void)
{
    mlic_optim *o = NULL;
    mlic_optim_cfg c = mlic_optim_defaults(MLIC_OPTIM_SGD);
    c.nesterov = 1;
    CHECK(mlic_optim_create(&o, &c, 10, NULL) == MLIC_ERR_INVALID_ARG, "nesterov without momentum");
    CHECK(strstr(mlic_errmsg(), "nesterov") != NULL, "%s", mlic_errmsg());
    c = mlic_optim_defaults(MLIC_OPTIM_ADAMW);
    c.beta2 = 1.0f;
    CHECK(mlic_optim_create(&o, &c, 10, NULL) == MLIC_ERR_INVALID_ARG, "beta2 = 1");
    c = mlic_optim_defaults(MLIC_OPTIM_SGD);
    uint8_t roles[3] = {0, 1, 7};
    CHECK(mlic_optim_create(&o, &c, 3, roles) == MLIC_ERR_INVALID_ARG, "role 7");
    CHECK(strstr(mlic_errmsg(), "roles[2]") != NULL, "%s", mlic_errmsg());
    CHECK(o == NULL, "no handle after a failure");

    CHECK(mlic_optim_create(&o, &c, 3, NULL) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_optim_set_momentum(o, 0.9f) == MLIC_ERR_INVALID_ARG, "sgd created without momentum");
    size_t count = 99;
    mlic_optim_state(o, &count);
    CHECK(count == 0, "plain SGD has no state, got %zu", count);
    mlic_optim_destroy(o);
    mlic_optim_destroy(NULL);

    mlic_optim_kind k;
    CHECK(mlic_optim_parse_kind(&k, "adam") == MLIC_ERR_INVALID_ARG, "adam is not adamw");
    mlic_sched_kind sk;
    CHECK(mlic_sched_parse_kind(&sk, "cosine") == MLIC_OK && sk == MLIC_SCHED_COSINE, "cosine");
}

static void test_refused_step(void)
{
    mlic_optim_cfg c = mlic_optim_defaults(MLIC_OPTIM_ADAMW);
    mlic_optim *o;
    CHECK(mlic_optim_create(&o, &c, 4, NULL) == MLIC_OK, "%s", mlic_errmsg());
    float w[4] = {1, 2, 3, 4}, g[4] = {0.1f, NAN, 0.3f, 0.4f};
    CHECK(mlic_optim_step(o, w, g, 0.1) == MLIC_ERR_INVALID_ARG, "NaN gradient");
    CHECK(w[0] == 1 && w[3] == 4, "weights untouched");
    CHECK(mlic_optim_step_count(o) == 0, "no step counted");
    size_t count;
    const float *state = mlic_optim_state(o, &count);
    CHECK(count == 8, "adamw state is 2n, got %zu", count);
    for (size_t i = 0; i < count; i++)
        CHECK(state[i] == 0, "state[%zu] untouched", i);
    g[1] = 0.2f;
    CHECK(mlic_optim_step(o, w, g, -1.0) == MLIC_ERR_INVALID_ARG, "negative lr");
    CHECK(mlic_optim_step(o, w, g, 0.1) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_optim_step_count(o) == 1, "one step");
    CHECK_NEAR(mlic_optim_grad_norm(o), sqrt(0.01 + 0.04 + 0.09 + 0.16), 1e-6);
    mlic_optim_destroy(o);
}

static void test_roles_from_graph(void)
{
    mlic_graph *g;
    if (mlic_graph_build(&g, "resnet18", 5) != MLIC_OK) {
        CHECK(0, "build resnet18: %s", mlic_errmsg());
        return;
    }
    uint8_t *roles = malloc(g->nweights);
    mlic_optim_roles_from_graph(roles, g);
    int seen[3] = {0, 0, 0};
    for (int p = 0; p < g->nparams; p++) {
        const mlic_param *pp = &g->params[p];
        const char *n = pp->name;
        int want = (ends_with(n, "running_mean") || ends_with(n, "running_var")) ? MLIC_OPTIM_FROZEN
                   : (ends_with(n, ".bias") || strstr(n, "bn") || strstr(n, "downsample.1"))
                       ? MLIC_OPTIM_NO_DECAY
                       : MLIC_OPTIM_DECAY;
        for (size_t i = 0; i < pp->numel; i++)
            if (roles[pp->offset + i] != want) {
                CHECK(0, "%s[%zu]: role %d, want %d", n, i, roles[pp->offset + i], want);
                break;
            }
        seen[want]++;
    }
    CHECK(seen[0] > 0 && seen[1] > 0 && seen[2] > 0, "all three roles occur: %d %d %d", seen[0],
          seen[1], seen[2]);
    free(roles);
    mlic_graph_free(g);
}

int main(void)
{
    test_bad_configs();
    test_refused_step();
    test_roles_from_graph();
    CHECK_DONE();
}
