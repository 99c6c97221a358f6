/* The model object: create -> save -> load gives back what went in (weights bit for bit, classes,
 * thresholds, preprocessing); the checks on class names and preprocessing; load's errors. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "model/model.h"
#include "model/safetensors.h"

static char dir[64];

static const char *path_in(const char *name)
{
    static char buf[320];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static const char *const classes[3] = {"person", "b\xc3\xbcrger \"quoted\"", "tab\tcat"};

static mlic_model_spec spec_of(const char *arch)
{
    mlic_model_spec s = {arch, classes, 3, 0.25f, mlic_preprocess_default()};
    s.pre.resize = 160;
    s.pre.crop = 128;
    s.pre.mean[1] = 0.1f;
    s.pre.std[2] = 0.7f;
    return s;
}

static void test_round_trip(const char *arch)
{
    mlic_model_spec spec = spec_of(arch);
    mlic_model *m = NULL;
    CHECK(mlic_model_create(&m, &spec) == MLIC_OK, "%s", mlic_errmsg());
    if (!m)
        return;
    /* Distinct values everywhere, so that a misplaced tensor shows. */
    for (size_t i = 0; i < m->graph->nweights; i++)
        m->graph->weights[i] = (float)((i * 2654435761u) % 1000003) / 1000003.0f + 0.5f;
    m->thresholds[2] = 0.875f;
    const char *p = path_in("m.safetensors");
    CHECK(mlic_model_save(m, p) == MLIC_OK, "%s", mlic_errmsg());

    mlic_model *r = NULL;
    CHECK(mlic_model_load(&r, p) == MLIC_OK, "%s: %s", arch, mlic_errmsg());
    if (r) {
        CHECK(!strcmp(mlic_model_arch(r), arch), "arch %s", mlic_model_arch(r));
        CHECK(mlic_model_num_classes(r) == 3, "classes %d", mlic_model_num_classes(r));
        for (int i = 0; i < 3; i++)
            CHECK(!strcmp(mlic_model_class_name(r, i), classes[i]), "class %d '%s'", i,
                  mlic_model_class_name(r, i));
        CHECK(mlic_model_class_name(r, 3) == NULL, "class out of range");
        CHECK(mlic_model_threshold(r, 0) == 0.25f && mlic_model_threshold(r, 2) == 0.875f,
              "thresholds %g %g", mlic_model_threshold(r, 0), mlic_model_threshold(r, 2));
        mlic_preprocess a = mlic_model_preprocess(r), b = spec.pre;
        CHECK(a.resize == b.resize && a.crop == b.crop && !memcmp(a.mean, b.mean, sizeof a.mean) &&
                  !memcmp(a.std, b.std, sizeof a.std), "preprocessing differs");
        CHECK(r->graph->nweights == m->graph->nweights &&
                  !memcmp(r->graph->weights, m->graph->weights,
                          m->graph->nweights * sizeof *m->graph->weights),
              "%s: weights differ after the round trip", arch);
        CHECK(mlic_model_num_parameters(r) == mlic_model_num_parameters(m), "parameter count");
    }
    mlic_model_free(r);

    /* One batch-norm counter per batch norm, as I64 scalars. */
    mlic_safetensors *f = NULL;
    CHECK(mlic_safetensors_open(&f, p) == MLIC_OK, "%s", mlic_errmsg());
    int counters = 0, bns = 0;
    for (int i = 0; f && i < mlic_safetensors_count(f); i++) {
        const mlic_safetensors_tensor *t = mlic_safetensors_tensor_at(f, i);
        if (strstr(t->name, ".num_batches_tracked")) {
            counters++;
            CHECK(t->dtype == MLIC_DTYPE_I64 && t->ndim == 0, "'%s' is not an I64 scalar", t->name);
        }
    }
    for (int i = 0; i < m->graph->nnodes; i++)
        bns += m->graph->nodes[i].op == MLIC_OP_BATCHNORM;
    CHECK(counters == bns, "%d counters for %d batch norms", counters, bns);
    CHECK(f && mlic_safetensors_count(f) == m->graph->nparams + bns, "tensor count");
    mlic_safetensors_close(f);
    mlic_model_free(m);
}

static void expect_spec_error(mlic_model_spec spec, const char *piece)
{
    mlic_model *m = NULL;
    CHECK(mlic_model_create(&m, &spec) != MLIC_OK, "accepted a spec with %s", piece);
    CHECK(m == NULL, "handle returned on failure");
    CHECK(strstr(mlic_errmsg(), piece) != NULL, "message lacks '%s': %s", piece, mlic_errmsg());
    mlic_model_free(m);
}

/* A million class names, the first duplicate near the end: the check sorts (a pairwise one
 * would take hours) and still names the duplicate a walk in list order meets first. */
static void test_many_classes(void)
{
    enum { N = 1000000 };
    char **names = malloc(N * sizeof *names);
    char *pool = malloc((size_t)N * 12);
    for (int i = 0; i < N; i++) {
        names[i] = pool + (size_t)i * 12;
        snprintf(names[i], 12, "c%d", i);
    }
    CHECK(mlic_model_check_classes((const char *const *)names, N, "many") == MLIC_OK, "%s",
          mlic_errmsg());
    snprintf(names[N - 1], 12, "c7");      /* duplicates class 8 */
    snprintf(names[N - 2], 12, "c999990"); /* duplicates class 999991, but later in list order */
    snprintf(names[N - 3], 12, "c999990");
    CHECK(mlic_model_check_classes((const char *const *)names, N, "many") == MLIC_ERR_INVALID_ARG &&
              strstr(mlic_errmsg(), "class 'c999990' is listed twice (classes 999991 and 999998)"),
          "%s", mlic_errmsg());
    free(pool);
    free(names);
}

static void test_spec_checks(void)
{
    mlic_model_spec s = spec_of("resnet18");
    const char *empty[2] = {"a", ""};
    const char *newline[2] = {"a", "b\nc"};
    const char *dup[3] = {"a", "b", "a"};
    const char *bad_utf8[2] = {"a", "caf\xe9"};
    const char *overlong[2] = {"a", "\xc0\xaf"};
    mlic_model_spec t = s;
    t.classes = empty, t.num_classes = 2;
    expect_spec_error(t, "empty");
    t.classes = newline;
    expect_spec_error(t, "newline");
    t.classes = bad_utf8;
    expect_spec_error(t, "UTF-8");
    t.classes = overlong;
    expect_spec_error(t, "UTF-8");
    t.classes = dup, t.num_classes = 3;
    expect_spec_error(t, "'a' is listed twice (classes 1 and 3)");
    t = s, t.num_classes = 0;
    expect_spec_error(t, "no classes");
    t = s, t.arch = "vgg16";
    expect_spec_error(t, "vgg16");
    t = s, t.threshold = -0.1f;
    expect_spec_error(t, "threshold");
    t = s, t.threshold = NAN;
    expect_spec_error(t, "threshold");
    t = s, t.pre.crop = 16;
    expect_spec_error(t, "crop 16");
    t = s, t.pre.resize = 100;
    expect_spec_error(t, "resize 100");
    t = s, t.pre.std[1] = 0;
    expect_spec_error(t, "std[1]");
    t = s, t.pre.std[2] = 1e-40f; /* denormal: every pixel / std would overflow */
    expect_spec_error(t, "must be a positive normal number");
    t = s, t.pre.mean[0] = INFINITY;
    expect_spec_error(t, "mean[0]");
    t = s, t.pre.resize = 0;
    mlic_model *m = NULL;
    CHECK(mlic_model_create(&m, &t) == MLIC_OK, "resize 0 (none) refused: %s", mlic_errmsg());
    mlic_model_free(m);
}

static void test_load_errors(void)
{
    mlic_model *m = (mlic_model *)&m;
    CHECK(mlic_model_load(&m, path_in("absent.safetensors")) == MLIC_ERR_IO, "absent file");
    CHECK(m == NULL, "out not cleared");

    const float x[2] = {1, 2};
    const int64_t dims[1] = {2};
    const mlic_safetensors_entry e = {"fc.bias", MLIC_DTYPE_F32, 1, dims, x};
    const char *p = path_in("plain.safetensors");
    CHECK(mlic_safetensors_write(p, &e, 1, NULL, NULL, 0) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(mlic_model_load(&m, p) == MLIC_ERR_FORMAT, "no metadata");
    CHECK(strstr(mlic_errmsg(), "mlic import") != NULL, "%s", mlic_errmsg());

    const char *key = "mlic";
    const char *metas[] = {
        "not json",
        "{\"format_version\": 1} trailing",
        "[1]",
        "{\"format_version\": 1}",
        "{\"format_version\": 7, \"arch\": \"resnet18\"}",
        "{\"format_version\": 1, \"arch\": \"resnet18\", \"classes\": [\"a\", \"b\"], "
        "\"thresholds\": [0.5, 0.5], \"resize\": 256, \"crop\": 224, \"mean\": [0, 0, 0], "
        "\"std\": [1, 1, 1]}",
    };
    const char *pieces[] = {"not valid JSON", "not valid JSON", "not a JSON object", "\"arch\"", "format_version 7",
                            "missing"};
    for (size_t i = 0; i < sizeof metas / sizeof metas[0]; i++) {
        CHECK(mlic_safetensors_write(p, &e, 1, &key, &metas[i], 1) == MLIC_OK, "%s", mlic_errmsg());
        mlic_status st = mlic_model_load(&m, p);
        CHECK(st == MLIC_ERR_FORMAT || st == MLIC_ERR_UNSUPPORTED, "metadata %zu: %s", i,
              mlic_status_name(st));
        CHECK(strstr(mlic_errmsg(), pieces[i]) && strstr(mlic_errmsg(), p),
              "metadata %zu: message lacks '%s': %s", i, pieces[i], mlic_errmsg());
        CHECK(m == NULL, "handle returned on failure");
    }
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/mlic_test_model_file_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip("resnet18");
    test_round_trip("mobilenet_v2");
    test_spec_checks();
    test_many_classes();
    test_load_errors();
    unlink(path_in("m.safetensors"));
    unlink(path_in("plain.safetensors"));
    rmdir(dir);
    CHECK_DONE();
}
