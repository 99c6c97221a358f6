/* Data-parallel training over MPI (`mpirun -np N mlic train`, docs/distributed.md "Training").
 *
 * Every rank holds the whole model and optimizer and takes the same steps on its slice of each
 * global batch. Per step the ranks
 *   - agree on failures (mlic_train_comm_agree, mlic_train_comm_mean), so that no rank is left
 *     waiting in a collective another rank has given up;
 *   - average their losses, for the log;
 *   - sum their parameter gradients (the trainer divides each rank's loss by N, so the sum is the
 *     gradient of the global batch's mean loss): one MPI_Iallreduce per bucket of about
 *     MLIC_TRAIN_COMM_BUCKET_BYTES of the executor's one gradient buffer, started as soon as the
 *     backward has finished the bucket's parameters (mlic_train_hooks.backward_done), so the
 *     communication overlaps the rest of the backward;
 *   - average the batch-norm running statistics each rank updated from its own batch; or, with
 *     sync_bn, sum the batch-norm statistics themselves in the forward and the backward
 *     (mlic_train_hooks.bn_allreduce), so that N ranks with batch B compute what one process
 *     with batch N * B would.
 * mlic_train_comm_check_weights compares a checksum of the weights across ranks.
 *
 * All MPI calls come from the thread that calls these functions (MPI_THREAD_FUNNELED), on a
 * duplicate of MPI_COMM_WORLD. A comm of one process makes no MPI call: every function returns
 * at once (and mean and agree return their input), so the trainer calls them unconditionally. */
#ifndef MLIC_DIST_TRAIN_COMM_H
#define MLIC_DIST_TRAIN_COMM_H

#include <stddef.h>

#include "mlic.h"
#include "nn/graph.h"
#include "train/train_graph.h"

#define MLIC_TRAIN_COMM_BUCKET_BYTES ((size_t)4 << 20)

typedef struct mlic_train_comm mlic_train_comm;

/* world 1: the ranks of MPI_COMM_WORLD (the caller has initialised MPI; builds with
 * MLIC_HAVE_MPI only); 0: this process alone. */
mlic_status mlic_train_comm_create(mlic_train_comm **out, int world);
void mlic_train_comm_destroy(mlic_train_comm *c);
int mlic_train_comm_rank(const mlic_train_comm *c);
int mlic_train_comm_size(const mlic_train_comm *c);
/* An MPI call failed on this rank: the other ranks may be waiting in a collective this one will
 * never finish, so the comm makes no more MPI calls (its functions fail at once) and the caller
 * must abort the job (MPI_Abort). Every other failure goes through agree and ends all ranks. */
int mlic_train_comm_broken(const mlic_train_comm *c);

/* Plan the gradient buckets over g's trainable parameters and the running statistics to
 * average, and install the hooks into exec (g's executor). sync_bn: batch norm on the whole
 * global batch's statistics. */
mlic_status mlic_train_comm_attach(mlic_train_comm *c, const mlic_graph *g,
                                   mlic_train_graph *exec, int sync_bn);

/* Collective: MLIC_OK when every rank's status is; else this rank's own error, or one naming
 * the first rank that failed. */
mlic_status mlic_train_comm_agree(mlic_train_comm *c, mlic_status mine);

/* Collective: *v becomes the mean of the ranks' values, with agree's status (a failure of a
 * hook since the last call counts as this rank's). */
mlic_status mlic_train_comm_mean(mlic_train_comm *c, double *v, mlic_status mine);

/* Around each backward: begin after the forward (starts averaging the running statistics it
 * updated), finish after the backward (starts the buckets not yet started, waits for all, writes
 * the averaged running statistics into weights). finish reports MPI failures of the step. */
void mlic_train_comm_grads_begin(mlic_train_comm *c, const float *weights);
mlic_status mlic_train_comm_grads_finish(mlic_train_comm *c, float *weights);

/* Collective: an error on every rank when the weights (n) are not bit-identical on all ranks,
 * naming `when` (e.g. "after step 12"), the ranks and their checksums. */
mlic_status mlic_train_comm_check_weights(mlic_train_comm *c, const float *weights, size_t n,
                                          const char *when);

#endif
