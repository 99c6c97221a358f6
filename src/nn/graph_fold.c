/* Inference folding: one pass over the nodes in order, fusing each node into its producer where
 * that is exact, then a rebuild that renumbers values and writes the folded weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/graph.h"

typedef struct {
    mlic_node *nodes;  /* working copy; dead nodes are fused away */
    char *dead;
    int *folded_bn;    /* per node: the BATCHNORM node folded into this CONV, or -1 */
    int *alias;        /* per value: the value it was merged into (itself if none) */
    int *producer;     /* per value: producing node, -1 for the input */
    int *uses;         /* per value: consumers, the graph output counting as one */
} fold_state;

static int resolve(const fold_state *st, int v)
{
    while (v >= 0 && st->alias[v] != v)
        v = st->alias[v];
    return v;
}

/* The conv producing v, if v has no other consumer and the conv has no activation fused yet
 * (nor a residual add, unless after_add: an activation may follow the add, nothing else may). */
static int fusable_conv(const fold_state *st, int v, int after_add)
{
    int p = st->producer[v];
    if (p < 0 || st->dead[p] || st->uses[v] != 1)
        return -1;
    const mlic_node *c = &st->nodes[p];
    if (c->op != MLIC_OP_CONV || c->fused_act != MLIC_ACT_NONE || (c->fused_add >= 0 && !after_add))
        return -1;
    return p;
}

static void merge(fold_state *st, int node, int into)
{
    int out = st->nodes[node].out, target = st->nodes[into].out;
    st->alias[out] = target;
    st->uses[target] = st->uses[out];
    st->dead[node] = 1;
}

static void fuse_node(fold_state *st, int i)
{
    mlic_node *n = &st->nodes[i];
    for (int k = 0; k < 2; k++)
        if (n->in[k] >= 0)
            n->in[k] = resolve(st, n->in[k]);
    int p;
    switch (n->op) {
    case MLIC_OP_DROPOUT:
        st->alias[n->out] = n->in[0];
        st->uses[n->in[0]] += st->uses[n->out] - 1;
        st->dead[i] = 1;
        break;
    case MLIC_OP_BATCHNORM:
        if ((p = fusable_conv(st, n->in[0], 0)) >= 0 && st->folded_bn[p] < 0) {
            st->folded_bn[p] = i;
            merge(st, i, p);
        }
        break;
    case MLIC_OP_RELU:
    case MLIC_OP_RELU6:
        if ((p = fusable_conv(st, n->in[0], 1)) >= 0) {
            st->nodes[p].fused_act = n->op == MLIC_OP_RELU ? MLIC_ACT_RELU : MLIC_ACT_RELU6;
            merge(st, i, p);
        }
        break;
    case MLIC_OP_ADD: {
        /* Fuse into the later-computed operand's conv, so the other operand already exists
         * when that conv runs. */
        int best = -1, other = -1;
        for (int k = 0; k < 2; k++) {
            int c = fusable_conv(st, n->in[k], 0);
            int o = n->in[1 - k];
            if (c >= 0 && c > best && st->producer[o] < c) {
                best = c;
                other = o;
            }
        }
        if (best >= 0) {
            st->nodes[best].fused_add = other;
            merge(st, i, best);
        }
        break;
    }
    default:
        break;
    }
}

static mlic_status fold_state_init(fold_state *st, const mlic_graph *g)
{
    size_t nn = (size_t)g->nnodes, nv = (size_t)g->nvalues;
    st->nodes = malloc(nn * sizeof *st->nodes + 1);
    st->dead = calloc(nn + 1, 1);
    st->folded_bn = malloc((nn + 1) * sizeof(int));
    st->alias = malloc(nv * sizeof(int));
    st->producer = malloc(nv * sizeof(int));
    st->uses = calloc(nv, sizeof(int));
    if (!st->nodes || !st->dead || !st->folded_bn || !st->alias || !st->producer || !st->uses)
        return mlic_fail(MLIC_ERR_NOMEM, "folding graph %s: out of memory", g->arch);
    memcpy(st->nodes, g->nodes, nn * sizeof *st->nodes);
    for (size_t v = 0; v < nv; v++) {
        st->alias[v] = (int)v;
        st->producer[v] = -1;
    }
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *n = &g->nodes[i];
        st->folded_bn[i] = -1;
        st->producer[n->out] = i;
        for (int k = 0; k < 2; k++)
            if (n->in[k] >= 0)
                st->uses[n->in[k]]++;
        if (n->fused_add >= 0)
            st->uses[n->fused_add]++;
    }
    st->uses[g->output]++;
    return MLIC_OK;
}

static void fold_state_free(fold_state *st)
{
    free(st->nodes);
    free(st->dead);
    free(st->folded_bn);
    free(st->alias);
    free(st->producer);
    free(st->uses);
}

/* Append a parameter entry to the folded graph's table; offsets are laid out afterwards. */
static int add_param(mlic_graph *f, const mlic_param *src)
{
    f->params[f->nparams] = *src;
    return f->nparams++;
}

static int add_conv_bias(mlic_graph *f, const mlic_node *conv, const mlic_param *w)
{
    mlic_param b = {0};
    snprintf(b.name, sizeof b.name, "%s.bias", conv->name[0] ? conv->name : "conv");
    b.ndim = 1;
    b.dims[0] = w->dims[0];
    b.numel = (size_t)w->dims[0];
    b.trainable = 1;
    b.no_decay = 1;
    return add_param(f, &b);
}

/* w' = w * s, b' = beta + (b - mean) * s with s = gamma / sqrt(var + eps), per output channel. */
static void fold_bn_weights(mlic_graph *f, const mlic_node *fc, const mlic_graph *g,
                            const mlic_node *conv, const mlic_node *bn)
{
    const mlic_param *wp = &g->params[conv->weight];
    const float *w = mlic_graph_param(g, conv->weight);
    const float *b = conv->bias >= 0 ? mlic_graph_param(g, conv->bias) : NULL;
    const float *gamma = mlic_graph_param(g, bn->weight), *beta = mlic_graph_param(g, bn->bias);
    const float *mean = mlic_graph_param(g, bn->running_mean);
    const float *var = mlic_graph_param(g, bn->running_var);
    float *fw = mlic_graph_param(f, fc->weight), *fb = mlic_graph_param(f, fc->bias);
    size_t per = wp->numel / (size_t)wp->dims[0];
    for (int64_t o = 0; o < wp->dims[0]; o++) {
        double s = gamma[o] / sqrt((double)var[o] + bn->eps);
        for (size_t k = 0; k < per; k++)
            fw[o * per + k] = (float)(w[o * per + k] * s);
        fb[o] = (float)(beta[o] + ((b ? b[o] : 0.0) - mean[o]) * s);
    }
}

static void copy_param(mlic_graph *f, int fid, const mlic_graph *g, int gid)
{
    memcpy(mlic_graph_param(f, fid), mlic_graph_param(g, gid),
           g->params[gid].numel * sizeof(float));
}

static mlic_status rebuild(mlic_graph **out, const mlic_graph *g, fold_state *st)
{
    mlic_graph *f = calloc(1, sizeof *f);
    int *newid = malloc((size_t)g->nvalues * sizeof(int));
    int *src_of = malloc(((size_t)g->nnodes + 1) * sizeof(int)); /* folded node -> g's node */
    if (f) {
        f->nodes = malloc(((size_t)g->nnodes + 1) * sizeof *f->nodes);
        f->params = malloc(((size_t)g->nparams + (size_t)g->nnodes + 1) * sizeof *f->params);
        f->values = calloc((size_t)g->nvalues, sizeof *f->values);
    }
    if (!f || !newid || !src_of || !f->nodes || !f->params || !f->values) {
        free(newid);
        free(src_of);
        mlic_graph_free(f);
        return mlic_fail(MLIC_ERR_NOMEM, "folding graph %s: out of memory", g->arch);
    }
    memcpy(f->arch, g->arch, sizeof f->arch);
    f->num_classes = g->num_classes;
    for (int v = 0; v < g->nvalues; v++)
        newid[v] = -1;
    newid[g->input] = 0;
    f->values[0] = g->values[g->input];
    f->input = 0;
    f->nvalues = 1;

    for (int i = 0; i < g->nnodes; i++) {
        if (st->dead[i])
            continue;
        const mlic_node *n = &st->nodes[i];
        mlic_node *m = &f->nodes[f->nnodes];
        *m = *n;
        for (int k = 0; k < 2; k++)
            m->in[k] = n->in[k] >= 0 ? newid[resolve(st, n->in[k])] : -1;
        m->fused_add = n->fused_add >= 0 ? newid[resolve(st, n->fused_add)] : -1;
        newid[n->out] = f->nvalues;
        m->out = f->nvalues++;
        f->values[m->out] = g->values[n->out];
        m->weight = m->bias = m->running_mean = m->running_var = -1;
        if (n->weight >= 0)
            m->weight = add_param(f, &g->params[n->weight]);
        if (n->op == MLIC_OP_CONV && (n->bias >= 0 || st->folded_bn[i] >= 0))
            m->bias = n->bias >= 0 ? add_param(f, &g->params[n->bias])
                                   : add_conv_bias(f, n, &g->params[n->weight]);
        else if (n->bias >= 0)
            m->bias = add_param(f, &g->params[n->bias]);
        if (n->running_mean >= 0) {
            m->running_mean = add_param(f, &g->params[n->running_mean]);
            m->running_var = add_param(f, &g->params[n->running_var]);
        }
        src_of[f->nnodes++] = i;
    }
    f->output = newid[resolve(st, g->output)];

    size_t total = 0;
    for (int p = 0; p < f->nparams; p++) {
        f->params[p].offset = total;
        total += f->params[p].numel;
    }
    f->nweights = total;
    f->weights = calloc(total ? total : 1, sizeof(float));
    if (!f->weights) {
        free(newid);
        free(src_of);
        mlic_graph_free(f);
        return mlic_fail(MLIC_ERR_NOMEM, "folding graph %s: out of memory for %zu weights",
                         g->arch, total);
    }
    for (int j = 0; j < f->nnodes; j++) {
        const mlic_node *m = &f->nodes[j], *n = &g->nodes[src_of[j]];
        int bn = st->folded_bn[src_of[j]];
        if (bn >= 0) {
            fold_bn_weights(f, m, g, n, &g->nodes[bn]);
            continue;
        }
        if (n->weight >= 0)
            copy_param(f, m->weight, g, n->weight);
        if (n->bias >= 0)
            copy_param(f, m->bias, g, n->bias);
        if (n->running_mean >= 0) {
            copy_param(f, m->running_mean, g, n->running_mean);
            copy_param(f, m->running_var, g, n->running_var);
        }
    }
    free(newid);
    free(src_of);
    *out = f;
    return MLIC_OK;
}

mlic_status mlic_graph_fold_for_inference(mlic_graph **out, const mlic_graph *g)
{
    *out = NULL;
    fold_state st = {0};
    mlic_status s = fold_state_init(&st, g);
    if (s == MLIC_OK) {
        for (int i = 0; i < g->nnodes; i++)
            fuse_node(&st, i);
        s = rebuild(out, g, &st);
    }
    fold_state_free(&st);
    return s;
}

int mlic_graph_value_nonneg(const mlic_graph *g, int v)
{
    for (int i = g->nnodes - 1; i >= 0; i--) {
        const mlic_node *n = &g->nodes[i];
        if (n->out != v)
            continue;
        if (n->fused_act != MLIC_ACT_NONE)
            return 1; /* applied last, after any fused add */
        switch (n->op) {
        case MLIC_OP_RELU:
        case MLIC_OP_RELU6: return 1;
        case MLIC_OP_MAXPOOL:
        case MLIC_OP_GLOBAL_AVGPOOL:
        case MLIC_OP_DROPOUT: return n->in[0] != v && mlic_graph_value_nonneg(g, n->in[0]);
        default: return 0;
        }
    }
    return 0; /* the input, or a value nothing produces */
}
