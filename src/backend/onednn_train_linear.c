/* The classifier's end on oneDNN: global average pooling (pooling, average over the whole map)
 * and linear (inner product: forward, backward data, backward weights), on the executor's NCHW
 * buffers, whose (n, C, 1, 1) pooled values are the (n, C) rows the linear reads. The linear's
 * weights (out, in) are reordered into the layout oneDNN picks and its weight gradients added
 * back (onednn_train.h: gradients accumulate); an input gradient is written where this node
 * is the input's last reader (the executor has just zeroed it), else added. */
#include "backend/onednn_train.h"

static float *param_ptr(float *base, const mlic_graph *g, int p)
{
    return p >= 0 ? base + g->params[p].offset : NULL;
}

/* ---------------------------------------------------------------- global average pool */

typedef struct {
    dnnl_memory_desc_t src, dst;
    dnnl_dims_t strides, kernel, dilation, pad;
} gap_mds;

static mlic_status gap_make_mds(gap_mds *m, const mlic_graph *g, int i, int n)
{
    const mlic_node *nd = &g->nodes[i];
    const mlic_shape3 x = g->values[nd->in[0]];
    mlic_status st;
    if ((st = onednn_md_4d(&m->src, n, x.c, x.h, x.w, dnnl_nchw)) != MLIC_OK ||
        (st = onednn_md_4d(&m->dst, n, x.c, 1, 1, dnnl_nchw)) != MLIC_OK)
        return st;
    m->strides[0] = m->strides[1] = 1;
    m->kernel[0] = x.h;
    m->kernel[1] = x.w;
    m->dilation[0] = m->dilation[1] = 0;
    m->pad[0] = m->pad[1] = 0;
    return MLIC_OK;
}

static mlic_status gap_plan_forward(mlic_train_onednn_plan *p, mlic_train_onednn_state *s, int i)
{
    mlic_status st = MLIC_OK;
    gap_mds m;
    dnnl_pooling_v2_desc_t desc;
    size_t cursor = 0;
    if ((st = gap_make_mds(&m, s->g, i, p->n)) != MLIC_OK)
        goto done;
    ONEDNN_CALL(dnnl_pooling_v2_forward_desc_init,
                (&desc, dnnl_forward_training, dnnl_pooling_avg_exclude_padding, &m.src, &m.dst,
                 m.strides, m.kernel, m.dilation, m.pad, m.pad));
    ONEDNN_CALL(dnnl_primitive_desc_create, (&p->fwd_pd, &desc, NULL, s->engine, NULL));
    if ((st = mlic_train_onednn_call_init(&p->fwd, p->fwd_pd)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(&p->fwd, s, DNNL_ARG_SRC, &m.src, &m.src,
                                         ONEDNN_TRAIN_IN, &cursor)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(&p->fwd, s, DNNL_ARG_DST, &m.dst, &m.dst,
                                         ONEDNN_TRAIN_OUT, &cursor)) != MLIC_OK)
        goto done;
    p->bytes = cursor;
done:
    return st;
}

static mlic_status gap_plan_backward(mlic_train_onednn_plan *p, mlic_train_onednn_state *s,
                                     int i)
{
    mlic_status st = MLIC_OK;
    gap_mds m;
    dnnl_pooling_v2_desc_t desc;
    dnnl_primitive_desc_t pd = NULL;
    size_t cursor = 0;
    if ((st = gap_make_mds(&m, s->g, i, p->n)) != MLIC_OK)
        goto done;
    ONEDNN_CALL(dnnl_pooling_v2_backward_desc_init,
                (&desc, dnnl_pooling_avg_exclude_padding, &m.src, &m.dst, m.strides, m.kernel,
                 m.dilation, m.pad, m.pad));
    ONEDNN_CALL(dnnl_primitive_desc_create, (&pd, &desc, NULL, s->engine, p->fwd_pd));
    if ((st = mlic_train_onednn_call_init(&p->bwd[0], pd)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(&p->bwd[0], s, DNNL_ARG_DIFF_DST, &m.dst, &m.dst,
                                         ONEDNN_TRAIN_IN, &cursor)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(&p->bwd[0], s, DNNL_ARG_DIFF_SRC, &m.src, &m.src,
                                         mlic_train_onednn_grad_role(s, i, 0), &cursor)) != MLIC_OK)
        goto done;
    if (cursor > p->bytes)
        p->bytes = cursor;
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return st;
}

mlic_status mlic_train_onednn_gap_forward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const float *user[2] = {c->value[nd->in[0]], c->value[nd->out]};
    return mlic_train_onednn_run_forward(c, i, gap_plan_forward, gap_plan_backward, user);
}

mlic_status mlic_train_onednn_gap_backward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const float *user[2] = {c->dvalue[nd->out], c->dvalue[nd->in[0]]};
    return c->dvalue[nd->in[0]]
               ? mlic_train_onednn_run_backward(c, i, 0, "global average pool", user)
               : MLIC_OK;
}

/* ---------------------------------------------------------------- linear */

typedef struct {
    dnnl_memory_desc_t src, dst, bias;   /* row-major (n, in), (n, out), (out) */
    dnnl_memory_desc_t user_wei, wei;    /* the graph's (out, in); oneDNN's choice */
    int has_bias;
} linear_mds;

static mlic_status linear_make_mds(linear_mds *m, const mlic_graph *g, int i, int n)
{
    const mlic_node *nd = &g->nodes[i];
    const mlic_param *w = &g->params[nd->weight];
    mlic_status st = MLIC_OK;
    dnnl_dims_t sd = {n, w->dims[1]}, dd = {n, w->dims[0]}, wd = {w->dims[0], w->dims[1]},
                bd = {w->dims[0]};
    m->has_bias = nd->bias >= 0;
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&m->src, 2, sd, dnnl_f32, dnnl_ab));
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&m->dst, 2, dd, dnnl_f32, dnnl_ab));
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&m->user_wei, 2, wd, dnnl_f32, dnnl_ab));
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&m->wei, 2, wd, dnnl_f32, dnnl_format_tag_any));
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&m->bias, 1, bd, dnnl_f32, dnnl_a));
done:
    return st;
}

static const dnnl_memory_desc_t *qmd(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int k)
{
    return dnnl_primitive_desc_query_md(pd, what, k);
}

static mlic_status linear_plan_forward(mlic_train_onednn_plan *p, mlic_train_onednn_state *s,
                                       int i)
{
    mlic_status st = MLIC_OK;
    linear_mds m;
    dnnl_inner_product_desc_t desc;
    size_t cursor = 0;
    if ((st = linear_make_mds(&m, s->g, i, p->n)) != MLIC_OK)
        goto done;
    ONEDNN_CALL(dnnl_inner_product_forward_desc_init,
                (&desc, dnnl_forward_training, &m.src, &m.wei, m.has_bias ? &m.bias : NULL,
                 &m.dst));
    ONEDNN_CALL(dnnl_primitive_desc_create, (&p->fwd_pd, &desc, NULL, s->engine, NULL));
    mlic_train_onednn_call *k = &p->fwd;
    if ((st = mlic_train_onednn_call_init(k, p->fwd_pd)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(k, s, DNNL_ARG_SRC, &m.src,
                                         qmd(p->fwd_pd, dnnl_query_src_md, 0), ONEDNN_TRAIN_IN,
                                         &cursor)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(k, s, DNNL_ARG_WEIGHTS, &m.user_wei,
                                         qmd(p->fwd_pd, dnnl_query_weights_md, 0),
                                         ONEDNN_TRAIN_IN, &cursor)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(k, s, DNNL_ARG_DST, &m.dst,
                                         qmd(p->fwd_pd, dnnl_query_dst_md, 0), ONEDNN_TRAIN_OUT,
                                         &cursor)) != MLIC_OK ||
        (m.has_bias &&
         (st = mlic_train_onednn_call_arg(k, s, DNNL_ARG_BIAS, &m.bias,
                                          qmd(p->fwd_pd, dnnl_query_weights_md, 1),
                                          ONEDNN_TRAIN_IN, &cursor)) != MLIC_OK))
        goto done;
    p->bytes = cursor;
done:
    return st;
}

/* bwd[0]: the input's gradient (when one flows), bwd[1]: the parameters'. The two run one after
 * the other, so their arena copies overlap. */
static mlic_status linear_plan_backward(mlic_train_onednn_plan *p, mlic_train_onednn_state *s,
                                        int i)
{
    const mlic_node *nd = &s->g->nodes[i];
    mlic_status st = MLIC_OK;
    linear_mds m;
    dnnl_inner_product_desc_t desc;
    dnnl_primitive_desc_t dpd = NULL, wpd = NULL;
    size_t cursor = 0, most = p->bytes;
    if ((st = linear_make_mds(&m, s->g, i, p->n)) != MLIC_OK)
        goto done;
    if (s->needs_grad[nd->in[0]]) {
        ONEDNN_CALL(dnnl_inner_product_backward_data_desc_init, (&desc, &m.src, &m.wei, &m.dst));
        ONEDNN_CALL(dnnl_primitive_desc_create, (&dpd, &desc, NULL, s->engine, p->fwd_pd));
        mlic_train_onednn_call *k = &p->bwd[0];
        if ((st = mlic_train_onednn_call_init(k, dpd)) != MLIC_OK ||
            (st = mlic_train_onednn_call_arg(k, s, DNNL_ARG_DIFF_DST, &m.dst,
                                             qmd(dpd, dnnl_query_diff_dst_md, 0),
                                             ONEDNN_TRAIN_IN, &cursor)) != MLIC_OK ||
            (st = mlic_train_onednn_call_arg(k, s, DNNL_ARG_WEIGHTS, &m.user_wei,
                                             qmd(dpd, dnnl_query_weights_md, 0),
                                             ONEDNN_TRAIN_IN, &cursor)) != MLIC_OK ||
            (st = mlic_train_onednn_call_arg(k, s, DNNL_ARG_DIFF_SRC, &m.src,
                                             qmd(dpd, dnnl_query_diff_src_md, 0),
                                             mlic_train_onednn_grad_role(s, i, 0), &cursor)) != MLIC_OK)
            goto done;
        most = cursor > most ? cursor : most;
    }
    cursor = 0;
    ONEDNN_CALL(dnnl_inner_product_backward_weights_desc_init,
                (&desc, &m.src, &m.wei, m.has_bias ? &m.bias : NULL, &m.dst));
    ONEDNN_CALL(dnnl_primitive_desc_create, (&wpd, &desc, NULL, s->engine, p->fwd_pd));
    mlic_train_onednn_call *k = &p->bwd[1];
    if ((st = mlic_train_onednn_call_init(k, wpd)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(k, s, DNNL_ARG_SRC, &m.src,
                                         qmd(wpd, dnnl_query_src_md, 0), ONEDNN_TRAIN_IN,
                                         &cursor)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(k, s, DNNL_ARG_DIFF_DST, &m.dst,
                                         qmd(wpd, dnnl_query_diff_dst_md, 0), ONEDNN_TRAIN_IN,
                                         &cursor)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(k, s, DNNL_ARG_DIFF_WEIGHTS, &m.user_wei,
                                         qmd(wpd, dnnl_query_diff_weights_md, 0),
                                         ONEDNN_TRAIN_OUT_ADD, &cursor)) != MLIC_OK ||
        (m.has_bias &&
         (st = mlic_train_onednn_call_arg(k, s, DNNL_ARG_DIFF_BIAS, &m.bias,
                                          qmd(wpd, dnnl_query_diff_weights_md, 1),
                                          ONEDNN_TRAIN_OUT_ADD, &cursor)) != MLIC_OK))
        goto done;
    p->bytes = cursor > most ? cursor : most;
done:
    if (dpd)
        dnnl_primitive_desc_destroy(dpd);
    if (wpd)
        dnnl_primitive_desc_destroy(wpd);
    return st;
}

mlic_status mlic_train_onednn_linear_forward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const float *user[4] = {c->value[nd->in[0]], param_ptr(c->weights, c->g, nd->weight),
                            c->value[nd->out], param_ptr(c->weights, c->g, nd->bias)};
    return mlic_train_onednn_run_forward(c, i, linear_plan_forward, linear_plan_backward, user);
}

/* The executor runs it only where the parameters train (train_graph.c refuses a frozen linear
 * after trainable layers). */
mlic_status mlic_train_onednn_linear_backward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const float *data[3] = {c->dvalue[nd->out], param_ptr(c->weights, c->g, nd->weight),
                            c->dvalue[nd->in[0]]};
    const float *params[4] = {c->value[nd->in[0]], c->dvalue[nd->out],
                              param_ptr(c->grads, c->g, nd->weight),
                              param_ptr(c->grads, c->g, nd->bias)};
    mlic_status st = MLIC_OK;
    if (c->dvalue[nd->in[0]])
        st = mlic_train_onednn_run_backward(c, i, 0, "linear", data);
    return st == MLIC_OK ? mlic_train_onednn_run_backward(c, i, 1, "linear", params) : st;
}

