/* safetensors reader and writer: round trips, and every malformed-file check naming the file and
 * the tensor. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "model/safetensors.h"

static char dir[64];

static const char *path_in(const char *name)
{
    static char buf[320];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

/* A file made of an 8-byte header length (hlen, or strlen(header) if hlen < 0), the header text
 * and ndata bytes of data. */
static const char *write_raw(const char *name, int64_t hlen, const char *header, size_t ndata)
{
    const char *p = path_in(name);
    FILE *f = fopen(p, "wb");
    uint64_t n = hlen < 0 ? strlen(header) : (uint64_t)hlen;
    for (int i = 0; i < 8; i++)
        fputc((int)(n >> (8 * i)) & 0xff, f);
    fputs(header, f);
    for (size_t i = 0; i < ndata; i++)
        fputc((int)i, f);
    fclose(f);
    return p;
}

/* Opening must fail with status st and a message containing every one of the given pieces. */
static void expect_open_error(const char *path, mlic_status st, const char *a, const char *b)
{
    mlic_safetensors *f = NULL;
    mlic_status got = mlic_safetensors_open(&f, path);
    CHECK(got == st, "%s: status %s, expected %s (%s)", path, mlic_status_name(got),
          mlic_status_name(st), mlic_errmsg());
    CHECK(f == NULL, "%s: handle returned on failure", path);
    CHECK(strstr(mlic_errmsg(), path) != NULL, "message does not name the file: %s", mlic_errmsg());
    CHECK(!a || strstr(mlic_errmsg(), a), "message lacks '%s': %s", a, mlic_errmsg());
    CHECK(!b || strstr(mlic_errmsg(), b), "message lacks '%s': %s", b, mlic_errmsg());
    mlic_safetensors_close(f);
}

static void test_malformed(void)
{
    expect_open_error(path_in("missing.safetensors"), MLIC_ERR_IO, "No such file", NULL);

    const char *p = path_in("short.safetensors");
    FILE *f = fopen(p, "wb");
    fputs("abc", f);
    fclose(f);
    expect_open_error(p, MLIC_ERR_FORMAT, "too short", NULL);

    expect_open_error(write_raw("hlen.safetensors", 4096, "{}", 8), MLIC_ERR_FORMAT,
                      "header length 4096 exceeds", NULL);
    expect_open_error(write_raw("hlen_huge.safetensors", INT64_MAX, "{}", 8), MLIC_ERR_FORMAT,
                      "exceeds", NULL);
    expect_open_error(write_raw("json.safetensors", -1, "{\"a\": {\"dtype\": ", 0), MLIC_ERR_FORMAT,
                      "not valid JSON", NULL);
    expect_open_error(write_raw("array.safetensors", -1, "[1, 2]", 0), MLIC_ERR_FORMAT,
                      "not an object", NULL);
    expect_open_error(write_raw("trailing.safetensors", -1, "{} x", 0), MLIC_ERR_FORMAT,
                      "after the JSON header", NULL);
    expect_open_error(write_raw("dtype.safetensors", -1,
                                "{\"w\": {\"dtype\": \"F33\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
                                8),
                      MLIC_ERR_FORMAT, "'w'", "unknown dtype \"F33\"");
    expect_open_error(write_raw("nodtype.safetensors", -1,
                                "{\"w\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", 8),
                      MLIC_ERR_FORMAT, "'w'", "dtype");
    expect_open_error(write_raw("neg.safetensors", -1,
                                "{\"w\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}",
                                8),
                      MLIC_ERR_FORMAT, "'w'", "shape[0]");
    expect_open_error(write_raw("frac.safetensors", -1,
                                "{\"w\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 8]}}",
                                8),
                      MLIC_ERR_FORMAT, "'w'", "shape[0]");
    expect_open_error(write_raw("outside.safetensors", -1,
                                "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
                                12),
                      MLIC_ERR_FORMAT, "'w'", "outside the data section (12 bytes)");
    expect_open_error(write_raw("reversed.safetensors", -1,
                                "{\"w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}}",
                                12),
                      MLIC_ERR_FORMAT, "'w'", "outside");
    expect_open_error(write_raw("numel.safetensors", -1,
                                "{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}",
                                8),
                      MLIC_ERR_FORMAT, "'w'", "3 elements of F32 need 12");
    expect_open_error(write_raw("offsets.safetensors", -1,
                                "{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}", 8),
                      MLIC_ERR_FORMAT, "'w'", "data_offsets");
    expect_open_error(write_raw("overlap.safetensors", -1,
                                "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                                " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                                12),
                      MLIC_ERR_FORMAT, "'a'", "overlap");
    expect_open_error(write_raw("dup.safetensors", -1,
                                "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                                " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                                8),
                      MLIC_ERR_FORMAT, "'a'", "twice");
    expect_open_error(write_raw("meta.safetensors", -1, "{\"__metadata__\": {\"k\": 3}}", 0),
                      MLIC_ERR_FORMAT, "__metadata__[\"k\"]", "not a string");
    expect_open_error(write_raw("overflow.safetensors", -1,
                                "{\"w\": {\"dtype\": \"F64\", \"shape\": [4294967296, 4294967296], "
                                "\"data_offsets\": [0, 8]}}",
                                8),
                      MLIC_ERR_FORMAT, "'w'", NULL);

    /* Empty tensors may share an offset with anything. */
    mlic_safetensors *ok = NULL;
    p = write_raw("empty.safetensors", -1,
                  "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                  " \"e\": {\"dtype\": \"F32\", \"shape\": [0, 3], \"data_offsets\": [4, 4]}}  ",
                  8);
    CHECK(mlic_safetensors_open(&ok, p) == MLIC_OK, "%s", mlic_errmsg());
    mlic_safetensors_close(ok);
}

static void test_round_trip(void)
{
    const float w[6] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-30f, -7.0f};
    const int64_t w_dims[2] = {2, 3};
    const int64_t counter = 12345678901234LL;
    /* IEEE half 1, -2, 65504, 2^-24 (smallest subnormal), +inf */
    const uint16_t half[5] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00};
    const int64_t half_dims[1] = {5};
    const uint16_t bf16[2] = {0x3f80, 0xc0a0}; /* 1, -5 */
    const int64_t bf16_dims[1] = {2};
    const double f64[2] = {0.1, -1e10};
    const int64_t f64_dims[1] = {2};
    const int64_t empty_dims[2] = {0, 3};
    const mlic_safetensors_entry t[] = {
        {"layer1.0.conv1.weight", MLIC_DTYPE_F32, 2, w_dims, w},
        {"bn1.num_batches_tracked", MLIC_DTYPE_I64, 0, NULL, &counter},
        {"half", MLIC_DTYPE_F16, 1, half_dims, half},
        {"empty", MLIC_DTYPE_F32, 2, empty_dims, NULL},
        {"brain", MLIC_DTYPE_BF16, 1, bf16_dims, bf16},
        {"double \"quoted\" \xc3\xa9", MLIC_DTYPE_F64, 1, f64_dims, f64},
    };
    const int n = (int)(sizeof t / sizeof t[0]);
    const char *keys[2] = {"mlic", "format"};
    const char *values[2] = {"{\"arch\": \"resnet18\"}", "pt"};
    const char *p = path_in("round.safetensors");
    CHECK(mlic_safetensors_write(p, t, n, keys, values, 2) == MLIC_OK, "%s", mlic_errmsg());

    mlic_safetensors *f = NULL;
    CHECK(mlic_safetensors_open(&f, p) == MLIC_OK, "%s", mlic_errmsg());
    if (!f)
        return;
    FILE *raw = fopen(p, "rb");
    uint8_t le[8];
    CHECK(fread(le, 1, 8, raw) == 8, "short file");
    fclose(raw);
    CHECK(le[0] % 8 == 0, "header length %d not padded to 8", le[0]);
    CHECK(mlic_safetensors_count(f) == n, "count %d", mlic_safetensors_count(f));
    for (int i = 0; i < n && i < mlic_safetensors_count(f); i++) {
        const mlic_safetensors_tensor *r = mlic_safetensors_tensor_at(f, i);
        CHECK(!strcmp(r->name, t[i].name), "tensor %d is '%s', expected '%s'", i, r->name, t[i].name);
        CHECK(r->dtype == t[i].dtype, "tensor %d dtype %s", i, mlic_dtype_name(r->dtype));
        CHECK(r->ndim == t[i].ndim, "tensor %d ndim %d", i, r->ndim);
        for (int d = 0; d < r->ndim && d < t[i].ndim; d++)
            CHECK(r->dims[d] == t[i].dims[d], "tensor %d dim %d", i, d);
        CHECK(mlic_safetensors_find(f, t[i].name) == i, "find '%s'", t[i].name);
    }
    CHECK(mlic_safetensors_find(f, "nope") == -1, "found a missing tensor");
    CHECK(!strcmp(mlic_safetensors_metadata(f, "mlic"), values[0]), "metadata mlic");
    CHECK(!strcmp(mlic_safetensors_metadata(f, "format"), "pt"), "metadata format");
    CHECK(mlic_safetensors_metadata(f, "other") == NULL, "metadata other");

    float got[6];
    CHECK(mlic_safetensors_read_f32(f, 0, got) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(!memcmp(got, w, sizeof w), "F32 data differs");
    int64_t c = 0;
    CHECK(mlic_safetensors_read_raw(f, 1, &c) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(c == counter, "I64 scalar %lld", (long long)c);
    CHECK(mlic_safetensors_read_f32(f, 1, got) == MLIC_ERR_UNSUPPORTED, "I64 read as float");
    CHECK(strstr(mlic_errmsg(), "bn1.num_batches_tracked") != NULL, "%s", mlic_errmsg());
    CHECK(mlic_safetensors_read_f32(f, 2, got) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(got[0] == 1.0f && got[1] == -2.0f && got[2] == 65504.0f, "F16 %g %g %g", got[0], got[1],
          got[2]);
    CHECK(got[3] == ldexpf(1.0f, -24), "F16 subnormal %g", got[3]);
    CHECK(isinf(got[4]) && got[4] > 0, "F16 inf %g", got[4]);
    CHECK(mlic_safetensors_read_f32(f, 4, got) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(got[0] == 1.0f && got[1] == -5.0f, "BF16 %g %g", got[0], got[1]);
    CHECK(mlic_safetensors_read_f32(f, 5, got) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(got[0] == 0.1f && got[1] == -1e10f, "F64 %g %g", got[0], got[1]);
    mlic_safetensors_close(f);

    /* A truncated copy fails on open, naming the tensor that no longer fits. */
    FILE *in = fopen(p, "rb");
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fclose(in);
    CHECK(truncate(p, size - 4) == 0, "truncate");
    expect_open_error(p, MLIC_ERR_FORMAT, "'double \"quoted\"", "outside the data section");
}

static int leftover_temp_files(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, ".tmp-") != NULL;
    closedir(d);
    return n;
}

static void test_writer_errors(void)
{
    const float x[1] = {1};
    const int64_t dims[1] = {1};
    mlic_safetensors_entry t[2] = {{"a", MLIC_DTYPE_F32, 1, dims, x}, {"a", MLIC_DTYPE_F32, 1, dims, x}};
    CHECK(mlic_safetensors_write(path_in("dup.out"), t, 2, NULL, NULL, 0) == MLIC_ERR_INVALID_ARG,
          "duplicate names accepted");
    CHECK(access(path_in("dup.out"), F_OK) != 0, "file written despite the error");
    CHECK(mlic_safetensors_write(path_in("no/such/dir/x.safetensors"), t, 1, NULL, NULL, 0) ==
              MLIC_ERR_IO, "missing folder: %s", mlic_errmsg());
    CHECK(strstr(mlic_errmsg(), "no/such/dir/x.safetensors") != NULL, "%s", mlic_errmsg());

    /* Overwriting replaces the file whole and leaves no temporary behind. */
    const char *p = path_in("over.safetensors");
    CHECK(mlic_safetensors_write(p, t, 1, NULL, NULL, 0) == MLIC_OK, "%s", mlic_errmsg());
    t[0].name = "b";
    CHECK(mlic_safetensors_write(p, t, 1, NULL, NULL, 0) == MLIC_OK, "%s", mlic_errmsg());
    mlic_safetensors *f = NULL;
    CHECK(mlic_safetensors_open(&f, p) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(f && mlic_safetensors_find(f, "b") == 0 && mlic_safetensors_find(f, "a") < 0,
          "old contents survived");
    mlic_safetensors_close(f);
    CHECK(leftover_temp_files() == 0, "temporary files left behind");
}

static void cleanup(void)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.')
            unlink(path_in(e->d_name));
    if (d)
        closedir(d);
    rmdir(dir);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/mlic_test_model_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_malformed();
    test_round_trip();
    test_writer_errors();
    cleanup();
    CHECK_DONE();
}
