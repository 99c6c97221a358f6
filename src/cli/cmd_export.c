/* mlic export: a model file -> ONNX, or a plain torchvision state dict plus its class list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "mlic.h"

static const char *const CMD = "export";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mlic export --model M.safetensors [--onnx OUT.onnx]\n"
            "                   [--torchvision OUT.safetensors [--classes-out C.txt]]\n\n"
            "Write a model for other runtimes (at least one of --onnx, --torchvision).\n\n"
            "  --model FILE        the mlic model file\n"
            "  --onnx FILE         an ONNX model (opset 13): input \"input\" (N, 3, crop, crop),\n"
            "                      preprocessed as 'mlic info' shows; outputs \"logits\" and\n"
            "                      \"probs\" (sigmoid), (N, classes), N dynamic; the classes and\n"
            "                      thresholds in its metadata_props. 'mlic import --onnx' reads\n"
            "                      it back into the same model.\n"
            "  --torchvision FILE  the weights as a plain state dict (safetensors) that\n"
            "                      torchvision.models.<arch>(num_classes=K) loads with strict=True\n"
            "  --classes-out FILE  where the class names go, one per line (default: the\n"
            "                      --torchvision file with .classes.txt for .safetensors)\n"
            "  -h, --help          this help\n\n"
            "Every file is replaced atomically.\n"
            "Exit status: 0 written, 1 failed, 2 bad usage.\n");
}

/* "out.safetensors" -> "out.classes.txt"; any other name gets ".classes.txt" added. */
static char *classes_path_for(const char *weights)
{
    static const char ext[] = ".safetensors", add[] = ".classes.txt";
    size_t n = strlen(weights);
    if (n > strlen(ext) && !strcmp(weights + n - strlen(ext), ext))
        n -= strlen(ext);
    char *p = malloc(n + sizeof add);
    if (p) {
        memcpy(p, weights, n);
        memcpy(p + n, add, sizeof add);
    }
    return p;
}

int mlic_cmd_export(int argc, char **argv)
{
    const char *model = NULL, *onnx = NULL, *tv = NULL, *classes = NULL;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (mlic_args_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
        if ((r = mlic_args_value(CMD, argc, argv, &i, "--model", &model)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--onnx", &onnx)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--torchvision", &tv)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--classes-out", &classes))) {
            if (r < 0)
                return 2;
        } else {
            return mlic_args_usage_error(CMD, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!model)
        return mlic_args_usage_error(CMD, "missing --model");
    if (!onnx && !tv)
        return mlic_args_usage_error(CMD, "nothing to write: give --onnx and/or --torchvision");
    if (classes && !tv)
        return mlic_args_usage_error(CMD, "--classes-out goes with --torchvision");

    char *own = tv && !classes ? classes_path_for(tv) : NULL;
    if (tv && !classes && !own) {
        fprintf(stderr, "mlic %s: out of memory\n", CMD);
        return 1;
    }
    if (own)
        classes = own;

    mlic_model *m = NULL;
    mlic_status st = mlic_model_load(&m, model);
    if (st == MLIC_OK && onnx) {
        st = mlic_model_export_onnx(m, onnx);
        if (st == MLIC_OK)
            fprintf(stderr, "mlic %s: wrote %s (ONNX, %s, %d classes)\n", CMD, onnx,
                    mlic_model_arch(m), mlic_model_num_classes(m));
    }
    if (st == MLIC_OK && tv) {
        st = mlic_model_export_torchvision(m, tv, classes);
        if (st == MLIC_OK)
            fprintf(stderr, "mlic %s: wrote %s (torchvision.models.%s(num_classes=%d) state "
                    "dict) and %s\n", CMD, tv, mlic_model_arch(m), mlic_model_num_classes(m),
                    classes);
    }
    if (st != MLIC_OK)
        fprintf(stderr, "mlic %s: %s\n", CMD, mlic_errmsg());
    mlic_model_free(m);
    free(own);
    return st == MLIC_OK ? 0 : 1;
}
