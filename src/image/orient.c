/* EXIF orientation: phones store pixels as the sensor saw them and a tag saying how to turn
 * them; models are trained on upright images (PIL's ImageOps.exif_transpose). */
#include "core/error.h"
#include "image/decoders.h"

#include <libexif/exif-data.h>
#include <libexif/exif-utils.h>
#include <stdlib.h>
#include <string.h>

static unsigned be16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }

/* The payload of the APP1 "Exif" segment, found by walking the markers up to the first scan. */
static const uint8_t *find_exif(const uint8_t *d, size_t len, size_t *seg_len)
{
    size_t pos = 2;
    while (pos + 4 <= len) {
        if (d[pos] != 0xff) return NULL;
        uint8_t marker = d[pos + 1];
        if (marker == 0xff) {
            pos++;
            continue;
        }
        if (marker == 0xda || marker == 0xd9) return NULL;
        if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
            pos += 2;
            continue;
        }
        size_t n = be16(d + pos + 2);
        if (n < 2 || pos + 2 + n > len) return NULL;
        if (marker == 0xe1 && n >= 8 && memcmp(d + pos + 4, "Exif\0\0", 6) == 0) {
            *seg_len = n - 2;
            return d + pos + 4;
        }
        pos += 2 + n;
    }
    return NULL;
}

int mlic_image_jpeg_orientation(const uint8_t *data, size_t len)
{
    size_t n = 0;
    const uint8_t *seg = find_exif(data, len, &n);
    if (!seg) return 1;
    ExifData *ed = exif_data_new();
    if (!ed) return 1;
    /* Only read: "following the specification" would add and fix tags we never look at. */
    exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
    exif_data_load_data(ed, seg, (unsigned int)n);
    int orientation = 1;
    ExifEntry *e = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
    if (e && e->format == EXIF_FORMAT_SHORT && e->components >= 1 && e->size >= 2) {
        int v = exif_get_short(e->data, exif_data_get_byte_order(ed));
        if (v >= 1 && v <= 8) orientation = v;
    }
    exif_data_unref(ed);
    return orientation;
}

mlic_status mlic_image_orient(mlic_image *img, int orientation)
{
    if (orientation < 2 || orientation > 8) return MLIC_OK;
    ptrdiff_t w = img->width, h = img->height;
    /* out(x, y) = in[base + x * dx + y * dy], in pixels of the source; 5..8 swap the axes. */
    ptrdiff_t base, dx, dy;
    switch (orientation) {
    case 2: base = w - 1; dx = -1; dy = w; break;       /* mirror left-right */
    case 3: base = h * w - 1; dx = -1; dy = -w; break;  /* rotate 180 */
    case 4: base = (h - 1) * w; dx = 1; dy = -w; break; /* mirror top-bottom */
    case 5: base = 0; dx = w; dy = 1; break;            /* transpose */
    case 6: base = (h - 1) * w; dx = -w; dy = 1; break; /* rotate 90 clockwise */
    case 7: base = h * w - 1; dx = -w; dy = -1; break;  /* transverse */
    default: base = w - 1; dx = w; dy = -1; break;      /* 8: rotate 90 counter-clockwise */
    }
    int swap = orientation >= 5;
    int ow = swap ? (int)h : (int)w;
    int oh = swap ? (int)w : (int)h;
    uint8_t *out = malloc((size_t)w * h * 3);
    if (!out)
        return mlic_fail(MLIC_ERR_NOMEM, "rotating a %dx%d image: out of memory", img->width,
                         img->height);
    const uint8_t *in = img->pixels;
    for (int y = 0; y < oh; y++) {
        uint8_t *row = out + (size_t)y * ow * 3;
        ptrdiff_t src = base + y * dy;
        for (int x = 0; x < ow; x++, src += dx) {
            row[3 * x + 0] = in[3 * src + 0];
            row[3 * x + 1] = in[3 * src + 1];
            row[3 * x + 2] = in[3 * src + 2];
        }
    }
    free(img->pixels);
    img->pixels = out;
    img->width = ow;
    img->height = oh;
    if (swap) {
        int fw = img->full_width;
        img->full_width = img->full_height;
        img->full_height = fw;
    }
    return MLIC_OK;
}
