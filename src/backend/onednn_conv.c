/* Convolution (plain, grouped, depthwise) with its folded bias and fused residual add and
 * activation as post-ops. The one place to swap the convolution kernel. */
#include "backend/onednn.h"
#include "core/error.h"

/* Direct convolution: oneDNN's Winograd path measured no faster here (resnet50, AVX-512) and is
 * slightly less accurate. */
#define ONEDNN_CONV_ALG dnnl_convolution_direct

/* The primitive descriptor for the node with activations in src_tag/dst_tag (format_tag_any:
 * oneDNN's choice) and weights in the layout oneDNN picks; *user_wei_md receives the graph's
 * (o, i, kh, kw) or (g, o, i, kh, kw) weight layout. */
static mlic_status conv_pd(onednn_ctx *c, dnnl_format_tag_t src_tag, dnnl_format_tag_t dst_tag,
                           const_dnnl_primitive_attr_t attr, dnnl_memory_desc_t *user_wei_md,
                           dnnl_primitive_desc_t *pd)
{
    const mlic_node *nd = &c->s->g->nodes[c->node];
    mlic_shape3 in = c->s->g->values[nd->in[0]], out = c->s->g->values[nd->out];
    int n = c->p->n, k = nd->kernel, groups = nd->groups > 0 ? nd->groups : 1;
    mlic_status st = MLIC_OK;
    dnnl_memory_desc_t src_md, dst_md, wei_md, bias_md;
    const dnnl_data_type_t dt = c->s->dt;
    if ((st = onednn_md_4d_dt(&src_md, dt, n, in.c, in.h, in.w, src_tag)) != MLIC_OK ||
        (st = onednn_md_4d_dt(&dst_md, dt, n, out.c, out.h, out.w, dst_tag)) != MLIC_OK)
        return st;
    if ((st = onednn_md_conv_weights(&wei_md, user_wei_md, dt, out.c, in.c, k, groups)) !=
        MLIC_OK)
        return st;
    dnnl_dims_t bd = {out.c};
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&bias_md, 1, bd, dnnl_f32, dnnl_a));
    dnnl_convolution_desc_t desc;
    dnnl_dims_t strides = {nd->stride, nd->stride}, pad = {nd->pad, nd->pad};
    ONEDNN_CALL(dnnl_convolution_forward_desc_init,
                (&desc, dnnl_forward_inference, ONEDNN_CONV_ALG, &src_md, &wei_md,
                 nd->bias >= 0 ? &bias_md : NULL, &dst_md, strides, pad, pad));
    ONEDNN_CALL(dnnl_primitive_desc_create, (pd, &desc, attr, c->s->engine, NULL));
done:
    return st;
}

mlic_status onednn_plan_conv(onednn_ctx *c)
{
    const mlic_graph *g = c->s->g;
    const mlic_node *nd = &g->nodes[c->node];
    mlic_shape3 in = g->values[nd->in[0]], out = g->values[nd->out];
    int k = nd->kernel, groups = nd->groups > 0 ? nd->groups : 1;
    mlic_status st = MLIC_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;

    if (nd->int8)
        return onednn_plan_conv_int8(c);
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
    if ((st = onednn_plan_attr(c, 1, &attr)) != MLIC_OK)
        return st;

    /* The CPU's blocked layout first (a first layer with few input channels reads them in
     * whatever layout its kernel wants, NCHW for the usual 3); where oneDNN has only its
     * reference kernel or none for it, every layout left to oneDNN. */
    dnnl_memory_desc_t user_wei_md;
    dnnl_format_tag_t blocked = c->s->act_tag;
    st = MLIC_ERR_BACKEND;
    if (blocked != dnnl_format_tag_any)
        st = conv_pd(c, onednn_conv_src_tag(in.c), blocked, attr, &user_wei_md, &pd);
    if (st == MLIC_OK && onednn_is_reference_impl(pd)) {
        dnnl_primitive_desc_destroy(pd);
        st = MLIC_ERR_BACKEND;
    }
    if (st != MLIC_OK) {
        pd = NULL;
        if ((st = conv_pd(c, dnnl_format_tag_any, dnnl_format_tag_any, attr, &user_wei_md,
                          &pd)) != MLIC_OK)
            goto done;
    }

    st = onednn_plan_weighted_step(c, pd, &user_wei_md);
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}
