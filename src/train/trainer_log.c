#include "train/trainer_log.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "util/file_open.h"
#include "util/file_write.h"
#include "util/json_write.h"
#include "util/strbuf.h"

static const char *optim_name(mlic_optim_kind k)
{
    return k == MLIC_OPTIM_ADAMW ? "adamw" : "sgd";
}

static const char *sched_name(mlic_sched_kind k)
{
    static const char *const names[] = {"constant", "step", "cosine", "onecycle"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static const char *loss_name(mlic_loss_kind k)
{
    static const char *const names[] = {"bce", "focal", "asl"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

char *mlic_trainer_config_json(const mlic_train_opts *o, const mlic_model *m, size_t train_items)
{
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, o->seed);
    cJSON *root = cJSON_CreateObject();
    cJSON *classes = NULL;
    int ok = root && cJSON_AddStringToObject(root, "arch", o->arch) &&
             (classes = cJSON_AddArrayToObject(root, "classes")) &&
             cJSON_AddNumberToObject(root, "train_items", (double)train_items) &&
             cJSON_AddNumberToObject(root, "crop", o->crop) &&
             cJSON_AddNumberToObject(root, "resize", o->resize) &&
             cJSON_AddNumberToObject(root, "jitter", o->jitter) &&
             cJSON_AddNumberToObject(root, "batch_size", o->batch_size) &&
             cJSON_AddStringToObject(root, "optimizer", optim_name(o->optimizer)) &&
             cJSON_AddNumberToObject(root, "lr", o->lr) &&
             cJSON_AddNumberToObject(root, "weight_decay", o->weight_decay) &&
             cJSON_AddNumberToObject(root, "momentum", o->momentum) &&
             cJSON_AddNumberToObject(root, "max_grad_norm", o->max_grad_norm) &&
             cJSON_AddStringToObject(root, "schedule", sched_name(o->schedule)) &&
             cJSON_AddNumberToObject(root, "warmup_epochs", o->warmup_epochs) &&
             cJSON_AddNumberToObject(root, "lr_step_epochs", o->lr_step_epochs) &&
             cJSON_AddStringToObject(root, "loss", loss_name(o->loss)) &&
             cJSON_AddBoolToObject(root, "freeze_backbone", o->freeze_backbone) &&
             cJSON_AddBoolToObject(root, "confine_to_root", o->confine_to_root) &&
             cJSON_AddNumberToObject(root, "ema", o->ema) &&
             cJSON_AddNumberToObject(root, "mixup", o->mixup) &&
             cJSON_AddNumberToObject(root, "cutmix", o->cutmix) &&
             cJSON_AddNumberToObject(root, "crop_scale", o->crop_scale) &&
             cJSON_AddStringToObject(root, "seed", seed);
    for (int i = 0; ok && i < m->num_classes; i++) {
        cJSON *c = cJSON_CreateString(m->classes[i]);
        ok = c && cJSON_AddItemToArray(classes, c);
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

/* ---------------------------------------------------------------- the log file */

/* Replace path by its old content (when keep) plus line, through a temporary file. */
static mlic_status rewrite(const char *path, const char *line, int keep)
{
    mlic_strbuf all;
    mlic_strbuf_init(&all);
    FILE *in = NULL;
    if (keep && access(path, F_OK) == 0) {
        mlic_status s = mlic_file_fopen_read(&in, path, NULL, 0);
        if (s != MLIC_OK) {
            mlic_strbuf_free(&all);
            return mlic_fail_prefix(s, "--log: ");
        }
        char buf[8192];
        for (size_t got; (got = fread(buf, 1, sizeof buf, in)) > 0;)
            mlic_strbuf_append(&all, buf, got);
        fclose(in);
    }
    mlic_strbuf_puts(&all, line);
    mlic_status s;
    if (all.oom) {
        s = mlic_fail(MLIC_ERR_NOMEM, "--log %s: out of memory", path);
    } else if ((s = mlic_file_write_atomic(path, all.data ? all.data : "", all.len))) {
        mlic_fail_prefix(s, "--log ");
    }
    mlic_strbuf_free(&all);
    return s;
}

mlic_status mlic_trainer_log_truncate(const char *path)
{
    return rewrite(path, "", 0);
}

static void key(mlic_strbuf *b, const char *name)
{
    mlic_strbuf_printf(b, "%s\"%s\": ", b->len > 1 ? ", " : "", name);
}

static void num(mlic_strbuf *b, const char *name, double v)
{
    key(b, name);
    mlic_json_write_float(b, v);
}

static mlic_status finish_line(mlic_strbuf *b, const char *path)
{
    mlic_strbuf_puts(b, "}\n");
    mlic_status s = b->oom ? mlic_fail(MLIC_ERR_NOMEM, "--log %s: out of memory", path)
                           : rewrite(path, b->data, 1);
    mlic_strbuf_free(b);
    return s;
}

mlic_status mlic_trainer_log_epoch(const char *path, const mlic_trainer_epoch_log *e)
{
    mlic_strbuf b;
    mlic_strbuf_init(&b);
    mlic_strbuf_putc(&b, '{');
    key(&b, "epoch");
    mlic_strbuf_printf(&b, "%d", e->epoch);
    key(&b, "step");
    mlic_strbuf_printf(&b, "%" PRId64, e->step);
    num(&b, "lr", e->lr);
    num(&b, "train_loss", e->train_loss);
    num(&b, "images_per_s", e->images_per_s);
    num(&b, "seconds", e->seconds);
    num(&b, "val_loss", e->val_loss);
    num(&b, "map", e->val_map);
    num(&b, "cf1", e->val_cf1);
    num(&b, "of1", e->val_of1);
    key(&b, "best");
    mlic_json_write_bool(&b, e->best);
    return finish_line(&b, path);
}

mlic_status mlic_trainer_log_final(const char *path, const mlic_metrics *tuned, int best_epoch,
                                   const float *thresholds, int k, const char *config)
{
    mlic_strbuf b;
    mlic_strbuf_init(&b);
    mlic_strbuf_putc(&b, '{');
    key(&b, "final");
    mlic_json_write_bool(&b, 1);
    if (tuned) {
        key(&b, "best_epoch");
        mlic_strbuf_printf(&b, "%d", best_epoch);
        num(&b, "map", tuned->map);
        num(&b, "cf1", tuned->cf1);
        num(&b, "of1", tuned->of1);
        key(&b, "thresholds");
        for (int i = 0; i < k; i++) {
            mlic_strbuf_putc(&b, i ? ',' : '[');
            mlic_json_write_float(&b, thresholds[i]);
        }
        mlic_strbuf_putc(&b, ']');
    }
    key(&b, "config");
    mlic_strbuf_puts(&b, config);
    return finish_line(&b, path);
}

/* ---------------------------------------------------------------- reading it back */

/* The largest epoch and step numbers a log line may carry (mlic train takes at most 100,000
 * epochs). */
#define MAX_EPOCH 1e9
#define MAX_STEP 1e15

void mlic_trainer_log_free(mlic_trainer_log *l)
{
    if (!l)
        return;
    free(l->epochs);
    free(l->thresholds);
    free(l->config);
    memset(l, 0, sizeof *l);
}

/* A number, or NaN for null or a missing key (the writer's NaN). */
static double get_num(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static mlic_status read_epoch(mlic_trainer_log *l, const cJSON *o, const char *path, long line)
{
    const cJSON *epoch = cJSON_GetObjectItemCaseSensitive(o, "epoch");
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(o, "step");
    /* Whole numbers in the ranges a run can reach (converting anything larger is undefined). */
    if (!cJSON_IsNumber(epoch) || !cJSON_IsNumber(step) || !(epoch->valuedouble >= 1) ||
        epoch->valuedouble > MAX_EPOCH || epoch->valuedouble != floor(epoch->valuedouble) ||
        !(step->valuedouble >= 0) || step->valuedouble > MAX_STEP ||
        step->valuedouble != floor(step->valuedouble))
        return mlic_fail(MLIC_ERR_FORMAT, "%s:%ld: an epoch line needs \"epoch\" (a whole number "
                         "from 1) and \"step\" (a whole number from 0). HINT: give the JSON Lines "
                         "file that mlic train --log wrote", path, line);
    if (l->nepochs == INT_MAX)
        return mlic_fail(MLIC_ERR_FORMAT, "%s:%ld: more than %d epoch lines", path, line, INT_MAX);
    if ((l->nepochs & (l->nepochs - 1)) == 0) { /* 0, 1, 2, 4...: double the room */
        const size_t room = l->nepochs ? 2 * (size_t)l->nepochs : 1;
        mlic_trainer_epoch_log *grown = realloc(l->epochs, room * sizeof *grown);
        if (!grown)
            return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory", path);
        l->epochs = grown;
    }
    l->epochs[l->nepochs++] = (mlic_trainer_epoch_log){
        .epoch = (int)epoch->valuedouble,
        .step = (int64_t)step->valuedouble,
        .lr = get_num(o, "lr"),
        .train_loss = get_num(o, "train_loss"),
        .images_per_s = get_num(o, "images_per_s"),
        .seconds = get_num(o, "seconds"),
        .val_loss = get_num(o, "val_loss"),
        .val_map = get_num(o, "map"),
        .val_cf1 = get_num(o, "cf1"),
        .val_of1 = get_num(o, "of1"),
        .best = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "best")),
    };
    return MLIC_OK;
}

static mlic_status read_final(mlic_trainer_log *l, const cJSON *o, const char *path, long line)
{
    l->has_final = 1;
    const cJSON *best = cJSON_GetObjectItemCaseSensitive(o, "best_epoch");
    l->best_epoch = cJSON_IsNumber(best) && best->valuedouble >= 1 &&
                            best->valuedouble <= MAX_EPOCH
                        ? (int)best->valuedouble
                        : 0;
    l->map = get_num(o, "map");
    l->cf1 = get_num(o, "cf1");
    l->of1 = get_num(o, "of1");
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(o, "thresholds");
    if (cJSON_IsArray(thr)) {
        int n = cJSON_GetArraySize(thr), i = 0;
        l->thresholds = malloc((size_t)(n ? n : 1) * sizeof *l->thresholds);
        if (!l->thresholds)
            return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory", path);
        const cJSON *v;
        cJSON_ArrayForEach(v, thr)
            l->thresholds[i++] = cJSON_IsNumber(v) ? (float)v->valuedouble : NAN;
        l->nthresholds = n;
    }
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(o, "config");
    if (cJSON_IsObject(config) && !(l->config = cJSON_PrintUnformatted(config)))
        return mlic_fail(MLIC_ERR_NOMEM, "%s:%ld: out of memory", path, line);
    return MLIC_OK;
}

mlic_status mlic_trainer_log_read(mlic_trainer_log *out, const char *path)
{
    memset(out, 0, sizeof *out);
    FILE *f;
    mlic_status st = mlic_file_fopen_read(&f, path, NULL, 0);
    if (st != MLIC_OK)
        return st;
    char *text = NULL;
    size_t cap = 0;
    ssize_t len;
    long line = 0;
    while (st == MLIC_OK && (len = getline(&text, &cap, f)) >= 0) {
        line++;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
            text[--len] = 0;
        if (len == 0)
            continue;
        if (out->has_final) {
            st = mlic_fail(MLIC_ERR_FORMAT, "%s:%ld: a line after the final one. HINT: a log holds "
                           "one run (mlic train --log rewrites it from the start)", path, line);
            break;
        }
        cJSON *o = cJSON_ParseWithLength(text, (size_t)len);
        if (!cJSON_IsObject(o))
            st = mlic_fail(MLIC_ERR_FORMAT, "%s:%ld: not a JSON object. HINT: give the JSON Lines "
                           "file that mlic train --log wrote", path, line);
        else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "final")))
            st = read_final(out, o, path, line);
        else
            st = read_epoch(out, o, path, line);
        cJSON_Delete(o);
    }
    if (st == MLIC_OK && ferror(f))
        st = mlic_fail(MLIC_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    free(text);
    fclose(f);
    if (st != MLIC_OK)
        mlic_trainer_log_free(out);
    return st;
}
