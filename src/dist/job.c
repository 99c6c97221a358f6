/* The public multi-process primitives (mlic.h, "multi-process jobs"): whether an MPI launcher
 * started this process, joining and leaving its job, and the few collectives a program needs
 * around mlic_train_run and mlic_predict_run. MPI stays inside src/dist (dist/mpi_comm.h); a
 * build without MPI answers as a job of one process, and refuses a launcher's many. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dist/workers.h"
#include "mlic.h"
#if MLIC_HAVE_MPI
#include "dist/mpi_comm.h"
#endif

int mlic_job_launched(void) { return mlic_dist_mpi_launched(); }

mlic_status mlic_job_join(int *rank, int *nranks, int *local_ranks)
{
#if MLIC_HAVE_MPI
    return mlic_mpi_init(rank, nranks, local_ranks);
#else
    const char *n = getenv("OMPI_COMM_WORLD_SIZE") ? getenv("OMPI_COMM_WORLD_SIZE")
                                                   : getenv("PMI_SIZE");
    if (n && strcmp(n, "1"))
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "started by an MPI launcher (%s processes), but "
                         "this mlic was built without MPI, so every process would do the whole "
                         "job alone. HINT: rebuild with MPI=1 (needs libopenmpi-dev)", n);
    *rank = 0;
    *nranks = 1;
    *local_ranks = 1;
    return MLIC_OK;
#endif
}

void mlic_job_leave(void)
{
#if MLIC_HAVE_MPI
    mlic_mpi_finalize();
#endif
}

void mlic_job_abort(int code)
{
#if MLIC_HAVE_MPI
    mlic_mpi_abort(code);
#else
    (void)code;
    abort(); /* a job of one process: nobody else to stop */
#endif
}

mlic_status mlic_job_max_int(int mine, int *max)
{
#if MLIC_HAVE_MPI
    return mlic_mpi_max_int(mine, max);
#else
    *max = mine;
    return MLIC_OK;
#endif
}

mlic_status mlic_job_bcast_int(int *value)
{
#if MLIC_HAVE_MPI
    return mlic_mpi_bcast_int(value);
#else
    (void)value;
    return MLIC_OK;
#endif
}

mlic_status mlic_job_exchange(void *ctx, uint64_t share_lines, int ok, uint64_t *lines_before,
                              int *all_ok)
{
#if MLIC_HAVE_MPI
    return mlic_mpi_exchange(ctx, share_lines, ok, lines_before, all_ok);
#else
    (void)ctx;
    (void)share_lines;
    *lines_before = 0;
    *all_ok = ok;
    return MLIC_OK;
#endif
}
