/* mlic eval: a model's metrics on a labelled data set, as a table or one JSON object. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/json_out.h"
#include "cli/storage_args.h"
#include "mlic.h"

static const char *const CMD = "eval";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mlic eval --model M --data DATA [options]\n\n"
            "Run the model over every image of a labelled data set and report mAP, per-class AP\n"
            "and the precision/recall/F1 figures at the model's thresholds (all in percent;\n"
            "definitions in docs/metrics.md). The data's class names are matched to the model's\n"
            "by name; a class the model does not know is an error.\n\n"
            "  --model M           model file\n"
            "  --data DATA         the labelled data: a list ('path<TAB>label,label'), a PAI CSV,\n"
            "                      a COCO instances JSON or a Pascal VOC folder or split file\n"
            "  --format F          auto (default), list, pai_csv, coco or voc\n"
            "  --root DIR          relative image paths resolve against DIR (default: the data\n"
            "                      file's folder; COCO and VOC have their own defaults)\n"
            "  --confine-to-root   every image path must resolve under that root after '..' and\n"
            "                      symbolic links: absolute paths, escapes and missing files\n"
            "                      fail the load (for data sets written by someone else)\n"
            "  --classes C.txt     the data's class list (one name a line): a label outside it is\n"
            "                      an error (default: the format's list, or the labels seen)\n"
            "  --split S           VOC split when --data is a VOC folder (default trainval)\n"
            "  --threshold T       one threshold in [0,1] for every class (default: the model's)\n"
            "  --batch-size N      images per inference batch (default 32)\n"
            "  --threads N         inference threads (default: all cores)\n"
            "  --decode-threads N  image decoding threads (default: all cores)\n"
            "  --backend B         auto (default), ref, onednn or cuda\n"
            "  --precision P       fp32 (default), bf16 (an error without AVX512_BF16 or AMX)\n"
            "                      or auto (bf16 where the CPU has it): docs/precision.md\n"
            "                      (an int8 model, from mlic quantize, runs in int8)\n"
            "  --max-pixels N      refuse larger images (default %llu)\n"
            "  --cache DIR         keep the remote images fetched in DIR (docs/storage.md)\n"
            "  --cache-size SIZE   DIR's bound: bytes or K, M, G, T (default 10G)\n"
            "  --json              one JSON object: num_images, mAP, CP, CR, CF1, OP, OR, OF1,\n"
            "                      per_class (class name -> AP, null without positives) and\n"
            "                      thresholds (class name -> the threshold used)\n"
            "  --report FILE       also write the HTML page of mlic report (docs/report.md)\n"
            "  -h, --help          this help\n\n"
            "--model, --data, --classes and --root may be s3://bucket/key or oss://bucket/key\n"
            "(and http(s)://): docs/storage.md; -Dbuckets is the default --root.\n"
            "Exit status: 0 done, 1 failed (unreadable data or image, class mismatch), 2 bad usage.\n\n"
            "%s", (unsigned long long)MLIC_DEFAULT_MAX_PIXELS, mlic_cli_storage_help);
}

static void print_table(const mlic_eval_result *r, const char *model_path, const char *data_path,
                        int fixed_threshold)
{
    printf("%s on %s: %zu images, %d classes, %s backend, %s thresholds\n\n", model_path,
           data_path, r->num_images, r->num_classes, r->backend,
           fixed_threshold ? "one" : "the model's");
    int w = 5;
    for (int c = 0; c < r->num_classes; c++) {
        int l = (int)strlen(r->classes[c]);
        w = l > w ? l : w;
    }
    w = w > 40 ? 40 : w;
    printf("%-*s  %6s  %9s  %9s  %6s  %6s  %6s  %9s\n", w, "class", "AP", "positives", "predicted",
           "P", "R", "F1", "threshold");
    for (int c = 0; c < r->num_classes; c++) {
        const mlic_class_metrics *pc = &r->per_class[c];
        char ap[16];
        if (isnan(pc->ap))
            snprintf(ap, sizeof ap, "-");
        else
            snprintf(ap, sizeof ap, "%.2f", pc->ap);
        printf("%-*.*s  %6s  %9d  %9d  %6.2f  %6.2f  %6.2f  %9.4g\n", w, w,
               r->classes[c], ap, pc->positives, pc->predicted, pc->precision,
               pc->recall, pc->f1, (double)r->thresholds[c]);
    }
    const mlic_metrics *s = &r->summary;
    printf("\nmAP  %6.2f  (over the %d classes with positives)\n", s->map, s->map_classes);
    printf("CP   %6.2f  CR  %6.2f  CF1  %6.2f  (per class, averaged)\n", s->cp, s->cr, s->cf1);
    printf("OP   %6.2f  OR  %6.2f  OF1  %6.2f  (over all labels)\n", s->op, s->or_, s->of1);
}

static void print_json(const mlic_eval_result *r)
{
    const mlic_metrics *s = &r->summary;
    const struct {
        const char *key;
        double v;
    } fields[] = {{"mAP", s->map}, {"CP", s->cp}, {"CR", s->cr}, {"CF1", s->cf1},
                  {"OP", s->op}, {"OR", s->or_}, {"OF1", s->of1}};
    printf("{\"num_images\": %zu", r->num_images);
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        printf(", \"%s\": ", fields[i].key);
        mlic_cli_json_number(stdout, fields[i].v);
    }
    fputs(", \"per_class\": {", stdout);
    for (int c = 0; c < r->num_classes; c++) {
        fputs(c ? ", " : "", stdout);
        mlic_cli_json_string(stdout, r->classes[c]);
        fputs(": ", stdout);
        mlic_cli_json_number(stdout, r->per_class[c].ap);
    }
    fputs("}, \"thresholds\": {", stdout);
    for (int c = 0; c < r->num_classes; c++) {
        fputs(c ? ", " : "", stdout);
        mlic_cli_json_string(stdout, r->classes[c]);
        fputs(": ", stdout);
        mlic_cli_json_number(stdout, r->thresholds[c]);
    }
    fputs("}}\n", stdout);
}

int mlic_cmd_eval(int argc, char **argv)
{
    const char *report_path = NULL, *v;
    mlic_cli_storage storage;
    mlic_cli_storage_init(&storage);
    mlic_eval_run_opts eopts;
    mlic_eval_run_opts_init(&eopts);
    mlic_dataset_read_opts *dopts = &eopts.data;
    int json = 0, batch = 32;
    for (int i = 1; i < argc; i++) {
        int r;
        if (mlic_args_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
        if ((r = mlic_cli_storage_option(&storage, CMD, argc, argv, &i))) {
            if (r < 0)
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--model", &eopts.model_path)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--data", &eopts.data_path)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--root", &dopts->root)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--classes", &dopts->classes_path)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--split", &dopts->split)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--cache", &eopts.cache_dir)) ||
            (r = mlic_args_value(CMD, argc, argv, &i, "--report", &report_path))) {
            if (r < 0)
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--cache-size", &v))) {
            if (r < 0)
                return 2;
            if (mlic_parse_size(&eopts.cache_bytes, v) != MLIC_OK)
                return mlic_args_usage_error(CMD, "%s", mlic_errmsg());
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--format", &v))) {
            if (r < 0)
                return 2;
            if (mlic_dataset_parse_format(&dopts->format, v) != MLIC_OK)
                return mlic_args_usage_error(CMD, "%s", mlic_errmsg());
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--threshold", &v))) {
            if (r < 0 || mlic_args_float(CMD, "--threshold", v, &eopts.threshold))
                return 2;
            if (!(eopts.threshold >= 0.0f && eopts.threshold <= 1.0f))
                return mlic_args_usage_error(CMD, "--threshold %s is not in [0, 1]", v);
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--batch-size", &v))) {
            if (r < 0 || mlic_args_int(CMD, "--batch-size", v, 1, 4096, &batch))
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--threads", &v))) {
            if (r < 0 || mlic_args_int(CMD, "--threads", v, 0, 4096, &eopts.threads))
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--decode-threads", &v))) {
            if (r < 0 || mlic_args_int(CMD, "--decode-threads", v, 0, 256, &eopts.decode_threads))
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--backend", &v))) {
            if (r < 0 || mlic_args_backend(CMD, v, &eopts.backend))
                return 2;
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--precision", &v))) {
            if (r < 0 || mlic_precision_parse(&eopts.precision, v) != MLIC_OK)
                return r < 0 ? 2 : mlic_args_usage_error(CMD, "%s", mlic_errmsg());
        } else if ((r = mlic_args_value(CMD, argc, argv, &i, "--max-pixels", &v))) {
            int mp;
            if (r < 0 || mlic_args_int(CMD, "--max-pixels", v, 1, 2147483647L, &mp))
                return 2;
            eopts.max_pixels = (uint64_t)mp;
        } else if (mlic_args_flag(argv[i], "--json")) {
            json = 1;
        } else if (mlic_args_flag(argv[i], "--confine-to-root")) {
            dopts->confine_to_root = 1;
        } else {
            return mlic_args_usage_error(CMD, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!eopts.model_path || !eopts.data_path)
        return mlic_args_usage_error(CMD, "missing %s", !eopts.model_path ? "--model" : "--data");
    if (eopts.cache_bytes && !eopts.cache_dir)
        return mlic_args_usage_error(CMD, "--cache-size bounds --cache DIR, which is not given");
    mlic_cli_storage_finish(&storage, CMD);
    if (!dopts->root)
        dopts->root = storage.buckets;
    dopts->storage = &storage.opts;
    eopts.batch_size = batch;

    mlic_eval_result r;
    int rc = 1;
    if (mlic_eval_run(&eopts, &r) != MLIC_OK) {
        fprintf(stderr, "mlic %s: %s\n", CMD, mlic_errmsg());
        goto done;
    }
    if (report_path) {
        mlic_report_opts ro;
        mlic_report_opts_init(&ro);
        ro.eval = eopts;
        ro.evaluated = &r;
        ro.output_path = report_path;
        if (mlic_report_run(&ro) != MLIC_OK) {
            fprintf(stderr, "mlic %s: --report: %s\n", CMD, mlic_errmsg());
            goto done;
        }
    }
    if (json)
        print_json(&r);
    else
        print_table(&r, eopts.model_path, eopts.data_path, eopts.threshold >= 0);
    rc = 0;
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "mlic %s: writing the output: %s\n", CMD, strerror(errno));
        rc = 1;
    }
done:
    mlic_eval_result_free(&r);
    return rc;
}
