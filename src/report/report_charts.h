/* The report's charts as inline SVG: no script draws them, so they print and show with
 * JavaScript off. Every point carries a <title>, the browser's hover text. Each series is a
 * <g class="series" data-series="NAME" data-points="N"> (what the tests count). */
#ifndef MLIC_REPORT_REPORT_CHARTS_H
#define MLIC_REPORT_REPORT_CHARTS_H

#include "util/strbuf.h"

typedef struct {
    const char *name;
    const double *y; /* (n) a NaN leaves the point out */
} mlic_chart_series;

typedef struct {
    const char *id;      /* the <svg>'s id */
    const char *xlabel, *ylabel;
    const double *x;     /* (n) in drawing order */
    int n;
    const mlic_chart_series *series;
    int nseries;
    double mark_x;       /* NaN: none; else a dashed vertical line there, labelled mark_label */
    const char *mark_label;
    const char *x_name;  /* the x value's name in hover text ("epoch") */
} mlic_line_chart;

/* Lines with a dot per point, axes with ticks, a legend above. */
void mlic_chart_lines(mlic_strbuf *b, const mlic_line_chart *c);

/* Horizontal bars, one per entry, in the order given: label, value (0-100), and a note shown
 * after the value ("12 positives"). */
void mlic_chart_bars(mlic_strbuf *b, const char *id, const char *const *labels,
                     const double *values, const char *const *notes, int n);

/* One class's precision-recall curve (recall x, precision y, percent) through its n points,
 * the operating point (op_r, op_p) at threshold `thr` marked as a red dot. */
void mlic_chart_pr(mlic_strbuf *b, const char *id, const char *name, const double *recall,
                   const double *precision, int n, double op_r, double op_p, double thr);

/* The colour of series i. */
const char *mlic_chart_color(int i);

#endif
