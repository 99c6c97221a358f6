/* mlic report: one self-contained HTML page about a model, its training and its evaluation
 * (mlic_report_run, docs/report.md). */
#include <stdio.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "mlic.h"

static const char *const CMD = "report";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mlic report --model M --output report.html [--data DATA] [--log LOG] [options]\n\n"
            "Write one HTML page about a model that opens from disk in any browser, needs no\n"
            "network and can be mailed: the model's facts (arch, classes, preprocessing,\n"
            "thresholds, SHA-256, how it was trained); with --log, the training curves (loss,\n"
            "learning rate, validation mAP/CF1/OF1 per epoch, the best epoch, speed); with\n"
            "--data, the evaluation mlic eval runs (mAP, CP, CR, CF1, OP, OR, OF1, per-class AP,\n"
            "precision-recall curves, the classes it confuses, the images it gets most wrong).\n"
            "docs/report.md describes the page.\n\n"
            "  --model M           model file\n"
            "  --output FILE       the page (written atomically)\n"
            "  --log LOG           the JSON Lines log that mlic train --log wrote for this model\n"
            "  --data DATA         labelled data to evaluate on, as mlic eval reads it: a list\n"
            "                      ('path<TAB>label,label'), a PAI CSV, a COCO instances JSON or a\n"
            "                      Pascal VOC folder or split file\n"
            "  --format F          auto (default), list, pai_csv, coco or voc\n"
            "  --root DIR          relative image paths resolve against DIR\n"
            "  --confine-to-root   every image path must resolve under that root\n"
            "  --classes C.txt     the data's class list\n"
            "  --split S           VOC split when --data is a VOC folder (default trainval)\n"
            "  --threshold T       one threshold in [0,1] for every class (default: the model's)\n"
            "  --examples N        images in each of the worst false positive and false negative\n"
            "                      galleries (default %d, 0 for none)\n"
            "  --batch-size N      images per inference batch (default 32)\n"
            "  --threads N         inference threads (default: all cores)\n"
            "  --decode-threads N  image decoding threads (default: all cores)\n"
            "  --backend B         auto (default), ref, onednn or cuda\n"
            "  -h, --help          this help\n\n"
            "Exit status: 0 written, 1 failed (unreadable model, data, image or log, a log of\n"
            "another model, a class mismatch), 2 bad usage.\n",
            MLIC_REPORT_DEFAULT_EXAMPLES);
}

int mlic_cmd_report(int argc, char **argv)
{
    mlic_report_opts o;
    mlic_report_opts_init(&o);
    const char *v;
    int batch = 32;
    for (int i = 1; i < argc; i++) {
        int r;
        if (mlic_args_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
        if ((r = mlic_args_value(CMD, argc, argv, &i, "--model", &o.eval.model_path)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--output", &o.output_path)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--log", &o.log_path)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--data", &o.eval.data_path)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--root", &o.eval.data.root)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--classes", &o.eval.data.classes_path)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--split", &o.eval.data.split))) {
            if (r < 0)
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--format", &v))) {
            if (r < 0)
                return 2;
            if (mlic_dataset_parse_format(&o.eval.data.format, v) != MLIC_OK)
                return mlic_args_usage_error(CMD, "%s", mlic_errmsg());
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--threshold", &v))) {
            if (r < 0 || mlic_args_float(CMD, "--threshold", v, &o.eval.threshold))
                return 2;
            if (!(o.eval.threshold >= 0.0f && o.eval.threshold <= 1.0f))
                return mlic_args_usage_error(CMD, "--threshold %s is not in [0, 1]", v);
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--examples", &v))) {
            if (r < 0 || mlic_args_int(CMD, "--examples", v, 0, 1000, &o.max_examples))
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--batch-size", &v))) {
            if (r < 0 || mlic_args_int(CMD, "--batch-size", v, 1, 4096, &batch))
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--threads", &v))) {
            if (r < 0 || mlic_args_int(CMD, "--threads", v, 0, 4096, &o.eval.threads))
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--decode-threads", &v))) {
            if (r < 0 || mlic_args_int(CMD, "--decode-threads", v, 0, 256, &o.eval.decode_threads))
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--backend", &v))) {
            if (r < 0 || mlic_args_backend(CMD, v, &o.eval.backend))
                return 2;
        } else if (mlic_args_flag(argv[i], "--confine-to-root")) {
            o.eval.data.confine_to_root = 1;
        } else {
            return mlic_args_usage_error(CMD, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!o.eval.model_path || !o.output_path)
        return mlic_args_usage_error(CMD, "missing %s",
                                     !o.eval.model_path ? "--model" : "--output");
    o.eval.batch_size = batch;
    if (mlic_report_run(&o) != MLIC_OK) {
        fprintf(stderr, "mlic %s: %s\n", CMD, mlic_errmsg());
        return 1;
    }
    printf("%s\n", o.output_path);
    return 0;
}
