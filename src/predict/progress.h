/* The progress line of `mlic predict` on stderr: done (of total, when known), failures, images/s
 * and, with a total, the ETA. On a terminal it redraws one line a few times a second; otherwise
 * (a log file) it writes a line every few seconds. The only printing the library does, and only
 * when mlic_predict_opts.progress asks for it. */
#ifndef MLIC_PREDICT_PROGRESS_H
#define MLIC_PREDICT_PROGRESS_H

#include <stdint.h>

typedef struct {
    int enabled;
    int tty;
    uint64_t total; /* 0: unknown */
    double start;   /* seconds, monotonic */
    double last;    /* when the line was last printed */
} mlic_progress;

double mlic_progress_now(void);
void mlic_progress_start(mlic_progress *p, int enabled, uint64_t total);
/* Prints only if enough time has passed since the last line. */
void mlic_progress_update(mlic_progress *p, uint64_t done, uint64_t failed);
/* The final line (always printed when enabled). */
void mlic_progress_finish(mlic_progress *p, uint64_t done, uint64_t failed);

#endif
