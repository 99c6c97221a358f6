/* Per-format decoders behind mlic_image_decode. Each one checks the header's size against the
 * pixel limit before decoding anything, fills *out (an RGB image) on success and leaves it empty
 * on failure, with the message naming the format and the problem. */
#ifndef MLIC_IMAGE_DECODERS_H
#define MLIC_IMAGE_DECODERS_H

#include "mlic.h"

mlic_status mlic_image_decode_jpeg(mlic_image *out, const uint8_t *data, size_t len,
                                   uint64_t max_pixels, int min_short_side);
mlic_status mlic_image_decode_png(mlic_image *out, const uint8_t *data, size_t len,
                                  uint64_t max_pixels);
mlic_status mlic_image_decode_webp(mlic_image *out, const uint8_t *data, size_t len,
                                   uint64_t max_pixels);
mlic_status mlic_image_decode_gif(mlic_image *out, const uint8_t *data, size_t len,
                                  uint64_t max_pixels);
mlic_status mlic_image_decode_bmp(mlic_image *out, const uint8_t *data, size_t len,
                                  uint64_t max_pixels);

/* The bomb guard: refuses a width or height <= 0 (MLIC_ERR_DECODE) and more than max_pixels
 * pixels (MLIC_ERR_TOO_LARGE). */
mlic_status mlic_image_check_size(int64_t width, int64_t height, uint64_t max_pixels,
                                  const char *format);
/* The guard, then the one allocation of out->pixels. */
mlic_status mlic_image_alloc(mlic_image *out, int64_t width, int64_t height, uint64_t max_pixels,
                             const char *format);

/* EXIF orientation (1..8) of a JPEG, from its APP1 segment; 1 when absent or unreadable. */
int mlic_image_jpeg_orientation(const uint8_t *data, size_t len);
/* Turns img upright according to an EXIF orientation, as PIL's ImageOps.exif_transpose. */
mlic_status mlic_image_orient(mlic_image *img, int orientation);

#endif
