#include "eval/evaluate.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/loader.h"
#include "util/strbuf.h"

#define DEFAULT_BATCH 32
/* Enough unknown names to recognise the problem; the rest are counted. */
#define MAX_NAMES_LISTED 10

void mlic_eval_opts_init(mlic_eval_opts *o)
{
    memset(o, 0, sizeof *o);
    o->backend = MLIC_BACKEND_AUTO;
    o->threshold = -1.0f;
}

void mlic_eval_result_free(mlic_eval_result *r)
{
    if (!r)
        return;
    free(r->per_class);
    free(r->thresholds);
    free(r->scores);
    free(r->targets);
    if (r->classes)
        for (int c = 0; c < r->num_classes; c++)
            free(r->classes[c]);
    free(r->classes);
    memset(r, 0, sizeof *r);
}

typedef struct {
    const char *name;
    int index;
} named_index;

static int cmp_named_index(const void *a, const void *b)
{
    return strcmp(((const named_index *)a)->name, ((const named_index *)b)->name);
}

mlic_status mlic_eval_map_classes(int *map, const mlic_model *m, const mlic_dataset *d,
                                  const char *what)
{
    int k = mlic_model_num_classes(m), unknown = 0;
    /* The model's names sorted (they are unique), then a binary search per data set class: many
     * labels on both sides cost n log n, not n * k. */
    named_index *sorted = malloc((size_t)k * sizeof *sorted);
    if (!sorted)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory matching %d classes", what, k);
    for (int i = 0; i < k; i++)
        sorted[i] = (named_index){mlic_model_class_name(m, i), i};
    qsort(sorted, (size_t)k, sizeof *sorted, cmp_named_index);
    mlic_strbuf names;
    mlic_strbuf_init(&names);
    for (int j = 0; j < d->num_classes; j++) {
        const named_index key = {d->classes[j], -1};
        const named_index *hit = bsearch(&key, sorted, (size_t)k, sizeof *sorted, cmp_named_index);
        map[j] = hit ? hit->index : -1;
        if (map[j] >= 0)
            continue;
        if (unknown < MAX_NAMES_LISTED)
            mlic_strbuf_printf(&names, "%s'%s'", unknown ? ", " : "", d->classes[j]);
        unknown++;
    }
    free(sorted);
    if (!unknown) {
        mlic_strbuf_free(&names);
        return MLIC_OK;
    }
    if (unknown > MAX_NAMES_LISTED)
        mlic_strbuf_printf(&names, " and %d more", unknown - MAX_NAMES_LISTED);
    mlic_strbuf known;
    mlic_strbuf_init(&known);
    for (int i = 0; i < k && i < MAX_NAMES_LISTED; i++)
        mlic_strbuf_printf(&known, "%s'%s'", i ? ", " : "", mlic_model_class_name(m, i));
    if (k > MAX_NAMES_LISTED)
        mlic_strbuf_printf(&known, " and %d more", k - MAX_NAMES_LISTED);
    mlic_status st = names.oom || known.oom
        ? mlic_fail(MLIC_ERR_NOMEM, "out of memory")
        : mlic_fail(MLIC_ERR_FORMAT, "%s: %d class%s the model does not know: %s. HINT: the "
                    "model's classes are %s; evaluate on data labelled with those names",
                    what, unknown, unknown == 1 ? "" : "es", names.data, known.data);
    mlic_strbuf_free(&names);
    mlic_strbuf_free(&known);
    return st;
}

static mlic_status alloc_result(mlic_eval_result *r, size_t n, int k)
{
    r->num_images = n;
    r->num_classes = k;
    r->per_class = calloc((size_t)k, sizeof *r->per_class);
    r->thresholds = malloc((size_t)k * sizeof *r->thresholds);
    r->scores = malloc(n * (size_t)k * sizeof *r->scores);
    r->targets = calloc(n * (size_t)k, 1);
    if (!r->per_class || !r->thresholds || !r->scores || !r->targets)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory for the scores of %zu images x %d classes",
                         n, k);
    return MLIC_OK;
}

static mlic_status infer_all(mlic_eval_result *r, mlic_engine *e, const mlic_model *m,
                             const mlic_dataset *d, const mlic_eval_opts *o)
{
    size_t *order = malloc(d->nitems * sizeof *order);
    if (!order)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < d->nitems; i++)
        order[i] = i;
    mlic_loader_cfg cfg;
    mlic_loader_cfg_init(&cfg);
    cfg.data = d;
    cfg.order = order;
    cfg.count = d->nitems;
    cfg.batch_size = o->batch_size ? o->batch_size : DEFAULT_BATCH;
    cfg.pre = mlic_model_preprocess(m);
    cfg.workers = o->workers;
    cfg.decode = mlic_decode_opts_for_eval(&cfg.pre, o->max_pixels);
    cfg.storage = o->storage;
    cfg.cache = o->cache;
    mlic_loader *l;
    mlic_status st = mlic_loader_create(&l, &cfg);
    free(order);
    if (st != MLIC_OK)
        return st;
    const mlic_batch *b;
    int k = r->num_classes;
    while ((st = mlic_loader_next(l, &b)) == MLIC_OK && b) {
        float *rows = r->scores + b->index * (size_t)cfg.batch_size * k;
        if ((st = mlic_engine_run(e, rows, b->images, b->n)) != MLIC_OK) {
            mlic_fail_prefix(st, "inference on batch %zu: ", b->index);
            break;
        }
    }
    mlic_loader_destroy(l);
    return st;
}

mlic_status mlic_eval_engine(mlic_eval_result *out, mlic_engine *e, const mlic_model *m,
                             const mlic_dataset *d, const mlic_eval_opts *o, const char *what)
{
    memset(out, 0, sizeof *out);
    if (!e || !m || !d || !o)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "evaluate: engine, model, data set and options are "
                         "all needed");
    if (o->batch_size < 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "evaluate: batch size %d. HINT: use 1 or more, or "
                         "0 for %d", o->batch_size, DEFAULT_BATCH);
    if (o->threshold > 1.0f)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "evaluate: threshold %g is above 1. HINT: use a "
                         "probability in [0, 1], or < 0 for the model's", (double)o->threshold);
    if (d->nitems == 0)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: no images to evaluate on", what);
    if (d->nitems > INT_MAX)
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "%s: %zu images; evaluation takes at most %d",
                         what, d->nitems, INT_MAX);
    int k = mlic_model_num_classes(m);
    int *map = malloc((size_t)(d->num_classes ? d->num_classes : 1) * sizeof *map);
    if (!map)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    mlic_status st = mlic_eval_map_classes(map, m, d, what);
    if (st == MLIC_OK)
        st = alloc_result(out, d->nitems, k);
    if (st == MLIC_OK) {
        for (size_t i = 0; i < d->nitems; i++)
            for (int j = 0; j < d->items[i].nlabels; j++)
                out->targets[i * (size_t)k + (size_t)map[d->items[i].labels[j]]] = 1;
        for (int c = 0; c < k; c++)
            out->thresholds[c] = o->threshold >= 0 ? o->threshold : mlic_model_threshold(m, c);
        st = infer_all(out, e, m, d, o);
    }
    free(map);
    if (st == MLIC_OK)
        st = mlic_metrics_compute(&out->summary, out->per_class, out->scores, out->targets,
                                  (int)d->nitems, k, out->thresholds);
    return st;
}
