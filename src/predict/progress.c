#include "predict/progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double mlic_progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void mlic_progress_start(mlic_progress *p, int enabled, uint64_t total)
{
    p->enabled = enabled;
    p->tty = isatty(STDERR_FILENO);
    p->total = total;
    p->start = p->last = mlic_progress_now();
}

static void print_line(mlic_progress *p, uint64_t done, uint64_t failed, double now, int final)
{
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)done / elapsed : 0.0;
    char total[64] = "", eta[64] = "", fails[64] = "";
    if (p->total) {
        snprintf(total, sizeof total, "/%llu (%.1f%%)", (unsigned long long)p->total,
                 100.0 * (double)done / (double)p->total);
        if (!final && rate > 0 && done < p->total) {
            long s = (long)((double)(p->total - done) / rate + 0.5);
            snprintf(eta, sizeof eta, ", ETA %ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
        }
    }
    if (failed)
        snprintf(fails, sizeof fails, ", %llu failed", (unsigned long long)failed);
    fprintf(stderr, "%smlic predict: %llu%s images%s, %.1f images/s%s%s%s", p->tty ? "\r" : "",
            (unsigned long long)done, total, fails, rate, eta, final ? ", done" : "",
            p->tty ? "\033[K" : "\n");
    if (p->tty && final)
        fputc('\n', stderr);
    fflush(stderr);
    p->last = now;
}

void mlic_progress_update(mlic_progress *p, uint64_t done, uint64_t failed)
{
    if (!p->enabled)
        return;
    double now = mlic_progress_now();
    if (now - p->last >= (p->tty ? 0.25 : 5.0))
        print_line(p, done, failed, now, 0);
}

void mlic_progress_finish(mlic_progress *p, uint64_t done, uint64_t failed)
{
    if (p->enabled)
        print_line(p, done, failed, mlic_progress_now(), 1);
}
