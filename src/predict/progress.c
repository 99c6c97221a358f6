#include "predict/progress.h"

#include <time.h>

double mlic_progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void mlic_progress_start(mlic_progress *p, void (*fn)(void *, const mlic_predict_progress *),
                         void *user, uint64_t total)
{
    p->fn = fn;
    p->user = user;
    p->total = total;
    p->start = mlic_progress_now();
}

static void report(const mlic_progress *p, uint64_t done, uint64_t failed, int final)
{
    if (!p->fn)
        return;
    mlic_predict_progress r = {.done = done, .failed = failed, .total = p->total,
                               .seconds = mlic_progress_now() - p->start, .final = final};
    p->fn(p->user, &r);
}

void mlic_progress_update(mlic_progress *p, uint64_t done, uint64_t failed)
{
    report(p, done, failed, 0);
}

void mlic_progress_finish(mlic_progress *p, uint64_t done, uint64_t failed)
{
    report(p, done, failed, 1);
}
