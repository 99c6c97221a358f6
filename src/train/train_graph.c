/* The training executor: buffer planning and the forward/backward node loops. The ops
 * themselves come from a mlic_train_backend table (backend/train_ops_ref.c for the reference). */
#include "train/train_graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "util/buffer_plan.h"

struct mlic_train_graph {
    mlic_graph *g;
    const mlic_train_backend *be;
    int max_batch;
    mlic_train_ctx c;
    uint8_t *param_grad;   /* (nparams) */
    uint8_t *bn_train;     /* (nnodes) */
    uint8_t *needs_grad;   /* (nvalues) a gradient flows into this value */
    size_t *act_off;       /* (nvalues) per-sample offset into act, in floats */
    size_t *grad_off;      /* (nvalues) per-sample offset into dact (needs_grad values) */
    int *grad_first;       /* (nvalues) the node whose backward writes the gradient first */
    int *producer;         /* (nvalues) the node writing the value, -1 for the input */
    uint8_t *recompute;    /* (nvalues) a ReLU output the backward recomputes (train_graph.h) */
    int *replay_at;        /* (nvalues) recomputed before this node's backward, -1 for none */
    size_t *replay_off;    /* (nvalues) per-sample offset into dact of a recomputed value */
    uint8_t *in_place;     /* (nnodes) the backward writes in[0]'s gradient over out's */
    float *act;            /* activation arena: max_batch * act_per_sample */
    float *dact;           /* value-gradient arena: max_batch * dact_per_sample */
    size_t act_per_sample, dact_per_sample;
    float *grads;          /* (nweights) */
    float *saved_pool;     /* batch norm statistics */
    uint8_t *mask_pool;    /* dropout masks */
    size_t workspace_floats;
    int forward_done;      /* a training forward ran and its values are intact */
    int last_n;
    mlic_train_hooks hooks; /* c.hooks points here once set */
};

static size_t value_floats(const mlic_graph *g, int v)
{
    const mlic_shape3 s = g->values[v];
    return (size_t)s.c * s.h * s.w;
}

static int param_trainable(const mlic_graph *g, int p)
{
    return p >= 0 && g->params[p].trainable;
}

static int node_has_trainable(const mlic_graph *g, const mlic_node *nd)
{
    return param_trainable(g, nd->weight) || param_trainable(g, nd->bias);
}

static int node_has_frozen(const mlic_graph *g, const mlic_node *nd)
{
    return (nd->weight >= 0 && !g->params[nd->weight].trainable) ||
           (nd->bias >= 0 && !g->params[nd->bias].trainable);
}

static const char *label(const mlic_node *nd)
{
    return nd->name[0] ? nd->name : "(unnamed)";
}

/* ---------------------------------------------------------------- buffer planning */

/* What lives when is decided here; where it lives, by the one buffer planner
 * (util/buffer_plan.h), in floats per sample. */

/* Which values the backward reads: the input of a convolution, training batch norm, max pool or
 * linear whose backward runs, the output of such a ReLU/ReLU6. */
static void mark_kept(const mlic_train_graph *t, uint8_t *kept)
{
    const mlic_graph *g = t->g;
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        if (!t->needs_grad[nd->out])
            continue;
        switch (nd->op) {
        case MLIC_OP_CONV:
        case MLIC_OP_MAXPOOL:
        case MLIC_OP_LINEAR:
            kept[nd->in[0]] = 1;
            break;
        case MLIC_OP_BATCHNORM:
            kept[nd->in[0]] |= t->bn_train[i];
            break;
        case MLIC_OP_RELU:
        case MLIC_OP_RELU6:
            kept[nd->out] = 1;
            break;
        case MLIC_OP_ADD:
        case MLIC_OP_GLOBAL_AVGPOOL:
        case MLIC_OP_DROPOUT:
            break;
        }
    }
    kept[g->output] = 1;
}

/* The value node i's backward reads (mark_kept's rule), -1 for none. */
static int backward_read(const mlic_train_graph *t, int i)
{
    const mlic_node *nd = &t->g->nodes[i];
    switch (nd->op) {
    case MLIC_OP_CONV:
    case MLIC_OP_MAXPOOL:
    case MLIC_OP_LINEAR:
        return nd->in[0];
    case MLIC_OP_BATCHNORM:
        return t->bn_train[i] ? nd->in[0] : -1;
    case MLIC_OP_RELU:
    case MLIC_OP_RELU6:
        return nd->out;
    default:
        return -1;
    }
}

/* The kept ReLU outputs the backward can recompute: the ReLU's input comes from a batch norm on
 * batch statistics and goes nowhere else (that batch norm's own input is kept). */
static void mark_recomputable(mlic_train_graph *t, const uint8_t *kept)
{
    const mlic_graph *g = t->g;
    int *readers = calloc((size_t)g->nvalues, sizeof *readers);
    if (!readers)
        return; /* keep everything: correct, only larger */
    for (int i = 0; i < g->nnodes; i++)
        for (int k = 0; k < 2; k++)
            if (g->nodes[i].in[k] >= 0 && (k == 0 || g->nodes[i].in[1] != g->nodes[i].in[0]))
                readers[g->nodes[i].in[k]]++;
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        if ((nd->op != MLIC_OP_RELU && nd->op != MLIC_OP_RELU6) || !kept[nd->out] ||
            nd->out == g->output)
            continue;
        const int b = t->producer[nd->in[0]];
        t->recompute[nd->out] = b >= 0 && g->nodes[b].op == MLIC_OP_BATCHNORM &&
                                t->bn_train[b] && readers[nd->in[0]] == 1;
    }
    free(readers);
}

/* Activation offsets: kept values each get their own view, the others recycle slots of sp after
 * their last forward reader. Returns floats per sample, (size_t)-1 when out of memory. */
static size_t plan_activations(mlic_train_graph *t, const uint8_t *kept, int *slot_of,
                               mlic_buffer_plan *sp, int *last)
{
    const mlic_graph *g = t->g;
    for (int v = 0; v < g->nvalues; v++) {
        last[v] = -1;
        slot_of[v] = -1;
    }
    for (int i = 0; i < g->nnodes; i++)
        for (int k = 0; k < 2; k++)
            if (g->nodes[i].in[k] >= 0)
                last[g->nodes[i].in[k]] = i;
    size_t total = 0;
    const int first = -1; /* the input exists before node 0 */
    for (int i = first; i < g->nnodes; i++) {
        const int v = i == first ? g->input : g->nodes[i].out;
        if (kept[v]) {
            t->act_off[v] = total;
            total += value_floats(g, v);
        } else if (mlic_buffer_plan_take(sp, value_floats(g, v), &slot_of[v]) != MLIC_OK) {
            return (size_t)-1;
        }
        if (i == first)
            continue;
        for (int k = 0; k < 2; k++) {
            const int in = g->nodes[i].in[k];
            if (in >= 0 && last[in] == i && slot_of[in] >= 0 && (k == 0 || in != g->nodes[i].in[0]))
                mlic_buffer_plan_give(sp, slot_of[in]);
        }
    }
    for (int v = 0; v < g->nvalues; v++)
        if (slot_of[v] >= 0)
            t->act_off[v] = total + mlic_buffer_plan_offset(sp, slot_of[v]);
    return total + mlic_buffer_plan_total(sp);
}

/* A ReLU/ReLU6, add or training batch norm whose backward is the first to write its first
 * input's gradient (a value of its output's shape) writes it over its output's gradient, which
 * nothing reads afterwards: one view less in the gradient arena where the largest ones live. */
static int can_run_in_place(const mlic_train_graph *t, int i)
{
    const mlic_node *nd = &t->g->nodes[i];
    const int in = nd->in[0];
    if (nd->op != MLIC_OP_RELU && nd->op != MLIC_OP_RELU6 && nd->op != MLIC_OP_ADD &&
        !(nd->op == MLIC_OP_BATCHNORM && t->bn_train[i]))
        return 0;
    return in >= 0 && t->needs_grad[in] && t->grad_first[in] == i && nd->in[1] != in &&
           value_floats(t->g, in) == value_floats(t->g, nd->out);
}

/* Value-gradient offsets, planned in reverse: a gradient takes a slot of sp at its first
 * writer's backward (its last reader) and gives it back after its producer's backward. Returns
 * floats per sample, (size_t)-1 when out of memory. */
static size_t plan_gradients(mlic_train_graph *t, int *slot_of, int *replay_slot,
                             mlic_buffer_plan *sp)
{
    const mlic_graph *g = t->g;
    for (int v = 0; v < g->nvalues; v++) {
        slot_of[v] = replay_slot[v] = -1;
        t->grad_first[v] = t->replay_at[v] = -1;
    }
    for (int i = g->nnodes - 1; i >= 0; i--)
        for (int k = 0; k < 2; k++) {
            const int in = g->nodes[i].in[k];
            if (in >= 0 && t->needs_grad[in] && t->grad_first[in] < 0)
                t->grad_first[in] = i;
        }
    if (mlic_buffer_plan_take(sp, value_floats(g, g->output), &slot_of[g->output]) != MLIC_OK)
        return (size_t)-1;
    for (int i = g->nnodes - 1; i >= 0; i--) {
        const mlic_node *nd = &g->nodes[i];
        if (!t->needs_grad[nd->out])
            continue;
        const int r = backward_read(t, i);
        if (r >= 0 && t->recompute[r] && t->replay_at[r] < 0) {
            t->replay_at[r] = i;
            if (mlic_buffer_plan_take(sp, value_floats(g, r), &replay_slot[r]) != MLIC_OK)
                return (size_t)-1;
        }
        t->in_place[i] = can_run_in_place(t, i);
        if (t->in_place[i])
            slot_of[nd->in[0]] = slot_of[nd->out];
        for (int k = 0; k < 2; k++)
            if (nd->in[k] >= 0 && t->grad_first[nd->in[k]] == i && slot_of[nd->in[k]] < 0 &&
                mlic_buffer_plan_take(sp, value_floats(g, nd->in[k]), &slot_of[nd->in[k]]) !=
                    MLIC_OK)
                return (size_t)-1;
        if (!t->in_place[i])
            mlic_buffer_plan_give(sp, slot_of[nd->out]);
        if (t->recompute[nd->out]) /* the ReLU's backward is its last reader */
            mlic_buffer_plan_give(sp, replay_slot[nd->out]);
    }
    for (int v = 0; v < g->nvalues; v++) {
        if (slot_of[v] >= 0)
            t->grad_off[v] = mlic_buffer_plan_offset(sp, slot_of[v]);
        if (replay_slot[v] >= 0)
            t->replay_off[v] = mlic_buffer_plan_offset(sp, replay_slot[v]);
    }
    return mlic_buffer_plan_total(sp);
}

/* ---------------------------------------------------------------- create / destroy */

/* Which values a gradient flows into, and the graphs this executor refuses: a node with both
 * frozen and trainable parameters, a frozen parameter after a trainable one (only a trainable
 * tail is supported), and a trainable batch norm whose input gets no gradient. So a backward
 * that runs always has its weight's gradient to write. */
static mlic_status mark_gradients(mlic_train_graph *t)
{
    const mlic_graph *g = t->g;
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        int in_grad = 0;
        for (int k = 0; k < 2; k++)
            in_grad |= nd->in[k] >= 0 && t->needs_grad[nd->in[k]];
        if (node_has_frozen(g, nd) && node_has_trainable(g, nd))
            return mlic_fail(MLIC_ERR_UNSUPPORTED,
                             "training graph %s: node %s has both frozen and trainable "
                             "parameters. HINT: freeze whole layers", g->arch, label(nd));
        if (in_grad && node_has_frozen(g, nd))
            return mlic_fail(MLIC_ERR_UNSUPPORTED,
                             "training graph %s: node %s is frozen but earlier parameters train. "
                             "HINT: freeze a leading part of the network only", g->arch,
                             label(nd));
        if (nd->op == MLIC_OP_BATCHNORM && t->bn_train[i] && !in_grad)
            return mlic_fail(MLIC_ERR_UNSUPPORTED,
                             "training graph %s: batch norm %s trains but its input gets no "
                             "gradient. HINT: train the convolution before it too", g->arch,
                             label(nd));
        t->needs_grad[nd->out] = in_grad || node_has_trainable(g, nd);
    }
    return MLIC_OK;
}

typedef struct {
    uint8_t *kept_base; /* (nvalues) mark_kept's answer */
    uint8_t *kept;      /* (nvalues) without the recomputed values */
    int *slot_of, *replay_slot, *last; /* (nvalues) */
    mlic_buffer_plan *sp;
} plan_scratch;

/* Offsets of both arenas for the current recompute flags; floats per sample of both, or
 * (size_t)-1 when out of memory. */
static size_t plan_once(mlic_train_graph *t, plan_scratch *w)
{
    for (int v = 0; v < t->g->nvalues; v++)
        w->kept[v] = w->kept_base[v] && !t->recompute[v];
    mlic_buffer_plan_reset(w->sp);
    t->act_per_sample = plan_activations(t, w->kept, w->slot_of, w->sp, w->last);
    if (t->act_per_sample == (size_t)-1)
        return (size_t)-1;
    mlic_buffer_plan_reset(w->sp);
    t->dact_per_sample = plan_gradients(t, w->slot_of, w->replay_slot, w->sp);
    return t->dact_per_sample == (size_t)-1 ? (size_t)-1
                                            : t->act_per_sample + t->dact_per_sample;
}

/* Recomputing a value frees its activation view but takes a view in the gradient arena for
 * part of the backward, where the peak may lie (a ResNet's stem: its ReLU's output is read back
 * right where the largest gradients live). So values are recomputed one by one only where that
 * lowers the two arenas' total, greedily in graph order; ties keep the value (no extra pass). */
static mlic_status plan(mlic_train_graph *t)
{
    const mlic_graph *g = t->g;
    const int nv = g->nvalues;
    plan_scratch w = {calloc((size_t)nv, 1), malloc((size_t)nv),
                      malloc((size_t)nv * sizeof(int)), malloc((size_t)nv * sizeof(int)),
                      malloc((size_t)nv * sizeof(int)), NULL};
    size_t best = (size_t)-1;
    if (w.kept_base && w.kept && w.slot_of && w.replay_slot && w.last &&
        mlic_buffer_plan_create(&w.sp, 1) == MLIC_OK) {
        mark_kept(t, w.kept_base);
        mark_recomputable(t, w.kept_base);
        best = plan_once(t, &w);
        for (int v = 0; v < nv && best != (size_t)-1; v++) {
            if (!t->recompute[v])
                continue;
            t->recompute[v] = 0;
            const size_t total = plan_once(t, &w);
            if (total <= best)
                best = total;
            else
                t->recompute[v] = 1;
        }
        if (best != (size_t)-1)
            best = plan_once(t, &w);
    }
    free(w.kept_base);
    free(w.kept);
    free(w.slot_of);
    free(w.replay_slot);
    free(w.last);
    mlic_buffer_plan_destroy(w.sp);
    if (best == (size_t)-1)
        return mlic_fail(MLIC_ERR_NOMEM, "training graph %s: out of memory planning buffers",
                         g->arch);
    return MLIC_OK;
}

static mlic_status allocate(mlic_train_graph *t)
{
    const mlic_graph *g = t->g;
    const size_t nb = (size_t)t->max_batch;
    size_t nsaved = 0, nmask = 0;
    t->workspace_floats = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        if (nd->op == MLIC_OP_BATCHNORM)
            nsaved += 4 * (size_t)g->values[nd->out].c;
        if (nd->op == MLIC_OP_DROPOUT)
            nmask += nb * value_floats(g, nd->out);
        const size_t ws = t->be->op[nd->op].workspace_floats(g, i, t->max_batch);
        if (ws > t->workspace_floats)
            t->workspace_floats = ws;
    }
    t->act = malloc((nb * t->act_per_sample + 1) * sizeof(float));
    t->dact = malloc((nb * t->dact_per_sample + 1) * sizeof(float));
    t->grads = calloc(g->nweights + 1, sizeof(float));
    t->saved_pool = malloc((nsaved + 1) * sizeof(float));
    t->mask_pool = malloc(nmask + 1);
    t->c.workspace = malloc((t->workspace_floats + 1) * sizeof(float));
    t->c.value = calloc((size_t)g->nvalues, sizeof(float *));
    t->c.dvalue = calloc((size_t)g->nvalues, sizeof(float *));
    t->c.saved = calloc((size_t)g->nnodes, sizeof(float *));
    t->c.mask = calloc((size_t)g->nnodes, sizeof(uint8_t *));
    if (!t->act || !t->dact || !t->grads || !t->saved_pool || !t->mask_pool || !t->c.workspace ||
        !t->c.value || !t->c.dvalue || !t->c.saved || !t->c.mask)
        return mlic_fail(MLIC_ERR_NOMEM,
                         "training graph %s: out of memory for a batch of %d (%zu MB of "
                         "activations). HINT: use a smaller --batch-size or --crop",
                         g->arch, t->max_batch,
                         (nb * (t->act_per_sample + t->dact_per_sample) * sizeof(float)) >> 20);
    size_t ks = 0, km = 0;
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        if (nd->op == MLIC_OP_BATCHNORM) {
            t->c.saved[i] = t->saved_pool + ks;
            ks += 4 * (size_t)g->values[nd->out].c;
        }
        if (nd->op == MLIC_OP_DROPOUT) {
            t->c.mask[i] = t->mask_pool + km;
            km += nb * value_floats(g, nd->out);
        }
    }
    return MLIC_OK;
}

mlic_status mlic_train_graph_create(mlic_train_graph **out, mlic_graph *g, int max_batch, int h,
                                    int w, const mlic_train_backend *backend)
{
    *out = NULL;
    if (max_batch < 1)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "training graph %s: batch size %d must be >= 1",
                         g->arch, max_batch);
    mlic_status s = mlic_graph_infer_shapes(g, h, w);
    if (s != MLIC_OK)
        return s;
    const mlic_train_backend *be = backend ? backend : &mlic_train_backend_ref;
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        if ((unsigned)nd->op >= MLIC_TRAIN_NUM_OPS || !be->op[nd->op].forward ||
            !be->op[nd->op].backward || !be->op[nd->op].workspace_floats)
            return mlic_fail(MLIC_ERR_UNSUPPORTED, "training backend %s has no op %d (node %s)",
                             be->name, (int)nd->op, label(nd));
        if (nd->fused_add >= 0 || nd->fused_act != MLIC_ACT_NONE)
            return mlic_fail(MLIC_ERR_INTERNAL, "training graph %s: node %s is fused; training "
                             "needs the unfolded graph", g->arch, label(nd));
    }
    mlic_train_graph *t = calloc(1, sizeof *t);
    if (!t)
        return mlic_fail(MLIC_ERR_NOMEM, "training graph %s: out of memory", g->arch);
    t->g = g;
    t->be = be;
    t->max_batch = max_batch;
    t->param_grad = calloc((size_t)g->nparams + 1, 1);
    t->bn_train = calloc((size_t)g->nnodes + 1, 1);
    t->needs_grad = calloc((size_t)g->nvalues, 1);
    t->act_off = calloc((size_t)g->nvalues, sizeof *t->act_off);
    t->grad_off = calloc((size_t)g->nvalues, sizeof *t->grad_off);
    t->grad_first = calloc((size_t)g->nvalues, sizeof *t->grad_first);
    t->producer = malloc((size_t)g->nvalues * sizeof *t->producer);
    t->recompute = calloc((size_t)g->nvalues, 1);
    t->replay_at = calloc((size_t)g->nvalues, sizeof *t->replay_at);
    t->replay_off = calloc((size_t)g->nvalues, sizeof *t->replay_off);
    t->in_place = calloc((size_t)g->nnodes + 1, 1);
    if (!t->param_grad || !t->bn_train || !t->needs_grad || !t->act_off || !t->grad_off ||
        !t->grad_first || !t->producer || !t->recompute || !t->replay_at || !t->replay_off ||
        !t->in_place) {
        mlic_train_graph_destroy(t);
        return mlic_fail(MLIC_ERR_NOMEM, "training graph %s: out of memory", g->arch);
    }
    for (int p = 0; p < g->nparams; p++)
        t->param_grad[p] = (uint8_t)(g->params[p].trainable != 0);
    for (int v = 0; v < g->nvalues; v++)
        t->producer[v] = -1;
    for (int i = 0; i < g->nnodes; i++)
        t->producer[g->nodes[i].out] = i;
    for (int i = 0; i < g->nnodes; i++)
        t->bn_train[i] = g->nodes[i].op == MLIC_OP_BATCHNORM &&
                         param_trainable(g, g->nodes[i].weight);
    s = mark_gradients(t);
    if (s == MLIC_OK)
        s = plan(t);
    if (s == MLIC_OK)
        s = allocate(t);
    if (s == MLIC_OK && be->state_create)
        s = be->state_create(&t->c.state, g, max_batch);
    if (s != MLIC_OK) {
        mlic_train_graph_destroy(t);
        return s;
    }
    t->c.g = g;
    t->c.weights = g->weights;
    t->c.grads = t->grads;
    t->c.param_grad = t->param_grad;
    t->c.bn_train = t->bn_train;
    *out = t;
    return MLIC_OK;
}

void mlic_train_graph_destroy(mlic_train_graph *t)
{
    if (!t)
        return;
    if (t->c.state)
        t->be->state_destroy(t->c.state);
    free(t->param_grad);
    free(t->bn_train);
    free(t->needs_grad);
    free(t->act_off);
    free(t->grad_off);
    free(t->grad_first);
    free(t->producer);
    free(t->recompute);
    free(t->replay_at);
    free(t->replay_off);
    free(t->in_place);
    free(t->act);
    free(t->dact);
    free(t->grads);
    free(t->saved_pool);
    free(t->mask_pool);
    free(t->c.workspace);
    free(t->c.value);
    free(t->c.dvalue);
    free(t->c.saved);
    free(t->c.mask);
    free(t);
}

/* ---------------------------------------------------------------- passes */

mlic_status mlic_train_graph_forward(mlic_train_graph *t, const float **logits,
                                     const float *input, int n, int training, uint64_t seed,
                                     uint64_t stream)
{
    const mlic_graph *g = t->g;
    if (n < 1 || n > t->max_batch)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "training graph %s: batch of %d, must be 1..%d",
                         g->arch, n, t->max_batch);
    t->forward_done = 0;
    mlic_train_ctx *c = &t->c;
    c->n = n;
    c->training = training != 0;
    mlic_rng_init(&c->rng, seed, stream);
    for (int v = 0; v < g->nvalues; v++) {
        c->value[v] = t->act + (size_t)n * t->act_off[v];
        c->dvalue[v] = NULL;
    }
    memcpy(c->value[g->input], input, (size_t)n * value_floats(g, g->input) * sizeof(float));
    for (int i = 0; i < g->nnodes; i++) {
        mlic_status s = t->be->op[g->nodes[i].op].forward(c, i);
        if (s != MLIC_OK)
            return mlic_fail_prefix(s, "%s forward, node %s: ", g->arch, label(&g->nodes[i]));
    }
    *logits = c->value[g->output];
    t->forward_done = c->training;
    t->last_n = n;
    return MLIC_OK;
}

/* Recompute the recomputed value v = relu(bn(x)) into its view: both nodes again, the batch
 * norm in replay mode (train_graph.h). */
static mlic_status replay(mlic_train_graph *t, int v)
{
    mlic_train_ctx *c = &t->c;
    const int r = t->producer[v], b = t->producer[t->g->nodes[r].in[0]];
    c->replay = 1;
    mlic_status s = t->be->op[MLIC_OP_BATCHNORM].forward(c, b);
    if (s == MLIC_OK)
        s = t->be->op[t->g->nodes[r].op].forward(c, r);
    c->replay = 0;
    return s;
}

mlic_status mlic_train_graph_backward(mlic_train_graph *t, const float *dlogits)
{
    const mlic_graph *g = t->g;
    if (!t->forward_done)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "training graph %s: backward without a training "
                         "forward before it", g->arch);
    mlic_train_ctx *c = &t->c;
    const int n = t->last_n;
    for (int v = 0; v < g->nvalues; v++) {
        c->dvalue[v] = t->needs_grad[v] ? t->dact + (size_t)n * t->grad_off[v] : NULL;
        if (t->recompute[v]) /* the batch norm's output too: the replay runs in place */
            c->value[v] = c->value[g->nodes[t->producer[v]].in[0]] =
                t->dact + (size_t)n * t->replay_off[v];
    }
    if (!c->dvalue[g->output])
        return MLIC_OK; /* nothing trains */
    memcpy(c->dvalue[g->output], dlogits, (size_t)n * g->num_classes * sizeof(float));
    t->forward_done = 0;
    mlic_status s = MLIC_OK;
    for (int i = g->nnodes - 1; i >= 0; i--) {
        const mlic_node *nd = &g->nodes[i];
        if (c->dvalue[nd->out] && s == MLIC_OK) {
            const int r = backward_read(t, i);
            if (r >= 0 && t->replay_at[r] == i && (s = replay(t, r)) != MLIC_OK) {
                mlic_fail_prefix(s, "%s backward, recomputing the output of %s: ", g->arch,
                                 label(&g->nodes[t->producer[r]]));
            } else {
                for (int k = t->in_place[i]; k < 2; k++) {
                    const int in = nd->in[k];
                    if (in >= 0 && t->grad_first[in] == i && (k == 0 || in != nd->in[0]))
                        memset(c->dvalue[in], 0, (size_t)n * value_floats(g, in) * sizeof(float));
                }
                if ((s = t->be->op[nd->op].backward(c, i)) != MLIC_OK)
                    mlic_fail_prefix(s, "%s backward, node %s: ", g->arch, label(nd));
            }
        }
        if (c->hooks && c->hooks->backward_done)
            c->hooks->backward_done(c->hooks->user, i);
    }
    return s;
}

void mlic_train_graph_set_hooks(mlic_train_graph *t, const mlic_train_hooks *h)
{
    if (h)
        t->hooks = *h;
    t->c.hooks = h ? &t->hooks : NULL;
}

void mlic_train_graph_zero_grad(mlic_train_graph *t)
{
    memset(t->grads, 0, t->g->nweights * sizeof(float));
}

float *mlic_train_graph_grads(mlic_train_graph *t)
{
    return t->grads;
}

static int nonfinite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 1;
    return 0;
}

void mlic_train_graph_explain_nonfinite(const mlic_train_graph *t, int batch, char *buf,
                                        size_t size)
{
    const mlic_graph *g = t->g;
    const char *first = NULL;
    int bn = -1;
    size_t bn_m = 0;
    for (int i = g->nnodes - 1; i >= 0; i--) {
        const mlic_node *nd = &g->nodes[i];
        for (int k = 0; k < 2 && !first; k++) {
            const int p = k ? nd->bias : nd->weight;
            if (p >= 0 && t->param_grad[p] &&
                nonfinite(t->grads + g->params[p].offset, g->params[p].numel))
                first = g->params[p].name;
        }
        const mlic_shape3 s = g->values[nd->out];
        const size_t m = (size_t)batch * (size_t)s.h * (size_t)s.w;
        if (t->bn_train[i] && (bn < 0 || m < bn_m)) {
            bn = i;
            bn_m = m;
        }
    }
    int len = snprintf(buf, size, "%s%s", first ? "; it first went non-finite at " : "",
                       first ? first : "");
    if (bn >= 0 && len >= 0 && (size_t)len < size) {
        const mlic_node *nd = &g->nodes[bn];
        const mlic_shape3 s = g->values[nd->out];
        snprintf(buf + len, size - (size_t)len, "; the batch norm over the fewest values is %s: "
                 "%zu per channel (batch %d x %dx%d map); over a few values a batch norm's "
                 "gradient can grow up to %.0fx |gamma| per layer, in PyTorch too",
                 label(nd), bn_m, batch, s.h, s.w, 1.0 / sqrt((double)nd->eps));
    }
}

const mlic_train_ctx *mlic_train_graph_ctx(const mlic_train_graph *t)
{
    return &t->c;
}

const uint8_t *mlic_train_graph_recomputed(const mlic_train_graph *t)
{
    return t->recompute;
}

size_t mlic_train_graph_bytes(const mlic_train_graph *t)
{
    return ((size_t)t->max_batch * (t->act_per_sample + t->dact_per_sample) + t->g->nweights +
            t->workspace_floats) * sizeof(float);
}

void mlic_train_graph_freeze_backbone(mlic_graph *g)
{
    int head = -1;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == MLIC_OP_LINEAR)
            head = i;
    for (int p = 0; p < g->nparams; p++) {
        const int is_head = head >= 0 && (p == g->nodes[head].weight || p == g->nodes[head].bias);
        if (!is_head)
            g->params[p].trainable = 0;
    }
}
