/* Emitting a graph node by node, for the arch builders (arch_*.c) and graph passes.
 *
 * Each emit call appends one node (and its parameters, in the order torchvision's state_dict
 * lists them) and returns the id of the node's output value. Errors are sticky: after the first
 * failure every call returns -1 and mlic_graph_builder_finish reports it, so an arch builder reads
 * as a plain description of the network.
 */
#ifndef MLIC_NN_GRAPH_BUILDER_H
#define MLIC_NN_GRAPH_BUILDER_H

#include "nn/graph.h"

typedef struct {
    mlic_graph *g;
    int cap_nodes, cap_params, cap_values;
    mlic_status status; /* first failure, MLIC_OK while none */
} mlic_graph_builder;

/* Start a graph whose value 0 is the (3, H, W) input. */
mlic_status mlic_graph_builder_init(mlic_graph_builder *b, const char *arch, int num_classes);

/* Parameters: name is "<module>.<suffix>"; dims as in torchvision. Returns the param id. */
int mlic_graph_emit_param(mlic_graph_builder *b, const char *module, const char *suffix, int ndim,
                          const int64_t *dims, int trainable, int no_decay);

int mlic_graph_emit_conv(mlic_graph_builder *b, const char *name, int in, int cin, int cout,
                         int kernel, int stride, int pad, int groups, int has_bias);
int mlic_graph_emit_batchnorm(mlic_graph_builder *b, const char *name, int in, int c);
int mlic_graph_emit_act(mlic_graph_builder *b, const char *name, int in, mlic_act act);
int mlic_graph_emit_add(mlic_graph_builder *b, const char *name, int a, int c);
int mlic_graph_emit_maxpool(mlic_graph_builder *b, const char *name, int in, int kernel,
                            int stride, int pad);
int mlic_graph_emit_global_avgpool(mlic_graph_builder *b, const char *name, int in);
int mlic_graph_emit_dropout(mlic_graph_builder *b, const char *name, int in, float p);
int mlic_graph_emit_linear(mlic_graph_builder *b, const char *name, int in, int cin, int cout);

/* Lay out the weights buffer (zeros; batch norm weight and running_var 1), set the output value
 * and hand over the graph. Frees everything on failure. */
mlic_status mlic_graph_builder_finish(mlic_graph_builder *b, mlic_graph **out, int output);

/* Arch builders, one per family (arch_resnet.c, arch_mobilenet_v2.c); arch is the name stored
 * in the graph. */
mlic_status mlic_arch_build_resnet(mlic_graph **out, const char *arch, int depth, int num_classes);
mlic_status mlic_arch_build_mobilenet_v2(mlic_graph **out, const char *arch, int num_classes);
/* The module names of their classifier heads (mlic_graph_head_name). */
extern const char mlic_arch_resnet_head[];
extern const char mlic_arch_mobilenet_v2_head[];

#endif
