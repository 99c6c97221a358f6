#include "train/init.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/rng.h"
#include "model/safetensors.h"

static const mlic_node *head_node(const mlic_graph *g)
{
    for (int i = g->nnodes - 1; i >= 0; i--)
        if (g->nodes[i].op == MLIC_OP_LINEAR)
            return &g->nodes[i];
    return NULL;
}

static int is_head_param(const mlic_graph *g, int p)
{
    const mlic_node *h = head_node(g);
    return h && (p == h->weight || p == h->bias);
}

static void fill(float *w, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        w[i] = v;
}

static void fill_uniform(float *w, size_t n, double bound, mlic_rng *r)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)mlic_rng_range(r, -bound, bound);
}

/* Box-Muller on two uniforms per pair of values. */
static void fill_normal(float *w, size_t n, double std, mlic_rng *r)
{
    for (size_t i = 0; i < n; i += 2) {
        const double u1 = 1.0 - mlic_rng_uniform(r), u2 = mlic_rng_uniform(r);
        const double rad = sqrt(-2.0 * log(u1)) * std;
        w[i] = (float)(rad * cos(2.0 * M_PI * u2));
        if (i + 1 < n)
            w[i + 1] = (float)(rad * sin(2.0 * M_PI * u2));
    }
}

static void param_rng(mlic_rng *r, uint64_t seed, int p)
{
    mlic_rng_init(r, seed, MLIC_TRAIN_STREAM_INIT + (uint64_t)p);
}

/* nn.Linear's default: kaiming_uniform_(a=sqrt(5)) gives the bound 1/sqrt(fan_in), the bias
 * the same. */
static void init_linear_default(mlic_graph *g, const mlic_node *nd, uint64_t seed)
{
    const mlic_param *w = &g->params[nd->weight];
    const double bound = 1.0 / sqrt((double)w->dims[1]);
    mlic_rng r;
    param_rng(&r, seed, nd->weight);
    fill_uniform(mlic_graph_param(g, nd->weight), w->numel, bound, &r);
    if (nd->bias >= 0) {
        param_rng(&r, seed, nd->bias);
        fill_uniform(mlic_graph_param(g, nd->bias), g->params[nd->bias].numel, bound, &r);
    }
}

void mlic_train_init_head(mlic_graph *g, uint64_t seed)
{
    const mlic_node *h = head_node(g);
    if (h)
        init_linear_default(g, h, seed);
}

void mlic_train_init_weights(mlic_graph *g, uint64_t seed)
{
    const int mobilenet = !strncmp(g->arch, "mobilenet", 9);
    mlic_rng r;
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        switch (nd->op) {
        case MLIC_OP_CONV: {
            const mlic_param *w = &g->params[nd->weight];
            const double fan_out = (double)w->dims[0] * (double)(w->dims[2] * w->dims[3]);
            param_rng(&r, seed, nd->weight);
            fill_normal(mlic_graph_param(g, nd->weight), w->numel, sqrt(2.0 / fan_out), &r);
            if (nd->bias >= 0)
                fill(mlic_graph_param(g, nd->bias), g->params[nd->bias].numel, 0.0f);
            break;
        }
        case MLIC_OP_BATCHNORM: {
            const size_t c = g->params[nd->weight].numel;
            fill(mlic_graph_param(g, nd->weight), c, 1.0f);
            fill(mlic_graph_param(g, nd->bias), c, 0.0f);
            fill(mlic_graph_param(g, nd->running_mean), c, 0.0f);
            fill(mlic_graph_param(g, nd->running_var), c, 1.0f);
            break;
        }
        case MLIC_OP_LINEAR:
            if (mobilenet) {
                const mlic_param *w = &g->params[nd->weight];
                param_rng(&r, seed, nd->weight);
                fill_normal(mlic_graph_param(g, nd->weight), w->numel, 0.01, &r);
                fill(mlic_graph_param(g, nd->bias), g->params[nd->bias].numel, 0.0f);
            } else {
                init_linear_default(g, nd, seed);
            }
            break;
        case MLIC_OP_RELU:
        case MLIC_OP_RELU6:
        case MLIC_OP_ADD:
        case MLIC_OP_MAXPOOL:
        case MLIC_OP_GLOBAL_AVGPOOL:
        case MLIC_OP_DROPOUT:
            break;
        }
    }
}

/* ---------------------------------------------------------------- pretrained */

/* 1 if f is an mlic model whose "classes" equal classes, in order. */
static int same_model_classes(const mlic_safetensors *f, const char *const *classes, int n)
{
    const char *text = mlic_safetensors_metadata(f, "mlic");
    if (!text)
        return 0;
    cJSON *root = cJSON_Parse(text);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "classes");
    int same = cJSON_IsArray(list) && cJSON_GetArraySize(list) == n;
    const cJSON *c = same ? list->child : NULL;
    for (int i = 0; same && i < n; i++, c = c->next)
        same = cJSON_IsString(c) && !strcmp(c->valuestring, classes[i]);
    cJSON_Delete(root);
    return same;
}

static int same_shape(const mlic_param *p, const mlic_safetensors_tensor *t)
{
    if (t->ndim != p->ndim)
        return 0;
    for (int d = 0; d < p->ndim; d++)
        if (t->dims[d] != p->dims[d])
            return 0;
    return 1;
}

static int is_float(mlic_dtype t)
{
    return t == MLIC_DTYPE_F32 || t == MLIC_DTYPE_F16 || t == MLIC_DTYPE_BF16 ||
           t == MLIC_DTYPE_F64;
}

mlic_status mlic_train_load_pretrained(mlic_graph *g, const char *path,
                                       const char *const *classes, int num_classes,
                                       uint64_t seed, mlic_pretrained_report *report)
{
    return mlic_train_load_pretrained_io(g, NULL, path, classes, num_classes, seed, report);
}

mlic_status mlic_train_load_pretrained_io(mlic_graph *g, mlic_io *io, const char *path,
                                          const char *const *classes, int num_classes,
                                          uint64_t seed, mlic_pretrained_report *report)
{
    memset(report, 0, sizeof *report);
    report->total = g->nparams;
    mlic_safetensors *f = NULL;
    mlic_status s = mlic_safetensors_open_io(&f, io, path);
    if (s != MLIC_OK)
        return mlic_fail_prefix(s, "--pretrained: ");
    mlic_train_init_weights(g, seed);
    const int keep_head = same_model_classes(f, classes, num_classes);
    int backbone = 0;
    for (int p = 0; p < g->nparams && s == MLIC_OK; p++) {
        const mlic_param *pp = &g->params[p];
        const int ti = mlic_safetensors_find(f, pp->name);
        if (ti < 0 || (is_head_param(g, p) && !keep_head))
            continue;
        const mlic_safetensors_tensor *t = mlic_safetensors_tensor_at(f, ti);
        if (!is_float(t->dtype) || !same_shape(pp, t)) {
            report->mismatched++;
            continue;
        }
        float *w = mlic_graph_param(g, p);
        s = mlic_safetensors_read_f32(f, ti, w);
        for (size_t k = 0; k < pp->numel && s == MLIC_OK; k++)
            if (!isfinite(w[k]))
                s = mlic_fail(MLIC_ERR_FORMAT, "--pretrained %s: tensor '%s' holds %s at element "
                              "%zu", path, pp->name, isnan(w[k]) ? "NaN" : "an infinity", k);
        report->loaded++;
        backbone += !is_head_param(g, p);
        report->head_kept |= is_head_param(g, p);
    }
    mlic_safetensors_close(f);
    if (s != MLIC_OK)
        return s;
    if (!backbone)
        return mlic_fail(MLIC_ERR_FORMAT, "--pretrained %s: no tensor matches a parameter of %s by "
                         "name and shape (%d named alike but shaped differently). HINT: give a "
                         "torchvision %s state dict or mlic model saved as safetensors, or check "
                         "--arch", path, g->arch, report->mismatched, g->arch);
    if (!report->head_kept)
        mlic_train_init_head(g, seed);
    return MLIC_OK;
}
