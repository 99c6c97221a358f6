/* Model files: mlic_model_load and mlic_model_save (format: docs/model-format.md). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "model/state_dict.h"
#include "util/json_nul.h"

#define META_KEY "mlic"

/* ---------------------------------------------------------------- metadata -> model */

/* The "mlic" metadata, parsed and checked before anything is built from it. */
typedef struct {
    const char *arch;          /* points into the cJSON tree */
    int num_classes;
    const char **classes;      /* (num_classes), into the cJSON tree */
    float *thresholds;         /* (num_classes) */
    mlic_preprocess pre;
    const char *calibration;   /* an int8 model's (into the cJSON tree), else NULL */
} meta_fields;

static int json_int(const cJSON *j, int lo, int hi, int *out)
{
    if (!cJSON_IsNumber(j) || j->valuedouble != floor(j->valuedouble) || j->valuedouble < lo ||
        j->valuedouble > hi)
        return 0;
    *out = (int)j->valuedouble;
    return 1;
}

static int json_float3(const cJSON *j, float out[3])
{
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != 3)
        return 0;
    for (int c = 0; c < 3; c++) {
        const cJSON *e = cJSON_GetArrayItem(j, c);
        if (!cJSON_IsNumber(e))
            return 0;
        out[c] = (float)e->valuedouble;
    }
    return 1;
}

mlic_status mlic_model_check_head(const mlic_safetensors *f, const char *arch, int n,
                                  const char *counted, const char *hint)
{
    const char *path = mlic_safetensors_path(f);
    const char *head = mlic_graph_head_name(arch);
    if (!head)
        return MLIC_OK; /* building the graph names the unknown arch */
    char name[80];
    snprintf(name, sizeof name, "%s.weight", head);
    int i = mlic_safetensors_find(f, name);
    if (i < 0)
        return hint ? MLIC_OK
                    : mlic_fail(MLIC_ERR_FORMAT, "%s: the classifier head '%s' is missing. HINT: "
                                "the file is inconsistent; re-create it with 'mlic import' or "
                                "'mlic train'", path, name);
    const mlic_safetensors_tensor *t = mlic_safetensors_tensor_at(f, i);
    if (t->ndim == 2 && t->dims[0] == n)
        return MLIC_OK;
    return mlic_fail(MLIC_ERR_FORMAT, "%s: %s %d classes but the classifier head '%s' has %s%"
                     PRId64 " outputs. %s", path, counted, n, name,
                     t->ndim == 2 ? "" : "not 2 dimensions, ",
                     t->ndim >= 1 ? t->dims[0] : (int64_t)0,
                     hint ? hint : "HINT: the file is inconsistent; re-create it with 'mlic "
                     "import' or 'mlic train'");
}

static mlic_status parse_meta(meta_fields *m, const cJSON *root, const char *path,
                              mlic_model_head_check check_head, const void *ctx)
{
    if (!cJSON_IsObject(root))
        return mlic_fail(MLIC_ERR_FORMAT, "%s: metadata \"mlic\" is not a JSON object", path);
    int version;
    if (!json_int(cJSON_GetObjectItemCaseSensitive(root, "format_version"), 1, 1 << 30, &version))
        return mlic_fail(MLIC_ERR_FORMAT, "%s: metadata \"mlic\": \"format_version\" is missing or "
                         "not a positive integer", path);
    if (version > MLIC_MODEL_FORMAT_VERSION)
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "%s: model format_version %d is newer than this "
                         "mlic (%s) reads (%d). HINT: upgrade mlic", path, version, MLIC_VERSION,
                         MLIC_MODEL_FORMAT_VERSION);
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "arch");
    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(root, "classes");
    const cJSON *thresholds = cJSON_GetObjectItemCaseSensitive(root, "thresholds");
    if (!cJSON_IsString(arch))
        return mlic_fail(MLIC_ERR_FORMAT, "%s: metadata \"mlic\": \"arch\" is missing or not a "
                         "string", path);
    m->arch = arch->valuestring;
    if (!cJSON_IsArray(classes) || cJSON_GetArraySize(classes) < 1)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: metadata \"mlic\": \"classes\" is missing or not a "
                         "non-empty array", path);
    m->num_classes = cJSON_GetArraySize(classes);
    mlic_status st = check_head(ctx, m->arch, m->num_classes);
    if (st)
        return st;
    if (!cJSON_IsArray(thresholds) || cJSON_GetArraySize(thresholds) != m->num_classes)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: metadata \"mlic\": \"thresholds\" must be an array "
                         "of %d numbers, one per class", path, m->num_classes);
    m->classes = calloc((size_t)m->num_classes, sizeof *m->classes);
    m->thresholds = calloc((size_t)m->num_classes, sizeof *m->thresholds);
    if (!m->classes || !m->thresholds)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory", path);
    /* Walking the lists (cJSON_GetArrayItem(a, i) walks from the start each time). */
    const cJSON *c = classes->child, *t = thresholds->child;
    for (int i = 0; i < m->num_classes; i++, c = c->next, t = t->next) {
        if (!cJSON_IsString(c))
            return mlic_fail(MLIC_ERR_FORMAT, "%s: metadata \"mlic\": classes[%d] is not a string",
                             path, i);
        if (!cJSON_IsNumber(t))
            return mlic_fail(MLIC_ERR_FORMAT, "%s: metadata \"mlic\": thresholds[%d] is not a "
                             "number", path, i);
        m->classes[i] = c->valuestring;
        m->thresholds[i] = (float)t->valuedouble;
    }
    if (!json_int(cJSON_GetObjectItemCaseSensitive(root, "resize"), 0, 1 << 30, &m->pre.resize) ||
        !json_int(cJSON_GetObjectItemCaseSensitive(root, "crop"), 0, 1 << 30, &m->pre.crop))
        return mlic_fail(MLIC_ERR_FORMAT, "%s: metadata \"mlic\": \"resize\" and \"crop\" must be "
                         "non-negative integers", path);
    if (!json_float3(cJSON_GetObjectItemCaseSensitive(root, "mean"), m->pre.mean) ||
        !json_float3(cJSON_GetObjectItemCaseSensitive(root, "std"), m->pre.std))
        return mlic_fail(MLIC_ERR_FORMAT, "%s: metadata \"mlic\": \"mean\" and \"std\" must be "
                         "arrays of 3 numbers", path);
    const cJSON *precision = cJSON_GetObjectItemCaseSensitive(root, "precision");
    if (precision && !(cJSON_IsString(precision) && (!strcmp(precision->valuestring, "fp32") ||
                                                     !strcmp(precision->valuestring, "int8"))))
        return mlic_fail(MLIC_ERR_FORMAT, "%s: metadata \"mlic\": \"precision\" must be \"fp32\" "
                         "or \"int8\"", path);
    if (precision && !strcmp(precision->valuestring, "int8")) {
        const cJSON *cal = cJSON_GetObjectItemCaseSensitive(root, "calibration");
        m->calibration = cJSON_IsString(cal) && cal->valuestring[0] ? cal->valuestring : "unknown";
    }
    st = mlic_model_check_classes(m->classes, m->num_classes, path);
    if (!st)
        st = mlic_model_check_thresholds(m->thresholds, m->num_classes, path);
    if (!st)
        st = mlic_model_check_preprocess(&m->pre, path);
    /* The checks above speak of arguments; here they are flaws in the file. */
    return st ? MLIC_ERR_FORMAT : MLIC_OK;
}

mlic_status mlic_model_create_from_meta(mlic_model **out, const char *text, const char *path,
                                       mlic_model_head_check check_head, const void *ctx)
{
    *out = NULL;
    long long nul = mlic_json_nul_escape(text, strlen(text));
    if (nul >= 0)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: metadata \"mlic\" holds a NUL character (\\u0000, "
                         "byte %lld), which would cut a class name short. HINT: a corrupt or "
                         "crafted file", path, nul);
    cJSON *root = cJSON_ParseWithOpts(text, NULL, 1);
    if (!root)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: metadata \"mlic\" is not valid JSON", path);
    meta_fields meta = {0};
    mlic_status st = parse_meta(&meta, root, path, check_head, ctx);
    mlic_model *m = NULL;
    if (!st) {
        mlic_model_spec spec = {.arch = meta.arch, .classes = meta.classes,
                                .num_classes = meta.num_classes, .threshold = meta.thresholds[0],
                                .pre = meta.pre};
        st = mlic_model_create_checked(&m, &spec);
        if (st)
            mlic_fail_prefix(st, "%s: ", path);
    }
    if (!st)
        memcpy(m->thresholds, meta.thresholds, (size_t)m->num_classes * sizeof *m->thresholds);
    if (!st && meta.calibration)
        snprintf(m->calibration, sizeof m->calibration, "%s", meta.calibration);
    free(meta.classes);
    free(meta.thresholds);
    cJSON_Delete(root);
    *out = m;
    return st;
}

static mlic_status safetensors_head(const void *f, const char *arch, int n)
{
    return mlic_model_check_head(f, arch, n, "metadata \"mlic\" lists", NULL);
}

static mlic_status load_from(mlic_model **out, const mlic_safetensors *f)
{
    const char *path = mlic_safetensors_path(f);
    const char *text = mlic_safetensors_metadata(f, META_KEY);
    if (!text)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: a safetensors file without \"mlic\" metadata, so "
                         "not an mlic model. HINT: make a model from a state dict with 'mlic import'",
                         path);
    mlic_model *m = NULL;
    mlic_status st = mlic_model_create_from_meta(&m, text, path, safetensors_head, f);
    const int int8 = !st && m->calibration[0];
    if (!st)
        st = mlic_state_dict_load(m->graph, f, int8, "HINT: the file is inconsistent; re-create "
                                  "it with 'mlic import' or 'mlic train'");
    if (!st && int8)
        st = mlic_model_int8_load(m, f);
    if (!st)
        m->file_size = mlic_safetensors_file_size(f);
    if (st) {
        mlic_model_free(m);
        return st;
    }
    *out = m;
    return MLIC_OK;
}

mlic_status mlic_model_load_io(mlic_model **out, mlic_io *io, const char *path)
{
    *out = NULL;
    mlic_safetensors *f = NULL;
    mlic_status st = mlic_safetensors_open_io(&f, io, path);
    if (!st)
        st = load_from(out, f);
    mlic_safetensors_close(f);
    return st;
}

mlic_status mlic_model_load(mlic_model **out, const char *path)
{
    return mlic_model_load_from(out, path, NULL);
}

/* ---------------------------------------------------------------- model -> file */

static int add_float(cJSON *arr, float v)
{
    char buf[32];
    mlic_model_float_text(buf, v);
    cJSON *r = cJSON_CreateRaw(buf);
    return r && cJSON_AddItemToArray(arr, r);
}

char *mlic_model_meta_text(const mlic_model *m)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *classes = NULL, *thresholds = NULL, *mean = NULL, *std = NULL;
    int ok = root && cJSON_AddNumberToObject(root, "format_version", MLIC_MODEL_FORMAT_VERSION) &&
             cJSON_AddStringToObject(root, "arch", m->graph->arch) &&
             (classes = cJSON_AddArrayToObject(root, "classes")) &&
             (thresholds = cJSON_AddArrayToObject(root, "thresholds")) &&
             cJSON_AddNumberToObject(root, "resize", m->pre.resize) &&
             cJSON_AddNumberToObject(root, "crop", m->pre.crop) &&
             (mean = cJSON_AddArrayToObject(root, "mean")) &&
             (std = cJSON_AddArrayToObject(root, "std"));
    if (ok && m->nint8)
        ok = cJSON_AddStringToObject(root, "precision", "int8") &&
             cJSON_AddStringToObject(root, "calibration", m->calibration);
    for (int i = 0; i < m->num_classes && ok; i++) {
        cJSON *s = cJSON_CreateString(m->classes[i]);
        ok = s && cJSON_AddItemToArray(classes, s) && add_float(thresholds, m->thresholds[i]);
    }
    for (int c = 0; c < 3 && ok; c++)
        ok = add_float(mean, m->pre.mean[c]) && add_float(std, m->pre.std[c]);
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

/* mlic_model_save_tensors through io (NULL: local paths only). */
static mlic_status save_tensors(const mlic_model *m, mlic_io *io, const char *path,
                                const char *const *meta_keys, const char *const *meta_values,
                                int nmeta, int with_int8)
{
    const mlic_graph *g = m->graph;
    int nbn = 0;
    for (int i = 0; i < g->nnodes; i++)
        nbn += g->nodes[i].op == MLIC_OP_BATCHNORM;
    int n = g->nparams + nbn;
    static const int64_t batches_tracked = 0;
    /* An int8 model's tensors follow the state dict's (docs/model-format.md). */
    mlic_safetensors_entry *q = NULL;
    char *qnames = NULL;
    int nq = 0;
    if (with_int8 && m->nint8) {
        mlic_status qs = mlic_model_int8_entries(m, &q, &qnames, &nq);
        if (qs) {
            free(q);
            free(qnames);
            return qs;
        }
    }
    mlic_safetensors_entry *e = calloc((size_t)(n + nq), sizeof *e);
    char(*counter_names)[sizeof g->nodes[0].name + sizeof MLIC_NUM_BATCHES_TRACKED + 1] =
        calloc((size_t)nbn + 1, sizeof *counter_names);
    mlic_status st = MLIC_OK;
    if (!e || !counter_names)
        st = mlic_fail(MLIC_ERR_NOMEM, "writing %s: out of memory", path);
    /* State-dict order: each batch norm's counter follows its running_var. */
    int k = 0, c = 0;
    for (int i = 0; i < g->nparams && !st; i++) {
        const mlic_param *p = &g->params[i];
        e[k++] = (mlic_safetensors_entry){p->name, MLIC_DTYPE_F32, p->ndim, p->dims,
                                          mlic_graph_param(g, i)};
        for (int j = 0; j < g->nnodes; j++) {
            const mlic_node *bn = &g->nodes[j];
            if (bn->op != MLIC_OP_BATCHNORM || bn->running_var != i)
                continue;
            snprintf(counter_names[c], sizeof counter_names[c], "%s.%s", bn->name,
                     MLIC_NUM_BATCHES_TRACKED);
            e[k++] = (mlic_safetensors_entry){counter_names[c++], MLIC_DTYPE_I64, 0, NULL,
                                              &batches_tracked};
        }
    }
    if (!st && k != n)
        st = mlic_fail(MLIC_ERR_INTERNAL, "writing %s: graph %s has batch norms whose running_var "
                       "is not among its parameters", path, g->arch);
    for (int i = 0; i < nq && !st; i++)
        e[k++] = q[i];
    if (!st)
        st = mlic_safetensors_write_io(io, path, e, k, meta_keys, meta_values, nmeta);
    free(e);
    free(q);
    free(qnames);
    free(counter_names);
    return st;
}

mlic_status mlic_model_save_tensors(const mlic_model *m, const char *path,
                                    const char *const *meta_keys, const char *const *meta_values,
                                    int nmeta)
{
    return save_tensors(m, NULL, path, meta_keys, meta_values, nmeta, 0);
}

mlic_status mlic_model_save_io(const mlic_model *m, mlic_io *io, const char *path)
{
    char *meta = mlic_model_meta_text(m);
    if (!meta)
        return mlic_fail(MLIC_ERR_NOMEM, "writing %s: out of memory", path);
    const char *key = META_KEY;
    mlic_status st = save_tensors(m, io, path, &key, (const char *const *)&meta, 1, 1);
    free(meta);
    return st;
}

mlic_status mlic_model_save(const mlic_model *m, const char *path)
{
    return mlic_model_save_io(m, NULL, path);
}
