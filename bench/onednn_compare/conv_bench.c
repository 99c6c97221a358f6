/* The convolutions of ResNet-18 and ResNet-50 (224 x 224) on whichever oneDNN this is compiled
 * against: v2 (Debian's 2.6) or v3 (PyPI's onednn-cpu-gomp 3.2), to choose the kernel library by
 * measurement (issue 12, docs/onednn-choice.md). Each distinct convolution is timed alone with
 * the layouts the library prefers (format "any"), bias and a fused ReLU, in fp32, bf16 (bf16
 * source, weights and output, f32 bias) and int8 (u8 source, s8 weights with per-channel
 * scales, u8 output); a model's time is the sum over its convolutions of median time x count.
 * Convolutions are about 90% of both networks' inference time, so the sums rank the libraries
 * as whole models would.
 *
 * usage: conv_bench ARCH BATCH THREADS REPS
 * prints one JSON line per precision: {"api": 2|3, "arch", "batch", "precision", "ms",
 * "skipped", "impls"} (impls: the implementation names oneDNN chose, with counts; skipped: the
 * convolutions the library has no kernel for in that precision). */
#include <dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if DNNL_VERSION_MAJOR >= 3
#define API 3
typedef const_dnnl_memory_desc_t md_ref; /* v3: memory descriptors are handles */
#else
#define API 2
typedef const dnnl_memory_desc_t *md_ref; /* v2: they are structs */
#endif

typedef struct {
    int cin, cout, k, stride, hw, count; /* input hw x hw; count: how often the model has it */
} conv_shape;

static const conv_shape resnet18[] = {
    {3, 64, 7, 2, 224, 1},    {64, 64, 3, 1, 56, 4},    {64, 128, 3, 2, 56, 1},
    {128, 128, 3, 1, 28, 3},  {64, 128, 1, 2, 56, 1},   {128, 256, 3, 2, 28, 1},
    {256, 256, 3, 1, 14, 3},  {128, 256, 1, 2, 28, 1},  {256, 512, 3, 2, 14, 1},
    {512, 512, 3, 1, 7, 3},   {256, 512, 1, 2, 14, 1},  {0, 0, 0, 0, 0, 0}};

static const conv_shape resnet50[] = {
    {3, 64, 7, 2, 224, 1},     {64, 64, 1, 1, 56, 1},     {256, 64, 1, 1, 56, 2},
    {64, 64, 3, 1, 56, 3},     {64, 256, 1, 1, 56, 4},    {256, 128, 1, 1, 56, 1},
    {128, 128, 3, 2, 56, 1},   {128, 512, 1, 1, 28, 4},   {256, 512, 1, 2, 56, 1},
    {512, 128, 1, 1, 28, 3},   {128, 128, 3, 1, 28, 3},   {512, 256, 1, 1, 28, 1},
    {256, 256, 3, 2, 28, 1},   {256, 1024, 1, 1, 14, 6},  {512, 1024, 1, 2, 28, 1},
    {1024, 256, 1, 1, 14, 5},  {256, 256, 3, 1, 14, 5},   {1024, 512, 1, 1, 14, 1},
    {512, 512, 3, 2, 14, 1},   {512, 2048, 1, 1, 7, 3},   {1024, 2048, 1, 2, 14, 1},
    {2048, 512, 1, 1, 7, 2},   {512, 512, 3, 1, 7, 2},    {0, 0, 0, 0, 0, 0}};

#define CHECK(call)                                                                    \
    do {                                                                               \
        dnnl_status_t st_ = (call);                                                    \
        if (st_ != dnnl_success) {                                                     \
            fprintf(stderr, "conv_bench: %s failed (%d) at line %d\n", #call, (int)st_, \
                    __LINE__);                                                         \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A memory of descriptor md (a pd query's result) of data type dt, filled with small normal
 * values (denormals would slow f32 kernels down and measure the wrong thing). */
static dnnl_memory_t make_mem(dnnl_engine_t eng, md_ref md, dnnl_data_type_t dt)
{
    size_t size = dnnl_memory_desc_get_size(md);
    void *p = aligned_alloc(64, (size + 64) / 64 * 64);
    if (!p)
        exit(1);
    if (dt == dnnl_f32) {
        float *f = p;
        for (size_t i = 0; i < size / 4; i++)
            f[i] = 0.01f * (float)(i % 13) + 0.01f;
    } else if (dt == dnnl_bf16) {
        unsigned short *h = p;
        for (size_t i = 0; i < size / 2; i++) {
            float v = 0.01f * (float)(i % 13) + 0.01f;
            unsigned int u;
            memcpy(&u, &v, 4);
            h[i] = (unsigned short)(u >> 16);
        }
    } else {
        unsigned char *b = p;
        for (size_t i = 0; i < size; i++)
            b[i] = (unsigned char)(i % 13 + 1);
    }
    dnnl_memory_t m;
    CHECK(dnnl_memory_create(&m, md, eng, p));
    return m;
}

typedef enum { FP32, BF16, INT8 } precision;

/* Median milliseconds of one convolution, or -1 when the library has no implementation. */
static double time_conv(dnnl_engine_t eng, dnnl_stream_t strm, const conv_shape *c, int batch,
                        precision prec, int reps, char *impl, size_t impl_size)
{
    const int ho = (c->hw + 2 * (c->k / 2) - c->k) / c->stride + 1;
    dnnl_dims_t src_d = {batch, c->cin, c->hw, c->hw}, w_d = {c->cout, c->cin, c->k, c->k},
                b_d = {c->cout}, dst_d = {batch, c->cout, ho, ho};
    dnnl_dims_t strides = {c->stride, c->stride}, dil = {0, 0}, pad = {c->k / 2, c->k / 2};
    dnnl_data_type_t src_t = prec == FP32 ? dnnl_f32 : prec == BF16 ? dnnl_bf16 : dnnl_u8;
    dnnl_data_type_t w_t = prec == FP32 ? dnnl_f32 : prec == BF16 ? dnnl_bf16 : dnnl_s8;
    dnnl_data_type_t dst_t = src_t;
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    CHECK(dnnl_primitive_attr_create(&attr));
    CHECK(dnnl_post_ops_create(&po));
#if API == 3
    CHECK(dnnl_post_ops_append_eltwise(po, dnnl_eltwise_relu, 0.f, 0.f));
#else
    CHECK(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, 0.f, 0.f));
#endif
    CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
    float *scales = malloc(sizeof(float) * c->cout);
    for (int i = 0; i < c->cout; i++)
        scales[i] = 0.01f + 0.001f * (i % 7);
    if (prec == INT8) {
#if API == 3
        CHECK(dnnl_primitive_attr_set_scales_mask(attr, DNNL_ARG_WEIGHTS, 1 << 0));
#else
        CHECK(dnnl_primitive_attr_set_output_scales(attr, c->cout, 1 << 1, scales));
#endif
    }
    dnnl_primitive_desc_t pd;
    dnnl_status_t st;
#if API == 3
    dnnl_memory_desc_t src_md, w_md, b_md, dst_md;
    CHECK(dnnl_memory_desc_create_with_tag(&src_md, 4, src_d, src_t, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_create_with_tag(&w_md, 4, w_d, w_t, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_create_with_tag(&b_md, 1, b_d, dnnl_f32, dnnl_a));
    CHECK(dnnl_memory_desc_create_with_tag(&dst_md, 4, dst_d, dst_t, dnnl_format_tag_any));
    st = dnnl_convolution_forward_primitive_desc_create(&pd, eng, dnnl_forward_inference,
                                                         dnnl_convolution_direct, src_md, w_md,
                                                         b_md, dst_md, strides, dil, pad, pad,
                                                         attr);
    dnnl_memory_desc_destroy(src_md);
    dnnl_memory_desc_destroy(w_md);
    dnnl_memory_desc_destroy(b_md);
    dnnl_memory_desc_destroy(dst_md);
#else
    dnnl_memory_desc_t src_md, w_md, b_md, dst_md;
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, 4, src_d, src_t, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&w_md, 4, w_d, w_t, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&b_md, 1, b_d, dnnl_f32, dnnl_a));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_d, dst_t, dnnl_format_tag_any));
    dnnl_convolution_desc_t cd;
    CHECK(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                                     dnnl_convolution_direct, &src_md, &w_md,
                                                     &b_md, &dst_md, strides, dil, pad, pad));
    st = dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL);
#endif
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) {
        free(scales);
        return -1;
    }
    const char *name = NULL;
    CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name));
    snprintf(impl, impl_size, "%s", name ? name : "?");
    if (strstr(impl, "ref")) { /* a reference kernel: the library has nothing real for it */
        dnnl_primitive_desc_destroy(pd);
        free(scales);
        return -1;
    }
    dnnl_memory_t src = make_mem(eng, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), src_t);
    dnnl_memory_t w = make_mem(eng, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), w_t);
    dnnl_memory_t b = make_mem(eng, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), dnnl_f32);
    dnnl_memory_t dst = make_mem(eng, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), dst_t);
    dnnl_memory_t pad_mem = make_mem(eng, dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0),
                                     dnnl_u8);
    dnnl_exec_arg_t args[6] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b},
                               {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, pad_mem}};
    int nargs = 5;
#if API == 3
    dnnl_memory_t scale_mem = NULL;
    if (prec == INT8) {
        dnnl_memory_desc_t smd;
        dnnl_dims_t sd = {c->cout};
        CHECK(dnnl_memory_desc_create_with_tag(&smd, 1, sd, dnnl_f32, dnnl_a));
        CHECK(dnnl_memory_create(&scale_mem, smd, eng, scales));
        dnnl_memory_desc_destroy(smd);
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS, scale_mem};
    }
#endif
    dnnl_primitive_t prim;
    CHECK(dnnl_primitive_create(&prim, pd));
    for (int i = 0; i < 2; i++)
        CHECK(dnnl_primitive_execute(prim, strm, nargs, args));
    CHECK(dnnl_stream_wait(strm));
    double *t = malloc(sizeof(double) * reps);
    /* Each rep runs the convolution enough times to take a few milliseconds. */
    double t0 = now_ms();
    CHECK(dnnl_primitive_execute(prim, strm, nargs, args));
    CHECK(dnnl_stream_wait(strm));
    int inner = (int)(5.0 / (now_ms() - t0 + 1e-3)) + 1;
    for (int r = 0; r < reps; r++) {
        t0 = now_ms();
        for (int i = 0; i < inner; i++)
            CHECK(dnnl_primitive_execute(prim, strm, nargs, args));
        CHECK(dnnl_stream_wait(strm));
        t[r] = (now_ms() - t0) / inner;
    }
    qsort(t, reps, sizeof *t, cmp_double);
    double med = t[reps / 2];
    free(t);
    dnnl_primitive_destroy(prim);
    dnnl_memory_t mems[] = {src, w, b, dst, pad_mem};
    for (int i = 0; i < 5; i++) {
        void *p;
        dnnl_memory_get_data_handle(mems[i], &p);
        dnnl_memory_destroy(mems[i]);
        free(p);
    }
#if API == 3
    if (scale_mem)
        dnnl_memory_destroy(scale_mem);
#endif
    dnnl_primitive_desc_destroy(pd);
    free(scales);
    return med;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s resnet18|resnet50 BATCH THREADS REPS\n", argv[0]);
        return 2;
    }
    const conv_shape *model = !strcmp(argv[1], "resnet50") ? resnet50 : resnet18;
    int batch = atoi(argv[2]), threads = atoi(argv[3]), reps = atoi(argv[4]);
    omp_set_num_threads(threads);
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
    static const char *const names[] = {"fp32", "bf16", "int8"};
    for (int p = FP32; p <= INT8; p++) {
        double total = 0;
        int skipped = 0;
        char impls[2048] = "", impl[256];
        for (const conv_shape *c = model; c->cin; c++) {
            double ms = time_conv(eng, strm, c, batch, (precision)p, reps, impl, sizeof impl);
            if (ms < 0) {
                skipped++;
                continue;
            }
            total += ms * c->count;
            if (!strstr(impls, impl) && strlen(impls) + strlen(impl) + 4 < sizeof impls)
                strcat(strcat(impls, impls[0] ? ", " : ""), impl);
        }
        printf("{\"api\": %d, \"version\": \"%d.%d.%d\", \"arch\": \"%s\", \"batch\": %d, "
               "\"precision\": \"%s\", \"ms\": %.3f, \"skipped\": %d, \"impls\": \"%s\"}\n", API,
               dnnl_version()->major, dnnl_version()->minor, dnnl_version()->patch, argv[1],
               batch, names[p], total, skipped, impls);
        fflush(stdout);
    }
    dnnl_stream_destroy(strm);
    dnnl_engine_destroy(eng);
    return 0;
}
