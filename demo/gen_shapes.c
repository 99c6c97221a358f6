/* gen_shapes: writes the small multi-label data set that `make demo` trains on.
 *
 * Every image has a noisy, low-saturation background and 1-3 non-overlapping objects. An object
 * is one of four shapes painted in one of four colours, and its labels are its shape and its
 * colour, so an image's label set is the union over its objects. Shapes favour one colour each,
 * so labels co-occur the way they do in real multi-label data.
 *
 *   gen_shapes --out DIR [--train N] [--val N] [--test N] [--size S] [--seed N]
 *
 * writes DIR/images/{train,val,test}_NNNNN.jpg, DIR/{train,val,test}.txt (lines
 * "images/NAME.jpg<TAB>label,label") and DIR/classes.txt. Image i of a split is drawn from its
 * own random stream, so the output depends only on the arguments. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "core/rng.h"

enum { SHAPE_CIRCLE, SHAPE_SQUARE, SHAPE_TRIANGLE, SHAPE_STRIPES, NUM_SHAPES };
enum { COLOUR_RED, COLOUR_GREEN, COLOUR_BLUE, COLOUR_YELLOW, NUM_COLOURS };
#define NUM_CLASSES (NUM_SHAPES + NUM_COLOURS)
#define MAX_OBJECTS 3
#define JPEG_QUALITY 90
#define SUPERSAMPLE 4

static const char *const class_names[NUM_CLASSES] = {
    "circle", "square", "triangle", "stripes", "red", "green", "blue", "yellow",
};

/* Saturated enough that no background pixel (at most ~40 apart between channels) looks like
 * any of them, and far enough apart that a jittered colour stays recognisable. */
static const uint8_t colour_rgb[NUM_COLOURS][3] = {
    {215, 35, 35}, {40, 190, 50}, {35, 75, 220}, {230, 205, 40},
};
static const int favourite_colour[NUM_SHAPES] = {COLOUR_RED, COLOUR_BLUE, COLOUR_YELLOW,
                                                 COLOUR_GREEN};
#define FAVOURITE_P 0.6
#define COLOUR_JITTER 15
#define OBJECT_NOISE 8
#define BACKGROUND_TINT 10
#define BACKGROUND_NOISE 8
#define TEXTURE_GRID 5
#define TEXTURE_AMPLITUDE 35
#define MIN_STRIPE_PERIOD 7.0

static const char *const split_names[3] = {"train", "val", "test"};

typedef struct {
    int shape;
    int colour;
    double cx, cy, r;
    double cos_a, sin_a;
    double period; /* stripes only */
    double rgb[3];
} object;

typedef struct {
    const char *out;
    int count[3];
    int size;
    uint64_t seed;
} options;

static double clamp255(double v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

/* Whether the point (x, y) lies inside the object. */
static int covers(const object *o, double x, double y)
{
    double dx = x - o->cx, dy = y - o->cy;
    double u = dx * o->cos_a + dy * o->sin_a;
    double v = -dx * o->sin_a + dy * o->cos_a;
    double half = 0.85 * o->r; /* a square about as large as the circle */
    switch (o->shape) {
    case SHAPE_CIRCLE:
        return u * u + v * v <= o->r * o->r;
    case SHAPE_SQUARE:
        return fabs(u) <= half && fabs(v) <= half;
    case SHAPE_TRIANGLE: {
        /* Equilateral, circumradius r: inside all three edges, each at distance r/2. */
        static const double nx[3] = {0.0, -0.8660254037844386, 0.8660254037844386};
        static const double ny[3] = {1.0, -0.5, -0.5};
        for (int k = 0; k < 3; k++)
            if (u * nx[k] + v * ny[k] > 0.5 * o->r)
                return 0;
        return 1;
    }
    default: /* stripes: every other band of a square patch */
        return fabs(u) <= half && fabs(v) <= half && fmod(u + 2 * half, o->period) < o->period / 2;
    }
}

/* Luminance texture: bilinear interpolation of a coarse random grid. */
static void paint_background(uint8_t *rgb, int size, mlic_rng *rng)
{
    double grid[TEXTURE_GRID][TEXTURE_GRID];
    double base = mlic_rng_range(rng, 70, 190), tint[3];
    for (int c = 0; c < 3; c++)
        tint[c] = mlic_rng_range(rng, -BACKGROUND_TINT, BACKGROUND_TINT);
    for (int i = 0; i < TEXTURE_GRID; i++)
        for (int j = 0; j < TEXTURE_GRID; j++)
            grid[i][j] = mlic_rng_range(rng, -TEXTURE_AMPLITUDE, TEXTURE_AMPLITUDE);
    for (int y = 0; y < size; y++) {
        double gy = (double)y / size * (TEXTURE_GRID - 1);
        int y0 = (int)gy, y1 = y0 + 1 < TEXTURE_GRID ? y0 + 1 : y0;
        double fy = gy - y0;
        for (int x = 0; x < size; x++) {
            double gx = (double)x / size * (TEXTURE_GRID - 1);
            int x0 = (int)gx, x1 = x0 + 1 < TEXTURE_GRID ? x0 + 1 : x0;
            double fx = gx - x0;
            double tex = (grid[y0][x0] * (1 - fx) + grid[y0][x1] * fx) * (1 - fy) +
                         (grid[y1][x0] * (1 - fx) + grid[y1][x1] * fx) * fy;
            for (int c = 0; c < 3; c++) {
                double noise = mlic_rng_range(rng, -BACKGROUND_NOISE, BACKGROUND_NOISE);
                rgb[((size_t)y * size + x) * 3 + c] = (uint8_t)lrint(clamp255(base + tint[c] + tex + noise));
            }
        }
    }
}

static void paint_object(uint8_t *rgb, int size, const object *o, mlic_rng *rng)
{
    int x_lo = (int)floor(o->cx - o->r) - 1, x_hi = (int)ceil(o->cx + o->r) + 1;
    int y_lo = (int)floor(o->cy - o->r) - 1, y_hi = (int)ceil(o->cy + o->r) + 1;
    for (int y = y_lo < 0 ? 0 : y_lo; y <= y_hi && y < size; y++)
        for (int x = x_lo < 0 ? 0 : x_lo; x <= x_hi && x < size; x++) {
            int hits = 0;
            for (int sy = 0; sy < SUPERSAMPLE; sy++)
                for (int sx = 0; sx < SUPERSAMPLE; sx++)
                    hits += covers(o, x + (sx + 0.5) / SUPERSAMPLE, y + (sy + 0.5) / SUPERSAMPLE);
            if (!hits)
                continue;
            double alpha = (double)hits / (SUPERSAMPLE * SUPERSAMPLE);
            uint8_t *px = rgb + ((size_t)y * size + x) * 3;
            for (int c = 0; c < 3; c++) {
                double paint = o->rgb[c] + mlic_rng_range(rng, -OBJECT_NOISE, OBJECT_NOISE);
                px[c] = (uint8_t)lrint(clamp255(px[c] * (1 - alpha) + paint * alpha));
            }
        }
}

static void random_object(object *o, int size, mlic_rng *rng)
{
    o->shape = (int)mlic_rng_below(rng, NUM_SHAPES);
    o->colour = mlic_rng_uniform(rng) < FAVOURITE_P ? favourite_colour[o->shape]
                                                     : (int)mlic_rng_below(rng, NUM_COLOURS);
    o->r = mlic_rng_range(rng, 0.11 * size, 0.2 * size);
    o->cx = mlic_rng_range(rng, o->r + 1, size - o->r - 1);
    o->cy = mlic_rng_range(rng, o->r + 1, size - o->r - 1);
    /* Squares and stripes stay roughly upright; a triangle may point anywhere. */
    double max_angle = o->shape == SHAPE_TRIANGLE ? M_PI : M_PI / 9;
    double a = mlic_rng_range(rng, -max_angle, max_angle);
    o->cos_a = cos(a);
    o->sin_a = sin(a);
    /* Bands narrower than a few pixels would wash out in the JPEG's subsampled chroma. */
    o->period = fmax(MIN_STRIPE_PERIOD, mlic_rng_range(rng, 0.5 * o->r, 0.7 * o->r));
    for (int c = 0; c < 3; c++)
        o->rgb[c] = colour_rgb[o->colour][c] + mlic_rng_range(rng, -COLOUR_JITTER, COLOUR_JITTER);
}

/* Draws one image into rgb (size x size x 3) and sets labels[k] for every class present. */
static void draw_image(uint8_t *rgb, int labels[NUM_CLASSES], int size, mlic_rng *rng)
{
    object objs[MAX_OBJECTS];
    int n = 0, wanted = 1 + (int)mlic_rng_below(rng, MAX_OBJECTS);
    paint_background(rgb, size, rng);
    memset(labels, 0, NUM_CLASSES * sizeof *labels);
    /* Objects never overlap, so every label stays visible. */
    for (int attempt = 0; attempt < 50 && n < wanted; attempt++) {
        object o;
        random_object(&o, size, rng);
        int clear = 1;
        for (int k = 0; k < n; k++)
            if (hypot(o.cx - objs[k].cx, o.cy - objs[k].cy) < o.r + objs[k].r + 2)
                clear = 0;
        if (!clear)
            continue;
        objs[n++] = o;
        paint_object(rgb, size, &o, rng);
        labels[o.shape] = 1;
        labels[NUM_SHAPES + o.colour] = 1;
    }
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "gen_shapes: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t written = fwrite(data, 1, len, f);
    if (fclose(f) != 0 || written != len) {
        fprintf(stderr, "gen_shapes: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Lists are written to a temporary name and renamed, so a reader never sees half a list. */
static int write_atomic(const char *path, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (write_file(tmp, text, strlen(text)) != 0)
        return -1;
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "gen_shapes: cannot rename %s to %s: %s\n", tmp, path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "gen_shapes: cannot create directory %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Appends to a growing string; returns -1 when out of memory. */
static int append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        size_t ncap = (*cap ? *cap * 2 : 4096) + n;
        char *nb = realloc(*buf, ncap);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
    return 0;
}

static int write_split(const options *o, int split, tjhandle tj, uint8_t *rgb)
{
    char *list = NULL, line[256], path[4096];
    size_t len = 0, cap = 0;
    int rc = 0;
    if (append(&list, &len, &cap, "") != 0)
        goto oom;
    for (int i = 0; i < o->count[split] && rc == 0; i++) {
        mlic_rng rng;
        int labels[NUM_CLASSES];
        mlic_rng_init(&rng, o->seed, ((uint64_t)split << 32) | (uint64_t)i);
        draw_image(rgb, labels, o->size, &rng);

        unsigned char *jpeg = NULL;
        unsigned long jpeg_len = 0;
        /* The accurate integer DCT gives the same bytes whatever SIMD the machine has. */
        if (tjCompress2(tj, rgb, o->size, 0, o->size, TJPF_RGB, &jpeg, &jpeg_len, TJSAMP_420,
                        JPEG_QUALITY, TJFLAG_ACCURATEDCT) != 0) {
            fprintf(stderr, "gen_shapes: JPEG encoding failed: %s\n", tjGetErrorStr2(tj));
            tjFree(jpeg);
            rc = -1;
            break;
        }
        snprintf(path, sizeof path, "%s/images/%s_%05d.jpg", o->out, split_names[split], i);
        rc = write_file(path, jpeg, jpeg_len);
        tjFree(jpeg);

        int n = snprintf(line, sizeof line, "images/%s_%05d.jpg\t", split_names[split], i);
        const char *sep = "";
        for (int k = 0; k < NUM_CLASSES; k++)
            if (labels[k]) {
                n += snprintf(line + n, sizeof line - n, "%s%s", sep, class_names[k]);
                sep = ",";
            }
        snprintf(line + n, sizeof line - n, "\n");
        if (append(&list, &len, &cap, line) != 0)
            goto oom;
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/%s.txt", o->out, split_names[split]);
        rc = write_atomic(path, list);
    }
    free(list);
    return rc;
oom:
    fprintf(stderr, "gen_shapes: out of memory\n");
    free(list);
    return -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: gen_shapes --out DIR [--train N] [--val N] [--test N] [--size S] "
                    "[--seed N]\n"
                    "  defaults: --train 800 --val 200 --test 200 --size 96 --seed 1\n");
}

static int parse_long(const char *flag, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "gen_shapes: %s needs an integer in [%ld, %ld], got '%s'\n", flag, lo, hi,
                s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(options *o, int argc, char **argv)
{
    static const char *const count_flags[3] = {"--train", "--val", "--test"};
    *o = (options){.out = NULL, .count = {800, 200, 200}, .size = 96, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        long v;
        int known = 0;
        if (!strcmp(flag, "-h") || !strcmp(flag, "--help"))
            return -1;
        if (!strcmp(flag, "--out")) {
            if (!value) {
                fprintf(stderr, "gen_shapes: --out needs a directory\n");
                return -1;
            }
            o->out = value;
            known = 1;
        }
        for (int s = 0; s < 3; s++)
            if (!strcmp(flag, count_flags[s])) {
                if (parse_long(flag, value, 0, 10000000, &v) != 0)
                    return -1;
                o->count[s] = (int)v;
                known = 1;
            }
        if (!strcmp(flag, "--size")) {
            if (parse_long(flag, value, 32, 4096, &v) != 0)
                return -1;
            o->size = (int)v;
            known = 1;
        }
        if (!strcmp(flag, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long seed = value ? strtoull(value, &end, 10) : 0;
            if (!value || errno || end == value || *end || value[0] == '-') {
                fprintf(stderr, "gen_shapes: --seed needs a non-negative integer, got '%s'\n",
                        value ? value : "");
                return -1;
            }
            o->seed = seed;
            known = 1;
        }
        if (!known) {
            fprintf(stderr, "gen_shapes: unknown argument '%s'\n", flag);
            return -1;
        }
        i++;
    }
    if (!o->out) {
        fprintf(stderr, "gen_shapes: --out is required\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    char path[4096];
    if (parse_args(&o, argc, argv) != 0) {
        usage();
        return 2;
    }
    snprintf(path, sizeof path, "%s/images", o.out);
    if (make_dir(o.out) != 0 || make_dir(path) != 0)
        return 1;

    uint8_t *rgb = malloc((size_t)o.size * o.size * 3);
    tjhandle tj = tjInitCompress();
    int rc = rgb && tj ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "gen_shapes: cannot set up the JPEG encoder: %s\n",
                tj ? "out of memory" : tjGetErrorStr2(NULL));
    for (int s = 0; s < 3 && rc == 0; s++)
        rc = write_split(&o, s, tj, rgb);
    if (rc == 0) {
        char classes[256] = "";
        for (int k = 0; k < NUM_CLASSES; k++) {
            strcat(classes, class_names[k]);
            strcat(classes, "\n");
        }
        snprintf(path, sizeof path, "%s/classes.txt", o.out);
        rc = write_atomic(path, classes);
    }
    if (tj)
        tjDestroy(tj);
    free(rgb);
    if (rc != 0)
        return 1;
    fprintf(stderr, "gen_shapes: wrote %d/%d/%d train/val/test images of %dx%d to %s\n",
            o.count[0], o.count[1], o.count[2], o.size, o.size, o.out);
    return 0;
}
