/* The report page's sections, each appended to the page being built (report_page.c puts them
 * together). */
#ifndef MLIC_REPORT_REPORT_SECTIONS_H
#define MLIC_REPORT_REPORT_SECTIONS_H

#include "report/report.h"
#include "train/trainer_log.h"
#include "util/strbuf.h"

/* What the model is: file, hash, arch, classes, preprocessing, thresholds, and how it was
 * trained when the log says (log may be NULL). */
mlic_status mlic_report_model_section(mlic_strbuf *b, const mlic_report_input *in,
                                      const mlic_trainer_log *log);

/* Loss, learning rate, validation metrics and speed per epoch (log NULL: says it is missing).
 * note: a remark on the log to show first, or NULL. */
void mlic_report_training_section(mlic_strbuf *b, const mlic_report_input *in,
                                  const mlic_trainer_log *log, const char *note);

/* The evaluation (in->eval NULL: says it is missing). */
mlic_status mlic_report_evaluation_section(mlic_strbuf *b, const mlic_report_input *in);

/* <div class="missing">text</div> */
void mlic_report_missing(mlic_strbuf *b, const char *text);

#endif
