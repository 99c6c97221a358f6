/* Max pooling and global average pooling, both as oneDNN pooling on the producer's layout. */
#include "backend/onednn.h"
#include "core/error.h"

/* Pool the node's input with a kh x kw window. The source keeps its producer's layout (pooling
 * cannot choose one); the destination is left to oneDNN, which keeps it. */
static mlic_status plan_pool(onednn_ctx *c, dnnl_alg_kind_t alg, int kh, int kw, int stride,
                             int pad)
{
    const mlic_graph *g = c->s->g;
    const mlic_node *nd = &g->nodes[c->node];
    mlic_shape3 out = g->values[nd->out];
    mlic_status st = MLIC_OK;
    dnnl_primitive_desc_t pd = NULL;

    if (nd->fused_add >= 0 || nd->fused_act != MLIC_ACT_NONE)
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "fused add/activation on pooling is not supported");
    dnnl_memory_desc_t src_md, dst_md;
    if ((st = onednn_plan_value_md(c, nd->in[0], &src_md)) != MLIC_OK ||
        (st = onednn_md_4d_dt(&dst_md, c->s->dt, c->p->n, out.c, out.h, out.w,
                             dnnl_format_tag_any)) != MLIC_OK)
        return st;
    dnnl_pooling_desc_t desc;
    dnnl_dims_t strides = {stride, stride}, kernel = {kh, kw}, padding = {pad, pad};
    ONEDNN_CALL(dnnl_pooling_forward_desc_init, (&desc, dnnl_forward_inference, alg, &src_md,
                                                 &dst_md, strides, kernel, padding, padding));
    if ((st = onednn_plan_pd(c, 0, &desc, &pd)) != MLIC_OK)
        goto done;
    dst_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    int args[2] = {DNNL_ARG_SRC, DNNL_ARG_DST}, mems[2];
    if ((st = onednn_plan_src(c, nd->in[0], &src_md, &mems[0])) != MLIC_OK ||
        (st = onednn_plan_dst(c, &dst_md, &mems[1])) != MLIC_OK)
        goto done;
    st = onednn_plan_step(c, pd, 2, args, mems);
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return st;
}

/* PyTorch's MaxPool2d (floor mode): padding never wins a max, as oneDNN's pooling_max. */
mlic_status onednn_plan_maxpool(onednn_ctx *c)
{
    const mlic_node *nd = &c->s->g->nodes[c->node];
    if (nd->kernel < 1 || nd->stride < 1 || nd->pad < 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "bad max pooling: kernel %d, stride %d, pad %d",
                         nd->kernel, nd->stride, nd->pad);
    return plan_pool(c, dnnl_pooling_max, nd->kernel, nd->kernel, nd->stride, nd->pad);
}

mlic_status onednn_plan_global_avgpool(onednn_ctx *c)
{
    mlic_shape3 in = c->s->g->values[c->s->g->nodes[c->node].in[0]];
    return plan_pool(c, dnnl_pooling_avg_exclude_padding, in.h, in.w, 1, 0);
}
