/* Convolution (plain, grouped, depthwise) with its folded bias and fused residual add and
 * activation as post-ops. The one place to swap the convolution kernel. */
#include "backend/onednn.h"
#include "core/error.h"

/* Direct convolution: oneDNN's Winograd path is not faster for these nets on AVX-512 and is
 * slightly less accurate. */
#define ONEDNN_CONV_ALG dnnl_convolution_direct

mlic_status onednn_plan_conv(onednn_ctx *c)
{
    const mlic_graph *g = c->s->g;
    const mlic_node *nd = &g->nodes[c->node];
    mlic_shape3 in = g->values[nd->in[0]], out = g->values[nd->out];
    int n = c->p->n, k = nd->kernel, groups = nd->groups > 0 ? nd->groups : 1;
    mlic_status st = MLIC_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;

    if (in.c % groups || out.c % groups || k < 1 || nd->stride < 1 || nd->pad < 0 ||
        nd->weight < 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG,
                         "bad convolution: %d -> %d channels, %d groups, kernel %d, stride %d, "
                         "pad %d", in.c, out.c, groups, k, nd->stride, nd->pad);
    size_t wnumel = (size_t)out.c * (size_t)(in.c / groups) * (size_t)k * (size_t)k;
    if (g->params[nd->weight].numel != wnumel)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "weight %s has %zu values, expected %zu",
                         g->params[nd->weight].name, g->params[nd->weight].numel, wnumel);
    if (nd->bias >= 0 && g->params[nd->bias].numel != (size_t)out.c)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "bias %s has %zu values, expected %d",
                         g->params[nd->bias].name, g->params[nd->bias].numel, out.c);

    dnnl_memory_desc_t src_md, dst_md, wei_md, user_wei_md, bias_md;
    if ((st = onednn_md_4d(&src_md, n, in.c, in.h, in.w, dnnl_format_tag_any)) != MLIC_OK ||
        (st = onednn_md_4d(&dst_md, n, out.c, out.h, out.w, dnnl_format_tag_any)) != MLIC_OK)
        return st;
    if (groups == 1) {
        dnnl_dims_t wd = {out.c, in.c, k, k};
        ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&wei_md, 4, wd, dnnl_f32, dnnl_format_tag_any));
        ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&user_wei_md, 4, wd, dnnl_f32, dnnl_oihw));
    } else {
        dnnl_dims_t wd = {groups, out.c / groups, in.c / groups, k, k};
        ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&wei_md, 5, wd, dnnl_f32, dnnl_format_tag_any));
        ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&user_wei_md, 5, wd, dnnl_f32, dnnl_goihw));
    }
    dnnl_dims_t bd = {out.c};
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&bias_md, 1, bd, dnnl_f32, dnnl_a));

    dnnl_convolution_desc_t desc;
    dnnl_dims_t strides = {nd->stride, nd->stride}, pad = {nd->pad, nd->pad};
    ONEDNN_CALL(dnnl_convolution_forward_desc_init,
                (&desc, dnnl_forward_inference, ONEDNN_CONV_ALG, &src_md, &wei_md,
                 nd->bias >= 0 ? &bias_md : NULL, &dst_md, strides, pad, pad));
    if ((st = onednn_plan_attr(c, 1, &attr)) != MLIC_OK)
        goto done;
    ONEDNN_CALL(dnnl_primitive_desc_create, (&pd, &desc, attr, c->s->engine, NULL));

    src_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    wei_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dst_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
    int mems[4];
    if ((st = onednn_plan_src(c, nd->in[0], &src_md, &mems[0])) != MLIC_OK ||
        (st = onednn_plan_weights(c, &user_wei_md, mlic_graph_param(g, nd->weight), &wei_md,
                                  &mems[1])) != MLIC_OK ||
        (st = onednn_plan_dst(c, &dst_md, &mems[2])) != MLIC_OK ||
        (nd->bias >= 0 && (st = onednn_plan_param(c, nd->bias, &mems[3])) != MLIC_OK))
        goto done;
    st = onednn_plan_step(c, pd, nd->bias >= 0 ? 4 : 3, args, mems);
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}
