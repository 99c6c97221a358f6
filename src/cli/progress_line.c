#include "cli/progress_line.h"

#include <stdio.h>
#include <unistd.h>

void mlic_progress_line_init(mlic_progress_line *l)
{
    l->tty = isatty(STDERR_FILENO);
    l->last = 0.0;
}

static void print_line(mlic_progress_line *l, const mlic_predict_progress *p)
{
    double rate = p->seconds > 0 ? (double)p->done / p->seconds : 0.0;
    char total[64] = "", eta[64] = "", fails[64] = "";
    if (p->total) {
        snprintf(total, sizeof total, "/%llu (%.1f%%)", (unsigned long long)p->total,
                 100.0 * (double)p->done / (double)p->total);
        if (!p->final && rate > 0 && p->done < p->total) {
            long s = (long)((double)(p->total - p->done) / rate + 0.5);
            snprintf(eta, sizeof eta, ", ETA %ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
        }
    }
    if (p->failed)
        snprintf(fails, sizeof fails, ", %llu failed", (unsigned long long)p->failed);
    fprintf(stderr, "%smlic predict: %llu%s images%s, %.1f images/s%s%s%s", l->tty ? "\r" : "",
            (unsigned long long)p->done, total, fails, rate, eta, p->final ? ", done" : "",
            l->tty ? "\033[K" : "\n");
    if (l->tty && p->final)
        fputc('\n', stderr);
    fflush(stderr);
    l->last = p->seconds;
}

void mlic_progress_line_report(void *user, const mlic_predict_progress *p)
{
    mlic_progress_line *l = user;
    if (p->final || p->seconds - l->last >= (l->tty ? 0.25 : 5.0))
        print_line(l, p);
}
