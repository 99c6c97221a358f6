#include "image/augment.h"

#include "core/error.h"
#include "image/resample.h"

#include <math.h>
#include <stdlib.h>

#define CROP_TRIES 10 /* torchvision's get_params gives up on random boxes after 10 */
#define MAX_SIZE (1 << 15)

mlic_augment_cfg mlic_augment_cfg_default(const mlic_preprocess *p)
{
    mlic_augment_cfg c = {
        .size = p->crop,
        .scale = {0.08, 1.0},
        .ratio = {3.0 / 4.0, 4.0 / 3.0},
        .hflip_p = 0.5,
        .jitter = {0.4, 0.4, 0.4},
    };
    for (int i = 0; i < 3; i++) {
        c.mean[i] = p->mean[i];
        c.std[i] = p->std[i];
    }
    return c;
}

static int is_range(const double r[2]) { return isfinite(r[0]) && isfinite(r[1]) && r[0] > 0 && r[0] <= r[1]; }

mlic_status mlic_augment_cfg_check(const mlic_augment_cfg *cfg)
{
    if (!cfg) return mlic_fail(MLIC_ERR_INVALID_ARG, "augmentation: NULL configuration");
    if (cfg->size <= 0 || cfg->size > MAX_SIZE)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "augmentation size=%d is unusable. HINT: use 1..%d",
                         cfg->size, MAX_SIZE);
    if (!is_range(cfg->scale))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "augmentation scale=(%g, %g) is not a range. "
                         "HINT: 0 < min <= max, e.g. (0.08, 1)", cfg->scale[0], cfg->scale[1]);
    if (!is_range(cfg->ratio))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "augmentation ratio=(%g, %g) is not a range. "
                         "HINT: 0 < min <= max, e.g. (0.75, 1.333)", cfg->ratio[0], cfg->ratio[1]);
    if (!(cfg->hflip_p >= 0.0 && cfg->hflip_p <= 1.0))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "augmentation flip probability %g is not in [0, 1]",
                         cfg->hflip_p);
    for (int i = 0; i < MLIC_JITTER_COUNT; i++)
        if (!(cfg->jitter[i] >= 0.0 && isfinite(cfg->jitter[i])))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "augmentation jitter[%d]=%g must be >= 0", i,
                             cfg->jitter[i]);
    for (int c = 0; c < 3; c++)
        if (!(cfg->std[c] > 0.0f && isfinite(cfg->std[c]) && isfinite(cfg->mean[c])))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "augmentation mean[%d]=%g std[%d]=%g: std must "
                             "be > 0 and both finite", c, cfg->mean[c], c, cfg->std[c]);
    return MLIC_OK;
}

/* Python's round() as get_params uses it: half to even, which rint does in the default
 * rounding mode. */
static int round_half_even(double v) { return (int)rint(v); }

static void sample_crop(mlic_augment_params *p, int width, int height, const mlic_augment_cfg *cfg,
                        mlic_rng *rng)
{
    double area = (double)width * height;
    double log_lo = log(cfg->ratio[0]), log_hi = log(cfg->ratio[1]);
    for (int t = 0; t < CROP_TRIES; t++) {
        double target = area * mlic_rng_range(rng, cfg->scale[0], cfg->scale[1]);
        double aspect = exp(mlic_rng_range(rng, log_lo, log_hi));
        double w = rint(sqrt(target * aspect)), h = rint(sqrt(target / aspect));
        if (w > 0 && w <= width && h > 0 && h <= height) {
            p->width = (int)w;
            p->height = (int)h;
            p->top = (int)mlic_rng_below(rng, (uint64_t)(height - p->height + 1));
            p->left = (int)mlic_rng_below(rng, (uint64_t)(width - p->width + 1));
            return;
        }
    }
    double in_ratio = (double)width / height;
    int w = width, h = height;
    if (in_ratio < cfg->ratio[0])
        h = round_half_even(w / cfg->ratio[0]);
    else if (in_ratio > cfg->ratio[1])
        w = round_half_even(h * cfg->ratio[1]);
    /* Only an absurd ratio range rounds a side to 0; torchvision would then fail in crop. */
    p->width = w > 0 ? w : 1;
    p->height = h > 0 ? h : 1;
    p->top = (height - p->height) / 2;
    p->left = (width - p->width) / 2;
}

mlic_status mlic_augment_sample(mlic_augment_params *p, int width, int height,
                                const mlic_augment_cfg *cfg, mlic_rng *rng)
{
    mlic_status s = mlic_augment_cfg_check(cfg);
    if (s != MLIC_OK) return s;
    if (!p || !rng) return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_augment_sample: NULL argument");
    if (width <= 0 || height <= 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "augmenting an empty image (%dx%d)", width, height);
    sample_crop(p, width, height, cfg, rng);
    p->flip = mlic_rng_uniform(rng) < cfg->hflip_p;
    for (int i = 0; i < MLIC_JITTER_COUNT; i++) p->order[i] = i;
    for (int i = MLIC_JITTER_COUNT - 1; i > 0; i--) {
        int j = (int)mlic_rng_below(rng, (uint64_t)i + 1), t = p->order[i];
        p->order[i] = p->order[j];
        p->order[j] = t;
    }
    for (int i = 0; i < MLIC_JITTER_COUNT; i++) {
        double x = cfg->jitter[i];
        p->factor[i] = x > 0.0 ? mlic_rng_range(rng, x < 1.0 ? 1.0 - x : 0.0, 1.0 + x) : 1.0;
    }
    return MLIC_OK;
}

static mlic_status check_params(const mlic_image *img, const mlic_augment_params *p)
{
    if (!img->pixels || img->width <= 0 || img->height <= 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "augmenting an empty image (%dx%d)", img->width,
                         img->height);
    if (p->width <= 0 || p->height <= 0 || p->left < 0 || p->top < 0 ||
        p->width > img->width - p->left || p->height > img->height - p->top)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "augmentation crop %dx%d at (%d, %d) does not fit "
                         "in the %dx%d image", p->width, p->height, p->left, p->top, img->width,
                         img->height);
    int seen = 0;
    for (int i = 0; i < MLIC_JITTER_COUNT; i++) {
        if (p->order[i] < 0 || p->order[i] >= MLIC_JITTER_COUNT || (seen & 1 << p->order[i]))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "augmentation jitter order is not a "
                             "permutation of 0..%d", MLIC_JITTER_COUNT - 1);
        seen |= 1 << p->order[i];
        if (!(p->factor[i] >= 0.0 && isfinite(p->factor[i])))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "augmentation jitter factor[%d]=%g must be >= 0",
                             i, p->factor[i]);
    }
    return MLIC_OK;
}

/* PIL's RGB -> L conversion. */
static int grey_level(const float *px)
{
    return ((int)px[0] * 19595 + (int)px[1] * 38470 + (int)px[2] * 7471 + 0x8000) >> 16;
}

/* PIL's Image.blend(degenerate, image, alpha) on one 8-bit sample: truncated, and clipped only
 * when alpha extrapolates. */
static float blend(int degenerate, float value, double alpha)
{
    double v = degenerate + alpha * ((int)value - degenerate);
    if (alpha >= 0.0 && alpha <= 1.0) return (float)(int)v;
    float t = (float)v;
    return t <= 0.0f ? 0.0f : t >= 255.0f ? 255.0f : (float)(int)t;
}

/* ImageEnhance.Brightness / Contrast / Color, which torchvision's adjust_* call on PIL images.
 * rgb: (npix, 3), whole numbers in 0..255. */
static void jitter(float *rgb, size_t npix, mlic_jitter_op op, double factor)
{
    if (factor == 1.0) return; /* blend(d, v, 1) == v */
    if (op == MLIC_JITTER_BRIGHTNESS) {
        for (size_t i = 0; i < npix * 3; i++) rgb[i] = blend(0, rgb[i], factor);
    } else if (op == MLIC_JITTER_CONTRAST) {
        double sum = 0.0;
        for (size_t i = 0; i < npix; i++) sum += grey_level(rgb + 3 * i);
        int mean = (int)(sum / (double)npix + 0.5);
        for (size_t i = 0; i < npix * 3; i++) rgb[i] = blend(mean, rgb[i], factor);
    } else {
        for (size_t i = 0; i < npix; i++) {
            float *px = rgb + 3 * i;
            int grey = grey_level(px);
            for (int c = 0; c < 3; c++) px[c] = blend(grey, px[c], factor);
        }
    }
}

/* rgb: (size, size, 3) <- the crop box of img resized to size x size. PIL crops before it
 * resizes, so the filter windows are clipped to the box, not to the image: build them for an
 * image the size of the box and move them onto it. */
static mlic_status resized_crop(float *rgb, const mlic_image *img, const mlic_augment_params *p,
                                int size)
{
    mlic_resample_axis xs = {0}, ys = {0};
    mlic_status s;
    if ((s = mlic_resample_axis_init(&xs, p->width, 0.0, (double)p->width / size, 0, size)) == MLIC_OK &&
        (s = mlic_resample_axis_init(&ys, p->height, 0.0, (double)p->height / size, 0, size)) == MLIC_OK) {
        for (int i = 0; i < size; i++) {
            xs.first[i] += p->left;
            ys.first[i] += p->top;
        }
        s = mlic_resample_rgb(rgb, img, &xs, &ys);
    }
    mlic_resample_axis_free(&xs);
    mlic_resample_axis_free(&ys);
    return s;
}

mlic_status mlic_augment_apply(float *out, const mlic_image *img, const mlic_augment_cfg *cfg,
                               const mlic_augment_params *p)
{
    mlic_status s = mlic_augment_cfg_check(cfg);
    if (s != MLIC_OK) return s;
    if (!out || !img || !p) return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_augment_apply: NULL argument");
    if ((s = check_params(img, p)) != MLIC_OK) return s;

    int size = cfg->size;
    size_t npix = (size_t)size * size;
    float *rgb = malloc(sizeof *rgb * npix * 3);
    if (!rgb) return mlic_fail(MLIC_ERR_NOMEM, "augmenting to %dx%d: out of memory", size, size);
    if ((s = resized_crop(rgb, img, p, size)) != MLIC_OK) {
        free(rgb);
        return s;
    }
    /* The flip commutes with the jitter (the contrast mean ignores positions), so it is done
     * while normalising. */
    for (int i = 0; i < MLIC_JITTER_COUNT; i++)
        jitter(rgb, npix, (mlic_jitter_op)p->order[i], p->factor[p->order[i]]);
    for (int c = 0; c < 3; c++) {
        float scale = 1.0f / (255.0f * cfg->std[c]), shift = -cfg->mean[c] / cfg->std[c];
        float *plane = out + (size_t)c * npix;
        for (int y = 0; y < size; y++) {
            const float *row = rgb + (size_t)y * size * 3;
            for (int x = 0; x < size; x++) {
                int sx = p->flip ? size - 1 - x : x;
                plane[(size_t)y * size + x] = row[3 * sx + c] * scale + shift;
            }
        }
    }
    free(rgb);
    return MLIC_OK;
}

mlic_status mlic_augment_train(float *out, const mlic_image *img, const mlic_augment_cfg *cfg,
                               mlic_rng *rng)
{
    if (!img) return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_augment_train: NULL image");
    mlic_augment_params p;
    mlic_status s = mlic_augment_sample(&p, img->width, img->height, cfg, rng);
    return s != MLIC_OK ? s : mlic_augment_apply(out, img, cfg, &p);
}
