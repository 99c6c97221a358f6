/* mlic_report_run (mlic.h): the model and its evaluation, loaded and run as mlic_eval_run does
 * (api/eval_run.h), handed to the page writer (report/report.h). */
#include <string.h>

#include "api/eval_run.h"
#include "core/error.h"
#include "report/report.h"

void mlic_report_opts_init(mlic_report_opts *o)
{
    memset(o, 0, sizeof *o);
    mlic_eval_run_opts_init(&o->eval);
    o->max_examples = MLIC_REPORT_DEFAULT_EXAMPLES;
}

mlic_status mlic_report_run(const mlic_report_opts *o)
{
    if (!o || !o->eval.model_path || !o->output_path)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "report: a model and an output path are needed");
    mlic_eval_inputs in;
    mlic_eval_result own = {0};
    const mlic_eval_result *r = o->eval.data_path ? o->evaluated : NULL;
    mlic_status st = mlic_eval_inputs_load(&in, &o->eval);
    if (st == MLIC_OK && o->eval.data_path && !r) {
        st = mlic_eval_inputs_run(&in, &o->eval, &own);
        r = &own;
    }
    if (st == MLIC_OK) {
        const mlic_report_input page = {
            .model = in.model,
            .model_path = o->eval.model_path,
            .eval = r,
            .data = in.data,
            .data_path = o->eval.data_path,
            .backend = r ? r->backend : NULL,
            .log_path = o->log_path,
            .max_examples = o->max_examples,
        };
        st = mlic_report_write(o->output_path, &page);
    }
    mlic_eval_result_free(&own);
    mlic_eval_inputs_free(&in);
    return st;
}
