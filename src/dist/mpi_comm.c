#include "dist/mpi_comm.h"

#include <mpi.h>
#include <stdlib.h>

#include "core/error.h"

static mlic_status mpi_failed(int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        len = 0;
    return mlic_fail(MLIC_ERR_INTERNAL, "%s failed: %.*s", what, len, msg);
}

mlic_status mlic_mpi_init(int *rank, int *size, int *local_size)
{
    int provided, rc;
    if ((rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS)
        return mlic_fail(MLIC_ERR_INTERNAL, "MPI_Init_thread failed (%d). HINT: does mpirun match the "
                         "MPI mlic was built with?", rc);
    /* Errors come back as codes, so that a rank can report them instead of aborting the job. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm node;
    if ((rc = MPI_Comm_rank(MPI_COMM_WORLD, rank)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(MPI_COMM_WORLD, size)) != MPI_SUCCESS)
        return mpi_failed(rc, "MPI_Comm_rank/size");
    if ((rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node)) != MPI_SUCCESS)
        return mpi_failed(rc, "MPI_Comm_split_type");
    rc = MPI_Comm_size(node, local_size);
    MPI_Comm_free(&node);
    return rc == MPI_SUCCESS ? MLIC_OK : mpi_failed(rc, "MPI_Comm_size");
}

void mlic_mpi_finalize(void)
{
    MPI_Finalize();
}

void mlic_mpi_abort(int code)
{
    MPI_Abort(MPI_COMM_WORLD, code);
}

mlic_status mlic_mpi_exchange(void *ctx, uint64_t share_lines, int ok, uint64_t *lines_before,
                              int *all_ok)
{
    int rank, size, rc;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    uint64_t mine[2] = {share_lines, (uint64_t)(ok != 0)};
    uint64_t *all = malloc((size_t)size * sizeof mine);
    if (!all)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    rc = MPI_Allgather(mine, 2, MPI_UINT64_T, all, 2, MPI_UINT64_T, MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS) {
        *lines_before = 0;
        *all_ok = 1;
        for (int r = 0; r < size; r++) {
            if (r < rank)
                *lines_before += all[2 * r];
            *all_ok &= all[2 * r + 1] != 0;
        }
    }
    free(all);
    return rc == MPI_SUCCESS ? MLIC_OK : mpi_failed(rc, "MPI_Allgather of the line counts");
}

mlic_status mlic_mpi_max_int(int mine, int *max)
{
    int rc = MPI_Allreduce(&mine, max, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? MLIC_OK : mpi_failed(rc, "MPI_Allreduce");
}

mlic_status mlic_mpi_bcast_int(int *value)
{
    int rc = MPI_Bcast(value, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? MLIC_OK : mpi_failed(rc, "MPI_Bcast");
}
