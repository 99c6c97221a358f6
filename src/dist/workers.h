/* `mlic predict --workers N` without an MPI launcher: the command starts N copies of itself, each
 * answering one share, and joins their parts when all have finished.
 *
 * A worker finds its rank in the environment (MLIC_WORKER_ENV = "RANK/N/FD"); FD is a socket to
 * the launcher over which the workers exchange their line counts: each sends its share's line
 * count and whether it started, and gets back how many lines lie before its share and whether
 * every worker started (mlic_predict_opts.exchange). Workers die with the launcher
 * (PR_SET_PDEATHSIG), so killing the launcher stops the whole run; each has a process group of
 * its own, so that a terminal's Ctrl-C reaches them only through the launcher (cancel below). */
#ifndef MLIC_DIST_WORKERS_H
#define MLIC_DIST_WORKERS_H

#include <signal.h>
#include <stdint.h>

#include "mlic.h"

#define MLIC_WORKER_ENV "MLIC_PREDICT_WORKER"

typedef struct {
    int rank, nranks;
    int fd; /* the socket to the launcher */
} mlic_worker_link;

/* 1 and *w filled if this process is a worker, 0 if it is not, -1 if the variable is malformed. */
int mlic_worker_link_from_env(mlic_worker_link *w);

/* mlic_predict_opts.exchange for a worker; ctx: its mlic_worker_link. */
mlic_status mlic_worker_exchange(void *ctx, uint64_t share_lines, int ok, uint64_t *lines_before,
                                 int *all_ok);

/* Start nworkers copies of this program with argv (argv[0] is only their name; NULL-terminated),
 * answer their exchange, wait for them all. status[r]: worker r's exit status, or 128 + the
 * signal that killed it. Fails only if the workers could not be started (those started are
 * killed). cancel (may be NULL): once *cancel holds a signal number (the launcher's SIGINT or
 * SIGTERM handler sets it), that signal goes to every worker, once, so that they stop as the
 * launcher was asked to; the workers are still waited for. */
mlic_status mlic_workers_run(char *const *argv, int nworkers, int *status,
                             const volatile sig_atomic_t *cancel);

/* Whether an MPI launcher (mpirun, srun with PMI/PMIx) started this process. */
int mlic_dist_mpi_launched(void);

#endif
