/* torchvision's eval transform on a PIL image, Resize(resize) -> CenterCrop(crop) -> ToTensor ->
 * Normalize(mean, std), computed only for the pixels the crop keeps. */
#include "core/error.h"
#include "image/resample.h"

#include <math.h>
#include <stdlib.h>

mlic_preprocess mlic_preprocess_default(void)
{
    return (mlic_preprocess){
        .resize = 256,
        .crop = 224,
        .mean = {0.485f, 0.456f, 0.406f},
        .std = {0.229f, 0.224f, 0.225f},
    };
}

mlic_decode_opts mlic_decode_opts_for_eval(const mlic_preprocess *p, uint64_t max_pixels)
{
    /* With no resize the crop sees full-size pixels, so nothing may be scaled away. */
    return (mlic_decode_opts){.max_pixels = max_pixels, .min_short_side = 2 * p->resize};
}

/* torchvision's Resize(int): the shorter side becomes `resize`, the longer one
 * int(resize * long / short) computed in double. */
static void resized_size(int *out_w, int *out_h, int w, int h, int resize)
{
    if (resize <= 0) {
        *out_w = w;
        *out_h = h;
        return;
    }
    int shorter = w <= h ? w : h, longer = w <= h ? h : w;
    int new_long = (int)((double)resize * longer / shorter);
    *out_w = w <= h ? resize : new_long;
    *out_h = w <= h ? new_long : resize;
}

/* Index in the resized image of the crop's first row/column. torchvision rounds with Python's
 * round() (half to even); a crop larger than the image pads it by (crop - n) // 2 first. */
static int crop_start(int n, int crop)
{
    if (n < crop) return -((crop - n) / 2);
    int d = n - crop, half = d / 2;
    return (d % 2 == 1 && half % 2 == 1) ? half + 1 : half;
}

/* The image torchvision would see: the full-size one when img was DCT-scaled by the decoder.
 * Fields that do not describe img exactly (a hand-filled image) are ignored. */
static double full_size(int *w, int *h, const mlic_image *img)
{
    *w = img->width;
    *h = img->height;
    double s = img->scale;
    if (!(s > 0.0 && s < 1.0) || img->full_width <= 0 || img->full_height <= 0 ||
        (int)ceil(img->full_width * s) != img->width ||
        (int)ceil(img->full_height * s) != img->height)
        return 1.0;
    *w = img->full_width;
    *h = img->full_height;
    return s;
}

static mlic_status check_args(const float *out, const mlic_image *img, const mlic_preprocess *p)
{
    if (!out || !img || !p)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_image_preprocess: NULL argument");
    if (!img->pixels || img->width <= 0 || img->height <= 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_image_preprocess: empty image (%dx%d)",
                         img->width, img->height);
    if (p->crop <= 0 || p->resize < 0 || p->crop > 1 << 15 || p->resize > 1 << 15)
        return mlic_fail(MLIC_ERR_INVALID_ARG,
                         "preprocessing resize=%d crop=%d is unusable. "
                         "HINT: crop must be in 1..32768 and resize in 0..32768",
                         p->resize, p->crop);
    for (int c = 0; c < 3; c++)
        if (!(p->std[c] > 0.0f))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "preprocessing std[%d]=%g must be > 0", c,
                             p->std[c]);
    return MLIC_OK;
}

mlic_status mlic_image_preprocess(float *out, const mlic_image *img, const mlic_preprocess *p)
{
    mlic_status s = check_args(out, img, p);
    if (s != MLIC_OK) return s;
    int crop = p->crop, fw, fh, rw, rh;
    double scale = full_size(&fw, &fh, img);
    resized_size(&rw, &rh, fw, fh, p->resize);
    int left = crop_start(rw, crop), top = crop_start(rh, crop);
    /* The window of the resized image that the crop keeps; outside it the crop is padding. */
    int x0 = left > 0 ? left : 0, x1 = left + crop < rw ? left + crop : rw;
    int y0 = top > 0 ? top : 0, y1 = top + crop < rh ? top + crop : rh;

    mlic_resample_axis xs = {0}, ys = {0};
    float *rgb = NULL;
    /* Output pixels are spaced fw / rw full-size pixels apart, i.e. scale * fw / rw decoded ones
     * (PIL's resize with a box): the DCT's rounded-up last pixel must not stretch the grid. */
    double step_x = scale * fw / rw, step_y = scale * fh / rh;
    if ((s = mlic_resample_axis_init(&xs, img->width, 0.0, step_x, x0, x1 - x0)) != MLIC_OK ||
        (s = mlic_resample_axis_init(&ys, img->height, 0.0, step_y, y0, y1 - y0)) != MLIC_OK)
        goto done;
    if (!(rgb = malloc(sizeof *rgb * (size_t)(x1 - x0) * (y1 - y0) * 3))) {
        s = mlic_fail(MLIC_ERR_NOMEM, "preprocessing a %dx%d image: out of memory", img->width,
                      img->height);
        goto done;
    }
    if ((s = mlic_resample_rgb(rgb, img, &xs, &ys)) != MLIC_OK) goto done;

    /* ToTensor + Normalize into planes; crop pixels outside the resized image are padding (0). */
    int nx = x1 - x0;
    for (int c = 0; c < 3; c++) {
        float gain = 1.0f / (255.0f * p->std[c]), shift = -p->mean[c] / p->std[c];
        float *plane = out + (size_t)c * crop * crop;
        for (size_t i = 0; i < (size_t)crop * crop; i++) plane[i] = shift;
        for (int y = y0; y < y1; y++) {
            float *dst = plane + (size_t)(y - top) * crop + (x0 - left);
            const float *src = rgb + (size_t)(y - y0) * nx * 3 + c;
            for (int x = 0; x < nx; x++) dst[x] = src[3 * x] * gain + shift;
        }
    }
done:
    free(rgb);
    mlic_resample_axis_free(&xs);
    mlic_resample_axis_free(&ys);
    return s;
}
