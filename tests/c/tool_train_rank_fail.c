/* Under mpirun: data-parallel mlic_train_run (mobilenet_v2 at 32x32, batch 4 per rank) whose
 * rank 1 fails inside its backward at step FAIL_STEP, for tests/py/test_dist_fail.py.
 *
 *   tool_train_rank_fail MODE LIST OUTPUT
 *     MODE backward: the op returns an error (every rank must stop at that step, none hangs);
 *          exit:     the process exits at once with status 3, without MPI_Finalize (mpirun must
 *                    end the job).
 *
 * It reports as `mlic train` does: "rank R of N: message", exit status 1; a failure the other
 * ranks cannot learn of aborts the job. Built without MPI it says so and exits 77. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "train/trainer.h"

#if MLIC_HAVE_MPI
#include "dist/mpi_comm.h"

#define FAIL_STEP 3
#define FAIL_RANK 1

static int rank, exit_mode, heads;

static mlic_status failing_backward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    if (rank == FAIL_RANK && nd->op == MLIC_OP_LINEAR && ++heads == FAIL_STEP) {
        if (exit_mode) {
            fprintf(stderr, "rank %d exits in the backward of step %d\n", rank, FAIL_STEP);
            fflush(stderr);
            _exit(3);
        }
        return mlic_fail(MLIC_ERR_BACKEND, "injected backward failure on rank %d", rank);
    }
    return mlic_train_backend_ref.op[nd->op].backward(c, i);
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "backward") && strcmp(argv[1], "exit"))) {
        fprintf(stderr, "usage: tool_train_rank_fail backward|exit LIST OUTPUT\n");
        return 2;
    }
    exit_mode = !strcmp(argv[1], "exit");
    int size, local;
    if (mlic_mpi_init(&rank, &size, &local) != MLIC_OK) {
        fprintf(stderr, "%s\n", mlic_errmsg());
        return 1;
    }
    mlic_train_backend be = mlic_train_backend_ref;
    be.name = "failing";
    for (int k = 0; k < MLIC_TRAIN_NUM_OPS; k++)
        be.op[k].backward = failing_backward;
    mlic_train_opts o;
    mlic_train_opts_init(&o);
    o.arch = "mobilenet_v2";
    o.train_path = argv[2];
    o.output_path = argv[3];
    o.epochs = 2;
    o.batch_size = 4;
    o.crop = 32;
    o.resize = 36;
    o.threads = 1;
    o.workers = 1;
    o.distributed = 1;
    int abort_job = 0;
    o.abort_job = &abort_job;
    const mlic_status s = mlic_train_run_backend(&o, &be);
    if (s != MLIC_OK)
        fprintf(stderr, "rank %d of %d: %s\n", rank, size, mlic_errmsg());
    if (abort_job) {
        fflush(stderr);
        mlic_mpi_abort(1);
    }
    mlic_mpi_finalize();
    return s == MLIC_OK ? 0 : 1;
}
#else
int main(void)
{
    fprintf(stderr, "built without MPI\n");
    return 77;
}
#endif
