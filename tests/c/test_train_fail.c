/* A training backward that fails fails its own step (src/train/train_graph.h): a run whose op
 * table's backward fails on step k stops with that op's error, naming epoch and batch of step
 * k (also when k is the run's last step, where a deferred error would never surface), and the
 * optimizer does not apply the partial gradients: the weights when the executor is destroyed are
 * the weights the failing step started from. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bmp_write.h"
#include "check.h"
#include "core/error.h"
#include "train/trainer.h"

#define ITEMS 4
#define BATCH 2
#define EPOCHS 2
#define STEPS (EPOCHS * ITEMS / BATCH)
#define SIDE 40

/* The injected failure: the ref table, except that the backward of the first linear node (the
 * head, the first backward of a step) fails on step fail_step, after scribbling on its
 * parameter gradients as a half-done backward would. */
static struct {
    int fail_step;       /* 1-based */
    int steps;           /* backwards of the head so far */
    mlic_graph *g;       /* from state_create */
    float *at_failure;   /* the weights when the failing step's backward ran */
    int weights_kept;    /* state_destroy found the weights unchanged since */
    int destroyed;
} inj;

static mlic_status inj_state_create(void **state, const mlic_graph *g, int max_batch)
{
    inj.g = (mlic_graph *)g;
    *state = &inj;
    return MLIC_OK;
}

static void inj_state_destroy(void *state)
{
    inj.destroyed = 1;
    inj.weights_kept = inj.at_failure &&
                       !memcmp(inj.at_failure, inj.g->weights, inj.g->nweights * sizeof(float));
}

static mlic_status inj_backward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    if (nd->op == MLIC_OP_LINEAR && ++inj.steps == inj.fail_step) {
        free(inj.at_failure);
        inj.at_failure = malloc(c->g->nweights * sizeof(float));
        memcpy(inj.at_failure, c->weights, c->g->nweights * sizeof(float));
        float *dw = c->grads + c->g->params[nd->weight].offset;
        for (size_t k = 0; k < c->g->params[nd->weight].numel; k++)
            dw[k] = 1e3f;
        return mlic_fail(MLIC_ERR_BACKEND, "injected backward failure");
    }
    return mlic_train_backend_ref.op[nd->op].backward(c, i);
}

static mlic_train_backend failing_backend(void)
{
    mlic_train_backend be = mlic_train_backend_ref;
    be.name = "failing";
    be.state_create = inj_state_create;
    be.state_destroy = inj_state_destroy;
    for (int k = 0; k < MLIC_TRAIN_NUM_OPS; k++)
        be.op[k].backward = inj_backward;
    return be;
}

static int steps_seen;

static void on_progress(void *user, const mlic_train_progress *p)
{
    if (p->kind == MLIC_TRAIN_EVENT_STEP)
        steps_seen++;
}

/* One run whose step fail_step fails: it stops there with the injected error. */
static void run_failing_at(const char *dir, int fail_step)
{
    char list[512], out[512], want[64];
    snprintf(list, sizeof list, "%s/train.txt", dir);
    snprintf(out, sizeof out, "%s/model-%d.safetensors", dir, fail_step);
    mlic_train_backend be = failing_backend();
    mlic_train_opts o;
    mlic_train_opts_init(&o);
    o.arch = "resnet18";
    o.train_path = list;
    o.output_path = out;
    o.epochs = EPOCHS;
    o.batch_size = BATCH;
    o.crop = 32;
    o.resize = 36;
    o.threads = 1;
    o.workers = 1;
    o.progress = on_progress;
    memset(&inj, 0, sizeof inj);
    inj.fail_step = fail_step;
    steps_seen = 0;
    const mlic_status s = mlic_train_run_backend(&o, &be);
    const int per_epoch = ITEMS / BATCH;
    snprintf(want, sizeof want, "epoch %d, batch %d: ", (fail_step - 1) / per_epoch + 1,
             (fail_step - 1) % per_epoch + 1);
    CHECK(s == MLIC_ERR_BACKEND, "step %d: status %s (%s)", fail_step, mlic_status_name(s),
          mlic_errmsg());
    CHECK(strstr(mlic_errmsg(), want) && strstr(mlic_errmsg(), "injected backward failure") &&
              strstr(mlic_errmsg(), "node fc"),
          "step %d: the error names %s and the node: %s", fail_step, want, mlic_errmsg());
    CHECK(steps_seen == fail_step - 1, "step %d: %d steps completed before it", fail_step,
          steps_seen);
    CHECK(inj.steps == fail_step, "step %d: no backward after the failing one (%d)", fail_step,
          inj.steps);
    CHECK(inj.destroyed && inj.weights_kept,
          "step %d: the optimizer left the weights of the failing step alone", fail_step);
    CHECK(access(out, F_OK) != 0, "step %d: no model file from a failed run", fail_step);
    free(inj.at_failure);
    inj.at_failure = NULL;
}

int main(void)
{
    char dir[] = "/tmp/mlic_test_train_fail_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[512];
    snprintf(path, sizeof path, "%s/train.txt", dir);
    FILE *list = fopen(path, "w");
    CHECK(list != NULL, "list");
    for (int i = 0; i < ITEMS; i++) {
        snprintf(path, sizeof path, "%s/%d.bmp", dir, i);
        const unsigned char shade = (unsigned char)(60 * i);
        CHECK(bmp_write_solid(path, SIDE, shade, 200, (unsigned char)(255 - shade)) == 0, "%s", path);
        fprintf(list, "%d.bmp\t%s\n", i, i % 2 ? "a" : "a,b");
    }
    fclose(list);

    run_failing_at(dir, 2);     /* mid-run: the next step never runs */
    run_failing_at(dir, STEPS); /* the last step: the run fails too */

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
    CHECK_DONE();
}
