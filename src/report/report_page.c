/* The page: head with the inline style, header, navigation, the three sections, the script.
 * Also the check that a log belongs to the model. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "model/model.h"
#include "report/report.h"
#include "report/report_html.h"
#include "report/report_sections.h"
#include "util/file_write.h"

void mlic_report_missing(mlic_strbuf *b, const char *text)
{
    mlic_strbuf_puts(b, "<div class=\"missing\">");
    mlic_html_text(b, text);
    mlic_strbuf_puts(b, "</div>");
}

/* A log from another run: its settings name other classes or another arch (an error), or its
 * tuned thresholds are not the model's (a note: thresholds may have been edited since). */
static mlic_status check_log(char **note, const mlic_trainer_log *l, const mlic_report_input *in)
{
    const mlic_model *m = in->model;
    const int k = mlic_model_num_classes(m);
    *note = NULL;
    cJSON *config = l->config ? cJSON_Parse(l->config) : NULL;
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(config, "arch");
    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(config, "classes");
    char why[256] = "";
    if (cJSON_IsString(arch) && strcmp(arch->valuestring, mlic_model_arch(m)))
        snprintf(why, sizeof why, "it trained a %.60s, the model is a %.60s", arch->valuestring,
                 mlic_model_arch(m));
    else if (cJSON_IsArray(classes) && cJSON_GetArraySize(classes) != k)
        snprintf(why, sizeof why, "it trained %d classes, the model has %d",
                 cJSON_GetArraySize(classes), k);
    else if (cJSON_IsArray(classes)) {
        for (int c = 0; c < k && !why[0]; c++) {
            const cJSON *name = cJSON_GetArrayItem(classes, c);
            if (!cJSON_IsString(name) || strcmp(name->valuestring, mlic_model_class_name(m, c)))
                snprintf(why, sizeof why, "its class %d is '%.60s', the model's is '%.60s'", c + 1,
                         cJSON_IsString(name) ? name->valuestring : "?",
                         mlic_model_class_name(m, c));
        }
    } else if (l->thresholds && l->nthresholds != k) {
        snprintf(why, sizeof why, "it tuned %d thresholds, the model has %d classes",
                 l->nthresholds, k);
    }
    cJSON_Delete(config);
    if (why[0])
        return mlic_fail(MLIC_ERR_FORMAT, "--log %s is from another run than %s: %s. HINT: give "
                         "the log that the mlic train run which wrote the model kept (--log), or "
                         "leave --log out", in->log_path, in->model_path, why);
    for (int c = 0; l->thresholds && c < k; c++)
        if (l->thresholds[c] != mlic_model_threshold(m, c)) {
            const char *text = "The thresholds this log tuned are not the model's: the model "
                               "file was changed after training, or the log is from another run "
                               "with the same classes.";
            if (!(*note = strdup(text)))
                return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
            break;
        }
    if (!*note && !l->has_final && l->nepochs > 0 &&
        !(*note = strdup("The log has no final line: the run had not finished when it was "
                         "written (or was stopped); the model may be of an earlier epoch.")))
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    return MLIC_OK;
}

static void page_head(mlic_strbuf *b, const mlic_report_input *in)
{
    const char *slash = strrchr(in->model_path, '/');
    const char *name = slash ? slash + 1 : in->model_path;
    char when[64];
    const time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime_r(&now, &tm));
    mlic_strbuf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                        "<title>mlic report: ");
    mlic_html_text(b, name);
    mlic_strbuf_puts(b, "</title>\n");
    mlic_strbuf_puts(b, mlic_report_style);
    mlic_strbuf_puts(b, "</head><body><header><h1>mlic report: ");
    mlic_html_text(b, name);
    mlic_strbuf_printf(b, "</h1><p>%s, %d classes", mlic_model_arch(in->model),
                       mlic_model_num_classes(in->model));
    if (in->eval) {
        mlic_strbuf_printf(b, "; evaluated on %zu images of ", in->eval->num_images);
        mlic_html_text(b, in->data_path);
    }
    mlic_strbuf_printf(b, "; written %s by mlic %s</p></header>\n", when, MLIC_VERSION);
    mlic_strbuf_puts(b, "<nav><a href=\"#model\">Model</a><a href=\"#training\">Training</a>"
                        "<a href=\"#evaluation\">Evaluation</a></nav><main>\n");
}

mlic_status mlic_report_write(const char *output_path, const mlic_report_input *in)
{
    if (!output_path || !in || !in->model || !in->model_path)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "report: a model and an output path are needed");
    mlic_trainer_log log, *lp = NULL;
    char *note = NULL;
    mlic_status st = MLIC_OK;
    if (in->log_path) {
        if ((st = mlic_trainer_log_read(&log, in->log_path)) != MLIC_OK)
            return mlic_fail_prefix(st, "--log: ");
        lp = &log;
        if ((st = check_log(&note, lp, in)) != MLIC_OK) {
            mlic_trainer_log_free(lp);
            return st;
        }
    }
    mlic_strbuf b;
    mlic_strbuf_init(&b);
    page_head(&b, in);
    st = mlic_report_model_section(&b, in, lp);
    if (st == MLIC_OK) {
        mlic_report_training_section(&b, in, lp, note);
        st = mlic_report_evaluation_section(&b, in);
    }
    mlic_strbuf_puts(&b, "</main>\n");
    mlic_strbuf_puts(&b, mlic_report_script);
    mlic_strbuf_puts(&b, "</body></html>\n");
    if (st == MLIC_OK && b.oom)
        st = mlic_fail(MLIC_ERR_NOMEM, "report %s: out of memory", output_path);
    if (st == MLIC_OK)
        st = mlic_file_write_atomic(output_path, b.data, b.len);
    mlic_strbuf_free(&b);
    free(note);
    mlic_trainer_log_free(lp);
    return st;
}
