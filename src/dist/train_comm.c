/* Data-parallel training's collectives (see train_comm.h). The MPI calls sit in a few small
 * primitives at the top; builds without MPI get stubs there that a comm of one process never
 * reaches. */
#include "dist/train_comm.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#if MLIC_HAVE_MPI
#include <mpi.h>
#endif

typedef struct {
    size_t lo, hi; /* floats of the gradient buffer */
    int ready;     /* the node after whose backward the range is final */
} bucket;

struct mlic_train_comm {
    int rank, size;
#if MLIC_HAVE_MPI
    MPI_Comm comm;
    MPI_Request *req;   /* (nbuckets + 1): the buckets', then the running statistics' */
#endif
    float *grads;       /* the executor's (nweights) */
    bucket *buckets;    /* in the order they start: ready descending */
    int nbuckets, started;
    size_t *stat_off;   /* (nstat_ranges) running statistics' offsets into the weights */
    size_t *stat_len;
    int nstat_ranges;
    float *stats;       /* (nstats) gathered running statistics */
    size_t nstats;
    uint64_t *checksums; /* (size) */
    int failed;         /* a hook's MPI call failed; message holds why */
    char message[256];
    int broken;         /* an MPI call failed: no further collective can be trusted to end */
};

/* ---------------------------------------------------------------- MPI primitives */

#if MLIC_HAVE_MPI
static mlic_status mpi_failed(mlic_train_comm *c, int rc, const char *what)
{
    c->broken = 1;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        len = 0;
    return mlic_fail(MLIC_ERR_INTERNAL, "training across ranks: %s failed: %.*s", what, len, msg);
}

static mlic_status open_world(mlic_train_comm *c)
{
    int on = 0, rc;
    MPI_Initialized(&on);
    if (!on)
        return mlic_fail(MLIC_ERR_INTERNAL, "training across ranks: MPI is not initialised");
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &c->comm)) != MPI_SUCCESS)
        return mpi_failed(c, rc, "MPI_Comm_dup");
    MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(c->comm, &c->rank);
    MPI_Comm_size(c->comm, &c->size);
    return MLIC_OK;
}

static void close_world(mlic_train_comm *c)
{
    if (c->comm != MPI_COMM_NULL && !c->broken)
        MPI_Comm_free(&c->comm);
    free(c->req);
}

static mlic_status alloc_requests(mlic_train_comm *c)
{
    c->req = malloc(((size_t)c->nbuckets + 1) * sizeof *c->req);
    if (!c->req)
        return mlic_fail(MLIC_ERR_NOMEM, "training across ranks: out of memory");
    for (int i = 0; i <= c->nbuckets; i++)
        c->req[i] = MPI_REQUEST_NULL;
    return MLIC_OK;
}

static mlic_status sum_doubles(mlic_train_comm *c, double *v, int count)
{
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, count, MPI_DOUBLE, MPI_SUM, c->comm);
    return rc == MPI_SUCCESS ? MLIC_OK : mpi_failed(c, rc, "MPI_Allreduce");
}

static mlic_status min_int(mlic_train_comm *c, int *v)
{
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, 1, MPI_INT, MPI_MIN, c->comm);
    return rc == MPI_SUCCESS ? MLIC_OK : mpi_failed(c, rc, "MPI_Allreduce");
}

static mlic_status gather_u64(mlic_train_comm *c, uint64_t mine, uint64_t *all)
{
    int rc = MPI_Allgather(&mine, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, c->comm);
    return rc == MPI_SUCCESS ? MLIC_OK : mpi_failed(c, rc, "MPI_Allgather");
}

/* Request slot i (a bucket, or nbuckets for the statistics) sums v across ranks. */
static mlic_status start_sum(mlic_train_comm *c, int i, float *v, size_t count)
{
    int rc = MPI_Iallreduce(MPI_IN_PLACE, v, (int)count, MPI_FLOAT, MPI_SUM, c->comm, &c->req[i]);
    return rc == MPI_SUCCESS ? MLIC_OK : mpi_failed(c, rc, "MPI_Iallreduce");
}

/* Without an asynchronous progress thread, MPI moves a non-blocking collective on only inside
 * MPI calls: test the started ones between nodes of the backward. */
static mlic_status make_progress(mlic_train_comm *c)
{
    int done = 0, rc = MPI_Testall(c->started, c->req, &done, MPI_STATUSES_IGNORE);
    return rc == MPI_SUCCESS ? MLIC_OK : mpi_failed(c, rc, "MPI_Testall");
}

static mlic_status wait_all(mlic_train_comm *c)
{
    int rc = MPI_Waitall(c->nbuckets + 1, c->req, MPI_STATUSES_IGNORE);
    return rc == MPI_SUCCESS ? MLIC_OK : mpi_failed(c, rc, "MPI_Waitall");
}
#else
static mlic_status no_mpi(void)
{
    return mlic_fail(MLIC_ERR_UNSUPPORTED, "training across ranks: this mlic was built without "
                     "MPI. HINT: rebuild with MPI=1 (needs libopenmpi-dev)");
}

static mlic_status open_world(mlic_train_comm *c)
{
    return no_mpi();
}

static void close_world(mlic_train_comm *c)
{
}

static mlic_status alloc_requests(mlic_train_comm *c)
{
    return MLIC_OK;
}

static mlic_status sum_doubles(mlic_train_comm *c, double *v, int count)
{
    return no_mpi();
}

static mlic_status min_int(mlic_train_comm *c, int *v)
{
    return no_mpi();
}

static mlic_status gather_u64(mlic_train_comm *c, uint64_t mine, uint64_t *all)
{
    return no_mpi();
}

static mlic_status start_sum(mlic_train_comm *c, int i, float *v, size_t count)
{
    return no_mpi();
}

static mlic_status make_progress(mlic_train_comm *c)
{
    return no_mpi();
}

static mlic_status wait_all(mlic_train_comm *c)
{
    return no_mpi();
}
#endif

/* ---------------------------------------------------------------- create / destroy */

mlic_status mlic_train_comm_create(mlic_train_comm **out, int world)
{
    *out = NULL;
    mlic_train_comm *c = calloc(1, sizeof *c);
    if (!c)
        return mlic_fail(MLIC_ERR_NOMEM, "training across ranks: out of memory");
    c->size = 1;
#if MLIC_HAVE_MPI
    c->comm = MPI_COMM_NULL;
#endif
    mlic_status s = world ? open_world(c) : MLIC_OK;
    if (s == MLIC_OK && !(c->checksums = malloc((size_t)c->size * sizeof *c->checksums)))
        s = mlic_fail(MLIC_ERR_NOMEM, "training across ranks: out of memory");
    if (s != MLIC_OK) {
        mlic_train_comm_destroy(c);
        return s;
    }
    *out = c;
    return MLIC_OK;
}

void mlic_train_comm_destroy(mlic_train_comm *c)
{
    if (!c)
        return;
    close_world(c);
    free(c->buckets);
    free(c->stat_off);
    free(c->stat_len);
    free(c->stats);
    free(c->checksums);
    free(c);
}

int mlic_train_comm_rank(const mlic_train_comm *c)
{
    return c->rank;
}

int mlic_train_comm_size(const mlic_train_comm *c)
{
    return c->size;
}

int mlic_train_comm_broken(const mlic_train_comm *c)
{
    return c && c->broken;
}

/* After an MPI failure the collectives are skipped (they could wait forever): the caller aborts
 * the job. */
static mlic_status refuse_broken(void)
{
    return mlic_fail(MLIC_ERR_INTERNAL, "training across ranks: an earlier MPI call failed");
}

/* ---------------------------------------------------------------- hooks */

/* A hook cannot return its failure: keep the first for mlic_train_comm_mean / _grads_finish. */
static void remember(mlic_train_comm *c, mlic_status s)
{
    if (s == MLIC_OK || c->failed)
        return;
    c->failed = 1;
    snprintf(c->message, sizeof c->message, "%s", mlic_errmsg());
}

static mlic_status recall(const mlic_train_comm *c)
{
    return mlic_fail(MLIC_ERR_INTERNAL, "%s", c->message);
}

static void hook_bn_allreduce(void *user, double *values, int count)
{
    mlic_train_comm *c = user;
    if (!c->broken)
        remember(c, sum_doubles(c, values, count));
}

static void start_ready(mlic_train_comm *c, int node)
{
    if (c->broken)
        return;
    int fresh = 0;
    for (; c->started < c->nbuckets && c->buckets[c->started].ready >= node; c->started++) {
        const bucket *b = &c->buckets[c->started];
        remember(c, start_sum(c, c->started, c->grads + b->lo, b->hi - b->lo));
        fresh = 1;
    }
    if (c->started && !fresh)
        remember(c, make_progress(c));
}

static void hook_backward_done(void *user, int node)
{
    start_ready(user, node);
}

/* ---------------------------------------------------------------- planning */

static int by_ready_desc(const void *a, const void *b)
{
    const bucket *x = a, *y = b;
    if (x->ready != y->ready)
        return x->ready < y->ready ? 1 : -1;
    return x->lo < y->lo ? 1 : -1;
}

/* Buckets over the span of the trainable parameters (frozen ones before it, running statistics
 * inside it cost nothing or little), cut from its end, where the backward starts. A bucket is
 * ready after the backward of the first node (in graph order) owning a trainable parameter in
 * it. */
static mlic_status plan_buckets(mlic_train_comm *c, const mlic_graph *g)
{
    size_t lo = (size_t)-1, hi = 0;
    for (int p = 0; p < g->nparams; p++)
        if (g->params[p].trainable) {
            const size_t o = g->params[p].offset;
            lo = o < lo ? o : lo;
            hi = o + g->params[p].numel > hi ? o + g->params[p].numel : hi;
        }
    if (hi <= lo)
        return MLIC_OK;
    const size_t per = MLIC_TRAIN_COMM_BUCKET_BYTES / sizeof(float);
    c->nbuckets = (int)((hi - lo + per - 1) / per);
    c->buckets = malloc((size_t)c->nbuckets * sizeof *c->buckets);
    if (!c->buckets)
        return mlic_fail(MLIC_ERR_NOMEM, "training across ranks: out of memory");
    for (int k = 0; k < c->nbuckets; k++) {
        bucket *b = &c->buckets[k];
        b->hi = hi - (size_t)k * per;
        b->lo = b->hi > lo + per ? b->hi - per : lo;
        b->ready = g->nnodes;
    }
    for (int i = 0; i < g->nnodes; i++) {
        const int owned[2] = {g->nodes[i].weight, g->nodes[i].bias};
        for (int k = 0; k < 2; k++) {
            const int p = owned[k];
            if (p < 0 || !g->params[p].trainable)
                continue;
            const size_t plo = g->params[p].offset, phi = plo + g->params[p].numel;
            for (int j = 0; j < c->nbuckets; j++) {
                bucket *b = &c->buckets[j];
                if (plo < b->hi && b->lo < phi && i < b->ready)
                    b->ready = i;
            }
        }
    }
    qsort(c->buckets, (size_t)c->nbuckets, sizeof *c->buckets, by_ready_desc);
    return MLIC_OK;
}

/* The running statistics of the batch norms that update them (those whose weight trains). */
static mlic_status plan_stats(mlic_train_comm *c, const mlic_graph *g)
{
    int n = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        n += 2 * (nd->op == MLIC_OP_BATCHNORM && nd->weight >= 0 &&
                  g->params[nd->weight].trainable);
    }
    if (!n)
        return MLIC_OK;
    c->stat_off = malloc((size_t)n * sizeof *c->stat_off);
    c->stat_len = malloc((size_t)n * sizeof *c->stat_len);
    if (!c->stat_off || !c->stat_len)
        return mlic_fail(MLIC_ERR_NOMEM, "training across ranks: out of memory");
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        if (nd->op != MLIC_OP_BATCHNORM || nd->weight < 0 || !g->params[nd->weight].trainable)
            continue;
        const int stat[2] = {nd->running_mean, nd->running_var};
        for (int k = 0; k < 2; k++) {
            c->stat_off[c->nstat_ranges] = g->params[stat[k]].offset;
            c->stat_len[c->nstat_ranges++] = g->params[stat[k]].numel;
            c->nstats += g->params[stat[k]].numel;
        }
    }
    c->stats = malloc(c->nstats * sizeof *c->stats);
    return c->stats ? MLIC_OK : mlic_fail(MLIC_ERR_NOMEM, "training across ranks: out of memory");
}

mlic_status mlic_train_comm_attach(mlic_train_comm *c, const mlic_graph *g,
                                   mlic_train_graph *exec, int sync_bn)
{
    if (c->size == 1)
        return MLIC_OK;
    c->grads = mlic_train_graph_grads(exec);
    mlic_status s = plan_buckets(c, g);
    if (s == MLIC_OK && !sync_bn)
        s = plan_stats(c, g);
    if (s == MLIC_OK)
        s = alloc_requests(c);
    if (s != MLIC_OK)
        return s;
    const mlic_train_hooks h = {.bn_allreduce = sync_bn ? hook_bn_allreduce : NULL,
                                .backward_done = hook_backward_done,
                                .user = c};
    mlic_train_graph_set_hooks(exec, &h);
    return MLIC_OK;
}

/* ---------------------------------------------------------------- per step */

mlic_status mlic_train_comm_agree(mlic_train_comm *c, mlic_status mine)
{
    if (c->size == 1)
        return mine;
    if (c->broken)
        return mine != MLIC_OK ? mine : refuse_broken();
    /* The first failing rank and its status, in one MPI_MIN. */
    int first = mine != MLIC_OK ? c->rank * 256 + (int)mine : c->size * 256;
    mlic_status s = min_int(c, &first);
    if (mine != MLIC_OK)
        return mine;
    if (s != MLIC_OK || first >= c->size * 256)
        return s;
    return mlic_fail((mlic_status)(first % 256), "rank %d of %d failed (its own message says why), "
                     "so rank %d stops too", first / 256, c->size, c->rank);
}

mlic_status mlic_train_comm_mean(mlic_train_comm *c, double *v, mlic_status mine)
{
    if (c->size == 1)
        return mine;
    if (c->broken)
        return mine != MLIC_OK ? mine : refuse_broken();
    if (mine == MLIC_OK && c->failed)
        mine = recall(c);
    double sums[2] = {mine == MLIC_OK ? *v : 0.0, mine != MLIC_OK};
    mlic_status s = sum_doubles(c, sums, 2);
    if (mine != MLIC_OK)
        return mine;
    if (s != MLIC_OK)
        return s;
    if (sums[1] > 0)
        return mlic_fail(MLIC_ERR_INTERNAL, "%.0f of %d ranks failed (their own messages say why), "
                         "so rank %d stops too", sums[1], c->size, c->rank);
    *v = sums[0] / c->size;
    return MLIC_OK;
}

void mlic_train_comm_grads_begin(mlic_train_comm *c, const float *weights)
{
    if (c->size == 1 || c->broken)
        return;
    c->started = 0;
    if (!c->nstats)
        return;
    float *dst = c->stats;
    for (int r = 0; r < c->nstat_ranges; r++) {
        memcpy(dst, weights + c->stat_off[r], c->stat_len[r] * sizeof *dst);
        dst += c->stat_len[r];
    }
    remember(c, start_sum(c, c->nbuckets, c->stats, c->nstats));
}

mlic_status mlic_train_comm_grads_finish(mlic_train_comm *c, float *weights)
{
    if (c->size == 1)
        return MLIC_OK;
    if (c->broken)
        return refuse_broken();
    start_ready(c, -1);
    remember(c, wait_all(c));
    if (c->failed)
        return recall(c);
    const float *src = c->stats;
    for (int r = 0; r < c->nstat_ranges; r++) {
        float *dst = weights + c->stat_off[r];
        for (size_t k = 0; k < c->stat_len[r]; k++)
            dst[k] = src[k] / (float)c->size;
        src += c->stat_len[r];
    }
    return MLIC_OK;
}

/* ---------------------------------------------------------------- weight checksum */

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A sum of mixed (bits, index) words: exact integer arithmetic, so the same for any split
 * between threads. */
static uint64_t checksum(const float *w, size_t n)
{
    uint64_t h = 0;
#pragma omp parallel for schedule(static) reduction(+ : h)
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &w[i], sizeof bits);
        h += mix(((uint64_t)bits << 32 | (uint32_t)i) ^ (uint64_t)i * 0x9e3779b97f4a7c15ull);
    }
    return h;
}

mlic_status mlic_train_comm_check_weights(mlic_train_comm *c, const float *weights, size_t n,
                                          const char *when)
{
    if (c->size == 1)
        return MLIC_OK;
    if (c->broken)
        return refuse_broken();
    uint64_t *all = c->checksums;
    mlic_status s = gather_u64(c, checksum(weights, n), all);
    for (int r = 1; r < c->size && s == MLIC_OK; r++)
        if (all[r] != all[0])
            s = mlic_fail(MLIC_ERR_INTERNAL, "the weights differ between ranks %s: rank 0's "
                          "checksum is %016" PRIx64 ", rank %d's %016" PRIx64 ". HINT: every rank "
                          "must read the same files (--pretrained, the checkpoint) and run the "
                          "same mlic build; otherwise this is a bug, please report it", when,
                          all[0], r, all[r]);
    return s;
}
