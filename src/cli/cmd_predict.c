/* mlic predict: options in mlic's spelling (--model M ...) or EasyVision's (-Dmodel_path=M ...),
 * so an ev_predict_ext command line runs with little more than its "pai -name" part removed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mlic predict: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nHINT: 'mlic predict --help' lists the options.\n");
    va_end(ap);
    return 2;
}

static int parse_int(int *out, const char *opt, const char *v, long lo, long hi)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "mlic predict: %s '%s' is not an integer in %ld..%ld\n", opt, v, lo, hi);
        return 0;
    }
    *out = (int)x;
    return 1;
}

static int parse_double(double *out, const char *opt, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "mlic predict: %s '%s' is not a number in [%g, %g]\n", opt, v, lo, hi);
        return 0;
    }
    *out = x;
    return 1;
}

static int parse_u64(uint64_t *out, const char *opt, const char *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || x == 0) {
        fprintf(stderr, "mlic predict: %s '%s' is not a positive integer\n", opt, v);
        return 0;
    }
    *out = (uint64_t)x;
    return 1;
}

/* EasyVision options that only mean something on PAI (resources, OSS credentials). */
static const char *const ignored_ev_options[] = {
    "cpuRequired", "gpuRequired", "buckets", "arn", "ossHost", "enableDynamicCluster",
};

/* One option with its value: sets the field; returns 0 (message printed) on a bad value. */
static int apply_option(mlic_predict_opts *o, const char *name, const char *v)
{
    double d;
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
            return !usage_error("%s '%s' must be url or base64", name, v);
    } else if (!strcmp(name, "--format")) {
        if (!strcmp(v, "ev"))
            o->format = MLIC_FORMAT_EV;
        else if (!strcmp(v, "jsonl"))
            o->format = MLIC_FORMAT_JSONL;
        else
            return !usage_error("%s '%s' must be ev or jsonl", name, v);
    } else if (!strcmp(name, "--threshold")) {
        if (!parse_double(&d, name, v, 0.0, 1.0))
            return 0;
        o->threshold = (float)d;
    } else if (!strcmp(name, "--batch-size") || !strcmp(name, "-Dbatch_size")) {
        return parse_int(&o->batch_size, name, v, 1, 4096);
    } else if (!strcmp(name, "--threads")) {
        return parse_int(&o->threads, name, v, 0, 4096);
    } else if (!strcmp(name, "--decode-threads")) {
        return parse_int(&o->decode_threads, name, v, 0, 4096);
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
            return !usage_error("%s '%s' must be auto, ref, onednn or cuda", name, v);
    } else if (!strcmp(name, "--max-pixels")) {
        return parse_u64(&o->max_pixels, name, v);
    } else if (!strcmp(name, "--timeout")) {
        if (!parse_double(&d, name, v, 0.001, 86400.0))
            return 0;
        o->http_timeout = d;
    } else if (!strcmp(name, "-Dmodel_type")) {
        if (strcmp(v, "multilabel_classifier"))
            return !usage_error("-Dmodel_type=%s is not supported: mlic runs "
                                "multilabel_classifier models only", v);
    } else if (!strcmp(name, "-Dnum_worker")) {
        if (!parse_int(&n, name, v, 1, 1 << 20))
            return 0;
        if (n != 1)
            return !usage_error("-Dnum_worker=%s: several workers are not supported yet; use "
                                "-Dnum_worker=1 (one worker uses every core of its machine)", v);
    } else {
        return !usage_error("unknown option '%s'", name);
    }
    return 1;
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
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            predict_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--progress")) {
            progress = 1;
            continue;
        }
        if (!strcmp(a, "--no-progress")) {
            progress = 0;
            continue;
        }
        char name[64];
        const char *value;
        const char *eq = strchr(a, '=');
        if (!strncmp(a, "-D", 2)) {
            if (!eq)
                return usage_error("'%s' needs a value: -Dname=value", a);
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            value = eq + 1;
            int ignored = 0;
            for (size_t k = 0; k < sizeof ignored_ev_options / sizeof *ignored_ev_options; k++)
                ignored |= !strcmp(name + 2, ignored_ev_options[k]);
            if (ignored) {
                fprintf(stderr, "mlic predict: note: %s is EasyVision's (PAI resources or OSS "
                        "access) and is ignored here\n", name);
                continue;
            }
        } else if (!strncmp(a, "--", 2)) {
            if (eq) {
                snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
                value = eq + 1;
            } else {
                snprintf(name, sizeof name, "%s", a);
                int takes_value = 0;
                for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
                    takes_value |= !strcmp(a, valued[k]);
                if (!takes_value)
                    return usage_error("unknown option '%s'", a);
                if (i + 1 >= argc)
                    return usage_error("%s needs a value", a);
                value = argv[++i];
            }
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
        if (!apply_option(&o, name, value))
            return 2;
    }

    if (!o.model_path)
        return usage_error("no model given: pass --model M (or -Dmodel_path=M)");
    if (!o.input_path)
        return usage_error("no input list given: pass --input LIST (or -Dinput_oss_file=LIST)");
    if (!o.output_path)
        return usage_error("no output given: pass --output OUT (or -Doutput_oss_file=OUT)");
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
