/* Max pool on oneDNN's pooling primitives, directly on the executor's NCHW buffers (its JIT
 * kernels take NCHW: resnet's 3x3/2 pool over (32, 64, 112, 112) measured 6 ms forward and
 * 12 ms backward here, against 100-160 ms each for the reference kernels). The forward keeps the
 * position of each window's maximum (oneDNN's workspace) for the backward.
 *
 * PyTorch's semantics: padding never wins, and of equal maxima the first in row-major order
 * takes the gradient (oneDNN replaces the running maximum only by a larger value). A NaN input
 * is where they part: PyTorch propagates it, oneDNN's comparisons skip it. */
#include <omp.h>
#include <stdlib.h>

#include "backend/onednn_train.h"
#include "core/error.h"

typedef struct pool_plan {
    int n, threads;
    struct pool_plan *next;
    size_t bytes;                   /* of arena the backward needs */
    dnnl_primitive_desc_t fwd_pd;
    dnnl_primitive_t fwd, bwd;      /* bwd NULL until a training forward */
    mlic_train_onednn_operand src, dst, ddst, dsrc;
    dnnl_memory_t workspace;
    void *workspace_data;
} pool_plan;

static void plan_free(pool_plan *p)
{
    mlic_train_onednn_operand *ops[] = {&p->src, &p->dst, &p->ddst, &p->dsrc};
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
        mlic_train_onednn_operand_free(ops[k]);
    if (p->fwd)
        dnnl_primitive_destroy(p->fwd);
    if (p->bwd)
        dnnl_primitive_destroy(p->bwd);
    if (p->workspace)
        dnnl_memory_destroy(p->workspace);
    if (p->fwd_pd)
        dnnl_primitive_desc_destroy(p->fwd_pd);
    free(p->workspace_data);
    free(p);
}

static void plans_free(void *head)
{
    for (pool_plan *p = head, *next; p; p = next) {
        next = p->next;
        plan_free(p);
    }
}

typedef struct {
    dnnl_memory_desc_t src, dst;
    dnnl_dims_t strides, kernel, dilation, pad;
} pool_mds;

static mlic_status make_mds(pool_mds *m, const mlic_graph *g, const mlic_node *nd, int n)
{
    const mlic_shape3 x = g->values[nd->in[0]], y = g->values[nd->out];
    mlic_status st;
    if ((st = onednn_md_4d(&m->src, n, x.c, x.h, x.w, dnnl_nchw)) != MLIC_OK ||
        (st = onednn_md_4d(&m->dst, n, y.c, y.h, y.w, dnnl_nchw)) != MLIC_OK)
        return st;
    m->strides[0] = m->strides[1] = nd->stride;
    m->kernel[0] = m->kernel[1] = nd->kernel;
    m->dilation[0] = m->dilation[1] = 0;
    m->pad[0] = m->pad[1] = nd->pad;
    return MLIC_OK;
}

static mlic_status plan_forward(pool_plan *p, mlic_train_onednn_state *s, const pool_mds *m)
{
    mlic_status st = MLIC_OK;
    dnnl_pooling_v2_desc_t desc;
    size_t cursor = 0;
    ONEDNN_CALL(dnnl_pooling_v2_forward_desc_init,
                (&desc, dnnl_forward_training, dnnl_pooling_max, &m->src, &m->dst, m->strides,
                 m->kernel, m->dilation, m->pad, m->pad));
    ONEDNN_CALL(dnnl_primitive_desc_create, (&p->fwd_pd, &desc, NULL, s->engine, NULL));
    ONEDNN_CALL(dnnl_primitive_create, (&p->fwd, p->fwd_pd));
    const dnnl_memory_desc_t *ws = dnnl_primitive_desc_query_md(p->fwd_pd,
                                                                dnnl_query_workspace_md, 0);
    p->workspace_data = onednn_alloc(dnnl_memory_desc_get_size(ws));
    if (!p->workspace_data) {
        st = mlic_fail(MLIC_ERR_NOMEM, "training graph %s: out of memory", s->g->arch);
        goto done;
    }
    ONEDNN_CALL(dnnl_memory_create, (&p->workspace, ws, s->engine, p->workspace_data));
    if ((st = mlic_train_onednn_operand_init(&p->src, s, &m->src, &m->src, ONEDNN_TRAIN_IN,
                                             &cursor)) != MLIC_OK)
        goto done;
    st = mlic_train_onednn_operand_init(&p->dst, s, &m->dst, &m->dst, ONEDNN_TRAIN_OUT, &cursor);
done:
    return st;
}

/* overwrite: the executor has just zeroed the input's gradient (see the convolution's). */
static mlic_status plan_backward(pool_plan *p, mlic_train_onednn_state *s, const pool_mds *m,
                                 int overwrite)
{
    mlic_status st = MLIC_OK;
    dnnl_pooling_v2_desc_t desc;
    dnnl_primitive_desc_t pd = NULL;
    size_t cursor = 0;
    ONEDNN_CALL(dnnl_pooling_v2_backward_desc_init,
                (&desc, dnnl_pooling_max, &m->src, &m->dst, m->strides, m->kernel, m->dilation,
                 m->pad, m->pad));
    ONEDNN_CALL(dnnl_primitive_desc_create, (&pd, &desc, NULL, s->engine, p->fwd_pd));
    if ((st = mlic_train_onednn_operand_init(&p->ddst, s, &m->dst, &m->dst, ONEDNN_TRAIN_IN,
                                             &cursor)) != MLIC_OK ||
        (st = mlic_train_onednn_operand_init(&p->dsrc, s, &m->src, &m->src,
                                             overwrite ? ONEDNN_TRAIN_OUT : ONEDNN_TRAIN_OUT_ADD,
                                             &cursor)) != MLIC_OK)
        goto done;
    ONEDNN_CALL(dnnl_primitive_create, (&p->bwd, pd));
    p->bytes = cursor;
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return st;
}

static pool_plan *get_plan(mlic_train_onednn_state *s, int i, int n, int backward,
                           mlic_status *st)
{
    const mlic_node *nd = &s->g->nodes[i];
    const int threads = omp_get_max_threads();
    pool_plan *p = s->node[i];
    while (p && (p->n != n || p->threads != threads))
        p = p->next;
    pool_mds m;
    if ((*st = make_mds(&m, s->g, nd, n)) != MLIC_OK)
        return NULL;
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p) {
            *st = mlic_fail(MLIC_ERR_NOMEM, "training graph %s: out of memory", s->g->arch);
            return NULL;
        }
        p->n = n;
        p->threads = threads;
        if ((*st = plan_forward(p, s, &m)) != MLIC_OK) {
            plan_free(p);
            return NULL;
        }
        p->next = s->node[i];
        s->node[i] = p;
        s->node_free[i] = plans_free;
    }
    if (backward && !p->bwd &&
        (*st = plan_backward(p, s, &m,
                            mlic_train_onednn_grad_role(s, i, 0) == ONEDNN_TRAIN_OUT)) !=
            MLIC_OK) {
        mlic_train_onednn_operand_free(&p->ddst);
        mlic_train_onednn_operand_free(&p->dsrc);
        return NULL;
    }
    return p;
}

mlic_status mlic_train_onednn_maxpool_forward(mlic_train_ctx *c, int i)
{
    mlic_train_onednn_state *s = c->state;
    const mlic_node *nd = &c->g->nodes[i];
    mlic_status st;
    pool_plan *p = get_plan(s, i, c->n, c->training && s->needs_grad[nd->out], &st);
    if (!p)
        return st;
    if ((st = mlic_train_onednn_reserve(s, p->bytes)) != MLIC_OK ||
        (st = mlic_train_onednn_operand_bind(&p->src, s, c->value[nd->in[0]])) != MLIC_OK ||
        (st = mlic_train_onednn_operand_bind(&p->dst, s, c->value[nd->out])) != MLIC_OK)
        return st;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, p->src.mem},
                               {DNNL_ARG_DST, p->dst.mem},
                               {DNNL_ARG_WORKSPACE, p->workspace}};
    return mlic_train_onednn_execute(s, p->fwd, 3, args);
}

mlic_status mlic_train_onednn_maxpool_backward(mlic_train_ctx *c, int i)
{
    mlic_train_onednn_state *s = c->state;
    const mlic_node *nd = &c->g->nodes[i];
    const int threads = omp_get_max_threads();
    pool_plan *p = s->node[i];
    while (p && (p->n != c->n || p->threads != threads))
        p = p->next;
    mlic_status st;
    if (!c->dvalue[nd->in[0]])
        return MLIC_OK;
    if (!p || !p->bwd)
        return mlic_fail(MLIC_ERR_INTERNAL, "max pool %s: backward before its training forward "
                         "(or with another thread count)", nd->name);
    if ((st = mlic_train_onednn_operand_bind(&p->ddst, s, c->dvalue[nd->out])) != MLIC_OK ||
        (st = mlic_train_onednn_operand_bind(&p->dsrc, s, c->dvalue[nd->in[0]])) != MLIC_OK)
        return st;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_DIFF_DST, p->ddst.mem},
                               {DNNL_ARG_DIFF_SRC, p->dsrc.mem},
                               {DNNL_ARG_WORKSPACE, p->workspace}};
    if ((st = mlic_train_onednn_execute(s, p->bwd, 3, args)) != MLIC_OK)
        return st;
    return mlic_train_onednn_operand_finish(&p->dsrc, s);
}

