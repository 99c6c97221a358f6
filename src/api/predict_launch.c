/* The public face of src/dist for prediction across processes (mlic.h): joining the shares'
 * parts, a worker's share, and the --workers launcher over dist/workers.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dist/output.h"
#include "dist/workers.h"
#include "mlic.h"

mlic_status mlic_predict_join(const mlic_predict_opts *o, int nranks, mlic_predict_totals *totals)
{
    mlic_parts_totals t = {0};
    mlic_status st = mlic_output_join(o, nranks, &t);
    if (st != MLIC_OK)
        return mlic_fail_prefix(st, "joining the parts: ");
    *totals = (mlic_predict_totals){t.inputs, t.failed, t.session};
    return MLIC_OK;
}

int mlic_predict_is_worker(void) { return getenv(MLIC_WORKER_ENV) != NULL; }

/* The worker's link to its launcher: one per process, as a process is one worker at most. */
static mlic_worker_link link_to_launcher;

mlic_status mlic_predict_worker_opts(mlic_predict_opts *o, int workers)
{
    if (mlic_worker_link_from_env(&link_to_launcher) < 1 || link_to_launcher.nranks != workers)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "%s='%s' does not match --workers %d. HINT: the "
                         "variable is for the workers --workers starts; unset it", MLIC_WORKER_ENV,
                         getenv(MLIC_WORKER_ENV) ? getenv(MLIC_WORKER_ENV) : "", workers);
    o->rank = link_to_launcher.rank;
    o->nranks = link_to_launcher.nranks;
    o->exchange = mlic_worker_exchange;
    o->exchange_ctx = &link_to_launcher;
    return MLIC_OK;
}

/* The workers' exit statuses: MLIC_OK when every share is done, else the failure to return. */
static mlic_status judge(const mlic_predict_opts *o, const int *status, int workers,
                         const char *kept)
{
    int failed = 0, usage = 0, killed = -1;
    for (int r = 0; r < workers; r++) {
        if (status[r] == MLIC_PREDICT_EXIT_OK || status[r] == MLIC_PREDICT_EXIT_PARTIAL)
            continue;
        failed++;
        usage |= status[r] == MLIC_PREDICT_EXIT_USAGE;
        if (status[r] > 128 && killed < 0)
            killed = r;
    }
    if (!failed)
        return MLIC_OK;
    if (o->cancel && *o->cancel)
        return mlic_fail(MLIC_ERR_CANCELLED, "the workers stopped; what they finished is kept "
                         "next to the output");
    char why[96] = "";
    if (killed >= 0)
        snprintf(why, sizeof why, " (worker %d of %d was killed by signal %d)", killed, workers,
                 status[killed] - 128);
    return mlic_fail(usage ? MLIC_ERR_INVALID_ARG : MLIC_ERR_INTERNAL, "%d of %d workers failed%s; "
                     "what they finished is kept next to '%s'. HINT: rerun the same command with "
                     "--resume", failed, workers, why, kept);
}

mlic_status mlic_predict_launch(const mlic_predict_opts *o, int workers, char *const *argv,
                                mlic_predict_totals *totals)
{
    if (workers < 1 || !argv || !argv[0])
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_predict_launch: %d workers and %s",
                         workers, argv && argv[0] ? "a command" : "no command");
    /* What the workers finish lies next to the local output, or its staging path. */
    char *local = NULL;
    mlic_status st = mlic_output_local(o, &local);
    if (st == MLIC_OK)
        st = mlic_parts_check_other_runs(local, workers);
    int *status = st == MLIC_OK ? calloc((size_t)workers, sizeof *status) : NULL;
    if (st == MLIC_OK && !status)
        st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    if (st == MLIC_OK)
        st = mlic_workers_run(argv, workers, status, o->cancel);
    if (st == MLIC_OK)
        st = judge(o, status, workers, local);
    if (st == MLIC_OK)
        st = mlic_predict_join(o, workers, totals);
    if (st == MLIC_OK && totals->failed)
        st = mlic_fail(MLIC_ERR_PARTIAL, "%llu of %llu inputs failed",
                       (unsigned long long)totals->failed, (unsigned long long)totals->inputs);
    free(status);
    free(local);
    return st;
}
