/* mlic predict: options in mlic's spelling (--model M ...) or EasyVision's (-Dmodel_path=M ...),
 * so an ev_predict_ext command line runs with little more than its "pai -name" part removed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "mlic.h"

static void predict_usage(FILE *f)
{
    fprintf(f,
        "usage: mlic predict --model M --input LIST --output OUT [options]\n"
        "\n"
        "Label every image of LIST (one per line) and write one line per input, in order, to OUT\n"
        "(written to a temporary file, renamed when complete).\n"
        "\n"
        "  --model M             model file (mlic import makes one)\n"
        "  --input LIST          the list: paths, file:// or http(s):// URLs, or base64 lines\n"
        "  --output OUT          the result file\n"
        "  --image-type T        url (default) or base64: 'ID<TAB>BASE64' or 'BASE64' per line\n"
        "  --format F            ev (default): '<path>, <json>'; jsonl: '{\"path\": ..., ...}'\n"
        "  --threshold T         one threshold in [0,1] for every class (default: the model's)\n"
        "  --batch-size N        images per inference batch (default 32)\n"
        "  --threads N           inference threads (default: all cores)\n"
        "  --decode-threads N    fetch/decode threads (default: the number of cores; raise it\n"
        "                        for lists of slow http URLs)\n"
        "  --root DIR            relative paths resolve against DIR (default: the list's folder)\n"
        "  --backend B           auto (default), ref, onednn or cuda\n"
        "  --max-pixels N        refuse larger images (default %llu)\n"
        "  --timeout S           seconds per HTTP attempt (default 60; 3 retries)\n"
        "  --progress, --no-progress\n"
        "                        progress line on stderr (default: when stderr is a terminal)\n"
        "\n"
        "EasyVision's spelling (ev_predict_ext) is accepted too:\n"
        "  -Dmodel_path=M -Dinput_oss_file=LIST -Doutput_oss_file=OUT -Dimage_type=url|base64\n"
        "  -Dmodel_type=multilabel_classifier -Dnum_worker=1 -Dbatch_size=N\n"
        "  (-DcpuRequired -DgpuRequired -Dbuckets -Darn -DossHost -DenableDynamicCluster are\n"
        "  accepted and ignored)\n"
        "\n"
        "Exit status: 0 all inputs ok, 3 some failed (their lines hold an \"error\"), 2 bad usage,\n"
        "1 the run failed.\n",
        (unsigned long long)MLIC_DEFAULT_MAX_PIXELS);
}

#define CMD "predict"

static int parse_u64(uint64_t *out, const char *name, const char *text)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || x == 0) {
        fprintf(stderr, "mlic " CMD ": %s '%s' is not a positive integer\n", name, text);
        return -1;
    }
    *out = (uint64_t)x;
    return 0;
}

static int parse_float_in(float *out, const char *name, const char *text, float lo, float hi)
{
    if (mlic_args_float(CMD, name, text, out))
        return -1;
    if (!(*out >= lo && *out <= hi)) {
        fprintf(stderr, "mlic " CMD ": %s '%s' is not in [%g, %g]\n", name, text, lo, hi);
        return -1;
    }
    return 0;
}

/* EasyVision options that only mean something on PAI (resources, OSS credentials). */
static const char *const ignored_ev_options[] = {
    "cpuRequired", "gpuRequired", "buckets", "arn", "ossHost", "enableDynamicCluster",
};

/* One option with its value: sets the field; 0, or nonzero after printing what is wrong. */
static int apply_option(mlic_predict_opts *o, const char *name, const char *v)
{
    float x;
    int n;
    if (!strcmp(name, "--model") || !strcmp(name, "-Dmodel_path")) {
        o->model_path = v;
    } else if (!strcmp(name, "--input") || !strcmp(name, "-Dinput_oss_file")) {
        o->input_path = v;
    } else if (!strcmp(name, "--output") || !strcmp(name, "-Doutput_oss_file")) {
        o->output_path = v;
    } else if (!strcmp(name, "--root")) {
        o->root = v;
    } else if (!strcmp(name, "--image-type") || !strcmp(name, "-Dimage_type")) {
        if (!strcmp(v, "url"))
            o->image_type = MLIC_IMAGE_TYPE_URL;
        else if (!strcmp(v, "base64"))
            o->image_type = MLIC_IMAGE_TYPE_BASE64;
        else
            return mlic_args_usage_error(CMD, "%s '%s' must be url or base64", name, v);
    } else if (!strcmp(name, "--format")) {
        if (!strcmp(v, "ev"))
            o->format = MLIC_FORMAT_EV;
        else if (!strcmp(v, "jsonl"))
            o->format = MLIC_FORMAT_JSONL;
        else
            return mlic_args_usage_error(CMD, "%s '%s' must be ev or jsonl", name, v);
    } else if (!strcmp(name, "--threshold")) {
        if (parse_float_in(&x, name, v, 0.0f, 1.0f))
            return -1;
        o->threshold = x;
    } else if (!strcmp(name, "--batch-size") || !strcmp(name, "-Dbatch_size")) {
        return mlic_args_int(CMD, name, v, 1, 4096, &o->batch_size);
    } else if (!strcmp(name, "--threads")) {
        return mlic_args_int(CMD, name, v, 0, 1024, &o->threads);
    } else if (!strcmp(name, "--decode-threads")) {
        return mlic_args_int(CMD, name, v, 0, 1024, &o->decode_threads);
    } else if (!strcmp(name, "--backend")) {
        if (!strcmp(v, "auto"))
            o->backend = MLIC_BACKEND_AUTO;
        else if (!strcmp(v, "ref"))
            o->backend = MLIC_BACKEND_REF;
        else if (!strcmp(v, "onednn"))
            o->backend = MLIC_BACKEND_ONEDNN;
        else if (!strcmp(v, "cuda"))
            o->backend = MLIC_BACKEND_CUDA;
        else
            return mlic_args_usage_error(CMD, "%s '%s' must be auto, ref, onednn or cuda", name, v);
    } else if (!strcmp(name, "--max-pixels")) {
        return parse_u64(&o->max_pixels, name, v);
    } else if (!strcmp(name, "--timeout")) {
        if (parse_float_in(&x, name, v, 0.001f, 86400.0f))
            return -1;
        o->http_timeout = x;
    } else if (!strcmp(name, "-Dmodel_type")) {
        if (strcmp(v, "multilabel_classifier"))
            return mlic_args_usage_error(CMD, "-Dmodel_type=%s is not supported: mlic runs "
                                         "multilabel_classifier models only", v);
    } else if (!strcmp(name, "-Dnum_worker")) {
        if (mlic_args_int(CMD, name, v, 1, 1 << 20, &n))
            return -1;
        if (n != 1)
            return mlic_args_usage_error(CMD, "-Dnum_worker=%s: several workers are not supported "
                                         "yet; use -Dnum_worker=1 (one worker uses every core of "
                                         "its machine)", v);
    } else {
        return mlic_args_usage_error(CMD, "unknown option '%s'", name);
    }
    return 0;
}

int mlic_cmd_predict(int argc, char **argv)
{
    mlic_predict_opts o;
    mlic_predict_opts_init(&o);
    int progress = -1;
    static const char *const valued[] = {
        "--model", "--input", "--output", "--root", "--image-type", "--format", "--threshold",
        "--batch-size", "--threads", "--decode-threads", "--backend", "--max-pixels", "--timeout",
    };

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mlic_args_is_help(a)) {
            predict_usage(stdout);
            return 0;
        }
        if (mlic_args_flag(a, "--progress")) {
            progress = 1;
            continue;
        }
        if (mlic_args_flag(a, "--no-progress")) {
            progress = 0;
            continue;
        }
        char dname[64];
        const char *name = NULL, *value = NULL;
        if (!strncmp(a, "-D", 2)) {
            const char *eq = strchr(a, '=');
            if (!eq)
                return mlic_args_usage_error(CMD, "'%s' needs a value: -Dname=value", a);
            snprintf(dname, sizeof dname, "%.*s", (int)(eq - a), a);
            name = dname;
            value = eq + 1;
            int ignored = 0;
            for (size_t k = 0; k < sizeof ignored_ev_options / sizeof *ignored_ev_options; k++)
                ignored |= !strcmp(name + 2, ignored_ev_options[k]);
            if (ignored) {
                fprintf(stderr, "mlic " CMD ": note: %s is EasyVision's (PAI resources or OSS "
                        "access) and is ignored here\n", name);
                continue;
            }
        } else {
            for (size_t k = 0; k < sizeof valued / sizeof *valued && !name; k++) {
                int r = mlic_args_value(CMD, argc, argv, &i, valued[k], &value);
                if (r < 0)
                    return 2;
                if (r > 0)
                    name = valued[k];
            }
            if (!name)
                return mlic_args_usage_error(CMD, a[0] == '-' ? "unknown option '%s'" :
                                             "unexpected argument '%s'", a);
        }
        if (apply_option(&o, name, value))
            return 2;
    }

    if (!o.model_path)
        return mlic_args_usage_error(CMD, "no model given: pass --model M (or -Dmodel_path=M)");
    if (!o.input_path)
        return mlic_args_usage_error(CMD, "no input list given: pass --input LIST (or -Dinput_oss_file=LIST)");
    if (!o.output_path)
        return mlic_args_usage_error(CMD, "no output given: pass --output OUT (or -Doutput_oss_file=OUT)");
    o.progress = progress >= 0 ? progress : isatty(STDERR_FILENO);

    mlic_predict_stats stats;
    mlic_status st = mlic_predict_run(&o, &stats);
    switch (st) {
    case MLIC_OK:
        return 0;
    case MLIC_ERR_PARTIAL:
        fprintf(stderr, "mlic predict: %llu of %llu inputs failed\n", (unsigned long long)stats.failed,
                (unsigned long long)stats.inputs);
        return 3;
    case MLIC_ERR_INVALID_ARG:
        fprintf(stderr, "mlic predict: %s\n", mlic_errmsg());
        return 2;
    default:
        fprintf(stderr, "mlic predict: %s\n", mlic_errmsg());
        return 1;
    }
}
