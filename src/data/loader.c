/* Batches live in a ring of cfg->prefetch entries. Order position p belongs to row p % B of batch
 * p / B, which fills ring entry (p / B) % nring; workers claim positions in order and wait while
 * that entry still holds an earlier batch. The consumer takes batch after batch and, on its next
 * call, hands the entry back for the batch nring further on. One mutex guards the ring: every
 * wait is at image or batch granularity, far coarser than the bookkeeping.
 *
 * In FAIL mode a failure halts claiming. Every position before the failing one was claimed
 * earlier, so the batches before it still complete, and the error reported is always that of the
 * first failing position, whatever the timing.
 *
 * Remote images (s3://, oss://, http(s)://) come through a fetch stage: one more thread keeps
 * many requests in flight (io/fetch_many.h, its concurrency chosen by measured throughput),
 * fetching in order every remote position of the batches the ring holds, so that a store's
 * latency is hidden whatever the number of workers. A fetched body waits in the slot of its
 * position (window = nring * B slots, the positions the ring covers), and the worker that claims
 * the position takes it from there; memory stays bounded by the ring. Local images are read by
 * the workers themselves, as before. */
#include "data/loader.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/rng.h"
#include "io/client.h"
#include "io/fetch_many.h"
#include "io/location.h"
#include "model/model.h"

#define DEFAULT_PREFETCH 3
#define MAX_WORKERS 256
#define NO_BATCH SIZE_MAX

typedef struct {
    mlic_batch b;       /* what the consumer sees; images/targets/items are the buffers */
    size_t batch;       /* the batch this entry holds, NO_BATCH if none */
    int count;          /* positions of that batch */
    int done;           /* positions finished */
    uint8_t *ok;        /* (batch_size) the row was filled */
    int fail_row;       /* lowest failed row, -1 if none */
    mlic_status fail_status;
    char *fail_msg;
} entry;

/* A fetched body, waiting for the worker that claims its position. */
typedef struct {
    size_t pos;
    int ready;
    uint8_t *data;
    size_t len;
    mlic_status status;
    char *error;
} slot;

typedef struct mlic_loader_worker worker;

struct mlic_loader {
    mlic_loader_cfg cfg;
    size_t *order;       /* (count) */
    size_t count;        /* positions this epoch serves, after drop_last */
    size_t nbatches;
    int batch_size;
    int size;            /* S */
    int num_classes;
    size_t image_floats; /* 3 * S * S */
    mlic_decode_opts decode;

    int nring;
    entry *ring;

    pthread_mutex_t mu;
    pthread_cond_t can_claim; /* an entry was handed back, or stop/halt */
    pthread_cond_t ready;     /* a batch completed, or the workers went idle after a halt */
    size_t next_pos;
    size_t next_batch;
    int held;                 /* the consumer holds batch next_batch - 1 */
    int busy;                 /* workers between claiming a position and recording it */
    int halt;                 /* FAIL mode: a position failed, claim nothing more */
    int stop;
    mlic_status failed;       /* the error every later next() repeats */
    char *failed_msg;

    int nworkers;
    worker *workers;

    /* The fetch stage: only when some position is remote. */
    mlic_fetch_many *many;
    slot *slots;              /* (window) by position % window */
    size_t window;
    pthread_t fetch_thread;
    int fetch_started;
    pthread_cond_t fetched;   /* a slot was filled, or stop */
    volatile sig_atomic_t cancel_fetch;
};

struct mlic_loader_worker {
    mlic_loader *l;
    pthread_t thread;
    mlic_io *io;
    int started;
};

void mlic_loader_cfg_init(mlic_loader_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mode = MLIC_LOADER_EVAL;
    cfg->on_error = MLIC_LOADER_FAIL;
}

size_t mlic_loader_num_batches(const mlic_loader *l) { return l->nbatches; }

void mlic_loader_item_rng(mlic_rng *r, uint64_t seed, uint32_t epoch, size_t item)
{
    mlic_rng_init(r, seed, MLIC_LOADER_STREAM(epoch, item));
}

static void assign(mlic_loader *l, entry *e, size_t batch)
{
    e->batch = batch < l->nbatches ? batch : NO_BATCH;
    e->done = 0;
    e->fail_row = -1;
    e->fail_status = MLIC_OK;
    free(e->fail_msg);
    e->fail_msg = NULL;
    if (e->batch == NO_BATCH) {
        e->count = 0;
        return;
    }
    size_t first = batch * (size_t)l->batch_size, left = l->count - first;
    e->count = left < (size_t)l->batch_size ? (int)left : l->batch_size;
}

static int remote(const char *path) { return mlic_location_is_remote(path); }

/* ---------------------------------------------------------------- the fetch stage */

/* Whether position pos belongs to a batch the ring holds now (under mu). */
static int in_ring(const mlic_loader *l, size_t pos)
{
    size_t batch = pos / (size_t)l->batch_size;
    return l->ring[batch % (size_t)l->nring].batch == batch;
}

/* Fills pos's slot (under mu); data and error are handed over. */
static void fill(mlic_loader *l, size_t pos, uint8_t *data, size_t len, mlic_status st,
                 char *error)
{
    slot *sl = &l->slots[pos % l->window];
    sl->pos = pos;
    sl->ready = 1;
    sl->data = data;
    sl->len = len;
    sl->status = st;
    sl->error = error;
    pthread_cond_broadcast(&l->fetched);
}

static void *fetch_main(void *arg)
{
    mlic_loader *l = arg;
    size_t pos = 0; /* the next position to consider */
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        while (!l->stop && pos < l->count && in_ring(l, pos)) {
            const char *path = l->cfg.data->items[l->order[pos]].path;
            if (!remote(path)) { /* a worker reads it */
                pos++;
                continue;
            }
            pthread_mutex_unlock(&l->mu);
            uint8_t *data = NULL;
            size_t len = 0;
            const int cached = l->cfg.cache && mlic_io_cache_read(l->cfg.cache, path, &data, &len);
            mlic_status st = cached ? MLIC_OK
                                    : mlic_fetch_many_add(l->many, path, (void *)(uintptr_t)pos);
            char *error = st != MLIC_OK ? strdup(mlic_errmsg()) : NULL;
            pthread_mutex_lock(&l->mu);
            if (cached || st != MLIC_OK)
                fill(l, pos, data, len, st, error);
            pos++;
        }
        if (l->stop)
            break;
        if (!mlic_fetch_many_pending(l->many)) {
            if (pos >= l->count)
                break;
            pthread_cond_wait(&l->can_claim, &l->mu); /* until the ring moves on */
            continue;
        }
        pthread_mutex_unlock(&l->mu);
        mlic_fetch_result r;
        mlic_status st = mlic_fetch_many_next(l->many, &r);
        if (st == MLIC_OK && r.status == MLIC_OK && l->cfg.cache)
            mlic_io_cache_store(l->cfg.cache, l->cfg.data->items[l->order[(uintptr_t)r.tag]].path,
                                r.data, r.len);
        pthread_mutex_lock(&l->mu);
        if (st != MLIC_OK) /* cancelled: the loader is stopping */
            break;
        fill(l, (size_t)(uintptr_t)r.tag, r.data, r.len, r.status, r.error);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* The bytes the fetch stage got for pos, waiting for them. */
static mlic_status take_fetched(mlic_loader *l, size_t pos, uint8_t **data, size_t *len)
{
    slot *sl = &l->slots[pos % l->window];
    pthread_mutex_lock(&l->mu);
    while (!(sl->ready && sl->pos == pos) && !l->stop)
        pthread_cond_wait(&l->fetched, &l->mu);
    if (!(sl->ready && sl->pos == pos)) {
        pthread_mutex_unlock(&l->mu);
        return mlic_fail(MLIC_ERR_CANCELLED, "loader: stopped");
    }
    const mlic_status st = sl->status;
    char *error = sl->error;
    *data = sl->data;
    *len = sl->len;
    *sl = (slot){0};
    pthread_mutex_unlock(&l->mu);
    if (st != MLIC_OK)
        mlic_fail(st, "%s", error ? error : "out of memory");
    free(error);
    return st;
}

/* ---------------------------------------------------------------- the workers */

/* Row `row` of entry e from position pos, data-set item `item`. */
static mlic_status load_item(worker *w, entry *e, int row, size_t pos, size_t item)
{
    mlic_loader *l = w->l;
    const mlic_item *it = &l->cfg.data->items[item];
    float *out = e->b.images + (size_t)row * l->image_floats;
    e->b.items[row] = item;
    mlic_dataset_targets_f32(e->b.targets + (size_t)row * l->num_classes, l->cfg.data, item);

    uint8_t *bytes = NULL;
    size_t len = 0;
    mlic_status st = l->many && remote(it->path)
                         ? take_fetched(l, pos, &bytes, &len)
                         : mlic_io_cache_get(l->cfg.cache, w->io, &bytes, &len, it->path);
    if (st != MLIC_OK)
        return st;
    mlic_image img = {0};
    if (len == 0)
        st = mlic_fail(MLIC_ERR_DECODE, "image '%s' is empty (0 bytes)", it->path);
    else if ((st = mlic_image_decode(&img, bytes, len, &l->decode)) != MLIC_OK)
        mlic_fail_prefix(st, "decoding '%s': ", it->path);
    free(bytes);
    if (st != MLIC_OK)
        return st;
    if (l->cfg.mode == MLIC_LOADER_TRAIN) {
        mlic_rng rng;
        mlic_loader_item_rng(&rng, l->cfg.seed, l->cfg.epoch, item);
        st = mlic_augment_train(out, &img, &l->cfg.aug, &rng);
    } else {
        st = mlic_image_preprocess(out, &img, &l->cfg.pre);
    }
    if (st != MLIC_OK)
        mlic_fail_prefix(st, "transforming '%s': ", it->path);
    mlic_image_free(&img);
    return st;
}

static int can_claim(const mlic_loader *l)
{
    if (l->stop || l->halt || l->next_pos >= l->count)
        return 1;
    size_t batch = l->next_pos / (size_t)l->batch_size;
    return l->ring[batch % (size_t)l->nring].batch == batch;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    mlic_loader *l = w->l;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!can_claim(l))
            pthread_cond_wait(&l->can_claim, &l->mu);
        if (l->stop || l->halt || l->next_pos >= l->count)
            break;
        size_t pos = l->next_pos++;
        entry *e = &l->ring[(pos / (size_t)l->batch_size) % (size_t)l->nring];
        int row = (int)(pos % (size_t)l->batch_size);
        l->busy++;
        pthread_mutex_unlock(&l->mu);

        mlic_status st = load_item(w, e, row, pos, l->order[pos]);
        char *msg = st != MLIC_OK ? strdup(mlic_errmsg()) : NULL;

        pthread_mutex_lock(&l->mu);
        l->busy--;
        e->ok[row] = st == MLIC_OK;
        if (st != MLIC_OK && (e->fail_row < 0 || row < e->fail_row)) {
            e->fail_row = row;
            e->fail_status = st;
            free(e->fail_msg);
            e->fail_msg = msg;
            msg = NULL;
            if (l->cfg.on_error == MLIC_LOADER_FAIL) {
                l->halt = 1;
                pthread_cond_broadcast(&l->can_claim);
            }
        }
        free(msg);
        if (++e->done == e->count || (l->halt && !l->busy))
            pthread_cond_broadcast(&l->ready);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void free_ring(mlic_loader *l)
{
    for (int r = 0; l->ring && r < l->nring; r++) {
        free(l->ring[r].b.images);
        free(l->ring[r].b.targets);
        free(l->ring[r].b.items);
        free(l->ring[r].ok);
        free(l->ring[r].fail_msg);
    }
    free(l->ring);
}

static mlic_status check_cfg(const mlic_loader_cfg *c)
{
    if (!c || !c->data)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "loader: no data set given");
    if (c->count && !c->order)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "loader: %zu positions but no order", c->count);
    if (c->count > MLIC_LOADER_MAX_ITEMS || c->data->nitems > MLIC_LOADER_MAX_ITEMS)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "loader: %zu images is more than the %zu one epoch "
                         "can hold", c->count > c->data->nitems ? c->count : c->data->nitems,
                         MLIC_LOADER_MAX_ITEMS);
    for (size_t i = 0; i < c->count; i++)
        if (c->order[i] >= c->data->nitems)
            return mlic_fail(MLIC_ERR_INVALID_ARG, "loader: order[%zu] = %zu is not an item of the "
                             "data set (%zu items)", i, c->order[i], c->data->nitems);
    if (c->batch_size < 1)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "loader: batch size %d. HINT: use 1 or more",
                         c->batch_size);
    if (c->workers < 0 || c->workers > MAX_WORKERS || c->prefetch < 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "loader: %d workers, prefetch %d. HINT: use 0 "
                         "(automatic) or 1..%d workers and a prefetch >= 0", c->workers, c->prefetch,
                         MAX_WORKERS);
    if (c->on_error != MLIC_LOADER_FAIL && c->on_error != MLIC_LOADER_SKIP)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "loader: unknown on_error %d", (int)c->on_error);
    if (c->mode == MLIC_LOADER_TRAIN)
        return mlic_augment_cfg_check(&c->aug);
    if (c->mode != MLIC_LOADER_EVAL)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "loader: unknown mode %d", (int)c->mode);
    return mlic_model_check_preprocess(&c->pre, "loader preprocessing");
}

/* The fetch stage, when some position is remote. */
static mlic_status start_fetching(mlic_loader *l)
{
    size_t p = 0;
    while (p < l->count && !remote(l->cfg.data->items[l->order[p]].path))
        p++;
    if (p == l->count)
        return MLIC_OK;
    l->window = (size_t)l->nring * (size_t)l->batch_size;
    l->slots = calloc(l->window, sizeof *l->slots);
    if (!l->slots)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory creating a loader");
    const mlic_io_opts o = {.storage = l->cfg.storage, .root = ".", .cancel = &l->cancel_fetch};
    mlic_status st = mlic_fetch_many_create(&l->many, &o, 0);
    if (st != MLIC_OK)
        return st;
    if (pthread_create(&l->fetch_thread, NULL, fetch_main, l))
        return mlic_fail(MLIC_ERR_INTERNAL, "loader: cannot start the fetch thread");
    l->fetch_started = 1;
    return MLIC_OK;
}

mlic_status mlic_loader_create(mlic_loader **out, const mlic_loader_cfg *cfg)
{
    *out = NULL;
    mlic_status st = check_cfg(cfg);
    if (st != MLIC_OK)
        return st;
    mlic_loader *l = calloc(1, sizeof *l);
    if (!l)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory creating a loader");
    l->cfg = *cfg;
    l->batch_size = cfg->batch_size;
    l->count = cfg->drop_last ? cfg->count - cfg->count % (size_t)cfg->batch_size : cfg->count;
    l->nbatches = (l->count + (size_t)l->batch_size - 1) / (size_t)l->batch_size;
    l->size = cfg->mode == MLIC_LOADER_TRAIN ? cfg->aug.size : cfg->pre.crop;
    l->num_classes = cfg->data->num_classes;
    l->image_floats = 3 * (size_t)l->size * (size_t)l->size;
    l->decode = cfg->decode;
    if (cfg->mode == MLIC_LOADER_TRAIN)
        l->decode.min_short_side = 0;
    l->nring = cfg->prefetch ? cfg->prefetch : DEFAULT_PREFETCH;
    if ((size_t)l->nring > l->nbatches)
        l->nring = l->nbatches ? (int)l->nbatches : 1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->can_claim, NULL);
    pthread_cond_init(&l->ready, NULL);
    pthread_cond_init(&l->fetched, NULL);

    l->order = malloc((l->count ? l->count : 1) * sizeof *l->order);
    l->ring = calloc((size_t)l->nring, sizeof *l->ring);
    if (!l->order || !l->ring) {
        mlic_loader_destroy(l);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory creating a loader");
    }
    if (l->count)
        memcpy(l->order, cfg->order, l->count * sizeof *l->order);
    size_t b = (size_t)l->batch_size;
    for (int r = 0; r < l->nring; r++) {
        entry *e = &l->ring[r];
        e->b.images = malloc(b * l->image_floats * sizeof(float));
        e->b.targets = malloc(b * (size_t)(l->num_classes ? l->num_classes : 1) * sizeof(float));
        e->b.items = malloc(b * sizeof(size_t));
        e->ok = malloc(b);
        if (!e->b.images || !e->b.targets || !e->b.items || !e->ok) {
            mlic_loader_destroy(l);
            return mlic_fail(MLIC_ERR_NOMEM, "out of memory for %d batches of %d images of "
                             "3x%dx%d", l->nring, l->batch_size, l->size, l->size);
        }
        assign(l, e, (size_t)r);
    }

    if ((st = start_fetching(l)) != MLIC_OK) {
        mlic_loader_destroy(l);
        return st;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cfg->workers ? cfg->workers : cores > 0 ? (int)cores : 1;
    if ((size_t)n > l->count)
        n = l->count ? (int)l->count : 0;
    l->workers = calloc((size_t)(n ? n : 1), sizeof *l->workers);
    if (!l->workers) {
        mlic_loader_destroy(l);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory creating a loader");
    }
    for (int i = 0; i < n; i++) {
        worker *w = &l->workers[i];
        w->l = l;
        l->nworkers = i + 1;
        const mlic_io_opts io_opts = {.root = ".", .storage = cfg->storage};
        if ((st = mlic_io_create(&w->io, &io_opts)) != MLIC_OK) {
            mlic_loader_destroy(l);
            return st;
        }
        if (pthread_create(&w->thread, NULL, worker_main, w)) {
            mlic_loader_destroy(l);
            return mlic_fail(MLIC_ERR_INTERNAL, "loader: cannot start worker thread %d of %d", i + 1,
                             n);
        }
        w->started = 1;
    }
    *out = l;
    return MLIC_OK;
}

/* SKIP mode: move the rows that loaded to the front. */
static void compact(mlic_loader *l, entry *e)
{
    int n = 0;
    for (int r = 0; r < e->count; r++) {
        if (!e->ok[r])
            continue;
        if (n != r) {
            memcpy(e->b.images + (size_t)n * l->image_floats,
                   e->b.images + (size_t)r * l->image_floats, l->image_floats * sizeof(float));
            memcpy(e->b.targets + (size_t)n * l->num_classes,
                   e->b.targets + (size_t)r * l->num_classes, (size_t)l->num_classes * sizeof(float));
            e->b.items[n] = e->b.items[r];
        }
        n++;
    }
    e->b.n = n;
    e->b.skipped = e->count - n;
}

mlic_status mlic_loader_next(mlic_loader *l, const mlic_batch **batch)
{
    *batch = NULL;
    pthread_mutex_lock(&l->mu);
    if (l->held) {
        size_t prev = l->next_batch - 1;
        assign(l, &l->ring[prev % (size_t)l->nring], prev + (size_t)l->nring);
        l->held = 0;
        pthread_cond_broadcast(&l->can_claim);
    }
    if (l->failed != MLIC_OK) {
        mlic_status st = l->failed;
        pthread_mutex_unlock(&l->mu);
        return mlic_fail(st, "%s", l->failed_msg ? l->failed_msg : "out of memory");
    }
    if (l->next_batch >= l->nbatches) {
        pthread_mutex_unlock(&l->mu);
        return MLIC_OK;
    }
    entry *e = &l->ring[l->next_batch % (size_t)l->nring];
    while (e->done < e->count && !(l->halt && !l->busy))
        pthread_cond_wait(&l->ready, &l->mu);
    if (l->cfg.on_error == MLIC_LOADER_FAIL && e->fail_row >= 0) {
        l->failed = e->fail_status;
        l->failed_msg = e->fail_msg;
        e->fail_msg = NULL;
        pthread_mutex_unlock(&l->mu);
        return mlic_fail(l->failed, "%s", l->failed_msg ? l->failed_msg : "out of memory");
    }
    e->b.index = l->next_batch;
    e->b.size = l->size;
    e->b.num_classes = l->num_classes;
    e->b.n = e->count;
    e->b.skipped = 0;
    e->b.skip_error = e->fail_msg;
    if (e->fail_row >= 0)
        compact(l, e);
    l->next_batch++;
    l->held = 1;
    pthread_mutex_unlock(&l->mu);
    *batch = &e->b;
    return MLIC_OK;
}

void mlic_loader_destroy(mlic_loader *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    l->cancel_fetch = 1;
    pthread_cond_broadcast(&l->can_claim);
    pthread_cond_broadcast(&l->fetched);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nworkers; i++) {
        if (l->workers[i].started)
            pthread_join(l->workers[i].thread, NULL);
        mlic_io_destroy(l->workers[i].io);
    }
    free(l->workers);
    if (l->fetch_started)
        pthread_join(l->fetch_thread, NULL);
    mlic_fetch_many_destroy(l->many);
    for (size_t i = 0; l->slots && i < l->window; i++) {
        free(l->slots[i].data);
        free(l->slots[i].error);
    }
    free(l->slots);
    free_ring(l);
    free(l->order);
    free(l->failed_msg);
    pthread_cond_destroy(&l->ready);
    pthread_cond_destroy(&l->fetched);
    pthread_cond_destroy(&l->can_claim);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
