#include "train/trainer_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "util/file_open.h"
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
    const size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (all.oom || !tmp) {
        mlic_strbuf_free(&all);
        free(tmp);
        return mlic_fail(MLIC_ERR_NOMEM, "--log %s: out of memory", path);
    }
    snprintf(tmp, n + 16, "%s.tmp-XXXXXX", path);
    mlic_status s = MLIC_OK;
    int fd = mkstemp(tmp);
    FILE *out = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!out) {
        s = mlic_fail(MLIC_ERR_IO, "--log %s: cannot create %s: %s", path, tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
    } else {
        fchmod(fd, 0644);
        const int wrote = fwrite(all.data, 1, all.len, out) == all.len;
        const int closed = fclose(out) == 0;
        if (!wrote || !closed || rename(tmp, path) != 0)
            s = mlic_fail(MLIC_ERR_IO, "--log %s: cannot write it: %s", path, strerror(errno));
    }
    if (s != MLIC_OK && fd >= 0)
        unlink(tmp);
    free(tmp);
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
                                   const float *thresholds, int k)
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
    return finish_line(&b, path);
}
