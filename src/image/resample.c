#include "image/resample.h"

#include "core/error.h"

#include <math.h>
#include <stdlib.h>

static double triangle(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

mlic_status mlic_resample_axis_init(mlic_resample_axis *a, int in_size, double offset, double scale,
                                    int o0, int n)
{
    /* Downscaling widens the filter to cover every input (the antialiasing); upscaling keeps
     * plain bilinear interpolation. */
    double filter_scale = scale > 1.0 ? scale : 1.0;
    double support = filter_scale;
    a->n = n;
    a->taps = (int)ceil(support) * 2 + 1;
    a->first = malloc(sizeof *a->first * (n > 0 ? n : 1));
    a->count = malloc(sizeof *a->count * (n > 0 ? n : 1));
    a->w = malloc(sizeof *a->w * (size_t)a->taps * (n > 0 ? n : 1));
    if (!a->first || !a->count || !a->w) {
        mlic_resample_axis_free(a);
        return mlic_fail(MLIC_ERR_NOMEM, "resize weights for %d outputs: out of memory", n);
    }
    for (int i = 0; i < n; i++) {
        double center = offset + (o0 + i + 0.5) * scale;
        /* Truncation toward zero, then clamping, exactly as PIL picks the window. */
        int lo = (int)(center - support + 0.5);
        int hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        if (hi <= lo) { /* the window fell off the input: use its nearest edge pixel */
            lo = center < 0 ? 0 : in_size - 1;
            hi = lo + 1;
        }
        float *w = a->w + (size_t)i * a->taps;
        double sum = 0.0;
        for (int j = 0; j < hi - lo; j++) sum += triangle((lo + j - center + 0.5) / filter_scale);
        for (int j = 0; j < a->taps; j++) {
            double k = triangle((lo + j - center + 0.5) / filter_scale);
            w[j] = j < hi - lo ? (float)(sum != 0.0 ? k / sum : 1.0 / (hi - lo)) : 0.0f;
        }
        a->first[i] = lo;
        a->count[i] = hi - lo;
    }
    return MLIC_OK;
}

void mlic_resample_axis_free(mlic_resample_axis *a)
{
    free(a->first);
    free(a->count);
    free(a->w);
    a->first = a->count = NULL;
    a->w = NULL;
}

static inline float round8(float v)
{
    v = floorf(v + 0.5f);
    return v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
}

/* tmp: (rows, xs->n, 3), input rows row0 .. row0 + rows - 1 filtered horizontally. */
static void horizontal(float *tmp, const mlic_image *img, const mlic_resample_axis *xs, int row0, int rows)
{
    for (int r = 0; r < rows; r++) {
        const uint8_t *in = img->pixels + (size_t)(row0 + r) * img->width * 3;
        float *o = tmp + (size_t)r * xs->n * 3;
        for (int i = 0; i < xs->n; i++) {
            const float *w = xs->w + (size_t)i * xs->taps;
            const uint8_t *p = in + (size_t)xs->first[i] * 3;
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f;
            for (int k = 0; k < xs->count[i]; k++, p += 3) {
                s0 += w[k] * p[0];
                s1 += w[k] * p[1];
                s2 += w[k] * p[2];
            }
            o[3 * i + 0] = round8(s0);
            o[3 * i + 1] = round8(s1);
            o[3 * i + 2] = round8(s2);
        }
    }
}

static void vertical(float *out, const float *tmp, const mlic_resample_axis *ys, int row0, int len)
{
    for (int i = 0; i < ys->n; i++) {
        const float *w = ys->w + (size_t)i * ys->taps;
        float *o = out + (size_t)i * len;
        for (int j = 0; j < len; j++) o[j] = 0.0f;
        for (int k = 0; k < ys->count[i]; k++) {
            const float *t = tmp + (size_t)(ys->first[i] + k - row0) * len;
            for (int j = 0; j < len; j++) o[j] += w[k] * t[j];
        }
        for (int j = 0; j < len; j++) o[j] = round8(o[j]);
    }
}

mlic_status mlic_resample_rgb(float *out, const mlic_image *img, const mlic_resample_axis *xs,
                              const mlic_resample_axis *ys)
{
    if (xs->n <= 0 || ys->n <= 0) return MLIC_OK;
    int row0 = ys->first[0], row1 = 0;
    for (int i = 0; i < ys->n; i++) {
        if (ys->first[i] < row0) row0 = ys->first[i];
        if (ys->first[i] + ys->count[i] > row1) row1 = ys->first[i] + ys->count[i];
    }
    float *tmp = malloc(sizeof *tmp * (size_t)(row1 - row0) * xs->n * 3);
    if (!tmp) return mlic_fail(MLIC_ERR_NOMEM, "resizing a %dx%d image: out of memory", img->width, img->height);
    horizontal(tmp, img, xs, row0, row1 - row0);
    vertical(out, tmp, ys, row0, xs->n * 3);
    free(tmp);
    return MLIC_OK;
}
