/* mlic_eval_run: the whole of `mlic eval` but the printing, for programs (mlic.h). It loads the
 * model and the data set, makes the engine and hands over to mlic_eval_engine (eval/evaluate.h),
 * the one evaluation the trainer's validation also runs. */
#include <stdlib.h>
#include <string.h>

#include "api/eval_run.h"
#include "core/error.h"
#include "eval/evaluate.h"
#include "io/location.h"

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

static int is_remote(const char *path) { return path && mlic_location_is_remote(path); }

/* The storage, made once something turns out to be remote, so that a local run reads no storage
 * settings at all. */
static mlic_status need_storage(mlic_eval_inputs *in, const mlic_eval_run_opts *o)
{
    if (in->storage)
        return MLIC_OK;
    mlic_status s = mlic_storage_create(&in->storage, o->data.storage);
    if (s != MLIC_OK)
        in->storage = NULL;
    return s;
}

mlic_status mlic_eval_inputs_load(mlic_eval_inputs *in, const mlic_eval_run_opts *o)
{
    memset(in, 0, sizeof *in);
    if (!o || !o->model_path)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_eval_run: a model path and a data path are "
                         "needed");
    mlic_status s = MLIC_OK;
    if (is_remote(o->model_path) || is_remote(o->data_path) || is_remote(o->data.root) ||
        is_remote(o->data.classes_path))
        s = need_storage(in, o);
    if (s == MLIC_OK && o->cache_dir &&
        (s = mlic_io_cache_create(&in->cache, o->cache_dir, o->cache_bytes)))
        in->cache = NULL;
    if (s == MLIC_OK)
        s = mlic_model_load_from(&in->model, o->model_path, o->data.storage);
    if (s != MLIC_OK || !o->data_path)
        return s;
    mlic_dataset_opts dopts;
    mlic_dataset_opts_init(&dopts);
    dopts.format = o->data.format;
    dopts.root = o->data.root;
    dopts.classes_path = o->data.classes_path;
    dopts.split = o->data.split;
    dopts.confine_to_root = o->data.confine_to_root;
    dopts.storage = in->storage;
    s = mlic_dataset_load(&in->data, o->data_path, &dopts);
    /* A local list may name remote images (PAI's CSV with oss:// URLs). */
    if (s == MLIC_OK && mlic_dataset_has_remote(in->data))
        s = need_storage(in, o);
    return s;
}

mlic_status mlic_eval_inputs_run(const mlic_eval_inputs *in, const mlic_eval_run_opts *o,
                                 mlic_eval_result *out)
{
    memset(out, 0, sizeof *out);
    mlic_eval_opts eo;
    mlic_eval_opts_init(&eo);
    eo.backend = o->backend;
    eo.batch_size = o->batch_size ? o->batch_size : DEFAULT_BATCH;
    eo.threads = o->threads;
    eo.workers = o->decode_threads;
    eo.threshold = o->threshold;
    eo.max_pixels = o->max_pixels;
    eo.storage = in->storage;
    eo.cache = in->cache;
    if (eo.batch_size < 1)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "evaluate: batch size %d. HINT: use 1 or more, or "
                         "0 for the default", o->batch_size);
    const mlic_engine_opts engine = {.backend = eo.backend, .max_batch = eo.batch_size,
                                     .threads = eo.threads, .precision = o->precision};
    mlic_engine *e = NULL;
    mlic_status s = mlic_engine_create_opts(&e, in->model, &engine);
    if (s != MLIC_OK)
        s = mlic_fail_prefix(s, "preparing %s for inference: ", o->model_path);
    if (s == MLIC_OK)
        s = mlic_eval_engine(out, e, in->model, in->data, &eo, o->data_path);
    if (s == MLIC_OK)
        s = copy_classes(out, in->model);
    if (s == MLIC_OK)
        out->backend = mlic_engine_backend_name(e);
    if (s == MLIC_OK)
        out->precision = mlic_engine_precision_name(e);
    mlic_engine_destroy(e);
    return s;
}

void mlic_eval_inputs_free(mlic_eval_inputs *in)
{
    mlic_dataset_free(in->data);
    mlic_model_free(in->model);
    mlic_io_cache_destroy(in->cache);
    mlic_storage_destroy(in->storage);
    memset(in, 0, sizeof *in);
}

mlic_status mlic_eval_run(const mlic_eval_run_opts *o, mlic_eval_result *out)
{
    if (!out)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_eval_run: no result given");
    memset(out, 0, sizeof *out);
    if (!o || !o->model_path || !o->data_path)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_eval_run: a model path and a data path are "
                         "needed");
    mlic_eval_inputs in;
    mlic_status s = mlic_eval_inputs_load(&in, o);
    if (s == MLIC_OK)
        s = mlic_eval_inputs_run(&in, o, out);
    mlic_eval_inputs_free(&in);
    return s;
}
