/* BMP (Windows and OS/2 bitmaps, uncompressed): 1/4/8-bit palette, 16/24/32-bit direct colour
 * with or without bit-field masks. No Debian library decodes BMP from memory, and the format is
 * small enough that bounds-checked reads here are the safer choice. */
#include "core/error.h"
#include "image/decoders.h"

#include <string.h>

enum { BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3, BI_ALPHABITFIELDS = 6 };

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | le16(p + 2) << 16; }

typedef struct {
    int64_t width, height; /* height > 0: rows stored bottom-up */
    int bpp;
    uint32_t compression;
    uint32_t mask[3]; /* r, g, b for 16/32-bit */
    const uint8_t *palette;
    int palette_entry; /* bytes per palette entry: 4 (Windows) or 3 (OS/2 v1) */
    uint32_t colors;
    uint32_t offset; /* of the pixel rows */
} bmp_header;

static mlic_status parse_header(bmp_header *b, const uint8_t *d, size_t len)
{
    if (len < 14 + 12)
        return mlic_fail(MLIC_ERR_DECODE, "BMP header is truncated (%zu bytes)", len);
    b->offset = le32(d + 10);
    uint32_t hsize = le32(d + 14);
    const uint8_t *h = d + 14;
    if (hsize == 12) {
        b->width = le16(h + 4);
        b->height = le16(h + 6);
        b->bpp = (int)le16(h + 10);
        b->compression = BI_RGB;
        b->colors = 0;
        b->palette_entry = 3;
    } else if (hsize >= 40 && hsize <= 124) {
        if (len < 14 + (size_t)hsize)
            return mlic_fail(MLIC_ERR_DECODE, "BMP header is truncated (%zu bytes)", len);
        b->width = (int32_t)le32(h + 4);
        b->height = (int32_t)le32(h + 8);
        b->bpp = (int)le16(h + 14);
        b->compression = le32(h + 16);
        b->colors = le32(h + 32);
        b->palette_entry = 4;
    } else {
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "BMP with a %u-byte info header is not supported",
                         hsize);
    }
    size_t after_header = 14 + (size_t)hsize;
    if (b->compression == BI_BITFIELDS || b->compression == BI_ALPHABITFIELDS) {
        /* Version 1 headers keep the masks just after the header, later ones inside it. */
        const uint8_t *m = hsize >= 52 ? h + 40 : d + after_header;
        if (hsize < 52) after_header += b->compression == BI_ALPHABITFIELDS ? 16 : 12;
        if (after_header > len) return mlic_fail(MLIC_ERR_DECODE, "BMP colour masks are truncated");
        for (int c = 0; c < 3; c++) b->mask[c] = le32(m + 4 * c);
    } else if (b->bpp == 16) {
        b->mask[0] = 0x7c00;
        b->mask[1] = 0x03e0;
        b->mask[2] = 0x001f;
    } else {
        b->mask[0] = 0xff0000;
        b->mask[1] = 0x00ff00;
        b->mask[2] = 0x0000ff;
    }
    b->palette = d + after_header;
    if (b->bpp <= 8) {
        uint32_t max_colors = 1u << b->bpp;
        if (b->colors == 0 || b->colors > max_colors) b->colors = max_colors;
        size_t avail = after_header < len ? (len - after_header) / b->palette_entry : 0;
        if (avail < b->colors) b->colors = (uint32_t)avail;
    }
    return MLIC_OK;
}

static mlic_status check_kind(const bmp_header *b)
{
    if (b->compression == BI_RLE8 || b->compression == BI_RLE4)
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "BMP with RLE compression is not supported. "
                                               "HINT: convert it to PNG or JPEG");
    int direct = b->bpp == 16 || b->bpp == 24 || b->bpp == 32;
    int indexed = b->bpp == 1 || b->bpp == 4 || b->bpp == 8;
    if (!(b->compression == BI_RGB && (direct || indexed)) &&
        !((b->compression == BI_BITFIELDS || b->compression == BI_ALPHABITFIELDS) &&
          (b->bpp == 16 || b->bpp == 32)))
        return mlic_fail(MLIC_ERR_UNSUPPORTED,
                         "BMP with %d bits per pixel and compression %u is not "
                         "supported. HINT: convert it to PNG or JPEG",
                         b->bpp, b->compression);
    for (int c = 0; c < 3 && (b->bpp == 16 || b->bpp == 32); c++)
        if (b->mask[c] == 0) return mlic_fail(MLIC_ERR_DECODE, "BMP colour mask %d is empty", c);
    return MLIC_OK;
}

/* A masked field scaled to 0..255 the way PIL unpacks 5- and 6-bit channels (truncating). */
static uint8_t field(uint32_t v, uint32_t mask)
{
    int shift = __builtin_ctz(mask);
    uint32_t max = mask >> shift;
    return (uint8_t)((uint64_t)((v & mask) >> shift) * 255 / max);
}

static void decode_row(uint8_t *dst, const uint8_t *src, const bmp_header *b, int w)
{
    for (int x = 0; x < w; x++, dst += 3) {
        if (b->bpp <= 8) {
            int per_byte = 8 / b->bpp;
            unsigned shift = (unsigned)(8 - b->bpp - (x % per_byte) * b->bpp);
            uint32_t i = (src[x / per_byte] >> shift) & ((1u << b->bpp) - 1);
            const uint8_t *e = b->palette + (size_t)i * b->palette_entry;
            if (i < b->colors) {
                dst[0] = e[2];
                dst[1] = e[1];
                dst[2] = e[0];
            } else
                dst[0] = dst[1] = dst[2] = 0;
        } else if (b->bpp == 24) {
            dst[0] = src[3 * x + 2];
            dst[1] = src[3 * x + 1];
            dst[2] = src[3 * x];
        } else {
            uint32_t v = b->bpp == 16 ? le16(src + 2 * x) : le32(src + 4 * x);
            for (int c = 0; c < 3; c++) dst[c] = field(v, b->mask[c]);
        }
    }
}

mlic_status mlic_image_decode_bmp(mlic_image *out, const uint8_t *data, size_t len,
                                  uint64_t max_pixels)
{
    bmp_header b = {0};
    mlic_status s = parse_header(&b, data, len);
    if (s != MLIC_OK || (s = check_kind(&b)) != MLIC_OK) return s;
    int64_t h = b.height < 0 ? -b.height : b.height;
    if ((s = mlic_image_check_size(b.width, h, max_pixels, "BMP")) != MLIC_OK) return s;
    size_t stride = (((size_t)b.width * b.bpp + 31) / 32) * 4;
    if (b.offset > len || (len - b.offset) / stride < (size_t)h)
        return mlic_fail(MLIC_ERR_DECODE,
                         "BMP pixel data is truncated: %lldx%lld at %d bits needs "
                         "%zu bytes from offset %u, the data has %zu",
                         (long long)b.width, (long long)h, b.bpp, stride * (size_t)h, b.offset,
                         len);
    if ((s = mlic_image_alloc(out, b.width, h, max_pixels, "BMP")) != MLIC_OK) return s;
    for (int64_t y = 0; y < h; y++) {
        int64_t stored = b.height > 0 ? h - 1 - y : y;
        decode_row(out->pixels + (size_t)y * out->width * 3,
                   data + b.offset + (size_t)stored * stride, &b, out->width);
    }
    return MLIC_OK;
}
