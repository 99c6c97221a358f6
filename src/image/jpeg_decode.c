/* JPEG through TurboJPEG. DCT-domain scaling lets a 4000x3000 photo that will be resized to 256
 * come out of the IDCT at 1/8 or 1/4 size, which is most of the decode time saved. */
#include "core/error.h"
#include "image/decoders.h"

#include <stdlib.h>
#include <turbojpeg.h>

/* The smallest factor <= 1 that keeps the shorter side >= min_short_side (1/1 if none does). */
static tjscalingfactor pick_scale(int width, int height, int min_short_side)
{
    tjscalingfactor best = {1, 1};
    int n = 0;
    tjscalingfactor *f = min_short_side > 0 ? tjGetScalingFactors(&n) : NULL;
    int short_side = width < height ? width : height;
    for (int i = 0; i < n; i++) {
        if (f[i].num > f[i].denom) continue;
        if (TJSCALED(short_side, f[i]) < min_short_side) continue;
        if ((long)f[i].num * best.denom < (long)best.num * f[i].denom) best = f[i];
    }
    return best;
}

/* PIL reads CMYK JPEGs with Adobe's inverted polarity ("CMYK;I") and converts with
 * r = (255 - c) * (255 - k) / 255, rounded; in stored (inverted) values that is s_c * s_k / 255. */
static void cmyk_inverted_to_rgb(uint8_t *rgb, const uint8_t *cmyk,
                                 size_t pixels) // (P, 3) <- (P, 4)
{
    for (size_t i = 0; i < pixels; i++) {
        unsigned k = cmyk[4 * i + 3];
        for (int c = 0; c < 3; c++) {
            unsigned inv = 255u - cmyk[4 * i + c];
            unsigned t = inv * k + 128u;
            rgb[3 * i + c] = (uint8_t)(k - ((t + (t >> 8)) >> 8));
        }
    }
}

static mlic_status decode_pixels(mlic_image *out, tjhandle tj, const uint8_t *data, size_t len,
                                 int colorspace)
{
    int w = out->width, h = out->height;
    int cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
    uint8_t *buf = out->pixels;
    if (cmyk && !(buf = malloc((size_t)w * h * 4)))
        return mlic_fail(MLIC_ERR_NOMEM, "JPEG image %dx%d: out of memory", w, h);
    int rc =
        tjDecompress2(tj, data, (unsigned long)len, buf, w, 0, h, cmyk ? TJPF_CMYK : TJPF_RGB, 0);
    /* Warnings (a truncated file, a corrupt Huffman code) still give a full image, as PIL's
     * LOAD_TRUNCATED_IMAGES would; only fatal errors are refused. */
    if (rc != 0 && tjGetErrorCode(tj) != TJERR_WARNING) {
        if (cmyk) free(buf);
        return mlic_fail(MLIC_ERR_DECODE, "JPEG data is corrupt: %s. HINT: the file may be damaged",
                         tjGetErrorStr2(tj));
    }
    if (cmyk) {
        cmyk_inverted_to_rgb(out->pixels, buf, (size_t)w * h);
        free(buf);
    }
    return MLIC_OK;
}

mlic_status mlic_image_decode_jpeg(mlic_image *out, const uint8_t *data, size_t len,
                                   uint64_t max_pixels, int min_short_side)
{
    tjhandle tj = tjInitDecompress();
    if (!tj) return mlic_fail(MLIC_ERR_NOMEM, "JPEG decoder: %s", tjGetErrorStr2(NULL));
    int w = 0, h = 0, subsamp, colorspace; /* a truncated header can "succeed" without sizes */
    mlic_status s = MLIC_OK;
    if (tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &subsamp, &colorspace) != 0) {
        s = mlic_fail(MLIC_ERR_DECODE,
                      "JPEG header is unreadable (%zu bytes): %s. "
                      "HINT: the file is truncated or corrupt",
                      len, tjGetErrorStr2(tj));
        goto done;
    }
    /* Judge the full size, not the scaled one: the limit is about what the file claims. */
    if ((s = mlic_image_check_size(w, h, max_pixels, "JPEG")) != MLIC_OK) goto done;
    tjscalingfactor sf = pick_scale(w, h, min_short_side);
    if ((s = mlic_image_alloc(out, TJSCALED(w, sf), TJSCALED(h, sf), max_pixels, "JPEG")) !=
        MLIC_OK)
        goto done;
    if (sf.num != sf.denom) {
        out->full_width = w;
        out->full_height = h;
        out->scale = (float)sf.num / (float)sf.denom;
    }
    if ((s = decode_pixels(out, tj, data, len, colorspace)) != MLIC_OK) goto done;
    s = mlic_image_orient(out, mlic_image_jpeg_orientation(data, len));
done:
    tjDestroy(tj);
    return s;
}
