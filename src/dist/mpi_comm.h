/* What a distributed prediction needs from MPI, only in builds with MLIC_HAVE_MPI (make MPI=1):
 * start-up, the line-count exchange (mlic_predict_opts.exchange) and two small collectives. All
 * calls come from the main thread (MPI_THREAD_FUNNELED). */
#ifndef MLIC_DIST_MPI_COMM_H
#define MLIC_DIST_MPI_COMM_H

#include <stdint.h>

#include "mlic.h"

/* local_size: how many ranks share this machine (for the default thread counts). */
mlic_status mlic_mpi_init(int *rank, int *size, int *local_size);
void mlic_mpi_finalize(void);
/* End every process of the job (MPI_Abort on MPI_COMM_WORLD) with exit status code: for a rank
 * that failed where the others cannot learn of it and would wait forever. */
void mlic_mpi_abort(int code);

/* mlic_predict_opts.exchange (ctx unused): an all-gather of every rank's count and start. */
mlic_status mlic_mpi_exchange(void *ctx, uint64_t share_lines, int ok, uint64_t *lines_before,
                              int *all_ok);

/* The largest value over all ranks. */
mlic_status mlic_mpi_max_int(int mine, int *max);
/* Rank 0's value, on every rank. */
mlic_status mlic_mpi_bcast_int(int *value);

#endif
