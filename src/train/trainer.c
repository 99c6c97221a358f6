/* The training loop (see trainer.h); the JSON Lines log and the run's settings are in
 * trainer_log.c. */
#include "train/trainer.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "core/error.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "dist/train_comm.h"
#include "eval/evaluate.h"
#include "io/cache.h"
#include "io/location.h"
#include "io/storage.h"
#include "model/model.h"
#include "train/checkpoint.h"
#include "train/ema.h"
#include "train/init.h"
#include "train/mix.h"
#include "train/train_graph.h"
#include "train/trainer_log.h"

typedef struct {
    const mlic_train_opts *o;
    const mlic_train_backend *backend; /* NULL: the default */
    int threads;
    mlic_storage *storage;      /* NULL when no path is remote */
    mlic_io *io;                /* this thread's client: data sets, model, checkpoint */
    mlic_io_cache *cache;       /* --cache, else NULL */
    mlic_dataset *train, *val;
    mlic_model *model;
    mlic_train_graph *exec;
    mlic_optim *optim;
    mlic_sched_cfg sched;
    mlic_loss_cfg loss;
    mlic_augment_cfg aug;
    size_t *order;              /* (train->nitems) the global order, the same on every rank */
    size_t *shard;              /* (batches * batch_size) this rank's slices of the epoch */
    int64_t batches;            /* global batches per epoch */
    mlic_train_comm *comm;
    int rank, nranks;
    float *dlogits;             /* (batch, K) */
    mlic_ema *ema;              /* --ema, else NULL */
    mlic_mix_cfg mix;           /* --mixup, --cutmix */
    float *mix_images, *mix_targets; /* the mixed batch, when mixing */
    mlic_checkpoint_state st;
    char *config;               /* the settings a resume must share (JSON) */
    char *ckpt_path;
    double run_start;           /* for the ETA */
    int64_t run_steps;          /* steps taken by this process */
    int stopped;                /* ended early by stop_after_epochs */
} trainer;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void emit(const trainer *t, const mlic_train_progress *p)
{
    if (t->o->progress)
        t->o->progress(t->o->progress_user, p);
}

static void info(const trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void info(const trainer *t, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mlic_train_progress p = {.kind = MLIC_TRAIN_EVENT_INFO, .message = msg};
    emit(t, &p);
}

void mlic_train_opts_init(mlic_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 10;
    o->batch_size = 32;
    o->schedule = MLIC_SCHED_COSINE;
    o->lr_step_epochs = 30;
    o->loss = MLIC_LOSS_BCE;
    o->crop = 224;
    o->resize = 256;
    o->jitter = 0.4f;
    o->crop_scale = 0.08f;
    mlic_train_opts_optimizer_defaults(o, MLIC_OPTIM_SGD);
}

void mlic_train_opts_optimizer_defaults(mlic_train_opts *o, mlic_optim_kind kind)
{
    o->optimizer = kind;
    o->lr = kind == MLIC_OPTIM_ADAMW ? 1e-3 : 0.01;
    o->weight_decay = kind == MLIC_OPTIM_ADAMW ? 0.01 : 1e-4;
    o->momentum = 0.9;
}

/* ---------------------------------------------------------------- set-up */

static mlic_status check_opts(const mlic_train_opts *o)
{
    if (!o->arch || !o->train_path || !o->output_path)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "train: arch, training data and output are needed");
    if (o->epochs < 1 || o->batch_size < 1 || o->warmup_epochs < 0 || o->lr_step_epochs < 1 ||
        o->stop_after_epochs < 0 || o->threads < 0 || o->workers < 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "train: epochs %d, batch size %d, warm-up %d, lr "
                         "step %d: epochs, batch size and lr step must be >= 1, the others >= 0",
                         o->epochs, o->batch_size, o->warmup_epochs, o->lr_step_epochs);
    if (o->log_path && mlic_location_is_remote(o->log_path))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "--log %s: the log is a local file (it is "
                         "rewritten after every epoch). HINT: log locally and copy it once the "
                         "run is over", o->log_path);
    if (o->warmup_epochs > o->epochs)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "train: %d warm-up epochs but %d epochs in all. "
                         "HINT: use fewer --warmup-epochs", o->warmup_epochs, o->epochs);
    if (!(o->lr > 0) || !isfinite(o->lr) || !(o->weight_decay >= 0) ||
        !isfinite(o->weight_decay) || !(o->momentum >= 0 && o->momentum < 1))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "train: lr %g, weight decay %g, momentum %g. HINT: "
                         "lr > 0, weight decay >= 0, momentum in [0, 1)", o->lr, o->weight_decay,
                         o->momentum);
    if (!(o->crop_scale > 0 && o->crop_scale <= 1))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "--crop-scale %g: the smallest crop is a fraction of "
                         "the image's area. HINT: a number in (0, 1], e.g. torchvision's 0.08",
                         o->crop_scale);
    return MLIC_OK;
}

static int remote(const char *path) { return path && mlic_location_is_remote(path); }

/* A storage and a client, made once something remote is named. */
static mlic_status need_storage(trainer *t)
{
    if (t->storage)
        return MLIC_OK;
    mlic_status s = mlic_storage_create(&t->storage, t->o->storage);
    const mlic_io_opts io_opts = {.storage = t->storage, .cancel = t->o->cancel};
    if (s == MLIC_OK)
        s = mlic_io_create(&t->io, &io_opts);
    return s;
}

/* The storage when a path given is remote (the data sets' image paths are looked at once they
 * are loaded), and the cache. */
static mlic_status open_storage(trainer *t)
{
    const mlic_train_opts *o = t->o;
    mlic_status s = MLIC_OK;
    if (remote(o->train_path) || remote(o->val_path) || remote(o->classes_path) ||
        remote(o->root) || remote(o->output_path) || remote(o->checkpoint_path) ||
        remote(o->pretrained_path))
        s = need_storage(t);
    if (s == MLIC_OK && o->cache_dir)
        s = mlic_io_cache_create(&t->cache, o->cache_dir, o->cache_bytes);
    return s;
}

static mlic_status load_data(trainer *t)
{
    const mlic_train_opts *o = t->o;
    mlic_dataset_opts dopts;
    mlic_dataset_opts_init(&dopts);
    dopts.storage = t->storage;
    dopts.root = o->root;
    dopts.classes_path = o->classes_path;
    dopts.confine_to_root = o->confine_to_root;
    mlic_status s = mlic_dataset_load(&t->train, o->train_path, &dopts);
    if (s != MLIC_OK)
        return mlic_fail_prefix(s, "--data: ");
    const size_t global = (size_t)o->batch_size * (size_t)t->nranks;
    if (t->train->nitems < global)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "--data %s: %zu images, fewer than one batch of "
                         "%zu%s (incomplete batches are dropped). HINT: lower --batch-size",
                         o->train_path, t->train->nitems, global,
                         t->nranks > 1 ? " (ranks x --batch-size)" : "");
    if (t->train->nitems > MLIC_LOADER_MAX_ITEMS)
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "--data %s: %zu images, more than %zu",
                         o->train_path, t->train->nitems, MLIC_LOADER_MAX_ITEMS);
    t->batches = (int64_t)(t->train->nitems / global);
    if (o->val_path && (s = mlic_dataset_load(&t->val, o->val_path, &dopts)) != MLIC_OK)
        return mlic_fail_prefix(s, "--val: ");
    /* A local list may name remote images (PAI's CSV with oss:// URLs). */
    if (mlic_dataset_has_remote(t->train) || mlic_dataset_has_remote(t->val))
        return need_storage(t);
    return MLIC_OK;
}

static mlic_status make_model(trainer *t)
{
    const mlic_train_opts *o = t->o;
    mlic_preprocess pre = mlic_preprocess_default();
    pre.crop = o->crop;
    pre.resize = o->resize;
    const mlic_model_spec spec = {.arch = o->arch,
                                  .classes = (const char *const *)t->train->classes,
                                  .num_classes = t->train->num_classes,
                                  .threshold = 0.5f,
                                  .pre = pre};
    mlic_status s = mlic_model_create(&t->model, &spec);
    if (s != MLIC_OK)
        return s;
    mlic_graph *g = t->model->graph;
    if (o->pretrained_path) {
        mlic_pretrained_report r;
        s = mlic_train_load_pretrained_io(g, t->io, o->pretrained_path, spec.classes,
                                          spec.num_classes, o->seed, &r);
        if (s != MLIC_OK)
            return s;
        info(t, "pretrained %s: %d of %d tensors loaded%s%s", o->pretrained_path, r.loaded,
             r.total, r.head_kept ? ", head kept (same classes)" : ", head re-initialised",
             r.mismatched ? " (some tensors of other shapes skipped)" : "");
    } else {
        mlic_train_init_weights(g, o->seed);
    }
    if (o->freeze_backbone)
        mlic_train_graph_freeze_backbone(g);
    const mlic_train_backend *direct = mlic_train_backend_find("onednn-direct");
    const mlic_train_backend *be = t->backend                ? t->backend
                                   : o->direct_conv && direct ? direct
                                                              : mlic_train_backend_default();
    return mlic_train_graph_create(&t->exec, g, o->batch_size, o->crop, o->crop, be);
}

static mlic_status make_optimizer(trainer *t)
{
    const mlic_train_opts *o = t->o;
    const mlic_graph *g = t->model->graph;
    mlic_optim_cfg oc = mlic_optim_defaults(o->optimizer);
    oc.weight_decay = (float)o->weight_decay;
    oc.max_grad_norm = o->max_grad_norm;
    if (o->optimizer == MLIC_OPTIM_SGD)
        oc.momentum = (float)o->momentum;
    else
        oc.beta1 = (float)o->momentum;
    uint8_t *roles = malloc(g->nweights + 1);
    if (!roles)
        return mlic_fail(MLIC_ERR_NOMEM, "train: out of memory");
    mlic_optim_roles_from_graph(roles, g);
    mlic_status s = mlic_optim_create(&t->optim, &oc, g->nweights, roles);
    free(roles);
    if (s != MLIC_OK)
        return s;

    t->sched = mlic_sched_defaults(o->schedule, o->lr);
    t->sched.total_steps = (int64_t)o->epochs * t->batches;
    t->sched.warmup_steps = (int64_t)o->warmup_epochs * t->batches;
    t->sched.step_size = (int64_t)o->lr_step_epochs * t->batches;
    if (o->schedule == MLIC_SCHED_ONECYCLE && o->optimizer == MLIC_OPTIM_SGD && o->momentum == 0)
        t->sched.base_momentum = t->sched.max_momentum = 0; /* nothing to cycle */
    return mlic_sched_check(&t->sched);
}

/* --ema's average of the starting weights, and --mixup / --cutmix's batch buffers. */
static mlic_status make_ema_and_mix(trainer *t)
{
    const mlic_train_opts *o = t->o;
    const mlic_graph *g = t->model->graph;
    t->mix = (mlic_mix_cfg){.mixup_alpha = o->mixup, .cutmix_alpha = o->cutmix};
    mlic_status s = mlic_mix_cfg_check(&t->mix);
    if (s == MLIC_OK && o->ema != 0)
        s = mlic_ema_create(&t->ema, g->weights, g->nweights, o->ema);
    if (s != MLIC_OK || !mlic_mix_enabled(&t->mix))
        return s;
    const size_t n = (size_t)o->batch_size;
    t->mix_images = malloc(n * 3 * (size_t)o->crop * (size_t)o->crop * sizeof *t->mix_images);
    t->mix_targets = malloc(n * (size_t)t->model->num_classes * sizeof *t->mix_targets);
    return t->mix_images && t->mix_targets ? MLIC_OK
                                           : mlic_fail(MLIC_ERR_NOMEM, "train: out of memory");
}

static mlic_status setup(trainer *t)
{
    const mlic_train_opts *o = t->o;
    mlic_status s = check_opts(o);
    if (s == MLIC_OK)
        s = open_storage(t);
    if (s == MLIC_OK)
        s = load_data(t);
    if (s == MLIC_OK)
        s = make_model(t);
    if (s == MLIC_OK)
        s = make_optimizer(t);
    if (s == MLIC_OK)
        s = make_ema_and_mix(t);
    if (s == MLIC_OK)
        s = mlic_train_comm_attach(t->comm, t->model->graph, t->exec, o->sync_bn);
    if (s != MLIC_OK)
        return s;
    t->loss = mlic_loss_defaults(o->loss);
    t->aug = mlic_augment_cfg_default(&t->model->pre);
    for (int i = 0; i < 3; i++)
        t->aug.jitter[i] = o->jitter;
    t->aug.scale[0] = o->crop_scale;
    const size_t n = t->train->nitems;
    t->order = malloc(n * sizeof *t->order);
    t->shard = malloc((size_t)t->batches * (size_t)o->batch_size * sizeof *t->shard);
    t->dlogits = malloc((size_t)o->batch_size * t->model->num_classes * sizeof *t->dlogits);
    /* The checkpoint records the global batch, so that a resume may change the number of ranks
     * (and --batch-size with it). */
    mlic_train_opts global = *o;
    global.batch_size = o->batch_size * t->nranks;
    t->config = mlic_trainer_config_json(&global, t->model, n);
    if (o->checkpoint_path) {
        t->ckpt_path = strdup(o->checkpoint_path);
    } else if ((t->ckpt_path = malloc(strlen(o->output_path) + 6)) != NULL) {
        strcpy(t->ckpt_path, o->output_path);
        strcat(t->ckpt_path, ".ckpt");
    }
    if (!t->order || !t->shard || !t->dlogits || !t->config || !t->ckpt_path)
        return mlic_fail(MLIC_ERR_NOMEM, "train: out of memory");
    for (size_t i = 0; i < n; i++)
        t->order[i] = i;
    t->st = (mlic_checkpoint_state){.seed = o->seed, .best_map = NAN,
                                    .ema = t->ema ? mlic_ema_weights(t->ema) : NULL};
    return MLIC_OK;
}

static int list_match(void *user, const char *path, uint64_t size)
{
    (void)size;
    char **want = user;
    if (strcmp(path, *want))
        return 0;
    *want = NULL; /* found */
    return 1;
}

/* Whether the checkpoint exists, without opening it: mlic_checkpoint_load checks what it is.
 * A remote one is looked for by listing its key as a prefix, which a store answers alike
 * whether or not the object exists. */
static mlic_status checkpoint_exists(trainer *t, int *exists)
{
    if (!remote(t->ckpt_path)) {
        *exists = access(t->ckpt_path, F_OK) == 0;
        return MLIC_OK;
    }
    char *want = t->ckpt_path;
    mlic_status s = mlic_io_list(t->io, t->ckpt_path, list_match, &want);
    *exists = want == NULL;
    return s == MLIC_OK ? s : mlic_fail_prefix(s, "--resume: looking for the checkpoint: ");
}

static mlic_status maybe_resume(trainer *t)
{
    const mlic_train_opts *o = t->o;
    int exists = 0;
    if (o->resume) {
        mlic_status s = checkpoint_exists(t, &exists);
        if (s != MLIC_OK)
            return s;
    }
    if (!exists) {
        if (o->resume)
            info(t, "no checkpoint %s yet: starting from the beginning", t->ckpt_path);
        return o->log_path && t->rank == 0 ? mlic_trainer_log_truncate(o->log_path) : MLIC_OK;
    }
    mlic_status s = mlic_checkpoint_load_io(t->io, t->ckpt_path, t->model->graph, t->optim,
                                            t->order, t->train->nitems, &t->st, t->config);
    if (s == MLIC_OK && t->st.batch > 0)
        info(t, "resumed from %s in epoch %lld after batch %lld (step %lld)", t->ckpt_path,
             (long long)t->st.epoch + 1, (long long)t->st.batch, (long long)t->st.step);
    else if (s == MLIC_OK)
        info(t, "resumed from %s after epoch %lld (step %lld)", t->ckpt_path,
             (long long)t->st.epoch, (long long)t->st.step);
    if (s == MLIC_OK && t->st.batch > t->batches)
        s = mlic_fail(MLIC_ERR_FORMAT, "checkpoint %s: %lld batches done of an epoch of %lld",
                      t->ckpt_path, (long long)t->st.batch, (long long)t->batches);
    return s;
}

/* ---------------------------------------------------------------- one epoch */

/* Fisher-Yates over the previous epoch's order. */
static void shuffle(trainer *t, int epoch)
{
    mlic_rng r;
    mlic_rng_init(&r, t->o->seed, MLIC_TRAIN_STREAM_SHUFFLE + (uint64_t)epoch);
    for (size_t i = t->train->nitems - 1; i > 0; i--) {
        const size_t j = (size_t)mlic_rng_below(&r, i + 1);
        const size_t tmp = t->order[i];
        t->order[i] = t->order[j];
        t->order[j] = tmp;
    }
}

static mlic_status step(trainer *t, const mlic_batch *b, double *loss, double *lr)
{
    const int64_t k = t->st.step;
    *lr = mlic_sched_lr(&t->sched, k);
    const double momentum = mlic_sched_momentum(&t->sched, k);
    mlic_status s = momentum >= 0 ? mlic_optim_set_momentum(t->optim, (float)momentum) : MLIC_OK;
    const float *logits;
    float *weights = t->model->graph->weights;
    omp_set_num_threads(t->threads);
    /* Every rank its own dropout masks and mixing (one process: the streams of step k). */
    const uint64_t rank_step = (uint64_t)k * (uint64_t)t->nranks + (uint64_t)t->rank;
    const float *images = b->images, *targets = b->targets;
    if (t->mix_images) {
        mlic_rng r;
        mlic_mix_params mp;
        mlic_rng_init(&r, t->o->seed, MLIC_TRAIN_STREAM_MIX + rank_step);
        mlic_mix_sample(&mp, &t->mix, b->size, &r);
        mlic_mix_apply(t->mix_images, t->mix_targets, b->images, b->targets, b->n, b->size,
                       b->num_classes, &mp);
        images = t->mix_images;
        targets = t->mix_targets;
    }
    if (s == MLIC_OK)
        s = mlic_train_graph_forward(t->exec, &logits, images, b->n, 1, t->o->seed,
                                     MLIC_TRAIN_STREAM_DROPOUT + rank_step);
    if (s == MLIC_OK)
        s = mlic_loss_compute(loss, t->dlogits, logits, targets, b->n, b->num_classes, &t->loss);
    /* The global batch's mean loss, and every rank leaves here if one failed. */
    s = mlic_train_comm_mean(t->comm, loss, s);
    if (s != MLIC_OK)
        return s;
    /* The ranks' gradients are summed: each contributes the gradient of its loss / N. */
    if (t->nranks > 1)
        for (size_t i = 0; i < (size_t)b->n * (size_t)b->num_classes; i++)
            t->dlogits[i] /= (float)t->nranks;
    mlic_train_graph_zero_grad(t->exec);
    mlic_train_comm_grads_begin(t->comm, weights);
    s = mlic_train_graph_backward(t->exec, t->dlogits);
    const mlic_status summed = mlic_train_comm_grads_finish(t->comm, weights);
    if (s == MLIC_OK)
        s = summed;
    if (s == MLIC_OK &&
        mlic_optim_step(t->optim, weights, mlic_train_graph_grads(t->exec), *lr) != MLIC_OK) {
        char why[512], before[64] = "";
        mlic_train_graph_explain_nonfinite(t->exec, b->n * (t->o->sync_bn ? t->nranks : 1), why,
                                           sizeof why);
        const double last_norm = mlic_optim_grad_norm(t->optim); /* 0 before the first step */
        if (last_norm > 0) /* shows whether the run was blowing up already */
            snprintf(before, sizeof before, ", the previous step's gradient norm %g", last_norm);
        s = mlic_fail(MLIC_ERR_INVALID_ARG, "the gradient is not finite (loss %g%s): training "
                      "diverged%s. HINT: clip with --max-grad-norm (e.g. 1), lower --lr, or train "
                      "with a larger --batch-size or --crop", *loss, before, why);
    }
    if (s == MLIC_OK && t->ema)
        mlic_ema_update(t->ema, weights, k);
    /* A rank whose backward failed stops every rank at this step. */
    s = mlic_train_comm_agree(t->comm, s);
    if (s == MLIC_OK && t->o->check_weights) {
        char when[48];
        snprintf(when, sizeof when, "after step %lld", (long long)k + 1);
        s = mlic_train_comm_check_weights(t->comm, weights, t->model->graph->nweights, when);
    }
    t->st.step++;
    t->run_steps++;
    return s;
}

/* The next batch, or the cancellation once it was asked for. */
static mlic_status next_batch(const trainer *t, mlic_loader *l, const mlic_batch **b)
{
    if (t->o->cancel && *t->o->cancel)
        return mlic_fail(MLIC_ERR_CANCELLED, "cancelled");
    return mlic_loader_next(l, b);
}

/* One epoch from batch t->st.batch on (0, or where a cancelled run stopped: its order is
 * the checkpoint's, already shuffled). */
static mlic_status train_epoch(trainer *t, int epoch, double *mean_loss, double *last_lr,
                               double *images_per_s)
{
    const mlic_train_opts *o = t->o;
    if (t->st.batch == 0)
        shuffle(t, epoch);
    const size_t bs = (size_t)o->batch_size;
    for (int64_t g = 0; g < t->batches; g++)
        memcpy(t->shard + (size_t)g * bs, t->order + ((size_t)g * t->nranks + t->rank) * bs,
               bs * sizeof *t->shard);
    const size_t skip = (size_t)t->st.batch * bs;
    mlic_loader_cfg lc;
    mlic_loader_cfg_init(&lc);
    lc.data = t->train;
    lc.order = t->shard + skip;
    lc.count = (size_t)t->batches * bs - skip;
    lc.batch_size = o->batch_size;
    lc.drop_last = 1;
    lc.mode = MLIC_LOADER_TRAIN;
    lc.aug = t->aug;
    lc.seed = o->seed;
    lc.epoch = (uint32_t)epoch;
    lc.workers = o->workers ? o->workers : t->threads;
    lc.storage = t->storage;
    lc.cache = t->cache;
    mlic_loader *l = NULL;
    mlic_status s = mlic_loader_create(&l, &lc);
    if (s != MLIC_OK)
        mlic_fail_prefix(s, "--data: ");
    if ((s = mlic_train_comm_agree(t->comm, s)) != MLIC_OK) {
        mlic_loader_destroy(l);
        return s;
    }
    const double start = now_s();
    int64_t images = 0;
    const mlic_batch *b;
    /* The ranks agree on each batch before its forward: a rank whose image failed, or that was
     * cancelled, stops all. */
    while (s == MLIC_OK &&
           (s = mlic_train_comm_agree(t->comm, next_batch(t, l, &b))) == MLIC_OK && b) {
        double loss = 0.0;
        s = step(t, b, &loss, last_lr);
        if (s != MLIC_OK) {
            mlic_fail_prefix(s, "epoch %d, batch %lld: ", epoch + 1,
                             (long long)t->st.batch + 1);
            break;
        }
        const int64_t done = ++t->st.batch;
        const double sum = t->st.epoch_loss += loss;
        images += (int64_t)b->n * t->nranks;
        const double elapsed = now_s() - start, run = now_s() - t->run_start;
        const int64_t left = (int64_t)o->epochs * t->batches - t->st.step;
        mlic_train_progress p = {.kind = MLIC_TRAIN_EVENT_STEP, .epoch = epoch + 1,
                                 .epochs = o->epochs, .step = t->st.step, .batch = done,
                                 .batches = t->batches, .loss = sum / (double)done, .lr = *last_lr,
                                 .images_per_s = elapsed > 0 ? (double)images / elapsed : 0.0,
                                 .eta_s = run / (double)t->run_steps * (double)left};
        emit(t, &p);
    }
    mlic_loader_destroy(l);
    const double elapsed = now_s() - start;
    *mean_loss = t->st.batch ? t->st.epoch_loss / (double)t->st.batch : NAN;
    *images_per_s = elapsed > 0 ? (double)images / elapsed : 0.0;
    return s;
}

/* ---------------------------------------------------------------- validation */

/* The validation loss from the engine's probabilities: logits recovered as log(p / (1 - p)),
 * which float32 probabilities bound to about [-87, 16.6]. */
static mlic_status val_loss(double *loss, const trainer *t, const mlic_eval_result *r)
{
    const size_t count = r->num_images * (size_t)r->num_classes;
    float *logits = malloc(count * sizeof *logits), *targets = malloc(count * sizeof *targets);
    mlic_status s = MLIC_OK;
    if (!logits || !targets) {
        s = mlic_fail(MLIC_ERR_NOMEM, "validation: out of memory");
    } else {
        for (size_t i = 0; i < count; i++) {
            const double p = fmin(fmax(r->scores[i], FLT_MIN), 1.0 - FLT_EPSILON / 2);
            logits[i] = (float)(log(p) - log1p(-p));
            targets[i] = r->targets[i];
        }
        s = mlic_loss_compute(loss, NULL, logits, targets, (int)r->num_images, r->num_classes,
                              &t->loss);
    }
    free(logits);
    free(targets);
    return s;
}

/* Scores of m on the validation data, with the metrics at m's thresholds. */
static mlic_status evaluate(mlic_eval_result *r, const trainer *t, const mlic_model *m)
{
    const mlic_train_opts *o = t->o;
    memset(r, 0, sizeof *r);
    mlic_engine *e = NULL;
    mlic_status s = mlic_engine_create(&e, m, MLIC_BACKEND_AUTO, o->batch_size, t->threads);
    if (s == MLIC_OK) {
        mlic_eval_opts eo;
        mlic_eval_opts_init(&eo);
        eo.batch_size = o->batch_size;
        eo.threads = t->threads;
        eo.workers = o->workers ? o->workers : t->threads;
        eo.storage = t->storage;
        eo.cache = t->cache;
        s = mlic_eval_engine(r, e, m, t->val, &eo, o->val_path);
    }
    mlic_engine_destroy(e);
    return s == MLIC_OK ? s : mlic_fail_prefix(s, "validation: ");
}

/* ---------------------------------------------------------------- the run */

/* Rank 0's end of an epoch: validation, the best model, the checkpoint, the log. */
static mlic_status end_epoch(trainer *t, int epoch, mlic_trainer_epoch_log *ep, double start)
{
    const mlic_train_opts *o = t->o;
    mlic_status s = MLIC_OK;
    if (t->val) {
        if (t->ema) /* validate, and save as the best, the average */
            mlic_ema_swap(t->ema, t->model->graph->weights);
        mlic_eval_result r;
        s = evaluate(&r, t, t->model);
        if (s == MLIC_OK)
            s = val_loss(&ep->val_loss, t, &r);
        ep->val_map = r.summary.map;
        ep->val_cf1 = r.summary.cf1;
        ep->val_of1 = r.summary.of1;
        mlic_eval_result_free(&r);
        ep->best = s == MLIC_OK && !isnan(ep->val_map) &&
                   (isnan(t->st.best_map) || ep->val_map > t->st.best_map);
        if (ep->best) {
            t->st.best_map = ep->val_map;
            t->st.best_epoch = epoch + 1;
            s = mlic_model_save_io(t->model, t->io, o->output_path);
        }
        if (t->ema) /* the weights back, for training on */
            mlic_ema_swap(t->ema, t->model->graph->weights);
    }
    if (s == MLIC_OK)
        s = mlic_checkpoint_save_io(t->io, t->ckpt_path, t->model->graph, t->optim, t->order,
                                 t->train->nitems, &t->st, t->config);
    ep->seconds = now_s() - start;
    if (s == MLIC_OK && o->log_path)
        s = mlic_trainer_log_epoch(o->log_path, ep);
    return s;
}

/* A cancelled epoch: rank 0 checkpoints the steps taken so far (every rank stopped at the same
 * step), and the run ends with where it stopped. */
static mlic_status cancel_epoch(trainer *t, int epoch)
{
    mlic_status s = MLIC_OK;
    if (t->st.batch > 0) {
        t->st.epoch = epoch;
        if (t->rank == 0)
            s = mlic_checkpoint_save_io(t->io, t->ckpt_path, t->model->graph, t->optim, t->order,
                                     t->train->nitems, &t->st, t->config);
        s = mlic_train_comm_agree(t->comm, s);
    }
    if (s != MLIC_OK)
        return s;
    if (t->st.batch > 0)
        return mlic_fail(MLIC_ERR_CANCELLED, "cancelled in epoch %d after batch %lld of %lld "
                         "(step %lld); checkpoint %s holds it, a run with resume continues there",
                         epoch + 1, (long long)t->st.batch, (long long)t->batches,
                         (long long)t->st.step, t->ckpt_path);
    if (epoch > 0)
        return mlic_fail(MLIC_ERR_CANCELLED, "cancelled at the start of epoch %d; checkpoint %s "
                         "holds epoch %d, a run with resume continues there", epoch + 1,
                         t->ckpt_path, epoch);
    return mlic_fail(MLIC_ERR_CANCELLED, "cancelled before the first step");
}

static mlic_status run_epochs(trainer *t)
{
    const mlic_train_opts *o = t->o;
    const mlic_graph *g = t->model->graph;
    int ran = 0;
    for (int epoch = (int)t->st.epoch; epoch < o->epochs; epoch++) {
        const double start = now_s();
        mlic_trainer_epoch_log ep = {.epoch = epoch + 1, .val_loss = NAN, .val_map = NAN,
                                     .val_cf1 = NAN, .val_of1 = NAN};
        mlic_status s = train_epoch(t, epoch, &ep.train_loss, &ep.lr, &ep.images_per_s);
        if (s == MLIC_ERR_CANCELLED)
            return cancel_epoch(t, epoch);
        t->st.batch = 0;
        t->st.epoch_loss = 0.0;
        char when[48];
        snprintf(when, sizeof when, "after epoch %d", epoch + 1);
        /* Rank 0's checkpoint stands for every rank's weights: check that they are equal. */
        if (s == MLIC_OK)
            s = mlic_train_comm_check_weights(t->comm, g->weights, g->nweights, when);
        t->st.epoch = epoch + 1;
        ep.step = t->st.step;
        if (s == MLIC_OK)
            s = mlic_train_comm_agree(t->comm, t->rank == 0 ? end_epoch(t, epoch, &ep, start) : s);
        if (s != MLIC_OK)
            return s;
        mlic_train_progress p = {.kind = MLIC_TRAIN_EVENT_EPOCH, .epoch = epoch + 1,
                                 .epochs = o->epochs, .step = t->st.step, .loss = ep.train_loss,
                                 .lr = ep.lr, .images_per_s = ep.images_per_s,
                                 .has_val = t->val != NULL && t->rank == 0,
                                 .val_loss = ep.val_loss, .val_map = ep.val_map,
                                 .val_cf1 = ep.val_cf1, .val_of1 = ep.val_of1, .best = ep.best};
        emit(t, &p);
        if (t->cache) {
            mlic_io_cache_stats cs;
            mlic_io_cache_get_stats(t->cache, &cs);
            info(t, "cache %s: %llu objects read from it and %llu fetched so far; it holds %llu "
                 "(%.1f MiB)", o->cache_dir, (unsigned long long)cs.hits,
                 (unsigned long long)cs.misses, (unsigned long long)cs.files,
                 (double)cs.bytes / 1048576.0);
        }
        if (o->stop_after_epochs && ++ran == o->stop_after_epochs && epoch + 1 < o->epochs) {
            t->stopped = 1;
            info(t, "stopped after epoch %d as asked; --resume continues", epoch + 1);
            break;
        }
    }
    return MLIC_OK;
}

/* The model to ship: the best on validation (the model file holds it) or the last, with
 * per-class thresholds tuned on validation. */
static mlic_status finish(trainer *t)
{
    const mlic_train_opts *o = t->o;
    if (t->ema) /* the average is the model (training is over) */
        mlic_ema_swap(t->ema, t->model->graph->weights);
    if (!t->val) {
        mlic_status s = mlic_model_save_io(t->model, t->io, o->output_path);
        return s == MLIC_OK && o->log_path
                   ? mlic_trainer_log_final(o->log_path, NULL, 0, NULL, 0, t->config)
                   : s;
    }
    mlic_model *best = NULL;
    mlic_status s = MLIC_OK;
    if (t->st.best_epoch > 0 && (s = mlic_model_load_io(&best, t->io, o->output_path)) != MLIC_OK)
        return mlic_fail_prefix(s, "reloading the best model: ");
    mlic_model *m = best ? best : t->model;
    mlic_eval_result r;
    s = evaluate(&r, t, m);
    const int k = m->num_classes;
    if (s == MLIC_OK)
        s = mlic_metrics_tune_thresholds(m->thresholds, NULL, r.scores, r.targets,
                                         (int)r.num_images, k, 0.5f);
    mlic_metrics tuned;
    if (s == MLIC_OK)
        s = mlic_metrics_compute(&tuned, NULL, r.scores, r.targets, (int)r.num_images, k,
                                 m->thresholds);
    if (s == MLIC_OK)
        s = mlic_model_save_io(m, t->io, o->output_path);
    if (s == MLIC_OK && o->log_path)
        s = mlic_trainer_log_final(o->log_path, &tuned, (int)t->st.best_epoch, m->thresholds,
                                   k, t->config);
    if (s == MLIC_OK)
        info(t, "thresholds tuned on validation (epoch %lld's model): mAP %.2f, CF1 %.2f, "
             "OF1 %.2f", (long long)(best ? t->st.best_epoch : t->st.epoch), tuned.map,
             tuned.cf1, tuned.of1);
    mlic_eval_result_free(&r);
    mlic_model_free(best);
    return s;
}

mlic_status mlic_train_run_backend(const mlic_train_opts *o, const mlic_train_backend *backend)
{
    trainer t = {.o = o, .backend = backend, .threads = o->threads ? o->threads : omp_get_num_procs()};
    t.run_start = now_s();
    mlic_status s = mlic_train_comm_create(&t.comm, o->distributed);
    if (s != MLIC_OK)
        return s;
    t.rank = mlic_train_comm_rank(t.comm);
    t.nranks = mlic_train_comm_size(t.comm);
    s = setup(&t);
    if (s == MLIC_OK)
        s = maybe_resume(&t);
    /* From here every collective is reached by all ranks or by none: each status is either the
     * same on every rank (agreed, or computed from identical state) or local work followed by an
     * agreement. */
    s = mlic_train_comm_agree(t.comm, s);
    if (s == MLIC_OK)
        s = mlic_train_comm_check_weights(t.comm, t.model->graph->weights,
                                          t.model->graph->nweights, "at the start");
    if (s == MLIC_OK && t.nranks > 1)
        info(&t, "%d ranks, each %d images of every global batch of %d%s", t.nranks,
             o->batch_size, o->batch_size * t.nranks,
             o->sync_bn ? ", batch norm on the global batch (--sync-bn)" : "");
    if (s == MLIC_OK)
        s = run_epochs(&t);
    if (s == MLIC_OK && !t.stopped)
        s = mlic_train_comm_agree(t.comm, t.rank == 0 ? finish(&t) : s);
    if (o->abort_job)
        *o->abort_job = s != MLIC_OK && mlic_train_comm_broken(t.comm);
    mlic_train_comm_destroy(t.comm);
    mlic_train_graph_destroy(t.exec);
    mlic_optim_destroy(t.optim);
    mlic_model_free(t.model);
    mlic_dataset_free(t.train);
    mlic_dataset_free(t.val);
    free(t.order);
    free(t.shard);
    free(t.dlogits);
    mlic_ema_destroy(t.ema);
    free(t.mix_images);
    free(t.mix_targets);
    free(t.config);
    free(t.ckpt_path);
    mlic_io_cache_destroy(t.cache);
    mlic_io_destroy(t.io);
    mlic_storage_destroy(t.storage);
    return s;
}

mlic_status mlic_train_run(const mlic_train_opts *o)
{
    return mlic_train_run_backend(o, NULL);
}
