#include "report/report_charts.h"

#include <math.h>
#include <stdio.h>

#include "report/report_html.h"

/* A line chart's drawing area inside its viewBox. */
#define W 520
#define H 250
#define LEFT 70
#define RIGHT 12
#define TOP 10
#define BOTTOM 38

const char *mlic_chart_color(int i)
{
    static const char *const palette[] = {"#1f6fb2", "#d0452c", "#2b9348", "#8e44ad", "#e69500",
                                          "#17a2b8"};
    return palette[i % (int)(sizeof palette / sizeof *palette)];
}

/* A step of 1, 2 or 5 times a power of ten giving about `want` ticks over span. */
static double nice_step(double span, int want)
{
    double raw = span / want, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void tick_text(char *buf, size_t n, double v, double step)
{
    if (fabs(v) < step * 1e-6)
        v = 0;
    snprintf(buf, n, "%.4g", v);
}

void mlic_chart_lines(mlic_strbuf *b, const mlic_line_chart *c)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < c->n; i++)
        if (isfinite(c->x[i])) {
            x0 = fmin(x0, c->x[i]);
            x1 = fmax(x1, c->x[i]);
        }
    if (!(x0 <= x1))
        x0 = 0, x1 = 1;
    for (int s = 0; s < c->nseries; s++)
        for (int i = 0; i < c->n; i++)
            if (isfinite(c->series[s].y[i])) {
                y0 = fmin(y0, c->series[s].y[i]);
                y1 = fmax(y1, c->series[s].y[i]);
            }
    if (!(y0 <= y1))
        y0 = 0, y1 = 1;
    if (y1 - y0 < 1e-12 * fmax(1, fabs(y1))) {
        const double pad = y1 != 0 ? fabs(y1) * 0.1 : 1;
        y0 -= pad;
        y1 += pad;
    }
    if (x1 <= x0)
        x0 -= 1, x1 += 1;
    const double ystep = nice_step(y1 - y0, 5);
    y0 = floor(y0 / ystep) * ystep;
    y1 = ceil(y1 / ystep) * ystep;
    const double pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
#define PX(v) (LEFT + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (TOP + (y1 - (v)) / (y1 - y0) * ph)
    mlic_strbuf_puts(b, "<div class=\"legend\">");
    for (int s = 0; s < c->nseries; s++) {
        mlic_strbuf_printf(b, "<span><i style=\"background:%s\"></i>", mlic_chart_color(s));
        mlic_html_text(b, c->series[s].name);
        mlic_strbuf_puts(b, "</span>");
    }
    if (!isnan(c->mark_x)) {
        mlic_strbuf_puts(b, "<span><i style=\"background:#5b6675\"></i>");
        mlic_html_text(b, c->mark_label);
        mlic_strbuf_puts(b, "</span>");
    }
    mlic_strbuf_printf(b, "</div><svg id=\"%s\" class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\">",
                       c->id, W, H);
    char t[32];
    for (double v = y0; v <= y1 + ystep * 1e-6; v += ystep) {
        tick_text(t, sizeof t, v, ystep);
        mlic_strbuf_printf(b, "<line class=\"gridline\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
                           "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                           LEFT, W - RIGHT, PY(v), PY(v), LEFT - 5, PY(v) + 4, t);
    }
    const double xstep = fmax(1, nice_step(x1 - x0, 8));
    for (double v = ceil(x0 / xstep) * xstep; v <= x1 + 1e-9; v += xstep) {
        tick_text(t, sizeof t, v, xstep);
        mlic_strbuf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>", PX(v),
                           H - BOTTOM + 15, t);
    }
    mlic_strbuf_printf(b, "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>"
                       "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>",
                       LEFT, W - RIGHT, H - BOTTOM, H - BOTTOM, LEFT, LEFT, TOP, H - BOTTOM);
    mlic_strbuf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", LEFT + pw / 2, H - 4);
    mlic_html_text(b, c->xlabel);
    mlic_strbuf_printf(b, "</text><text transform=\"translate(12 %.1f) rotate(-90)\" "
                       "text-anchor=\"middle\">", TOP + ph / 2);
    mlic_html_text(b, c->ylabel);
    mlic_strbuf_puts(b, "</text>");
    if (!isnan(c->mark_x))
        mlic_strbuf_printf(b, "<line class=\"mark\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\">"
                           "<title>%s</title></line>", PX(c->mark_x), PX(c->mark_x), TOP,
                           H - BOTTOM, c->mark_label);
    for (int s = 0; s < c->nseries; s++) {
        const mlic_chart_series *sr = &c->series[s];
        int points = 0;
        for (int i = 0; i < c->n; i++)
            points += isfinite(sr->y[i]);
        mlic_strbuf_puts(b, "<g class=\"series\" data-series=\"");
        mlic_html_text(b, sr->name);
        mlic_strbuf_printf(b, "\" data-points=\"%d\"><polyline fill=\"none\" stroke=\"%s\" "
                           "stroke-width=\"2\" points=\"", points, mlic_chart_color(s));
        for (int i = 0; i < c->n; i++)
            if (isfinite(sr->y[i]))
                mlic_strbuf_printf(b, "%.1f,%.1f ", PX(c->x[i]), PY(sr->y[i]));
        mlic_strbuf_puts(b, "\"/>");
        for (int i = 0; i < c->n; i++) {
            if (!isfinite(sr->y[i]))
                continue;
            mlic_strbuf_printf(b, "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\">"
                               "<title>", PX(c->x[i]), PY(sr->y[i]), mlic_chart_color(s));
            mlic_html_text(b, sr->name);
            mlic_strbuf_printf(b, ", %s %.6g: %.6g</title></circle>", c->x_name, c->x[i], sr->y[i]);
        }
        mlic_strbuf_puts(b, "</g>");
    }
    mlic_strbuf_puts(b, "</svg>");
#undef PX
#undef PY
}

void mlic_chart_bars(mlic_strbuf *b, const char *id, const char *const *labels,
                     const double *values, const char *const *notes, int n)
{
    const int row = 20, label_w = 170, bar_w = 300, top = 6, height = top + row * n + 22;
    mlic_strbuf_printf(b, "<svg id=\"%s\" class=\"chart bars\" viewBox=\"0 0 %d %d\" "
                       "style=\"max-width:%dpx\" role=\"img\">", id, label_w + bar_w + 150, height,
                       (label_w + bar_w + 150) * 3 / 2);
    for (int v = 0; v <= 100; v += 25)
        mlic_strbuf_printf(b, "<line class=\"gridline\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"/>"
                           "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>",
                           label_w + v / 100.0 * bar_w, label_w + v / 100.0 * bar_w, top,
                           top + row * n, label_w + v / 100.0 * bar_w, height - 6, v);
    mlic_strbuf_printf(b, "<g class=\"series\" data-series=\"AP\" data-points=\"%d\">", n);
    for (int i = 0; i < n; i++) {
        const double y = top + i * row, w = fmax(0, fmin(100, values[i])) / 100 * bar_w;
        mlic_strbuf_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", label_w - 6, y + 14);
        mlic_html_text(b, labels[i]);
        mlic_strbuf_printf(b, "</text><rect class=\"bar\" x=\"%d\" y=\"%.1f\" width=\"%.1f\" "
                           "height=\"%d\" fill=\"%s\"><title>", label_w, y + 3, w, row - 6,
                           mlic_chart_color(0));
        mlic_html_text(b, labels[i]);
        mlic_strbuf_printf(b, ": AP %.2f, ", values[i]);
        mlic_html_text(b, notes[i]);
        mlic_strbuf_printf(b, "</title></rect><text x=\"%.1f\" y=\"%.1f\">%.2f  (", label_w + w + 5,
                           y + 14, values[i]);
        mlic_html_text(b, notes[i]);
        mlic_strbuf_puts(b, ")</text>");
    }
    mlic_strbuf_puts(b, "</g></svg>");
}

void mlic_chart_pr(mlic_strbuf *b, const char *id, const char *name, const double *recall,
                   const double *precision, int n, double op_r, double op_p, double thr)
{
    const int w = 220, h = 190, l = 34, r = 14, t = 8, bot = 28;
    const double pw = w - l - r, ph = h - t - bot;
#define QX(v) (l + (v) / 100.0 * pw)
#define QY(v) (t + (100.0 - (v)) / 100.0 * ph)
    mlic_strbuf_printf(b, "<svg id=\"%s\" class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\">", id,
                       w, h);
    for (int v = 0; v <= 100; v += 25)
        mlic_strbuf_printf(b, "<line class=\"gridline\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>"
                           "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d</text>"
                           "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>",
                           l, w - r, QY(v), QY(v), l - 3, QY(v) + 4, v, QX(v), h - bot + 12, v);
    mlic_strbuf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">recall</text>"
                       "<text transform=\"translate(9 %.1f) rotate(-90)\" text-anchor=\"middle\">"
                       "precision</text>", l + pw / 2, h - 3, t + ph / 2);
    /* The curve steps: from (0, first precision), each point's recall at its precision. */
    mlic_strbuf_puts(b, "<g class=\"series\" data-series=\"");
    mlic_html_text(b, name);
    mlic_strbuf_printf(b, "\" data-points=\"%d\"><polyline fill=\"none\" stroke=\"%s\" "
                       "stroke-width=\"1.8\" points=\"", n, mlic_chart_color(0));
    for (int i = 0; i < n; i++)
        mlic_strbuf_printf(b, "%.0f,%.0f ", QX(recall[i]), QY(precision[i])); /* px enough */
    mlic_strbuf_puts(b, "\"><title>");
    mlic_html_text(b, name);
    mlic_strbuf_printf(b, ": %d points of the precision-recall curve</title></polyline></g>", n);
    mlic_strbuf_printf(b, "<circle class=\"op\" cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"#c0392b\" "
                       "data-recall=\"%.9g\" data-precision=\"%.9g\" data-threshold=\"%.9g\">"
                       "<title>threshold %.4g: precision %.2f, recall %.2f</title></circle>",
                       QX(op_r), QY(op_p), op_r, op_p, thr, thr, op_p, op_r);
    mlic_strbuf_puts(b, "</svg>");
#undef QX
#undef QY
}
