/* The oneDNN backend's entry points: one engine and stream per instance, plans per batch size
 * (see onednn.h), OpenMP threads set around every call into oneDNN. */
#include <omp.h>
#include <stdlib.h>

#include "backend/onednn.h"
#include "core/error.h"

static void onednn_destroy(void *state)
{
    onednn_state *s = state;
    if (!s)
        return;
    if (s->plans)
        for (int n = 0; n <= s->max_batch; n++)
            onednn_plan_free(s->plans[n]);
    if (s->packed)
        for (int i = 0; i < s->g->nnodes; i++)
            for (onednn_packed *pk = s->packed[i], *next; pk; pk = next) {
                next = pk->next;
                free(pk->data);
                free(pk);
            }
    free(s->plans);
    free(s->packed);
    free(s->arena);
    free(s->scratch);
    onednn_engine_close(&s->engine, &s->stream);
    free(s);
}

/* Make *buf hold at least size bytes (its contents need not survive). */
static mlic_status reserve(void **buf, size_t *cap, size_t size)
{
    if (size <= *cap)
        return MLIC_OK;
    void *b = onednn_alloc(size);
    if (!b)
        return mlic_fail(MLIC_ERR_NOMEM,
                         "oneDNN backend: cannot allocate %zu MB of activations. HINT: use a "
                         "smaller batch size",
                         size >> 20);
    free(*buf);
    *buf = b;
    *cap = size;
    return MLIC_OK;
}

/* The plan for batch size n, built on first use; bound to the current arena and scratchpad. */
static mlic_status get_plan(onednn_state *s, int n, onednn_plan **out)
{
    mlic_status st;
    onednn_plan *p = s->plans[n];
    if (!p) {
        if ((st = onednn_plan_build(s, n, &p)) != MLIC_OK)
            return st;
        s->plans[n] = p;
    }
    if ((st = reserve(&s->arena, &s->arena_size, p->arena_size)) != MLIC_OK ||
        (st = reserve(&s->scratch, &s->scratch_size, p->scratch_size)) != MLIC_OK)
        return st;
    if (!p->mems[0].mem || p->bound_arena != s->arena || p->bound_scratch != s->scratch) {
        if ((st = onednn_plan_finish(s, p)) != MLIC_OK)
            return st;
    }
    *out = p;
    return MLIC_OK;
}

static mlic_status onednn_create(void **state, const mlic_graph *g, int max_batch, int threads,
                                 mlic_precision precision)
{
    mlic_status st = MLIC_OK;
    *state = NULL;
    if (!g || !g->values || g->nnodes < 1)
        return mlic_fail(MLIC_ERR_INVALID_ARG,
                         "oneDNN backend: graph has no nodes or no inferred shapes. HINT: call "
                         "mlic_graph_infer_shapes first");
    if (max_batch < 1 || threads < 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG,
                         "oneDNN backend: max_batch %d must be >= 1 and threads %d >= 0",
                         max_batch, threads);
    if (precision != MLIC_PRECISION_FP32 && precision != MLIC_PRECISION_BF16 &&
        precision != MLIC_PRECISION_INT8)
        return mlic_fail(MLIC_ERR_INVALID_ARG,
                         "oneDNN backend: precision %d is neither fp32, bf16 nor int8",
                         (int)precision);
    const char *why = precision == MLIC_PRECISION_BF16 ? onednn_bf16_unavailable() : NULL;
    if (why)
        return mlic_fail(MLIC_ERR_UNSUPPORTED,
                         "oneDNN backend: precision bf16: %s. HINT: use --precision fp32 (or "
                         "auto, which picks bf16 only where the CPU has it)", why);
    onednn_state *s = calloc(1, sizeof *s);
    if (!s)
        return mlic_fail(MLIC_ERR_NOMEM, "oneDNN backend: out of memory");
    s->g = g;
    s->max_batch = max_batch;
    s->threads = threads > 0 ? threads : omp_get_num_procs();
    s->act_tag = onednn_blocked_tag();
    s->dt = precision == MLIC_PRECISION_BF16 ? dnnl_bf16 : dnnl_f32;
    int saved = omp_get_max_threads();
    omp_set_num_threads(s->threads);
    s->packed = calloc((size_t)g->nnodes, sizeof *s->packed);
    s->plans = calloc((size_t)max_batch + 1, sizeof *s->plans);
    if (!s->packed || !s->plans) {
        st = mlic_fail(MLIC_ERR_NOMEM, "oneDNN backend: out of memory");
        goto done;
    }
    onednn_plan *p;
    if ((st = onednn_engine_open(&s->engine, &s->stream)) == MLIC_OK)
        st = get_plan(s, max_batch, &p);
done:
    omp_set_num_threads(saved);
    if (st != MLIC_OK) {
        onednn_destroy(s);
        return st;
    }
    *state = s;
    return MLIC_OK;
}

static mlic_status onednn_run(void *state, float *logits, const float *input, int n)
{
    onednn_state *s = state;
    if (!s || !logits || !input || n < 1 || n > s->max_batch)
        return mlic_fail(MLIC_ERR_INVALID_ARG,
                         "oneDNN backend: batch of %d images with max_batch %d (or NULL buffers)",
                         n, s ? s->max_batch : 0);
    /* The thread count is per calling thread in OpenMP: set it for this call, then restore. */
    int saved = omp_get_max_threads();
    omp_set_num_threads(s->threads);
    onednn_plan *p;
    mlic_status st = get_plan(s, n, &p);
    if (st == MLIC_OK)
        st = onednn_plan_execute(s, p, logits, input);
    omp_set_num_threads(saved);
    return st;
}

const mlic_backend_ops mlic_backend_onednn = {
    .name = "onednn",
    .create = onednn_create,
    .run = onednn_run,
    .destroy = onednn_destroy,
    .bf16_unavailable = onednn_bf16_unavailable,
};
