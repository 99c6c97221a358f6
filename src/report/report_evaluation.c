/* The report's evaluation section: headline metrics, per-class AP, the class table, PR curves,
 * the false-positive confusion between classes, and the worst images. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "report/report_charts.h"
#include "report/report_examples.h"
#include "report/report_html.h"
#include "report/report_sections.h"

/* A PR curve keeps at most this many points (evenly picked, both ends kept): enough for the
 * shape at the chart's size, and a page of 80 classes x 10,000 images stays small. */
#define MAX_PR_POINTS 200
/* The heat map's cells say what they count on hover up to this many classes; beyond, the row and
 * column headings do (80 classes: 6,480 cells). */
#define MAX_HOVER_CLASSES 24

static void metric_card(mlic_strbuf *b, const char *key, double v, const char *what)
{
    mlic_strbuf_printf(b, "<div class=\"metric\" id=\"m-%s\" title=\"%s\"><span class=\"v\">", key,
                       what);
    mlic_html_num2(b, v);
    mlic_strbuf_printf(b, "</span><span class=\"k\">%s</span></div>", key);
}

typedef struct {
    double ap;
    int cls;
} class_ap;

static int by_ap_desc(const void *a, const void *b)
{
    const class_ap *x = a, *y = b;
    if (x->ap != y->ap)
        return (x->ap < y->ap) - (x->ap > y->ap);
    return x->cls - y->cls;
}

static mlic_status ap_chart(mlic_strbuf *b, const mlic_eval_result *r, const mlic_model *m)
{
    const int k = r->num_classes;
    class_ap *order = malloc((size_t)k * sizeof *order);
    const char **labels = malloc((size_t)k * sizeof *labels);
    const char **notes = malloc((size_t)k * sizeof *notes);
    double *ap = malloc((size_t)k * sizeof *ap);
    char (*note_text)[48] = malloc((size_t)k * sizeof *note_text);
    if (!order || !labels || !notes || !ap || !note_text) {
        free(order), free(labels), free(notes), free(ap), free(note_text);
        return mlic_fail(MLIC_ERR_NOMEM, "report: out of memory");
    }
    int n = 0;
    for (int c = 0; c < k; c++)
        if (r->per_class[c].positives > 0)
            order[n++] = (class_ap){r->per_class[c].ap, c};
    qsort(order, (size_t)n, sizeof *order, by_ap_desc);
    for (int i = 0; i < n; i++) {
        const int c = order[i].cls;
        labels[i] = mlic_model_class_name(m, c);
        ap[i] = r->per_class[c].ap;
        snprintf(note_text[i], sizeof note_text[i], "%d positive%s", r->per_class[c].positives,
                 r->per_class[c].positives == 1 ? "" : "s");
        notes[i] = note_text[i];
    }
    mlic_strbuf_puts(b, "<div class=\"panel\"><h3>AP per class, best first</h3>");
    mlic_chart_bars(b, "chart-ap", labels, ap, notes, n);
    if (n < k) {
        mlic_strbuf_printf(b, "<p>%d class%s without positives in this data (no AP): ", k - n,
                           k - n == 1 ? "" : "es");
        for (int c = 0, any = 0; c < k; c++)
            if (r->per_class[c].positives == 0) {
                mlic_strbuf_puts(b, any++ ? ", " : "");
                mlic_html_text(b, mlic_model_class_name(m, c));
            }
        mlic_strbuf_puts(b, ".</p>");
    }
    mlic_strbuf_puts(b, "</div>");
    free(order), free(labels), free(notes), free(ap), free(note_text);
    return MLIC_OK;
}

static void class_table(mlic_strbuf *b, const mlic_eval_result *r, const mlic_model *m)
{
    mlic_strbuf_puts(b, "<h3>Per class</h3><p>At each class's threshold (click a heading to "
                        "sort).</p><div class=\"scroll\"><table id=\"classes\" class=\"sortable\">"
                        "<thead><tr><th>class</th><th>AP</th><th>positives</th><th>predicted</th>"
                        "<th>P</th><th>R</th><th>F1</th><th>threshold</th></tr></thead><tbody>");
    for (int c = 0; c < r->num_classes; c++) {
        const mlic_class_metrics *pc = &r->per_class[c];
        mlic_strbuf_puts(b, "<tr data-class=\"");
        mlic_html_text(b, mlic_model_class_name(m, c));
        mlic_strbuf_puts(b, "\"><td>");
        mlic_html_text(b, mlic_model_class_name(m, c));
        mlic_strbuf_puts(b, "</td>");
        mlic_html_num_cell(b, "ap", pc->ap);
        mlic_strbuf_printf(b, "<td class=\"pos\" data-v=\"%d\">%d</td><td class=\"pred\" "
                           "data-v=\"%d\">%d</td>", pc->positives, pc->positives, pc->predicted,
                           pc->predicted);
        mlic_html_num_cell(b, "p", pc->precision);
        mlic_html_num_cell(b, "r", pc->recall);
        mlic_html_num_cell(b, "f1", pc->f1);
        mlic_strbuf_printf(b, "<td class=\"thr\" data-v=\"%.9g\">%.4g</td></tr>",
                           r->thresholds[c], r->thresholds[c]);
    }
    mlic_strbuf_puts(b, "</tbody></table></div>");
}

static mlic_status pr_curves(mlic_strbuf *b, const mlic_eval_result *r, const mlic_model *m)
{
    const int k = r->num_classes, n = (int)r->num_images;
    double *rec = malloc(MAX_PR_POINTS * sizeof *rec), *prec = malloc(MAX_PR_POINTS * sizeof *prec);
    if (!rec || !prec) {
        free(rec), free(prec);
        return mlic_fail(MLIC_ERR_NOMEM, "report: out of memory");
    }
    mlic_strbuf_printf(b, "<h3>Precision-recall curves</h3><p>One point per distinct score (at "
                          "most %d, evenly picked); the red dot is the class's threshold.</p>"
                          "<div class=\"pr\">", MAX_PR_POINTS);
    mlic_status st = MLIC_OK;
    for (int c = 0; c < k && st == MLIC_OK; c++) {
        mlic_pr_point *pts;
        int count;
        if ((st = mlic_metrics_pr_curve(&pts, &count, r->scores, r->targets, n, k, c)) != MLIC_OK)
            break;
        if (count == 0)
            continue;
        const int kept = count < MAX_PR_POINTS ? count : MAX_PR_POINTS;
        for (int i = 0; i < kept; i++) {
            const int at = kept == count ? i : (int)((long long)i * (count - 1) / (kept - 1));
            rec[i] = pts[at].recall;
            prec[i] = pts[at].precision;
        }
        free(pts);
        const mlic_class_metrics *pc = &r->per_class[c];
        char id[32];
        snprintf(id, sizeof id, "pr-%d", c);
        mlic_strbuf_puts(b, "<div class=\"panel\"><h3>");
        mlic_html_text(b, mlic_model_class_name(m, c));
        mlic_strbuf_printf(b, " <small>AP %.2f</small></h3>", pc->ap);
        mlic_chart_pr(b, id, mlic_model_class_name(m, c), rec, prec, kept, pc->recall,
                      pc->precision, r->thresholds[c]);
        mlic_strbuf_puts(b, "</div>");
    }
    mlic_strbuf_puts(b, "</div>");
    free(rec);
    free(prec);
    return st;
}

/* fp[a * k + b]: images labelled b on which class a (absent) was predicted. */
static mlic_status confusion(mlic_strbuf *b, const mlic_eval_result *r, const mlic_model *m)
{
    const int k = r->num_classes;
    int *fp = calloc((size_t)k * (k + 1), sizeof *fp);
    if (!fp)
        return mlic_fail(MLIC_ERR_NOMEM, "report: out of memory for a %d x %d table", k, k);
    int top = 0;
    for (size_t i = 0; i < r->num_images; i++) {
        const float *s = r->scores + i * k;
        const uint8_t *t = r->targets + i * k;
        int labelled = 0;
        for (int c = 0; c < k; c++)
            labelled += t[c];
        for (int a = 0; a < k; a++) {
            if (t[a] || s[a] < r->thresholds[a])
                continue;
            int *row = fp + (size_t)a * (k + 1);
            for (int c = 0; c < k; c++)
                if (t[c] && ++row[c] > top)
                    top = row[c];
            if (!labelled && ++row[k] > top)
                top = row[k];
        }
    }
    mlic_strbuf_puts(b, "<h3>False positives by true label</h3><p>Row A, column B: images "
                        "labelled B (and not A) on which the model predicted A. A dark cell is a "
                        "pair of classes the model confuses.</p><div class=\"scroll\">"
                        "<table id=\"confusion\" class=\"heat\"><thead><tr><th>predicted \\ "
                        "labelled</th>");
    for (int c = 0; c <= k; c++) {
        mlic_strbuf_puts(b, "<th>");
        mlic_html_text(b, c < k ? mlic_model_class_name(m, c) : "(no label)");
        mlic_strbuf_puts(b, "</th>");
    }
    mlic_strbuf_puts(b, "</tr></thead><tbody>");
    for (int a = 0; a < k; a++) {
        mlic_strbuf_puts(b, "<tr><th>");
        mlic_html_text(b, mlic_model_class_name(m, a));
        mlic_strbuf_puts(b, "</th>");
        for (int c = 0; c <= k; c++) {
            const int v = fp[(size_t)a * (k + 1) + c];
            if (c == a) {
                mlic_strbuf_puts(b, "<td data-v=\"\" style=\"background:#eef1f5\"></td>");
                continue;
            }
            if (v == 0) { /* most cells of a large table: kept small */
                mlic_strbuf_puts(b, "<td data-v=\"0\"></td>");
                continue;
            }
            /* Nine shades (report_html.c's style); words on hover where the table is small
             * enough for them not to dominate the page's size. */
            const int shade = 1 + 8 * v / top;
            mlic_strbuf_printf(b, "<td data-v=\"%d\" class=\"h%d\"", v, shade > 9 ? 9 : shade);
            if (k <= MAX_HOVER_CLASSES) {
                mlic_strbuf_printf(b, " title=\"%d image%s labelled ", v, v == 1 ? "" : "s");
                mlic_html_text(b, c < k ? mlic_model_class_name(m, c) : "nothing");
                mlic_strbuf_puts(b, " predicted as ");
                mlic_html_text(b, mlic_model_class_name(m, a));
                mlic_strbuf_putc(b, '"');
            }
            mlic_strbuf_printf(b, ">%d</td>", v);
        }
        mlic_strbuf_puts(b, "</tr>");
    }
    mlic_strbuf_puts(b, "</tbody></table></div>");
    free(fp);
    return MLIC_OK;
}

mlic_status mlic_report_evaluation_section(mlic_strbuf *b, const mlic_report_input *in)
{
    mlic_strbuf_puts(b, "<section id=\"evaluation\"><h2>Evaluation</h2>");
    const mlic_eval_result *r = in->eval;
    if (!r) {
        mlic_report_missing(b, "No evaluation: give --data, a labelled data set, to see the "
                               "model's metrics, per-class AP and precision-recall curves, the "
                               "classes it confuses and the images it gets wrong.");
        mlic_strbuf_puts(b, "</section>\n");
        return MLIC_OK;
    }
    const mlic_metrics *s = &r->summary;
    mlic_strbuf_printf(b, "<p>%zu images of ", r->num_images);
    mlic_html_text(b, in->data_path ? in->data_path : "the data");
    if (in->backend)
        mlic_strbuf_printf(b, ", run by the %s backend", in->backend);
    mlic_strbuf_printf(b, "; mAP over the %d classes with positives, the other figures at each "
                          "class's threshold, in percent (docs/metrics.md).</p>", s->map_classes);
    mlic_strbuf_puts(b, "<div class=\"cards\">");
    metric_card(b, "mAP", s->map, "mean average precision");
    metric_card(b, "CP", s->cp, "per-class precision, averaged");
    metric_card(b, "CR", s->cr, "per-class recall, averaged");
    metric_card(b, "CF1", s->cf1, "harmonic mean of CP and CR");
    metric_card(b, "OP", s->op, "overall precision");
    metric_card(b, "OR", s->or_, "overall recall");
    metric_card(b, "OF1", s->of1, "harmonic mean of OP and OR");
    mlic_strbuf_puts(b, "</div>");
    mlic_status st = ap_chart(b, r, in->model);
    if (st == MLIC_OK) {
        class_table(b, r, in->model);
        st = pr_curves(b, r, in->model);
    }
    if (st == MLIC_OK)
        st = confusion(b, r, in->model);
    if (st == MLIC_OK && in->max_examples > 0 && in->data)
        mlic_report_examples(b, r, in->model, in->data, in->max_examples);
    mlic_strbuf_puts(b, "</section>\n");
    return st;
}
