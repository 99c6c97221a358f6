/* Linear layer (flatten + x W^T + b) as a oneDNN inner product. */
#include "backend/onednn.h"
#include "core/error.h"

/* The inner product descriptor for src layout src_md (4-D (n, C, H, W) or 2-D (n, C*H*W)),
 * weights of type dt left to oneDNN, row-major fp32 (n, K) logits. */
static mlic_status ip_desc(dnnl_inner_product_desc_t *desc, const dnnl_memory_desc_t *src_md,
                           dnnl_data_type_t dt, int k, int has_bias,
                           dnnl_memory_desc_t *user_wei_md)
{
    mlic_status st = MLIC_OK;
    dnnl_memory_desc_t wei_md, bias_md, dst_md;
    int nd = src_md->ndims;
    dnnl_dims_t wd = {k, src_md->dims[1], nd == 4 ? src_md->dims[2] : 0,
                      nd == 4 ? src_md->dims[3] : 0};
    dnnl_dims_t bd = {k}, dd = {src_md->dims[0], k};
    /* Flattening NCHW makes the (K, C*H*W) weight matrix exactly a (K, C, H, W) oihw tensor. */
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (user_wei_md, nd, wd, dnnl_f32,
                                               nd == 4 ? dnnl_oihw : dnnl_oi));
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&wei_md, nd, wd, dt, dnnl_format_tag_any));
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&bias_md, 1, bd, dnnl_f32, dnnl_a));
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&dst_md, 2, dd, dnnl_f32, dnnl_nc));
    ONEDNN_CALL(dnnl_inner_product_forward_desc_init, (desc, dnnl_forward_inference, src_md,
                                                       &wei_md, has_bias ? &bias_md : NULL,
                                                       &dst_md));
done:
    return st;
}

mlic_status onednn_plan_linear(onednn_ctx *c)
{
    const mlic_graph *g = c->s->g;
    const mlic_node *nd = &g->nodes[c->node];
    mlic_shape3 in = g->values[nd->in[0]], out = g->values[nd->out];
    int k = out.c * out.h * out.w;
    mlic_status st = MLIC_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;

    size_t wnumel = (size_t)k * (size_t)in.c * (size_t)in.h * (size_t)in.w;
    if (nd->weight < 0 || g->params[nd->weight].numel != wnumel)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "linear weight has %zu values, expected %zu",
                         nd->weight < 0 ? (size_t)0 : g->params[nd->weight].numel, wnumel);
    if (nd->bias >= 0 && g->params[nd->bias].numel != (size_t)k)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "bias %s has %zu values, expected %d",
                         g->params[nd->bias].name, g->params[nd->bias].numel, k);
    dnnl_memory_desc_t src_md, user_wei_md;
    if ((st = onednn_plan_value_md(c, nd->in[0], &src_md)) != MLIC_OK ||
        (st = onednn_plan_attr(c, 1, &attr)) != MLIC_OK)
        return st;

    /* Read the pooled features in their producer's layout; only if oneDNN has no inner
     * product for it, let it choose (and reorder). */
    dnnl_inner_product_desc_t desc;
    if ((st = ip_desc(&desc, &src_md, c->s->dt, k, nd->bias >= 0, &user_wei_md)) != MLIC_OK)
        goto done;
    if (dnnl_primitive_desc_create(&pd, &desc, attr, c->s->engine, NULL) != dnnl_success) {
        pd = NULL;
        dnnl_dims_t sd = {src_md.dims[0], src_md.dims[1], src_md.dims[2], src_md.dims[3]};
        ONEDNN_CALL(dnnl_memory_desc_init_by_tag,
                    (&src_md, src_md.ndims, sd, c->s->dt, dnnl_format_tag_any));
        if ((st = ip_desc(&desc, &src_md, c->s->dt, k, nd->bias >= 0, &user_wei_md)) != MLIC_OK)
            goto done;
        ONEDNN_CALL(dnnl_primitive_desc_create, (&pd, &desc, attr, c->s->engine, NULL));
    }
    st = onednn_plan_weighted_step(c, pd, &user_wei_md);
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return st;
}
