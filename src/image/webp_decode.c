/* WebP through libwebp; an animation gives its first frame, composited as libwebp's animation
 * decoder (and so PIL) does. */
#include "core/error.h"
#include "image/decoders.h"

#include <webp/decode.h>
#include <webp/demux.h>

static const char *status_text(VP8StatusCode c)
{
    switch (c) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "the data ends too early (truncated file)";
    default: return "unknown error";
    }
}

static mlic_status first_frame(mlic_image *out, const uint8_t *data, size_t len)
{
    WebPAnimDecoderOptions o;
    if (!WebPAnimDecoderOptionsInit(&o))
        return mlic_fail(MLIC_ERR_INTERNAL, "libwebp demux version mismatch");
    o.color_mode = MODE_RGBA;
    o.use_threads = 0;
    WebPData wd = {data, len};
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, &o);
    if (!dec)
        return mlic_fail(MLIC_ERR_DECODE,
                         "animated WebP data is corrupt. HINT: the file may be damaged");
    WebPAnimInfo info;
    uint8_t *rgba = NULL;
    int timestamp;
    mlic_status s = MLIC_OK;
    if (!WebPAnimDecoderGetInfo(dec, &info) || info.canvas_width != (uint32_t)out->width ||
        info.canvas_height != (uint32_t)out->height ||
        !WebPAnimDecoderGetNext(dec, &rgba, &timestamp)) {
        s = mlic_fail(MLIC_ERR_DECODE, "animated WebP: the first frame does not decode. "
                                       "HINT: the file may be damaged");
    } else {
        size_t n = (size_t)out->width * out->height;
        for (size_t i = 0; i < n; i++) {
            out->pixels[3 * i + 0] = rgba[4 * i + 0];
            out->pixels[3 * i + 1] = rgba[4 * i + 1];
            out->pixels[3 * i + 2] = rgba[4 * i + 2];
        }
    }
    WebPAnimDecoderDelete(dec);
    return s;
}

mlic_status mlic_image_decode_webp(mlic_image *out, const uint8_t *data, size_t len,
                                   uint64_t max_pixels)
{
    WebPBitstreamFeatures f;
    VP8StatusCode c = WebPGetFeatures(data, len, &f);
    if (c != VP8_STATUS_OK)
        return mlic_fail(MLIC_ERR_DECODE, "WebP header is unreadable (%zu bytes): %s", len,
                         status_text(c));
    mlic_status s = mlic_image_alloc(out, f.width, f.height, max_pixels, "WebP");
    if (s != MLIC_OK) return s;
    if (f.has_animation) return first_frame(out, data, len);
    size_t stride = (size_t)out->width * 3;
    if (!WebPDecodeRGBInto(data, len, out->pixels, stride * out->height, (int)stride))
        return mlic_fail(MLIC_ERR_DECODE,
                         "WebP data is corrupt or truncated (%zu bytes). "
                         "HINT: the file may be damaged",
                         len);
    return MLIC_OK;
}
