/* The progress line of `mlic predict` on stderr, from the library's progress reports
 * (mlic_predict_opts.progress): done (of total, when known), failures, images/s and, with a
 * total, the ETA. On a terminal it redraws one line a few times a second; otherwise (a log file)
 * it writes a line every few seconds. */
#ifndef MLIC_CLI_PROGRESS_LINE_H
#define MLIC_CLI_PROGRESS_LINE_H

#include "mlic.h"

typedef struct {
    int tty;
    double last; /* mlic_predict_progress.seconds when the line was last printed */
} mlic_progress_line;

void mlic_progress_line_init(mlic_progress_line *l);
/* An mlic_predict_opts.progress callback; user is an mlic_progress_line. */
void mlic_progress_line_report(void *user, const mlic_predict_progress *p);

#endif
