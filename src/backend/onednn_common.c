/* What inference (onednn_backend.c, onednn_build.c ...) and training (onednn_train*.c) share
 * besides onednn_plan.c's status mapping, allocator, layout choice and activation
 * descriptors: the engine, primitive attributes, reorders, convolution layouts and the test
 * for oneDNN's reference kernels. */
#include <string.h>

#include "backend/onednn.h"

mlic_status onednn_engine_open(dnnl_engine_t *engine, dnnl_stream_t *stream)
{
    mlic_status st = MLIC_OK;
    *engine = NULL;
    *stream = NULL;
    ONEDNN_CALL(dnnl_engine_create, (engine, dnnl_cpu, 0));
    ONEDNN_CALL(dnnl_stream_create, (stream, *engine, dnnl_stream_default_flags));
done:
    if (st != MLIC_OK)
        onednn_engine_close(engine, stream);
    return st;
}

void onednn_engine_close(dnnl_engine_t *engine, dnnl_stream_t *stream)
{
    if (*stream)
        dnnl_stream_destroy(*stream);
    if (*engine)
        dnnl_engine_destroy(*engine);
    *stream = NULL;
    *engine = NULL;
}

mlic_status onednn_attr_create(dnnl_primitive_attr_t *attr, unsigned flags)
{
    mlic_status st = MLIC_OK;
    dnnl_post_ops_t ops = NULL;
    *attr = NULL;
    ONEDNN_CALL(dnnl_primitive_attr_create, (attr));
    if (flags & ONEDNN_ATTR_USER_SCRATCHPAD)
        ONEDNN_CALL(dnnl_primitive_attr_set_scratchpad_mode, (*attr, dnnl_scratchpad_mode_user));
    if (flags & ONEDNN_ATTR_SUM) {
        ONEDNN_CALL(dnnl_post_ops_create, (&ops));
        ONEDNN_CALL(dnnl_post_ops_append_sum, (ops, 1.0f));
        ONEDNN_CALL(dnnl_primitive_attr_set_post_ops, (*attr, ops));
    }
done:
    if (ops)
        dnnl_post_ops_destroy(ops);
    if (st != MLIC_OK && *attr) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return st;
}

mlic_status onednn_reorder_pd(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                              const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                              unsigned flags)
{
    mlic_status st = MLIC_OK;
    dnnl_primitive_attr_t attr = NULL;
    *pd = NULL;
    if (flags && (st = onednn_attr_create(&attr, flags)) != MLIC_OK)
        return st;
    ONEDNN_CALL(dnnl_reorder_primitive_desc_create, (pd, from, engine, to, engine, attr));
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

mlic_status onednn_md_conv_weights(dnnl_memory_desc_t *prim_md, dnnl_memory_desc_t *user_md,
                                   dnnl_data_type_t dt, int out, int in, int k, int groups)
{
    mlic_status st = MLIC_OK;
    if (groups == 1) {
        dnnl_dims_t wd = {out, in, k, k};
        ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (prim_md, 4, wd, dt, dnnl_format_tag_any));
        ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (user_md, 4, wd, dnnl_f32, dnnl_oihw));
    } else {
        dnnl_dims_t wd = {groups, out / groups, in / groups, k, k};
        ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (prim_md, 5, wd, dt, dnnl_format_tag_any));
        ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (user_md, 5, wd, dnnl_f32, dnnl_goihw));
    }
done:
    return st;
}

dnnl_format_tag_t onednn_conv_src_tag(int channels)
{
    return channels < 8 ? dnnl_format_tag_any : onednn_blocked_tag();
}

int onednn_is_reference_impl(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    return dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
           impl && !strncmp(impl, "ref", 3);
}
