#include "train/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "model/safetensors.h"
#include "util/json_nul.h"

#define META_KEY "mlic_checkpoint"
#define OPTIM_TENSOR "optim.state"
#define ORDER_TENSOR "data.order"
#define EMA_TENSOR "ema.weights"

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
             cJSON_AddNumberToObject(root, "batch", (double)st->batch) &&
             cJSON_AddNumberToObject(root, "epoch_loss", st->epoch_loss) &&
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
    return mlic_checkpoint_save_io(NULL, path, g, o, order, n, st, config);
}

mlic_status mlic_checkpoint_save_io(mlic_io *io, const char *path, const mlic_graph *g,
                                    mlic_optim *o, const size_t *order, size_t n,
                                    const mlic_checkpoint_state *st, const char *config)
{
    size_t nstate = 0;
    const float *state = mlic_optim_state(o, &nstate);
    const int ntensors = g->nparams + 1 + (nstate > 0) + (st->ema != NULL);
    mlic_safetensors_entry *e = calloc((size_t)ntensors, sizeof *e);
    int64_t *order64 = malloc((n ? n : 1) * sizeof *order64);
    char *meta = meta_text(g, o, st, config);
    mlic_status s = MLIC_OK;
    if (!e || !order64 || !meta) {
        s = mlic_fail(MLIC_ERR_NOMEM, "writing checkpoint %s: out of memory", path);
    } else {
        const int64_t state_dims[1] = {(int64_t)nstate}, order_dims[1] = {(int64_t)n},
                      ema_dims[1] = {(int64_t)g->nweights};
        int k = 0;
        for (int p = 0; p < g->nparams; p++)
            e[k++] = (mlic_safetensors_entry){g->params[p].name, MLIC_DTYPE_F32, g->params[p].ndim,
                                              g->params[p].dims, mlic_graph_param(g, p)};
        if (nstate)
            e[k++] = (mlic_safetensors_entry){OPTIM_TENSOR, MLIC_DTYPE_F32, 1, state_dims, state};
        for (size_t i = 0; i < n; i++)
            order64[i] = (int64_t)order[i];
        e[k++] = (mlic_safetensors_entry){ORDER_TENSOR, MLIC_DTYPE_I64, 1, order_dims, order64};
        if (st->ema)
            e[k++] = (mlic_safetensors_entry){EMA_TENSOR, MLIC_DTYPE_F32, 1, ema_dims, st->ema};
        const char *key = META_KEY;
        s = mlic_safetensors_write_io(io, path, e, k, &key, (const char *const *)&meta, 1);
        if (s != MLIC_OK)
            mlic_fail_prefix(s, "writing checkpoint: ");
    }
    free(e);
    free(order64);
    free(meta);
    return s;
}

/* ---------------------------------------------------------------- load */

/* Settings added after checkpoint format 2 came out: a checkpoint written before them lacks them,
 * and its run had the value they had before they became settings. 1 and *value for those. */
static int later_setting(const char *name, double *value)
{
    static const struct {
        const char *name;
        double value;
    } later[] = {{"ema", 0}, {"mixup", 0}, {"cutmix", 0}, {"crop_scale", 0.08f}};
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
        if (!strcmp(name, later[i].name)) {
            *value = later[i].value;
            return 1;
        }
    return 0;
}

static mlic_status check_config(const cJSON *stored, const char *config, const char *path)
{
    cJSON *now = cJSON_Parse(config);
    if (!now)
        return mlic_fail(MLIC_ERR_INTERNAL, "checkpoint %s: the run's settings are not JSON", path);
    cJSON *implied = cJSON_CreateNumber(0); /* a later setting's value before it was one */
    mlic_status s = implied ? MLIC_OK :
                    mlic_fail(MLIC_ERR_NOMEM, "checkpoint %s: out of memory", path);
    const cJSON *item;
    cJSON_ArrayForEach(item, now)
    {
        if (s != MLIC_OK)
            break;
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(stored, item->string);
        double was_value;
        if (!old && later_setting(item->string, &was_value)) {
            cJSON_SetNumberValue(implied, was_value);
            old = implied;
        }
        if (old && cJSON_Compare(old, item, 1))
            continue;
        /* Every checkpoint of this format records every other setting: a missing one is damage,
         * not a setting this run changed. */
        if (!old) {
            s = mlic_fail(MLIC_ERR_FORMAT, "checkpoint %s: corrupt checkpoint header: \"config\" "
                          "lacks the setting \"%s\". HINT: start afresh without --resume", path,
                          item->string);
            break;
        }
        char *was = cJSON_PrintUnformatted(old);
        char *is = cJSON_PrintUnformatted(item);
        if (!strcmp(item->string, "batch_size"))
            s = mlic_fail(MLIC_ERR_INVALID_ARG, "--resume: checkpoint %s was made with a global "
                          "batch of %s images (ranks x --batch-size), this run's is %s. HINT: "
                          "resume with a --batch-size that makes ranks x --batch-size = %s (any "
                          "number of ranks), or start afresh without --resume", path,
                          was ? was : "?", is ? is : "?", was ? was : "?");
        else
            s = mlic_fail(MLIC_ERR_INVALID_ARG, "--resume: checkpoint %s was made with %s %s, this "
                          "run has %s. HINT: resume with the same settings, or start afresh "
                          "without --resume", path, item->string, was ? was : "?",
                          is ? is : "?");
        free(was);
        free(is);
        break;
    }
    cJSON_Delete(now);
    cJSON_Delete(implied);
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

/* A damaged or crafted header names the field it lacks rather than reading as "(unset)". */
static mlic_status corrupt(const char *path, const char *field, const char *what)
{
    return mlic_fail(MLIC_ERR_FORMAT, "checkpoint %s: corrupt checkpoint header: \"%s\" is %s. "
                     "HINT: start afresh without --resume", path, field, what);
}

static mlic_status meta_count(int64_t *out, const cJSON *root, const char *field, const char *path)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, field);
    if (!json_count(j, out))
        return corrupt(path, field, j ? "not a non-negative integer" : "missing");
    return MLIC_OK;
}

static mlic_status parse_meta(mlic_checkpoint_state *st, int64_t *optim_steps, const cJSON *root,
                              const mlic_graph *g, const char *config, const char *path)
{
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "arch");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(root, "seed");
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(root, "best_map");
    const cJSON *stored = cJSON_GetObjectItemCaseSensitive(root, "config");
    int64_t v = 0;
    mlic_status s = meta_count(&v, root, "format_version", path);
    if (s == MLIC_OK && v < 1)
        s = corrupt(path, "format_version", "0");
    if (s != MLIC_OK)
        return s;
    if (v > MLIC_CHECKPOINT_FORMAT_VERSION)
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "checkpoint %s: format_version %" PRId64 " is newer "
                         "than this mlic reads (%d). HINT: upgrade mlic", path, v,
                         MLIC_CHECKPOINT_FORMAT_VERSION);
    if (!cJSON_IsString(arch))
        return corrupt(path, "arch", arch ? "not a string" : "missing");
    if (strcmp(arch->valuestring, g->arch))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "--resume: checkpoint %s is for arch %s, this run "
                         "trains %s. HINT: use the same --arch, or start afresh without --resume",
                         path, arch->valuestring, g->arch);
    if ((s = meta_count(&st->epoch, root, "epoch", path)) != MLIC_OK ||
        (s = meta_count(&st->step, root, "step", path)) != MLIC_OK ||
        (s = meta_count(optim_steps, root, "optim_steps", path)) != MLIC_OK ||
        (s = meta_count(&st->best_epoch, root, "best_epoch", path)) != MLIC_OK)
        return s;
    if (!(cJSON_IsNull(best) || cJSON_IsNumber(best)))
        return corrupt(path, "best_map", best ? "neither a number nor null" : "missing");
    if (!cJSON_IsString(seed))
        return corrupt(path, "seed", seed ? "not a string" : "missing");
    char *end = NULL;
    errno = 0;
    st->seed = strtoull(seed->valuestring, &end, 10);
    if (!end || *end || end == seed->valuestring || errno || seed->valuestring[0] == '-')
        return corrupt(path, "seed", "not an unsigned 64-bit integer");
    st->best_map = cJSON_IsNumber(best) ? best->valuedouble : NAN;
    st->batch = 0;
    st->epoch_loss = 0.0;
    if (v >= 2) {
        const cJSON *loss = cJSON_GetObjectItemCaseSensitive(root, "epoch_loss");
        if ((s = meta_count(&st->batch, root, "batch", path)) != MLIC_OK)
            return s;
        if (!cJSON_IsNumber(loss) || !isfinite(loss->valuedouble))
            return corrupt(path, "epoch_loss", loss ? "not a finite number" : "missing");
        st->epoch_loss = loss->valuedouble;
    }
    if (!cJSON_IsObject(stored))
        return corrupt(path, "config", stored ? "not an object" : "missing");
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
    return mlic_checkpoint_load_io(NULL, path, g, o, order, n, st, config);
}

mlic_status mlic_checkpoint_load_io(mlic_io *io, const char *path, mlic_graph *g, mlic_optim *o,
                                    size_t *order, size_t n, mlic_checkpoint_state *st,
                                    const char *config)
{
    mlic_safetensors *f = NULL;
    mlic_status s = mlic_safetensors_open_io(&f, io, path);
    if (s != MLIC_OK)
        return mlic_fail_prefix(s, "--resume: ");
    const char *text = mlic_safetensors_metadata(f, META_KEY);
    const long long nul = text ? mlic_json_nul_escape(text, strlen(text)) : -1;
    cJSON *root = text && nul < 0 ? cJSON_ParseWithOpts(text, NULL, 1) : NULL;
    int64_t optim_steps = 0;
    if (!text)
        s = mlic_fail(MLIC_ERR_FORMAT, "checkpoint %s: no \"%s\" metadata, so not an mlic "
                      "checkpoint", path, META_KEY);
    else if (nul >= 0)
        s = mlic_fail(MLIC_ERR_FORMAT, "checkpoint %s: corrupt checkpoint header: the \"%s\" "
                      "metadata holds a NUL character (\\u0000, byte %lld). HINT: start afresh "
                      "without --resume", path, META_KEY, nul);
    else if (!root)
        s = mlic_fail(MLIC_ERR_FORMAT, "checkpoint %s: corrupt checkpoint header: the \"%s\" "
                      "metadata is not valid JSON. HINT: start afresh without --resume", path,
                      META_KEY);
    else if (!cJSON_IsObject(root))
        s = corrupt(path, META_KEY, "not a JSON object");
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
    if (s == MLIC_OK && st->ema) {
        if (!find_tensor(f, EMA_TENSOR, MLIC_DTYPE_F32, g->nweights))
            s = mlic_fail(MLIC_ERR_FORMAT, "checkpoint %s: tensor '%s' is missing or not F32 of "
                          "%zu values", path, EMA_TENSOR, g->nweights);
        else
            s = mlic_safetensors_read_f32(f, mlic_safetensors_find(f, EMA_TENSOR), st->ema);
    }
    if (s == MLIC_OK)
        mlic_optim_set_step_count(o, optim_steps);
    cJSON_Delete(root);
    mlic_safetensors_close(f);
    return s;
}
