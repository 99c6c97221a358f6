/* mlic_image_decode: the format comes from the magic bytes only (URLs and file names lie), and
 * every decoder goes through mlic_image_alloc so that the pixel limit is checked before any
 * large allocation. */
#include "core/error.h"
#include "image/decoders.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    FMT_UNKNOWN = 0,
    FMT_JPEG,
    FMT_PNG,
    FMT_WEBP,
    FMT_GIF,
    FMT_BMP,
} image_format;

static int starts_with(const uint8_t *d, size_t len, const char *magic, size_t n)
{
    return len >= n && memcmp(d, magic, n) == 0;
}

static image_format sniff(const uint8_t *d, size_t len)
{
    if (starts_with(d, len, "\xff\xd8\xff", 3)) return FMT_JPEG;
    if (starts_with(d, len, "\x89PNG\r\n\x1a\n", 8)) return FMT_PNG;
    if (len >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return FMT_WEBP;
    if (starts_with(d, len, "GIF87a", 6) || starts_with(d, len, "GIF89a", 6)) return FMT_GIF;
    if (starts_with(d, len, "BM", 2)) return FMT_BMP;
    return FMT_UNKNOWN;
}

/* Names formats we recognise but do not decode, so that the error says what the file is. */
static const char *unsupported_name(const uint8_t *d, size_t len)
{
    if (starts_with(d, len, "II*\0", 4) || starts_with(d, len, "MM\0*", 4)) return "TIFF";
    if (len >= 12 && memcmp(d + 4, "ftyp", 4) == 0) {
        if (memcmp(d + 8, "avif", 4) == 0 || memcmp(d + 8, "avis", 4) == 0) return "AVIF";
        if (memcmp(d + 8, "hei", 3) == 0 || memcmp(d + 8, "mif1", 4) == 0 ||
            memcmp(d + 8, "msf1", 4) == 0 || memcmp(d + 8, "hev", 3) == 0)
            return "HEIF/HEIC";
        return "an ISO media (MP4/MOV) file";
    }
    if (starts_with(d, len, "\0\0\1\0", 4)) return "ICO";
    if (starts_with(d, len, "8BPS", 4)) return "PSD";
    if (starts_with(d, len, "\0\0\0\x0cjP  ", 8) || starts_with(d, len, "\xff\x4f\xff\x51", 4))
        return "JPEG 2000";
    if (starts_with(d, len, "\xff\x0a", 2)) return "JPEG XL";
    if (starts_with(d, len, "RIFF", 4)) return "a RIFF file that is not WebP";
    if (starts_with(d, len, "%PDF", 4)) return "PDF";
    return NULL;
}

static int looks_like_text(const uint8_t *d, size_t len)
{
    size_t n = len < 64 ? len : 64;
    for (size_t i = 0; i < n; i++)
        if (!isprint(d[i]) && !isspace(d[i])) return 0;
    return 1;
}

static mlic_status unknown_format(const uint8_t *d, size_t len)
{
    const char *name = unsupported_name(d, len);
    if (name)
        return mlic_fail(MLIC_ERR_UNSUPPORTED,
                         "image data is %s, which is not supported. "
                         "HINT: convert it to JPEG, PNG, WebP, GIF or BMP",
                         name);
    /* Never quote the bytes: a list line may name any readable file (a key, a password file),
     * and the error line would publish its start. What kind of data it is says enough. */
    if (looks_like_text(d, len))
        return mlic_fail(MLIC_ERR_DECODE,
                         "not an image: the %zu bytes are text. "
                         "HINT: an HTML error page or a wrong path/URL?",
                         len);
    return mlic_fail(MLIC_ERR_DECODE,
                     "not an image: %zu bytes of an unknown format. "
                     "HINT: supported formats are JPEG, PNG, WebP, GIF and BMP",
                     len);
}

mlic_status mlic_image_check_size(int64_t width, int64_t height, uint64_t max_pixels,
                                  const char *format)
{
    if (width <= 0 || height <= 0)
        return mlic_fail(MLIC_ERR_DECODE,
                         "%s header gives an impossible size %lldx%lld. "
                         "HINT: the file is corrupt",
                         format, (long long)width, (long long)height);
    /* Strides of 3 * width bytes must fit an int for the codec libraries. */
    if (width > INT32_MAX / 4 || height > INT32_MAX / 4)
        return mlic_fail(MLIC_ERR_TOO_LARGE,
                         "%s image is %lldx%lld: a side over %d pixels is not supported",
                         format, (long long)width, (long long)height, INT32_MAX / 4);
    uint64_t pixels = (uint64_t)width * (uint64_t)height;
    if (pixels > max_pixels)
        return mlic_fail(
            MLIC_ERR_TOO_LARGE,
            "%s image is %lldx%lld = %llu pixels, over the limit of %llu "
            "(decompression bomb guard). HINT: raise max_pixels if the image is trusted",
            format, (long long)width, (long long)height, (unsigned long long)pixels,
            (unsigned long long)max_pixels);
    return MLIC_OK;
}

mlic_status mlic_image_alloc(mlic_image *out, int64_t width, int64_t height, uint64_t max_pixels,
                             const char *format)
{
    mlic_status s = mlic_image_check_size(width, height, max_pixels, format);
    if (s != MLIC_OK) return s;
    uint64_t pixels = (uint64_t)width * (uint64_t)height;
    if (pixels > SIZE_MAX / 3)
        return mlic_fail(MLIC_ERR_NOMEM, "%s image too large for memory", format);
    out->pixels = malloc((size_t)pixels * 3);
    if (!out->pixels)
        return mlic_fail(MLIC_ERR_NOMEM, "%s image %lldx%lld: out of memory", format,
                         (long long)width, (long long)height);
    out->width = (int)width;
    out->height = (int)height;
    return MLIC_OK;
}

mlic_status mlic_image_decode(mlic_image *out, const uint8_t *data, size_t len,
                              const mlic_decode_opts *opts)
{
    if (!out) return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_image_decode: out is NULL");
    memset(out, 0, sizeof *out);
    if (!data && len) return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_image_decode: data is NULL");
    if (len == 0) return mlic_fail(MLIC_ERR_DECODE, "empty image data (0 bytes)");
    uint64_t max_pixels = opts && opts->max_pixels ? opts->max_pixels : MLIC_DEFAULT_MAX_PIXELS;
    int min_short_side = opts && opts->min_short_side > 0 ? opts->min_short_side : 0;

    mlic_status s;
    switch (sniff(data, len)) {
    case FMT_JPEG: s = mlic_image_decode_jpeg(out, data, len, max_pixels, min_short_side); break;
    case FMT_PNG: s = mlic_image_decode_png(out, data, len, max_pixels); break;
    case FMT_WEBP: s = mlic_image_decode_webp(out, data, len, max_pixels); break;
    case FMT_GIF: s = mlic_image_decode_gif(out, data, len, max_pixels); break;
    case FMT_BMP: s = mlic_image_decode_bmp(out, data, len, max_pixels); break;
    default: return unknown_format(data, len);
    }
    if (s != MLIC_OK) mlic_image_free(out);
    return s;
}

void mlic_image_free(mlic_image *img)
{
    if (!img) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}
