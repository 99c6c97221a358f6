/* ReLU, ReLU6 and add on oneDNN's eltwise, binary and reorder primitives, directly on the
 * executor's NCHW buffers (elementwise: any layout is a flat array of n * C * H * W floats).
 *
 * Semantics are the reference kernels' (nn/kernels.h, nn/kernels_train.h): the backward of
 * ReLU and ReLU6 reads the forward's OUTPUT (oneDNN's *_use_dst_for_bwd algorithms), so the
 * gradient passes where 0 < y (ReLU) or 0 < y < 6 (ReLU6), PyTorch's rule. They part on a NaN
 * input only, which oneDNN's ReLU passes on and the reference maps to 0. The backward of add
 * passes the output's gradient to both inputs. Gradients accumulate: a result is added into
 * the executor's buffer (a reorder with a sum post-op), or written where this node is the
 * input's last reader, whose gradient the executor has just zeroed. */
#include "backend/onednn_train.h"

static size_t count_of(const mlic_graph *g, int v, int n)
{
    const mlic_shape3 s = g->values[v];
    return (size_t)n * s.c * s.h * s.w;
}

/* The value as a flat array. */
static mlic_status flat_md(dnnl_memory_desc_t *md, size_t count)
{
    mlic_status st = MLIC_OK;
    dnnl_dims_t d = {(dnnl_dim_t)count};
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (md, 1, d, dnnl_f32, dnnl_a));
done:
    return st;
}

/* ---------------------------------------------------------------- ReLU, ReLU6 */

static void relu_alg(const mlic_node *nd, dnnl_alg_kind_t *alg, float *alpha, float *beta)
{
    *alpha = 0.0f;
    *beta = nd->op == MLIC_OP_RELU6 ? 6.0f : 0.0f;
    *alg = nd->op == MLIC_OP_RELU6 ? dnnl_eltwise_clip_v2_use_dst_for_bwd
                                   : dnnl_eltwise_relu_use_dst_for_bwd;
}

static mlic_status relu_plan_forward(mlic_train_onednn_plan *p, mlic_train_onednn_state *s, int i)
{
    const mlic_node *nd = &s->g->nodes[i];
    mlic_status st = MLIC_OK;
    dnnl_memory_desc_t md;
    dnnl_eltwise_desc_t desc;
    dnnl_alg_kind_t alg;
    float alpha, beta;
    size_t cursor = 0;
    relu_alg(nd, &alg, &alpha, &beta);
    if ((st = flat_md(&md, count_of(s->g, nd->out, p->n))) != MLIC_OK)
        goto done;
    ONEDNN_CALL(dnnl_eltwise_forward_desc_init,
                (&desc, dnnl_forward_training, alg, &md, alpha, beta));
    ONEDNN_CALL(dnnl_primitive_desc_create, (&p->fwd_pd, &desc, NULL, s->engine, NULL));
    if ((st = mlic_train_onednn_call_init(&p->fwd, p->fwd_pd)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(&p->fwd, s, DNNL_ARG_SRC, &md, &md, ONEDNN_TRAIN_IN,
                                         &cursor)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(&p->fwd, s, DNNL_ARG_DST, &md, &md, ONEDNN_TRAIN_OUT,
                                         &cursor)) != MLIC_OK)
        goto done;
    p->bytes = cursor;
done:
    return st;
}

static mlic_status relu_plan_backward(mlic_train_onednn_plan *p, mlic_train_onednn_state *s,
                                      int i)
{
    const mlic_node *nd = &s->g->nodes[i];
    mlic_status st = MLIC_OK;
    dnnl_memory_desc_t md;
    dnnl_eltwise_desc_t desc;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_alg_kind_t alg;
    float alpha, beta;
    size_t cursor = 0;
    relu_alg(nd, &alg, &alpha, &beta);
    if ((st = flat_md(&md, count_of(s->g, nd->out, p->n))) != MLIC_OK)
        goto done;
    ONEDNN_CALL(dnnl_eltwise_backward_desc_init, (&desc, alg, &md, &md, alpha, beta));
    ONEDNN_CALL(dnnl_primitive_desc_create, (&pd, &desc, NULL, s->engine, p->fwd_pd));
    mlic_train_onednn_call *k = &p->bwd[0];
    if ((st = mlic_train_onednn_call_init(k, pd)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(k, s, DNNL_ARG_DST, &md, &md, ONEDNN_TRAIN_IN,
                                         &cursor)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(k, s, DNNL_ARG_DIFF_DST, &md, &md, ONEDNN_TRAIN_IN,
                                         &cursor)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(k, s, DNNL_ARG_DIFF_SRC, &md, &md,
                                         mlic_train_onednn_grad_role(s, i, 0), &cursor)) != MLIC_OK)
        goto done;
    if (cursor > p->bytes)
        p->bytes = cursor;
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return st;
}

mlic_status mlic_train_onednn_relu_forward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const float *user[2] = {c->value[nd->in[0]], c->value[nd->out]};
    return mlic_train_onednn_run_forward(c, i, relu_plan_forward, relu_plan_backward, user);
}

mlic_status mlic_train_onednn_relu_backward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const float *user[3] = {c->value[nd->out], c->dvalue[nd->out], c->dvalue[nd->in[0]]};
    return c->dvalue[nd->in[0]] ? mlic_train_onednn_run_backward(c, i, 0, "ReLU", user) : MLIC_OK;
}

/* ---------------------------------------------------------------- add */

static mlic_status add_plan_forward(mlic_train_onednn_plan *p, mlic_train_onednn_state *s, int i)
{
    const mlic_node *nd = &s->g->nodes[i];
    mlic_status st = MLIC_OK;
    dnnl_memory_desc_t md;
    dnnl_binary_desc_t desc;
    size_t cursor = 0;
    if ((st = flat_md(&md, count_of(s->g, nd->out, p->n))) != MLIC_OK)
        goto done;
    ONEDNN_CALL(dnnl_binary_desc_init, (&desc, dnnl_binary_add, &md, &md, &md));
    ONEDNN_CALL(dnnl_primitive_desc_create, (&p->fwd_pd, &desc, NULL, s->engine, NULL));
    if ((st = mlic_train_onednn_call_init(&p->fwd, p->fwd_pd)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(&p->fwd, s, DNNL_ARG_SRC_0, &md, &md, ONEDNN_TRAIN_IN,
                                         &cursor)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(&p->fwd, s, DNNL_ARG_SRC_1, &md, &md, ONEDNN_TRAIN_IN,
                                         &cursor)) != MLIC_OK ||
        (st = mlic_train_onednn_call_arg(&p->fwd, s, DNNL_ARG_DST, &md, &md, ONEDNN_TRAIN_OUT,
                                         &cursor)) != MLIC_OK)
        goto done;
    p->bytes = cursor;
done:
    return st;
}

/* Per input k: a reorder from the output's gradient into the input's, with a sum post-op where
 * it adds. No arena: both sides are the executor's buffers. */
static mlic_status add_plan_backward(mlic_train_onednn_plan *p, mlic_train_onednn_state *s,
                                     int i)
{
    const mlic_node *nd = &s->g->nodes[i];
    mlic_status st = MLIC_OK;
    dnnl_memory_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    size_t cursor = 0;
    if ((st = flat_md(&md, count_of(s->g, nd->out, p->n))) != MLIC_OK)
        return st;
    for (int k = 0; k < 2 && st == MLIC_OK; k++) {
        if (!s->needs_grad[nd->in[k]])
            continue;
        const int add = mlic_train_onednn_grad_role(s, i, k) == ONEDNN_TRAIN_OUT_ADD;
        if ((st = onednn_reorder_pd(&pd, s->engine, &md, &md, add ? ONEDNN_ATTR_SUM : 0)) ==
                MLIC_OK &&
            (st = mlic_train_onednn_call_init(&p->bwd[k], pd)) == MLIC_OK &&
            (st = mlic_train_onednn_call_arg(&p->bwd[k], s, DNNL_ARG_FROM, &md, &md,
                                             ONEDNN_TRAIN_IN, &cursor)) == MLIC_OK)
            st = mlic_train_onednn_call_arg(&p->bwd[k], s, DNNL_ARG_TO, &md, &md,
                                            ONEDNN_TRAIN_OUT, &cursor);
        if (pd)
            dnnl_primitive_desc_destroy(pd);
        pd = NULL;
    }
    return st;
}

mlic_status mlic_train_onednn_add_forward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const float *user[3] = {c->value[nd->in[0]], c->value[nd->in[1]], c->value[nd->out]};
    return mlic_train_onednn_run_forward(c, i, add_plan_forward, add_plan_backward, user);
}

mlic_status mlic_train_onednn_add_backward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    for (int k = 0; k < 2; k++) {
        if (!c->dvalue[nd->in[k]] || c->dvalue[nd->in[k]] == c->dvalue[nd->out]) /* in place */
            continue;
        const float *user[2] = {c->dvalue[nd->out], c->dvalue[nd->in[k]]};
        const mlic_status st = mlic_train_onednn_run_backward(c, i, k, "add", user);
        if (st != MLIC_OK)
            return st;
    }
    return MLIC_OK;
}

