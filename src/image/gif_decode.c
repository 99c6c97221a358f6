/* GIF through giflib: the first frame only, read record by record so that a long animation
 * costs no more than its first image. The canvas follows PIL: the logical screen (grown to hold
 * the frame), filled with the transparent index or index 0, seen through the frame's palette. */
#include "core/error.h"
#include "image/decoders.h"

#include <gif_lib.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t len, pos;
} gif_source;

static int read_bytes(GifFileType *gif, GifByteType *dst, int n)
{
    gif_source *src = gif->UserData;
    size_t left = src->len - src->pos;
    size_t k = (size_t)n < left ? (size_t)n : left;
    memcpy(dst, src->data + src->pos, k);
    src->pos += k;
    return (int)k;
}

static mlic_status gif_error(int code, const char *what)
{
    const char *msg = GifErrorString(code);
    return mlic_fail(MLIC_ERR_DECODE, "GIF data is corrupt (%s): %s. HINT: the file may be damaged",
                     what, msg ? msg : "unknown error");
}

/* Palette entry i as RGB; no palette at all means grayscale (PIL opens such a GIF as "L"). */
static void palette_rgb(uint8_t rgb[3], const ColorMapObject *cmap, int i)
{
    if (!cmap) {
        rgb[0] = rgb[1] = rgb[2] = (uint8_t)i;
    } else if (i < cmap->ColorCount) {
        rgb[0] = cmap->Colors[i].Red;
        rgb[1] = cmap->Colors[i].Green;
        rgb[2] = cmap->Colors[i].Blue;
    } else {
        rgb[0] = rgb[1] = rgb[2] = 0;
    }
}

static mlic_status read_frame(mlic_image *out, GifFileType *gif, int transparent,
                              uint64_t max_pixels)
{
    const GifImageDesc *d = &gif->Image;
    if (d->Left < 0 || d->Top < 0 || d->Width <= 0 || d->Height <= 0)
        return mlic_fail(MLIC_ERR_DECODE, "GIF frame has an impossible geometry %dx%d at (%d, %d)",
                         d->Width, d->Height, d->Left, d->Top);
    int64_t w =
        gif->SWidth > (int64_t)d->Left + d->Width ? gif->SWidth : (int64_t)d->Left + d->Width;
    int64_t h =
        gif->SHeight > (int64_t)d->Top + d->Height ? gif->SHeight : (int64_t)d->Top + d->Height;
    mlic_status s = mlic_image_alloc(out, w, h, max_pixels, "GIF");
    if (s != MLIC_OK) return s;
    const ColorMapObject *cmap = d->ColorMap ? d->ColorMap : gif->SColorMap;
    uint8_t fill[3];
    palette_rgb(fill, cmap, transparent >= 0 ? transparent : 0);
    for (size_t i = 0; i < (size_t)w * h; i++) memcpy(out->pixels + 3 * i, fill, 3);

    GifPixelType *line = malloc((size_t)d->Width);
    if (!line) return mlic_fail(MLIC_ERR_NOMEM, "GIF image: out of memory");
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    int passes = d->Interlace ? 4 : 1;
    for (int p = 0; p < passes && s == MLIC_OK; p++) {
        for (int y = d->Interlace ? start[p] : 0; y < d->Height; y += d->Interlace ? step[p] : 1) {
            if (DGifGetLine(gif, line, d->Width) == GIF_ERROR) {
                s = gif_error(gif->Error, "image data");
                break;
            }
            uint8_t *row = out->pixels + ((size_t)(d->Top + y) * w + d->Left) * 3;
            for (int x = 0; x < d->Width; x++) palette_rgb(row + 3 * x, cmap, line[x]);
        }
    }
    free(line);
    return s;
}

mlic_status mlic_image_decode_gif(mlic_image *out, const uint8_t *data, size_t len,
                                  uint64_t max_pixels)
{
    gif_source src = {data, len, 0};
    int err = 0;
    GifFileType *gif = DGifOpen(&src, read_bytes, &err);
    if (!gif) return gif_error(err, "header");
    mlic_status s = mlic_image_check_size(gif->SWidth ? gif->SWidth : 1,
                                          gif->SHeight ? gif->SHeight : 1, max_pixels, "GIF");
    int transparent = -1;
    while (s == MLIC_OK) {
        GifRecordType type;
        if (DGifGetRecordType(gif, &type) == GIF_ERROR) {
            s = gif_error(gif->Error, "record");
        } else if (type == EXTENSION_RECORD_TYPE) {
            int code;
            GifByteType *ext;
            if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR) {
                s = gif_error(gif->Error, "extension");
                break;
            }
            GraphicsControlBlock gcb;
            if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4 &&
                DGifExtensionToGCB(ext[0], ext + 1, &gcb) == GIF_OK)
                transparent = gcb.TransparentColor;
            while (ext && s == MLIC_OK)
                if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR)
                    s = gif_error(gif->Error, "extension");
        } else if (type == IMAGE_DESC_RECORD_TYPE) {
            if (DGifGetImageDesc(gif) == GIF_ERROR)
                s = gif_error(gif->Error, "image descriptor");
            else
                s = read_frame(out, gif, transparent, max_pixels);
            break;
        } else if (type == TERMINATE_RECORD_TYPE) {
            s = mlic_fail(MLIC_ERR_DECODE, "GIF has no image (it ends before the first frame)");
        }
    }
    DGifCloseFile(gif, &err);
    return s;
}
