/* The learning rate mlic_train_run steps with, step by step (issue 11): with --warmup-epochs 1
 * and cosine it is the PyTorch recipe's LambdaLR, step s of the W warm-up steps at
 * lr * (s + 1) / W, then lr * (1 + cos(pi * (s - W) / (T - W))) / 2, W and T counted in batches
 * of the data set with its incomplete last batch dropped. tests/py/test_optim_schedule.py checks
 * that schedule against torch's LambdaLR; this checks that the trainer runs it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bmp_write.h"
#include "check.h"
#include "core/error.h"
#include "train/trainer.h"

#define ITEMS 9 /* 4 batches of 2 an epoch, one image left over */
#define BATCH 2
#define EPOCHS 3
#define PER_EPOCH (ITEMS / BATCH)
#define STEPS (EPOCHS * PER_EPOCH)
#define SIDE 40
#define LR 2e-3

static struct {
    int steps;
    double lr[STEPS + 1];
    int64_t step[STEPS + 1];
    int64_t batches[STEPS + 1];
} seen;

static void on_progress(void *user, const mlic_train_progress *p)
{
    if (p->kind != MLIC_TRAIN_EVENT_STEP || seen.steps > STEPS)
        return;
    seen.lr[seen.steps] = p->lr;
    seen.step[seen.steps] = p->step;
    seen.batches[seen.steps] = p->batches;
    seen.steps++;
}

int main(void)
{
    char dir[] = "/tmp/mlic_test_train_lr_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[512], out[512];
    snprintf(path, sizeof path, "%s/train.txt", dir);
    FILE *list = fopen(path, "w");
    CHECK(list != NULL, "list");
    for (int i = 0; i < ITEMS; i++) {
        char img[512];
        snprintf(img, sizeof img, "%s/%d.bmp", dir, i);
        const unsigned char shade = (unsigned char)(30 * i);
        CHECK(bmp_write_solid(img, SIDE, shade, 200, (unsigned char)(255 - shade)) == 0, "%s", img);
        fprintf(list, "%d.bmp\t%s\n", i, i % 2 ? "a" : "a,b");
    }
    fclose(list);
    snprintf(out, sizeof out, "%s/m.safetensors", dir);

    mlic_train_opts o;
    mlic_train_opts_init(&o);
    o.arch = "resnet18";
    o.train_path = path;
    o.output_path = out;
    o.epochs = EPOCHS;
    o.batch_size = BATCH;
    o.crop = 32;
    o.resize = 36;
    o.threads = 1;
    o.workers = 1;
    mlic_train_opts_optimizer_defaults(&o, MLIC_OPTIM_ADAMW);
    o.lr = LR;
    o.schedule = MLIC_SCHED_COSINE;
    o.warmup_epochs = 1;
    o.progress = on_progress;
    const mlic_status s = mlic_train_run(&o);
    CHECK(s == MLIC_OK, "training: %s", mlic_errmsg());
    CHECK(seen.steps == STEPS, "%d steps, want %d (%d batches an epoch, the last image dropped)",
          seen.steps, STEPS, PER_EPOCH);
    const int w = PER_EPOCH;
    for (int k = 0; k < seen.steps && k < STEPS; k++) {
        const double t = (double)(k - w) / (double)(STEPS - w);
        const double want = k < w ? LR * (k + 1) / w : LR * (1.0 + cos(M_PI * t)) / 2;
        CHECK(seen.step[k] == k + 1 && seen.batches[k] == PER_EPOCH, "step %d: reported as step "
              "%lld of an epoch of %lld batches", k, (long long)seen.step[k],
              (long long)seen.batches[k]);
        CHECK(fabs(seen.lr[k] - want) <= 1e-12 * LR, "step %d: lr %.17g, the recipe's %.17g", k,
              seen.lr[k], want);
    }
    CHECK(fabs(seen.lr[0] - LR / w) <= 1e-12 * LR && seen.lr[w - 1] == LR && seen.lr[w] == LR,
          "the warm-up starts at lr / W and reaches lr at its last step: %g %g %g", seen.lr[0],
          seen.lr[w - 1], seen.lr[w]);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
    CHECK_DONE();
}
