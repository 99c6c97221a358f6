#include "train/checkpoint.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "model/safetensors.h"

#define META_KEY "mlic_checkpoint"
#define OPTIM_TENSOR "optim.state"
#define ORDER_TENSOR "data.order"

static char *meta_text(const mlic_graph *g, mlic_optim *o, const mlic_checkpoint_state *st,
                       const char *config)
{
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, st->seed);
    cJSON *root = cJSON_CreateObject();
    cJSON *cfg = cJSON_Parse(config);
    cJSON *best = isnan(st->best_map) ? cJSON_CreateNull() : cJSON_CreateNumber(st->best_map);
    int ok = root && cfg && best &&
             cJSON_AddNumberToObject(root, "format_version", MLIC_CHECKPOINT_FORMAT_VERSION) &&
             cJSON_AddStringToObject(root, "arch", g->arch) &&
             cJSON_AddNumberToObject(root, "epoch", (double)st->epoch) &&
             cJSON_AddNumberToObject(root, "step", (double)st->step) &&
             cJSON_AddNumberToObject(root, "optim_steps", (double)mlic_optim_step_count(o)) &&
             cJSON_AddStringToObject(root, "seed", seed) &&
             cJSON_AddNumberToObject(root, "best_epoch", (double)st->best_epoch);
    if (ok) {
        ok = cJSON_AddItemToObject(root, "best_map", best) &&
             cJSON_AddItemToObject(root, "config", cfg);
        best = cfg = NULL;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(best);
    cJSON_Delete(cfg);
    cJSON_Delete(root);
    return text;
}

mlic_status mlic_checkpoint_save(const char *path, const mlic_graph *g, mlic_optim *o,
                                 const size_t *order, size_t n, const mlic_checkpoint_state *st,
                                 const char *config)
{
    size_t nstate = 0;
    const float *state = mlic_optim_state(o, &nstate);
    const int ntensors = g->nparams + 1 + (nstate > 0);
    mlic_safetensors_entry *e = calloc((size_t)ntensors, sizeof *e);
    int64_t *order64 = malloc((n ? n : 1) * sizeof *order64);
    char *meta = meta_text(g, o, st, config);
    mlic_status s = MLIC_OK;
    if (!e || !order64 || !meta) {
        s = mlic_fail(MLIC_ERR_NOMEM, "writing checkpoint %s: out of memory", path);
    } else {
        const int64_t state_dims[1] = {(int64_t)nstate}, order_dims[1] = {(int64_t)n};
        int k = 0;
        for (int p = 0; p < g->nparams; p++)
            e[k++] = (mlic_safetensors_entry){g->params[p].name, MLIC_DTYPE_F32, g->params[p].ndim,
                                              g->params[p].dims, mlic_graph_param(g, p)};
        if (nstate)
            e[k++] = (mlic_safetensors_entry){OPTIM_TENSOR, MLIC_DTYPE_F32, 1, state_dims, state};
        for (size_t i = 0; i < n; i++)
            order64[i] = (int64_t)order[i];
        e[k++] = (mlic_safetensors_entry){ORDER_TENSOR, MLIC_DTYPE_I64, 1, order_dims, order64};
        const char *key = META_KEY;
        s = mlic_safetensors_write(path, e, k, &key, (const char *const *)&meta, 1);
        if (s != MLIC_OK)
            mlic_fail_prefix(s, "writing checkpoint: ");
    }
    free(e);
    free(order64);
    free(meta);
    return s;
}

/* ---------------------------------------------------------------- load */

static mlic_status check_config(const cJSON *stored, const char *config, const char *path)
{
    cJSON *now = cJSON_Parse(config);
    if (!now)
        return mlic_fail(MLIC_ERR_INTERNAL, "checkpoint %s: the run's settings are not JSON", path);
    mlic_status s = MLIC_OK;
    const cJSON *item;
    cJSON_ArrayForEach(item, now)
    {
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(stored, item->string);
        if (old && cJSON_Compare(old, item, 1))
            continue;
        char *was = old ? cJSON_PrintUnformatted(old) : NULL;
        char *is = cJSON_PrintUnformatted(item);
        if (!strcmp(item->string, "batch_size"))
            s = mlic_fail(MLIC_ERR_INVALID_ARG, "--resume: checkpoint %s was made with a global "
                          "batch of %s images (ranks x --batch-size), this run's is %s. HINT: "
                          "resume with a --batch-size that makes ranks x --batch-size = %s (any "
                          "number of ranks), or start afresh without --resume", path,
                          was ? was : "(unset)", is ? is : "?", was ? was : "(unset)");
        else
            s = mlic_fail(MLIC_ERR_INVALID_ARG, "--resume: checkpoint %s was made with %s %s, this "
                          "run has %s. HINT: resume with the same settings, or start afresh "
                          "without --resume", path, item->string, was ? was : "(unset)",
                          is ? is : "?");
        free(was);
        free(is);
        break;
    }
    cJSON_Delete(now);
    return s;
}

static int json_count(const cJSON *j, int64_t *out)
{
    if (!cJSON_IsNumber(j) || j->valuedouble < 0 || j->valuedouble != floor(j->valuedouble) ||
        j->valuedouble > 9007199254740992.0)
        return 0;
    *out = (int64_t)j->valuedouble;
    return 1;
}

static mlic_status parse_meta(mlic_checkpoint_state *st, int64_t *optim_steps, const cJSON *root,
                              const mlic_graph *g, const char *config, const char *path)
{
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "format_version");
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "arch");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(root, "seed");
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(root, "best_map");
    int64_t v = 0;
    if (!json_count(version, &v) || v < 1)
        return mlic_fail(MLIC_ERR_FORMAT, "checkpoint %s: \"format_version\" is missing", path);
    if (v > MLIC_CHECKPOINT_FORMAT_VERSION)
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "checkpoint %s: format_version %" PRId64 " is newer "
                         "than this mlic reads (%d). HINT: upgrade mlic", path, v,
                         MLIC_CHECKPOINT_FORMAT_VERSION);
    if (!cJSON_IsString(arch) || strcmp(arch->valuestring, g->arch))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "--resume: checkpoint %s is for arch %s, this run "
                         "trains %s. HINT: use the same --arch, or start afresh without --resume",
                         path, cJSON_IsString(arch) ? arch->valuestring : "(none)", g->arch);
    char *end = NULL;
    if (!cJSON_IsString(seed) || !json_count(cJSON_GetObjectItemCaseSensitive(root, "epoch"),
                                             &st->epoch) ||
        !json_count(cJSON_GetObjectItemCaseSensitive(root, "step"), &st->step) ||
        !json_count(cJSON_GetObjectItemCaseSensitive(root, "optim_steps"), optim_steps) ||
        !json_count(cJSON_GetObjectItemCaseSensitive(root, "best_epoch"), &st->best_epoch) ||
        !(cJSON_IsNull(best) || cJSON_IsNumber(best)))
        return mlic_fail(MLIC_ERR_FORMAT, "checkpoint %s: the metadata lacks epoch, step, "
                         "optim_steps, seed, best_map or best_epoch, or one is malformed", path);
    st->seed = strtoull(seed->valuestring, &end, 10);
    if (!end || *end)
        return mlic_fail(MLIC_ERR_FORMAT, "checkpoint %s: seed \"%s\" is not an integer", path,
                         seed->valuestring);
    st->best_map = cJSON_IsNumber(best) ? best->valuedouble : NAN;
    const cJSON *stored = cJSON_GetObjectItemCaseSensitive(root, "config");
    if (!cJSON_IsObject(stored))
        return mlic_fail(MLIC_ERR_FORMAT, "checkpoint %s: \"config\" is missing", path);
    return check_config(stored, config, path);
}

static const mlic_safetensors_tensor *find_tensor(const mlic_safetensors *f, const char *name,
                                                  mlic_dtype dtype, uint64_t numel)
{
    const int i = mlic_safetensors_find(f, name);
    if (i < 0)
        return NULL;
    const mlic_safetensors_tensor *t = mlic_safetensors_tensor_at(f, i);
    return t->dtype == dtype && t->numel == numel ? t : NULL;
}

static mlic_status read_params(mlic_graph *g, const mlic_safetensors *f, const char *path)
{
    for (int p = 0; p < g->nparams; p++) {
        const mlic_param *pp = &g->params[p];
        const mlic_safetensors_tensor *t = find_tensor(f, pp->name, MLIC_DTYPE_F32, pp->numel);
        if (!t || t->ndim != pp->ndim)
            return mlic_fail(MLIC_ERR_FORMAT, "checkpoint %s: tensor '%s' is missing or not F32 of "
                             "%zu values", path, pp->name, pp->numel);
        mlic_status s = mlic_safetensors_read_f32(f, mlic_safetensors_find(f, pp->name),
                                                  mlic_graph_param(g, p));
        if (s != MLIC_OK)
            return s;
    }
    return MLIC_OK;
}

static mlic_status read_order(size_t *order, size_t n, const mlic_safetensors *f,
                              const char *path)
{
    if (!find_tensor(f, ORDER_TENSOR, MLIC_DTYPE_I64, n))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "--resume: checkpoint %s holds no order of %zu "
                         "training items: the training data changed. HINT: resume with the same "
                         "--data, or start afresh without --resume", path, n);
    int64_t *raw = malloc((n ? n : 1) * sizeof *raw);
    uint8_t *seen = calloc(n ? n : 1, 1);
    mlic_status s = raw && seen
                        ? mlic_safetensors_read_raw(f, mlic_safetensors_find(f, ORDER_TENSOR), raw)
                        : mlic_fail(MLIC_ERR_NOMEM, "checkpoint %s: out of memory", path);
    for (size_t i = 0; i < n && s == MLIC_OK; i++) {
        if (raw[i] < 0 || (uint64_t)raw[i] >= n || seen[raw[i]])
            s = mlic_fail(MLIC_ERR_FORMAT, "checkpoint %s: %s is not a permutation of 0..%zu "
                          "(element %zu is %" PRId64 ")", path, ORDER_TENSOR, n - 1, i, raw[i]);
        else
            seen[raw[i]] = 1;
        order[i] = (size_t)raw[i];
    }
    free(raw);
    free(seen);
    return s;
}

mlic_status mlic_checkpoint_load(const char *path, mlic_graph *g, mlic_optim *o, size_t *order,
                                 size_t n, mlic_checkpoint_state *st, const char *config)
{
    mlic_safetensors *f = NULL;
    mlic_status s = mlic_safetensors_open(&f, path);
    if (s != MLIC_OK)
        return mlic_fail_prefix(s, "--resume: ");
    const char *text = mlic_safetensors_metadata(f, META_KEY);
    cJSON *root = text ? cJSON_ParseWithOpts(text, NULL, 1) : NULL;
    int64_t optim_steps = 0;
    if (!root)
        s = mlic_fail(MLIC_ERR_FORMAT, "checkpoint %s: no valid \"%s\" metadata, so not an mlic "
                      "checkpoint", path, META_KEY);
    if (s == MLIC_OK)
        s = parse_meta(st, &optim_steps, root, g, config, path);
    if (s == MLIC_OK)
        s = read_params(g, f, path);
    size_t nstate = 0;
    float *state = mlic_optim_state(o, &nstate);
    if (s == MLIC_OK && nstate) {
        if (!find_tensor(f, OPTIM_TENSOR, MLIC_DTYPE_F32, nstate))
            s = mlic_fail(MLIC_ERR_FORMAT, "checkpoint %s: tensor '%s' is missing or not F32 of "
                          "%zu values", path, OPTIM_TENSOR, nstate);
        else
            s = mlic_safetensors_read_f32(f, mlic_safetensors_find(f, OPTIM_TENSOR), state);
    }
    if (s == MLIC_OK)
        s = read_order(order, n, f, path);
    if (s == MLIC_OK)
        mlic_optim_set_step_count(o, optim_steps);
    cJSON_Delete(root);
    mlic_safetensors_close(f);
    return s;
}
