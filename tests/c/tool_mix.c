/* Drives mixup / CutMix (src/train/mix.h) and the Beta sampler for tests/py/test_mix.py.
 *   tool_mix beta A B SEED COUNT
 *       prints COUNT draws of Beta(A, B), one a line (%.17g), draw i from stream i
 *   tool_mix batch MIXUP CUTMIX SEED STREAM N SIZE K IMAGES TARGETS IMAGES_OUT TARGETS_OUT
 *       IMAGES: raw float32 (N, 3, SIZE, SIZE), TARGETS: raw float32 (N, K); draws the
 *       parameters from (SEED, MLIC_TRAIN_STREAM_MIX + STREAM) as the trainer does, writes the
 *       mixed batch and prints them: kind lambda_drawn lambda cy cx top left height width
 *       (kind 0 none, 1 mixup, 2 CutMix).
 * Exits 2 on bad use. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "train/mix.h"

static float *read_floats(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    float *v = malloc(n * sizeof *v + 1);
    if (!f || !v || fread(v, sizeof *v, n, f) != n) {
        fprintf(stderr, "tool_mix: cannot read %zu floats from %s\n", n, path);
        exit(2);
    }
    fclose(f);
    return v;
}

static void write_floats(const char *path, const float *v, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(v, sizeof *v, n, f) != n || fclose(f)) {
        fprintf(stderr, "tool_mix: cannot write %s\n", path);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "beta")) {
        const double a = atof(argv[2]), b = atof(argv[3]);
        const uint64_t seed = strtoull(argv[4], NULL, 10);
        const long count = atol(argv[5]);
        for (long i = 0; i < count; i++) {
            mlic_rng r;
            mlic_rng_init(&r, seed, (uint64_t)i);
            printf("%.17g\n", mlic_rng_beta(&r, a, b));
        }
        return 0;
    }
    if (argc == 13 && !strcmp(argv[1], "batch")) {
        const mlic_mix_cfg c = {.mixup_alpha = atof(argv[2]), .cutmix_alpha = atof(argv[3])};
        const uint64_t seed = strtoull(argv[4], NULL, 10), stream = strtoull(argv[5], NULL, 10);
        const int n = atoi(argv[6]), size = atoi(argv[7]), k = atoi(argv[8]);
        if (mlic_mix_cfg_check(&c) != MLIC_OK) {
            fprintf(stderr, "%s\n", mlic_errmsg());
            return 2;
        }
        const size_t ni = (size_t)n * 3 * (size_t)size * (size_t)size, nt = (size_t)n * (size_t)k;
        float *images = read_floats(argv[9], ni), *targets = read_floats(argv[10], nt);
        float *images_out = malloc(ni * sizeof *images_out + 1);
        float *targets_out = malloc(nt * sizeof *targets_out + 1);
        mlic_rng r;
        mlic_rng_init(&r, seed, MLIC_TRAIN_STREAM_MIX + stream);
        mlic_mix_params p;
        mlic_mix_sample(&p, &c, size, &r);
        mlic_mix_apply(images_out, targets_out, images, targets, n, size, k, &p);
        write_floats(argv[11], images_out, ni);
        write_floats(argv[12], targets_out, nt);
        printf("%d %.17g %.17g %d %d %d %d %d %d\n", (int)p.kind, p.lambda_drawn, p.lambda, p.cy,
               p.cx, p.top, p.left, p.height, p.width);
        free(images);
        free(targets);
        free(images_out);
        free(targets_out);
        return 0;
    }
    fprintf(stderr, "usage: tool_mix beta A B SEED COUNT | tool_mix batch MIXUP CUTMIX SEED STREAM "
            "N SIZE K IMAGES TARGETS IMAGES_OUT TARGETS_OUT\n");
    return 2;
}
