/* mlic_model_import_onnx: an ONNX export of a supported torchvision arch -> a model file.
 *
 * The reader is generated at build time by protoc-c from the onnx.proto that libonnx-dev
 * installs (Makefile, ONNX=1). An export names its weights after graph positions
 * ("onnx::Conv_497"), not torchvision modules, so the importer matches by structure: the
 * weight-carrying nodes (Conv, BatchNormalization, Gemm) in the order the export lists them,
 * which is the order the model's forward ran them, against the convolutions, batch norms and
 * linear of each supported arch in the same order (mlic's builders follow torchvision's
 * forward), shapes and attributes checked one by one. The first arch that matches whole is the
 * model (or the one asked for, which must match).
 *
 * torch.onnx.export in eval mode folds each batch norm into the convolution before it (a
 * convolution with a bias and no BatchNormalization node); the importer then gives the
 * torchvision batch norm the identity statistics (mean 0, var 1 - eps, weight 1) and the
 * convolution's bias as its bias, so that y = conv(x) + b as in the export. An export that keeps
 * the batch norms (training=TrainingMode.PRESERVE) maps one to one.
 *
 * A file that mlic export wrote carries the model file's metadata in metadata_props["mlic"]:
 * without a class list from the caller, the classes, thresholds and preprocessing come from
 * there, so that export and import give back the same model.
 *
 * Nodes without weights are checked only to be of a kind these archs have (Relu, Clip, Add,
 * MaxPool, pooling, flatten/reshape and their shape arithmetic, Dropout, Identity, a final
 * Sigmoid, which mlic applies itself); anything else is refused, naming the node. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/location.h"
#include "model/model.h"
#include "nn/graph.h"
#include "util/file_open.h"

#if MLIC_HAVE_ONNX

#include "onnx/onnx.pb-c.h"

/* The ONNX files this reads hold every weight inline: 2 GB is protobuf's own limit. */
#define ONNX_MAX_BYTES ((size_t)2 << 30)

typedef enum { W_CONV, W_BN, W_GEMM } wkind;

/* One weight-carrying ONNX node, its tensors resolved. */
typedef struct {
    wkind kind;
    const char *name;          /* the node's name or first output, for messages */
    const Onnx__TensorProto *t[4]; /* CONV: W, B; BN: scale, B, mean, var; GEMM: B, C */
    int stride, pad, groups, trans_b;
    float eps;
} wnode;

typedef struct {
    const char *path;
    Onnx__ModelProto *model;
    wnode *w;
    int nw;
} onnx_file;

static const char *node_label(const Onnx__NodeProto *nd)
{
    if (nd->name && nd->name[0])
        return nd->name;
    return nd->n_output > 0 ? nd->output[0] : "(unnamed)";
}

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *nd, const char *name)
{
    for (size_t k = 0; k < nd->n_attribute; k++)
        if (nd->attribute[k]->name && !strcmp(nd->attribute[k]->name, name))
            return nd->attribute[k];
    return NULL;
}

static int64_t attr_int(const Onnx__NodeProto *nd, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = attr(nd, name);
    return a && a->has_i ? a->i : dflt;
}

static float attr_float(const Onnx__NodeProto *nd, const char *name, float dflt)
{
    const Onnx__AttributeProto *a = attr(nd, name);
    return a && a->has_f ? a->f : dflt;
}

/* Every entry of an ints attribute equal (strides 2,2; pads 3,3,3,3); *v its value. */
static int attr_ints_same(const Onnx__NodeProto *nd, const char *name, int64_t dflt, int64_t *v)
{
    const Onnx__AttributeProto *a = attr(nd, name);
    *v = dflt;
    if (!a)
        return 1;
    for (size_t k = 0; k < a->n_ints; k++) {
        if (k == 0)
            *v = a->ints[0];
        else if (a->ints[k] != *v)
            return 0;
    }
    return 1;
}

/* An initializer, or a Constant node's value, by name. */
static const Onnx__TensorProto *tensor(const Onnx__GraphProto *g, const char *name)
{
    if (!name || !name[0])
        return NULL;
    for (size_t k = 0; k < g->n_initializer; k++)
        if (g->initializer[k]->name && !strcmp(g->initializer[k]->name, name))
            return g->initializer[k];
    for (size_t k = 0; k < g->n_node; k++) {
        const Onnx__NodeProto *nd = g->node[k];
        if (nd->op_type && !strcmp(nd->op_type, "Constant") && nd->n_output > 0 &&
            !strcmp(nd->output[0], name)) {
            const Onnx__AttributeProto *a = attr(nd, "value");
            return a ? a->t : NULL;
        }
    }
    return NULL;
}

static size_t numel(const Onnx__TensorProto *t)
{
    size_t n = 1;
    for (size_t k = 0; k < t->n_dims; k++)
        n *= t->dims[k] > 0 ? (size_t)t->dims[k] : 0;
    return n;
}

/* Copy a float tensor's values (inline float_data or little-endian raw_data) into dst. */
static mlic_status read_floats(float *dst, size_t count, const Onnx__TensorProto *t,
                               const char *path)
{
    const char *name = t->name ? t->name : "(unnamed)";
    if (t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "%s: tensor %s is not FLOAT (ONNX data type %d). "
                         "HINT: export the model in float32", path, name, (int)t->data_type);
    if (t->has_data_location &&
        t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "%s: tensor %s keeps its data in an external "
                         "file. HINT: export with the weights inside the .onnx file", path, name);
    if (numel(t) != count)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor %s has %zu values, the model needs %zu",
                         path, name, numel(t), count);
    if (t->has_raw_data && t->raw_data.len) {
        if (t->raw_data.len != count * sizeof(float))
            return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor %s: raw_data holds %zu bytes, not %zu",
                             path, name, t->raw_data.len, count * sizeof(float));
        memcpy(dst, t->raw_data.data, count * sizeof(float));
        return MLIC_OK;
    }
    if (t->n_float_data != count)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor %s holds no data", path, name);
    memcpy(dst, t->float_data, count * sizeof(float));
    return MLIC_OK;
}

/* ---------------------------------------------------------------- reading the export */

static int is_passive(const char *op)
{
    static const char *const ok[] = {"Relu", "Clip", "Add", "MaxPool", "GlobalAveragePool",
                                     "AveragePool", "ReduceMean", "Flatten", "Reshape",
                                     "Squeeze", "Unsqueeze", "Shape", "Gather", "Concat",
                                     "Constant", "Identity", "Dropout", "Sigmoid", "Cast",
                                     "Slice"};
    for (size_t k = 0; k < sizeof ok / sizeof *ok; k++)
        if (!strcmp(op, ok[k]))
            return 1;
    return 0;
}

static mlic_status collect(onnx_file *f)
{
    const Onnx__GraphProto *g = f->model->graph;
    f->w = calloc(g->n_node + 1, sizeof *f->w);
    if (!f->w)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory", f->path);
    for (size_t k = 0; k < g->n_node; k++) {
        const Onnx__NodeProto *nd = g->node[k];
        const char *op = nd->op_type ? nd->op_type : "";
        wnode *w = &f->w[f->nw];
        w->name = node_label(nd);
        if (!strcmp(op, "Conv")) {
            int64_t stride, pad, dil;
            if (!attr_ints_same(nd, "strides", 1, &stride) ||
                !attr_ints_same(nd, "pads", 0, &pad) ||
                !attr_ints_same(nd, "dilations", 1, &dil) || dil != 1)
                return mlic_fail(MLIC_ERR_UNSUPPORTED, "%s: Conv node %s has asymmetric "
                                 "strides or padding, or a dilation, which the supported archs "
                                 "do not have", f->path, w->name);
            w->kind = W_CONV;
            w->stride = (int)stride;
            w->pad = (int)pad;
            w->groups = (int)attr_int(nd, "group", 1);
            w->t[0] = nd->n_input > 1 ? tensor(g, nd->input[1]) : NULL;
            w->t[1] = nd->n_input > 2 ? tensor(g, nd->input[2]) : NULL;
            if (!w->t[0] || (nd->n_input > 2 && nd->input[2][0] && !w->t[1]))
                return mlic_fail(MLIC_ERR_UNSUPPORTED, "%s: Conv node %s: its weights are not "
                                 "initializers. HINT: export with do_constant_folding=True",
                                 f->path, w->name);
        } else if (!strcmp(op, "BatchNormalization")) {
            w->kind = W_BN;
            w->eps = attr_float(nd, "epsilon", 1e-5f);
            for (int j = 0; j < 4; j++)
                if (nd->n_input < 5 || !(w->t[j] = tensor(g, nd->input[j + 1])))
                    return mlic_fail(MLIC_ERR_UNSUPPORTED, "%s: BatchNormalization node %s: "
                                     "its parameters are not initializers", f->path, w->name);
        } else if (!strcmp(op, "Gemm")) {
            w->kind = W_GEMM;
            w->trans_b = (int)attr_int(nd, "transB", 0);
            if (attr_int(nd, "transA", 0) || attr_float(nd, "alpha", 1.0f) != 1.0f ||
                attr_float(nd, "beta", 1.0f) != 1.0f)
                return mlic_fail(MLIC_ERR_UNSUPPORTED, "%s: Gemm node %s: transA, alpha or "
                                 "beta other than a linear layer's", f->path, w->name);
            w->t[0] = nd->n_input > 1 ? tensor(g, nd->input[1]) : NULL;
            w->t[1] = nd->n_input > 2 ? tensor(g, nd->input[2]) : NULL;
            if (!w->t[0] || !w->t[1] || w->t[0]->n_dims != 2)
                return mlic_fail(MLIC_ERR_UNSUPPORTED, "%s: Gemm node %s is not a linear layer "
                                 "with weight and bias initializers", f->path, w->name);
        } else if (!is_passive(op)) {
            return mlic_fail(MLIC_ERR_UNSUPPORTED, "%s: node %s is a %s, an op the supported "
                             "archs (resnet18/34/50/101, mobilenet_v2) do not have", f->path,
                             w->name, op[0] ? op : "(no op type)");
        } else {
            continue;
        }
        f->nw++;
    }
    return MLIC_OK;
}

/* The protobuf of len bytes at data (the caller keeps data). */
static mlic_status parse_onnx(onnx_file *f, const uint8_t *data, size_t len)
{
    f->model = onnx__model_proto__unpack(NULL, len, data);
    if (!f->model || !f->model->graph)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: not an ONNX model (the protobuf does not parse as "
                         "onnx.ModelProto with a graph). HINT: pass the .onnx file that "
                         "torch.onnx.export wrote", f->path);
    return collect(f);
}

/* io NULL: local files only; else a remote path is fetched through it (one GET). */
static mlic_status open_onnx(onnx_file *f, mlic_io *io, const char *path)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    uint8_t *data = NULL;
    size_t len = 0;
    mlic_status st = MLIC_OK;
    if (io && mlic_location_is_remote(path)) {
        st = mlic_io_get(io, &data, &len, path);
        if (st == MLIC_OK)
            st = parse_onnx(f, data, len);
        free(data);
        return st;
    }
    FILE *fp;
    st = mlic_file_fopen_read(&fp, path, NULL, 0);
    if (st != MLIC_OK)
        return st;
    const long end = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    if (end >= 0 && (size_t)end <= ONNX_MAX_BYTES && fseek(fp, 0, SEEK_SET) == 0) {
        len = (size_t)end;
        data = malloc(len + 1);
        if (data && fread(data, 1, len, fp) != len)
            st = mlic_fail(MLIC_ERR_IO, "%s: read error: %s", path,
                           ferror(fp) ? strerror(errno) : "shorter than its size");
    } else {
        st = mlic_fail(MLIC_ERR_TOO_LARGE, "%s: larger than the 2 GB an ONNX file can hold", path);
    }
    fclose(fp);
    if (st == MLIC_OK && !data)
        st = mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory", path);
    if (st == MLIC_OK)
        st = parse_onnx(f, data, len);
    free(data);
    return st;
}

static void close_onnx(onnx_file *f)
{
    if (f->model)
        onnx__model_proto__free_unpacked(f->model, NULL);
    free(f->w);
}

/* ---------------------------------------------------------------- matching an arch */

static int dims_are(const Onnx__TensorProto *t, int n, const int64_t *d)
{
    if (!t || (int)t->n_dims != n)
        return 0;
    for (int k = 0; k < n; k++)
        if (t->dims[k] != d[k])
            return 0;
    return 1;
}

/* Does the export's weight sequence fit g? Sets *with_bn when it keeps its batch norms. On a
 * mismatch, why[] says where. */
static int matches(const onnx_file *f, const mlic_graph *g, int *with_bn, char *why, size_t n)
{
    int w = 0, nbn = 0;
    for (int k = 0; k < f->nw; k++)
        nbn += f->w[k].kind == W_BN;
    *with_bn = nbn > 0;
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *nd = &g->nodes[i];
        if (nd->op == MLIC_OP_BATCHNORM && !*with_bn)
            continue;
        if (nd->op != MLIC_OP_CONV && nd->op != MLIC_OP_BATCHNORM && nd->op != MLIC_OP_LINEAR)
            continue;
        if (w == f->nw) {
            snprintf(why, n, "the export ends before %s", nd->name);
            return 0;
        }
        const wnode *x = &f->w[w++];
        const mlic_param *p = &g->params[nd->weight];
        int ok = 0;
        if (nd->op == MLIC_OP_CONV && x->kind == W_CONV)
            ok = dims_are(x->t[0], p->ndim, p->dims) && x->stride == nd->stride &&
                 x->pad == nd->pad && x->groups == (nd->groups > 0 ? nd->groups : 1);
        else if (nd->op == MLIC_OP_BATCHNORM && x->kind == W_BN)
            ok = dims_are(x->t[0], 1, p->dims);
        else if (nd->op == MLIC_OP_LINEAR && x->kind == W_GEMM) {
            const int64_t t[2] = {p->dims[1], p->dims[0]};
            ok = dims_are(x->t[0], 2, x->trans_b ? p->dims : t);
        }
        if (!ok) {
            snprintf(why, n, "node %s does not fit %s", x->name, nd->name);
            return 0;
        }
    }
    if (w != f->nw) {
        snprintf(why, n, "the export has more weights after %s", f->w[w].name);
        return 0;
    }
    return 1;
}

/* The number of outputs of the export's last Gemm: the number of classes. */
static int head_outputs(const onnx_file *f)
{
    for (int k = f->nw - 1; k >= 0; k--)
        if (f->w[k].kind == W_GEMM)
            return (int)(f->w[k].trans_b ? f->w[k].t[0]->dims[0] : f->w[k].t[0]->dims[1]);
    return -1;
}

/* ---------------------------------------------------------------- filling the weights */

static float *param(mlic_graph *g, int p)
{
    return g->weights + g->params[p].offset;
}

static mlic_status fill(mlic_graph *g, const onnx_file *f, int with_bn)
{
    int w = 0;
    mlic_status st = MLIC_OK;
    float *conv_bias = NULL; /* the last convolution's bias, for the batch norm after it */
    size_t conv_bias_n = 0;
    for (int i = 0; i < g->nnodes && st == MLIC_OK; i++) {
        const mlic_node *nd = &g->nodes[i];
        if (nd->op == MLIC_OP_CONV) {
            const wnode *x = &f->w[w++];
            st = read_floats(param(g, nd->weight), g->params[nd->weight].numel, x->t[0], f->path);
            free(conv_bias);
            conv_bias = NULL;
            conv_bias_n = (size_t)g->params[nd->weight].dims[0];
            if (st == MLIC_OK && x->t[1]) {
                conv_bias = malloc(conv_bias_n * sizeof *conv_bias);
                st = conv_bias ? read_floats(conv_bias, conv_bias_n, x->t[1], f->path)
                               : mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory", f->path);
            }
        } else if (nd->op == MLIC_OP_BATCHNORM) {
            const size_t c = g->params[nd->weight].numel;
            float *gamma = param(g, nd->weight), *beta = param(g, nd->bias);
            float *mean = param(g, nd->running_mean), *var = param(g, nd->running_var);
            if (with_bn) {
                const wnode *x = &f->w[w++];
                float *dst[4] = {gamma, beta, mean, var};
                for (int j = 0; j < 4 && st == MLIC_OK; j++)
                    st = read_floats(dst[j], c, x->t[j], f->path);
            } else {
                /* conv(x) + b through a batch norm: (y - 0) / sqrt(1 - eps + eps) * 1 + b. */
                for (size_t k = 0; k < c; k++) {
                    gamma[k] = 1.0f;
                    beta[k] = 0.0f;
                    mean[k] = 0.0f;
                    var[k] = 1.0f - nd->eps;
                }
            }
            /* A convolution bias before a batch norm shifts its input: fold it into the mean. */
            for (size_t k = 0; conv_bias && k < c && k < conv_bias_n; k++) {
                if (with_bn)
                    mean[k] -= conv_bias[k];
                else
                    beta[k] = conv_bias[k];
            }
            free(conv_bias);
            conv_bias = NULL;
        } else if (nd->op == MLIC_OP_LINEAR) {
            const wnode *x = &f->w[w++];
            const mlic_param *p = &g->params[nd->weight];
            if (x->trans_b) {
                st = read_floats(param(g, nd->weight), p->numel, x->t[0], f->path);
            } else {
                const size_t out = (size_t)p->dims[0], in = (size_t)p->dims[1];
                float *tmp = malloc(p->numel * sizeof *tmp);
                st = tmp ? read_floats(tmp, p->numel, x->t[0], f->path)
                         : mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory", f->path);
                for (size_t r = 0; st == MLIC_OK && r < in; r++)
                    for (size_t o = 0; o < out; o++)
                        param(g, nd->weight)[o * in + r] = tmp[r * out + o];
                free(tmp);
            }
            if (st == MLIC_OK && nd->bias >= 0)
                st = read_floats(param(g, nd->bias), g->params[nd->bias].numel, x->t[1],
                                 f->path);
        }
    }
    free(conv_bias);
    return st;
}

static mlic_status head_matches(const void *ctx, const char *arch, int n)
{
    const onnx_file *f = ctx;
    const int k = head_outputs(f);
    if (k == n)
        return MLIC_OK;
    return mlic_fail(MLIC_ERR_FORMAT, "%s: metadata \"mlic\" lists %d classes but the head has "
                     "%d outputs. HINT: the file is inconsistent; export it again", f->path, n, k);
}

/* The model an mlic export describes in its "mlic" metadata (classes, thresholds,
 * preprocessing), its arch checked against the graph. */
static mlic_status model_from_metadata(mlic_model **m, const onnx_file *f, const char *arch,
                                       int *with_bn)
{
    const char *text = NULL;
    for (size_t k = 0; k < f->model->n_metadata_props; k++) {
        const Onnx__StringStringEntryProto *e = f->model->metadata_props[k];
        if (e->key && e->value && !strcmp(e->key, "mlic"))
            text = e->value;
    }
    if (!text)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "%s: no class list given and the file has no "
                         "\"mlic\" metadata (only mlic export writes it). HINT: pass --classes",
                         f->path);
    mlic_status st = mlic_model_create_from_meta(m, text, f->path, head_matches, f);
    char why[256];
    if (st == MLIC_OK && arch && strcmp(arch, (*m)->graph->arch))
        st = mlic_fail(MLIC_ERR_INVALID_ARG, "%s: --arch %s, but its metadata says %s", f->path,
                       arch, (*m)->graph->arch);
    else if (st == MLIC_OK && !matches(f, (*m)->graph, with_bn, why, sizeof why))
        st = mlic_fail(MLIC_ERR_FORMAT, "%s: the network is not the %s its metadata says (%s). "
                       "HINT: the file is inconsistent; export it again", f->path,
                       (*m)->graph->arch, why);
    if (st != MLIC_OK) {
        mlic_model_free(*m);
        *m = NULL;
    }
    return st;
}

/* The first supported arch (or spec->arch) whose structure the export has. */
static mlic_status model_by_structure(mlic_model **m, const onnx_file *f,
                                      const mlic_model_spec *spec, int *with_bn)
{
    static const char *const archs[] = {"resnet18", "resnet34", "resnet50", "resnet101",
                                        "mobilenet_v2"};
    const int k = head_outputs(f);
    if (k != spec->num_classes)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "%s: the head has %d outputs but the class list "
                         "has %d names. HINT: one name per output, in the head's order",
                         f->path, k, spec->num_classes);
    char why[256] = "", first_why[256] = "";
    for (size_t a = 0; a < sizeof archs / sizeof *archs; a++) {
        if (spec->arch && strcmp(spec->arch, archs[a]))
            continue;
        mlic_model_spec s = *spec;
        s.arch = archs[a];
        mlic_status st = mlic_model_create(m, &s);
        if (st != MLIC_OK)
            return st;
        if (matches(f, (*m)->graph, with_bn, why, sizeof why))
            return MLIC_OK;
        if (!first_why[0] || spec->arch)
            snprintf(first_why, sizeof first_why, "%s: %s", archs[a], why);
        mlic_model_free(*m);
        *m = NULL;
    }
    return mlic_fail(MLIC_ERR_UNSUPPORTED, "%s: the network is not %s (%s). HINT: mlic imports "
                     "exports of torchvision's resnet18/34/50/101 and mobilenet_v2 with a "
                     "linear head", f->path, spec->arch ? spec->arch : "a supported arch",
                     first_why);
}

mlic_status mlic_model_import_onnx(const char *onnx_path, const mlic_model_spec *spec,
                                   const char *out_path, const char **arch_found)
{
    return mlic_model_import_onnx_io(NULL, onnx_path, spec, out_path, arch_found);
}

mlic_status mlic_model_import_onnx_io(mlic_io *io, const char *onnx_path,
                                      const mlic_model_spec *spec, const char *out_path,
                                      const char **arch_found)
{
    onnx_file f;
    mlic_model *m = NULL;
    int with_bn = 0;
    mlic_status st = open_onnx(&f, io, onnx_path);
    if (st == MLIC_OK && head_outputs(&f) < 1)
        st = mlic_fail(MLIC_ERR_FORMAT, "%s: no Gemm (linear) classifier head found. HINT: "
                       "export the whole torchvision model", onnx_path);
    if (st == MLIC_OK)
        st = spec->classes ? model_by_structure(&m, &f, spec, &with_bn)
                           : model_from_metadata(&m, &f, spec->arch, &with_bn);
    for (int a = 0; st == MLIC_OK && arch_found && mlic_graph_archs[a]; a++)
        if (!strcmp(mlic_graph_archs[a], mlic_model_arch(m)))
            *arch_found = mlic_graph_archs[a]; /* static: m is freed below */
    if (st == MLIC_OK)
        st = fill(m->graph, &f, with_bn);
    if (st == MLIC_OK)
        st = mlic_model_save_io(m, io, out_path);
    mlic_model_free(m);
    close_onnx(&f);
    return st;
}

#else

mlic_status mlic_model_import_onnx(const char *onnx_path, const mlic_model_spec *spec,
                                   const char *out_path, const char **arch_found)
{
    return mlic_model_import_onnx_io(NULL, onnx_path, spec, out_path, arch_found);
}

mlic_status mlic_model_import_onnx_io(mlic_io *io, const char *onnx_path,
                                      const mlic_model_spec *spec, const char *out_path,
                                      const char **arch_found)
{
    return mlic_fail(MLIC_ERR_UNSUPPORTED, "%s: this build has no ONNX reader. HINT: install "
                     "protobuf-c-compiler, libprotobuf-c-dev and libonnx-dev (make deps) and "
                     "rebuild", onnx_path);
}

#endif
