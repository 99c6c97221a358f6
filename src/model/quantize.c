/* mlic_model_quantize: post-training int8 quantization (docs/quantization.md).
 *
 * The fp32 model's folded graph runs on the reference backend over the calibration images; a
 * histogram of |x| per input value of every quantized convolution gives its range (the largest
 * value, or a percentile), and its scale maps that range onto u8 codes (inputs that are never
 * negative) or s8 codes. The weights need no data: symmetric per output channel, of the folded
 * weight, so that the batch-norm fold the engine does is quantized exactly as it runs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/error.h"
#include "data/loader.h"
#include "model/model.h"

#define DEFAULT_IMAGES 200
#define DEFAULT_PERCENTILE 99.99
#define CALIB_BATCH 16
/* |x| binned by its float's top 16 bits (sign 0: exponent and 7 mantissa bits), so a bin is
 * 2^-7 of its value wide whatever the value's magnitude. */
#define HIST_BINS (1 << 15)

typedef struct {
    uint64_t *count;   /* (HIST_BINS) */
    uint64_t total;
    float max;         /* largest |x| */
    size_t batch_seen; /* 1 + the last batch counted, so that a value read twice counts once */
} value_hist;

typedef struct {
    const mlic_graph *f;
    value_hist *hist;  /* (nvalues), count NULL for values no quantized convolution reads */
    size_t batch;
} calib_state;

void mlic_quantize_opts_init(mlic_quantize_opts *o)
{
    memset(o, 0, sizeof *o);
    o->images = DEFAULT_IMAGES;
    o->method = MLIC_CALIB_PERCENTILE;
    o->percentile = DEFAULT_PERCENTILE;
}

mlic_status mlic_calib_method_parse(mlic_calib_method *out, const char *name)
{
    if (name && !strcmp(name, "percentile"))
        *out = MLIC_CALIB_PERCENTILE;
    else if (name && !strcmp(name, "minmax"))
        *out = MLIC_CALIB_MINMAX;
    else
        return mlic_fail(MLIC_ERR_INVALID_ARG, "calibration method '%s' is not known. HINT: use "
                         "percentile or minmax", name ? name : "(null)");
    return MLIC_OK;
}

/* Convolutions that get int8: all but those reading the image itself. */
static int quantized(const mlic_graph *g, const mlic_node *nd)
{
    return nd->op == MLIC_OP_CONV && nd->in[0] != g->input;
}

static unsigned bin_of(float a)
{
    uint32_t bits;
    memcpy(&bits, &a, sizeof bits);
    return bits >> 16;
}

static mlic_status observe(void *ctx, int node, const float *x, size_t count)
{
    calib_state *cs = ctx;
    const mlic_node *nd = &cs->f->nodes[node];
    if (!quantized(cs->f, nd))
        return MLIC_OK;
    value_hist *h = &cs->hist[nd->in[0]];
    if (h->batch_seen == cs->batch + 1)
        return MLIC_OK;
    h->batch_seen = cs->batch + 1;
    for (size_t i = 0; i < count; i++) {
        const float a = fabsf(x[i]);
        if (!(a <= 3.0e38f))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "calibration: the fp32 model computes %g at the "
                             "input of %s. HINT: the model is broken; evaluate it first", (double)x[i],
                             nd->name);
        h->count[bin_of(a)]++;
        h->max = a > h->max ? a : h->max;
    }
    h->total += count;
    return MLIC_OK;
}

/* The range of a value's |x|: its largest, or the upper edge of the bin where the percentile
 * falls (never above the largest). */
static float value_range(const value_hist *h, const mlic_quantize_opts *o)
{
    if (o->method == MLIC_CALIB_MINMAX || h->max == 0.0f)
        return h->max;
    const double want = ceil(o->percentile / 100.0 * (double)h->total);
    uint64_t seen = 0;
    unsigned b = 0;
    for (; b < HIST_BINS - 1; b++)
        if ((double)(seen += h->count[b]) >= want)
            break;
    uint32_t bits = (uint32_t)(b + 1) << 16;
    float edge;
    memcpy(&edge, &bits, sizeof edge);
    return edge < h->max ? edge : h->max;
}

/* Per output channel: scale = max|w| / 127 (1 for a channel of zeros), q = round-half-even(w /
 * scale), in float32, as tests/py/test_quantize.py recomputes it with numpy. */
static void quantize_weights(mlic_conv_int8 *q, const float *w)
{
    const size_t per = q->numel / (size_t)q->out_c;
    for (int o = 0; o < q->out_c; o++) {
        const float *wo = w + (size_t)o * per;
        float amax = 0.0f;
        for (size_t k = 0; k < per; k++)
            amax = fabsf(wo[k]) > amax ? fabsf(wo[k]) : amax;
        const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
        q->weight_scale[o] = scale;
        for (size_t k = 0; k < per; k++) {
            float r = rintf(wo[k] / scale);
            r = r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r;
            q->weight[(size_t)o * per + k] = (int8_t)r;
        }
    }
}

static mlic_status check_args(const mlic_model *m, const mlic_dataset *d,
                              const mlic_quantize_opts *o)
{
    if (!m || !d || !o)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_model_quantize: needs a model, a calibration "
                         "data set and options");
    if (m->nint8)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "quantize: the model is int8 already (calibrated "
                         "with %s). HINT: quantize the fp32 model it was made from",
                         m->calibration);
    if (o->images < 0 || o->threads < 0 || o->workers < 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "quantize: images %d, threads %d and workers %d "
                         "must be >= 0", o->images, o->threads, o->workers);
    if (o->method != MLIC_CALIB_PERCENTILE && o->method != MLIC_CALIB_MINMAX)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "quantize: calibration method %d is not a "
                         "mlic_calib_method", (int)o->method);
    if (o->method == MLIC_CALIB_PERCENTILE && !(o->percentile > 0 && o->percentile <= 100))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "quantize: percentile %g is outside (0, 100]. "
                         "HINT: e.g. 99.99", o->percentile);
    if (d->nitems == 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "quantize: the calibration data set has no images. "
                         "HINT: give a list of images like those the model will see");
    return MLIC_OK;
}

/* Run the folded graph over the first `count` images, filling cs->hist. */
static mlic_status calibrate(calib_state *cs, const mlic_model *m, const mlic_dataset *d,
                             size_t count, const mlic_quantize_opts *o)
{
    void *ref = NULL;
    mlic_loader *l = NULL;
    size_t *order = malloc(count * sizeof *order);
    float *logits = malloc((size_t)CALIB_BATCH * m->num_classes * sizeof *logits);
    mlic_status st = order && logits ? MLIC_OK : mlic_fail(MLIC_ERR_NOMEM, "quantize: out of "
                                                           "memory");
    for (size_t i = 0; order && i < count; i++)
        order[i] = i;
    if (!st)
        st = mlic_backend_ref.create(&ref, cs->f, CALIB_BATCH, o->threads, MLIC_PRECISION_FP32);
    mlic_loader_cfg cfg;
    mlic_loader_cfg_init(&cfg);
    cfg.data = d;
    cfg.order = order;
    cfg.count = count;
    cfg.batch_size = CALIB_BATCH;
    cfg.pre = m->pre;
    cfg.workers = o->workers;
    cfg.decode = mlic_decode_opts_for_eval(&cfg.pre, 0);
    if (!st)
        st = mlic_loader_create(&l, &cfg);
    const mlic_batch *b = NULL;
    while (!st && (st = mlic_loader_next(l, &b)) == MLIC_OK && b) {
        cs->batch = b->index;
        st = mlic_backend_ref_run_observed(ref, logits, b->images, b->n, observe, cs);
    }
    mlic_loader_destroy(l);
    if (ref)
        mlic_backend_ref.destroy(ref);
    free(order);
    free(logits);
    return st;
}

/* m->int8 from the folded graph f and the measured ranges. */
static mlic_status make_int8(mlic_model *m, const mlic_graph *f, const calib_state *cs,
                             const mlic_quantize_opts *o)
{
    int n = 0;
    for (int i = 0; i < f->nnodes; i++)
        n += quantized(f, &f->nodes[i]);
    if (!(m->int8 = calloc((size_t)n + 1, sizeof *m->int8)))
        return mlic_fail(MLIC_ERR_NOMEM, "quantize: out of memory");
    for (int i = 0; i < f->nnodes; i++) {
        const mlic_node *nd = &f->nodes[i];
        if (!quantized(f, nd))
            continue;
        mlic_conv_int8 *q = &m->int8[m->nint8++];
        const mlic_param *w = &f->params[nd->weight];
        snprintf(q->name, sizeof q->name, "%s", nd->name);
        q->out_c = (int)w->dims[0];
        q->numel = w->numel;
        q->weight = malloc(q->numel);
        q->weight_scale = malloc((size_t)q->out_c * sizeof(float));
        if (!q->weight || !q->weight_scale)
            return mlic_fail(MLIC_ERR_NOMEM, "quantize: out of memory");
        quantize_weights(q, mlic_graph_param(f, nd->weight));
        const float range = value_range(&cs->hist[nd->in[0]], o);
        const float levels = mlic_graph_value_nonneg(f, nd->in[0]) ? 255.0f : 127.0f;
        q->input_scale = range > 0.0f ? range / levels : 1.0f;
    }
    return MLIC_OK;
}

mlic_status mlic_model_quantize(mlic_model *m, const mlic_dataset *calib,
                                const mlic_quantize_opts *o)
{
    mlic_quantize_opts defaults;
    if (!o) {
        mlic_quantize_opts_init(&defaults);
        o = &defaults;
    }
    mlic_quantize_opts opts = *o;
    if (!opts.images)
        opts.images = DEFAULT_IMAGES;
    if (opts.method == MLIC_CALIB_PERCENTILE && opts.percentile == 0)
        opts.percentile = DEFAULT_PERCENTILE;
    mlic_status st = check_args(m, calib, &opts);
    if (st)
        return st;
    const size_t count = calib->nitems < (size_t)opts.images ? calib->nitems : (size_t)opts.images;
    mlic_graph *f = NULL;
    calib_state cs = {0};
    st = mlic_graph_fold_for_inference(&f, m->graph);
    if (!st)
        st = mlic_graph_infer_shapes(f, m->pre.crop, m->pre.crop);
    if (!st && !(cs.hist = calloc((size_t)f->nvalues, sizeof *cs.hist)))
        st = mlic_fail(MLIC_ERR_NOMEM, "quantize: out of memory");
    for (int i = 0; !st && i < f->nnodes; i++) {
        const mlic_node *nd = &f->nodes[i];
        value_hist *h = &cs.hist[nd->in[0]];
        if (quantized(f, nd) && !h->count &&
            !(h->count = calloc(HIST_BINS, sizeof *h->count)))
            st = mlic_fail(MLIC_ERR_NOMEM, "quantize: out of memory");
    }
    cs.f = f;
    if (!st)
        st = calibrate(&cs, m, calib, count, &opts);
    if (!st)
        st = make_int8(m, f, &cs, &opts);
    if (!st) {
        if (opts.method == MLIC_CALIB_MINMAX)
            snprintf(m->calibration, sizeof m->calibration, "minmax, %zu images", count);
        else
            snprintf(m->calibration, sizeof m->calibration, "percentile %g, %zu images",
                     opts.percentile, count);
    } else {
        mlic_model_int8_clear(m);
    }
    for (int v = 0; cs.hist && v < f->nvalues; v++)
        free(cs.hist[v].count);
    free(cs.hist);
    mlic_graph_free(f);
    return st ? mlic_fail_prefix(st, "quantizing %s: ", m->graph->arch) : st;
}
