/* An int8 convolution (docs/quantization.md): u8 or s8 input codes, s8 weights, f32 output or,
 * where every reader is an int8 convolution, that reader's u8/s8 codes.
 *
 * oneDNN v2 computes dst = output_scale[oc] * (sum(src_code * wei_code) + bias[oc]), then the
 * post-ops (the residual sum, then ReLU/ReLU6 times the eltwise's scale). With
 * x = src_code * in_scale and w = wei_code * w_scale[oc], output_scale = in_scale * w_scale[oc]
 * gives the convolution of x and w, and the folded bias enters divided by that same scale.
 * Codes for a reader with input scale r are that result divided by r: in the activation's scale
 * when there is one (ReLU6 must clip at 6 before the division), else in the output scales. */
#include <stdlib.h>
#include <string.h>

#include "backend/onednn.h"
#include "core/error.h"

/* The input scale of the readers of node nd's output when they all are int8 convolutions
 * reading it as their input (not as a residual) with one scale, and nd writes no residual sum;
 * else 0: nd writes f32. */
static float direct_output_scale(const mlic_graph *g, const mlic_node *nd)
{
    const int v = nd->out;
    float scale = 0.0f;
    if (v == g->output || nd->fused_add >= 0)
        return 0.0f;
    for (int k = 0; k < g->nnodes; k++) {
        const mlic_node *r = &g->nodes[k];
        if (r->in[0] != v && r->in[1] != v && r->fused_add != v)
            continue;
        if (r->op != MLIC_OP_CONV || !r->int8 || r->in[0] != v || r->in[1] == v ||
            r->fused_add == v || (scale != 0.0f && r->int8->input_scale != scale))
            return 0.0f;
        scale = r->int8->input_scale;
    }
    return scale;
}

/* Scratchpad, output scales and post-ops for dst_scale 0 (f32 output: onednn_plan_attr's fusions)
 * or the codes of readers with input scale dst_scale (no residual sum then). */
static mlic_status int8_attr(onednn_ctx *c, const float *oscale, float dst_scale,
                             dnnl_primitive_attr_t *attr)
{
    const mlic_node *nd = &c->s->g->nodes[c->node];
    const int oc = nd->int8->out_c;
    mlic_status st = onednn_plan_attr(c, dst_scale == 0.0f, attr);
    dnnl_post_ops_t po = NULL;
    float *scales = malloc((size_t)oc * sizeof *scales);
    if (st != MLIC_OK || !scales) {
        free(scales);
        return st != MLIC_OK ? st
                             : mlic_fail(MLIC_ERR_NOMEM, "oneDNN backend: out of memory while planning");
    }
    const int act = nd->fused_act != MLIC_ACT_NONE;
    for (int o = 0; o < oc; o++)
        scales[o] = dst_scale == 0.0f || act ? oscale[o] : oscale[o] / dst_scale;
    ONEDNN_CALL(dnnl_primitive_attr_set_output_scales, (*attr, oc, 1 << 1, scales));
    if (dst_scale != 0.0f && act) {
        ONEDNN_CALL(dnnl_post_ops_create, (&po));
        if (nd->fused_act == MLIC_ACT_RELU)
            ONEDNN_CALL(dnnl_post_ops_append_eltwise,
                        (po, 1.0f / dst_scale, dnnl_eltwise_relu, 0.0f, 0.0f));
        else
            ONEDNN_CALL(dnnl_post_ops_append_eltwise,
                        (po, 1.0f / dst_scale, dnnl_eltwise_clip, 0.0f, 6.0f));
        ONEDNN_CALL(dnnl_primitive_attr_set_post_ops, (*attr, po));
    }
done:
    if (po)
        dnnl_post_ops_destroy(po);
    free(scales);
    if (st != MLIC_OK) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return st;
}

static mlic_status int8_pd(onednn_ctx *c, dnnl_data_type_t src_dt, dnnl_data_type_t dst_dt,
                           const_dnnl_primitive_attr_t attr, dnnl_memory_desc_t *user_wei_md,
                           dnnl_primitive_desc_t *pd)
{
    const mlic_graph *g = c->s->g;
    const mlic_node *nd = &g->nodes[c->node];
    mlic_shape3 in = g->values[nd->in[0]], out = g->values[nd->out];
    int n = c->p->n, k = nd->kernel, groups = nd->groups > 0 ? nd->groups : 1;
    mlic_status st = MLIC_OK;
    dnnl_memory_desc_t src_md, dst_md, wei_md, bias_md;
    /* Every layout left to oneDNN: its int8 kernels want channels last (NHWC). */
    if ((st = onednn_md_4d_dt(&src_md, src_dt, n, in.c, in.h, in.w, dnnl_format_tag_any)) ||
        (st = onednn_md_4d_dt(&dst_md, dst_dt, n, out.c, out.h, out.w, dnnl_format_tag_any)))
        return st;
    if (groups == 1) {
        dnnl_dims_t wd = {out.c, in.c, k, k};
        ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&wei_md, 4, wd, dnnl_s8, dnnl_format_tag_any));
        ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (user_wei_md, 4, wd, dnnl_s8, dnnl_oihw));
    } else {
        dnnl_dims_t wd = {groups, out.c / groups, in.c / groups, k, k};
        ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&wei_md, 5, wd, dnnl_s8, dnnl_format_tag_any));
        ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (user_wei_md, 5, wd, dnnl_s8, dnnl_goihw));
    }
    dnnl_dims_t bd = {out.c};
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&bias_md, 1, bd, dnnl_f32, dnnl_a));
    dnnl_convolution_desc_t desc;
    dnnl_dims_t strides = {nd->stride, nd->stride}, pad = {nd->pad, nd->pad};
    ONEDNN_CALL(dnnl_convolution_forward_desc_init,
                (&desc, dnnl_forward_inference, dnnl_convolution_direct, &src_md, &wei_md,
                 nd->bias >= 0 ? &bias_md : NULL, &dst_md, strides, pad, pad));
    ONEDNN_CALL(dnnl_primitive_desc_create, (pd, &desc, attr, c->s->engine, NULL));
done:
    return st;
}

/* A FIXED mem with the folded bias divided by the output scales, made once per node and kept
 * with its packed weights (freed with them). */
static mlic_status scaled_bias(onednn_ctx *c, const float *oscale, int *mem)
{
    onednn_state *s = c->s;
    const mlic_node *nd = &s->g->nodes[c->node];
    const int oc = nd->int8->out_c;
    mlic_status st = MLIC_OK;
    dnnl_memory_desc_t md;
    dnnl_dims_t bd = {oc};
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&md, 1, bd, dnnl_f32, dnnl_a));
    onednn_packed *pk = s->packed[c->node];
    while (pk && !dnnl_memory_desc_equal(&pk->md, &md))
        pk = pk->next;
    if (!pk) {
        float *b = onednn_alloc((size_t)oc * sizeof *b);
        if (!b || !(pk = calloc(1, sizeof *pk))) {
            free(b);
            return mlic_fail(MLIC_ERR_NOMEM, "oneDNN backend: out of memory while planning");
        }
        const float *bias = mlic_graph_param(s->g, nd->bias);
        for (int o = 0; o < oc; o++)
            b[o] = bias[o] / oscale[o];
        pk->md = md;
        pk->data = b;
        pk->next = s->packed[c->node];
        s->packed[c->node] = pk;
    }
    if ((*mem = onednn_plan_add_mem(c->p, &md, ONEDNN_MEM_FIXED, -1, pk->data)) < 0)
        return mlic_fail(MLIC_ERR_NOMEM, "oneDNN backend: out of memory while planning");
done:
    return st;
}

mlic_status onednn_plan_conv_int8(onednn_ctx *c)
{
    const mlic_graph *g = c->s->g;
    const mlic_node *nd = &g->nodes[c->node];
    const mlic_conv_int8 *q = nd->int8;
    const int oc = g->values[nd->out].c;
    mlic_status st = MLIC_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    float *oscale = NULL;
    if (q->out_c != oc || q->numel != g->params[nd->weight].numel)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "int8 weights of %s: %d x %zu, the convolution has "
                         "%d outputs and %zu weights", q->name, q->out_c, q->numel, oc,
                         g->params[nd->weight].numel);
    if (!(oscale = malloc((size_t)oc * sizeof *oscale)))
        return mlic_fail(MLIC_ERR_NOMEM, "oneDNN backend: out of memory while planning");
    for (int o = 0; o < oc; o++)
        oscale[o] = q->input_scale * q->weight_scale[o];
    const dnnl_data_type_t src_dt = mlic_graph_value_nonneg(g, nd->in[0]) ? dnnl_u8 : dnnl_s8;
    const float direct = direct_output_scale(g, nd);
    dnnl_memory_desc_t user_wei_md;
    if (direct != 0.0f) { /* codes for the readers, where oneDNN has a fast kernel for it */
        const dnnl_data_type_t dst_dt = mlic_graph_value_nonneg(g, nd->out) ? dnnl_u8 : dnnl_s8;
        if (int8_attr(c, oscale, direct, &attr) == MLIC_OK &&
            int8_pd(c, src_dt, dst_dt, attr, &user_wei_md, &pd) == MLIC_OK &&
            onednn_is_reference_impl(pd)) {
            dnnl_primitive_desc_destroy(pd);
            pd = NULL;
        }
        if (!pd && attr) {
            dnnl_primitive_attr_destroy(attr);
            attr = NULL;
        }
    }
    if (!pd && ((st = int8_attr(c, oscale, 0.0f, &attr)) != MLIC_OK ||
                (st = int8_pd(c, src_dt, dnnl_f32, attr, &user_wei_md, &pd)) != MLIC_OK))
        goto done;
    dnnl_memory_desc_t src_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    dnnl_memory_desc_t wei_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t dst_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
    int mems[4];
    if ((st = onednn_plan_src_scaled(c, nd->in[0], &src_md, 1.0f / q->input_scale, &mems[0])) ||
        (st = onednn_plan_weights(c, &user_wei_md, q->weight, &wei_md, &mems[1])) ||
        (st = onednn_plan_dst(c, &dst_md, &mems[2])) ||
        (nd->bias >= 0 && (st = scaled_bias(c, oscale, &mems[3]))))
        goto done;
    st = onednn_plan_step(c, pd, nd->bias >= 0 ? 4 : 3, args, mems);
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    free(oscale);
    return st;
}
