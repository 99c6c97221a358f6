/* mlic_eval_run: the whole of `mlic eval` but the printing, for programs (mlic.h). It loads the
 * model and the data set, makes the engine and hands over to mlic_eval_engine (eval/evaluate.h),
 * the one evaluation the trainer's validation also runs. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/dataset.h"
#include "eval/evaluate.h"
#include "io/storage.h"
#include "mlic.h"

#define DEFAULT_BATCH 32 /* as mlic_eval_engine's */

void mlic_eval_run_opts_init(mlic_eval_run_opts *o)
{
    memset(o, 0, sizeof *o);
    mlic_eval_opts e;
    mlic_eval_opts_init(&e);
    o->backend = e.backend;
    o->batch_size = DEFAULT_BATCH;
    o->threads = e.threads;
    o->decode_threads = e.workers;
    o->threshold = e.threshold;
    o->max_pixels = e.max_pixels;
}

/* The model's class names, owned by the result (the model is freed before the caller reads). */
static mlic_status copy_classes(mlic_eval_result *r, const mlic_model *m)
{
    const int k = mlic_model_num_classes(m);
    r->classes = calloc((size_t)k, sizeof *r->classes);
    if (!r->classes)
        return mlic_fail(MLIC_ERR_NOMEM, "evaluate: out of memory");
    for (int c = 0; c < k; c++)
        if (!(r->classes[c] = strdup(mlic_model_class_name(m, c))))
            return mlic_fail(MLIC_ERR_NOMEM, "evaluate: out of memory");
    return MLIC_OK;
}

mlic_status mlic_eval_run(const mlic_eval_run_opts *o, mlic_eval_result *out)
{
    if (!out)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_eval_run: no result given");
    memset(out, 0, sizeof *out);
    if (!o || !o->model_path || !o->data_path)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_eval_run: a model path and a data path are "
                         "needed");
    mlic_eval_opts eo;
    mlic_eval_opts_init(&eo);
    eo.backend = o->backend;
    eo.batch_size = o->batch_size ? o->batch_size : DEFAULT_BATCH;
    eo.threads = o->threads;
    eo.workers = o->decode_threads;
    eo.threshold = o->threshold;
    eo.max_pixels = o->max_pixels;
    if (eo.batch_size < 1)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "evaluate: batch size %d. HINT: use 1 or more, or "
                         "0 for the default", o->batch_size);
    mlic_model *m = NULL;
    mlic_dataset *d = NULL;
    mlic_engine *e = NULL;
    mlic_storage *storage = NULL;
    mlic_dataset_opts dopts;
    mlic_dataset_opts_init(&dopts);
    dopts.format = o->data.format;
    dopts.root = o->data.root;
    dopts.classes_path = o->data.classes_path;
    dopts.split = o->data.split;
    dopts.confine_to_root = o->data.confine_to_root;
    mlic_status s = mlic_model_load_from(&m, o->model_path, o->data.storage);
    if (s == MLIC_OK && o->data.storage && (s = mlic_storage_create(&storage, o->data.storage)))
        storage = NULL;
    dopts.storage = storage;
    if (s == MLIC_OK)
        s = mlic_dataset_load(&d, o->data_path, &dopts);
    /* Remote images named by a local list (PAI's CSV with oss:// URLs) need a storage too. */
    if (s == MLIC_OK && !storage && mlic_dataset_has_remote(d) &&
        (s = mlic_storage_create(&storage, NULL)))
        storage = NULL;
    eo.storage = storage;
    if (s == MLIC_OK && (s = mlic_engine_create(&e, m, eo.backend, eo.batch_size, eo.threads)))
        s = mlic_fail_prefix(s, "preparing %s for inference: ", o->model_path);
    if (s == MLIC_OK)
        s = mlic_eval_engine(out, e, m, d, &eo, o->data_path);
    if (s == MLIC_OK)
        s = copy_classes(out, m);
    if (s == MLIC_OK)
        out->backend = mlic_engine_backend_name(e);
    mlic_engine_destroy(e);
    mlic_dataset_free(d);
    mlic_model_free(m);
    mlic_storage_destroy(storage);
    return s;
}
