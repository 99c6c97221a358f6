/* The oneDNN training op table: its state (engine, stream, scratch arena, per-node caches),
 * the operands that carry data between the executor's NCHW buffers and a primitive's layouts,
 * and the table itself. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend/onednn_train.h"
#include "core/error.h"

static mlic_status nomem(const mlic_graph *g)
{
    return mlic_fail(MLIC_ERR_NOMEM, "training graph %s: out of memory for the oneDNN backend. "
                     "HINT: use a smaller --batch-size or --crop", g->arch);
}

/* ---------------------------------------------------------------- state */

static void state_destroy(void *state)
{
    mlic_train_onednn_state *s = state;
    if (!s)
        return;
    for (int i = 0; s->node && i < s->g->nnodes; i++)
        if (s->node[i])
            s->node_free[i](s->node[i]);
    free(s->node);
    free(s->node_free);
    free(s->needs_grad);
    free(s->last_reader);
    free(s->arena);
    onednn_engine_close(&s->engine, &s->stream);
    free(s);
}

/* The executor's rule (train_graph.c): a value gets a gradient when an input of its producer
 * does or the producer has a trainable parameter. */
static void mark_gradients(mlic_train_onednn_state *s)
{
    const mlic_graph *g = s->g;
    for (int v = 0; v < g->nvalues; v++)
        s->last_reader[v] = -1;
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        int grad = (nd->weight >= 0 && g->params[nd->weight].trainable) ||
                   (nd->bias >= 0 && g->params[nd->bias].trainable);
        for (int k = 0; k < 2; k++)
            if (nd->in[k] >= 0) {
                grad |= s->needs_grad[nd->in[k]];
                s->last_reader[nd->in[k]] = i;
            }
        s->needs_grad[nd->out] = (uint8_t)grad;
    }
}

static mlic_status state_create(void **out, const mlic_graph *g, int winograd)
{
    *out = NULL;
    mlic_status st = MLIC_OK;
    mlic_train_onednn_state *s = calloc(1, sizeof *s);
    if (!s)
        return nomem(g);
    s->g = g;
    s->blocked = onednn_blocked_tag();
    s->winograd = winograd;
    s->needs_grad = calloc((size_t)g->nvalues, 1);
    s->last_reader = calloc((size_t)g->nvalues, sizeof *s->last_reader);
    s->node = calloc((size_t)g->nnodes, sizeof *s->node);
    s->node_free = calloc((size_t)g->nnodes, sizeof *s->node_free);
    if (!s->needs_grad || !s->last_reader || !s->node || !s->node_free) {
        st = nomem(g);
        goto done;
    }
    mark_gradients(s);
    st = onednn_engine_open(&s->engine, &s->stream);
done:
    if (st != MLIC_OK)
        state_destroy(s);
    else
        *out = s;
    return st;
}

static mlic_status state_create_winograd(void **out, const mlic_graph *g, int max_batch)
{
    return state_create(out, g, 1);
}

static mlic_status state_create_direct(void **out, const mlic_graph *g, int max_batch)
{
    return state_create(out, g, 0);
}

mlic_train_onednn_role mlic_train_onednn_grad_role(const mlic_train_onednn_state *s, int i,
                                                   int k)
{
    const mlic_node *nd = &s->g->nodes[i];
    const int first_mention = k == 0 || nd->in[1] != nd->in[0];
    return s->last_reader[nd->in[k]] == i && first_mention ? ONEDNN_TRAIN_OUT
                                                           : ONEDNN_TRAIN_OUT_ADD;
}

mlic_status mlic_train_onednn_reserve(mlic_train_onednn_state *s, size_t bytes)
{
    if (bytes <= s->arena_size)
        return MLIC_OK;
    free(s->arena);
    s->arena_size = 0;
    s->arena = onednn_alloc(bytes);
    if (!s->arena)
        return nomem(s->g);
    s->arena_size = bytes;
    return MLIC_OK;
}

/* ---------------------------------------------------------------- operands */

static size_t reserve_bytes(size_t *cursor, size_t bytes)
{
    const size_t at = (*cursor + ONEDNN_ALIGN - 1) / ONEDNN_ALIGN * ONEDNN_ALIGN;
    *cursor = at + bytes;
    return at;
}

mlic_status mlic_train_onednn_arena_mem(dnnl_memory_t *mem, size_t *offset,
                                        mlic_train_onednn_state *s, const dnnl_memory_desc_t *md,
                                        size_t *cursor)
{
    mlic_status st = MLIC_OK;
    *offset = reserve_bytes(cursor, dnnl_memory_desc_get_size(md));
    ONEDNN_CALL(dnnl_memory_create, (mem, md, s->engine, DNNL_MEMORY_NONE));
done:
    return st;
}

mlic_status mlic_train_onednn_operand_init(mlic_train_onednn_operand *o,
                                           mlic_train_onednn_state *s,
                                           const dnnl_memory_desc_t *user_md,
                                           const dnnl_memory_desc_t *prim_md,
                                           mlic_train_onednn_role role, size_t *cursor)
{
    mlic_status st = MLIC_OK;
    dnnl_primitive_desc_t pd = NULL;
    memset(o, 0, sizeof *o);
    o->role = role;
    if (role != ONEDNN_TRAIN_OUT_ADD && dnnl_memory_desc_equal(user_md, prim_md)) {
        ONEDNN_CALL(dnnl_memory_create, (&o->mem, prim_md, s->engine, DNNL_MEMORY_NONE));
        return MLIC_OK;
    }
    if ((st = mlic_train_onednn_arena_mem(&o->mem, &o->offset, s, prim_md, cursor)) != MLIC_OK)
        goto done;
    ONEDNN_CALL(dnnl_memory_create, (&o->user, user_md, s->engine, DNNL_MEMORY_NONE));
    if ((st = role == ONEDNN_TRAIN_IN
                  ? onednn_reorder_pd(&pd, s->engine, user_md, prim_md, 0)
                  : onednn_reorder_pd(&pd, s->engine, prim_md, user_md,
                                      role == ONEDNN_TRAIN_OUT_ADD ? ONEDNN_ATTR_SUM : 0)) !=
        MLIC_OK)
        goto done;
    ONEDNN_CALL(dnnl_primitive_create, (&o->reorder, pd));
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return st;
}

void mlic_train_onednn_operand_free(mlic_train_onednn_operand *o)
{
    if (o->reorder)
        dnnl_primitive_destroy(o->reorder);
    if (o->user)
        dnnl_memory_destroy(o->user);
    if (o->mem)
        dnnl_memory_destroy(o->mem);
    memset(o, 0, sizeof *o);
}

mlic_status mlic_train_onednn_bind_arena(dnnl_memory_t mem, mlic_train_onednn_state *s,
                                         size_t offset)
{
    mlic_status st = MLIC_OK;
    ONEDNN_CALL(dnnl_memory_set_data_handle, (mem, (char *)s->arena + offset));
done:
    return st;
}

mlic_status mlic_train_onednn_execute(mlic_train_onednn_state *s, dnnl_primitive_t prim,
                                      int nargs, const dnnl_exec_arg_t *args)
{
    mlic_status st = MLIC_OK;
    ONEDNN_CALL(dnnl_primitive_execute, (prim, s->stream, nargs, args));
    ONEDNN_CALL(dnnl_stream_wait, (s->stream));
done:
    return st;
}

static mlic_status run_reorder(mlic_train_onednn_state *s, const mlic_train_onednn_operand *o,
                               int to_user)
{
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, to_user ? o->mem : o->user},
                               {DNNL_ARG_TO, to_user ? o->user : o->mem}};
    return mlic_train_onednn_execute(s, o->reorder, 2, args);
}

/* The executor's buffers are read-only for an input; oneDNN's handles are not const. */
mlic_status mlic_train_onednn_operand_bind(mlic_train_onednn_operand *o,
                                           mlic_train_onednn_state *s, const float *user)
{
    mlic_status st = MLIC_OK;
    if (!o->user) {
        ONEDNN_CALL(dnnl_memory_set_data_handle, (o->mem, (void *)user));
        return MLIC_OK;
    }
    ONEDNN_CALL(dnnl_memory_set_data_handle, (o->user, (void *)user));
    if ((st = mlic_train_onednn_bind_arena(o->mem, s, o->offset)) != MLIC_OK)
        goto done;
    if (o->role == ONEDNN_TRAIN_IN)
        st = run_reorder(s, o, 0);
done:
    return st;
}

mlic_status mlic_train_onednn_operand_finish(mlic_train_onednn_operand *o,
                                             mlic_train_onednn_state *s)
{
    return o->user && o->role != ONEDNN_TRAIN_IN ? run_reorder(s, o, 1) : MLIC_OK;
}

/* ---------------------------------------------------------------- calls and plans */

mlic_status mlic_train_onednn_call_init(mlic_train_onednn_call *k, const_dnnl_primitive_desc_t pd)
{
    mlic_status st = MLIC_OK;
    ONEDNN_CALL(dnnl_primitive_create, (&k->prim, pd));
done:
    return st;
}

mlic_status mlic_train_onednn_call_arg(mlic_train_onednn_call *k, mlic_train_onednn_state *s,
                                       int arg, const dnnl_memory_desc_t *user_md,
                                       const dnnl_memory_desc_t *prim_md,
                                       mlic_train_onednn_role role, size_t *cursor)
{
    if (k->nargs == MLIC_TRAIN_ONEDNN_MAX_ARGS)
        return mlic_fail(MLIC_ERR_INTERNAL, "oneDNN training call: too many arguments");
    k->arg[k->nargs] = arg;
    return mlic_train_onednn_operand_init(&k->op[k->nargs++], s, user_md, prim_md, role, cursor);
}

mlic_status mlic_train_onednn_call_run(mlic_train_onednn_call *k, mlic_train_onednn_state *s,
                                       const float *const *user)
{
    dnnl_exec_arg_t args[MLIC_TRAIN_ONEDNN_MAX_ARGS];
    mlic_status st = MLIC_OK;
    for (int a = 0; a < k->nargs && st == MLIC_OK; a++) {
        st = mlic_train_onednn_operand_bind(&k->op[a], s, user[a]);
        args[a] = (dnnl_exec_arg_t){k->arg[a], k->op[a].mem};
    }
    if (st == MLIC_OK)
        st = mlic_train_onednn_execute(s, k->prim, k->nargs, args);
    for (int a = 0; a < k->nargs && st == MLIC_OK; a++)
        st = mlic_train_onednn_operand_finish(&k->op[a], s);
    return st;
}

void mlic_train_onednn_call_free(mlic_train_onednn_call *k)
{
    for (int a = 0; a < k->nargs; a++)
        mlic_train_onednn_operand_free(&k->op[a]);
    if (k->prim)
        dnnl_primitive_destroy(k->prim);
    memset(k, 0, sizeof *k);
}

static void plan_backward_free(mlic_train_onednn_plan *p)
{
    mlic_train_onednn_call_free(&p->bwd[0]);
    mlic_train_onednn_call_free(&p->bwd[1]);
    p->backward_ready = 0;
}

static void plans_free(void *head)
{
    for (mlic_train_onednn_plan *p = head, *next; p; p = next) {
        next = p->next;
        plan_backward_free(p);
        mlic_train_onednn_call_free(&p->fwd);
        if (p->fwd_pd)
            dnnl_primitive_desc_destroy(p->fwd_pd);
        free(p);
    }
}

static mlic_train_onednn_plan *find_plan(mlic_train_onednn_state *s, int i, int n)
{
    const int threads = omp_get_max_threads();
    mlic_train_onednn_plan *p = s->node[i];
    while (p && (p->n != n || p->threads != threads))
        p = p->next;
    return p;
}

/* Node i's plan for batch n and the current thread count, made on first use; with `backward`
 * its backward calls too. NULL with *st set on failure. */
static mlic_train_onednn_plan *plan_get(mlic_train_onednn_state *s, int i, int n, int backward,
                                        mlic_train_onednn_planner forward,
                                        mlic_train_onednn_planner backward_fn, mlic_status *st)
{
    mlic_train_onednn_plan *p = find_plan(s, i, n);
    *st = MLIC_OK;
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p) {
            *st = nomem(s->g);
            return NULL;
        }
        p->n = n;
        p->threads = omp_get_max_threads();
        if ((*st = forward(p, s, i)) != MLIC_OK) {
            plans_free(p);
            return NULL;
        }
        p->next = s->node[i];
        s->node[i] = p;
        s->node_free[i] = plans_free;
    }
    if (backward && !p->backward_ready) {
        if ((*st = backward_fn(p, s, i)) != MLIC_OK) {
            plan_backward_free(p);
            return NULL;
        }
        p->backward_ready = 1;
    }
    return p;
}

mlic_status mlic_train_onednn_run_forward(mlic_train_ctx *c, int i,
                                          mlic_train_onednn_planner forward,
                                          mlic_train_onednn_planner backward,
                                          const float *const *user)
{
    mlic_train_onednn_state *s = c->state;
    mlic_status st = MLIC_OK;
    mlic_train_onednn_plan *p =
        plan_get(s, i, c->n, c->training && s->needs_grad[c->g->nodes[i].out], forward,
                 backward, &st);
    if (!p || (st = mlic_train_onednn_reserve(s, p->bytes)) != MLIC_OK)
        return st;
    return mlic_train_onednn_call_run(&p->fwd, s, user);
}

mlic_status mlic_train_onednn_run_backward(mlic_train_ctx *c, int i, int k, const char *what,
                                   const float *const *user)
{
    mlic_train_onednn_state *s = c->state;
    mlic_train_onednn_plan *p = find_plan(s, i, c->n);
    if (!p || !p->backward_ready)
        return mlic_fail(MLIC_ERR_INTERNAL, "%s %s: backward before its training forward (or "
                         "with another thread count)", what, c->g->nodes[i].name);
    if (!p->bwd[k].prim)
        return mlic_fail(MLIC_ERR_INTERNAL, "%s %s: a gradient the plan has no primitive for",
                         what, c->g->nodes[i].name);
    return mlic_train_onednn_call_run(&p->bwd[k], s, user);
}

/* ---------------------------------------------------------------- the table */

/* Ops without a oneDNN implementation here run the reference table's. */
static mlic_status ref_forward(mlic_train_ctx *c, int i)
{
    return mlic_train_backend_ref.op[c->g->nodes[i].op].forward(c, i);
}

static mlic_status ref_backward(mlic_train_ctx *c, int i)
{
    return mlic_train_backend_ref.op[c->g->nodes[i].op].backward(c, i);
}

static size_t ref_workspace(const mlic_graph *g, int i, int n)
{
    return mlic_train_backend_ref.op[g->nodes[i].op].workspace_floats(g, i, n);
}

static size_t no_workspace(const mlic_graph *g, int i, int n)
{
    return 0;
}

#define ONEDNN_OPS                                                                              \
    {                                                                                           \
        [MLIC_OP_CONV] = {mlic_train_onednn_conv_forward, mlic_train_onednn_conv_backward,      \
                          mlic_train_onednn_conv_workspace},                                    \
        [MLIC_OP_BATCHNORM] = {ref_forward, ref_backward, ref_workspace},                       \
        [MLIC_OP_RELU] = {mlic_train_onednn_relu_forward, mlic_train_onednn_relu_backward,      \
                          no_workspace},                                                        \
        [MLIC_OP_RELU6] = {mlic_train_onednn_relu_forward, mlic_train_onednn_relu_backward,     \
                           no_workspace},                                                       \
        [MLIC_OP_ADD] = {mlic_train_onednn_add_forward, mlic_train_onednn_add_backward,         \
                         no_workspace},                                                         \
        [MLIC_OP_MAXPOOL] = {mlic_train_onednn_maxpool_forward,                                 \
                             mlic_train_onednn_maxpool_backward, no_workspace},                 \
        [MLIC_OP_GLOBAL_AVGPOOL] = {mlic_train_onednn_gap_forward,                              \
                                    mlic_train_onednn_gap_backward, no_workspace},              \
        [MLIC_OP_DROPOUT] = {ref_forward, ref_backward, ref_workspace},                         \
        [MLIC_OP_LINEAR] = {mlic_train_onednn_linear_forward,                                   \
                            mlic_train_onednn_linear_backward, no_workspace},                   \
    }

const mlic_train_backend mlic_train_backend_onednn = {
    .name = "onednn",
    .state_create = state_create_winograd,
    .state_destroy = state_destroy,
    .op = ONEDNN_OPS,
};

const mlic_train_backend mlic_train_backend_onednn_direct = {
    .name = "onednn-direct",
    .state_create = state_create_direct,
    .state_destroy = state_destroy,
    .op = ONEDNN_OPS,
};
