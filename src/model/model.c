/* The model object: creation from a spec, accessors, and the checks every way in shares. */
#include "model/model.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define CROP_MIN 32
#define CROP_MAX 4096
#define RESIZE_MAX 8192

/* Length of the UTF-8 sequence at s (RFC 3629: no overlongs, surrogates or > U+10FFFF), 0 if
 * invalid. */
static int utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    int n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (!n || s[0] > 0xf4)
        return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

typedef struct {
    const char *name;
    int index;
} named_index;

static int cmp_named_index(const void *a, const void *b)
{
    const named_index *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Sorting, so that a list of a million classes takes a second, not hours. Names the duplicate
 * that a walk in list order meets first, with its first occurrence. */
static mlic_status check_unique(const char *const *classes, int n, const char *what)
{
    named_index *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory checking %d class names", what, n);
    for (int i = 0; i < n; i++)
        v[i] = (named_index){classes[i], i};
    qsort(v, (size_t)n, sizeof *v, cmp_named_index);
    int first = -1, dup = n;
    for (int i = 1; i < n; i++)
        if (!strcmp(v[i].name, v[i - 1].name) && v[i].index < dup &&
            (i < 2 || strcmp(v[i - 1].name, v[i - 2].name))) {
            dup = v[i].index;
            first = v[i - 1].index;
        }
    free(v);
    if (first < 0)
        return MLIC_OK;
    return mlic_fail(MLIC_ERR_INVALID_ARG, "%s: class '%s' is listed twice (classes %d and %d). "
                     "HINT: class names must be unique", what, classes[dup], first + 1, dup + 1);
}

mlic_status mlic_model_check_classes(const char *const *classes, int n, const char *what)
{
    if (n < 1 || !classes)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "%s: no classes. HINT: a model needs at least one "
                         "class name", what);
    for (int i = 0; i < n; i++) {
        const char *c = classes[i];
        if (!c || !c[0])
            return mlic_fail(MLIC_ERR_INVALID_ARG, "%s: class %d has an empty name", what, i + 1);
        for (const unsigned char *p = (const unsigned char *)c; *p;) {
            int len = utf8_len(p);
            if (!len)
                return mlic_fail(MLIC_ERR_INVALID_ARG, "%s: class %d is not valid UTF-8 (byte %d)",
                                 what, i + 1, (int)(p - (const unsigned char *)c) + 1);
            if (*p == '\n')
                return mlic_fail(MLIC_ERR_INVALID_ARG, "%s: class %d contains a newline", what,
                                 i + 1);
            p += len;
        }
    }
    return check_unique(classes, n, what);
}

mlic_status mlic_model_check_thresholds(const float *t, int n, const char *what)
{
    for (int i = 0; i < n; i++) {
        if (t[i] >= 0.0f && t[i] <= 1.0f)
            continue;
        char which[32] = "";
        if (n > 1)
            snprintf(which, sizeof which, " (class %d)", i + 1);
        return mlic_fail(MLIC_ERR_INVALID_ARG, "%s: threshold %g%s is outside [0, 1]. HINT: "
                         "thresholds apply to sigmoid probabilities", what, t[i], which);
    }
    return MLIC_OK;
}

mlic_status mlic_model_check_preprocess(const mlic_preprocess *p, const char *what)
{
    if (p->crop < CROP_MIN || p->crop > CROP_MAX)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "%s: crop %d is outside [%d, %d]", what, p->crop,
                         CROP_MIN, CROP_MAX);
    if (p->resize != 0 && (p->resize < p->crop || p->resize > RESIZE_MAX))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "%s: resize %d must be 0 (no resize) or between the "
                         "crop (%d) and %d. HINT: a crop larger than the resized image would be "
                         "padded with black", what, p->resize, p->crop, RESIZE_MAX);
    for (int c = 0; c < 3; c++) {
        if (!isfinite(p->mean[c]))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "%s: mean[%d] is not a finite number", what, c);
        /* A denormal std would turn every pixel into an infinity after the division. */
        if (!(p->std[c] > 0.0f) || !isnormal(p->std[c]))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "%s: std[%d] = %g, must be a positive normal "
                             "number (at least %g)", what, c, p->std[c], (double)FLT_MIN);
    }
    return MLIC_OK;
}

mlic_status mlic_model_create(mlic_model **out, const mlic_model_spec *spec)
{
    *out = NULL;
    const char *what = "model spec";
    mlic_status st = mlic_model_check_classes(spec->classes, spec->num_classes, what);
    if (!st)
        st = mlic_model_check_thresholds(&spec->threshold, 1, what);
    if (!st)
        st = mlic_model_check_preprocess(&spec->pre, what);
    if (st)
        return st;
    return mlic_model_create_checked(out, spec);
}

mlic_status mlic_model_create_checked(mlic_model **out, const mlic_model_spec *spec)
{
    *out = NULL;
    mlic_status st;
    mlic_model *m = calloc(1, sizeof *m);
    if (!m)
        return mlic_fail(MLIC_ERR_NOMEM, "creating a model: out of memory");
    st = mlic_graph_build(&m->graph, spec->arch, spec->num_classes);
    if (st) {
        mlic_model_free(m);
        return st;
    }
    m->classes = calloc((size_t)spec->num_classes, sizeof *m->classes);
    m->thresholds = malloc((size_t)spec->num_classes * sizeof *m->thresholds);
    if (!m->classes || !m->thresholds) {
        mlic_model_free(m);
        return mlic_fail(MLIC_ERR_NOMEM, "creating a model: out of memory");
    }
    for (int i = 0; i < spec->num_classes; i++) {
        m->num_classes = i + 1; /* so that mlic_model_free releases what was copied */
        m->thresholds[i] = spec->threshold;
        if (!(m->classes[i] = strdup(spec->classes[i]))) {
            mlic_model_free(m);
            return mlic_fail(MLIC_ERR_NOMEM, "creating a model: out of memory");
        }
    }
    m->pre = spec->pre;
    *out = m;
    return MLIC_OK;
}

void mlic_model_free(mlic_model *m)
{
    if (!m)
        return;
    mlic_graph_free(m->graph);
    for (int i = 0; m->classes && i < m->num_classes; i++)
        free(m->classes[i]);
    free(m->classes);
    free(m->thresholds);
    mlic_model_int8_clear(m);
    free(m);
}

const char *mlic_model_arch(const mlic_model *m) { return m->graph->arch; }

int mlic_model_num_classes(const mlic_model *m) { return m->num_classes; }

const char *mlic_model_class_name(const mlic_model *m, int i)
{
    return i >= 0 && i < m->num_classes ? m->classes[i] : NULL;
}

float mlic_model_threshold(const mlic_model *m, int i)
{
    return i >= 0 && i < m->num_classes ? m->thresholds[i] : NAN;
}

mlic_preprocess mlic_model_preprocess(const mlic_model *m) { return m->pre; }

uint64_t mlic_model_num_parameters(const mlic_model *m)
{
    uint64_t n = 0;
    for (int i = 0; i < m->graph->nparams; i++)
        if (m->graph->params[i].trainable)
            n += m->graph->params[i].numel;
    return n;
}

void mlic_model_float_text(char *buf, float v)
{
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, 32, "%.*g", digits, (double)v);
        if (strtof(buf, NULL) == v)
            return;
    }
}
