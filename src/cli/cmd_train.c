/* mlic train: fine-tune or train a model on a labelled data set (src/train/trainer.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/interrupt.h"
#include "cli/storage_args.h"
#include "mlic.h"

#define CMD "train"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: mlic train --arch NAME --data TRAIN --output M.safetensors [options]\n"
        "\n"
        "Train a multi-label classifier (sigmoid outputs) and write it as an mlic model file.\n"
        "With --val the file holds the model of the epoch with the best validation mAP, with\n"
        "per-class thresholds tuned on the validation data (best F1 each); without, the last\n"
        "epoch's model with thresholds 0.5. A checkpoint is written after every epoch.\n"
        "\n"
        "  --arch NAME           ");
    for (int i = 0; mlic_archs()[i]; i++)
        fprintf(f, "%s%s", i ? ", " : "", mlic_archs()[i]);
    fprintf(f,
        "\n"
        "  --data TRAIN          training data: a list (path<TAB>label,label), PAI's labelled\n"
        "                        CSV, a COCO instances JSON or a Pascal VOC folder\n"
        "  --val VAL             validation data (any of those formats)\n"
        "  --classes C.txt       class names, one a line (default: the data's own)\n"
        "  --root DIR            relative image paths resolve against DIR\n"
        "  --confine-to-root     every image path of --data and --val must resolve under the\n"
        "                        root (--root, else the data set's default) after '..' and\n"
        "                        symbolic links: absolute paths, escapes and missing files\n"
        "                        fail the load (for data sets written by someone else)\n"
        "  --output M            the model file (written atomically)\n"
        "  --checkpoint FILE     the checkpoint (default: OUTPUT.ckpt)\n"
        "  --resume              continue from the checkpoint (from the start if there is none);\n"
        "                        with the same settings the result equals an uninterrupted run\n"
        "  --pretrained W        start from a torchvision state dict or an mlic model\n"
        "                        (safetensors): every tensor whose name and shape match is\n"
        "                        loaded, the classifier head is re-initialised\n"
        "  --freeze-backbone     train only the head (the backbone's batch norms use their\n"
        "                        running statistics)\n"
        "  --epochs N            (default 10)\n"
        "  --batch-size N        (default 32; incomplete last batches are dropped)\n"
        "  --optimizer O         sgd (default) or adamw\n"
        "  --lr F                peak learning rate (default: sgd 0.01, adamw 0.001)\n"
        "  --weight-decay F      on weights, not biases or norms (default: sgd 1e-4, adamw 0.01)\n"
        "  --momentum F          SGD momentum, AdamW beta1 (default 0.9)\n"
        "  --max-grad-norm F     clip the gradient's global norm to F (default: no clipping)\n"
        "  --schedule S          cosine (default), step (x0.1 every --lr-step epochs), onecycle,\n"
        "                        constant\n"
        "  --lr-step N           epochs between step-schedule decays (default 30)\n"
        "  --warmup-epochs N     linear warm-up from lr/steps to lr (default 0)\n"
        "  --loss L              bce (default), focal or asl (asymmetric loss)\n"
        "  --crop N              network input N x N (default 224)\n"
        "  --resize N            eval resize of the shorter side, 0 for none (default\n"
        "                        crop * 256/224)\n"
        "  --crop-scale F        the smallest training crop, a fraction of the image's area\n"
        "                        (RandomResizedCrop's scale (F, 1); default 0.08)\n"
        "  --jitter F            colour jitter: brightness, contrast and saturation factors\n"
        "                        drawn from [1-F, 1+F] (default 0.4; 0 turns it off)\n"
        "  --mixup A             mixup each batch with its reverse, lambda ~ Beta(A, A), soft\n"
        "                        targets (default 0: off; 0.2 to 1 is usual)\n"
        "  --cutmix A            CutMix likewise, targets mixed by the pasted area (default 0:\n"
        "                        off); with --mixup too, one or the other per batch\n"
        "  --ema DECAY           validate and save a moving average of the weights, e.g. 0.999\n"
        "                        (warmed up; default 0: off)\n"
        "  --seed N              shuffling, augmentation, dropout, init (default 0)\n"
        "  --threads N           compute threads (default: all cores)\n"
        "  --conv A              3x3 stride-1 convolutions: winograd (default; about 1.5x the\n"
        "                        speed, rounding error ~1e-5 relative) or direct (as PyTorch)\n"
        "  --workers N           image decoding threads (default: as --threads)\n"
        "  --log FILE            JSON Lines, one object per epoch and a final one (local)\n"
        "  --report FILE         at the end, the HTML page of mlic report: the model, the\n"
        "                        --log's curves and its evaluation on --val (docs/report.md)\n"
        "  --cache DIR           keep the remote images fetched in DIR, so that later epochs\n"
        "                        read them from local disk (docs/storage.md)\n"
        "  --cache-size SIZE     DIR's bound, least recently used evicted first: bytes or\n"
        "                        K, M, G, T (default 10G)\n"
        "  --sync-bn             under mpirun: batch norm on the statistics of the global\n"
        "                        batch (all ranks), not of each rank's own\n"
        "  --check-weights       under mpirun: compare the weights of all ranks after every\n"
        "                        step (a checksum; always done after every epoch)\n"
        "  -h, --help            this help\n"
        "\n"
        "--data, --val, --classes, --root, --pretrained, --output and --checkpoint may be\n"
        "s3://bucket/key or oss://bucket/key (and the data http(s)://): docs/storage.md;\n"
        "-Dbuckets is the default --root.\n"
        "Training augments with RandomResizedCrop, horizontal flips and colour jitter, and\n"
        "evaluates with resize + centre crop. docs/training.md has the details.\n"
        "Under mpirun -np N (or srun) the ranks train data-parallel: --batch-size images each\n"
        "of every global batch of N x --batch-size, gradients averaged; rank 0 validates and\n"
        "writes the files. docs/distributed.md has the details.\n"
        "SIGINT or SIGTERM ends the run after the step in hand with a checkpoint that --resume\n"
        "continues from (a second signal ends it at once).\n"
        "Exit status: 0 trained, 1 failed, 2 bad usage, 130/143 stopped by SIGINT/SIGTERM.\n\n"
        "%s", mlic_cli_storage_help);
}

typedef struct {
    int tty;
    double last;
    int line_open; /* a progress line without its newline is on screen */
} progress_state;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void eta_text(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    long t = (long)(s + 0.5);
    snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

static void end_line(progress_state *ps)
{
    if (ps->line_open)
        fputc('\n', stderr);
    ps->line_open = 0;
}

/* Step lines: redrawn a few times a second on a terminal, every 10 s in a log; epoch and info
 * lines always. */
static void on_progress(void *user, const mlic_train_progress *p)
{
    progress_state *ps = user;
    if (p->kind == MLIC_TRAIN_EVENT_INFO) {
        end_line(ps);
        fprintf(stderr, "mlic train: %s\n", p->message);
        return;
    }
    if (p->kind == MLIC_TRAIN_EVENT_STEP) {
        const double t = now_s();
        if (t - ps->last < (ps->tty ? 0.2 : 10.0) && p->batch < p->batches)
            return;
        ps->last = t;
        char eta[32];
        eta_text(eta, sizeof eta, p->eta_s);
        fprintf(stderr, "%sepoch %d/%d  batch %lld/%lld  step %lld  loss %.4f  lr %.3g  "
                "%.1f img/s  ETA %s%s", ps->tty ? "\r\033[K" : "", p->epoch, p->epochs,
                (long long)p->batch, (long long)p->batches, (long long)p->step, p->loss, p->lr,
                p->images_per_s, eta, ps->tty ? "" : "\n");
        ps->line_open = ps->tty;
        fflush(stderr);
        return;
    }
    end_line(ps);
    fprintf(stderr, "epoch %d/%d done: train loss %.4f, %.1f img/s", p->epoch, p->epochs, p->loss,
            p->images_per_s);
    if (p->has_val)
        fprintf(stderr, "; val loss %.4f mAP %.2f CF1 %.2f OF1 %.2f%s", p->val_loss, p->val_map,
                p->val_cf1, p->val_of1, p->best ? " (best)" : "");
    fprintf(stderr, "\n");
}

static int parse_seed(uint64_t *out, const char *text)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-') {
        fprintf(stderr, "mlic " CMD ": --seed '%s' is not a non-negative integer\n", text);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static int parse_double(double *out, const char *name, const char *text)
{
    float v;
    if (mlic_args_float(CMD, name, text, &v))
        return -1;
    *out = v;
    return 0;
}

/* A cancelled run's report and exit status. */
static int interrupted(int argc, char **argv)
{
    mlic_cli_interrupt_report(CMD, mlic_errmsg(), argc, argv);
    return mlic_cli_interrupt_exit_code();
}

static const char *report_path; /* --report */

/* The page of mlic report on the model just written: its log, its evaluation on --val. */
static int write_report(const mlic_train_opts *o)
{
    if (!report_path)
        return 0;
    mlic_report_opts r;
    mlic_report_opts_init(&r);
    r.eval.model_path = o->output_path;
    r.output_path = report_path;
    r.log_path = o->log_path;
    r.eval.data_path = o->val_path;
    r.eval.data.root = o->root;
    r.eval.data.classes_path = o->classes_path;
    r.eval.data.confine_to_root = o->confine_to_root;
    r.eval.data.storage = o->storage;
    r.eval.threads = o->threads;
    r.eval.decode_threads = o->workers;
    if (mlic_report_run(&r) != MLIC_OK) {
        fprintf(stderr, "mlic " CMD ": --report: %s\n", mlic_errmsg());
        return 1;
    }
    fprintf(stderr, "mlic " CMD ": report written to %s\n", report_path);
    return 0;
}

static int run_one(mlic_train_opts *o, progress_state *ps, int argc, char **argv)
{
    mlic_status s = mlic_train_run(o);
    end_line(ps);
    if (s == MLIC_ERR_CANCELLED)
        return interrupted(argc, argv);
    if (s != MLIC_OK) {
        fprintf(stderr, "mlic " CMD ": %s\n", mlic_errmsg());
        return 1;
    }
    return write_report(o);
}

/* A process of an mpirun/srun job: all ranks train, rank 0 reports progress. */
static int run_ranks(mlic_train_opts *o, progress_state *ps, int argc, char **argv)
{
    int rank, size, local;
    mlic_status js = mlic_job_join(&rank, &size, &local);
    if (js != MLIC_OK) {
        fprintf(stderr, "mlic " CMD ": %s\n", mlic_errmsg());
        return js == MLIC_ERR_UNSUPPORTED ? 2 : 1; /* many processes, a build without MPI */
    }
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (!o->threads)
        o->threads = cores > local ? (int)(cores / local) : 1;
    o->distributed = size > 1; /* one process: no collectives, as without a launcher */
    if (rank != 0)
        o->progress = NULL;
    int abort_job = 0;
    o->abort_job = &abort_job;
    mlic_status s = mlic_train_run(o);
    end_line(ps);
    if (abort_job) {
        fprintf(stderr, "mlic " CMD ": rank %d of %d: %s; aborting the job, as the other ranks "
                "would wait for this one\n", rank, size, mlic_errmsg());
        fflush(stderr);
        mlic_job_abort(1);
    }
    int code = s == MLIC_OK ? 0 : 1;
    if (s == MLIC_ERR_CANCELLED)
        code = rank == 0 ? interrupted(argc, argv) : mlic_cli_interrupt_exit_code();
    else if (s != MLIC_OK)
        fprintf(stderr, "mlic " CMD ": rank %d of %d: %s\n", rank, size, mlic_errmsg());
    else if (rank == 0)
        code = write_report(o);
    mlic_job_leave();
    return code;
}

int mlic_cmd_train(int argc, char **argv)
{
    mlic_train_opts o;
    mlic_train_opts_init(&o);
    /* NULL: mlic_train_opts_init's choice (the library owns every default) */
    const char *optimizer = NULL, *schedule = NULL, *loss = NULL, *conv = "winograd";
    const char *lr = NULL, *wd = NULL, *momentum = NULL, *seed = NULL, *grad_norm = NULL, *jitter = NULL;
    const char *cache_size = NULL, *ema = NULL, *mixup = NULL, *cutmix = NULL, *crop_scale = NULL;
    mlic_cli_storage storage;
    mlic_cli_storage_init(&storage);
    o.storage = &storage.opts;
    int crop = 0, resize = -1; /* -1: crop * 256/224; 0: no resize */
    const struct {
        const char *name;
        const char **dst;
    } texts[] = {
        {"--arch", &o.arch}, {"--data", &o.train_path}, {"--val", &o.val_path},
        {"--classes", &o.classes_path}, {"--root", &o.root}, {"--output", &o.output_path},
        {"--checkpoint", &o.checkpoint_path}, {"--pretrained", &o.pretrained_path},
        {"--log", &o.log_path}, {"--optimizer", &optimizer}, {"--schedule", &schedule},
        {"--loss", &loss}, {"--lr", &lr}, {"--weight-decay", &wd}, {"--momentum", &momentum},
        {"--max-grad-norm", &grad_norm}, {"--seed", &seed}, {"--jitter", &jitter},
        {"--conv", &conv}, {"--report", &report_path}, {"--cache", &o.cache_dir},
        {"--cache-size", &cache_size}, {"--ema", &ema}, {"--mixup", &mixup}, {"--cutmix", &cutmix},
        {"--crop-scale", &crop_scale},
    };
    /* --stop-after-epochs N ends the run after N epochs as if it were killed: for tests of
     * --resume, not shown in --help. */
    const struct {
        const char *name;
        int *dst;
        long lo, hi;
    } ints[] = {
        {"--epochs", &o.epochs, 1, 100000}, {"--batch-size", &o.batch_size, 1, 4096},
        {"--warmup-epochs", &o.warmup_epochs, 0, 100000},
        {"--lr-step", &o.lr_step_epochs, 1, 100000}, {"--crop", &crop, 32, 4096},
        {"--resize", &resize, 0, 8192}, {"--threads", &o.threads, 0, 1024},
        {"--workers", &o.workers, 0, 1024},
        {"--stop-after-epochs", &o.stop_after_epochs, 1, 100000},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (mlic_args_is_help(a)) {
            usage(stdout);
            return 0;
        }
        if (mlic_args_flag(a, "--freeze-backbone")) {
            o.freeze_backbone = 1;
            continue;
        }
        if (mlic_args_flag(a, "--resume")) {
            o.resume = 1;
            continue;
        }
        if (mlic_args_flag(a, "--sync-bn")) {
            o.sync_bn = 1;
            continue;
        }
        if (mlic_args_flag(a, "--check-weights")) {
            o.check_weights = 1;
            continue;
        }
        if (mlic_args_flag(a, "--confine-to-root")) {
            o.confine_to_root = 1;
            continue;
        }
        int r = mlic_cli_storage_option(&storage, CMD, argc, argv, &i);
        if (r < 0)
            return 2;
        for (size_t k = 0; k < sizeof texts / sizeof texts[0] && !r; k++)
            if ((r = mlic_args_value(CMD, argc, argv, &i, texts[k].name, &v)) > 0)
                *texts[k].dst = v;
        for (size_t k = 0; k < sizeof ints / sizeof ints[0] && !r; k++)
            if ((r = mlic_args_value(CMD, argc, argv, &i, ints[k].name, &v)) > 0 &&
                mlic_args_int(CMD, ints[k].name, v, ints[k].lo, ints[k].hi, ints[k].dst))
                return 2;
        if (r < 0)
            return 2;
        if (!r)
            return mlic_args_usage_error(CMD, "unknown option '%s'", a);
    }
    if (!o.arch || !o.train_path || !o.output_path)
        return mlic_args_usage_error(CMD, "--arch, --data and --output are required");
    mlic_cli_storage_finish(&storage, CMD);
    if (!o.root)
        o.root = storage.buckets;
    mlic_optim_kind ok = o.optimizer;
    mlic_sched_kind sk = o.schedule;
    mlic_loss_kind lk = o.loss;
    if ((optimizer && mlic_optim_parse_kind(&ok, optimizer)) ||
        (schedule && mlic_sched_parse_kind(&sk, schedule)) || (loss && mlic_loss_parse_kind(&lk, loss)))
        return mlic_args_usage_error(CMD, "%s", mlic_errmsg());
    if (strcmp(conv, "winograd") && strcmp(conv, "direct"))
        return mlic_args_usage_error(CMD, "--conv '%s': use winograd or direct", conv);
    o.direct_conv = !strcmp(conv, "direct");
    if (optimizer)
        mlic_train_opts_optimizer_defaults(&o, ok);
    o.schedule = sk;
    o.loss = lk;
    if ((lr && parse_double(&o.lr, "--lr", lr)) ||
        (wd && parse_double(&o.weight_decay, "--weight-decay", wd)) ||
        (momentum && parse_double(&o.momentum, "--momentum", momentum)) ||
        (grad_norm && mlic_args_float(CMD, "--max-grad-norm", grad_norm, &o.max_grad_norm)) ||
        (jitter && mlic_args_float(CMD, "--jitter", jitter, &o.jitter)) ||
        (crop_scale && mlic_args_float(CMD, "--crop-scale", crop_scale, &o.crop_scale)) ||
        (seed && parse_seed(&o.seed, seed)) ||
        (ema && mlic_args_float(CMD, "--ema", ema, &o.ema)) ||
        (mixup && mlic_args_float(CMD, "--mixup", mixup, &o.mixup)) ||
        (cutmix && mlic_args_float(CMD, "--cutmix", cutmix, &o.cutmix)))
        return 2;
    if (cache_size && !o.cache_dir)
        return mlic_args_usage_error(CMD, "--cache-size bounds --cache DIR, which is not given");
    if (cache_size && mlic_parse_size(&o.cache_bytes, cache_size) != MLIC_OK)
        return mlic_args_usage_error(CMD, "%s", mlic_errmsg());
    if (crop)
        o.crop = crop;
    o.resize = resize >= 0 ? resize : (int)lround(o.crop * 256.0 / 224.0);
    progress_state ps = {.tty = isatty(STDERR_FILENO)};
    o.progress = on_progress;
    o.progress_user = &ps;
    o.cancel = mlic_cli_interrupt_install();
    return mlic_job_launched() ? run_ranks(&o, &ps, argc, argv) : run_one(&o, &ps, argc, argv);
}
