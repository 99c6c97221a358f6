/* mlic info: what a model file holds, as text or JSON. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/storage_args.h"
#include "mlic.h"

static const char *const CMD = "info";

static void usage(FILE *f)
{
    fprintf(f, "usage: mlic info MODEL.safetensors [--json]\n\n"
               "Load and check a model file, then print its arch, classes with their thresholds,\n"
               "input size, normalisation, number of parameters, precision (fp32, or int8 for a\n"
               "model made by mlic quantize) and file size.\n\n"
               "  --json       one JSON object instead of text\n"
               "MODEL may be s3://bucket/key, oss://bucket/key or http(s):// (docs/storage.md).\n"
               "  -h, --help   this help\n\n"
               "Exit status: 0 printed, 1 the file is missing or not a valid model, 2 bad usage.\n\n"
               "%s", mlic_cli_storage_help);
}

/* "11,179,077" */
static const char *grouped(char *buf, uint64_t v)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%" PRIu64, v), k = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = '\0';
    return buf;
}

static void print_triple(const char *label, const float v[3])
{
    char t[3][32];
    for (int i = 0; i < 3; i++)
        mlic_model_float_text(t[i], v[i]);
    printf("%s %s, %s, %s\n", label, t[0], t[1], t[2]);
}

static void print_text(const mlic_model *m, const char *path, uint64_t size)
{
    mlic_preprocess p = mlic_model_preprocess(m);
    char a[32], num[32];
    printf("file:        %s (%.1f MB, %s bytes)\n", path, size / 1e6, grouped(num, size));
    printf("arch:        %s\n", mlic_model_arch(m));
    printf("parameters:  %s\n", grouped(num, mlic_model_num_parameters(m)));
    if (strcmp(mlic_model_precision(m), "int8"))
        printf("precision:   fp32\n");
    else
        printf("precision:   int8 (calibrated with %s; the first convolution and the linear "
               "head in fp32)\n", mlic_model_calibration(m));
    if (p.resize)
        printf("input:       3 x %d x %d (shorter side resized to %d, centre crop %d)\n", p.crop,
               p.crop, p.resize, p.crop);
    else
        printf("input:       3 x %d x %d (centre crop %d, no resize)\n", p.crop, p.crop, p.crop);
    print_triple("mean:       ", p.mean);
    print_triple("std:        ", p.std);
    printf("classes:     %d\n  index  threshold  name\n", mlic_model_num_classes(m));
    for (int i = 0; i < mlic_model_num_classes(m); i++) {
        mlic_model_float_text(a, mlic_model_threshold(m, i));
        printf("  %5d  %9s  %s\n", i, a, mlic_model_class_name(m, i));
    }
}

static int add_float(cJSON *arr, float v)
{
    char buf[32];
    mlic_model_float_text(buf, v);
    cJSON *r = cJSON_CreateRaw(buf);
    return r && cJSON_AddItemToArray(arr, r);
}

static int print_json(const mlic_model *m, const char *path, uint64_t size)
{
    mlic_preprocess p = mlic_model_preprocess(m);
    char num[24];
    cJSON *root = cJSON_CreateObject();
    cJSON *classes = NULL, *thresholds = NULL, *input = NULL, *mean = NULL, *std = NULL;
    snprintf(num, sizeof num, "%" PRIu64, size);
    int ok = root && cJSON_AddStringToObject(root, "path", path) &&
             cJSON_AddRawToObject(root, "file_size", num) &&
             cJSON_AddStringToObject(root, "arch", mlic_model_arch(m)) &&
             cJSON_AddNumberToObject(root, "num_classes", mlic_model_num_classes(m)) &&
             (classes = cJSON_AddArrayToObject(root, "classes")) &&
             (thresholds = cJSON_AddArrayToObject(root, "thresholds")) &&
             (input = cJSON_AddArrayToObject(root, "input")) &&
             cJSON_AddNumberToObject(root, "resize", p.resize) &&
             cJSON_AddNumberToObject(root, "crop", p.crop) &&
             (mean = cJSON_AddArrayToObject(root, "mean")) &&
             (std = cJSON_AddArrayToObject(root, "std"));
    snprintf(num, sizeof num, "%" PRIu64, mlic_model_num_parameters(m));
    ok = ok && cJSON_AddRawToObject(root, "parameters", num);
    ok = ok && cJSON_AddStringToObject(root, "precision", mlic_model_precision(m));
    if (ok && !strcmp(mlic_model_precision(m), "int8"))
        ok = cJSON_AddStringToObject(root, "calibration", mlic_model_calibration(m)) != NULL;
    for (int i = 0; i < mlic_model_num_classes(m) && ok; i++) {
        cJSON *s = cJSON_CreateString(mlic_model_class_name(m, i));
        ok = s && cJSON_AddItemToArray(classes, s) &&
             add_float(thresholds, mlic_model_threshold(m, i));
    }
    const int dims[3] = {3, p.crop, p.crop};
    for (int i = 0; i < 3 && ok; i++) {
        cJSON *d = cJSON_CreateNumber(dims[i]);
        ok = d && cJSON_AddItemToArray(input, d) && add_float(mean, p.mean[i]) &&
             add_float(std, p.std[i]);
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        fprintf(stderr, "mlic %s: out of memory\n", CMD);
        return 1;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

int mlic_cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0, r;
    mlic_cli_storage storage;
    mlic_cli_storage_init(&storage);
    for (int i = 1; i < argc; i++) {
        if (mlic_args_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
        if ((r = mlic_cli_storage_option(&storage, CMD, argc, argv, &i))) {
            if (r < 0)
                return 2;
        } else if (mlic_args_flag(argv[i], "--json"))
            json = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return mlic_args_usage_error(CMD, "unknown option '%s'", argv[i]);
        else if (path)
            return mlic_args_usage_error(CMD, "one model file at a time ('%s' and '%s' given)",
                                         path, argv[i]);
        else
            path = argv[i];
    }
    if (!path)
        return mlic_args_usage_error(CMD, "no model file given");
    mlic_cli_storage_finish(&storage, CMD);
    mlic_model *m = NULL;
    if (mlic_model_load_from(&m, path, &storage.opts) != MLIC_OK) {
        fprintf(stderr, "mlic %s: %s\n", CMD, mlic_errmsg());
        return 1;
    }
    const uint64_t size = mlic_model_file_size(m);
    int rc = 0;
    if (json)
        rc = print_json(m, path, size);
    else
        print_text(m, path, size);
    mlic_model_free(m);
    if (!rc && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "mlic %s: writing the output: %s\n", CMD, strerror(errno));
        rc = 1;
    }
    return rc;
}
