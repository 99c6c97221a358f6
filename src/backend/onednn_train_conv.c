/* Convolution (plain, grouped, depthwise) on oneDNN's forward, backward-data and
 * backward-weights primitives, with the executor's NCHW activations reordered into the CPU's
 * blocked layout and back around each one. Where oneDNN has only its reference kernel for a
 * shape, the node runs the executor's reference convolution instead.
 *
 * Measured (batch 32, 224 px, 2 threads, AVX-512): the 3x3 convolutions of resnet18 run at
 * 190-270 GFLOP/s forward and backward including their reorders; oneDNN's NCHW kernels (GEMM)
 * reach 120-190 on the same layers. The 1x1 ones over 56x56 and 28x28 maps are faster in NCHW
 * (resnet50's layer1: 16 ms forward instead of 21-23), but those gains came to 2% of a resnet50
 * step and mobilenet_v2 lost, so every convolution uses the blocked layout. The reorders take
 * about 5% of a resnet18 step. The 3x3 stride-1 ones try Winograd first (onednn_train.h). */
#include <omp.h>
#include <stdlib.h>

#include "backend/onednn_train.h"
#include "core/error.h"

/* The primitives of one node for one batch size and thread count. */
typedef struct conv_plan {
    int n, threads;
    struct conv_plan *next;
    size_t bytes;                 /* of arena the forward or the backward needs */
    int ref_forward, ref_backward; /* run the reference kernel instead */
    dnnl_primitive_desc_t fwd_pd; /* the backward primitives' hint */
    dnnl_primitive_t fwd;
    mlic_train_onednn_operand f_src, f_wei, f_bias, f_dst;
    dnnl_memory_t f_scratch;
    size_t f_scratch_off;
    int backward_ready;
    dnnl_primitive_t bwd_data, bwd_wei; /* NULL where that gradient is not needed */
    mlic_train_onednn_operand ddst;     /* the output gradient, for both */
    mlic_train_onednn_operand d_wei, d_dsrc;
    mlic_train_onednn_operand w_src, w_ddst, w_dwei, w_dbias;
    int w_ddst_shared;                  /* bwd_wei reads ddst's copy (same layout) */
    dnnl_memory_t d_scratch, w_scratch;
    size_t d_scratch_off, w_scratch_off;
} conv_plan;

typedef struct {
    int n, cin, h, w, cout, oh, ow, k, stride, pad, groups;
} conv_dims;

static conv_dims dims_of(const mlic_graph *g, const mlic_node *nd, int n)
{
    const mlic_shape3 x = g->values[nd->in[0]], y = g->values[nd->out];
    return (conv_dims){n, x.c, x.h, x.w, y.c, y.h, y.w, nd->kernel, nd->stride, nd->pad,
                       nd->groups > 0 ? nd->groups : 1};
}

/* The backward's half of a plan (also after a failure to make it, which may be retried). */
static void backward_free(conv_plan *p)
{
    mlic_train_onednn_operand *ops[] = {&p->ddst, &p->d_wei, &p->d_dsrc, &p->w_src,
                                        &p->w_ddst, &p->w_dwei, &p->w_dbias};
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
        mlic_train_onednn_operand_free(ops[k]);
    if (p->bwd_data)
        dnnl_primitive_destroy(p->bwd_data);
    if (p->bwd_wei)
        dnnl_primitive_destroy(p->bwd_wei);
    if (p->d_scratch)
        dnnl_memory_destroy(p->d_scratch);
    if (p->w_scratch)
        dnnl_memory_destroy(p->w_scratch);
    p->bwd_data = p->bwd_wei = NULL;
    p->d_scratch = p->w_scratch = NULL;
    p->backward_ready = 0;
}

static void plan_free(conv_plan *p)
{
    backward_free(p);
    mlic_train_onednn_operand *ops[] = {&p->f_src, &p->f_wei, &p->f_bias, &p->f_dst};
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
        mlic_train_onednn_operand_free(ops[k]);
    if (p->fwd)
        dnnl_primitive_destroy(p->fwd);
    if (p->f_scratch)
        dnnl_memory_destroy(p->f_scratch);
    if (p->fwd_pd)
        dnnl_primitive_desc_destroy(p->fwd_pd);
    free(p);
}

static void plans_free(void *head)
{
    for (conv_plan *p = head, *next; p; p = next) {
        next = p->next;
        plan_free(p);
    }
}

/* ---------------------------------------------------------------- descriptors */

typedef struct {
    dnnl_memory_desc_t src, dst, wei, bias;         /* for the primitive (tags may be any) */
    dnnl_memory_desc_t user_act_src, user_act_dst;  /* the executor's NCHW */
    dnnl_memory_desc_t user_wei;                    /* the graph's (g)oihw */
    int has_bias;
} conv_mds;

static mlic_status make_mds(conv_mds *m, const conv_dims *d, int has_bias,
                            dnnl_format_tag_t src_tag, dnnl_format_tag_t dst_tag)
{
    mlic_status st = MLIC_OK;
    m->has_bias = has_bias;
    if ((st = onednn_md_4d(&m->src, d->n, d->cin, d->h, d->w, src_tag)) != MLIC_OK ||
        (st = onednn_md_4d(&m->dst, d->n, d->cout, d->oh, d->ow, dst_tag)) != MLIC_OK ||
        (st = onednn_md_4d(&m->user_act_src, d->n, d->cin, d->h, d->w, dnnl_nchw)) != MLIC_OK ||
        (st = onednn_md_4d(&m->user_act_dst, d->n, d->cout, d->oh, d->ow, dnnl_nchw)) != MLIC_OK)
        return st;
    if ((st = onednn_md_conv_weights(&m->wei, &m->user_wei, dnnl_f32, d->cout, d->cin, d->k,
                                     d->groups)) != MLIC_OK)
        return st;
    dnnl_dims_t bd = {d->cout};
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&m->bias, 1, bd, dnnl_f32, dnnl_a));
done:
    return st;
}

/* The algorithms to try for a convolution, best first: Winograd F(4x4, 3x3) for the 3x3
 * stride-1 ones where the state allows it, then direct. */
static int algorithms(dnnl_alg_kind_t algs[2], const mlic_train_onednn_state *s,
                      const conv_dims *d)
{
    int k = 0;
    if (s->winograd && d->k == 3 && d->stride == 1 && d->groups == 1)
        algs[k++] = dnnl_convolution_winograd;
    algs[k++] = dnnl_convolution_direct;
    return k;
}

/* *pd for desc, NULL where oneDNN has none or only its reference kernel. */
static void make_pd(dnnl_primitive_desc_t *pd, const void *desc,
                    const_dnnl_primitive_attr_t attr, const mlic_train_onednn_state *s,
                    const_dnnl_primitive_desc_t hint)
{
    if (dnnl_primitive_desc_create(pd, desc, attr, s->engine, hint) != dnnl_success)
        *pd = NULL;
    else if (onednn_is_reference_impl(*pd)) {
        dnnl_primitive_desc_destroy(*pd);
        *pd = NULL;
    }
}

/* The forward primitive descriptor for these layouts; *pd stays NULL where oneDNN has none or
 * only its reference kernel. */
static mlic_status forward_pd(dnnl_primitive_desc_t *pd, mlic_train_onednn_state *s,
                              const conv_dims *d, const conv_mds *m,
                              const_dnnl_primitive_attr_t attr)
{
    mlic_status st = MLIC_OK;
    dnnl_convolution_desc_t desc;
    dnnl_dims_t strides = {d->stride, d->stride}, pad = {d->pad, d->pad};
    dnnl_alg_kind_t algs[2];
    const int nalgs = algorithms(algs, s, d);
    *pd = NULL;
    for (int a = 0; a < nalgs && !*pd; a++) {
        ONEDNN_CALL(dnnl_convolution_forward_desc_init,
                    (&desc, dnnl_forward_training, algs[a], &m->src, &m->wei,
                     m->has_bias ? &m->bias : NULL, &m->dst, strides, pad, pad));
        make_pd(pd, &desc, attr, s, NULL);
    }
done:
    return st;
}

/* Backward primitive descriptors from the forward's layouts (weights left to oneDNN); NULL
 * where oneDNN has none or only its reference kernel. Each pass takes the best algorithm
 * oneDNN has for it, whatever the forward's. */
static mlic_status backward_pds(dnnl_primitive_desc_t *data_pd, dnnl_primitive_desc_t *wei_pd,
                                mlic_train_onednn_state *s, const conv_dims *d,
                                const conv_mds *m, const_dnnl_primitive_desc_t hint,
                                const_dnnl_primitive_attr_t attr, int want_data)
{
    mlic_status st = MLIC_OK;
    dnnl_convolution_desc_t desc;
    dnnl_dims_t strides = {d->stride, d->stride}, pad = {d->pad, d->pad};
    const dnnl_memory_desc_t *src = dnnl_primitive_desc_query_md(hint, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dst = dnnl_primitive_desc_query_md(hint, dnnl_query_dst_md, 0);
    dnnl_alg_kind_t algs[2];
    const int nalgs = algorithms(algs, s, d);
    *data_pd = *wei_pd = NULL;
    for (int a = 0; want_data && a < nalgs && !*data_pd; a++) {
        ONEDNN_CALL(dnnl_convolution_backward_data_desc_init,
                    (&desc, algs[a], src, &m->wei, dst, strides, pad, pad));
        make_pd(data_pd, &desc, attr, s, hint);
    }
    for (int a = 0; a < nalgs && !*wei_pd; a++) {
        ONEDNN_CALL(dnnl_convolution_backward_weights_desc_init,
                    (&desc, algs[a], src, &m->wei, m->has_bias ? &m->bias : NULL, dst, strides,
                     pad, pad));
        make_pd(wei_pd, &desc, attr, s, hint);
    }
done:
    return st;
}

static const dnnl_memory_desc_t *qmd(const_dnnl_primitive_desc_t pd, dnnl_query_t what)
{
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

/* A bias (or its gradient) is the second weights argument. */
static const dnnl_memory_desc_t *qmd_bias(const_dnnl_primitive_desc_t pd, dnnl_query_t what)
{
    return dnnl_primitive_desc_query_md(pd, what, 1);
}

/* ---------------------------------------------------------------- plans */

static mlic_status plan_forward(conv_plan *p, mlic_train_onednn_state *s, const conv_dims *d,
                                conv_mds *m)
{
    mlic_status st = MLIC_OK;
    dnnl_primitive_attr_t attr = NULL;
    if ((st = onednn_attr_create(&attr, ONEDNN_ATTR_USER_SCRATCHPAD)) != MLIC_OK)
        goto done;
    /* The blocked layout first (a first layer with few input channels reads them in the
     * layout its kernel wants, NCHW for the usual 3), then every layout left to oneDNN. */
    if (s->blocked != dnnl_format_tag_any) {
        if ((st = make_mds(m, d, m->has_bias, onednn_conv_src_tag(d->cin), s->blocked)) !=
                MLIC_OK ||
            (st = forward_pd(&p->fwd_pd, s, d, m, attr)) != MLIC_OK)
            goto done;
    }
    if (!p->fwd_pd) {
        if ((st = make_mds(m, d, m->has_bias, dnnl_format_tag_any, dnnl_format_tag_any)) !=
                MLIC_OK ||
            (st = forward_pd(&p->fwd_pd, s, d, m, attr)) != MLIC_OK)
            goto done;
    }
    if (!p->fwd_pd) {
        p->ref_forward = p->ref_backward = 1;
        goto done;
    }
    size_t cursor = 0;
    const_dnnl_primitive_desc_t pd = p->fwd_pd;
    ONEDNN_CALL(dnnl_primitive_create, (&p->fwd, pd));
    if ((st = mlic_train_onednn_operand_init(&p->f_src, s, &m->user_act_src,
                                             qmd(pd, dnnl_query_src_md), ONEDNN_TRAIN_IN,
                                             &cursor)) != MLIC_OK ||
        (st = mlic_train_onednn_operand_init(&p->f_wei, s, &m->user_wei,
                                             qmd(pd, dnnl_query_weights_md), ONEDNN_TRAIN_IN,
                                             &cursor)) != MLIC_OK ||
        (m->has_bias &&
         (st = mlic_train_onednn_operand_init(&p->f_bias, s, &m->bias,
                                              qmd_bias(pd, dnnl_query_weights_md),
                                              ONEDNN_TRAIN_IN, &cursor)) != MLIC_OK) ||
        (st = mlic_train_onednn_operand_init(&p->f_dst, s, &m->user_act_dst,
                                             qmd(pd, dnnl_query_dst_md), ONEDNN_TRAIN_OUT,
                                             &cursor)) != MLIC_OK ||
        (st = mlic_train_onednn_arena_mem(&p->f_scratch, &p->f_scratch_off, s,
                                          qmd(pd, dnnl_query_scratchpad_md), &cursor)) != MLIC_OK)
        goto done;
    p->bytes = cursor;
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* want_data: 0 no input gradient, 1 one to add to, 2 one the executor has just zeroed (this
 * node is the input's last reader, so its backward writes that gradient first), which the
 * result can replace. */
static mlic_status plan_backward(conv_plan *p, mlic_train_onednn_state *s, const conv_dims *d,
                                 const conv_mds *m, int want_data)
{
    mlic_status st = MLIC_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t dpd = NULL, wpd = NULL;
    if (p->ref_backward) {
        p->backward_ready = 1;
        return MLIC_OK;
    }
    if ((st = onednn_attr_create(&attr, ONEDNN_ATTR_USER_SCRATCHPAD)) != MLIC_OK ||
        (st = backward_pds(&dpd, &wpd, s, d, m, p->fwd_pd, attr, want_data)) != MLIC_OK)
        goto done;
    if (!wpd || (want_data && !dpd)) {
        p->ref_backward = p->backward_ready = 1;
        goto done;
    }
    size_t cursor = 0;
    const dnnl_memory_desc_t *ddst_md = qmd(dpd ? dpd : wpd, dnnl_query_diff_dst_md);
    if ((st = mlic_train_onednn_operand_init(&p->ddst, s, &m->user_act_dst, ddst_md,
                                             ONEDNN_TRAIN_IN, &cursor)) != MLIC_OK)
        goto done;
    /* The data and weights passes run one after the other: their arena copies overlap. */
    const size_t after_ddst = cursor;
    size_t data_end = cursor;
    if (dpd) {
        ONEDNN_CALL(dnnl_primitive_create, (&p->bwd_data, dpd));
        if ((st = mlic_train_onednn_operand_init(&p->d_wei, s, &m->user_wei,
                                                 qmd(dpd, dnnl_query_weights_md),
                                                 ONEDNN_TRAIN_IN, &cursor)) != MLIC_OK ||
            (st = mlic_train_onednn_operand_init(&p->d_dsrc, s, &m->user_act_src,
                                                 qmd(dpd, dnnl_query_diff_src_md),
                                                 want_data == 2 ? ONEDNN_TRAIN_OUT
                                                                : ONEDNN_TRAIN_OUT_ADD,
                                                 &cursor)) != MLIC_OK ||
            (st = mlic_train_onednn_arena_mem(&p->d_scratch, &p->d_scratch_off, s,
                                              qmd(dpd, dnnl_query_scratchpad_md), &cursor)) !=
                MLIC_OK)
            goto done;
        data_end = cursor;
    }
    cursor = after_ddst;
    ONEDNN_CALL(dnnl_primitive_create, (&p->bwd_wei, wpd));
    const dnnl_memory_desc_t *w_ddst_md = qmd(wpd, dnnl_query_diff_dst_md);
    p->w_ddst_shared = dnnl_memory_desc_equal(w_ddst_md, ddst_md);
    if ((!p->w_ddst_shared &&
         (st = mlic_train_onednn_operand_init(&p->w_ddst, s, &m->user_act_dst, w_ddst_md,
                                              ONEDNN_TRAIN_IN, &cursor)) != MLIC_OK) ||
        (st = mlic_train_onednn_operand_init(&p->w_src, s, &m->user_act_src,
                                             qmd(wpd, dnnl_query_src_md), ONEDNN_TRAIN_IN,
                                             &cursor)) != MLIC_OK ||
        (st = mlic_train_onednn_operand_init(&p->w_dwei, s, &m->user_wei,
                                             qmd(wpd, dnnl_query_diff_weights_md),
                                             ONEDNN_TRAIN_OUT_ADD, &cursor)) != MLIC_OK ||
        (m->has_bias &&
         (st = mlic_train_onednn_operand_init(&p->w_dbias, s, &m->bias,
                                              qmd_bias(wpd, dnnl_query_diff_weights_md),
                                              ONEDNN_TRAIN_OUT_ADD, &cursor)) != MLIC_OK) ||
        (st = mlic_train_onednn_arena_mem(&p->w_scratch, &p->w_scratch_off, s,
                                          qmd(wpd, dnnl_query_scratchpad_md), &cursor)) != MLIC_OK)
        goto done;
    if (cursor < data_end)
        cursor = data_end;
    if (cursor > p->bytes)
        p->bytes = cursor;
    p->backward_ready = 1;
done:
    if (dpd)
        dnnl_primitive_desc_destroy(dpd);
    if (wpd)
        dnnl_primitive_desc_destroy(wpd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* The node's plan for the current batch size and thread count, created on first use (with its
 * backward when `backward` is set). NULL with *st set on failure. */
static conv_plan *get_plan(mlic_train_onednn_state *s, int i, int n, int backward,
                           mlic_status *st)
{
    const mlic_graph *g = s->g;
    const mlic_node *nd = &g->nodes[i];
    const int threads = omp_get_max_threads();
    conv_plan *p = s->node[i];
    while (p && (p->n != n || p->threads != threads))
        p = p->next;
    const conv_dims d = dims_of(g, nd, n);
    conv_mds m = {.has_bias = nd->bias >= 0};
    *st = MLIC_OK;
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p) {
            *st = mlic_fail(MLIC_ERR_NOMEM, "training graph %s: out of memory", g->arch);
            return NULL;
        }
        p->n = n;
        p->threads = threads;
        if ((*st = plan_forward(p, s, &d, &m)) != MLIC_OK) {
            plan_free(p);
            return NULL;
        }
        p->next = s->node[i];
        s->node[i] = p;
        s->node_free[i] = plans_free;
    }
    if (backward && !p->backward_ready) {
        const int in = nd->in[0];
        const int want_data = !s->needs_grad[in]                                      ? 0
                              : mlic_train_onednn_grad_role(s, i, 0) == ONEDNN_TRAIN_OUT ? 2
                                                                                         : 1;
        /* The backward takes activation layouts from the forward: only the graph's and the
         * weights' descriptors are needed here. */
        if ((*st = make_mds(&m, &d, m.has_bias, dnnl_format_tag_any, dnnl_format_tag_any)) !=
                MLIC_OK ||
            (*st = plan_backward(p, s, &d, &m, want_data)) != MLIC_OK) {
            backward_free(p);
            return NULL;
        }
    }
    return p;
}

/* ---------------------------------------------------------------- ops */

static float *param_ptr(mlic_train_ctx *c, int p)
{
    return p >= 0 ? c->weights + c->g->params[p].offset : NULL;
}

mlic_status mlic_train_onednn_conv_forward(mlic_train_ctx *c, int i)
{
    mlic_train_onednn_state *s = c->state;
    const mlic_node *nd = &c->g->nodes[i];
    mlic_status st;
    conv_plan *p = get_plan(s, i, c->n, c->training && s->needs_grad[nd->out], &st);
    if (!p)
        return st;
    if (p->ref_forward)
        return mlic_train_backend_ref.op[MLIC_OP_CONV].forward(c, i);
    if ((st = mlic_train_onednn_reserve(s, p->bytes)) != MLIC_OK ||
        (st = mlic_train_onednn_operand_bind(&p->f_src, s, c->value[nd->in[0]])) != MLIC_OK ||
        (st = mlic_train_onednn_operand_bind(&p->f_wei, s, param_ptr(c, nd->weight))) !=
            MLIC_OK ||
        (nd->bias >= 0 &&
         (st = mlic_train_onednn_operand_bind(&p->f_bias, s, param_ptr(c, nd->bias))) !=
             MLIC_OK) ||
        (st = mlic_train_onednn_operand_bind(&p->f_dst, s, c->value[nd->out])) != MLIC_OK ||
        (st = mlic_train_onednn_bind_arena(p->f_scratch, s, p->f_scratch_off)) != MLIC_OK)
        return st;
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, p->f_src.mem},
                               {DNNL_ARG_WEIGHTS, p->f_wei.mem},
                               {DNNL_ARG_DST, p->f_dst.mem},
                               {DNNL_ARG_SCRATCHPAD, p->f_scratch},
                               {DNNL_ARG_BIAS, p->f_bias.mem}};
    if ((st = mlic_train_onednn_execute(s, p->fwd, nd->bias >= 0 ? 5 : 4, args)) != MLIC_OK)
        return st;
    return mlic_train_onednn_operand_finish(&p->f_dst, s);
}

static mlic_status backward(mlic_train_ctx *c, int i, conv_plan *p)
{
    mlic_train_onednn_state *s = c->state;
    const mlic_node *nd = &c->g->nodes[i];
    float *dx = c->dvalue[nd->in[0]];
    mlic_status st;
    if ((st = mlic_train_onednn_operand_bind(&p->ddst, s, c->dvalue[nd->out])) != MLIC_OK)
        return st;
    if (dx && !p->bwd_data)
        return mlic_fail(MLIC_ERR_INTERNAL, "convolution %s: the executor asks for an input "
                         "gradient the backend's plan has none for", nd->name);
    if (dx) {
        if ((st = mlic_train_onednn_operand_bind(&p->d_wei, s, param_ptr(c, nd->weight))) !=
                MLIC_OK ||
            (st = mlic_train_onednn_operand_bind(&p->d_dsrc, s, dx)) != MLIC_OK ||
            (st = mlic_train_onednn_bind_arena(p->d_scratch, s, p->d_scratch_off)) != MLIC_OK)
            return st;
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_DIFF_DST, p->ddst.mem},
                                   {DNNL_ARG_WEIGHTS, p->d_wei.mem},
                                   {DNNL_ARG_DIFF_SRC, p->d_dsrc.mem},
                                   {DNNL_ARG_SCRATCHPAD, p->d_scratch}};
        if ((st = mlic_train_onednn_execute(s, p->bwd_data, 4, args)) != MLIC_OK ||
            (st = mlic_train_onednn_operand_finish(&p->d_dsrc, s)) != MLIC_OK)
            return st;
    }
    if (!c->param_grad[nd->weight])
        return MLIC_OK;
    const int with_bias = nd->bias >= 0 && c->param_grad[nd->bias];
    if ((!p->w_ddst_shared &&
         (st = mlic_train_onednn_operand_bind(&p->w_ddst, s, c->dvalue[nd->out])) != MLIC_OK) ||
        (st = mlic_train_onednn_operand_bind(&p->w_src, s, c->value[nd->in[0]])) != MLIC_OK ||
        (st = mlic_train_onednn_operand_bind(&p->w_dwei, s,
                                             c->grads + c->g->params[nd->weight].offset)) !=
            MLIC_OK ||
        (with_bias &&
         (st = mlic_train_onednn_operand_bind(&p->w_dbias, s,
                                              c->grads + c->g->params[nd->bias].offset)) !=
             MLIC_OK) ||
        (st = mlic_train_onednn_bind_arena(p->w_scratch, s, p->w_scratch_off)) != MLIC_OK)
        return st;
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, p->w_src.mem},
                               {DNNL_ARG_DIFF_DST, p->w_ddst_shared ? p->ddst.mem : p->w_ddst.mem},
                               {DNNL_ARG_DIFF_WEIGHTS, p->w_dwei.mem},
                               {DNNL_ARG_SCRATCHPAD, p->w_scratch},
                               {DNNL_ARG_DIFF_BIAS, p->w_dbias.mem}};
    if ((st = mlic_train_onednn_execute(s, p->bwd_wei, with_bias ? 5 : 4, args)) != MLIC_OK ||
        (st = mlic_train_onednn_operand_finish(&p->w_dwei, s)) != MLIC_OK)
        return st;
    return with_bias ? mlic_train_onednn_operand_finish(&p->w_dbias, s) : MLIC_OK;
}

mlic_status mlic_train_onednn_conv_backward(mlic_train_ctx *c, int i)
{
    mlic_train_onednn_state *s = c->state;
    conv_plan *p = s->node[i];
    const int threads = omp_get_max_threads();
    while (p && (p->n != c->n || p->threads != threads))
        p = p->next;
    if (!p || !p->backward_ready)
        return mlic_fail(MLIC_ERR_INTERNAL, "convolution %s: backward before its training "
                         "forward (or with another thread count)", c->g->nodes[i].name);
    if (p->ref_backward)
        return mlic_train_backend_ref.op[MLIC_OP_CONV].backward(c, i);
    return backward(c, i, p);
}

/* The reference kernel's scratch, for the nodes that fall back to it. */
size_t mlic_train_onednn_conv_workspace(const mlic_graph *g, int i, int n)
{
    return mlic_train_backend_ref.op[MLIC_OP_CONV].workspace_floats(g, i, n);
}

