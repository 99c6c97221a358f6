/* Checkpoints (src/train/checkpoint.h): a save restores exactly into a fresh graph and optimizer,
 * and a resume is refused, naming what differs, for other settings, other training data or
 * another arch. (tests/py/test_train.py checks a whole resumed run against an uninterrupted
 * one.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/rng.h"
#include "train/checkpoint.h"
#include "train/init.h"

#define N_ITEMS 10

/* Overwrite the first `from` in the file with `to` (the same length): damage to the header. */
static int patch_file(const char *path, const char *from, const char *to)
{
    FILE *f = fopen(path, "r+b");
    if (!f)
        return 0;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    char *at = memmem(buf, n, from, strlen(from));
    int ok = at && strlen(to) == strlen(from) && fseek(f, at - buf, SEEK_SET) == 0 &&
             fwrite(to, 1, strlen(to), f) == strlen(to);
    fclose(f);
    return ok;
}

static mlic_optim *make_optim(const mlic_graph *g)
{
    mlic_optim_cfg c = mlic_optim_defaults(MLIC_OPTIM_ADAMW);
    mlic_optim *o = NULL;
    CHECK(mlic_optim_create(&o, &c, g->nweights, NULL) == MLIC_OK, "%s", mlic_errmsg());
    return o;
}

int main(void)
{
    char path[] = "/tmp/mlic_test_ckpt_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    const char *config = "{\"lr\":0.1,\"seed\":\"7\",\"classes\":[\"a\",\"b\"]}";

    mlic_graph *g = NULL, *h = NULL, *r18 = NULL;
    CHECK(mlic_graph_build(&g, "mobilenet_v2", 2) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_graph_build(&h, "mobilenet_v2", 2) == MLIC_OK, "%s", mlic_errmsg());
    mlic_train_init_weights(g, 1);
    mlic_optim *o = make_optim(g), *p = make_optim(h);
    size_t count = 0;
    float *state = mlic_optim_state(o, &count);
    CHECK(count == 2 * g->nweights, "AdamW state is exp_avg and exp_avg_sq");
    mlic_rng r;
    mlic_rng_init(&r, 3, 0);
    for (size_t i = 0; i < count; i++)
        state[i] = (float)mlic_rng_uniform(&r);
    mlic_optim_set_step_count(o, 42);
    size_t order[N_ITEMS] = {3, 1, 4, 0, 5, 9, 2, 6, 8, 7}, back[N_ITEMS];
    /* Mid-epoch (a cancelled run): the epoch's loss sum must come back to the bit. */
    const mlic_checkpoint_state st = {.epoch = 2, .step = 40, .batch = 3,
                                      .epoch_loss = 1.0 / 3.0 + 0.7,
                                      .seed = 18446744073709551557ull, .best_map = 61.25,
                                      .best_epoch = 1};
    CHECK(mlic_checkpoint_save(path, g, o, order, N_ITEMS, &st, config) == MLIC_OK, "%s",
          mlic_errmsg());

    mlic_checkpoint_state got = {0}; /* .ema NULL: none to restore */
    CHECK(mlic_checkpoint_load(path, h, p, back, N_ITEMS, &got, config) == MLIC_OK, "%s",
          mlic_errmsg());
    CHECK(!memcmp(g->weights, h->weights, g->nweights * sizeof(float)), "weights restored");
    size_t count2 = 0;
    const float *state2 = mlic_optim_state(p, &count2);
    CHECK(count2 == count && !memcmp(state, state2, count * sizeof(float)), "optimizer state");
    CHECK(mlic_optim_step_count(p) == 42, "step count %lld", (long long)mlic_optim_step_count(p));
    CHECK(!memcmp(order, back, sizeof order), "order restored");
    CHECK(got.epoch == 2 && got.step == 40 && got.seed == st.seed && got.best_map == 61.25 &&
          got.best_epoch == 1 && got.batch == 3 && got.epoch_loss == st.epoch_loss,
          "state restored");

    /* --ema's average: saved and restored when the run keeps one, required then */
    float *avg = malloc(g->nweights * sizeof *avg), *avg_back = calloc(g->nweights, sizeof *avg);
    for (size_t i = 0; i < g->nweights; i++)
        avg[i] = (float)mlic_rng_uniform(&r);
    got.ema = avg_back;
    CHECK(mlic_checkpoint_load(path, h, p, back, N_ITEMS, &got, config) == MLIC_ERR_FORMAT,
          "a checkpoint without the average is refused to a run that keeps one");
    CHECK(strstr(mlic_errmsg(), "ema.weights"), "%s", mlic_errmsg());
    mlic_checkpoint_state with_ema = st;
    with_ema.ema = avg;
    CHECK(mlic_checkpoint_save(path, g, o, order, N_ITEMS, &with_ema, config) == MLIC_OK, "%s",
          mlic_errmsg());
    CHECK(mlic_checkpoint_load(path, h, p, back, N_ITEMS, &got, config) == MLIC_OK, "%s",
          mlic_errmsg());
    CHECK(got.ema == avg_back && !memcmp(avg, avg_back, g->nweights * sizeof *avg),
          "average restored");
    got.ema = NULL;
    free(avg);
    free(avg_back);
    /* other settings: the message names the key and both values */
    CHECK(mlic_checkpoint_load(path, h, p, back, N_ITEMS, &got,
                               "{\"lr\":0.2,\"seed\":\"7\",\"classes\":[\"a\",\"b\"]}") ==
              MLIC_ERR_INVALID_ARG, "another lr is refused");
    CHECK(strstr(mlic_errmsg(), "lr 0.1") && strstr(mlic_errmsg(), "0.2"), "%s", mlic_errmsg());
    CHECK(mlic_checkpoint_load(path, h, p, back, N_ITEMS, &got,
                               "{\"lr\":0.1,\"seed\":\"7\",\"classes\":[\"a\",\"c\"]}") ==
              MLIC_ERR_INVALID_ARG, "other classes are refused");
    CHECK(strstr(mlic_errmsg(), "classes"), "%s", mlic_errmsg());
    /* other training data */
    CHECK(mlic_checkpoint_load(path, h, p, back, N_ITEMS - 1, &got, config) ==
              MLIC_ERR_INVALID_ARG, "another data size is refused");
    CHECK(strstr(mlic_errmsg(), "training data changed"), "%s", mlic_errmsg());
    /* another arch */
    CHECK(mlic_graph_build(&r18, "resnet18", 2) == MLIC_OK, "%s", mlic_errmsg());
    mlic_optim *q = make_optim(r18);
    CHECK(mlic_checkpoint_load(path, r18, q, back, N_ITEMS, &got, config) == MLIC_ERR_INVALID_ARG,
          "another arch is refused");
    CHECK(strstr(mlic_errmsg(), "mobilenet_v2") && strstr(mlic_errmsg(), "resnet18"), "%s",
          mlic_errmsg());
    /* a setting the run has but the stored config lacks: damage, not "(unset)" */
    const char *more = "{\"lr\":0.1,\"seed\":\"7\",\"classes\":[\"a\",\"b\"],\"arch\":1}";
    CHECK(mlic_checkpoint_load(path, h, p, back, N_ITEMS, &got, more) == MLIC_ERR_FORMAT,
          "a config without a setting is corrupt");
    CHECK(strstr(mlic_errmsg(), "corrupt checkpoint header") &&
          strstr(mlic_errmsg(), "lacks the setting \"arch\"") && !strstr(mlic_errmsg(), "unset"),
          "%s", mlic_errmsg());
    /* settings newer than the checkpoint (written before --ema existed) read as off */
    CHECK(mlic_checkpoint_load(path, h, p, back, N_ITEMS, &got,
                               "{\"lr\":0.1,\"seed\":\"7\",\"classes\":[\"a\",\"b\"],"
                               "\"ema\":0,\"mixup\":0}") == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_checkpoint_load(path, h, p, back, N_ITEMS, &got,
                               "{\"lr\":0.1,\"seed\":\"7\",\"classes\":[\"a\",\"b\"],"
                               "\"cutmix\":1}") == MLIC_ERR_INVALID_ARG, "cutmix 1 after none");
    CHECK(strstr(mlic_errmsg(), "made with cutmix 0, this run has 1"), "%s", mlic_errmsg());
    /* a damaged field name in the header is named */
    CHECK(patch_file(path, "\\\"epoch\\\"", "\\\"epocX\\\""), "patching the header");
    CHECK(mlic_checkpoint_load(path, h, p, back, N_ITEMS, &got, config) == MLIC_ERR_FORMAT,
          "a header without epoch is corrupt");
    CHECK(strstr(mlic_errmsg(), "corrupt checkpoint header: \"epoch\" is missing"), "%s",
          mlic_errmsg());
    CHECK(patch_file(path, "\\\"arch\\\"", "\\\"arcX\\\""), "patching the header");
    CHECK(mlic_checkpoint_load(path, h, p, back, N_ITEMS, &got, config) == MLIC_ERR_FORMAT,
          "a header without arch is corrupt");
    CHECK(strstr(mlic_errmsg(), "corrupt checkpoint header: \"arch\" is missing"), "%s",
          mlic_errmsg());
    /* not a checkpoint */
    CHECK(mlic_checkpoint_load("/nonexistent/ckpt", h, p, back, N_ITEMS, &got, config) ==
              MLIC_ERR_IO, "a missing file is an I/O error");

    unlink(path);
    mlic_optim_destroy(o);
    mlic_optim_destroy(p);
    mlic_optim_destroy(q);
    mlic_graph_free(g);
    mlic_graph_free(h);
    mlic_graph_free(r18);
    CHECK_DONE();
}
