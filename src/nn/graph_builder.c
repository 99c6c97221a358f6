#include "nn/graph_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 1;
    int ncap = *cap ? *cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return 0;
    *arr = p;
    *cap = ncap;
    return 1;
}

static int fail_nomem(mlic_graph_builder *b, const char *what)
{
    if (b->status == MLIC_OK)
        b->status = mlic_fail(MLIC_ERR_NOMEM, "building graph %s: out of memory for %s",
                              b->g ? b->g->arch : "?", what);
    return -1;
}

mlic_status mlic_graph_builder_init(mlic_graph_builder *b, const char *arch, int num_classes)
{
    memset(b, 0, sizeof *b);
    if (num_classes < 1)
        return b->status = mlic_fail(MLIC_ERR_INVALID_ARG,
                                     "building graph %s: num_classes is %d, must be >= 1", arch,
                                     num_classes);
    b->g = calloc(1, sizeof *b->g);
    if (!b->g)
        return b->status = mlic_fail(MLIC_ERR_NOMEM, "building graph %s: out of memory", arch);
    snprintf(b->g->arch, sizeof b->g->arch, "%s", arch);
    b->g->num_classes = num_classes;
    b->g->input = 0;
    b->g->output = -1;
    b->g->nvalues = 1;
    return MLIC_OK;
}

static int new_value(mlic_graph_builder *b)
{
    return b->g->nvalues++;
}

int mlic_graph_emit_param(mlic_graph_builder *b, const char *module, const char *suffix, int ndim,
                          const int64_t *dims, int trainable, int no_decay)
{
    if (b->status != MLIC_OK)
        return -1;
    mlic_graph *g = b->g;
    if (!grow((void **)&g->params, &b->cap_params, g->nparams + 1, sizeof *g->params))
        return fail_nomem(b, "parameters");
    mlic_param *p = &g->params[g->nparams];
    memset(p, 0, sizeof *p);
    if ((size_t)snprintf(p->name, sizeof p->name, "%s.%s", module, suffix) >= sizeof p->name) {
        b->status = mlic_fail(MLIC_ERR_INTERNAL, "building graph %s: parameter name %s.%s too long",
                              g->arch, module, suffix);
        return -1;
    }
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->dims[i] = dims[i];
        p->numel *= (size_t)dims[i];
    }
    p->trainable = trainable;
    p->no_decay = no_decay;
    return g->nparams++;
}

static mlic_node *new_node(mlic_graph_builder *b, mlic_op op, const char *name, int in0, int in1)
{
    if (b->status != MLIC_OK)
        return NULL;
    mlic_graph *g = b->g;
    if (!grow((void **)&g->nodes, &b->cap_nodes, g->nnodes + 1, sizeof *g->nodes)) {
        fail_nomem(b, "nodes");
        return NULL;
    }
    mlic_node *n = &g->nodes[g->nnodes++];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->in[0] = in0;
    n->in[1] = in1;
    n->weight = n->bias = n->running_mean = n->running_var = -1;
    n->fused_add = -1;
    n->fused_act = MLIC_ACT_NONE;
    if ((size_t)snprintf(n->name, sizeof n->name, "%s", name) >= sizeof n->name) {
        b->status = mlic_fail(MLIC_ERR_INTERNAL, "building graph %s: node name %s too long",
                              g->arch, name);
        return NULL;
    }
    n->out = new_value(b);
    return n;
}

int mlic_graph_emit_conv(mlic_graph_builder *b, const char *name, int in, int cin, int cout,
                         int kernel, int stride, int pad, int groups, int has_bias)
{
    const int64_t wdims[4] = {cout, cin / groups, kernel, kernel};
    const int64_t bdims[1] = {cout};
    int w = mlic_graph_emit_param(b, name, "weight", 4, wdims, 1, 0);
    int bias = has_bias ? mlic_graph_emit_param(b, name, "bias", 1, bdims, 1, 1) : -1;
    mlic_node *n = new_node(b, MLIC_OP_CONV, name, in, -1);
    if (!n)
        return -1;
    n->kernel = kernel;
    n->stride = stride;
    n->pad = pad;
    n->groups = groups;
    n->weight = w;
    n->bias = bias;
    return n->out;
}

int mlic_graph_emit_batchnorm(mlic_graph_builder *b, const char *name, int in, int c)
{
    const int64_t dims[1] = {c};
    int w = mlic_graph_emit_param(b, name, "weight", 1, dims, 1, 1);
    int bias = mlic_graph_emit_param(b, name, "bias", 1, dims, 1, 1);
    int mean = mlic_graph_emit_param(b, name, "running_mean", 1, dims, 0, 1);
    int var = mlic_graph_emit_param(b, name, "running_var", 1, dims, 0, 1);
    mlic_node *n = new_node(b, MLIC_OP_BATCHNORM, name, in, -1);
    if (!n)
        return -1;
    n->weight = w;
    n->bias = bias;
    n->running_mean = mean;
    n->running_var = var;
    n->eps = 1e-5f; /* torch.nn.BatchNorm2d's default, used by every supported arch */
    return n->out;
}

int mlic_graph_emit_act(mlic_graph_builder *b, const char *name, int in, mlic_act act)
{
    mlic_node *n = new_node(b, act == MLIC_ACT_RELU6 ? MLIC_OP_RELU6 : MLIC_OP_RELU, name, in, -1);
    return n ? n->out : -1;
}

int mlic_graph_emit_add(mlic_graph_builder *b, const char *name, int a, int c)
{
    mlic_node *n = new_node(b, MLIC_OP_ADD, name, a, c);
    return n ? n->out : -1;
}

int mlic_graph_emit_maxpool(mlic_graph_builder *b, const char *name, int in, int kernel,
                            int stride, int pad)
{
    mlic_node *n = new_node(b, MLIC_OP_MAXPOOL, name, in, -1);
    if (!n)
        return -1;
    n->kernel = kernel;
    n->stride = stride;
    n->pad = pad;
    return n->out;
}

int mlic_graph_emit_global_avgpool(mlic_graph_builder *b, const char *name, int in)
{
    mlic_node *n = new_node(b, MLIC_OP_GLOBAL_AVGPOOL, name, in, -1);
    return n ? n->out : -1;
}

int mlic_graph_emit_dropout(mlic_graph_builder *b, const char *name, int in, float p)
{
    mlic_node *n = new_node(b, MLIC_OP_DROPOUT, name, in, -1);
    if (!n)
        return -1;
    n->drop_p = p;
    return n->out;
}

int mlic_graph_emit_linear(mlic_graph_builder *b, const char *name, int in, int cin, int cout)
{
    const int64_t wdims[2] = {cout, cin};
    const int64_t bdims[1] = {cout};
    int w = mlic_graph_emit_param(b, name, "weight", 2, wdims, 1, 0);
    int bias = mlic_graph_emit_param(b, name, "bias", 1, bdims, 1, 1);
    mlic_node *n = new_node(b, MLIC_OP_LINEAR, name, in, -1);
    if (!n)
        return -1;
    n->weight = w;
    n->bias = bias;
    return n->out;
}

mlic_status mlic_graph_builder_finish(mlic_graph_builder *b, mlic_graph **out, int output)
{
    *out = NULL;
    mlic_graph *g = b->g;
    if (b->status != MLIC_OK) {
        mlic_graph_free(g);
        b->g = NULL;
        return b->status;
    }
    size_t total = 0;
    for (int i = 0; i < g->nparams; i++) {
        g->params[i].offset = total;
        total += g->params[i].numel;
    }
    g->nweights = total;
    g->weights = calloc(total ? total : 1, sizeof *g->weights);
    g->values = calloc((size_t)g->nvalues, sizeof *g->values);
    if (!g->weights || !g->values) {
        mlic_status s = mlic_fail(MLIC_ERR_NOMEM,
                                  "building graph %s: out of memory for %zu weights", g->arch, total);
        mlic_graph_free(g);
        b->g = NULL;
        return s;
    }
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *n = &g->nodes[i];
        if (n->op != MLIC_OP_BATCHNORM)
            continue;
        for (int which = 0; which < 2; which++) {
            const mlic_param *p = &g->params[which ? n->running_var : n->weight];
            for (size_t k = 0; k < p->numel; k++)
                g->weights[p->offset + k] = 1.0f;
        }
    }
    g->output = output;
    *out = g;
    b->g = NULL;
    return MLIC_OK;
}
