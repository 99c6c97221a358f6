/* A plan for one batch size: walk the folded graph in order, let each op plan its primitive,
 * track which values are still needed, then lay out the arena and run the steps. */
#include <stdlib.h>

#include "backend/onednn.h"
#include "core/error.h"

static const char *op_name(mlic_op op)
{
    switch (op) {
    case MLIC_OP_CONV: return "conv";
    case MLIC_OP_BATCHNORM: return "batchnorm";
    case MLIC_OP_RELU: return "relu";
    case MLIC_OP_RELU6: return "relu6";
    case MLIC_OP_ADD: return "add";
    case MLIC_OP_MAXPOOL: return "maxpool";
    case MLIC_OP_GLOBAL_AVGPOOL: return "global_avgpool";
    case MLIC_OP_DROPOUT: return "dropout";
    case MLIC_OP_LINEAR: return "linear";
    }
    return "?";
}

/* Dropout is the identity at inference: its output shares its input's memory. */
static mlic_status plan_identity(onednn_ctx *c)
{
    const mlic_node *nd = &c->s->g->nodes[c->node];
    int m = c->value_mem[nd->in[0]];
    if (m < 0 || !c->held[nd->in[0]])
        return mlic_fail(MLIC_ERR_INVALID_ARG, "graph: value %d is not available", nd->in[0]);
    if (nd->fused_add >= 0 || nd->fused_act != MLIC_ACT_NONE)
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "fused add/activation on dropout is not supported");
    c->value_mem[nd->out] = m;
    c->held[nd->out] = 1;
    if (c->p->mems[m].kind == ONEDNN_MEM_ARENA)
        mlic_buffer_plan_hold(c->p->bufs, c->p->mems[m].buf);
    return MLIC_OK;
}

static mlic_status plan_node(onednn_ctx *c)
{
    switch (c->s->g->nodes[c->node].op) {
    case MLIC_OP_CONV: return onednn_plan_conv(c);
    case MLIC_OP_MAXPOOL: return onednn_plan_maxpool(c);
    case MLIC_OP_GLOBAL_AVGPOOL: return onednn_plan_global_avgpool(c);
    case MLIC_OP_LINEAR: return onednn_plan_linear(c);
    case MLIC_OP_RELU:
    case MLIC_OP_RELU6: return onednn_plan_act(c);
    case MLIC_OP_ADD: return onednn_plan_add(c);
    case MLIC_OP_DROPOUT: return plan_identity(c);
    case MLIC_OP_BATCHNORM:
        return mlic_fail(MLIC_ERR_UNSUPPORTED,
                         "batch norm not folded into a convolution. HINT: pass the graph through "
                         "mlic_graph_fold_for_inference first");
    }
    return mlic_fail(MLIC_ERR_UNSUPPORTED, "unknown op %d", (int)c->s->g->nodes[c->node].op);
}

static void release(onednn_ctx *c, int v)
{
    if (v < 0 || !c->held[v])
        return;
    c->held[v] = 0;
    const onednn_mem *m = &c->p->mems[c->value_mem[v]];
    if (m->kind == ONEDNN_MEM_ARENA)
        mlic_buffer_plan_give(c->p->bufs, m->buf);
}

static mlic_status check_ids(const mlic_graph *g)
{
    if (g->input < 0 || g->input >= g->nvalues || g->output < 0 || g->output >= g->nvalues)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "graph: input/output value ids out of range");
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        int ids[4] = {nd->in[0], nd->in[1], nd->fused_add, nd->out};
        for (int k = 0; k < 4; k++)
            if (ids[k] >= g->nvalues || ids[k] < (k == 0 || k == 3 ? 0 : -1))
                return mlic_fail(MLIC_ERR_INVALID_ARG, "graph: node %d refers to value %d of %d",
                                 i, ids[k], g->nvalues);
    }
    return MLIC_OK;
}

/* Everything after the nodes: copy the output value into the caller's logits unless the last
 * primitive already wrote them there. */
static mlic_status plan_output(onednn_ctx *c)
{
    const mlic_graph *g = c->s->g;
    onednn_plan *p = c->p;
    int m = c->value_mem[g->output];
    if (m < 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "graph: output value %d is never produced",
                         g->output);
    if (p->mems[m].kind == ONEDNN_MEM_OUTPUT)
        return MLIC_OK;
    mlic_shape3 o = g->values[g->output];
    dnnl_memory_desc_t user;
    dnnl_dims_t dims = {p->n, o.c, o.h, o.w};
    if (p->mems[m].md.ndims == 2)
        dims[1] = (dnnl_dim_t)o.c * o.h * o.w;
    if (dnnl_memory_desc_init_by_tag(&user, p->mems[m].md.ndims, dims, dnnl_f32,
                                     p->mems[m].md.ndims == 2 ? dnnl_nc : dnnl_nchw) !=
        dnnl_success)
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "graph: output value has %d dimensions",
                         p->mems[m].md.ndims);
    int om = onednn_plan_add_mem(p, &user, ONEDNN_MEM_OUTPUT, -1, NULL);
    if (om < 0)
        return mlic_fail(MLIC_ERR_NOMEM, "oneDNN backend: out of memory while planning");
    return onednn_plan_reorder(c, m, om);
}

static mlic_status plan_nodes(onednn_ctx *c)
{
    const mlic_graph *g = c->s->g;
    onednn_plan *p = c->p;
    mlic_status st;
    for (int v = 0; v < g->nvalues; v++) {
        c->value_mem[v] = -1;
        c->last_use[v] = -1;
    }
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        int reads[3] = {nd->in[0], nd->in[1], nd->fused_add};
        for (int k = 0; k < 3; k++)
            if (reads[k] >= 0)
                c->last_use[reads[k]] = i;
    }
    c->last_use[g->output] = g->nnodes;

    mlic_shape3 in = g->values[g->input];
    dnnl_memory_desc_t md;
    if ((st = onednn_md_4d(&md, p->n, in.c, in.h, in.w, dnnl_nchw)) != MLIC_OK)
        return st;
    if ((c->value_mem[g->input] = onednn_plan_add_mem(p, &md, ONEDNN_MEM_INPUT, -1, NULL)) < 0)
        return mlic_fail(MLIC_ERR_NOMEM, "oneDNN backend: out of memory while planning");
    c->held[g->input] = 1;

    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        c->node = i;
        c->ntemps = 0;
        if ((st = plan_node(c)) != MLIC_OK)
            return mlic_fail_prefix(st, "oneDNN backend, node %d (%s '%s'): ", i, op_name(nd->op),
                                    nd->name);
        for (int k = 0; k < c->ntemps; k++)
            mlic_buffer_plan_give(p->bufs, c->temps[k]);
        int done[4] = {nd->in[0], nd->in[1], nd->fused_add, nd->out};
        for (int k = 0; k < 4; k++)
            if (done[k] >= 0 && c->last_use[done[k]] <= i)
                release(c, done[k]);
    }
    return plan_output(c);
}

mlic_status onednn_plan_build(onednn_state *s, int n, onednn_plan **out)
{
    const mlic_graph *g = s->g;
    mlic_status st = check_ids(g);
    if (st != MLIC_OK)
        return st;
    onednn_plan *p = calloc(1, sizeof *p);
    onednn_ctx c = {.s = s, .p = p};
    c.value_mem = calloc((size_t)g->nvalues, sizeof(int));
    c.held = calloc((size_t)g->nvalues, sizeof(int));
    c.last_use = calloc((size_t)g->nvalues, sizeof(int));
    if (!p || !c.value_mem || !c.held || !c.last_use) {
        st = mlic_fail(MLIC_ERR_NOMEM, "oneDNN backend: out of memory while planning");
    } else if ((st = mlic_buffer_plan_create(&p->bufs, ONEDNN_ALIGN)) == MLIC_OK) {
        p->n = n;
        st = plan_nodes(&c);
    }
    free(c.value_mem);
    free(c.held);
    free(c.last_use);
    if (st != MLIC_OK) {
        onednn_plan_free(p);
        return st;
    }
    p->arena_size = mlic_buffer_plan_total(p->bufs);
    *out = p;
    return MLIC_OK;
}

void onednn_plan_free(onednn_plan *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nsteps; i++)
        dnnl_primitive_destroy(p->steps[i].prim);
    for (int i = 0; i < p->nmems; i++)
        if (p->mems[i].mem)
            dnnl_memory_destroy(p->mems[i].mem);
    free(p->steps);
    free(p->mems);
    mlic_buffer_plan_destroy(p->bufs);
    free(p);
}

static void *mem_handle(const onednn_state *s, const onednn_plan *p, const onednn_mem *m)
{
    switch (m->kind) {
    case ONEDNN_MEM_ARENA: return (char *)s->arena + mlic_buffer_plan_offset(p->bufs, m->buf);
    case ONEDNN_MEM_SCRATCH: return s->scratch;
    case ONEDNN_MEM_FIXED: return m->ptr;
    case ONEDNN_MEM_INPUT:
    case ONEDNN_MEM_OUTPUT: break;
    }
    return DNNL_MEMORY_NONE; /* bound at each run */
}

mlic_status onednn_plan_finish(onednn_state *s, onednn_plan *p)
{
    mlic_status st = MLIC_OK;
    for (int i = 0; i < p->nmems; i++) {
        onednn_mem *m = &p->mems[i];
        void *h = mem_handle(s, p, m);
        if (!m->mem)
            ONEDNN_CALL(dnnl_memory_create, (&m->mem, &m->md, s->engine, h));
        else if (m->kind == ONEDNN_MEM_ARENA || m->kind == ONEDNN_MEM_SCRATCH)
            ONEDNN_CALL(dnnl_memory_set_data_handle, (m->mem, h));
    }
    for (int i = 0; i < p->nsteps; i++) {
        onednn_step *step = &p->steps[i];
        for (int k = 0; k < step->nargs; k++) {
            step->exec[k].arg = step->arg[k];
            step->exec[k].memory = p->mems[step->mem[k]].mem;
        }
    }
    p->bound_arena = s->arena;
    p->bound_scratch = s->scratch;
done:
    return st;
}

mlic_status onednn_plan_execute(onednn_state *s, onednn_plan *p, float *logits, const float *input)
{
    mlic_status st = MLIC_OK;
    for (int i = 0; i < p->nmems; i++) {
        onednn_mem *m = &p->mems[i];
        /* Steps only read the input: casting away const is safe. */
        if (m->kind == ONEDNN_MEM_INPUT)
            ONEDNN_CALL(dnnl_memory_set_data_handle, (m->mem, (void *)input));
        else if (m->kind == ONEDNN_MEM_OUTPUT)
            ONEDNN_CALL(dnnl_memory_set_data_handle, (m->mem, logits));
    }
    for (int i = 0; i < p->nsteps; i++)
        ONEDNN_CALL(dnnl_primitive_execute,
                    (p->steps[i].prim, s->stream, p->steps[i].nargs, p->steps[i].exec));
    ONEDNN_CALL(dnnl_stream_wait, (s->stream));
done:
    return st;
}
