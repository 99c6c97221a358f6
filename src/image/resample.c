#include "image/resample.h"

#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* PIL stores both passes as 8-bit, rounding half up. The weights are non-negative and sum to
 * 1, so sums stay within [0, 255] up to float rounding and need no clipping. */
static inline float round8(float v) { return (float)(int)(v + 0.5f); }

/* Fixed-length chunks let the compiler vectorise at -O2 without aliasing checks. */
enum { CHUNK = 16 };

static void bytes_to_float(float *out, const uint8_t *in, size_t n)
{
    size_t i = 0;
    for (; i + CHUNK <= n; i += CHUNK)
        for (int q = 0; q < CHUNK; q++) out[i + q] = in[i + q];
    for (; i < n; i++) out[i] = in[i];
}

/* One output pixel: each tap is one 4-wide multiply-add over R, G, B and the next pixel's R
 * (ignored; the row buffer has one float of padding for the last pixel). */
static void horizontal_pixel(float *o, const float *p, const float *w, int count)
{
    typedef float v4f __attribute__((vector_size(16)));
    v4f a = {0, 0, 0, 0}, b = {0, 0, 0, 0}, x, y;
    int k = 0;
    for (; k + 1 < count; k += 2) {
        memcpy(&x, p + 3 * k, sizeof x);
        memcpy(&y, p + 3 * k + 3, sizeof y);
        a += w[k] * x;
        b += w[k + 1] * y;
    }
    if (k < count) {
        memcpy(&x, p + 3 * k, sizeof x);
        a += w[k] * x;
    }
    a += b;
    o[0] = round8(a[0]);
    o[1] = round8(a[1]);
    o[2] = round8(a[2]);
}

/* tmp: (rows, xs->n, 3), input rows row0 .. row0 + rows - 1 filtered horizontally; row: scratch
 * for the input columns col0 .. col1 - 1 of one row as floats, plus one. */
static void horizontal(float *tmp, float *row, const mlic_image *img, const mlic_resample_axis *xs,
                       int row0, int rows, int col0, int col1)
{
    for (int r = 0; r < rows; r++) {
        bytes_to_float(row, img->pixels + ((size_t)(row0 + r) * img->width + col0) * 3,
                       (size_t)(col1 - col0) * 3);
        row[(size_t)(col1 - col0) * 3] = 0.0f;
        float *o = tmp + (size_t)r * xs->n * 3;
        for (int i = 0; i < xs->n; i++)
            horizontal_pixel(o + 3 * i, row + (size_t)(xs->first[i] - col0) * 3,
                             xs->w + (size_t)i * xs->taps, xs->count[i]);
    }
}

/* out: (ys->n, len); tmp: rows of len floats starting at input row row0. */
static void vertical(float *out, const float *tmp, const mlic_resample_axis *ys, int row0, int len)
{
    for (int i = 0; i < ys->n; i++) {
        const float *w = ys->w + (size_t)i * ys->taps;
        const float *rows = tmp + (size_t)(ys->first[i] - row0) * len;
        float *o = out + (size_t)i * len;
        int j = 0;
        for (; j + CHUNK <= len; j += CHUNK) {
            float acc[CHUNK] = {0};
            for (int k = 0; k < ys->count[i]; k++)
                for (int q = 0; q < CHUNK; q++) acc[q] += w[k] * rows[(size_t)k * len + j + q];
            for (int q = 0; q < CHUNK; q++) o[j + q] = round8(acc[q]);
        }
        for (; j < len; j++) {
            float acc = 0.0f;
            for (int k = 0; k < ys->count[i]; k++) acc += w[k] * rows[(size_t)k * len + j];
            o[j] = round8(acc);
        }
    }
}

/* The span of inputs a window of outputs reads. */
static void input_span(int *lo, int *hi, const mlic_resample_axis *a)
{
    *lo = a->first[0];
    *hi = 0;
    for (int i = 0; i < a->n; i++) {
        if (a->first[i] < *lo) *lo = a->first[i];
        if (a->first[i] + a->count[i] > *hi) *hi = a->first[i] + a->count[i];
    }
}

mlic_status mlic_resample_rgb(float *out, const mlic_image *img, const mlic_resample_axis *xs,
                              const mlic_resample_axis *ys)
{
    if (xs->n <= 0 || ys->n <= 0) return MLIC_OK;
    int row0, row1, col0, col1;
    input_span(&row0, &row1, ys);
    input_span(&col0, &col1, xs);
    float *tmp = malloc(sizeof *tmp * (size_t)(row1 - row0) * xs->n * 3);
    float *row = malloc(sizeof *row * ((size_t)(col1 - col0) * 3 + 1));
    mlic_status s = MLIC_OK;
    if (!tmp || !row) {
        s = mlic_fail(MLIC_ERR_NOMEM, "resizing a %dx%d image: out of memory", img->width,
                      img->height);
    } else {
        horizontal(tmp, row, img, xs, row0, row1 - row0, col0, col1);
        vertical(out, tmp, ys, row0, xs->n * 3);
    }
    free(tmp);
    free(row);
    return s;
}
