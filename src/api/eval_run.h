/* mlic_eval_run in two steps, for mlic_report_run, which shows the model and the data set it
 * evaluates: what the options name, loaded with what reaching it needs, then evaluated. */
#ifndef MLIC_API_EVAL_RUN_H
#define MLIC_API_EVAL_RUN_H

#include "data/dataset.h"
#include "io/cache.h"
#include "io/storage.h"
#include "mlic.h"

typedef struct {
    mlic_model *model;
    mlic_dataset *data;     /* NULL when o->data_path is */
    mlic_storage *storage;  /* NULL while no path and no image is remote */
    mlic_io_cache *cache;   /* NULL without o->cache_dir */
} mlic_eval_inputs;

/* Loads o->model_path and, when given, o->data_path. Release *in with mlic_eval_inputs_free,
 * also after a failure. */
mlic_status mlic_eval_inputs_load(mlic_eval_inputs *in, const mlic_eval_run_opts *o);
/* Evaluates in->model on in->data as o says (mlic_eval_run's result). */
mlic_status mlic_eval_inputs_run(const mlic_eval_inputs *in, const mlic_eval_run_opts *o,
                                 mlic_eval_result *out);
void mlic_eval_inputs_free(mlic_eval_inputs *in);

#endif
