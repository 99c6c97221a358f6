/* mlic quantize: an fp32 model -> an int8 model, calibrated on a list of images. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "mlic.h"

static const char *const CMD = "quantize";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mlic quantize --model M.safetensors --calib DATA --output M8.safetensors\n"
            "                     [options]\n\n"
            "Make an int8 model (docs/quantization.md): every convolution but the first gets\n"
            "int8 weights (symmetric, per output channel) and an input scale measured by running\n"
            "the fp32 model over the first calibration images. The int8 model keeps the fp32\n"
            "tensors too; predict, eval and bench run it in int8 on the onednn backend.\n\n"
            "  --model M           the fp32 model file\n"
            "  --calib DATA        calibration images: any data set mlic eval reads (a list,\n"
            "                      PAI CSV, COCO JSON, VOC); labels are not used\n"
            "  --output FILE       the int8 model, written atomically\n"
            "  --calib-images N    use the first N images (default 200)\n"
            "  --method M          percentile (default) or minmax: how an input's range is taken\n"
            "  --percentile P      percentile's P, in (0, 100] (default 99.99)\n"
            "  --format F          auto (default), list, pai_csv, coco or voc\n"
            "  --root DIR          relative image paths resolve against DIR\n"
            "  --threads N         threads (default: all cores)\n"
            "  -h, --help          this help\n\n"
            "Exit status: 0 written, 1 failed (unreadable model, data or image), 2 bad usage.\n");
}

int mlic_cmd_quantize(int argc, char **argv)
{
    const char *model = NULL, *calib = NULL, *output = NULL, *method = NULL, *images = NULL,
               *percentile = NULL, *format = NULL, *root = NULL, *threads = NULL;
    for (int i = 1; i < argc; i++) {
        int r = 0;
        if (mlic_args_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
        if ((r = mlic_args_value(CMD, argc, argv, &i, "--model", &model)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--calib", &calib)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--output", &output)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--calib-images", &images)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--method", &method)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--percentile", &percentile)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--format", &format)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--root", &root)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--threads", &threads))) {
            if (r < 0)
                return 2;
        } else {
            return mlic_args_usage_error(CMD, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!model)
        return mlic_args_usage_error(CMD, "missing --model");
    if (!calib)
        return mlic_args_usage_error(CMD, "missing --calib: the images whose activations set "
                                     "the int8 ranges (e.g. the training list)");
    if (!output)
        return mlic_args_usage_error(CMD, "missing --output");
    mlic_quantize_opts qo;
    mlic_quantize_opts_init(&qo);
    float p = 0;
    if ((images && mlic_args_int(CMD, "--calib-images", images, 1, 1L << 30, &qo.images)) ||
        (threads && mlic_args_int(CMD, "--threads", threads, 0, 4096, &qo.threads)) ||
        (percentile && mlic_args_float(CMD, "--percentile", percentile, &p)))
        return 2;
    if (percentile)
        qo.percentile = p;
    if (method && mlic_calib_method_parse(&qo.method, method) != MLIC_OK)
        return mlic_args_usage_error(CMD, "%s", mlic_errmsg());
    if (percentile && qo.method != MLIC_CALIB_PERCENTILE)
        return mlic_args_usage_error(CMD, "--percentile goes with --method percentile");
    mlic_dataset_read_opts dro;
    mlic_dataset_read_opts_init(&dro);
    dro.root = root;
    dro.paths_only = 1; /* a list of image paths, as predict's, will do */
    if (format && mlic_dataset_parse_format(&dro.format, format) != MLIC_OK)
        return mlic_args_usage_error(CMD, "%s", mlic_errmsg());

    mlic_model *m = NULL;
    mlic_dataset *d = NULL;
    mlic_status st = mlic_model_load(&m, model);
    if (st == MLIC_OK)
        st = mlic_dataset_read(&d, calib, &dro);
    if (st == MLIC_OK)
        st = mlic_model_quantize(m, d, &qo);
    if (st == MLIC_OK)
        st = mlic_model_save(m, output);
    if (st == MLIC_OK)
        fprintf(stderr, "mlic %s: wrote %s (int8, %s, calibrated with %s)\n", CMD, output,
                mlic_model_arch(m), mlic_model_calibration(m));
    else
        fprintf(stderr, "mlic %s: %s\n", CMD, mlic_errmsg());
    mlic_dataset_free(d);
    mlic_model_free(m);
    return st == MLIC_OK ? 0 : 1;
}
