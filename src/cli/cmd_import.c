/* mlic import: a torchvision state dict (safetensors) or an ONNX export + a class list -> a
 * model file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/storage_args.h"
#include "mlic.h"

static const char *const CMD = "import";

static void usage(FILE *f)
{
    mlic_preprocess d = mlic_preprocess_default();
    fprintf(f,
            "usage: mlic import --arch NAME --weights W.safetensors --classes C.txt "
            "--output M.safetensors\n"
            "       mlic import [--arch NAME] --onnx M.onnx [--classes C.txt] --output M.safetensors\n"
            "                   [--resize N] [--crop N] [--mean R,G,B] [--std R,G,B] "
            "[--threshold T]\n\n"
            "Pack a torchvision state dict, saved with safetensors (e.g.\n"
            "safetensors.torch.save_file(model.state_dict(), W.safetensors)), and its class names\n"
            "into one mlic model file. Names and shapes are checked against the arch.\n"
            "Or read the weights from an ONNX export of such a model (torch.onnx.export, float32):\n"
            "its structure is matched against the archs, so --arch is optional there. A file\n"
            "written by 'mlic export --onnx' needs no --classes: its classes, thresholds and\n"
            "preprocessing come from its metadata, giving back the exported model.\n\n"
            "  --arch NAME       ");
    for (int i = 0; mlic_archs()[i]; i++)
        fprintf(f, "%s%s", i ? ", " : "", mlic_archs()[i]);
    fprintf(f,
            "\n"
            "  --weights FILE    the state dict (F32; F16, BF16 and F64 are converted)\n"
            "  --onnx FILE       an ONNX export instead (batch norms folded or kept)\n"
            "  --classes FILE    class names, one per line, in the order of the head's outputs\n"
            "                    (UTF-8; blank lines are skipped)\n"
            "  --output FILE     the model file to write (replaced atomically)\n"
            "  --resize N        resize the shorter image side to N first; 0: no resize "
            "(default %d)\n"
            "  --crop N          centre crop N x N, the network's input (default %d)\n"
            "  --mean R,G,B      normalisation mean of [0,1] pixel values (default %g,%g,%g)\n"
            "  --std R,G,B       normalisation standard deviation (default %g,%g,%g)\n"
            "  --threshold T     every class's decision threshold on its sigmoid probability "
            "(default 0.5)\n"
            "  -h, --help        this help\n\n"
            "--weights, --onnx, --classes and --output may be s3://bucket/key or oss://bucket/key\n"
            "(the inputs also http(s)://): docs/storage.md.\n"
            "Exit status: 0 written, 1 failed, 2 bad usage.\n\n%s",
            d.resize, d.crop, d.mean[0], d.mean[1], d.mean[2], d.std[0], d.std[1], d.std[2],
            mlic_cli_storage_help);
}

int mlic_cmd_import(int argc, char **argv)
{
    const char *arch = NULL, *weights = NULL, *onnx = NULL, *classes = NULL, *output = NULL, *v;
    mlic_model_spec spec = {.threshold = 0.5f, .pre = mlic_preprocess_default()};
    mlic_cli_storage storage;
    mlic_cli_storage_init(&storage);
    int spec_given = 0; /* a preprocessing option or --threshold */
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (mlic_args_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
        if ((r = mlic_cli_storage_option(&storage, CMD, argc, argv, &i))) {
            if (r < 0)
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--arch", &arch)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--weights", &weights)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--onnx", &onnx)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--classes", &classes)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--output", &output))) {
            if (r < 0)
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--resize", &v))) {
            spec_given = 1;
            if (r < 0 || mlic_args_int(CMD, "--resize", v, 0, 1 << 20, &spec.pre.resize))
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--crop", &v))) {
            spec_given = 1;
            if (r < 0 || mlic_args_int(CMD, "--crop", v, 1, 1 << 20, &spec.pre.crop))
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--mean", &v))) {
            spec_given = 1;
            if (r < 0 || mlic_args_floats(CMD, "--mean", v, spec.pre.mean, 3))
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--std", &v))) {
            spec_given = 1;
            if (r < 0 || mlic_args_floats(CMD, "--std", v, spec.pre.std, 3))
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--threshold", &v))) {
            spec_given = 1;
            if (r < 0 || mlic_args_float(CMD, "--threshold", v, &spec.threshold))
                return 2;
        } else {
            return mlic_args_usage_error(CMD, "unexpected argument '%s'", argv[i]);
        }
    }
    if (weights && onnx)
        return mlic_args_usage_error(CMD, "--weights and --onnx: give one of them");
    if (onnx && !classes && spec_given)
        return mlic_args_usage_error(CMD, "--onnx without --classes takes the "
                                     "preprocessing and thresholds from the file's metadata; "
                                     "give --classes to set them");
    if ((!arch && !onnx) || (!weights && !onnx) || (!classes && !onnx) || !output)
        return mlic_args_usage_error(CMD, "missing %s",
                                     !weights && !onnx ? "--weights (or --onnx)"
                                     : !arch ? "--arch" : !classes ? "--classes" : "--output");
    int known = !arch;
    for (int i = 0; arch && mlic_archs()[i]; i++)
        known |= !strcmp(arch, mlic_archs()[i]);
    if (!known)
        return mlic_args_usage_error(CMD, "unknown --arch '%s'", arch);
    if (mlic_model_check_thresholds(&spec.threshold, 1, "--threshold") ||
        mlic_model_check_preprocess(&spec.pre, "preprocessing options")) {
        fprintf(stderr, "mlic %s: %s\n", CMD, mlic_errmsg());
        return 2;
    }

    mlic_cli_storage_finish(&storage, CMD);
    char **names = NULL;
    int n = 0;
    if (classes && mlic_class_list_read(&names, &n, classes, &storage.opts) != MLIC_OK) {
        fprintf(stderr, "mlic %s: %s\n", CMD, mlic_errmsg());
        return 1;
    }
    spec.arch = arch;
    spec.classes = (const char *const *)names;
    spec.num_classes = n;
    const char *found = arch;
    const mlic_status st = onnx ? mlic_model_import_onnx_from(onnx, &spec, output, &found,
                                                              &storage.opts)
                                : mlic_model_import_from(weights, &spec, output, &storage.opts);
    mlic_class_list_free(names, n);
    if (st != MLIC_OK) {
        fprintf(stderr, "mlic %s: %s\n", CMD, mlic_errmsg());
        return 1;
    }
    if (classes)
        fprintf(stderr, "mlic %s: wrote %s (%s, %d classes)\n", CMD, output, found, n);
    else
        fprintf(stderr, "mlic %s: wrote %s (%s, classes and preprocessing from the file's "
                "metadata)\n", CMD, output, found);
    return 0;
}
