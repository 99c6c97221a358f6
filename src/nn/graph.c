#include "nn/graph.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/graph_builder.h"

const char *const mlic_graph_archs[] = {"resnet18", "resnet34", "resnet50", "resnet101",
                                        "mobilenet_v2", NULL};

mlic_status mlic_graph_build(mlic_graph **out, const char *arch, int num_classes)
{
    *out = NULL;
    if (!arch)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "building a graph: arch is NULL");
    static const struct { const char *name; int depth; } resnets[] = {
        {"resnet18", 18}, {"resnet34", 34}, {"resnet50", 50}, {"resnet101", 101},
    };
    for (size_t i = 0; i < sizeof resnets / sizeof resnets[0]; i++)
        if (!strcmp(arch, resnets[i].name))
            return mlic_arch_build_resnet(out, arch, resnets[i].depth, num_classes);
    if (!strcmp(arch, "mobilenet_v2"))
        return mlic_arch_build_mobilenet_v2(out, arch, num_classes);
    return mlic_fail(MLIC_ERR_UNSUPPORTED,
                     "arch '%s' is not supported. HINT: use one of resnet18, resnet34, resnet50, "
                     "resnet101, mobilenet_v2", arch);
}

const char *mlic_graph_head_name(const char *arch)
{
    if (arch && !strncmp(arch, "resnet", 6))
        for (int i = 0; mlic_graph_archs[i]; i++)
            if (!strcmp(arch, mlic_graph_archs[i]))
                return mlic_arch_resnet_head;
    if (arch && !strcmp(arch, "mobilenet_v2"))
        return mlic_arch_mobilenet_v2_head;
    return NULL;
}

void mlic_graph_free(mlic_graph *g)
{
    if (!g)
        return;
    free(g->values);
    free(g->nodes);
    free(g->params);
    free(g->weights);
    free(g);
}

int mlic_graph_find_param(const mlic_graph *g, const char *name)
{
    for (int i = 0; i < g->nparams; i++)
        if (!strcmp(g->params[i].name, name))
            return i;
    return -1;
}

static const char *node_label(const mlic_node *n)
{
    return n->name[0] ? n->name : "(unnamed)";
}

static int same_shape(mlic_shape3 a, mlic_shape3 b)
{
    return a.c == b.c && a.h == b.h && a.w == b.w;
}

/* Output size of a sliding window, PyTorch's floor rule; 0 if the window does not fit. */
static int window_out(int size, int kernel, int stride, int pad)
{
    if (size + 2 * pad < kernel || stride < 1)
        return 0;
    return (size + 2 * pad - kernel) / stride + 1;
}

mlic_status mlic_graph_infer_shapes(mlic_graph *g, int h, int w)
{
    if (h < 1 || w < 1)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "graph %s: input size %dx%d is not positive",
                         g->arch, h, w);
    memset(g->values, 0, (size_t)g->nvalues * sizeof *g->values);
    g->values[g->input] = (mlic_shape3){3, h, w};
    for (int i = 0; i < g->nnodes; i++) {
        const mlic_node *n = &g->nodes[i];
        mlic_shape3 x = g->values[n->in[0]], y = x;
        switch (n->op) {
        case MLIC_OP_CONV: {
            const mlic_param *wp = &g->params[n->weight];
            if (x.c != wp->dims[1] * n->groups)
                return mlic_fail(MLIC_ERR_INTERNAL,
                                 "graph %s: node %s gets %d channels, its weight expects %lld",
                                 g->arch, node_label(n), x.c, (long long)(wp->dims[1] * n->groups));
            y.c = (int)wp->dims[0];
            y.h = window_out(x.h, n->kernel, n->stride, n->pad);
            y.w = window_out(x.w, n->kernel, n->stride, n->pad);
            break;
        }
        case MLIC_OP_MAXPOOL:
            y.h = window_out(x.h, n->kernel, n->stride, n->pad);
            y.w = window_out(x.w, n->kernel, n->stride, n->pad);
            break;
        case MLIC_OP_BATCHNORM:
            if (x.c != g->params[n->weight].dims[0])
                return mlic_fail(MLIC_ERR_INTERNAL, "graph %s: node %s gets %d channels, has %lld",
                                 g->arch, node_label(n), x.c,
                                 (long long)g->params[n->weight].dims[0]);
            break;
        case MLIC_OP_ADD:
            if (!same_shape(x, g->values[n->in[1]]))
                return mlic_fail(MLIC_ERR_INTERNAL, "graph %s: add node %d adds unequal shapes",
                                 g->arch, i);
            break;
        case MLIC_OP_GLOBAL_AVGPOOL:
            y.h = y.w = 1;
            break;
        case MLIC_OP_LINEAR: {
            const mlic_param *wp = &g->params[n->weight];
            if ((int64_t)x.c * x.h * x.w != wp->dims[1])
                return mlic_fail(MLIC_ERR_INTERNAL,
                                 "graph %s: node %s gets %d values per sample, expects %lld",
                                 g->arch, node_label(n), x.c * x.h * x.w, (long long)wp->dims[1]);
            y = (mlic_shape3){(int)wp->dims[0], 1, 1};
            break;
        }
        case MLIC_OP_RELU:
        case MLIC_OP_RELU6:
        case MLIC_OP_DROPOUT:
            break;
        }
        if (y.h < 1 || y.w < 1)
            return mlic_fail(MLIC_ERR_INVALID_ARG,
                             "graph %s: input %dx%d is too small: node %s gets %dx%d, smaller "
                             "than its %dx%d window. HINT: use a larger crop (>= 32)",
                             g->arch, h, w, node_label(n), x.h, x.w, n->kernel, n->kernel);
        if (n->fused_add >= 0 && !same_shape(y, g->values[n->fused_add]))
            return mlic_fail(MLIC_ERR_INTERNAL, "graph %s: node %s adds a value of another shape",
                             g->arch, node_label(n));
        g->values[n->out] = y;
    }
    return MLIC_OK;
}
