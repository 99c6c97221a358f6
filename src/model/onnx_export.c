/* mlic_model_export_onnx: a model -> an ONNX file (opset 13), written with the protobuf-c code
 * generated for the importer (Makefile, ONNX=1).
 *
 * The graph is the model's own, unfolded: one ONNX node per mlic node (Conv, BatchNormalization,
 * Relu, Clip for ReLU6, Add, MaxPool, GlobalAveragePool, Flatten + Gemm for the linear head;
 * dropout, the identity at inference, is left out), initializers named after torchvision's
 * state dict and stored as raw little-endian float32 pointing straight into the weights buffer.
 * Keeping the batch norms (rather than folding them into the convolutions, which ONNX could
 * carry as well) is what lets mlic import --onnx give back the model exactly, with its running
 * statistics, and lets a reader map every tensor to torchvision by name; runtimes fold batch
 * norms themselves when they load a model. The batch dimension is a symbolic "N"; height and
 * width are the model's crop, the only input size its preprocessing makes. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "model/model.h"
#include "util/file_write.h"

#if MLIC_HAVE_ONNX

#include "onnx/onnx.pb-c.h"

#define ONNX_IR_VERSION 7 /* the IR version that opset 13 came with */
#define ONNX_OPSET 13

/* Every message and string of the model being built, freed together. */
typedef struct {
    void **blocks;
    size_t n, cap;
    int oom;
} arena;

static void *new0(arena *a, size_t size)
{
    if (a->oom)
        return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 256;
        void **b = realloc(a->blocks, cap * sizeof *b);
        if (!b) {
            a->oom = 1;
            return NULL;
        }
        a->blocks = b;
        a->cap = cap;
    }
    void *p = calloc(1, size ? size : 1);
    if (!p)
        a->oom = 1;
    else
        a->blocks[a->n++] = p;
    return p;
}

static char *arena_str(arena *a, const char *s)
{
    char *d = new0(a, strlen(s) + 1);
    if (d)
        strcpy(d, s);
    return d;
}

static void arena_free(arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->blocks[i]);
    free(a->blocks);
}

typedef struct {
    arena a;
    const mlic_graph *g;
    Onnx__NodeProto **nodes;
    size_t nnodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t ninits, cap_inits;
    char **value; /* (g->nvalues) the ONNX name of each mlic value */
} builder;

static Onnx__AttributeProto *attr_ints(builder *b, const char *name, int n, int64_t v)
{
    Onnx__AttributeProto *at = new0(&b->a, sizeof *at);
    int64_t *ints = new0(&b->a, (size_t)n * sizeof *ints);
    if (!at || !ints)
        return NULL;
    *at = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    at->name = arena_str(&b->a, name);
    at->has_type = 1;
    at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    for (int k = 0; k < n; k++)
        ints[k] = v;
    at->n_ints = (size_t)n;
    at->ints = ints;
    return at;
}

static Onnx__AttributeProto *attr_int(builder *b, const char *name, int64_t v)
{
    Onnx__AttributeProto *at = new0(&b->a, sizeof *at);
    if (!at)
        return NULL;
    *at = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    at->name = arena_str(&b->a, name);
    at->has_type = at->has_i = 1;
    at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    at->i = v;
    return at;
}

static Onnx__AttributeProto *attr_float(builder *b, const char *name, float v)
{
    Onnx__AttributeProto *at = new0(&b->a, sizeof *at);
    if (!at)
        return NULL;
    *at = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    at->name = arena_str(&b->a, name);
    at->has_type = at->has_f = 1;
    at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    at->f = v;
    return at;
}

/* A node named after its torchvision module (made unique: "layer1.0.relu", "layer1.0.relu_2")
 * with inputs in[0..nin) and one output; attributes added by the caller. */
static Onnx__NodeProto *node(builder *b, const char *op, const char *module,
                             const char *const *in, int nin, const char *out, int nattr)
{
    Onnx__NodeProto *nd = new0(&b->a, sizeof *nd);
    char **ins = new0(&b->a, (size_t)nin * sizeof *ins);
    char **outs = new0(&b->a, sizeof *outs);
    Onnx__AttributeProto **attrs = new0(&b->a, (size_t)nattr * sizeof *attrs);
    char name[96];
    snprintf(name, sizeof name, "%s", module[0] ? module : op);
    for (int k = 2, taken = 1; taken; k++) {
        taken = 0;
        for (size_t j = 0; j < b->nnodes && !taken; j++)
            taken = !strcmp(b->nodes[j]->name, name);
        if (taken)
            snprintf(name, sizeof name, "%s_%d", module[0] ? module : op, k);
    }
    if (!nd || !ins || !outs || !attrs || b->nnodes == b->cap_nodes)
        return NULL;
    *nd = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    nd->op_type = arena_str(&b->a, op);
    nd->name = arena_str(&b->a, name);
    for (int k = 0; k < nin; k++)
        ins[k] = arena_str(&b->a, in[k]);
    outs[0] = arena_str(&b->a, out);
    nd->n_input = (size_t)nin;
    nd->input = ins;
    nd->n_output = 1;
    nd->output = outs;
    nd->attribute = attrs;
    b->nodes[b->nnodes++] = nd;
    return nd;
}

static void add_attr(Onnx__NodeProto *nd, Onnx__AttributeProto *at)
{
    if (nd && at)
        nd->attribute[nd->n_attribute++] = at;
}

/* An initializer over `count` floats at data (not copied: the weights outlive the packing). */
static int initializer(builder *b, const char *name, int ndim, const int64_t *dims,
                       const float *data, size_t count)
{
    Onnx__TensorProto *t = new0(&b->a, sizeof *t);
    int64_t *d = new0(&b->a, (size_t)(ndim > 0 ? ndim : 1) * sizeof *d);
    if (!t || !d || b->ninits == b->cap_inits)
        return 0;
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    t->name = arena_str(&b->a, name);
    if (ndim > 0) /* a scalar has no dims to copy (dims may be NULL) */
        memcpy(d, dims, (size_t)ndim * sizeof *d);
    t->n_dims = (size_t)ndim;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->has_raw_data = 1;
    t->raw_data.len = count * sizeof(float);
    t->raw_data.data = (uint8_t *)data;
    b->inits[b->ninits++] = t;
    return 1;
}

static const char *param_name(const builder *b, int id)
{
    return b->g->params[id].name;
}

static int param_init(builder *b, int id)
{
    const mlic_param *p = &b->g->params[id];
    return initializer(b, p->name, p->ndim, p->dims, mlic_graph_param(b->g, id), p->numel);
}

static const float relu6_bounds[2] = {0.0f, 6.0f};

/* One mlic node as ONNX nodes; 0 when out of memory. */
static int emit(builder *b, const mlic_node *nd)
{
    const char *x = b->value[nd->in[0]];
    const char *y = b->value[nd->out];
    Onnx__NodeProto *o = NULL;
    switch (nd->op) {
    case MLIC_OP_CONV: {
        const char *in[3] = {x, param_name(b, nd->weight),
                             nd->bias >= 0 ? param_name(b, nd->bias) : ""};
        if (!param_init(b, nd->weight) || (nd->bias >= 0 && !param_init(b, nd->bias)))
            return 0;
        o = node(b, "Conv", nd->name, in, nd->bias >= 0 ? 3 : 2, y, 5);
        add_attr(o, attr_ints(b, "kernel_shape", 2, nd->kernel));
        add_attr(o, attr_ints(b, "strides", 2, nd->stride));
        add_attr(o, attr_ints(b, "pads", 4, nd->pad));
        add_attr(o, attr_ints(b, "dilations", 2, 1));
        add_attr(o, attr_int(b, "group", nd->groups > 0 ? nd->groups : 1));
        break;
    }
    case MLIC_OP_BATCHNORM: {
        const int p[4] = {nd->weight, nd->bias, nd->running_mean, nd->running_var};
        const char *in[5] = {x};
        for (int k = 0; k < 4; k++) {
            if (!param_init(b, p[k]))
                return 0;
            in[k + 1] = param_name(b, p[k]);
        }
        o = node(b, "BatchNormalization", nd->name, in, 5, y, 1);
        add_attr(o, attr_float(b, "epsilon", nd->eps));
        break;
    }
    case MLIC_OP_RELU:
        o = node(b, "Relu", nd->name, &x, 1, y, 0);
        break;
    case MLIC_OP_RELU6: {
        const char *in[3] = {x, "relu6.min", "relu6.max"};
        o = node(b, "Clip", nd->name, in, 3, y, 0);
        break;
    }
    case MLIC_OP_ADD: {
        const char *in[2] = {x, b->value[nd->in[1]]};
        o = node(b, "Add", nd->name, in, 2, y, 0);
        break;
    }
    case MLIC_OP_MAXPOOL:
        o = node(b, "MaxPool", nd->name, &x, 1, y, 3);
        add_attr(o, attr_ints(b, "kernel_shape", 2, nd->kernel));
        add_attr(o, attr_ints(b, "strides", 2, nd->stride));
        add_attr(o, attr_ints(b, "pads", 4, nd->pad));
        break;
    case MLIC_OP_GLOBAL_AVGPOOL:
        o = node(b, "GlobalAveragePool", nd->name, &x, 1, y, 0);
        break;
    case MLIC_OP_DROPOUT:
        /* The identity at inference: its consumers read its input. */
        b->value[nd->out] = b->value[nd->in[0]];
        return 1;
    case MLIC_OP_LINEAR: {
        char flat[96];
        snprintf(flat, sizeof flat, "%s.flatten", nd->name);
        o = node(b, "Flatten", "flatten", &x, 1, flat, 1);
        add_attr(o, attr_int(b, "axis", 1));
        const char *in[3] = {flat, param_name(b, nd->weight), param_name(b, nd->bias)};
        if (!o || !param_init(b, nd->weight) || !param_init(b, nd->bias))
            return 0;
        o = node(b, "Gemm", nd->name, in, 3, y, 1);
        add_attr(o, attr_int(b, "transB", 1));
        break;
    }
    }
    return o != NULL && !b->a.oom;
}

/* A float tensor value info: (N, d[0], ...) with N symbolic. */
static Onnx__ValueInfoProto *value_info(builder *b, const char *name, int nd, const int64_t *d)
{
    Onnx__ValueInfoProto *v = new0(&b->a, sizeof *v);
    Onnx__TypeProto *t = new0(&b->a, sizeof *t);
    Onnx__TypeProto__Tensor *tt = new0(&b->a, sizeof *tt);
    Onnx__TensorShapeProto *sh = new0(&b->a, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dims = new0(&b->a, (size_t)(nd + 1) * sizeof *dims);
    if (!v || !t || !tt || !sh || !dims)
        return NULL;
    for (int k = 0; k <= nd; k++) {
        Onnx__TensorShapeProto__Dimension *dm = new0(&b->a, sizeof *dm);
        if (!dm)
            return NULL;
        *dm = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        if (k == 0) {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dm->dim_param = arena_str(&b->a, "N");
        } else {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dm->dim_value = d[k - 1];
        }
        dims[k] = dm;
    }
    *sh = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    sh->n_dim = (size_t)nd + 1;
    sh->dim = dims;
    *tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    *t = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    *v = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    v->name = arena_str(&b->a, name);
    v->type = t;
    return v;
}

static Onnx__StringStringEntryProto *prop(builder *b, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = new0(&b->a, sizeof *e);
    if (!e || !value)
        return NULL;
    *e = (Onnx__StringStringEntryProto)ONNX__STRING_STRING_ENTRY_PROTO__INIT;
    e->key = arena_str(&b->a, key);
    e->value = arena_str(&b->a, value);
    return e;
}

/* metadata_props: "mlic" (the model file's metadata) and, for readers that want only them,
 * "classes" and "thresholds" cut from it. 0 when out of memory. */
static int metadata(builder *b, Onnx__ModelProto *model, const mlic_model *m)
{
    char *meta = mlic_model_meta_text(m);
    cJSON *root = meta ? cJSON_Parse(meta) : NULL;
    char *classes = root ? cJSON_PrintUnformatted(cJSON_GetObjectItem(root, "classes")) : NULL;
    char *thresholds = root ? cJSON_PrintUnformatted(cJSON_GetObjectItem(root, "thresholds"))
                            : NULL;
    Onnx__StringStringEntryProto **props = new0(&b->a, 3 * sizeof *props);
    int ok = props && (props[0] = prop(b, "mlic", meta)) &&
             (props[1] = prop(b, "classes", classes)) &&
             (props[2] = prop(b, "thresholds", thresholds));
    if (ok) {
        model->n_metadata_props = 3;
        model->metadata_props = props;
    }
    free(meta);
    free(classes);
    free(thresholds);
    cJSON_Delete(root);
    return ok;
}

static Onnx__GraphProto *graph(builder *b, const mlic_model *m)
{
    const mlic_graph *g = m->graph;
    for (int v = 0; v < g->nvalues; v++) {
        char name[32];
        snprintf(name, sizeof name, "t%d", v);
        b->value[v] = arena_str(&b->a, v == g->input ? "input" : v == g->output ? "logits" : name);
    }
    for (int k = 0; k < g->nnodes; k++)
        if (!emit(b, &g->nodes[k]))
            return NULL;
    for (int k = 0; k < g->nnodes; k++)
        if (g->nodes[k].op == MLIC_OP_RELU6) {
            if (!initializer(b, "relu6.min", 0, NULL, &relu6_bounds[0], 1) ||
                !initializer(b, "relu6.max", 0, NULL, &relu6_bounds[1], 1))
                return NULL;
            break;
        }
    const char *logits = "logits";
    if (!node(b, "Sigmoid", "sigmoid", &logits, 1, "probs", 0))
        return NULL;
    Onnx__GraphProto *gp = new0(&b->a, sizeof *gp);
    Onnx__ValueInfoProto **in = new0(&b->a, sizeof *in);
    Onnx__ValueInfoProto **out = new0(&b->a, 2 * sizeof *out);
    const int64_t image[3] = {3, m->pre.crop, m->pre.crop}, k = m->num_classes;
    if (!gp || !in || !out || !(in[0] = value_info(b, "input", 3, image)) ||
        !(out[0] = value_info(b, "logits", 1, &k)) || !(out[1] = value_info(b, "probs", 1, &k)))
        return NULL;
    *gp = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
    gp->name = arena_str(&b->a, g->arch);
    gp->n_node = b->nnodes;
    gp->node = b->nodes;
    gp->n_initializer = b->ninits;
    gp->initializer = b->inits;
    gp->n_input = 1;
    gp->input = in;
    gp->n_output = 2;
    gp->output = out;
    return b->a.oom ? NULL : gp;
}

/* protobuf-c's output sink, appending to the temporary file. */
typedef struct {
    ProtobufCBuffer base;
    mlic_file_writer *w;
} file_sink;

static void sink_append(ProtobufCBuffer *buf, size_t len, const uint8_t *data)
{
    mlic_file_writer_put(((file_sink *)buf)->w, data, len);
}

mlic_status mlic_model_export_onnx(const mlic_model *m, const char *path)
{
    if (!m || !path)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_model_export_onnx: needs a model and a path");
    const mlic_graph *g = m->graph;
    builder b = {.g = g};
    b.cap_nodes = 2 * (size_t)g->nnodes + 2; /* Flatten + Gemm per linear, the sigmoid */
    b.cap_inits = (size_t)g->nparams + 2;    /* ReLU6's bounds */
    b.nodes = new0(&b.a, b.cap_nodes * sizeof *b.nodes);
    b.inits = new0(&b.a, b.cap_inits * sizeof *b.inits);
    b.value = new0(&b.a, (size_t)g->nvalues * sizeof *b.value);
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};
    opset.domain = "";
    opset.has_version = 1;
    opset.version = ONNX_OPSET;
    model.has_ir_version = 1;
    model.ir_version = ONNX_IR_VERSION;
    model.n_opset_import = 1;
    model.opset_import = opsets;
    model.producer_name = "mlic";
    model.producer_version = MLIC_VERSION;
    model.doc_string = "mlic multi-label classifier: input (N, 3, crop, crop), normalised as the "
                       "\"mlic\" metadata says; outputs logits and probs = sigmoid(logits)";
    mlic_status st = MLIC_OK;
    if (!b.nodes || !b.inits || !b.value || !(model.graph = graph(&b, m)) ||
        !metadata(&b, &model, m))
        st = mlic_fail(MLIC_ERR_NOMEM, "writing %s: out of memory", path);
    mlic_file_writer w;
    if (st == MLIC_OK)
        st = mlic_file_writer_open(&w, path);
    if (st == MLIC_OK) {
        file_sink sink = {{sink_append}, &w};
        onnx__model_proto__pack_to_buffer(&model, &sink.base);
        st = mlic_file_writer_commit(&w, 1);
    }
    arena_free(&b.a);
    return st;
}

#else

mlic_status mlic_model_export_onnx(const mlic_model *m, const char *path)
{
    (void)m;
    return mlic_fail(MLIC_ERR_UNSUPPORTED, "%s: this build has no ONNX writer. HINT: install "
                     "protobuf-c-compiler, libprotobuf-c-dev and libonnx-dev (make deps) and "
                     "rebuild", path ? path : "(no path)");
}

#endif
