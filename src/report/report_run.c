#include "report/report.h"

#include <string.h>

#include "core/error.h"

void mlic_report_opts_init(mlic_report_opts *o)
{
    memset(o, 0, sizeof *o);
    mlic_dataset_opts_init(&o->data);
    mlic_eval_opts_init(&o->eval);
    o->max_examples = MLIC_REPORT_DEFAULT_EXAMPLES;
}

mlic_status mlic_report_run(const mlic_report_opts *o)
{
    if (!o || !o->model_path || !o->output_path)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "report: a model and an output path are needed");
    mlic_model *m = NULL;
    mlic_dataset *d = NULL;
    mlic_engine *e = NULL;
    mlic_eval_result r = {0};
    mlic_status st = mlic_model_load(&m, o->model_path);
    if (st == MLIC_OK && o->data_path) {
        const int batch = o->eval.batch_size ? o->eval.batch_size : 32;
        st = mlic_dataset_load(&d, o->data_path, &o->data);
        if (st == MLIC_OK &&
            (st = mlic_engine_create(&e, m, o->eval.backend, batch, o->eval.threads)) != MLIC_OK)
            mlic_fail_prefix(st, "preparing %s for inference: ", o->model_path);
        if (st == MLIC_OK)
            st = mlic_eval_engine(&r, e, m, d, &o->eval, o->data_path);
    }
    if (st == MLIC_OK) {
        const mlic_report_input in = {
            .model = m,
            .model_path = o->model_path,
            .eval = o->data_path ? &r : NULL,
            .data = d,
            .data_path = o->data_path,
            .backend = e ? mlic_engine_backend_name(e) : NULL,
            .log_path = o->log_path,
            .max_examples = o->max_examples,
        };
        st = mlic_report_write(o->output_path, &in);
    }
    mlic_eval_result_free(&r);
    mlic_engine_destroy(e);
    mlic_dataset_free(d);
    mlic_model_free(m);
    return st;
}
