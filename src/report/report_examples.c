#include "report/report_examples.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "core/error.h"
#include "image/resample.h"
#include "io/client.h"
#include "report/report_html.h"
#include "util/base64.h"

static mlic_status scale_down(uint8_t **out, int *ow, int *oh, const mlic_image *img, int side)
{
    const int longer = img->width > img->height ? img->width : img->height;
    const double scale = longer > side ? (double)longer / side : 1.0;
    int w = (int)lround(img->width / scale), h = (int)lround(img->height / scale);
    w = w < 1 ? 1 : w;
    h = h < 1 ? 1 : h;
    mlic_resample_axis xs = {0}, ys = {0};
    float *f = malloc((size_t)w * h * 3 * sizeof *f);
    uint8_t *px = malloc((size_t)w * h * 3);
    mlic_status st = f && px ? MLIC_OK : mlic_fail(MLIC_ERR_NOMEM, "out of memory for a thumbnail");
    if (st == MLIC_OK)
        st = mlic_resample_axis_init(&xs, img->width, 0, (double)img->width / w, 0, w);
    if (st == MLIC_OK)
        st = mlic_resample_axis_init(&ys, img->height, 0, (double)img->height / h, 0, h);
    if (st == MLIC_OK)
        st = mlic_resample_rgb(f, img, &xs, &ys);
    if (st == MLIC_OK)
        for (size_t i = 0; i < (size_t)w * h * 3; i++)
            px[i] = (uint8_t)fminf(255.0f, fmaxf(0.0f, roundf(f[i])));
    mlic_resample_axis_free(&xs);
    mlic_resample_axis_free(&ys);
    free(f);
    if (st != MLIC_OK) {
        free(px);
        return st;
    }
    *out = px;
    *ow = w;
    *oh = h;
    return MLIC_OK;
}

static mlic_status encode_jpeg(mlic_strbuf *b, const uint8_t *px, int w, int h)
{
    tjhandle tj = tjInitCompress();
    if (!tj)
        return mlic_fail(MLIC_ERR_INTERNAL, "thumbnail: cannot start a JPEG encoder");
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    mlic_status st = MLIC_OK;
    if (tjCompress2(tj, px, w, 0, h, TJPF_RGB, &jpeg, &size, TJSAMP_420,
                    MLIC_REPORT_THUMB_QUALITY, TJFLAG_ACCURATEDCT) != 0) {
        st = mlic_fail(MLIC_ERR_INTERNAL, "thumbnail: JPEG encoding failed: %s", tjGetErrorStr2(tj));
    } else {
        mlic_strbuf_puts(b, "data:image/jpeg;base64,");
        mlic_base64_encode(b, jpeg, size);
    }
    tjFree(jpeg);
    tjDestroy(tj);
    return st;
}

mlic_status mlic_report_thumbnail(mlic_strbuf *b, const char *path, int max_side)
{
    mlic_io *f = NULL;
    uint8_t *bytes = NULL, *px = NULL;
    size_t len = 0;
    mlic_image img = {0};
    int w = 0, h = 0;
    const size_t before = b->len;
    /* Paths in a data set are resolved already, as the loader's clients take them. */
    const mlic_io_opts io = {.root = "."};
    mlic_status st = mlic_io_create(&f, &io);
    if (st == MLIC_OK)
        st = mlic_io_get(f, &bytes, &len, path);
    if (st == MLIC_OK) {
        /* DCT scaling as far as the thumbnail allows, as the decoder's callers do for speed. */
        const mlic_decode_opts o = {.max_pixels = 0, .min_short_side = max_side};
        st = mlic_image_decode(&img, bytes, len, &o);
    }
    if (st == MLIC_OK)
        st = scale_down(&px, &w, &h, &img, max_side);
    if (st == MLIC_OK)
        st = encode_jpeg(b, px, w, h);
    if (st != MLIC_OK) {
        b->len = before;
        if (b->data)
            b->data[before] = 0;
    }
    free(px);
    mlic_image_free(&img);
    free(bytes);
    mlic_io_destroy(f);
    return st;
}

typedef struct {
    size_t item;
    int cls;
    float score;
} mistake;

static int by_score_desc(const void *a, const void *b)
{
    const float x = ((const mistake *)a)->score, y = ((const mistake *)b)->score;
    return (x < y) - (x > y);
}

static int by_score_asc(const void *a, const void *b) { return -by_score_desc(a, b); }

/* One mistake per image, the worst of its kind: the highest-scored absent class above its
 * threshold (positives = 0) or the lowest-scored present class below it (positives = 1). */
static size_t collect(mistake *out, const mlic_eval_result *r, int positives)
{
    const int k = r->num_classes;
    size_t n = 0;
    for (size_t i = 0; i < r->num_images; i++) {
        const float *s = r->scores + i * k;
        const uint8_t *t = r->targets + i * k;
        int worst = -1;
        for (int c = 0; c < k; c++) {
            const int wrong = positives ? t[c] && s[c] < r->thresholds[c]
                                        : !t[c] && s[c] >= r->thresholds[c];
            if (wrong && (worst < 0 || (positives ? s[c] < s[worst] : s[c] > s[worst])))
                worst = c;
        }
        if (worst >= 0)
            out[n++] = (mistake){i, worst, s[worst]};
    }
    qsort(out, n, sizeof *out, positives ? by_score_asc : by_score_desc);
    return n;
}

static void class_list(mlic_strbuf *b, const mlic_eval_result *r, const mlic_model *m, size_t i,
                       int predicted)
{
    const int k = r->num_classes;
    int any = 0;
    for (int c = 0; c < k; c++) {
        const float s = r->scores[i * k + c];
        if (predicted ? s < r->thresholds[c] : !r->targets[i * k + c])
            continue;
        mlic_strbuf_puts(b, any++ ? ", " : "");
        mlic_html_text(b, mlic_model_class_name(m, c));
        if (predicted)
            mlic_strbuf_printf(b, " %.3g", s);
    }
    if (!any)
        mlic_strbuf_puts(b, "none");
}

static void card(mlic_strbuf *b, const mlic_eval_result *r, const mlic_model *m,
                 const mlic_dataset *d, const mistake *x, int positives)
{
    const char *path = d->items[x->item].path, *slash = strrchr(path, '/');
    mlic_strbuf thumb;
    mlic_strbuf_init(&thumb);
    const mlic_status st = mlic_report_thumbnail(&thumb, path, MLIC_REPORT_THUMB_SIDE);
    mlic_strbuf_printf(b, "<div class=\"ex\" data-kind=\"%s\" data-class=\"", positives ? "fn" : "fp");
    mlic_html_text(b, mlic_model_class_name(m, x->cls));
    mlic_strbuf_puts(b, "\">");
    if (st == MLIC_OK && !thumb.oom) {
        mlic_strbuf_puts(b, "<img alt=\"\" src=\"");
        mlic_strbuf_append(b, thumb.data, thumb.len);
        mlic_strbuf_puts(b, "\">");
    } else {
        mlic_strbuf_puts(b, "<div class=\"missing\">no thumbnail: ");
        mlic_html_text(b, st == MLIC_OK ? "out of memory" : mlic_errmsg());
        mlic_strbuf_puts(b, "</div>");
    }
    mlic_strbuf_free(&thumb);
    mlic_strbuf_printf(b, "<div class=\"bad\">%s ", positives ? "missed" : "wrongly");
    mlic_html_text(b, mlic_model_class_name(m, x->cls));
    mlic_strbuf_printf(b, " %.3g %s %.3g</div><div>labels: ", x->score, positives ? "&lt;" : "&ge;",
                       r->thresholds[x->cls]);
    class_list(b, r, m, x->item, 0);
    mlic_strbuf_puts(b, "</div><div>predicted: ");
    class_list(b, r, m, x->item, 1);
    mlic_strbuf_puts(b, "</div><div class=\"path\" title=\"");
    mlic_html_text(b, path);
    mlic_strbuf_puts(b, "\">");
    mlic_html_text(b, slash ? slash + 1 : path);
    mlic_strbuf_puts(b, "</div></div>");
}

void mlic_report_examples(mlic_strbuf *b, const mlic_eval_result *r, const mlic_model *m,
                          const mlic_dataset *d, int max_images)
{
    mistake *list = malloc((r->num_images ? r->num_images : 1) * sizeof *list);
    if (!list) {
        b->oom = 1;
        return;
    }
    static const char *const heading[] = {"Worst false positives", "Worst false negatives"};
    static const char *const what[] = {
        "Images where a class that is not there scored highest above its threshold",
        "Images where a class that is there scored lowest below its threshold"};
    for (int positives = 0; positives < 2; positives++) {
        const size_t n = collect(list, r, positives);
        const size_t shown = n < (size_t)max_images ? n : (size_t)max_images;
        mlic_strbuf_printf(b, "<h3>%s</h3><p>%s: %zu shown of %zu.</p>", heading[positives],
                           what[positives], shown, n);
        mlic_strbuf_printf(b, "<div class=\"examples\" id=\"%s\">", positives ? "fn" : "fp");
        for (size_t i = 0; i < shown; i++)
            card(b, r, m, d, &list[i], positives);
        mlic_strbuf_puts(b, "</div>");
    }
    free(list);
}
