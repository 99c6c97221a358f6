/* Activations and residual adds that the fold pass left standing on their own (it fuses them
 * into convolutions wherever it can): oneDNN eltwise and binary, in place when possible. */
#include "backend/onednn.h"
#include "core/error.h"

mlic_status onednn_plan_act(onednn_ctx *c)
{
    const mlic_node *nd = &c->s->g->nodes[c->node];
    mlic_status st = MLIC_OK;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t md;

    if (nd->fused_add >= 0 || nd->fused_act != MLIC_ACT_NONE)
        return mlic_fail(MLIC_ERR_UNSUPPORTED,
                         "fused add/activation on an activation is not supported");
    if ((st = onednn_plan_value_md(c, nd->in[0], &md)) != MLIC_OK)
        return st;
    dnnl_eltwise_desc_t desc;
    if (nd->op == MLIC_OP_RELU6)
        ONEDNN_CALL(dnnl_eltwise_forward_desc_init,
                    (&desc, dnnl_forward_inference, dnnl_eltwise_clip, &md, 0.0f, 6.0f));
    else
        ONEDNN_CALL(dnnl_eltwise_forward_desc_init,
                    (&desc, dnnl_forward_inference, dnnl_eltwise_relu, &md, 0.0f, 0.0f));
    if ((st = onednn_plan_pd(c, 0, &desc, &pd)) != MLIC_OK)
        goto done;
    int args[2] = {DNNL_ARG_SRC, DNNL_ARG_DST}, mems[2];
    if ((st = onednn_plan_src(c, nd->in[0], &md, &mems[0])) != MLIC_OK ||
        (st = onednn_plan_dst_inplace(c, &md, nd->in[0], &mems[1])) != MLIC_OK)
        goto done;
    st = onednn_plan_step(c, pd, 2, args, mems);
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return st;
}

/* in[0] + in[1] in in[0]'s layout (in[1] reordered to it if needed), then the fused add and
 * activation as post-ops. */
mlic_status onednn_plan_add(onednn_ctx *c)
{
    const mlic_node *nd = &c->s->g->nodes[c->node];
    mlic_status st = MLIC_OK;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t md;

    if (nd->in[1] < 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "add without a second input");
    if ((st = onednn_plan_value_md(c, nd->in[0], &md)) != MLIC_OK)
        return st;
    dnnl_binary_desc_t desc;
    ONEDNN_CALL(dnnl_binary_desc_init, (&desc, dnnl_binary_add, &md, &md, &md));
    if ((st = onednn_plan_pd(c, 1, &desc, &pd)) != MLIC_OK)
        goto done;
    int args[3] = {DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST}, mems[3];
    if ((st = onednn_plan_src(c, nd->in[0], &md, &mems[0])) != MLIC_OK ||
        (st = onednn_plan_src(c, nd->in[1], &md, &mems[1])) != MLIC_OK)
        goto done;
    if (nd->fused_add >= 0)
        st = onednn_plan_dst(c, &md, &mems[2]);
    else
        st = onednn_plan_dst_inplace(c, &md, nd->in[0], &mems[2]);
    if (st == MLIC_OK)
        st = onednn_plan_step(c, pd, 3, args, mems);
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return st;
}
