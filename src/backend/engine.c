/* The inference engine: folds the model's graph, sizes it for the model's crop and hands it to
 * one backend. The backend sees only a folded graph; the engine adds batching and sigmoid. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/error.h"
#include "model/model.h"

struct mlic_engine {
    const mlic_model *model;     /* the caller's, for its preprocessing */
    mlic_graph *graph;           /* folded, shapes inferred for (3, crop, crop) */
    const mlic_backend_ops *ops;
    void *state;
    int max_batch, threads;
    mlic_precision precision;    /* FP32, BF16 or INT8: what the backend computes in */
    size_t in_floats;            /* per image */
};

static mlic_status pick_backend(const mlic_backend_ops **ops, mlic_backend_kind kind)
{
    switch (kind) {
    case MLIC_BACKEND_AUTO:
#if MLIC_HAVE_ONEDNN
        *ops = &mlic_backend_onednn;
#else
        *ops = &mlic_backend_ref;
#endif
        return MLIC_OK;
    case MLIC_BACKEND_REF:
        *ops = &mlic_backend_ref;
        return MLIC_OK;
    case MLIC_BACKEND_ONEDNN:
#if MLIC_HAVE_ONEDNN
        *ops = &mlic_backend_onednn;
        return MLIC_OK;
#else
        return mlic_fail(MLIC_ERR_UNSUPPORTED,
                         "backend onednn: this build has no oneDNN. HINT: install oneDNN "
                         "(libdnnl-dev) and rebuild, or use the ref backend");
#endif
    case MLIC_BACKEND_CUDA:
        return mlic_fail(MLIC_ERR_UNSUPPORTED,
                         "backend cuda: not built with CUDA. HINT: use the onednn or ref backend");
    }
    return mlic_fail(MLIC_ERR_INVALID_ARG, "backend kind %d is not a mlic_backend_kind", (int)kind);
}

/* What the backend computes in: AUTO is bf16 where the backend has native bf16 on this CPU;
 * an explicit BF16 where it has not is an error saying why. */
static mlic_status resolve_precision(mlic_precision *out, const mlic_backend_ops *ops,
                                     mlic_precision asked, const mlic_model *m)
{
    const char *why = ops->bf16_unavailable();
    if (m->nint8) { /* an int8 model runs in int8: the precision is the file's */
        if (asked == MLIC_PRECISION_BF16)
            return mlic_fail(MLIC_ERR_UNSUPPORTED,
                             "precision bf16 for an int8 model (mlic quantize). HINT: leave "
                             "--precision out (an int8 model runs in int8), or run the fp32 model "
                             "it was made from in bf16");
        *out = MLIC_PRECISION_INT8;
        return MLIC_OK;
    }
    switch (asked) {
    case MLIC_PRECISION_INT8:
        return mlic_fail(MLIC_ERR_INVALID_ARG,
                         "precision int8 for an fp32 model. HINT: make an int8 model with 'mlic "
                         "quantize' first");
    case MLIC_PRECISION_FP32:
        *out = MLIC_PRECISION_FP32;
        return MLIC_OK;
    case MLIC_PRECISION_AUTO:
        *out = why ? MLIC_PRECISION_FP32 : MLIC_PRECISION_BF16;
        return MLIC_OK;
    case MLIC_PRECISION_BF16:
        if (why)
            return mlic_fail(MLIC_ERR_UNSUPPORTED,
                             "precision bf16 on the %s backend: %s. HINT: use --precision fp32, "
                             "or auto to get bf16 only where it is available",
                             ops->name, why);
        *out = MLIC_PRECISION_BF16;
        return MLIC_OK;
    }
    return mlic_fail(MLIC_ERR_INVALID_ARG, "precision %d is not a mlic_precision. HINT: use "
                     "MLIC_PRECISION_FP32, _BF16 or _AUTO", (int)asked);
}

static const char *precision_name(mlic_precision p)
{
    return p == MLIC_PRECISION_BF16 ? "bf16" : p == MLIC_PRECISION_INT8 ? "int8" : "fp32";
}

/* Point every quantized convolution of the folded graph g at the model's int8 data. */
static mlic_status attach_int8(mlic_graph *g, const mlic_model *m)
{
    for (int i = 0; i < m->nint8; i++) {
        int found = 0;
        for (int k = 0; k < g->nnodes && !found; k++)
            if (g->nodes[k].op == MLIC_OP_CONV && !strcmp(g->nodes[k].name, m->int8[i].name)) {
                const mlic_param *w = &g->params[g->nodes[k].weight];
                if (w->numel != m->int8[i].numel || w->dims[0] != m->int8[i].out_c)
                    return mlic_fail(MLIC_ERR_INTERNAL, "int8 convolution %s: %zu weights, the "
                                     "graph's has %zu", m->int8[i].name, m->int8[i].numel,
                                     w->numel);
                g->nodes[k].int8 = &m->int8[i];
                found = 1;
            }
        if (!found)
            return mlic_fail(MLIC_ERR_INTERNAL, "int8 convolution %s is not in the folded graph",
                             m->int8[i].name);
    }
    return MLIC_OK;
}

void mlic_engine_opts_init(mlic_engine_opts *o)
{
    o->backend = MLIC_BACKEND_AUTO;
    o->max_batch = 32;
    o->threads = 0;
    o->precision = MLIC_PRECISION_FP32;
}

mlic_status mlic_precision_parse(mlic_precision *out, const char *name)
{
    static const char *const names[] = {"fp32", "bf16", "auto", "int8"};
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (mlic_precision)i;
            return MLIC_OK;
        }
    return mlic_fail(MLIC_ERR_INVALID_ARG,
                     "precision '%s' is not known. HINT: use fp32, bf16 or auto (or int8, which an "
                     "int8 model runs in anyway)",
                     name ? name : "(null)");
}

mlic_status mlic_engine_create(mlic_engine **out, const mlic_model *m, mlic_backend_kind backend,
                               int max_batch, int threads)
{
    mlic_engine_opts o;
    mlic_engine_opts_init(&o);
    o.backend = backend;
    o.max_batch = max_batch;
    o.threads = threads;
    return mlic_engine_create_opts(out, m, &o);
}

mlic_status mlic_engine_create_opts(mlic_engine **out, const mlic_model *m,
                                    const mlic_engine_opts *o)
{
    mlic_engine_opts defaults;
    if (!o) {
        mlic_engine_opts_init(&defaults);
        o = &defaults;
    }
    const mlic_backend_kind backend = o->backend;
    const int max_batch = o->max_batch ? o->max_batch : 32;
    const int threads = o->threads;
    if (!out)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_engine_create: out is NULL");
    *out = NULL;
    if (!m)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_engine_create: model is NULL");
    if (max_batch < 1)
        return mlic_fail(MLIC_ERR_INVALID_ARG,
                         "mlic_engine_create: max_batch is %d. HINT: use a batch size >= 1",
                         max_batch);
    if (threads < 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG,
                         "mlic_engine_create: threads is %d. HINT: use 0 for all cores", threads);
    const mlic_backend_ops *ops = NULL;
    mlic_status s = pick_backend(&ops, backend);
    if (s != MLIC_OK)
        return s;
    mlic_precision precision = MLIC_PRECISION_FP32;
    if ((s = resolve_precision(&precision, ops, o->precision, m)) != MLIC_OK)
        return s;
    mlic_engine *e = calloc(1, sizeof *e);
    if (!e)
        return mlic_fail(MLIC_ERR_NOMEM, "mlic_engine_create: out of memory");
    e->model = m;
    e->ops = ops;
    e->precision = precision;
    e->max_batch = max_batch;
    e->threads = threads ? threads : omp_get_num_procs();
    e->in_floats = (size_t)3 * m->pre.crop * m->pre.crop;
    omp_set_num_threads(e->threads);
    s = mlic_graph_fold_for_inference(&e->graph, m->graph);
    if (s == MLIC_OK)
        s = mlic_graph_infer_shapes(e->graph, m->pre.crop, m->pre.crop);
    if (s == MLIC_OK)
        s = attach_int8(e->graph, m);
    if (s == MLIC_OK)
        s = ops->create(&e->state, e->graph, max_batch, e->threads, precision);
    if (s != MLIC_OK) {
        mlic_engine_destroy(e);
        return mlic_fail_prefix(s, "preparing %s for %s inference on %s: ", m->graph->arch,
                                precision_name(precision), ops->name);
    }
    *out = e;
    return MLIC_OK;
}

void mlic_engine_destroy(mlic_engine *e)
{
    if (!e)
        return;
    if (e->state)
        e->ops->destroy(e->state);
    mlic_graph_free(e->graph);
    free(e);
}

const mlic_model *mlic_engine_model(const mlic_engine *e)
{
    return e ? e->model : NULL;
}

const char *mlic_engine_backend_name(const mlic_engine *e)
{
    return e ? e->ops->name : "none";
}

const char *mlic_engine_precision_name(const mlic_engine *e)
{
    if (!e)
        return "none";
    return precision_name(e->precision);
}

mlic_status mlic_engine_run_logits(mlic_engine *e, float *logits, const float *input, int n)
{
    if (!e || n < 0 || (n > 0 && (!logits || !input)))
        return mlic_fail(MLIC_ERR_INVALID_ARG,
                         "mlic_engine_run: needs an engine, %d >= 0 images and buffers", n);
    const int k = e->graph->num_classes;
    omp_set_num_threads(e->threads);
    for (int done = 0; done < n; done += e->max_batch) {
        const int chunk = n - done < e->max_batch ? n - done : e->max_batch;
        mlic_status s = e->ops->run(e->state, logits + (size_t)done * k,
                                    input + (size_t)done * e->in_floats, chunk);
        if (s != MLIC_OK)
            return mlic_fail_prefix(s, "%s backend, images %d..%d: ", e->ops->name, done,
                                    done + chunk - 1);
    }
    return MLIC_OK;
}

mlic_status mlic_engine_run(mlic_engine *e, float *probs, const float *input, int n)
{
    mlic_status s = mlic_engine_run_logits(e, probs, input, n);
    if (s != MLIC_OK)
        return s;
    const size_t count = (size_t)n * e->graph->num_classes;
    for (size_t i = 0; i < count; i++) {
        /* exp of a non-positive number only, so neither branch overflows */
        const float x = probs[i];
        if (x >= 0.0f) {
            probs[i] = 1.0f / (1.0f + expf(-x));
        } else {
            const float z = expf(x);
            probs[i] = z / (1.0f + z);
        }
    }
    return MLIC_OK;
}
