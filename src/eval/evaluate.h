/* Evaluating a model on a labelled data set: eval preprocessing from the model's metadata (the
 * same decoding as mlic predict, so the probabilities agree with its output), batched inference,
 * then the metrics of eval/metrics.h at the model's per-class thresholds or one given threshold.
 *
 * The data set's classes are matched to the model's by name, so its class list may be any
 * subset of the model's in any order (a list file's labels come out sorted); a class the model
 * does not know is an error naming it. Model classes the data never labels have no positives:
 * their AP is NaN and mAP leaves them out. */
#ifndef MLIC_EVAL_EVALUATE_H
#define MLIC_EVAL_EVALUATE_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "eval/metrics.h"
#include "io/cache.h"
#include "io/storage.h"
#include "mlic.h"

typedef struct {
    mlic_backend_kind backend; /* for the caller's engine (mlic_eval_engine does not read it) */
    int batch_size;            /* 0 = 32 */
    int threads;               /* inference threads for the caller's engine, 0 = all cores */
    int workers;               /* decoding threads, 0 = all cores */
    float threshold;           /* < 0: the model's per-class thresholds */
    uint64_t max_pixels;       /* 0 = the decoders' default */
    const mlic_storage *storage; /* remote images: data/loader.h */
    mlic_io_cache *cache;        /* NULL: none */
} mlic_eval_opts;

/* mlic_eval_result is in mlic.h. */

/* backend AUTO, batch 32, all cores, the model's thresholds. */
void mlic_eval_opts_init(mlic_eval_opts *o);

/* map: (d->num_classes) the model's index of each data-set class. `what` names the data in the
 * message (its path). */
mlic_status mlic_eval_map_classes(int *map, const mlic_model *m, const mlic_dataset *d,
                                  const char *what);

/* Evaluates m, run by an engine the caller made for it (max_batch at least o->batch_size), on
 * every image of d; *out is zeroed first and must be released with mlic_eval_result_free, also
 * after a failure. An image that cannot be read or decoded fails the run, naming the file. */
mlic_status mlic_eval_engine(mlic_eval_result *out, mlic_engine *e, const mlic_model *m,
                             const mlic_dataset *d, const mlic_eval_opts *o, const char *what);

#endif
