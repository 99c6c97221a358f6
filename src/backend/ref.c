/* The reference backend: runs any graph (folded or not) node by node with the plain C kernels of
 * nn/kernels.h. Activation buffers are planned once at create (util/buffer_plan.h): a value's
 * buffer returns to a free pool after its last reader, and later values reuse it. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/error.h"
#include "nn/kernels.h"
#include "util/buffer_plan.h"

typedef struct {
    const mlic_graph *g;
    int max_batch, threads;
    int nslots;
    float **slots;      /* (nslots) buffers of max_batch * slot_cap floats */
    int *slot_of;       /* per value: its slot, -1 for the graph input */
    float *workspace;   /* im2col scratch, the largest any convolution needs */
} ref_state;

static size_t value_floats(const mlic_graph *g, int v)
{
    const mlic_shape3 s = g->values[v];
    return (size_t)s.c * s.h * s.w;
}

static mlic_conv_geom conv_geom(const mlic_graph *g, const mlic_node *nd, int n)
{
    const mlic_shape3 x = g->values[nd->in[0]];
    return mlic_conv_geom_make(n, x.c, x.h, x.w, g->values[nd->out].c, nd->kernel, nd->stride,
                               nd->pad, nd->groups);
}

static void ref_destroy(void *state)
{
    ref_state *st = state;
    if (!st)
        return;
    for (int i = 0; i < st->nslots; i++)
        free(st->slots[i]);
    free(st->slots);
    free(st->slot_of);
    free(st->workspace);
    free(st);
}

/* Assign each value a slot of bp (sizes in floats per sample): it is taken when the value is
 * produced and given back after the value's last reader. */
static mlic_status plan_slots(ref_state *st, mlic_buffer_plan *bp)
{
    const mlic_graph *g = st->g;
    mlic_status s = MLIC_OK;
    int *last = malloc((size_t)g->nvalues * sizeof *last);
    st->slot_of = malloc((size_t)g->nvalues * sizeof *st->slot_of);
    if (!last || !st->slot_of) {
        free(last);
        return mlic_fail(MLIC_ERR_NOMEM, "reference backend: out of memory planning buffers");
    }
    for (int v = 0; v < g->nvalues; v++) {
        last[v] = -1;
        st->slot_of[v] = -1;
    }
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        last[nd->out] = i;
        const int reads[3] = {nd->in[0], nd->in[1], nd->fused_add};
        for (int k = 0; k < 3; k++)
            if (reads[k] >= 0)
                last[reads[k]] = i;
    }
    last[g->output] = g->nnodes;

    for (int i = 0; i < g->nnodes && s == MLIC_OK; i++) {
        const int out = g->nodes[i].out;
        if ((s = mlic_buffer_plan_take(bp, value_floats(g, out), &st->slot_of[out])) != MLIC_OK)
            break;
        for (int v = 0; v < g->nvalues; v++)
            if (last[v] == i && st->slot_of[v] >= 0)
                mlic_buffer_plan_give(bp, st->slot_of[v]);
    }
    st->nslots = mlic_buffer_plan_slots(bp);
    free(last);
    return s;
}

static const char *ref_bf16_unavailable(void)
{
    return "the reference backend computes in fp32 only";
}

static mlic_status ref_create(void **state, const mlic_graph *g, int max_batch, int threads,
                              mlic_precision precision)
{
    *state = NULL;
    if (precision == MLIC_PRECISION_INT8)
        return mlic_fail(MLIC_ERR_UNSUPPORTED,
                         "reference backend: an int8 model (made by mlic quantize): the reference "
                         "backend computes in fp32 only. HINT: use the onednn backend, or the "
                         "fp32 model the int8 one was made from");
    if (precision != MLIC_PRECISION_FP32)
        return mlic_fail(MLIC_ERR_UNSUPPORTED,
                         "reference backend: precision %s: %s. HINT: use --precision fp32, or "
                         "the onednn backend on a CPU with AVX512_BF16 or AMX",
                         precision == MLIC_PRECISION_BF16 ? "bf16" : "auto",
                         ref_bf16_unavailable());
    if (max_batch < 1)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "reference backend: max_batch %d must be >= 1",
                         max_batch);
    if (g->values[g->input].c != 3 || g->values[g->output].c != g->num_classes)
        return mlic_fail(MLIC_ERR_INTERNAL,
                         "reference backend: graph %s has no inferred shapes. "
                         "HINT: call mlic_graph_infer_shapes first", g->arch);
    ref_state *st = calloc(1, sizeof *st);
    if (!st)
        return mlic_fail(MLIC_ERR_NOMEM, "reference backend: out of memory");
    st->g = g;
    st->max_batch = max_batch;
    st->threads = threads > 0 ? threads : omp_get_num_procs();
    mlic_buffer_plan *bp = NULL;
    mlic_status s = mlic_buffer_plan_create(&bp, 1);
    if (s == MLIC_OK)
        s = plan_slots(st, bp);
    if (s != MLIC_OK) {
        mlic_buffer_plan_destroy(bp);
        ref_destroy(st);
        return s;
    }
    size_t ws = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == MLIC_OP_CONV) {
            const mlic_conv_geom cg = conv_geom(g, &g->nodes[i], 1);
            const size_t need = mlic_conv2d_workspace_floats(&cg);
            ws = need > ws ? need : ws;
        }
    st->slots = calloc((size_t)st->nslots, sizeof *st->slots);
    st->workspace = malloc((ws ? ws : 1) * sizeof(float));
    size_t total = ws;
    int ok = st->slots && st->workspace;
    for (int i = 0; ok && i < st->nslots; i++) {
        const size_t cap = mlic_buffer_plan_size(bp, i);
        st->slots[i] = malloc(cap * (size_t)max_batch * sizeof(float));
        total += cap * (size_t)max_batch;
        ok = st->slots[i] != NULL;
    }
    mlic_buffer_plan_destroy(bp);
    if (!ok) {
        ref_destroy(st);
        return mlic_fail(MLIC_ERR_NOMEM,
                         "reference backend: out of memory for %zu MiB of activations (batch %d). "
                         "HINT: use a smaller batch size", total * sizeof(float) >> 20, max_batch);
    }
    *state = st;
    return MLIC_OK;
}

mlic_status mlic_backend_ref_run_observed(void *state, float *logits, const float *input, int n,
                                          mlic_conv_observer observe, void *ctx)
{
    ref_state *st = state;
    const mlic_graph *g = st->g;
    if (n < 1 || n > st->max_batch)
        return mlic_fail(MLIC_ERR_INVALID_ARG,
                         "reference backend: batch of %d images, the engine was created for 1..%d",
                         n, st->max_batch);
    omp_set_num_threads(st->threads);
#define VAL(v) ((v) == g->input ? (float *)input : st->slots[st->slot_of[v]])
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        const float *x = VAL(nd->in[0]);
        float *y = VAL(nd->out);
        const mlic_shape3 xs = g->values[nd->in[0]];
        const size_t count = value_floats(g, nd->out) * (size_t)n;
        const float *w = nd->weight >= 0 ? mlic_graph_param(g, nd->weight) : NULL;
        const float *b = nd->bias >= 0 ? mlic_graph_param(g, nd->bias) : NULL;
        switch (nd->op) {
        case MLIC_OP_CONV: {
            mlic_status s;
            if (observe && (s = observe(ctx, i, x, value_floats(g, nd->in[0]) * (size_t)n)))
                return s;
            const mlic_conv_geom cg = conv_geom(g, nd, n);
            mlic_conv2d_forward(y, st->workspace, x, w, b,
                                nd->fused_add >= 0 ? VAL(nd->fused_add) : NULL, nd->fused_act, &cg);
            continue; /* its fusions are done */
        }
        case MLIC_OP_BATCHNORM:
            mlic_batchnorm_forward_infer(y, x, w, b, mlic_graph_param(g, nd->running_mean),
                                         mlic_graph_param(g, nd->running_var), nd->eps, n, xs.c,
                                         xs.h * xs.w);
            break;
        case MLIC_OP_RELU:
            mlic_act_forward(y, x, MLIC_ACT_RELU, count);
            break;
        case MLIC_OP_RELU6:
            mlic_act_forward(y, x, MLIC_ACT_RELU6, count);
            break;
        case MLIC_OP_ADD:
            mlic_add_forward(y, x, VAL(nd->in[1]), count);
            break;
        case MLIC_OP_MAXPOOL: {
            const mlic_pool_geom pg = mlic_pool_geom_make(n, xs.c, xs.h, xs.w, nd->kernel,
                                                          nd->stride, nd->pad);
            mlic_maxpool2d_forward(y, x, &pg);
            break;
        }
        case MLIC_OP_GLOBAL_AVGPOOL:
            mlic_global_avgpool_forward(y, x, n, xs.c, xs.h * xs.w);
            break;
        case MLIC_OP_DROPOUT:
            mlic_act_forward(y, x, MLIC_ACT_NONE, count);
            break;
        case MLIC_OP_LINEAR:
            mlic_linear_forward(y, x, w, b, n, xs.c * xs.h * xs.w, g->values[nd->out].c);
            break;
        }
        /* Fusions on ops other than convolution: not produced by the folding pass today, but part
         * of the IR's meaning. */
        if (nd->fused_add >= 0)
            mlic_add_forward(y, y, VAL(nd->fused_add), count);
        if (nd->fused_act != MLIC_ACT_NONE)
            mlic_act_forward(y, y, nd->fused_act, count);
    }
    memcpy(logits, VAL(g->output), (size_t)n * g->num_classes * sizeof(float));
#undef VAL
    return MLIC_OK;
}

static mlic_status ref_run(void *state, float *logits, const float *input, int n)
{
    return mlic_backend_ref_run_observed(state, logits, input, n, NULL, NULL);
}

const mlic_backend_ops mlic_backend_ref = {
    .name = "ref",
    .create = ref_create,
    .run = ref_run,
    .destroy = ref_destroy,
    .bf16_unavailable = ref_bf16_unavailable,
};
