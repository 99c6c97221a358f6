/* Building blocks of a plan (see onednn.h): memories, arena buffers, steps, packed weights. */
#include "backend/onednn.h"

#include <dnnl_debug.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/error.h"

void *onednn_alloc(size_t size)
{
    const size_t huge = (size_t)2 << 20;
    size_t align = size >= huge ? huge : ONEDNN_ALIGN;
    size = (size + align - 1) / align * align;
    void *p = aligned_alloc(align, size ? size : align);
#ifdef MADV_HUGEPAGE
    if (p && align == huge)
        madvise(p, size, MADV_HUGEPAGE); /* only advice: failure just means small pages */
#endif
    return p;
}

mlic_status onednn_fail(dnnl_status_t s, const char *call)
{
    if (s == dnnl_unimplemented)
        return mlic_fail(MLIC_ERR_BACKEND,
                         "oneDNN %s failed: %s (no implementation for this layer's shape on this "
                         "CPU). HINT: use the reference backend for this model",
                         call, dnnl_status2str(s));
    if (s == dnnl_out_of_memory)
        return mlic_fail(MLIC_ERR_NOMEM, "oneDNN %s failed: %s. HINT: use a smaller batch size",
                         call, dnnl_status2str(s));
    return mlic_fail(MLIC_ERR_BACKEND, "oneDNN %s failed: %s. HINT: ONEDNN_VERBOSE=1 shows what "
                     "oneDNN was running", call, dnnl_status2str(s));
}

dnnl_format_tag_t onednn_blocked_tag(void)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if ((isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core)
        return dnnl_nChw16c;
    if ((isa & dnnl_cpu_isa_avx2) == dnnl_cpu_isa_avx2)
        return dnnl_nChw8c;
    return dnnl_format_tag_any;
}

const char *onednn_bf16_unavailable(void)
{
    static _Thread_local char why[160];
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if ((isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16)
        return NULL;
    snprintf(why, sizeof why, "this CPU has neither AVX512_BF16 nor AMX (oneDNN's instruction "
             "set here: %s)", dnnl_cpu_isa2str(isa));
    return why;
}

mlic_status onednn_md_4d_dt(dnnl_memory_desc_t *md, dnnl_data_type_t dt, int n, int c, int h,
                            int w, dnnl_format_tag_t tag)
{
    mlic_status st = MLIC_OK;
    dnnl_dims_t dims = {n, c, h, w};
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (md, 4, dims, dt, tag));
done:
    return st;
}

mlic_status onednn_md_4d(dnnl_memory_desc_t *md, int n, int c, int h, int w, dnnl_format_tag_t tag)
{
    return onednn_md_4d_dt(md, dnnl_f32, n, c, h, w, tag);
}

static int grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *a = realloc(*arr, (size_t)ncap * elem);
    if (!a)
        return -1;
    memset((char *)a + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
    *arr = a;
    *cap = ncap;
    return 0;
}

int onednn_plan_add_mem(onednn_plan *p, const dnnl_memory_desc_t *md, onednn_mem_kind kind,
                        int buf, void *ptr)
{
    dnnl_memory_desc_t copy = *md; /* md may point into p->mems, which grow() moves */
    if (grow((void **)&p->mems, &p->cap_mems, p->nmems + 1, sizeof *p->mems))
        return -1;
    onednn_mem *m = &p->mems[p->nmems];
    m->md = copy;
    m->kind = kind;
    m->buf = buf;
    m->ptr = ptr;
    m->mem = NULL;
    return p->nmems++;
}

static int arena_mem(onednn_plan *p, const dnnl_memory_desc_t *md)
{
    int buf;
    if (mlic_buffer_plan_take(p->bufs, dnnl_memory_desc_get_size(md), &buf) != MLIC_OK)
        return -1;
    int m = onednn_plan_add_mem(p, md, ONEDNN_MEM_ARENA, buf, NULL);
    if (m < 0)
        mlic_buffer_plan_give(p->bufs, buf);
    return m;
}

static mlic_status nomem(void)
{
    return mlic_fail(MLIC_ERR_NOMEM, "oneDNN backend: out of memory while planning");
}

mlic_status onednn_plan_value_md(const onednn_ctx *c, int value, dnnl_memory_desc_t *md)
{
    int m = c->value_mem[value];
    if (m < 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "graph: value %d is read before it is produced",
                         value);
    *md = c->p->mems[m].md;
    return MLIC_OK;
}

/* The memory that holds value now: an error when it is not produced yet or already given up. */
static mlic_status live_mem(const onednn_ctx *c, int value, int *have)
{
    *have = c->value_mem[value];
    if (*have < 0 || !c->held[value])
        return mlic_fail(MLIC_ERR_INVALID_ARG,
                         "graph: value %d is read before it is produced or after its last use",
                         value);
    return MLIC_OK;
}

static mlic_status reorder_step(onednn_ctx *c, int src_mem, int dst_mem, const float *scale);

/* value in layout want: its own memory when that is the layout, else a reorder (scaled by *scale
 * when scale is not NULL) into a temporary arena memory. */
static mlic_status src_in(onednn_ctx *c, int value, const dnnl_memory_desc_t *want,
                          const float *scale, int *mem)
{
    onednn_plan *p = c->p;
    int have;
    mlic_status st = live_mem(c, value, &have);
    if (st != MLIC_OK)
        return st;
    if (!scale && dnnl_memory_desc_equal(&p->mems[have].md, want)) {
        *mem = have;
        return MLIC_OK;
    }
    if (c->ntemps == (int)(sizeof c->temps / sizeof c->temps[0]))
        return mlic_fail(MLIC_ERR_INTERNAL, "oneDNN backend: too many reordered inputs");
    int m = arena_mem(p, want);
    if (m < 0)
        return nomem();
    c->temps[c->ntemps++] = p->mems[m].buf;
    *mem = m;
    return reorder_step(c, have, m, scale);
}

mlic_status onednn_plan_src(onednn_ctx *c, int value, const dnnl_memory_desc_t *want, int *mem)
{
    return src_in(c, value, want, NULL, mem);
}

/* The caller's logits (n, K) seen with ndims dimensions, or 0 if ndims has no plain form. */
static int output_md(const onednn_ctx *c, int ndims, dnnl_memory_desc_t *md)
{
    const mlic_graph *g = c->s->g;
    mlic_shape3 o = g->values[g->output];
    if (ndims == 4) {
        dnnl_dims_t dims = {c->p->n, o.c, o.h, o.w};
        return dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, dnnl_nchw) == dnnl_success;
    }
    if (ndims == 2) {
        dnnl_dims_t dims = {c->p->n, (dnnl_dim_t)o.c * o.h * o.w};
        return dnnl_memory_desc_init_by_tag(md, 2, dims, dnnl_f32, dnnl_nc) == dnnl_success;
    }
    return 0;
}

/* A fresh mem for the node's output value: the caller's logits when this is the graph's output
 * in a plain layout, else an arena buffer. */
static mlic_status new_dst(onednn_ctx *c, const dnnl_memory_desc_t *md, int *mem)
{
    const mlic_graph *g = c->s->g;
    int out = g->nodes[c->node].out;
    dnnl_memory_desc_t user;
    int m;
    if (out == g->output && output_md(c, md->ndims, &user) && dnnl_memory_desc_equal(&user, md))
        m = onednn_plan_add_mem(c->p, md, ONEDNN_MEM_OUTPUT, -1, NULL);
    else
        m = arena_mem(c->p, md);
    if (m < 0)
        return nomem();
    c->value_mem[out] = m;
    c->held[out] = 1;
    *mem = m;
    return MLIC_OK;
}

/* True when value v's buffer may be overwritten by this node's output: v is read last here,
 * nothing else holds its buffer, and its layout is md. */
static int reusable(const onednn_ctx *c, int v, const dnnl_memory_desc_t *md)
{
    const mlic_graph *g = c->s->g;
    if (v < 0 || !c->held[v] || c->last_use[v] != c->node || g->nodes[c->node].out == g->output)
        return 0;
    const onednn_mem *m = &c->p->mems[c->value_mem[v]];
    return m->kind == ONEDNN_MEM_ARENA && mlic_buffer_plan_holders(c->p->bufs, m->buf) == 1 &&
           dnnl_memory_desc_equal(&m->md, md);
}

static void alias(onednn_ctx *c, int v, int *mem)
{
    int out = c->s->g->nodes[c->node].out;
    int m = c->value_mem[v];
    c->value_mem[out] = m;
    c->held[out] = 1;
    mlic_buffer_plan_hold(c->p->bufs, c->p->mems[m].buf);
    *mem = m;
}

mlic_status onednn_plan_dst(onednn_ctx *c, const dnnl_memory_desc_t *md, int *mem)
{
    const mlic_node *nd = &c->s->g->nodes[c->node];
    int r = nd->fused_add;
    if (r < 0)
        return new_dst(c, md, mem);
    /* The residual must not be an input the primitive reads while it writes dst. */
    if (r != nd->in[0] && r != nd->in[1] && reusable(c, r, md)) {
        alias(c, r, mem);
        return MLIC_OK;
    }
    if (c->value_mem[r] < 0 || !c->held[r])
        return mlic_fail(MLIC_ERR_INVALID_ARG, "graph: residual value %d is not available", r);
    mlic_status st = new_dst(c, md, mem);
    if (st == MLIC_OK)
        st = onednn_plan_reorder(c, c->value_mem[r], *mem);
    return st;
}

mlic_status onednn_plan_dst_inplace(onednn_ctx *c, const dnnl_memory_desc_t *md, int value,
                                    int *mem)
{
    if (reusable(c, value, md)) {
        alias(c, value, mem);
        return MLIC_OK;
    }
    return new_dst(c, md, mem);
}

mlic_status onednn_plan_attr(onednn_ctx *c, int with_fusion, dnnl_primitive_attr_t *attr)
{
    mlic_status st = MLIC_OK;
    dnnl_post_ops_t po = NULL;
    const mlic_node *nd = with_fusion ? &c->s->g->nodes[c->node] : NULL;
    if ((st = onednn_attr_create(attr, ONEDNN_ATTR_USER_SCRATCHPAD)) != MLIC_OK)
        return st;
    if (!nd || (nd->fused_add < 0 && nd->fused_act == MLIC_ACT_NONE))
        goto done;
    ONEDNN_CALL(dnnl_post_ops_create, (&po));
    if (nd->fused_add >= 0)
        ONEDNN_CALL(dnnl_post_ops_append_sum, (po, 1.0f));
    if (nd->fused_act == MLIC_ACT_RELU)
        ONEDNN_CALL(dnnl_post_ops_append_eltwise, (po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
    else if (nd->fused_act == MLIC_ACT_RELU6)
        ONEDNN_CALL(dnnl_post_ops_append_eltwise, (po, 1.0f, dnnl_eltwise_clip, 0.0f, 6.0f));
    ONEDNN_CALL(dnnl_primitive_attr_set_post_ops, (*attr, po));
done:
    if (po)
        dnnl_post_ops_destroy(po);
    if (st != MLIC_OK && *attr) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return st;
}

mlic_status onednn_plan_pd(onednn_ctx *c, int with_fusion, const_dnnl_op_desc_t desc,
                           dnnl_primitive_desc_t *pd)
{
    dnnl_primitive_attr_t attr = NULL;
    mlic_status st = onednn_plan_attr(c, with_fusion, &attr);
    if (st != MLIC_OK)
        return st;
    ONEDNN_CALL(dnnl_primitive_desc_create, (pd, desc, attr, c->s->engine, NULL));
done:
    dnnl_primitive_attr_destroy(attr);
    return st;
}

mlic_status onednn_plan_step(onednn_ctx *c, const_dnnl_primitive_desc_t pd, int nargs,
                             const int *args, const int *mems)
{
    mlic_status st = MLIC_OK;
    onednn_plan *p = c->p;
    dnnl_primitive_t prim = NULL;
    if (nargs + 1 > ONEDNN_MAX_ARGS)
        return mlic_fail(MLIC_ERR_INTERNAL, "oneDNN backend: too many primitive arguments");
    ONEDNN_CALL(dnnl_primitive_create, (&prim, pd));
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t ssize = smd ? dnnl_memory_desc_get_size(smd) : 0;
    int scratch = -1;
    if (ssize > 0 && (scratch = onednn_plan_add_mem(p, smd, ONEDNN_MEM_SCRATCH, -1, NULL)) < 0) {
        st = nomem();
        goto done;
    }
    if (grow((void **)&p->steps, &p->cap_steps, p->nsteps + 1, sizeof *p->steps)) {
        st = nomem();
        goto done;
    }
    onednn_step *step = &p->steps[p->nsteps++];
    step->prim = prim;
    prim = NULL;
    step->nargs = nargs;
    for (int i = 0; i < nargs; i++) {
        step->arg[i] = args[i];
        step->mem[i] = mems[i];
    }
    if (scratch >= 0) {
        step->arg[step->nargs] = DNNL_ARG_SCRATCHPAD;
        step->mem[step->nargs++] = scratch;
        if (ssize > p->scratch_size)
            p->scratch_size = ssize;
    }
done:
    if (prim)
        dnnl_primitive_destroy(prim);
    return st;
}

/* A reorder step; with scale (non-NULL) each value is multiplied by *scale on the way, which a
 * reorder into u8/s8 then rounds and saturates. */
static mlic_status reorder_step(onednn_ctx *c, int src_mem, int dst_mem, const float *scale)
{
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    mlic_status st = onednn_attr_create(&attr, ONEDNN_ATTR_USER_SCRATCHPAD);
    if (st != MLIC_OK)
        return st;
    if (scale)
        ONEDNN_CALL(dnnl_primitive_attr_set_output_scales, (attr, 1, 0, scale));
    dnnl_engine_t e = c->s->engine;
    ONEDNN_CALL(dnnl_reorder_primitive_desc_create,
                (&pd, &c->p->mems[src_mem].md, e, &c->p->mems[dst_mem].md, e, attr));
    st = onednn_plan_step(c, pd, 2, (const int[]){DNNL_ARG_FROM, DNNL_ARG_TO},
                          (const int[]){src_mem, dst_mem});
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

mlic_status onednn_plan_reorder(onednn_ctx *c, int src_mem, int dst_mem)
{
    return reorder_step(c, src_mem, dst_mem, NULL);
}

mlic_status onednn_plan_src_scaled(onednn_ctx *c, int value, const dnnl_memory_desc_t *want,
                                   float scale, int *mem)
{
    int have;
    mlic_status st = live_mem(c, value, &have);
    if (st != MLIC_OK)
        return st;
    if (c->p->mems[have].md.data_type == want->data_type) /* its producer wrote these codes */
        return src_in(c, value, want, NULL, mem);
    return src_in(c, value, want, &scale, mem);
}

/* Reorder data (layout from) into a new buffer in layout to, once, on the backend's stream. */
static mlic_status pack(onednn_state *s, void **out, const dnnl_memory_desc_t *from,
                        const void *data, const dnnl_memory_desc_t *to)
{
    mlic_status st = MLIC_OK;
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    void *buf = onednn_alloc(dnnl_memory_desc_get_size(to));
    if (!buf)
        return nomem();
    /* The reorder only reads its source: casting away const is safe. */
    ONEDNN_CALL(dnnl_memory_create, (&src, from, s->engine, (void *)data));
    ONEDNN_CALL(dnnl_memory_create, (&dst, to, s->engine, buf));
    if ((st = onednn_reorder_pd(&pd, s->engine, from, to, 0)) != MLIC_OK)
        goto done;
    ONEDNN_CALL(dnnl_primitive_create, (&prim, pd));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    ONEDNN_CALL(dnnl_primitive_execute, (prim, s->stream, 2, args));
    ONEDNN_CALL(dnnl_stream_wait, (s->stream));
done:
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (src)
        dnnl_memory_destroy(src);
    if (dst)
        dnnl_memory_destroy(dst);
    if (st != MLIC_OK)
        free(buf);
    else
        *out = buf;
    return st;
}

mlic_status onednn_plan_weights(onednn_ctx *c, const dnnl_memory_desc_t *user_md,
                                const void *data, const dnnl_memory_desc_t *want, int *mem)
{
    onednn_state *s = c->s;
    void *ptr = NULL;
    if (dnnl_memory_desc_equal(user_md, want)) {
        ptr = (void *)data; /* primitives only read weights */
    } else {
        onednn_packed *pk = s->packed[c->node];
        while (pk && !dnnl_memory_desc_equal(&pk->md, want))
            pk = pk->next;
        if (!pk) {
            if (!(pk = calloc(1, sizeof *pk)))
                return nomem();
            mlic_status st = pack(s, &pk->data, user_md, data, want);
            if (st != MLIC_OK) {
                free(pk);
                return st;
            }
            pk->md = *want;
            pk->next = s->packed[c->node];
            s->packed[c->node] = pk;
        }
        ptr = pk->data;
    }
    if ((*mem = onednn_plan_add_mem(c->p, want, ONEDNN_MEM_FIXED, -1, ptr)) < 0)
        return nomem();
    return MLIC_OK;
}

mlic_status onednn_plan_param(onednn_ctx *c, int param, int *mem)
{
    mlic_status st = MLIC_OK;
    const mlic_graph *g = c->s->g;
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {(dnnl_dim_t)g->params[param].numel};
    ONEDNN_CALL(dnnl_memory_desc_init_by_tag, (&md, 1, dims, dnnl_f32, dnnl_a));
    if ((*mem = onednn_plan_add_mem(c->p, &md, ONEDNN_MEM_FIXED, -1,
                                    mlic_graph_param(g, param))) < 0)
        st = nomem();
done:
    return st;
}

mlic_status onednn_plan_weighted_step(onednn_ctx *c, const_dnnl_primitive_desc_t pd,
                                      const dnnl_memory_desc_t *user_wei_md)
{
    const mlic_graph *g = c->s->g;
    const mlic_node *nd = &g->nodes[c->node];
    mlic_status st;
    dnnl_memory_desc_t src_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    dnnl_memory_desc_t wei_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_desc_t dst_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
    int mems[4];
    if ((st = onednn_plan_src(c, nd->in[0], &src_md, &mems[0])) != MLIC_OK ||
        (st = onednn_plan_weights(c, user_wei_md, mlic_graph_param(g, nd->weight), &wei_md,
                                  &mems[1])) != MLIC_OK ||
        (st = onednn_plan_dst(c, &dst_md, &mems[2])) != MLIC_OK ||
        (nd->bias >= 0 && (st = onednn_plan_param(c, nd->bias, &mems[3])) != MLIC_OK))
        return st;
    return onednn_plan_step(c, pd, nd->bias >= 0 ? 4 : 3, args, mems);
}
