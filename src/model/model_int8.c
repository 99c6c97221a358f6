/* The int8 part of a model (docs/quantization.md): its quantized convolutions in memory and as
 * tensors of the model file (docs/model-format.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model.h"

#define NAME_CAP 96

static const char *const SUFFIX[3] = {"weight_int8", "weight_scale", "input_scale"};

void mlic_model_int8_clear(mlic_model *m)
{
    for (int i = 0; i < m->nint8; i++) {
        free(m->int8[i].weight);
        free(m->int8[i].weight_scale);
    }
    free(m->int8);
    m->int8 = NULL;
    m->nint8 = 0;
    m->calibration[0] = '\0';
}

const char *mlic_model_precision(const mlic_model *m)
{
    return m && m->nint8 ? "int8" : "fp32";
}

const char *mlic_model_calibration(const mlic_model *m)
{
    return m && m->nint8 ? m->calibration : "";
}

mlic_status mlic_model_int8_entries(const mlic_model *m, mlic_safetensors_entry **e, char **names,
                                    int *n)
{
    const mlic_graph *g = m->graph;
    *n = 3 * m->nint8;
    *e = calloc((size_t)*n + 1, sizeof **e);
    *names = calloc((size_t)*n + 1, NAME_CAP);
    if (!*e || !*names)
        return mlic_fail(MLIC_ERR_NOMEM, "writing an int8 model: out of memory");
    for (int i = 0; i < m->nint8; i++) {
        const mlic_conv_int8 *q = &m->int8[i];
        char wname[NAME_CAP];
        snprintf(wname, sizeof wname, "%s.weight", q->name);
        int wp = mlic_graph_find_param(g, wname);
        if (wp < 0)
            return mlic_fail(MLIC_ERR_INTERNAL, "int8 convolution %s has no weight in %s", q->name,
                             g->arch);
        const mlic_param *p = &g->params[wp];
        for (int k = 0; k < 3; k++)
            snprintf(*names + (size_t)(3 * i + k) * NAME_CAP, NAME_CAP, "%s.%s", q->name,
                     SUFFIX[k]);
        mlic_safetensors_entry *t = *e + 3 * i;
        t[0] = (mlic_safetensors_entry){*names + (size_t)(3 * i) * NAME_CAP, MLIC_DTYPE_I8,
                                        p->ndim, p->dims, q->weight};
        t[1] = (mlic_safetensors_entry){*names + (size_t)(3 * i + 1) * NAME_CAP, MLIC_DTYPE_F32, 1,
                                        p->dims, q->weight_scale};
        t[2] = (mlic_safetensors_entry){*names + (size_t)(3 * i + 2) * NAME_CAP, MLIC_DTYPE_F32, 0,
                                        NULL, &q->input_scale};
    }
    return MLIC_OK;
}

/* The convolution of g that tensor `name` ("<conv>.<suffix>") belongs to, or -1; *kind receives
 * the suffix's index. */
static int int8_conv_of(const mlic_graph *g, const char *name, int *kind)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return -1;
    for (int k = 0; k < 3; k++) {
        if (strcmp(dot + 1, SUFFIX[k]))
            continue;
        size_t len = (size_t)(dot - name);
        for (int i = 0; i < g->nnodes; i++)
            if (g->nodes[i].op == MLIC_OP_CONV && strlen(g->nodes[i].name) == len &&
                !strncmp(g->nodes[i].name, name, len)) {
                *kind = k;
                return i;
            }
    }
    return -1;
}

int mlic_model_int8_tensor(const mlic_graph *g, const char *name)
{
    int kind;
    return int8_conv_of(g, name, &kind) >= 0;
}

/* Read tensor `name` of f (dtype, numel checked) into out. */
static mlic_status read_tensor(const mlic_safetensors *f, const char *name, mlic_dtype dtype,
                               int ndim, const int64_t *dims, void *out)
{
    const char *path = mlic_safetensors_path(f);
    int i = mlic_safetensors_find(f, name);
    if (i < 0)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: an int8 model without tensor %s. HINT: the file is "
                         "inconsistent; quantize the fp32 model again with 'mlic quantize'",
                         path, name);
    const mlic_safetensors_tensor *t = mlic_safetensors_tensor_at(f, i);
    int same = t->dtype == dtype && t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = t->dims[d] == dims[d];
    if (!same)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor %s must be %s with %d dimensions (%lld ...), "
                         "not %s with %d. HINT: quantize the fp32 model again with 'mlic "
                         "quantize'", path, name, mlic_dtype_name(dtype), ndim,
                         ndim ? (long long)dims[0] : 1LL, mlic_dtype_name(t->dtype), t->ndim);
    return mlic_safetensors_read_raw(f, i, out);
}

static mlic_status load_conv(mlic_conv_int8 *q, const mlic_graph *g, const mlic_node *conv,
                             const mlic_safetensors *f)
{
    const char *path = mlic_safetensors_path(f);
    const mlic_param *p = &g->params[conv->weight];
    char name[NAME_CAP];
    snprintf(q->name, sizeof q->name, "%s", conv->name);
    q->out_c = (int)p->dims[0];
    q->numel = p->numel;
    q->weight = malloc(q->numel);
    q->weight_scale = malloc((size_t)q->out_c * sizeof(float));
    if (!q->weight || !q->weight_scale)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory", path);
    mlic_status st;
    snprintf(name, sizeof name, "%s.%s", conv->name, SUFFIX[0]);
    if ((st = read_tensor(f, name, MLIC_DTYPE_I8, p->ndim, p->dims, q->weight)))
        return st;
    for (size_t k = 0; k < q->numel; k++)
        if (q->weight[k] == -128)
            return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor %s holds -128, outside the symmetric "
                             "range [-127, 127]. HINT: quantize the fp32 model again", path, name);
    snprintf(name, sizeof name, "%s.%s", conv->name, SUFFIX[1]);
    if ((st = read_tensor(f, name, MLIC_DTYPE_F32, 1, p->dims, q->weight_scale)))
        return st;
    for (int o = 0; o < q->out_c; o++)
        if (!(isfinite(q->weight_scale[o]) && q->weight_scale[o] > 0))
            return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor %s[%d] is %g, not a finite scale > 0",
                             path, name, o, (double)q->weight_scale[o]);
    snprintf(name, sizeof name, "%s.%s", conv->name, SUFFIX[2]);
    if ((st = read_tensor(f, name, MLIC_DTYPE_F32, 0, NULL, &q->input_scale)))
        return st;
    if (!(isfinite(q->input_scale) && q->input_scale > 0))
        return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor %s is %g, not a finite scale > 0", path,
                         name, (double)q->input_scale);
    return MLIC_OK;
}

mlic_status mlic_model_int8_load(mlic_model *m, const mlic_safetensors *f)
{
    const mlic_graph *g = m->graph;
    int n = 0;
    for (int i = 0; i < g->nnodes; i++)
        n += g->nodes[i].op == MLIC_OP_CONV && g->nodes[i].in[0] != g->input;
    m->int8 = calloc((size_t)n + 1, sizeof *m->int8);
    if (!m->int8)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory", mlic_safetensors_path(f));
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        if (nd->op != MLIC_OP_CONV || nd->in[0] == g->input)
            continue;
        mlic_status st = load_conv(&m->int8[m->nint8++], g, nd, f);
        if (st != MLIC_OK)
            return st;
    }
    return MLIC_OK;
}
