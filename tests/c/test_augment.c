/* Training augmentation: properties that hold whatever the parameters (identity, flip, the
 * degenerate jitter factors), determinism for a seed, and refusal of unusable input. The
 * comparison with torchvision itself is in tests/py/test_augment.py. */
#include "check.h"
#include "core/error.h"
#include "core/rng.h"
#include "image/augment.h"

#include <stdlib.h>
#include <string.h>

#define W 23
#define H 17
#define S 12

static mlic_augment_cfg test_cfg(void)
{
    mlic_preprocess pre = mlic_preprocess_default();
    pre.crop = S;
    return mlic_augment_cfg_default(&pre);
}

static mlic_augment_params plain_params(int top, int left, int side)
{
    return (mlic_augment_params){.top = top, .left = left, .height = side, .width = side,
                                 .order = {0, 1, 2}, .factor = {1, 1, 1}};
}

/* The 8-bit level a normalised output value came from. */
static double level(const mlic_augment_cfg *cfg, const float *out, int c, int y, int x)
{
    return (out[(c * S + y) * S + x] * cfg->std[c] + cfg->mean[c]) * 255.0;
}

static void check_identity_and_flip(const mlic_image *img)
{
    mlic_augment_cfg cfg = test_cfg();
    float a[3 * S * S], b[3 * S * S];
    mlic_augment_params p = plain_params(2, 3, S);
    /* A crop the size of the output is copied untouched, then only normalised. */
    CHECK(mlic_augment_apply(a, img, &cfg, &p) == MLIC_OK, "%s", mlic_errmsg());
    double worst = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                double want = (img->pixels[((y + 2) * W + x + 3) * 3 + c] / 255.0 - cfg.mean[c]) / cfg.std[c];
                double d = fabs(a[(c * S + y) * S + x] - want);
                worst = d > worst ? d : worst;
            }
    CHECK(worst < 1e-5, "identity crop differs from Normalize by %g", worst);

    p.flip = 1;
    CHECK(mlic_augment_apply(b, img, &cfg, &p) == MLIC_OK, "%s", mlic_errmsg());
    int mirrored = 1;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                mirrored &= a[(c * S + y) * S + x] == b[(c * S + y) * S + S - 1 - x];
    CHECK(mirrored, "flip is not a left-right mirror");
}

static void check_degenerate_factors(const mlic_image *img)
{
    mlic_augment_cfg cfg = test_cfg();
    float out[3 * S * S];
    /* Factor 0 turns each enhancement into its "degenerate" image: black, flat grey, grey. */
    mlic_augment_params p = plain_params(0, 0, H);
    p.factor[MLIC_JITTER_BRIGHTNESS] = 0;
    CHECK(mlic_augment_apply(out, img, &cfg, &p) == MLIC_OK, "%s", mlic_errmsg());
    for (int c = 0; c < 3; c++)
        CHECK_NEAR(level(&cfg, out, c, S / 2, S / 3), 0.0, 1e-3);

    p = plain_params(0, 0, H);
    p.factor[MLIC_JITTER_CONTRAST] = 0;
    CHECK(mlic_augment_apply(out, img, &cfg, &p) == MLIC_OK, "%s", mlic_errmsg());
    double grey = level(&cfg, out, 0, 0, 0);
    int flat = 1;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < S * S; i++)
            flat &= fabs(level(&cfg, out, c, i / S, i % S) - grey) < 1e-3;
    CHECK(flat, "contrast 0 is not a flat grey");
    CHECK(grey > 60 && grey < 200, "contrast 0 grey %g is far from the image's mean", grey);

    p = plain_params(0, 0, H);
    p.factor[MLIC_JITTER_SATURATION] = 0;
    p.flip = 1;
    CHECK(mlic_augment_apply(out, img, &cfg, &p) == MLIC_OK, "%s", mlic_errmsg());
    int grey_pixels = 1;
    for (int i = 0; i < S * S; i++)
        grey_pixels &= fabs(level(&cfg, out, 0, i / S, i % S) - level(&cfg, out, 1, i / S, i % S)) < 1e-3 &&
                       fabs(level(&cfg, out, 1, i / S, i % S) - level(&cfg, out, 2, i / S, i % S)) < 1e-3;
    CHECK(grey_pixels, "saturation 0 leaves colour");
}

static void check_determinism(const mlic_image *img)
{
    mlic_augment_cfg cfg = test_cfg();
    float a[3 * S * S], b[3 * S * S], c[3 * S * S];
    mlic_rng r1, r2, r3;
    mlic_rng_init(&r1, 42, 7);
    mlic_rng_init(&r2, 42, 7);
    mlic_rng_init(&r3, 42, 8);
    mlic_rng copy = r1;
    CHECK(mlic_augment_train(a, img, &cfg, &r1) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_augment_train(b, img, &cfg, &r2) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(!memcmp(a, b, sizeof a), "same seed and stream, different output");
    CHECK(mlic_augment_train(c, img, &cfg, &r3) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(memcmp(a, c, sizeof a), "another stream gave the same output");
    CHECK(mlic_augment_train(c, img, &cfg, &r1) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(memcmp(a, c, sizeof a), "the next draw repeated the first");

    mlic_augment_params p;
    CHECK(mlic_augment_sample(&p, W, H, &cfg, &copy) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_augment_apply(c, img, &cfg, &p) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(!memcmp(a, c, sizeof a), "train is not sample + apply");
}

/* Whatever the image's shape, every draw is a valid box, permutation and set of factors. */
static void check_sampler_bounds(void)
{
    static const int shapes[][2] = {{1, 1}, {1, 1000}, {1000, 1}, {3, 2}, {640, 480}, {17, 9000}};
    mlic_augment_cfg cfg = test_cfg();
    mlic_rng rng;
    mlic_rng_init(&rng, 1, 0);
    int bad = 0;
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++)
        for (int t = 0; t < 500; t++) {
            int w = shapes[k][0], h = shapes[k][1];
            mlic_augment_params p;
            CHECK(mlic_augment_sample(&p, w, h, &cfg, &rng) == MLIC_OK, "%s", mlic_errmsg());
            bad += p.top < 0 || p.left < 0 || p.width < 1 || p.height < 1 ||
                   p.left + p.width > w || p.top + p.height > h;
            bad += (1 << p.order[0] | 1 << p.order[1] | 1 << p.order[2]) != 7;
            for (int i = 0; i < MLIC_JITTER_COUNT; i++)
                bad += p.factor[i] < 0.6 || p.factor[i] > 1.4;
        }
    CHECK(bad == 0, "%d invalid draws", bad);
}

static void check_refusals(const mlic_image *img)
{
    float out[3 * S * S];
    mlic_rng rng;
    mlic_rng_init(&rng, 1, 0);
    mlic_augment_params p;
    mlic_augment_cfg good = test_cfg(), cfg;
    mlic_augment_cfg bad[8];
    for (int i = 0; i < 8; i++) bad[i] = good;
    bad[0].size = 0;
    bad[1].scale[0] = 0.9;
    bad[1].scale[1] = 0.5;
    bad[2].ratio[0] = 0;
    bad[3].hflip_p = 1.5;
    bad[4].jitter[1] = -0.1;
    bad[5].std[2] = 0;
    bad[6].mean[0] = NAN;
    bad[7].ratio[1] = INFINITY;
    for (int i = 0; i < 8; i++) {
        cfg = bad[i];
        mlic_clear_error();
        CHECK(mlic_augment_train(out, img, &cfg, &rng) == MLIC_ERR_INVALID_ARG, "bad cfg %d accepted", i);
        CHECK(mlic_errmsg()[0] != '\0', "bad cfg %d: no message", i);
    }
    CHECK(mlic_augment_sample(&p, 0, 5, &good, &rng) == MLIC_ERR_INVALID_ARG, "0-wide image accepted");
    CHECK(mlic_augment_train(out, NULL, &good, &rng) == MLIC_ERR_INVALID_ARG, "NULL image accepted");
    mlic_image empty = {0};
    CHECK(mlic_augment_train(out, &empty, &good, &rng) == MLIC_ERR_INVALID_ARG, "empty image accepted");
    p = plain_params(H - S + 1, 0, S);
    CHECK(mlic_augment_apply(out, img, &good, &p) == MLIC_ERR_INVALID_ARG, "box past the bottom accepted");
    p = plain_params(0, -1, S);
    CHECK(mlic_augment_apply(out, img, &good, &p) == MLIC_ERR_INVALID_ARG, "negative left accepted");
    p = plain_params(0, 0, S);
    p.order[2] = 0;
    CHECK(mlic_augment_apply(out, img, &good, &p) == MLIC_ERR_INVALID_ARG, "repeated op accepted");
    p = plain_params(0, 0, S);
    p.factor[0] = NAN;
    CHECK(mlic_augment_apply(out, img, &good, &p) == MLIC_ERR_INVALID_ARG, "NaN factor accepted");
}

int main(void)
{
    uint8_t pixels[W * H * 3];
    mlic_rng rng;
    mlic_rng_init(&rng, 2024, 0);
    for (int i = 0; i < W * H * 3; i++) pixels[i] = (uint8_t)mlic_rng_below(&rng, 256);
    mlic_image img = {.width = W, .height = H, .pixels = pixels};

    check_identity_and_flip(&img);
    check_degenerate_factors(&img);
    check_determinism(&img);
    check_sampler_bounds();
    check_refusals(&img);
    CHECK_DONE();
}
