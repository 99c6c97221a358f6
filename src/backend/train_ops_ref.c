/* The reference training op table: each mlic_op's training forward and backward on the plain C
 * kernels of nn/kernels.h and nn/kernels_train.h. */
#include "backend/train_ops.h"
#include "nn/kernels_train.h"

static size_t floats_of(const mlic_graph *g, int v)
{
    const mlic_shape3 s = g->values[v];
    return (size_t)s.c * s.h * s.w;
}

static float *param(mlic_train_ctx *c, int p)
{
    return p >= 0 ? c->weights + c->g->params[p].offset : NULL;
}

static float *grad(mlic_train_ctx *c, int p)
{
    return p >= 0 && c->param_grad[p] ? c->grads + c->g->params[p].offset : NULL;
}

static size_t no_workspace(const mlic_graph *g, int i, int n)
{
    return 0;
}

/* ---------------------------------------------------------------- convolution */

static mlic_conv_geom conv_geom(const mlic_graph *g, const mlic_node *nd, int n)
{
    const mlic_shape3 x = g->values[nd->in[0]];
    return mlic_conv_geom_make(n, x.c, x.h, x.w, g->values[nd->out].c, nd->kernel, nd->stride,
                               nd->pad, nd->groups);
}

static size_t conv_workspace(const mlic_graph *g, int i, int n)
{
    const mlic_conv_geom geom = conv_geom(g, &g->nodes[i], n);
    const size_t f = mlic_conv2d_workspace_floats(&geom);
    const size_t b = mlic_conv2d_backward_workspace_floats(&geom);
    return f > b ? f : b;
}

static mlic_status conv_forward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const mlic_conv_geom geom = conv_geom(c->g, nd, c->n);
    mlic_conv2d_forward(c->value[nd->out], c->workspace, c->value[nd->in[0]],
                        param(c, nd->weight), param(c, nd->bias), NULL, MLIC_ACT_NONE, &geom);
    return MLIC_OK;
}

/* Only reached when the weight trains (a frozen convolution gets no gradient). */
static mlic_status conv_backward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const mlic_conv_geom geom = conv_geom(c->g, nd, c->n);
    mlic_conv2d_backward(c->dvalue[nd->in[0]], grad(c, nd->weight), grad(c, nd->bias),
                         c->workspace, c->value[nd->in[0]], param(c, nd->weight),
                         c->dvalue[nd->out], &geom);
    return MLIC_OK;
}

/* ---------------------------------------------------------------- batch norm */

/* Per-channel sums (doubles) and their count for the --sync-bn hook. */
static size_t bn_workspace(const mlic_graph *g, int i, int n)
{
    return 2 * (2 * (size_t)g->values[g->nodes[i].out].c + 1);
}

/* --sync-bn: the statistics of every process's batch, summed through the hook between the
 * steps of the fused kernel. */
static mlic_status bn_forward_synced(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const mlic_shape3 s = c->g->values[nd->out];
    const int hw = s.h * s.w;
    const float *x = c->value[nd->in[0]];
    double *mean = (double *)c->workspace, *ss = mean + s.c + 1; /* (C + 1), (C) */
    mlic_batchnorm_sums(mean, x, c->n, s.c, hw);
    mean[s.c] = (double)c->n * hw;
    c->hooks->bn_allreduce(c->hooks->user, mean, s.c + 1);
    const double m = mean[s.c];
    for (int ch = 0; ch < s.c; ch++)
        mean[ch] /= m;
    mlic_batchnorm_sq_dev_sums(ss, x, mean, c->n, s.c, hw);
    c->hooks->bn_allreduce(c->hooks->user, ss, s.c);
    return mlic_batchnorm_forward_train_apply(c->value[nd->out], c->saved[i], c->saved[i] + s.c,
                                              c->saved[i] + 2 * s.c, c->saved[i] + 3 * s.c,
                                              param(c, nd->running_mean),
                                              param(c, nd->running_var), x, param(c, nd->weight),
                                              param(c, nd->bias), mean, ss, m, c->n, s.c, hw,
                                              nd->eps, MLIC_TRAIN_BN_MOMENTUM);
}

static mlic_status bn_forward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const mlic_shape3 s = c->g->values[nd->out];
    const int hw = s.h * s.w;
    if (c->replay && c->bn_train[i]) {
        mlic_batchnorm_forward_replay(c->value[nd->out], c->value[nd->in[0]], c->saved[i],
                                      c->saved[i] + 2 * s.c, c->saved[i] + 3 * s.c, c->n, s.c,
                                      hw);
        return MLIC_OK;
    }
    if (c->training && c->bn_train[i] && c->hooks && c->hooks->bn_allreduce)
        return bn_forward_synced(c, i);
    if (c->training && c->bn_train[i])
        return mlic_batchnorm_forward_train(c->value[nd->out], c->saved[i], c->saved[i] + s.c,
                                            c->saved[i] + 2 * s.c, c->saved[i] + 3 * s.c,
                                            param(c, nd->running_mean),
                                            param(c, nd->running_var), c->value[nd->in[0]],
                                            param(c, nd->weight), param(c, nd->bias), c->n, s.c,
                                            hw, nd->eps, MLIC_TRAIN_BN_MOMENTUM);
    mlic_batchnorm_forward_infer(c->value[nd->out], c->value[nd->in[0]], param(c, nd->weight),
                                 param(c, nd->bias), param(c, nd->running_mean),
                                 param(c, nd->running_var), nd->eps, c->n, s.c, hw);
    return MLIC_OK;
}

/* dgamma and dbeta from this process's batch (the trainer sums them with the others'), dx from
 * the sums over all processes. */
static mlic_status bn_backward_synced(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const mlic_shape3 s = c->g->values[nd->out];
    const int hw = s.h * s.w;
    const float *x = c->value[nd->in[0]], *dy = c->dvalue[nd->out];
    double *sum_dy = (double *)c->workspace, *sum_dy_xhat = sum_dy + s.c; /* (C), (C), count */
    mlic_batchnorm_backward_sums(sum_dy, sum_dy_xhat, dy, x, c->saved[i], c->saved[i] + s.c, c->n,
                                 s.c, hw);
    float *dgamma = grad(c, nd->weight), *dbeta = grad(c, nd->bias);
    for (int ch = 0; ch < s.c; ch++) {
        dbeta[ch] += (float)sum_dy[ch];
        dgamma[ch] += (float)sum_dy_xhat[ch];
    }
    sum_dy[2 * s.c] = (double)c->n * hw;
    c->hooks->bn_allreduce(c->hooks->user, sum_dy, 2 * s.c + 1);
    mlic_batchnorm_backward_apply(c->dvalue[nd->in[0]], dy, x, c->saved[i], c->saved[i] + s.c,
                                  param(c, nd->weight), sum_dy, sum_dy_xhat, sum_dy[2 * s.c],
                                  c->n, s.c, hw);
    return MLIC_OK;
}

/* Only reached for a batch norm on batch statistics (a frozen one gets no gradient). */
static mlic_status bn_backward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const mlic_shape3 s = c->g->values[nd->out];
    if (c->hooks && c->hooks->bn_allreduce)
        return bn_backward_synced(c, i);
    mlic_batchnorm_backward(c->dvalue[nd->in[0]], grad(c, nd->weight), grad(c, nd->bias),
                            c->dvalue[nd->out], c->value[nd->in[0]], c->saved[i],
                            c->saved[i] + s.c, param(c, nd->weight), c->n, s.c, s.h * s.w);
    return MLIC_OK;
}

/* ---------------------------------------------------------------- activations, add */

static mlic_status relu_forward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    mlic_act_forward(c->value[nd->out], c->value[nd->in[0]],
                     nd->op == MLIC_OP_RELU6 ? MLIC_ACT_RELU6 : MLIC_ACT_RELU,
                     (size_t)c->n * floats_of(c->g, nd->out));
    return MLIC_OK;
}

static mlic_status relu_backward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const size_t count = (size_t)c->n * floats_of(c->g, nd->out);
    if (nd->op == MLIC_OP_RELU6)
        mlic_relu6_backward(c->dvalue[nd->in[0]], c->dvalue[nd->out], c->value[nd->out], count);
    else
        mlic_relu_backward(c->dvalue[nd->in[0]], c->dvalue[nd->out], c->value[nd->out], count);
    return MLIC_OK;
}

static mlic_status add_forward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    mlic_add_forward(c->value[nd->out], c->value[nd->in[0]], c->value[nd->in[1]],
                     (size_t)c->n * floats_of(c->g, nd->out));
    return MLIC_OK;
}

static mlic_status add_backward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const size_t count = (size_t)c->n * floats_of(c->g, nd->out);
    for (int k = 0; k < 2; k++)
        if (c->dvalue[nd->in[k]] && c->dvalue[nd->in[k]] != c->dvalue[nd->out]) /* in place */
            mlic_add_backward(c->dvalue[nd->in[k]], c->dvalue[nd->out], count);
    return MLIC_OK;
}

/* ---------------------------------------------------------------- pooling */

static mlic_pool_geom pool_geom(const mlic_graph *g, const mlic_node *nd, int n)
{
    const mlic_shape3 x = g->values[nd->in[0]];
    return mlic_pool_geom_make(n, x.c, x.h, x.w, nd->kernel, nd->stride, nd->pad);
}

static mlic_status maxpool_forward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const mlic_pool_geom geom = pool_geom(c->g, nd, c->n);
    mlic_maxpool2d_forward(c->value[nd->out], c->value[nd->in[0]], &geom);
    return MLIC_OK;
}

static mlic_status maxpool_backward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const mlic_pool_geom geom = pool_geom(c->g, nd, c->n);
    mlic_maxpool2d_backward(c->dvalue[nd->in[0]], c->dvalue[nd->out], c->value[nd->in[0]], &geom);
    return MLIC_OK;
}

static mlic_status gap_forward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const mlic_shape3 x = c->g->values[nd->in[0]];
    mlic_global_avgpool_forward(c->value[nd->out], c->value[nd->in[0]], c->n, x.c, x.h * x.w);
    return MLIC_OK;
}

static mlic_status gap_backward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const mlic_shape3 x = c->g->values[nd->in[0]];
    mlic_global_avgpool_backward(c->dvalue[nd->in[0]], c->dvalue[nd->out], c->n, x.c, x.h * x.w);
    return MLIC_OK;
}

/* ---------------------------------------------------------------- dropout, linear */

static mlic_status dropout_forward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const size_t count = (size_t)c->n * floats_of(c->g, nd->out);
    if (c->training)
        mlic_dropout_forward_train(c->value[nd->out], c->mask[i], c->value[nd->in[0]], count,
                                   nd->drop_p, &c->rng);
    else
        mlic_act_forward(c->value[nd->out], c->value[nd->in[0]], MLIC_ACT_NONE, count);
    return MLIC_OK;
}

static mlic_status dropout_backward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    mlic_dropout_backward(c->dvalue[nd->in[0]], c->dvalue[nd->out], c->mask[i],
                          (size_t)c->n * floats_of(c->g, nd->out), nd->drop_p);
    return MLIC_OK;
}

static mlic_status linear_forward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const mlic_param *w = &c->g->params[nd->weight];
    mlic_linear_forward(c->value[nd->out], c->value[nd->in[0]], param(c, nd->weight),
                        param(c, nd->bias), c->n, (int)w->dims[1], (int)w->dims[0]);
    return MLIC_OK;
}

/* Only reached when the weight trains. */
static mlic_status linear_backward(mlic_train_ctx *c, int i)
{
    const mlic_node *nd = &c->g->nodes[i];
    const mlic_param *w = &c->g->params[nd->weight];
    mlic_linear_backward(c->dvalue[nd->in[0]], grad(c, nd->weight), grad(c, nd->bias),
                         c->value[nd->in[0]], param(c, nd->weight), c->dvalue[nd->out], c->n,
                         (int)w->dims[1], (int)w->dims[0]);
    return MLIC_OK;
}

const mlic_train_backend mlic_train_backend_ref = {
    .name = "ref",
    .op = {
        [MLIC_OP_CONV] = {conv_forward, conv_backward, conv_workspace},
        [MLIC_OP_BATCHNORM] = {bn_forward, bn_backward, bn_workspace},
        [MLIC_OP_RELU] = {relu_forward, relu_backward, no_workspace},
        [MLIC_OP_RELU6] = {relu_forward, relu_backward, no_workspace},
        [MLIC_OP_ADD] = {add_forward, add_backward, no_workspace},
        [MLIC_OP_MAXPOOL] = {maxpool_forward, maxpool_backward, no_workspace},
        [MLIC_OP_GLOBAL_AVGPOOL] = {gap_forward, gap_backward, no_workspace},
        [MLIC_OP_DROPOUT] = {dropout_forward, dropout_backward, no_workspace},
        [MLIC_OP_LINEAR] = {linear_forward, linear_backward, no_workspace},
    },
};
