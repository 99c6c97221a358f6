/* Progress reports of `mlic predict` through mlic_predict_opts.progress: lines done (of total,
 * when known), failures and the time since the start. The library prints nothing; the CLI turns
 * the reports into its progress line. */
#ifndef MLIC_PREDICT_PROGRESS_H
#define MLIC_PREDICT_PROGRESS_H

#include <stdint.h>

#include "mlic.h"

typedef struct {
    void (*fn)(void *user, const mlic_predict_progress *p); /* NULL: reports off */
    void *user;
    uint64_t total; /* 0: unknown */
    double start;   /* seconds, monotonic */
} mlic_progress;

double mlic_progress_now(void);
/* fn NULL: every report is a no-op. */
void mlic_progress_start(mlic_progress *p, void (*fn)(void *, const mlic_predict_progress *),
                         void *user, uint64_t total);
void mlic_progress_update(mlic_progress *p, uint64_t done, uint64_t failed);
/* The final report. */
void mlic_progress_finish(mlic_progress *p, uint64_t done, uint64_t failed);

#endif
