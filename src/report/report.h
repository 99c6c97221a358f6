/* mlic report: one self-contained HTML page about a model: what it is (arch, classes,
 * preprocessing, thresholds, file hash), how its training went (from the trainer's --log) and
 * how it does on a labelled data set (the evaluation mlic eval runs, with per-class AP, PR curves,
 * the false-positive confusion between classes and the images it gets most wrong).
 *
 * The page needs nothing but itself: charts are inline SVG, thumbnails are data: URIs, the style
 * and the small table-sorting script are inline; every number is in the HTML as text, so the page
 * reads with JavaScript off and prints. docs/report.md describes it. */
#ifndef MLIC_REPORT_REPORT_H
#define MLIC_REPORT_REPORT_H

#include "data/dataset.h"
#include "eval/evaluate.h"
#include "mlic.h"

/* What the page is made of; mlic_report_run (mlic.h, src/api/report_api.c) loads and evaluates
 * it. */
typedef struct {
    const mlic_model *model;
    const char *model_path;
    const mlic_eval_result *eval; /* NULL: no evaluation section (the page says so) */
    const mlic_dataset *data;     /* the data eval ran on: its image paths, for thumbnails */
    const char *data_path;
    const char *backend;          /* the engine that ran the evaluation, or NULL */
    const char *log_path;         /* the trainer's JSON Lines log, or NULL */
    int max_examples;             /* images per gallery; 0: no galleries */
} mlic_report_input;

/* Writes the page to output_path atomically. A log that belongs to another model (other classes
 * or arch) fails, naming both; a log that cannot be read fails naming its line. */
mlic_status mlic_report_write(const char *output_path, const mlic_report_input *in);

#endif
