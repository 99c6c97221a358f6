#include "eval/metrics.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"

typedef struct {
    float score;
    uint8_t target;
} scored;

static int by_score_desc(const void *a, const void *b)
{
    float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x < y) - (x > y);
}

static mlic_status check_inputs(const float *scores, const uint8_t *targets, int n, int k)
{
    if (!scores || !targets || n <= 0 || k <= 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "metrics: need scores and targets for n = %d > 0 "
                         "samples of k = %d > 0 classes", n, k);
    for (size_t i = 0; i < (size_t)n * k; i++) {
        if (isnan(scores[i]))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "metrics: score (%zu, %zu) is NaN", i / k, i % k);
        if (targets[i] > 1)
            return mlic_fail(MLIC_ERR_INVALID_ARG, "metrics: target (%zu, %zu) is %d, not 0 or 1",
                             i / k, i % k, targets[i]);
    }
    return MLIC_OK;
}

/* Column j sorted by decreasing score; returns its number of positives. */
static int sorted_column(scored *col, const float *scores, const uint8_t *targets, int n, int k,
                         int j)
{
    int positives = 0;
    for (int i = 0; i < n; i++) {
        col[i].score = scores[(size_t)i * k + j];
        col[i].target = targets[(size_t)i * k + j];
        positives += col[i].target;
    }
    qsort(col, (size_t)n, sizeof *col, by_score_desc);
    return positives;
}

/* Walks the groups of tied scores of a sorted column: *end becomes one past the group starting
 * at `start`, and tp/fp grow by its positives/negatives. */
static void next_group(int *end, int *tp, int *fp, const scored *col, int n, int start)
{
    int i = start;
    do {
        *tp += col[i].target;
        *fp += !col[i].target;
        i++;
    } while (i < n && col[i].score == col[start].score);
    *end = i;
}

static double average_precision(const scored *col, int n, int positives)
{
    if (positives == 0)
        return NAN;
    int tp = 0, fp = 0;
    double ap = 0, prev_recall = 0;
    for (int i = 0; i < n;) {
        next_group(&i, &tp, &fp, col, n, i);
        double recall = (double)tp / positives;
        ap += (recall - prev_recall) * ((double)tp / (tp + fp));
        prev_recall = recall;
    }
    return ap;
}

static double ratio(long num, long den) { return den ? (double)num / (double)den : 0.0; }
static double harmonic(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

mlic_status mlic_metrics_compute(mlic_metrics *out, mlic_class_metrics *per_class,
                                 const float *scores, const uint8_t *targets, int n, int k,
                                 const float *thresholds)
{
    mlic_status st = check_inputs(scores, targets, n, k);
    if (st != MLIC_OK)
        return st;
    if (!out || !thresholds)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "metrics: need an output and thresholds");
    for (int j = 0; j < k; j++)
        if (isnan(thresholds[j]))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "metrics: threshold %d is NaN", j);
    scored *col = malloc((size_t)n * sizeof *col);
    if (!col)
        return mlic_fail(MLIC_ERR_NOMEM, "metrics: out of memory for %d samples", n);
    double ap_sum = 0, p_sum = 0, r_sum = 0;
    long nc_sum = 0, np_sum = 0, ng_sum = 0;
    int with_positives = 0;
    for (int j = 0; j < k; j++) {
        int ng = sorted_column(col, scores, targets, n, k, j), np = 0, nc = 0;
        for (int i = 0; i < n && col[i].score >= thresholds[j]; i++) {
            np++;
            nc += col[i].target;
        }
        double ap = average_precision(col, n, ng);
        double p = ratio(nc, np), r = ratio(nc, ng);
        if (ng > 0) {
            ap_sum += ap;
            with_positives++;
        }
        p_sum += p;
        r_sum += r;
        nc_sum += nc;
        np_sum += np;
        ng_sum += ng;
        if (per_class) {
            mlic_class_metrics *c = &per_class[j];
            c->ap = 100 * ap;
            c->precision = 100 * p;
            c->recall = 100 * r;
            c->f1 = 100 * harmonic(p, r);
            c->positives = ng;
            c->predicted = np;
            c->correct = nc;
        }
    }
    free(col);
    out->map = with_positives ? 100 * ap_sum / with_positives : NAN;
    out->map_classes = with_positives;
    out->cp = 100 * p_sum / k;
    out->cr = 100 * r_sum / k;
    out->cf1 = harmonic(out->cp, out->cr);
    out->op = 100 * ratio(nc_sum, np_sum);
    out->or_ = 100 * ratio(nc_sum, ng_sum);
    out->of1 = harmonic(out->op, out->or_);
    return MLIC_OK;
}

mlic_status mlic_metrics_pr_curve(mlic_pr_point **points, int *count, const float *scores,
                                  const uint8_t *targets, int n, int k, int j)
{
    *points = NULL;
    *count = 0;
    mlic_status st = check_inputs(scores, targets, n, k);
    if (st != MLIC_OK)
        return st;
    if (j < 0 || j >= k)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "metrics: class %d of %d", j, k);
    scored *col = malloc((size_t)n * sizeof *col);
    mlic_pr_point *pts = malloc((size_t)n * sizeof *pts);
    if (!col || !pts) {
        free(col);
        free(pts);
        return mlic_fail(MLIC_ERR_NOMEM, "metrics: out of memory for %d samples", n);
    }
    int positives = sorted_column(col, scores, targets, n, k, j), tp = 0, fp = 0, m = 0;
    for (int i = 0; positives > 0 && i < n;) {
        const float s = col[i].score;
        next_group(&i, &tp, &fp, col, n, i);
        pts[m++] = (mlic_pr_point){s, 100.0 * tp / (tp + fp), 100.0 * tp / positives};
    }
    free(col);
    if (m == 0) {
        free(pts);
        return MLIC_OK;
    }
    *points = pts;
    *count = m;
    return MLIC_OK;
}

/* A float strictly between lo < hi and above lo, as close to their midpoint as floats allow:
 * hi itself when they are adjacent floats. */
static float midpoint(float hi, float lo)
{
    float mid = (float)(((double)hi + (double)lo) / 2.0);
    return mid > lo ? mid : hi;
}

mlic_status mlic_metrics_tune_thresholds(float *thresholds, double *f1, const float *scores,
                                         const uint8_t *targets, int n, int k, float fallback)
{
    mlic_status st = check_inputs(scores, targets, n, k);
    if (st != MLIC_OK)
        return st;
    if (!thresholds)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "metrics: need an output for the thresholds");
    scored *col = malloc((size_t)n * sizeof *col);
    if (!col)
        return mlic_fail(MLIC_ERR_NOMEM, "metrics: out of memory for %d samples", n);
    for (int j = 0; j < k; j++) {
        int positives = sorted_column(col, scores, targets, n, k, j);
        if (positives == 0) {
            thresholds[j] = fallback;
            if (f1)
                f1[j] = NAN;
            continue;
        }
        int tp = 0, fp = 0;
        double best = -1;
        for (int i = 0; i < n;) {
            next_group(&i, &tp, &fp, col, n, i);
            /* F1 = 2 TP / (2 TP + FP + FN) with FN = positives - TP. */
            double f = 2.0 * tp / (tp + fp + positives);
            if (f > best) {
                best = f;
                thresholds[j] = i < n ? midpoint(col[i - 1].score, col[i].score) : col[n - 1].score;
            }
        }
        if (f1)
            f1[j] = 100 * best;
    }
    free(col);
    return MLIC_OK;
}
