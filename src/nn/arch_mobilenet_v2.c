/* torchvision's MobileNetV2 (width 1.0), with the same module names so that a torchvision
 * state_dict maps onto the graph's parameters one to one. */
#include <stdio.h>

#include "nn/graph_builder.h"

/* Conv2dNormActivation: conv (no bias), batch norm, ReLU6, as children 0, 1, 2 of `name`. */
static int conv_bn_relu6(mlic_graph_builder *b, const char *name, int in, int cin, int cout,
                         int kernel, int stride, int groups)
{
    char conv[64], bn[64], act[64];
    snprintf(conv, sizeof conv, "%s.0", name);
    snprintf(bn, sizeof bn, "%s.1", name);
    snprintf(act, sizeof act, "%s.2", name);
    int x = mlic_graph_emit_conv(b, conv, in, cin, cout, kernel, stride, (kernel - 1) / 2, groups, 0);
    x = mlic_graph_emit_batchnorm(b, bn, x, cout);
    return mlic_graph_emit_act(b, act, x, MLIC_ACT_RELU6);
}

/* InvertedResidual: optional 1x1 expansion, 3x3 depthwise, linear 1x1 projection, and a residual
 * add when the shape is unchanged. `name` is "features.<i>". */
static int inverted_residual(mlic_graph_builder *b, const char *name, int in, int inp, int oup,
                             int stride, int expand)
{
    int hidden = inp * expand;
    int x = in, j = 0;
    char sub[64], sub2[64];
    if (expand != 1) {
        snprintf(sub, sizeof sub, "%s.conv.%d", name, j++);
        x = conv_bn_relu6(b, sub, x, inp, hidden, 1, 1, 1);
    }
    snprintf(sub, sizeof sub, "%s.conv.%d", name, j++);
    x = conv_bn_relu6(b, sub, x, hidden, hidden, 3, stride, hidden);
    snprintf(sub, sizeof sub, "%s.conv.%d", name, j++);
    snprintf(sub2, sizeof sub2, "%s.conv.%d", name, j++);
    x = mlic_graph_emit_conv(b, sub, x, hidden, oup, 1, 1, 0, 1, 0);
    x = mlic_graph_emit_batchnorm(b, sub2, x, oup);
    if (stride == 1 && inp == oup)
        x = mlic_graph_emit_add(b, "", x, in);
    return x;
}

const char mlic_arch_mobilenet_v2_head[] = "classifier.1";

mlic_status mlic_arch_build_mobilenet_v2(mlic_graph **out, const char *arch, int num_classes)
{
    /* expansion t, output channels c, repeats n, first stride s: torchvision's table */
    static const int setting[7][4] = {
        {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
        {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
    };
    mlic_graph_builder b;
    mlic_status s = mlic_graph_builder_init(&b, arch, num_classes);
    if (s != MLIC_OK)
        return s;
    int x = conv_bn_relu6(&b, "features.0", b.g->input, 3, 32, 3, 2, 1);
    int cin = 32, idx = 1;
    for (int k = 0; k < 7; k++) {
        for (int i = 0; i < setting[k][2]; i++) {
            char name[32];
            snprintf(name, sizeof name, "features.%d", idx++);
            x = inverted_residual(&b, name, x, cin, setting[k][1], i == 0 ? setting[k][3] : 1,
                                  setting[k][0]);
            cin = setting[k][1];
        }
    }
    char name[32];
    snprintf(name, sizeof name, "features.%d", idx);
    x = conv_bn_relu6(&b, name, x, cin, 1280, 1, 1, 1);
    x = mlic_graph_emit_global_avgpool(&b, "", x);
    x = mlic_graph_emit_dropout(&b, "classifier.0", x, 0.2f);
    x = mlic_graph_emit_linear(&b, mlic_arch_mobilenet_v2_head, x, 1280, num_classes);
    return mlic_graph_builder_finish(&b, out, x);
}
