/* A threaded batch loader: worker threads fetch, decode and transform a data set's images into
 * batches that come out in order, a bounded number of batches ahead of the consumer, so memory
 * stays flat however long the epoch.
 *
 * One loader serves one pass over `order` (an epoch); create a new one for the next epoch.
 *
 * Transforms:
 *   EVAL   mlic_image_preprocess with cfg->pre (torchvision's Resize + CenterCrop + Normalize).
 *   TRAIN  mlic_augment_train with cfg->aug. Item i of epoch e draws from its own generator,
 *          mlic_rng_init(seed, MLIC_LOADER_STREAM(e, i)), so batches depend only on (data set,
 *          order, seed, epoch), never on the number of workers or their timing. The loader owns
 *          the streams with the top bit set: other users of the same seed should stay below it.
 *
 * A batch is valid until the next mlic_loader_next or mlic_loader_destroy. Destroying a loader
 * mid-epoch is fine: workers finish the image in hand and stop.
 */
#ifndef MLIC_DATA_LOADER_H
#define MLIC_DATA_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "data/dataset.h"
#include "image/augment.h"
#include "io/cache.h"
#include "io/storage.h"
#include "mlic.h"

#define MLIC_LOADER_STREAM(epoch, item) \
    ((1ull << 63) | ((uint64_t)(uint32_t)(epoch) << 31) | (uint64_t)(item))
#define MLIC_LOADER_MAX_ITEMS ((size_t)1 << 31)

/* The generator item `item` of epoch `epoch` draws its augmentation from (TRAIN mode). */
void mlic_loader_item_rng(mlic_rng *r, uint64_t seed, uint32_t epoch, size_t item);

typedef enum { MLIC_LOADER_EVAL = 0, MLIC_LOADER_TRAIN } mlic_loader_mode;

/* What happens to an image that cannot be read or decoded. */
typedef enum {
    MLIC_LOADER_FAIL = 0, /* mlic_loader_next returns the error, naming the file */
    MLIC_LOADER_SKIP      /* the image is left out of its batch; the batch counts and names it */
} mlic_loader_on_error;

typedef struct {
    const mlic_dataset *data; /* must outlive the loader */
    const size_t *order;      /* (count) item indices, in the order batches take them; copied */
    size_t count;
    int batch_size;
    int drop_last;            /* leave out a last batch shorter than batch_size */
    mlic_loader_mode mode;
    mlic_preprocess pre;      /* EVAL */
    mlic_augment_cfg aug;     /* TRAIN */
    uint64_t seed;            /* TRAIN */
    uint32_t epoch;           /* TRAIN */
    int workers;              /* decoding threads; 0 = the number of cores */
    int prefetch;             /* batches ready or in the making at once; 0 = 3 */
    mlic_loader_on_error on_error;
    /* max_pixels as mlic_image_decode takes it. min_short_side applies to EVAL only (training
     * crops need the full-size image); mlic predict uses 2 * pre.resize. */
    mlic_decode_opts decode;
    /* Remote images (s3://, oss://, http(s)://) are reached as storage says (NULL: the
     * defaults) and, with a cache, read from it once it holds them (io/cache.h). */
    const mlic_storage *storage;
    mlic_io_cache *cache;
} mlic_loader_cfg;

typedef struct {
    size_t index;       /* the batch's number in the epoch, from 0 */
    int n;              /* images in it (SKIP mode: 0 when all of them failed) */
    int size;           /* S */
    int num_classes;    /* K */
    float *images;      /* (n, 3, S, S) */
    float *targets;     /* (n, K) multi-hot */
    size_t *items;      /* (n) data-set indices of the rows */
    int skipped;        /* SKIP mode: images of this batch left out */
    const char *skip_error; /* the first skipped image's error, or NULL */
} mlic_batch;

typedef struct mlic_loader mlic_loader;

/* Defaults: EVAL, prefetch 3, workers 0 (all cores), on_error FAIL. Set data, order, count,
 * batch_size and pre or aug. */
void mlic_loader_cfg_init(mlic_loader_cfg *cfg);

/* Starts the workers. */
mlic_status mlic_loader_create(mlic_loader **out, const mlic_loader_cfg *cfg);

/* The next batch in *batch, or *batch = NULL once the epoch is done. In FAIL mode an image that
 * fails ends the epoch with its error (the message names the file); every later call returns the
 * same error. */
mlic_status mlic_loader_next(mlic_loader *l, const mlic_batch **batch);

/* How many batches the epoch has. */
size_t mlic_loader_num_batches(const mlic_loader *l);

void mlic_loader_destroy(mlic_loader *l);

#endif
