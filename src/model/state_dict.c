#include "model/state_dict.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model.h"

/* How many names an error lists before "and N more". */
#define LIST_MAX 5

static void shape_text(char *buf, size_t n, int ndim, const int64_t *dims)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%" PRId64, d ? ", " : "", dims[d]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
}

typedef struct {
    char text[640];
    int count;
} name_list;

static void list_add(name_list *l, const char *name)
{
    size_t k = strlen(l->text);
    if (l->count < LIST_MAX)
        snprintf(l->text + k, sizeof l->text - k, "%s'%s'", l->count ? ", " : "", name);
    l->count++;
}

static const char *list_more(const name_list *l, char *buf, size_t n)
{
    if (l->count > LIST_MAX)
        snprintf(buf, n, " and %d more", l->count - LIST_MAX);
    else
        buf[0] = '\0';
    return buf;
}

/* name is "<bn>.num_batches_tracked" for a batch norm node of g. */
static int is_batch_counter(const mlic_graph *g, const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || strcmp(dot + 1, MLIC_NUM_BATCHES_TRACKED))
        return 0;
    size_t len = (size_t)(dot - name);
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == MLIC_OP_BATCHNORM && strlen(g->nodes[i].name) == len &&
            !strncmp(g->nodes[i].name, name, len))
            return 1;
    return 0;
}

/* A common cause of "missing": names saved with a wrapper's prefix ("module." from
 * DataParallel). Finds "<prefix><name>" in f for the missing name. */
static void prefix_hint(char *buf, size_t n, const mlic_safetensors *f, const char *name,
                        const char *arch)
{
    size_t len = strlen(name);
    for (int i = 0; i < mlic_safetensors_count(f); i++) {
        const char *s = mlic_safetensors_tensor_at(f, i)->name;
        size_t sl = strlen(s);
        if (sl > len && s[sl - len - 1] == '.' && !strcmp(s + sl - len, name)) {
            snprintf(buf, n, "HINT: the file's names carry the prefix '%.*s' (e.g. '%s'); save the "
                     "state dict of the bare model, without the prefix", (int)(sl - len), s, s);
            return;
        }
    }
    snprintf(buf, n, "HINT: is this a torchvision %s state dict? Check --arch", arch);
}

static mlic_status check_names(const mlic_graph *g, const mlic_safetensors *f, int int8)
{
    const char *path = mlic_safetensors_path(f);
    name_list missing = {.count = 0}, extra = {.count = 0};
    const char *first_missing = NULL;
    for (int i = 0; i < g->nparams; i++)
        if (mlic_safetensors_find(f, g->params[i].name) < 0) {
            if (!first_missing)
                first_missing = g->params[i].name;
            list_add(&missing, g->params[i].name);
        }
    for (int i = 0; i < mlic_safetensors_count(f); i++) {
        const char *name = mlic_safetensors_tensor_at(f, i)->name;
        if (mlic_graph_find_param(g, name) < 0 && !is_batch_counter(g, name) &&
            !(int8 && mlic_model_int8_tensor(g, name)))
            list_add(&extra, name);
    }
    char more[32], hint[256];
    if (missing.count) {
        prefix_hint(hint, sizeof hint, f, first_missing, g->arch);
        return mlic_fail(MLIC_ERR_FORMAT, "%s: %d of the %d tensors of %s are missing: %s%s. %s",
                         path, missing.count, g->nparams, g->arch, missing.text,
                         list_more(&missing, more, sizeof more), hint);
    }
    if (extra.count)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: %d unexpected tensors, not part of %s: %s%s. "
                         "HINT: is this a torchvision %s state dict? Check --arch", path,
                         extra.count, g->arch, extra.text, list_more(&extra, more, sizeof more),
                         g->arch);
    return MLIC_OK;
}

static mlic_status check_tensor(const mlic_param *p, const mlic_safetensors_tensor *t,
                                const char *path)
{
    if (t->dtype != MLIC_DTYPE_F32 && t->dtype != MLIC_DTYPE_F16 && t->dtype != MLIC_DTYPE_BF16 &&
        t->dtype != MLIC_DTYPE_F64)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected a float type "
                         "(F32, F16, BF16 or F64)", path, p->name, mlic_dtype_name(t->dtype));
    int same = t->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++)
        same = t->dims[d] == p->dims[d];
    if (same)
        return MLIC_OK;
    char want[96], got[96];
    shape_text(want, sizeof want, p->ndim, p->dims);
    shape_text(got, sizeof got, t->ndim, t->dims);
    return mlic_fail(MLIC_ERR_FORMAT, "%s: tensor '%s': expected shape %s, got %s. HINT: is this "
                     "the right --arch?", path, p->name, want, got);
}

mlic_status mlic_state_dict_load(mlic_graph *g, const mlic_safetensors *f, int int8,
                                 const char *head_hint)
{
    const char *path = mlic_safetensors_path(f);
    mlic_status st = mlic_model_check_head(f, g->arch, g->num_classes, "there are", head_hint);
    if (!st)
        st = check_names(g, f, int8);
    for (int i = 0; i < g->nparams && !st; i++)
        st = check_tensor(&g->params[i],
                          mlic_safetensors_tensor_at(f, mlic_safetensors_find(f, g->params[i].name)),
                          path);
    for (int i = 0; i < g->nparams && !st; i++) {
        const mlic_param *p = &g->params[i];
        float *w = mlic_graph_param(g, i);
        st = mlic_safetensors_read_f32(f, mlic_safetensors_find(f, p->name), w);
        for (size_t k = 0; k < p->numel && !st; k++)
            if (!isfinite(w[k]))
                st = mlic_fail(MLIC_ERR_FORMAT, "%s: tensor '%s' holds %s at element %zu. HINT: the "
                               "checkpoint is corrupt, or training diverged", path, p->name,
                               isnan(w[k]) ? "NaN" : "an infinity", k);
    }
    return st;
}
