/* Drives the image module for tests/py/test_image*.py.
 *   tool_preprocess IMAGE RESIZE CROP OUT.bin [--full-decode] [--repeat N]
 *       [--min-short-side N]
 *       decode + preprocess with mean 0, std 1; writes float32 (3, CROP, CROP). JPEGs are
 *       DCT-scaled with min_short_side = 2 * RESIZE (what mlic.h asks callers to pass) unless
 *       --full-decode or --min-short-side. --repeat times N decode+preprocess runs on stderr.
 *   tool_preprocess --decode IMAGE OUT.bin [--max-pixels N] [--min-short-side N]
 *       writes int32 width, int32 height, then (H, W, 3) uint8.
 * On failure prints "ERROR <status name>: <message>" on stderr and exits with 2. */
#include "mlic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int fail(mlic_status s)
{
    fprintf(stderr, "ERROR %s: %s\n", mlic_status_name(s), mlic_errmsg());
    return 2;
}

static int write_all(const char *path, const void *a, size_t na, const void *b, size_t nb)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(a, 1, na, f) == na && (nb == 0 || fwrite(b, 1, nb, f) == nb);
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) fprintf(stderr, "cannot write %s\n", path);
    return ok ? 0 : 1;
}

static int decode_only(int argc, char **argv)
{
    if (argc < 4) return 1;
    mlic_decode_opts o = {0};
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--max-pixels")) o.max_pixels = strtoull(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "--min-short-side")) o.min_short_side = atoi(argv[i + 1]);
    }
    size_t len = 0;
    uint8_t *data = read_file(argv[2], &len);
    if (!data) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    mlic_image img;
    mlic_status s = mlic_image_decode(&img, data, len, &o);
    free(data);
    if (s != MLIC_OK) return fail(s);
    int32_t wh[2] = {img.width, img.height};
    int rc = write_all(argv[3], wh, sizeof wh, img.pixels, (size_t)img.width * img.height * 3);
    mlic_image_free(&img);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "--decode")) return decode_only(argc, argv);
    if (argc < 5) {
        fprintf(stderr,
                "usage: %s IMAGE RESIZE CROP OUT.bin [--full-decode] [--min-short-side N]"
                " [--repeat N]\n"
                "       %s --decode IMAGE OUT.bin [--max-pixels N] [--min-short-side N]\n",
                argv[0], argv[0]);
        return 1;
    }
    mlic_preprocess p = {
        .resize = atoi(argv[2]), .crop = atoi(argv[3]), .mean = {0, 0, 0}, .std = {1, 1, 1}};
    mlic_decode_opts o = {.min_short_side = 2 * p.resize};
    int repeat = 1;
    for (int i = 5; i < argc; i++) {
        if (!strcmp(argv[i], "--full-decode")) o.min_short_side = 0;
        if (!strcmp(argv[i], "--min-short-side") && i + 1 < argc)
            o.min_short_side = atoi(argv[++i]);
        if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
    }
    size_t len = 0;
    uint8_t *data = read_file(argv[1], &len);
    if (!data) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    size_t n = (size_t)3 * p.crop * p.crop;
    float *out = malloc(sizeof *out * n);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    mlic_status s = MLIC_OK;
    for (int r = 0; r < repeat && s == MLIC_OK; r++) {
        mlic_image img;
        s = mlic_image_decode(&img, data, len, &o);
        if (s == MLIC_OK) s = mlic_image_preprocess(out, &img, &p);
        mlic_image_free(&img);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(data);
    if (s != MLIC_OK) {
        free(out);
        return fail(s);
    }
    if (repeat > 1)
        fprintf(stderr, "%.3f ms per decode+preprocess\n",
                ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / repeat);
    int rc = write_all(argv[4], out, sizeof *out * n, NULL, 0);
    free(out);
    return rc;
}
