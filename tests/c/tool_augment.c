/* Drives the augmentation for tests/py/test_augment.py. Images travel as raw files: int32 width,
 * int32 height, then (H, W, 3) uint8. Normalisation is the default ImageNet mean/std.
 *   tool_augment apply IMAGE.raw OUT.f32 SIZE TOP LEFT HEIGHT WIDTH FLIP ORDER FB FC FS
 *       ORDER is three digits (0 brightness, 1 contrast, 2 saturation), FB FC FS the factors;
 *       writes float32 (3, SIZE, SIZE).
 *   tool_augment sample WIDTH HEIGHT SEED N [SCALE_MIN SCALE_MAX RATIO_MIN RATIO_MAX P JB JC JS]
 *       prints N draws of one generator, a line each: top left height width flip order fb fc fs
 *   tool_augment epoch WIDTH HEIGHT SEED EPOCH N
 *       prints the draws of items 0..N-1 of one training epoch, each from the generator the
 *       loader gives that item (data/loader.h), for WIDTH x HEIGHT images, in sample's format
 *   tool_augment rng STATE N
 *       prints N raw 64-bit outputs of a generator whose state is set to STATE.
 * On failure prints "ERROR <status name>: <message>" on stderr and exits with 2. */
#include "core/rng.h"
#include "data/loader.h"
#include "image/augment.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(mlic_status s)
{
    fprintf(stderr, "ERROR %s: %s\n", mlic_status_name(s), mlic_errmsg());
    return 2;
}

static int read_raw(mlic_image *img, const char *path)
{
    FILE *f = fopen(path, "rb");
    int32_t wh[2];
    int ok = f && fread(wh, sizeof wh, 1, f) == 1 && wh[0] > 0 && wh[1] > 0;
    img->pixels = NULL;
    if (ok) {
        img->width = wh[0];
        img->height = wh[1];
        size_t n = (size_t)wh[0] * wh[1] * 3;
        img->pixels = malloc(n);
        ok = img->pixels && fread(img->pixels, 1, n, f) == n;
    }
    if (f) fclose(f);
    if (!ok) fprintf(stderr, "cannot read raw image %s\n", path);
    return ok ? 0 : 1;
}

static mlic_augment_cfg default_cfg(int size)
{
    mlic_preprocess pre = mlic_preprocess_default();
    pre.crop = size;
    return mlic_augment_cfg_default(&pre);
}

static int apply(int argc, char **argv)
{
    if (argc != 14) return 1;
    mlic_image img;
    if (read_raw(&img, argv[2]) != 0) return 1;
    mlic_augment_cfg cfg = default_cfg(atoi(argv[4]));
    mlic_augment_params p = {.top = atoi(argv[5]), .left = atoi(argv[6]), .height = atoi(argv[7]),
                             .width = atoi(argv[8]), .flip = atoi(argv[9])};
    size_t order_len = strlen(argv[10]);
    for (int i = 0; i < MLIC_JITTER_COUNT; i++) {
        p.order[i] = (size_t)i < order_len ? argv[10][i] - '0' : -1;
        p.factor[i] = strtod(argv[11 + i], NULL);
    }
    size_t n = (size_t)3 * cfg.size * cfg.size;
    float *out = malloc(sizeof *out * (n ? n : 1));
    mlic_status s = out ? mlic_augment_apply(out, &img, &cfg, &p) : MLIC_ERR_NOMEM;
    int rc = 0;
    if (s != MLIC_OK) {
        rc = fail(s);
    } else {
        FILE *f = fopen(argv[3], "wb");
        if (!f || fwrite(out, sizeof *out, n, f) != n) rc = 1;
        if (f && fclose(f) != 0) rc = 1;
    }
    free(out);
    mlic_image_free(&img);
    return rc;
}

static int print_draw(const mlic_augment_params *p)
{
    return printf("%d %d %d %d %d %d%d%d %.17g %.17g %.17g\n", p->top, p->left, p->height, p->width,
                  p->flip, p->order[0], p->order[1], p->order[2], p->factor[0], p->factor[1],
                  p->factor[2]) < 0;
}

static int sample(int argc, char **argv)
{
    if (argc != 6 && argc != 14) return 1;
    mlic_augment_cfg cfg = default_cfg(32);
    if (argc == 14) {
        double *fields[8] = {&cfg.scale[0], &cfg.scale[1], &cfg.ratio[0], &cfg.ratio[1],
                             &cfg.hflip_p, &cfg.jitter[0], &cfg.jitter[1], &cfg.jitter[2]};
        for (int i = 0; i < 8; i++) *fields[i] = strtod(argv[6 + i], NULL);
    }
    mlic_rng rng;
    mlic_rng_init(&rng, strtoull(argv[4], NULL, 10), 0);
    long n = atol(argv[5]);
    for (long k = 0; k < n; k++) {
        mlic_augment_params p;
        mlic_status s = mlic_augment_sample(&p, atoi(argv[2]), atoi(argv[3]), &cfg, &rng);
        if (s != MLIC_OK) return fail(s);
        print_draw(&p);
    }
    return 0;
}

static int epoch_draws(int argc, char **argv)
{
    if (argc != 7) return 1;
    mlic_augment_cfg cfg = default_cfg(32);
    uint64_t seed = strtoull(argv[4], NULL, 10);
    uint32_t epoch = (uint32_t)strtoul(argv[5], NULL, 10);
    long n = atol(argv[6]);
    for (long k = 0; k < n; k++) {
        mlic_rng rng;
        mlic_loader_item_rng(&rng, seed, epoch, (size_t)k);
        mlic_augment_params p;
        mlic_status s = mlic_augment_sample(&p, atoi(argv[2]), atoi(argv[3]), &cfg, &rng);
        if (s != MLIC_OK) return fail(s);
        print_draw(&p);
    }
    return 0;
}

static int raw_rng(int argc, char **argv)
{
    if (argc != 4) return 1;
    mlic_rng rng = {.state = strtoull(argv[2], NULL, 10)};
    for (long k = atol(argv[3]); k > 0; k--) printf("%" PRIu64 "\n", mlic_rng_u64(&rng));
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 1;
    if (argc >= 2 && !strcmp(argv[1], "apply")) rc = apply(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "sample")) rc = sample(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "epoch")) rc = epoch_draws(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "rng")) rc = raw_rng(argc, argv);
    if (rc == 1)
        fprintf(stderr, "usage: %s apply IMAGE.raw OUT.f32 SIZE TOP LEFT HEIGHT WIDTH FLIP ORDER FB FC FS\n"
                        "       %s sample WIDTH HEIGHT SEED N [SMIN SMAX RMIN RMAX P JB JC JS]\n"
                        "       %s epoch WIDTH HEIGHT SEED EPOCH N\n"
                        "       %s rng STATE N\n", argv[0], argv[0], argv[0], argv[0]);
    return rc;
}
