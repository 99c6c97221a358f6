/* PNG through libpng, transformed to 8-bit RGB the way PIL's convert("RGB") sees the file:
 * palette expanded, gray replicated, alpha and tRNS dropped, 16-bit samples cut to their high
 * byte. */
#include "core/error.h"
#include "image/decoders.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t len, pos;
    char error[200];
} png_source;

static void read_bytes(png_structp png, png_bytep dst, png_size_t n)
{
    png_source *src = png_get_io_ptr(png);
    if (n > src->len - src->pos) png_error(png, "the data ends too early (truncated file)");
    memcpy(dst, src->data + src->pos, n);
    src->pos += n;
}

/* libpng's default handlers print; the library must not. */
static void on_error(png_structp png, png_const_charp msg)
{
    png_source *src = png_get_error_ptr(png);
    snprintf(src->error, sizeof src->error, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {}

static void set_rgb8_transforms(png_structp png, png_infop info)
{
    int color = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    if (color & PNG_COLOR_MASK_ALPHA || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    if (!(color & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

mlic_status mlic_image_decode_png(mlic_image *out, const uint8_t *data, size_t len,
                                  uint64_t max_pixels)
{
    /* The size sits at a fixed place in IHDR: refuse a bomb before libpng reads any further. */
    if (len >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        mlic_status s = mlic_image_check_size(be32(data + 16), be32(data + 20), max_pixels, "PNG");
        if (s != MLIC_OK) return s;
    }
    png_source src = {.data = data, .len = len};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return mlic_fail(MLIC_ERR_NOMEM, "PNG decoder: out of memory");
    }
    png_bytep *volatile rows = NULL;
    volatile mlic_status s = MLIC_OK;
    if (setjmp(png_jmpbuf(png))) {
        if (s == MLIC_OK)
            s = mlic_fail(MLIC_ERR_DECODE, "PNG data is corrupt: %s. HINT: the file may be damaged",
                          src.error);
        goto done;
    }
    png_set_read_fn(png, &src, read_bytes);
    /* Sizes are judged by the pixel limit below, not libpng's 1000000-per-side default. */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_read_info(png, info);
    if ((s = mlic_image_check_size(png_get_image_width(png, info), png_get_image_height(png, info),
                                   max_pixels, "PNG")) != MLIC_OK)
        goto done;
    set_rgb8_transforms(png, info);
    if (png_get_rowbytes(png, info) != (size_t)png_get_image_width(png, info) * 3) {
        s = mlic_fail(MLIC_ERR_UNSUPPORTED,
                      "PNG with color type %d and bit depth %d did not convert "
                      "to 8-bit RGB",
                      png_get_color_type(png, info), png_get_bit_depth(png, info));
        goto done;
    }
    if ((s = mlic_image_alloc(out, png_get_image_width(png, info), png_get_image_height(png, info),
                              max_pixels, "PNG")) != MLIC_OK)
        goto done;
    if (!(rows = malloc(sizeof *rows * out->height))) {
        s = mlic_fail(MLIC_ERR_NOMEM, "PNG image: out of memory");
        goto done;
    }
    for (int y = 0; y < out->height; y++) rows[y] = out->pixels + (size_t)y * out->width * 3;
    png_read_image(png, rows);
done:
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return s;
}
