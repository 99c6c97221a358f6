/* The report's training section, from the trainer's JSON Lines log: one point per epoch (the
 * log has a line per epoch). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "report/report_charts.h"
#include "report/report_html.h"
#include "report/report_sections.h"

static void card(mlic_strbuf *b, const char *id, const char *key, const char *value)
{
    mlic_strbuf_printf(b, "<div class=\"metric\" id=\"%s\"><span class=\"v\">%s</span>"
                          "<span class=\"k\">%s</span></div>", id, value, key);
}

static void panel(mlic_strbuf *b, const char *title, const mlic_line_chart *c)
{
    mlic_strbuf_printf(b, "<div class=\"panel\"><h3>%s</h3>", title);
    mlic_chart_lines(b, c);
    mlic_strbuf_puts(b, "</div>");
}

static int any_finite(const double *v, int n)
{
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]))
            return 1;
    return 0;
}

static void epoch_table(mlic_strbuf *b, const mlic_trainer_log *l)
{
    mlic_strbuf_puts(b, "<h3>Epochs</h3><div class=\"scroll\"><table id=\"epochs\" "
                        "class=\"sortable\"><thead><tr><th>epoch</th><th>step</th><th>lr</th>"
                        "<th>train loss</th><th>val loss</th><th>mAP</th><th>CF1</th><th>OF1</th>"
                        "<th>images/s</th><th>seconds</th></tr></thead><tbody>");
    for (int i = 0; i < l->nepochs; i++) {
        const mlic_trainer_epoch_log *e = &l->epochs[i];
        mlic_strbuf_printf(b, "<tr%s><td data-v=\"%d\">%d%s</td><td data-v=\"%lld\">%lld</td>"
                           "<td data-v=\"%.9g\">%.3g</td>", e->best ? " class=\"best\"" : "",
                           e->epoch, e->epoch, e->epoch == l->best_epoch ? " (best)" : "",
                           (long long)e->step, (long long)e->step, e->lr, e->lr);
        const double loss[2] = {e->train_loss, e->val_loss};
        for (int j = 0; j < 2; j++) {
            if (isnan(loss[j]))
                mlic_strbuf_puts(b, "<td data-v=\"\">-</td>");
            else
                mlic_strbuf_printf(b, "<td data-v=\"%.9g\">%.4f</td>", loss[j], loss[j]);
        }
        mlic_html_num_cell(b, NULL, e->val_map);
        mlic_html_num_cell(b, NULL, e->val_cf1);
        mlic_html_num_cell(b, NULL, e->val_of1);
        mlic_strbuf_printf(b, "<td data-v=\"%.9g\">%.1f</td><td data-v=\"%.9g\">%.0f</td></tr>",
                           e->images_per_s, e->images_per_s, e->seconds, e->seconds);
    }
    mlic_strbuf_puts(b, "</tbody></table></div>");
}

void mlic_report_training_section(mlic_strbuf *b, const mlic_report_input *in,
                                  const mlic_trainer_log *l, const char *note)
{
    mlic_strbuf_puts(b, "<section id=\"training\"><h2>Training</h2>");
    if (!l) {
        mlic_report_missing(b, "No training log: give --log, the JSON Lines file that "
                               "mlic train --log wrote, to see loss, learning rate and "
                               "validation metrics per epoch.");
        mlic_strbuf_puts(b, "</section>\n");
        return;
    }
    mlic_strbuf_puts(b, "<p>From ");
    mlic_html_text(b, in->log_path);
    mlic_strbuf_puts(b, ", one point per epoch.</p>");
    if (note) {
        mlic_strbuf_puts(b, "<div class=\"note\">");
        mlic_html_text(b, note);
        mlic_strbuf_puts(b, "</div>");
    }
    const int n = l->nepochs;
    if (n == 0) {
        mlic_report_missing(b, "The log holds no epoch yet.");
        mlic_strbuf_puts(b, "</section>\n");
        return;
    }
    double *col = malloc((size_t)n * 9 * sizeof *col);
    if (!col) {
        b->oom = 1;
        return;
    }
    double *x = col, *train = col + n, *val = col + 2 * n, *map = col + 3 * n, *cf1 = col + 4 * n,
           *of1 = col + 5 * n, *lr = col + 6 * n, *speed = col + 7 * n, *secs = col + 8 * n;
    int best = l->best_epoch;
    double elapsed = 0; /* a line's "seconds" is its epoch's wall time */
    for (int i = 0; i < n; i++) {
        const mlic_trainer_epoch_log *e = &l->epochs[i];
        x[i] = e->epoch;
        train[i] = e->train_loss;
        val[i] = e->val_loss;
        map[i] = e->val_map;
        cf1[i] = e->val_cf1;
        of1[i] = e->val_of1;
        lr[i] = e->lr;
        speed[i] = e->images_per_s;
        elapsed += isfinite(e->seconds) ? e->seconds : 0;
        secs[i] = elapsed;
        if (!l->best_epoch && e->best)
            best = e->epoch; /* an unfinished run: the best so far */
    }
    const mlic_trainer_epoch_log *last = &l->epochs[n - 1];
    char v[64];
    mlic_strbuf_puts(b, "<div class=\"cards\">");
    snprintf(v, sizeof v, "%d", last->epoch);
    card(b, "t-epochs", "epochs", v);
    snprintf(v, sizeof v, "%lld", (long long)last->step);
    card(b, "t-steps", "steps", v);
    if (best > 0) {
        snprintf(v, sizeof v, "%d", best);
        card(b, "t-best", "best epoch", v);
    }
    if (l->has_final && !isnan(l->map)) {
        snprintf(v, sizeof v, "%.2f", l->map);
        card(b, "t-map", "val mAP (tuned)", v);
        snprintf(v, sizeof v, "%.2f", l->cf1);
        card(b, "t-cf1", "val CF1 (tuned)", v);
        snprintf(v, sizeof v, "%.2f", l->of1);
        card(b, "t-of1", "val OF1 (tuned)", v);
    }
    snprintf(v, sizeof v, "%.0f s", elapsed);
    card(b, "t-time", "training time", v);
    mlic_strbuf_puts(b, "</div><div class=\"grid\">");

    const double mark = best > 0 ? best : NAN;
    const mlic_chart_series loss_s[] = {{"train loss", train}, {"val loss", val}};
    const int has_val = any_finite(val, n);
    mlic_line_chart c = {.id = "chart-loss", .xlabel = "epoch", .ylabel = "loss", .x = x, .n = n,
                         .series = loss_s, .nseries = has_val ? 2 : 1, .mark_x = mark,
                         .mark_label = "best epoch", .x_name = "epoch"};
    panel(b, "Loss", &c);
    if (any_finite(map, n)) {
        const mlic_chart_series val_s[] = {{"mAP", map}, {"CF1", cf1}, {"OF1", of1}};
        c = (mlic_line_chart){.id = "chart-val", .xlabel = "epoch", .ylabel = "percent", .x = x,
                              .n = n, .series = val_s, .nseries = 3, .mark_x = mark,
                              .mark_label = "best epoch", .x_name = "epoch"};
        panel(b, "Validation mAP, CF1, OF1 (at the model's thresholds during training)", &c);
    } else {
        mlic_strbuf_puts(b, "<div class=\"panel\"><h3>Validation</h3>");
        mlic_report_missing(b, "No validation metrics: the run had no --val data.");
        mlic_strbuf_puts(b, "</div>");
    }
    const mlic_chart_series lr_s[] = {{"learning rate", lr}};
    c = (mlic_line_chart){.id = "chart-lr", .xlabel = "epoch", .ylabel = "learning rate", .x = x,
                          .n = n, .series = lr_s, .nseries = 1, .mark_x = NAN, .x_name = "epoch"};
    panel(b, "Learning rate (at the end of each epoch)", &c);
    const mlic_chart_series speed_s[] = {{"images/s", speed}};
    c = (mlic_line_chart){.id = "chart-speed", .xlabel = "seconds since the start",
                          .ylabel = "training images/s", .x = secs, .n = n, .series = speed_s,
                          .nseries = 1, .mark_x = NAN, .x_name = "second"};
    panel(b, "Speed over time (each epoch at its end)", &c);
    mlic_strbuf_puts(b, "</div>");
    epoch_table(b, l);
    mlic_strbuf_puts(b, "</section>\n");
    free(col);
}
