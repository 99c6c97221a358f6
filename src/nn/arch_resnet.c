/* torchvision's ResNet (v1.5: a bottleneck block strides in its 3x3 convolution), with the same
 * module names, so that a torchvision state_dict maps onto the graph's parameters one to one. */
#include <stdio.h>

#include "core/error.h"
#include "nn/graph_builder.h"

typedef struct {
    int bottleneck;  /* Bottleneck (expansion 4) rather than BasicBlock (expansion 1) */
    int blocks[4];   /* per layer1..layer4 */
} resnet_config;

static int conv_bn(mlic_graph_builder *b, const char *block, int idx, int in, int cin, int cout,
                   int kernel, int stride)
{
    char conv[64], bn[64];
    snprintf(conv, sizeof conv, "%s.conv%d", block, idx);
    snprintf(bn, sizeof bn, "%s.bn%d", block, idx);
    int x = mlic_graph_emit_conv(b, conv, in, cin, cout, kernel, stride, kernel / 2, 1, 0);
    return mlic_graph_emit_batchnorm(b, bn, x, cout);
}

/* One residual block; returns its output value. */
static int block(mlic_graph_builder *b, const char *name, int in, int inplanes, int planes,
                 int stride, int bottleneck)
{
    char relu[64];
    snprintf(relu, sizeof relu, "%s.relu", name);
    int outplanes = bottleneck ? planes * 4 : planes;
    int x;
    if (bottleneck) {
        x = conv_bn(b, name, 1, in, inplanes, planes, 1, 1);
        x = mlic_graph_emit_act(b, relu, x, MLIC_ACT_RELU);
        x = conv_bn(b, name, 2, x, planes, planes, 3, stride);
        x = mlic_graph_emit_act(b, relu, x, MLIC_ACT_RELU);
        x = conv_bn(b, name, 3, x, planes, outplanes, 1, 1);
    } else {
        x = conv_bn(b, name, 1, in, inplanes, planes, 3, stride);
        x = mlic_graph_emit_act(b, relu, x, MLIC_ACT_RELU);
        x = conv_bn(b, name, 2, x, planes, planes, 3, 1);
    }
    int identity = in;
    if (stride != 1 || inplanes != outplanes) {
        char conv[64], bn[64];
        snprintf(conv, sizeof conv, "%s.downsample.0", name);
        snprintf(bn, sizeof bn, "%s.downsample.1", name);
        identity = mlic_graph_emit_conv(b, conv, in, inplanes, outplanes, 1, stride, 0, 1, 0);
        identity = mlic_graph_emit_batchnorm(b, bn, identity, outplanes);
    }
    x = mlic_graph_emit_add(b, "", x, identity);
    return mlic_graph_emit_act(b, relu, x, MLIC_ACT_RELU);
}

const char mlic_arch_resnet_head[] = "fc";

mlic_status mlic_arch_build_resnet(mlic_graph **out, const char *arch, int depth, int num_classes)
{
    resnet_config cfg;
    switch (depth) {
    case 18: cfg = (resnet_config){0, {2, 2, 2, 2}}; break;
    case 34: cfg = (resnet_config){0, {3, 4, 6, 3}}; break;
    case 50: cfg = (resnet_config){1, {3, 4, 6, 3}}; break;
    case 101: cfg = (resnet_config){1, {3, 4, 23, 3}}; break;
    default:
        return mlic_fail(MLIC_ERR_UNSUPPORTED,
                         "resnet%d is not a supported depth. HINT: use 18, 34, 50 or 101", depth);
    }
    mlic_graph_builder b;
    mlic_status s = mlic_graph_builder_init(&b, arch, num_classes);
    if (s != MLIC_OK)
        return s;
    int x = mlic_graph_emit_conv(&b, "conv1", b.g->input, 3, 64, 7, 2, 3, 1, 0);
    x = mlic_graph_emit_batchnorm(&b, "bn1", x, 64);
    x = mlic_graph_emit_act(&b, "relu", x, MLIC_ACT_RELU);
    x = mlic_graph_emit_maxpool(&b, "maxpool", x, 3, 2, 1);
    int inplanes = 64;
    for (int layer = 0; layer < 4; layer++) {
        int planes = 64 << layer;
        for (int i = 0; i < cfg.blocks[layer]; i++) {
            char name[32];
            snprintf(name, sizeof name, "layer%d.%d", layer + 1, i);
            int stride = (i == 0 && layer > 0) ? 2 : 1;
            x = block(&b, name, x, inplanes, planes, stride, cfg.bottleneck);
            inplanes = cfg.bottleneck ? planes * 4 : planes;
        }
    }
    x = mlic_graph_emit_global_avgpool(&b, "avgpool", x);
    x = mlic_graph_emit_linear(&b, mlic_arch_resnet_head, x, inplanes, num_classes);
    return mlic_graph_builder_finish(&b, out, x);
}
