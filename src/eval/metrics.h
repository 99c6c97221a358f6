/* Multi-label evaluation metrics (definitions in docs/metrics.md).
 *
 * Inputs are scores (N, K), any monotone score (probabilities or logits), and targets (N, K) of
 * 0/1 bytes. A sample is predicted positive for class k when score >= threshold[k]. Everything
 * reported is in percent.
 *
 *   AP     per class, as sklearn.metrics.average_precision_score: the step-wise sum
 *          sum_i (R_i - R_{i-1}) P_i over the distinct score values taken in decreasing order
 *          (tied scores form one threshold). NaN for a class without positives.
 *   mAP    mean AP over the classes with at least one positive; those without are left out
 *          (their AP is NaN). NaN if no class has a positive.
 *   CP, CR per-class precision N_c/N_p and recall N_c/N_g averaged over all K classes, a 0/0
 *          counting as 0 (sklearn's zero_division=0); CF1 = 2 CP CR / (CP + CR).
 *   OP, OR overall: sum N_c / sum N_p and sum N_c / sum N_g; OF1 = 2 OP OR / (OP + OR).
 *          (N_c: correct positive predictions, N_p: positive predictions, N_g: positives.) */
#ifndef MLIC_EVAL_METRICS_H
#define MLIC_EVAL_METRICS_H

#include <stdint.h>

#include "mlic.h"

/* mlic_metrics and mlic_class_metrics are in mlic.h. */

/* out: the summary. per_class: (K) or NULL. scores, targets: (N, K). thresholds: (K). */
mlic_status mlic_metrics_compute(mlic_metrics *out, mlic_class_metrics *per_class,
                                 const float *scores, const uint8_t *targets, int n, int k,
                                 const float *thresholds);

/* One point of a class's precision-recall curve: predicting positive every sample whose score is
 * >= threshold gives this precision and recall (percent). */
typedef struct {
    float threshold;
    double precision, recall;
} mlic_pr_point;

/* Class j's precision-recall curve, the steps AP sums over: one point per distinct score, in
 * decreasing score order (recall rising). *points: malloc'd, *count of them (n at most); a class
 * without positives has none (*points NULL, *count 0). */
mlic_status mlic_metrics_pr_curve(mlic_pr_point **points, int *count, const float *scores,
                                  const uint8_t *targets, int n, int k, int j);

/* Per-class threshold maximising that class's F1 on these scores: the candidates are the
 * midpoints between consecutive distinct scores plus the lowest score itself (everything
 * positive); on a tie the highest threshold wins (fewest positive predictions). A class without
 * positives keeps `fallback`. thresholds: (K) out. f1: (K) the F1 reached, percent (NaN without
 * positives), or NULL. */
mlic_status mlic_metrics_tune_thresholds(float *thresholds, double *f1, const float *scores,
                                         const uint8_t *targets, int n, int k, float fallback);

#endif
