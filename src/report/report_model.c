/* The report's model section. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/error.h"
#include "model/model.h"
#include "report/report_html.h"
#include "report/report_sections.h"
#include "util/sha256.h"

static void fact(mlic_strbuf *b, const char *key, const char *value)
{
    mlic_strbuf_printf(b, "<tr><th>%s</th><td>", key);
    mlic_html_text(b, value);
    mlic_strbuf_puts(b, "</td></tr>");
}

/* The run's settings from the log, one row each (the class list is shown elsewhere). */
static void training_facts(mlic_strbuf *b, const mlic_trainer_log *l)
{
    if (l->nepochs > 0) {
        const mlic_trainer_epoch_log *last = &l->epochs[l->nepochs - 1];
        double seconds = 0; /* each line's "seconds" is its epoch's wall time */
        for (int i = 0; i < l->nepochs; i++)
            seconds += isfinite(l->epochs[i].seconds) ? l->epochs[i].seconds : 0;
        char text[160];
        snprintf(text, sizeof text, "%d epochs, %lld steps, %.0f s%s", last->epoch,
                 (long long)last->step, seconds, l->has_final ? "" : " (not finished)");
        fact(b, "training", text);
        if (l->best_epoch > 0) {
            snprintf(text, sizeof text, "epoch %d (validation mAP at the tuned thresholds %.2f)",
                     l->best_epoch, l->map);
            fact(b, "model of", text);
        }
    }
    cJSON *config = l->config ? cJSON_Parse(l->config) : NULL;
    const cJSON *v;
    cJSON_ArrayForEach(v, config) {
        if (!strcmp(v->string, "classes") || !strcmp(v->string, "arch"))
            continue; /* shown with the model's own */
        char text[64];
        if (cJSON_IsString(v))
            snprintf(text, sizeof text, "%.60s", v->valuestring);
        else if (cJSON_IsNumber(v))
            snprintf(text, sizeof text, "%.6g", v->valuedouble);
        else if (cJSON_IsBool(v))
            snprintf(text, sizeof text, "%s", cJSON_IsTrue(v) ? "yes" : "no");
        else
            continue;
        char key[80];
        snprintf(key, sizeof key, "%.70s", v->string);
        for (char *p = key; *p; p++)
            *p = *p == '_' ? ' ' : *p;
        fact(b, key, text);
    }
    cJSON_Delete(config);
}

mlic_status mlic_report_model_section(mlic_strbuf *b, const mlic_report_input *in,
                                      const mlic_trainer_log *log)
{
    const mlic_model *m = in->model;
    char hex[65], text[256];
    mlic_status st = mlic_sha256_file(hex, in->model_path);
    if (st != MLIC_OK)
        return st;
    struct stat sb;
    if (stat(in->model_path, &sb) != 0)
        return mlic_fail(MLIC_ERR_IO, "cannot stat %s: %s", in->model_path, strerror(errno));
    mlic_strbuf_puts(b, "<section id=\"model\"><h2>Model</h2><div class=\"facts-grid\">"
                        "<table class=\"facts\" id=\"model-facts\"><tbody>");
    fact(b, "file", in->model_path);
    mlic_strbuf_printf(b, "<tr><th>SHA-256</th><td><code id=\"sha256\">%s</code></td></tr>", hex);
    struct tm tm;
    strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&sb.st_mtime, &tm));
    char size[64];
    snprintf(size, sizeof size, "%.1f MiB", (double)sb.st_size / (1 << 20));
    fact(b, "size", size);
    fact(b, "written", text);
    fact(b, "arch", mlic_model_arch(m));
    snprintf(text, sizeof text, "%.2f million", (double)mlic_model_num_parameters(m) / 1e6);
    fact(b, "parameters", text);
    const mlic_preprocess p = mlic_model_preprocess(m);
    if (p.resize)
        snprintf(text, sizeof text, "resize the shorter side to %d, centre crop %d x %d", p.resize,
                 p.crop, p.crop);
    else
        snprintf(text, sizeof text, "no resize, centre crop %d x %d", p.crop, p.crop);
    fact(b, "preprocessing", text);
    snprintf(text, sizeof text, "mean %.4g %.4g %.4g, std %.4g %.4g %.4g", p.mean[0], p.mean[1],
             p.mean[2], p.std[0], p.std[1], p.std[2]);
    fact(b, "normalisation", text);
    mlic_strbuf_puts(b, "</tbody></table><table class=\"facts\" id=\"training-facts\"><tbody>");
    if (log)
        training_facts(b, log);
    else
        fact(b, "training", "not known (no --log)");
    mlic_strbuf_puts(b, "</tbody></table></div>");

    const int k = mlic_model_num_classes(m);
    mlic_strbuf_printf(b, "<h3>%d classes and their thresholds</h3>"
                          "<div class=\"scroll\"><table id=\"model-thresholds\" class=\"sortable\">"
                          "<thead><tr><th>class</th><th>threshold</th></tr></thead><tbody>", k);
    for (int c = 0; c < k; c++) {
        const float t = mlic_model_threshold(m, c);
        mlic_strbuf_puts(b, "<tr data-class=\"");
        mlic_html_text(b, mlic_model_class_name(m, c));
        mlic_strbuf_puts(b, "\"><td>");
        mlic_html_text(b, mlic_model_class_name(m, c));
        mlic_strbuf_printf(b, "</td><td class=\"thr\" data-v=\"%.9g\">%.4g</td></tr>", t, t);
    }
    mlic_strbuf_puts(b, "</tbody></table></div></section>\n");
    return MLIC_OK;
}
