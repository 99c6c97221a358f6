/* Evaluation metrics for tests/py/test_metrics.py.
 *   tool_metrics N K SCORES TARGETS THRESHOLDS FALLBACK
 * SCORES, THRESHOLDS: raw float32 (N, K) and (K); TARGETS: raw uint8 (N, K). Prints one JSON
 * object: the summary and per-class metrics at THRESHOLDS, and the thresholds tuned for F1 (with
 * FALLBACK for classes without positives), and each class's precision-recall curve as
 * [threshold, precision, recall] points. NaN is printed as null. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "eval/metrics.h"

static void *read_file(const char *path, size_t bytes)
{
    FILE *f = fopen(path, "rb");
    void *v = malloc(bytes + 1);
    if (!f || !v || fread(v, 1, bytes, f) != bytes) {
        fprintf(stderr, "tool_metrics: cannot read %zu bytes from %s\n", bytes, path);
        exit(2);
    }
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: tool_metrics N K SCORES TARGETS THRESHOLDS FALLBACK\n");
        return 2;
    }
    int n = atoi(argv[1]), k = atoi(argv[2]);
    size_t nk = (size_t)(n > 0 ? n : 0) * (size_t)(k > 0 ? k : 0);
    float *scores = read_file(argv[3], nk * sizeof(float));
    uint8_t *targets = read_file(argv[4], nk);
    float *thr = read_file(argv[5], (size_t)(k > 0 ? k : 0) * sizeof(float));
    float *tuned = malloc((size_t)(k > 0 ? k : 0) * sizeof *tuned + 1);
    double *tuned_f1 = malloc((size_t)(k > 0 ? k : 0) * sizeof *tuned_f1 + 1);
    mlic_class_metrics *pc = malloc((size_t)(k > 0 ? k : 0) * sizeof *pc + 1);
    mlic_metrics m;
    if (mlic_metrics_compute(&m, pc, scores, targets, n, k, thr) != MLIC_OK ||
        mlic_metrics_tune_thresholds(tuned, tuned_f1, scores, targets, n, k,
                                     strtof(argv[6], NULL)) != MLIC_OK) {
        fprintf(stderr, "%s\n", mlic_errmsg());
        return 1;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "map", m.map);
    cJSON_AddNumberToObject(o, "map_classes", m.map_classes);
    cJSON_AddNumberToObject(o, "cp", m.cp);
    cJSON_AddNumberToObject(o, "cr", m.cr);
    cJSON_AddNumberToObject(o, "cf1", m.cf1);
    cJSON_AddNumberToObject(o, "op", m.op);
    cJSON_AddNumberToObject(o, "or", m.or_);
    cJSON_AddNumberToObject(o, "of1", m.of1);
    cJSON *classes = cJSON_AddArrayToObject(o, "per_class");
    cJSON *tt = cJSON_AddArrayToObject(o, "tuned_thresholds");
    cJSON *tf = cJSON_AddArrayToObject(o, "tuned_f1");
    cJSON *curves = cJSON_AddArrayToObject(o, "pr_curves");
    for (int j = 0; j < k; j++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "ap", pc[j].ap);
        cJSON_AddNumberToObject(c, "precision", pc[j].precision);
        cJSON_AddNumberToObject(c, "recall", pc[j].recall);
        cJSON_AddNumberToObject(c, "f1", pc[j].f1);
        cJSON_AddNumberToObject(c, "positives", pc[j].positives);
        cJSON_AddNumberToObject(c, "predicted", pc[j].predicted);
        cJSON_AddNumberToObject(c, "correct", pc[j].correct);
        cJSON_AddItemToArray(classes, c);
        cJSON_AddItemToArray(tt, cJSON_CreateNumber(tuned[j]));
        cJSON_AddItemToArray(tf, cJSON_CreateNumber(tuned_f1[j]));
        mlic_pr_point *pts;
        int npts;
        if (mlic_metrics_pr_curve(&pts, &npts, scores, targets, n, k, j) != MLIC_OK) {
            fprintf(stderr, "%s\n", mlic_errmsg());
            return 1;
        }
        cJSON *curve = cJSON_CreateArray();
        for (int i = 0; i < npts; i++) {
            const double p[3] = {pts[i].threshold, pts[i].precision, pts[i].recall};
            cJSON_AddItemToArray(curve, cJSON_CreateDoubleArray(p, 3));
        }
        cJSON_AddItemToArray(curves, curve);
        free(pts);
    }
    char *s = cJSON_PrintUnformatted(o);
    puts(s);
    free(s);
    cJSON_Delete(o);
    free(scores);
    free(targets);
    free(thr);
    free(tuned);
    free(tuned_f1);
    free(pc);
    return 0;
}
