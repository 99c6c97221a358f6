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

/* Images shown in each of the worst false positive / false negative galleries by default. */
#define MLIC_REPORT_DEFAULT_EXAMPLES 12

/* What the page is made of, for a caller that has evaluated already (mlic eval --report). */
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

typedef struct {
    const char *model_path;
    const char *data_path;        /* NULL: no evaluation */
    mlic_dataset_opts data;       /* how to read data_path */
    mlic_eval_opts eval;          /* backend, batch, threads, threshold... as mlic eval's */
    const char *log_path;         /* NULL: no training section */
    const char *output_path;
    int max_examples;
} mlic_report_opts;

/* No data, no log, MLIC_REPORT_DEFAULT_EXAMPLES, the evaluation's defaults. */
void mlic_report_opts_init(mlic_report_opts *o);

/* Loads the model (and data set), evaluates it as mlic eval does and writes the page. */
mlic_status mlic_report_run(const mlic_report_opts *o);

#endif
