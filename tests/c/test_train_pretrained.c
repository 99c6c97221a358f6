/* --pretrained (src/train/init.h): an mlic model with the same classes continues with its head;
 * with other classes, or from a state dict whose head has another shape, every other tensor is
 * loaded and the head re-initialised within nn.Linear's bound; a file that matches nothing is
 * refused. (tests/py/test_train.py fine-tunes from a torchvision state dict end to end.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "model/model.h"
#include "train/init.h"

static const mlic_node *head(const mlic_graph *g)
{
    return &g->nodes[g->nnodes - 1];
}

static int same_param(const mlic_graph *a, const mlic_graph *b, int p)
{
    return !memcmp(mlic_graph_param(a, p), mlic_graph_param(b, p),
                   a->params[p].numel * sizeof(float));
}

int main(void)
{
    char path[] = "/tmp/mlic_test_pretrained_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    const char *const classes[] = {"cat", "dog", "fox"}, *const others[] = {"a", "b", "c"};
    const mlic_model_spec spec = {"mobilenet_v2", classes, 3, 0.5f, mlic_preprocess_default()};
    mlic_model *m = NULL;
    CHECK(mlic_model_create(&m, &spec) == MLIC_OK, "%s", mlic_errmsg());
    mlic_train_init_weights(m->graph, 11);
    CHECK(mlic_model_save(m, path) == MLIC_OK, "%s", mlic_errmsg());
    const mlic_graph *src = m->graph;
    CHECK(head(src)->op == MLIC_OP_LINEAR, "the last node is the head");

    mlic_graph *g = NULL;
    CHECK(mlic_graph_build(&g, "mobilenet_v2", 3) == MLIC_OK, "%s", mlic_errmsg());
    mlic_pretrained_report r;
    CHECK(mlic_train_load_pretrained(g, path, classes, 3, 5, &r) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(r.loaded == r.total && r.total == g->nparams && r.head_kept && !r.mismatched,
          "same classes: %d of %d loaded, head kept %d", r.loaded, r.total, r.head_kept);
    CHECK(!memcmp(g->weights, src->weights, g->nweights * sizeof(float)), "every weight loaded");

    CHECK(mlic_train_load_pretrained(g, path, others, 3, 5, &r) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(r.loaded == r.total - 2 && !r.head_kept, "other classes: %d of %d", r.loaded, r.total);
    const int hw = head(g)->weight, hb = head(g)->bias;
    CHECK(!same_param(g, src, hw) && !same_param(g, src, hb), "the head is re-initialised");
    for (int p = 0; p < g->nparams; p++)
        if (p != hw && p != hb)
            CHECK(same_param(g, src, p), "%s loaded", g->params[p].name);
    const float bound = 1.0f / sqrtf(1280.0f);
    const float *w = mlic_graph_param(g, hw);
    float wmax = 0;
    for (size_t i = 0; i < g->params[hw].numel; i++)
        wmax = fmaxf(wmax, fabsf(w[i]));
    CHECK(wmax <= bound && wmax > 0.9f * bound, "head weight within nn.Linear's bound: %g of %g",
          wmax, bound);

    /* a 5-class model file into a 3-class graph: the head's shape differs */
    mlic_graph *g5 = NULL;
    CHECK(mlic_graph_build(&g5, "mobilenet_v2", 5) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_train_load_pretrained(g5, path, classes, 5, 5, &r) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(r.loaded == r.total - 2 && !r.head_kept, "5 classes: %d of %d", r.loaded, r.total);

    mlic_graph *r18 = NULL;
    CHECK(mlic_graph_build(&r18, "resnet18", 3) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_train_load_pretrained(r18, path, classes, 3, 5, &r) == MLIC_ERR_FORMAT,
          "a mobilenet file matches nothing of resnet18");
    CHECK(strstr(mlic_errmsg(), "--arch") != NULL, "%s", mlic_errmsg());

    unlink(path);
    mlic_graph_free(g);
    mlic_graph_free(g5);
    mlic_graph_free(r18);
    mlic_model_free(m);
    CHECK_DONE();
}
