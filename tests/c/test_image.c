/* The image module's guards without Python: decompression bombs refused from the header,
 * bad input named, failed decodes leave nothing to free, preprocessing's definitions
 * (ToTensor + Normalize, constants preserved by resizing) and argument checks. Pixel-exact
 * comparisons against PIL/torchvision live in tests/py/test_image.py. */
#include "check.h"
#include "image/decoders.h"
#include "mlic.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* PNG signature + IHDR (8-bit RGB) claiming w x h, and nothing else. */
static size_t png_header(uint8_t *buf, uint32_t w, uint32_t h)
{
    memcpy(buf, "\x89PNG\r\n\x1a\n", 8);
    put_be32(buf + 8, 13);
    memcpy(buf + 12, "IHDR", 4);
    put_be32(buf + 16, w);
    put_be32(buf + 20, h);
    memcpy(buf + 24, "\x08\x02\x00\x00\x00", 5);
    put_be32(buf + 29, crc32_of(buf + 12, 17));
    return 33;
}

/* A BMP (BITMAPINFOHEADER, 24-bit) with the given header size; pixels follow if given. */
static size_t bmp(uint8_t *buf, int32_t w, int32_t h, const uint8_t *rows, size_t rows_len)
{
    memset(buf, 0, 54);
    memcpy(buf, "BM", 2);
    put_le32(buf + 2, (uint32_t)(54 + rows_len));
    put_le32(buf + 10, 54);
    put_le32(buf + 14, 40);
    put_le32(buf + 18, (uint32_t)w);
    put_le32(buf + 22, (uint32_t)h);
    buf[26] = 1;
    buf[28] = 24;
    if (rows) memcpy(buf + 54, rows, rows_len);
    return 54 + rows_len;
}

static mlic_status decode(mlic_image *img, const uint8_t *d, size_t n, uint64_t max_pixels)
{
    mlic_decode_opts o = {.max_pixels = max_pixels};
    return mlic_image_decode(img, d, n, &o);
}

static void expect_fail(const uint8_t *d, size_t n, uint64_t max_pixels, mlic_status want,
                        const char *word)
{
    mlic_image img;
    clock_t t = clock();
    mlic_status s = decode(&img, d, n, max_pixels);
    double secs = (double)(clock() - t) / CLOCKS_PER_SEC;
    CHECK(s == want, "status %s, want %s (%s)", mlic_status_name(s), mlic_status_name(want),
          mlic_errmsg());
    CHECK(strstr(mlic_errmsg(), word) != NULL, "message \"%s\" lacks \"%s\"", mlic_errmsg(), word);
    CHECK(img.pixels == NULL && img.width == 0 && img.height == 0, "failed decode left an image");
    CHECK(secs < 0.5, "refusing took %.3f s", secs);
    mlic_image_free(&img);
}

static void test_bombs_and_bad_input(void)
{
    uint8_t buf[4096];
    expect_fail(buf, png_header(buf, 100000, 100000), 0, MLIC_ERR_TOO_LARGE, "100000x100000");
    expect_fail(buf, png_header(buf, 0, 5), 0, MLIC_ERR_DECODE, "PNG");
    expect_fail(buf, png_header(buf, 100, 100), 9999, MLIC_ERR_TOO_LARGE, "limit of 9999");
    expect_fail(buf, bmp(buf, 70000, 70000, NULL, 0), 0, MLIC_ERR_TOO_LARGE, "BMP");
    expect_fail(buf, bmp(buf, 0, 4, NULL, 0), 0, MLIC_ERR_DECODE, "BMP");
    expect_fail(buf, bmp(buf, 4, 4, (const uint8_t *)"abc", 3), 0, MLIC_ERR_DECODE, "truncated");
    memcpy(buf, "GIF89a\xff\xff\xff\xff\x00\x00\x00", 13);
    expect_fail(buf, 13, 0, MLIC_ERR_TOO_LARGE, "GIF");
    expect_fail(buf, 0, 0, MLIC_ERR_DECODE, "empty");
    const char *text = "<html><body>Not Found</body></html>";
    expect_fail((const uint8_t *)text, strlen(text), 0, MLIC_ERR_DECODE, "text");
    expect_fail((const uint8_t *)"II*\0\x08\0\0\0\0\0", 10, 0, MLIC_ERR_UNSUPPORTED, "TIFF");
    expect_fail((const uint8_t *)"\xff\xd8\xff\xe0\0\x10JFIF", 10, 0, MLIC_ERR_DECODE, "JPEG");
    for (int i = 0; i < 256; i++) buf[i] = (uint8_t)(i * 97 + 13);
    expect_fail(buf, 256, 0, MLIC_ERR_DECODE, "not an image");

    mlic_image img;
    CHECK(mlic_image_decode(NULL, buf, 4, NULL) == MLIC_ERR_INVALID_ARG, "NULL out");
    CHECK(mlic_image_decode(&img, NULL, 4, NULL) == MLIC_ERR_INVALID_ARG, "NULL data");
    mlic_image_free(NULL);
}

/* A 2x2 24-bit BMP: rows bottom-up, BGR, padded to 4 bytes (the format's definition). */
static void test_small_bmp(void)
{
    const uint8_t rows[16] = {1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0};
    uint8_t buf[128];
    mlic_image img;
    mlic_status s = decode(&img, buf, bmp(buf, 2, 2, rows, sizeof rows), 0);
    CHECK(s == MLIC_OK, "%s", mlic_errmsg());
    if (s != MLIC_OK) return;
    const uint8_t want[12] = {9, 8, 7, 12, 11, 10, 3, 2, 1, 6, 5, 4};
    CHECK(img.width == 2 && img.height == 2 && memcmp(img.pixels, want, 12) == 0, "BMP pixels");
    mlic_image_free(&img);
}

/* A flat-colour JPEG made with TurboJPEG decodes to that colour; the same file with its SOF
 * rewritten to 60000x60000 is refused before decoding. */
static void test_jpeg(void)
{
    enum { W = 24, H = 16 };
    uint8_t src[W * H * 3];
    for (int i = 0; i < W * H; i++) {
        src[3 * i] = 10;
        src[3 * i + 1] = 200;
        src[3 * i + 2] = 30;
    }
    tjhandle tj = tjInitCompress();
    unsigned char *jpg = NULL;
    unsigned long n = 0;
    CHECK(tjCompress2(tj, src, W, 0, H, TJPF_RGB, &jpg, &n, TJSAMP_444, 95, 0) == 0, "compress");
    tjDestroy(tj);
    mlic_image img;
    mlic_status s = decode(&img, jpg, n, 0);
    CHECK(s == MLIC_OK && img.width == W && img.height == H, "%s", mlic_errmsg());
    for (int i = 0; s == MLIC_OK && i < W * H * 3; i++)
        if (abs(img.pixels[i] - src[i]) > 2) {
            CHECK(0, "pixel %d: %d vs %d", i, img.pixels[i], src[i]);
            break;
        }
    mlic_image_free(&img);
    expect_fail(jpg, n, W * H - 1, MLIC_ERR_TOO_LARGE, "JPEG");
    for (unsigned long i = 2; i + 9 < n; i++)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xc0) {
            jpg[i + 5] = 0xea;
            jpg[i + 6] = 0x60;
            jpg[i + 7] = 0xea;
            jpg[i + 8] = 0x60;
            break;
        }
    expect_fail(jpg, n, 0, MLIC_ERR_TOO_LARGE, "60000x60000");
    tjFree(jpg);
}

/* EXIF orientations by their definition: 3 turns 180 degrees, 6 turns 90 clockwise (the top-left
 * output pixel is the bottom-left input one), 8 counter-clockwise, 2 mirrors. */
static void test_orient(void)
{
    enum { W = 3, H = 2 };
    for (int o = 2; o <= 8; o++) {
        mlic_image img = {.width = W, .height = H, .pixels = malloc(W * H * 3)};
        for (int i = 0; i < W * H * 3; i++) img.pixels[i] = (uint8_t)(i / 3); /* pixel index */
        CHECK(mlic_image_orient(&img, o) == MLIC_OK, "orient %d", o);
        int swap = o >= 5;
        CHECK(img.width == (swap ? H : W) && img.height == (swap ? W : H), "orient %d size", o);
        const uint8_t *p = img.pixels;
        int tl = p[0], tr = p[3 * (img.width - 1)];
        if (o == 2) CHECK(tl == 2 && tr == 0, "mirror: %d %d", tl, tr);
        if (o == 3) CHECK(tl == 5 && tr == 3, "180: %d %d", tl, tr);
        if (o == 6) CHECK(tl == 3 && tr == 0, "90 cw: %d %d", tl, tr);
        if (o == 8) CHECK(tl == 2 && tr == 5, "90 ccw: %d %d", tl, tr);
        free(img.pixels);
    }
}

static void test_preprocess(void)
{
    mlic_preprocess d = mlic_preprocess_default();
    CHECK(d.resize == 256 && d.crop == 224, "default sizes");
    CHECK_NEAR(d.mean[0], 0.485, 1e-7);
    CHECK_NEAR(d.mean[1], 0.456, 1e-7);
    CHECK_NEAR(d.mean[2], 0.406, 1e-7);
    CHECK_NEAR(d.std[0], 0.229, 1e-7);
    CHECK_NEAR(d.std[1], 0.224, 1e-7);
    CHECK_NEAR(d.std[2], 0.225, 1e-7);

    enum { W = 37, H = 23 };
    uint8_t px[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) px[i] = (uint8_t)((i * 31) % 251);
    mlic_image img = {.width = W, .height = H, .pixels = px};
    /* No resize and a crop of the whole image: just ToTensor + Normalize. */
    mlic_preprocess p = {
        .resize = 0, .crop = 23, .mean = {0.5f, 0.4f, 0.3f}, .std = {0.2f, 0.25f, 0.3f}};
    float out[3 * 64 * 64];
    CHECK(mlic_image_preprocess(out, &img, &p) == MLIC_OK, "%s", mlic_errmsg());
    int left = (W - 23) / 2; /* 7: even difference, no rounding question */
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 23; y++)
            for (int x = 0; x < 23; x++) {
                float want = (px[(y * W + x + left) * 3 + c] / 255.0f - p.mean[c]) / p.std[c];
                float got = out[(c * 23 + y) * 23 + x];
                if (fabsf(got - want) > 1e-5f) {
                    CHECK(0, "c%d y%d x%d: %g vs %g", c, y, x, got, want);
                    return;
                }
            }
    /* Resizing preserves a constant image. Garbage in the DCT-scale fields of a hand-filled
     * image must be ignored. */
    for (int i = 0; i < W * H; i++) {
        px[3 * i] = 40;
        px[3 * i + 1] = 128;
        px[3 * i + 2] = 250;
    }
    img.full_width = 12345;
    img.full_height = 7;
    img.scale = 0.5f;
    p = (mlic_preprocess){.resize = 40, .crop = 32, .mean = {0, 0, 0}, .std = {1, 1, 1}};
    CHECK(mlic_image_preprocess(out, &img, &p) == MLIC_OK, "%s", mlic_errmsg());
    for (int i = 0; i < 3 * 32 * 32; i++) {
        float want = (i < 1024 ? 40 : i < 2048 ? 128 : 250) / 255.0f;
        if (fabsf(out[i] - want) > 1e-6f) {
            CHECK(0, "constant image at %d: %g vs %g", i, out[i], want);
            break;
        }
    }

    mlic_preprocess bad = p;
    bad.crop = 0;
    CHECK(mlic_image_preprocess(out, &img, &bad) == MLIC_ERR_INVALID_ARG, "crop 0");
    bad = p;
    bad.std[1] = 0.0f;
    CHECK(mlic_image_preprocess(out, &img, &bad) == MLIC_ERR_INVALID_ARG, "std 0");
    CHECK(mlic_image_preprocess(NULL, &img, &p) == MLIC_ERR_INVALID_ARG, "NULL out");
    mlic_image empty = {0};
    CHECK(mlic_image_preprocess(out, &empty, &p) == MLIC_ERR_INVALID_ARG, "empty image");
}

int main(void)
{
    test_bombs_and_bad_input();
    test_small_bmp();
    test_jpeg();
    test_orient();
    test_preprocess();
    CHECK_DONE();
}
