/* mlic predict: options in mlic's spelling (--model M ...) or EasyVision's (-Dmodel_path=M ...),
 * so an ev_predict_ext command line runs with little more than its "pai -name" part removed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/interrupt.h"
#include "cli/progress_line.h"
#include "cli/storage_args.h"
#include "mlic.h"

static void predict_usage(FILE *f)
{
    fprintf(f,
        "usage: mlic predict --model M --input LIST --output OUT [options]\n"
        "\n"
        "Label every image of LIST (one per line) and write one line per input, in order, to OUT\n"
        "(written to OUT.part-* files with a progress journal, renamed or joined into OUT when\n"
        "complete).\n"
        "\n"
        "  --model M             model file (mlic import makes one)\n"
        "  --input LIST          the list: paths, file://, http(s)://, s3:// or oss:// URLs, or\n"
        "                        base64 lines\n"
        "  --output OUT          the result file (a path, s3://bucket/key or oss://bucket/key)\n"
        "  --image-type T        url (default) or base64: 'ID<TAB>BASE64' or 'BASE64' per line\n"
        "  --format F            ev (default): '<path>, <json>'; jsonl: '{\"path\": ..., ...}'\n"
        "  --threshold T         one threshold in [0,1] for every class (default: the model's)\n"
        "  --batch-size N        images per inference batch (default 32)\n"
        "  --threads N           inference threads per process (default: the cores, divided\n"
        "                        between the processes on this machine)\n"
        "  --decode-threads N    fetch/decode threads per process (default: as for --threads;\n"
        "                        raise it for lists of slow http URLs)\n"
        "  --root DIR            relative paths resolve against DIR (default: the list's folder;\n"
        "                        may be s3://bucket/prefix/ or oss://...)\n"
        "  --backend B           auto (default), ref, onednn or cuda\n"
        "  --precision P         fp32 (default), bf16 (an error without AVX512_BF16 or AMX) or\n"
        "                        auto (bf16 where the CPU has it): docs/precision.md\n"
        "                        (an int8 model, from mlic quantize, runs in int8)\n"
        "  --max-pixels N        refuse larger images (default %llu)\n"
        "  --max-line-bytes N    a longer list line gets an error line and is skipped unread\n"
        "                        (default %llu: a base64 image of 12 MiB)\n"
        "  --confine-to-root     local inputs must lie under --root (after '..' and symbolic\n"
        "                        links); absolute paths and file:// URLs are refused: for\n"
        "                        lists written by someone else\n"
        "  --timeout S           seconds per HTTP attempt (default 60; 3 retries)\n"
        "  --workers N           split the list between N processes on this machine (default 1);\n"
        "                        under mpirun/srun the launcher's processes split it instead\n"
        "  --resume              finish an interrupted run of the same command (same list, model,\n"
        "                        options and number of processes) instead of refusing to start\n"
        "  --staging DIR         an s3:// or oss:// OUT is written here first and uploaded as it\n"
        "                        grows (default: ~/.cache/mlic/staging)\n"
        "  --part-size BYTES     upload parts of this size (default 8 MiB; stores refuse parts\n"
        "                        below 5 MiB except the last)\n"
        "  --progress, --no-progress\n"
        "                        progress line on stderr (default: when stderr is a terminal)\n"
        "\n"
        "EasyVision's spelling (ev_predict_ext) is accepted too:\n"
        "  -Dmodel_path=M -Dinput_oss_file=LIST -Doutput_oss_file=OUT -Dimage_type=url|base64\n"
        "  -Dmodel_type=multilabel_classifier -Dnum_worker=N (as --workers) -Dbatch_size=N\n"
        "  -DossHost -Darn -Dbuckets (below; -Dbuckets is also the default --root, and a\n"
        "  relative OUT lies under it) (-DcpuRequired -DgpuRequired -DenableDynamicCluster are\n"
        "  accepted and ignored)\n"
        "\n"
        "%s"
        "\n"
        "Exit status: 0 all inputs ok, 3 some failed (their lines hold an \"error\"), 2 bad usage,\n"
        "1 the run failed, 130/143 stopped by SIGINT/SIGTERM (a second signal ends it at once).\n"
        "An interrupted or failed run keeps its finished work next to OUT (OUT.part-*): rerun\n"
        "the same command with --resume. docs/distributed.md has more.\n",
        (unsigned long long)MLIC_DEFAULT_MAX_PIXELS,
        (unsigned long long)MLIC_DEFAULT_MAX_LINE_BYTES, mlic_cli_storage_help);
}

#define CMD "predict"

static int parse_u64(uint64_t *out, const char *name, const char *text)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || x == 0) {
        fprintf(stderr, "mlic " CMD ": %s '%s' is not a positive integer\n", name, text);
        return -1;
    }
    *out = (uint64_t)x;
    return 0;
}

static int parse_float_in(float *out, const char *name, const char *text, float lo, float hi)
{
    if (mlic_args_float(CMD, name, text, out))
        return -1;
    if (!(*out >= lo && *out <= hi)) {
        fprintf(stderr, "mlic " CMD ": %s '%s' is not in [%g, %g]\n", name, text, lo, hi);
        return -1;
    }
    return 0;
}

/* EasyVision options that only mean something on PAI (resources). */
static const char *const ignored_ev_options[] = {
    "cpuRequired", "gpuRequired", "enableDynamicCluster",
};

/* The storage options of this process's run (o.storage points here). */
static mlic_cli_storage storage;
/* A relative output under -Dbuckets. */
static char output_buf[4096];

#define MAX_WORKERS 4096

/* One option with its value: sets the field; 0, or nonzero after printing what is wrong. */
static int apply_option(mlic_predict_opts *o, int *workers, const char *name, const char *v)
{
    float x;
    if (!strcmp(name, "--model") || !strcmp(name, "-Dmodel_path")) {
        o->model_path = v;
    } else if (!strcmp(name, "--input") || !strcmp(name, "-Dinput_oss_file")) {
        o->input_path = v;
    } else if (!strcmp(name, "--output") || !strcmp(name, "-Doutput_oss_file")) {
        o->output_path = v;
    } else if (!strcmp(name, "--root")) {
        o->root = v;
    } else if (!strcmp(name, "--staging")) {
        o->staging_dir = v;
    } else if (!strcmp(name, "--part-size")) {
        return parse_u64(&o->part_size, name, v);
    } else if (!strcmp(name, "--image-type") || !strcmp(name, "-Dimage_type")) {
        if (!strcmp(v, "url"))
            o->image_type = MLIC_IMAGE_TYPE_URL;
        else if (!strcmp(v, "base64"))
            o->image_type = MLIC_IMAGE_TYPE_BASE64;
        else
            return mlic_args_usage_error(CMD, "%s '%s' must be url or base64", name, v);
    } else if (!strcmp(name, "--format")) {
        if (!strcmp(v, "ev"))
            o->format = MLIC_FORMAT_EV;
        else if (!strcmp(v, "jsonl"))
            o->format = MLIC_FORMAT_JSONL;
        else
            return mlic_args_usage_error(CMD, "%s '%s' must be ev or jsonl", name, v);
    } else if (!strcmp(name, "--threshold")) {
        if (parse_float_in(&x, name, v, 0.0f, 1.0f))
            return -1;
        o->threshold = x;
    } else if (!strcmp(name, "--batch-size") || !strcmp(name, "-Dbatch_size")) {
        return mlic_args_int(CMD, name, v, 1, 4096, &o->batch_size);
    } else if (!strcmp(name, "--threads")) {
        return mlic_args_int(CMD, name, v, 0, 1024, &o->threads);
    } else if (!strcmp(name, "--decode-threads")) {
        return mlic_args_int(CMD, name, v, 0, 1024, &o->decode_threads);
    } else if (!strcmp(name, "--backend")) {
        if (!strcmp(v, "auto"))
            o->backend = MLIC_BACKEND_AUTO;
        else if (!strcmp(v, "ref"))
            o->backend = MLIC_BACKEND_REF;
        else if (!strcmp(v, "onednn"))
            o->backend = MLIC_BACKEND_ONEDNN;
        else if (!strcmp(v, "cuda"))
            o->backend = MLIC_BACKEND_CUDA;
        else
            return mlic_args_usage_error(CMD, "%s '%s' must be auto, ref, onednn or cuda", name, v);
    } else if (!strcmp(name, "--precision")) {
        if (mlic_precision_parse(&o->precision, v) != MLIC_OK)
            return mlic_args_usage_error(CMD, "%s", mlic_errmsg());
    } else if (!strcmp(name, "--max-pixels")) {
        return parse_u64(&o->max_pixels, name, v);
    } else if (!strcmp(name, "--max-line-bytes")) {
        uint64_t n;
        if (parse_u64(&n, name, v))
            return -1;
        if (n > SIZE_MAX / 2) {
            fprintf(stderr, "mlic " CMD ": %s '%s' is larger than this machine can hold\n", name,
                    v);
            return -1;
        }
        o->max_line_bytes = (size_t)n;
    } else if (!strcmp(name, "--timeout")) {
        if (parse_float_in(&x, name, v, 0.001f, 86400.0f))
            return -1;
        o->http_timeout = x;
    } else if (!strcmp(name, "-Dmodel_type")) {
        if (strcmp(v, "multilabel_classifier"))
            return mlic_args_usage_error(CMD, "-Dmodel_type=%s is not supported: mlic runs "
                                         "multilabel_classifier models only", v);
    } else if (!strcmp(name, "--workers") || !strcmp(name, "-Dnum_worker")) {
        return mlic_args_int(CMD, name, v, 1, MAX_WORKERS, workers);
    } else {
        return mlic_args_usage_error(CMD, "unknown option '%s'", name);
    }
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The exit status of a finished run: 0, or 3 when some inputs failed. */
static int partial_code(uint64_t failed)
{
    return failed ? MLIC_PREDICT_EXIT_PARTIAL : MLIC_PREDICT_EXIT_OK;
}

/* The exit status for a run (or share) that could not complete. */
static int failure_code(mlic_status st)
{
    return st == MLIC_ERR_INVALID_ARG ? MLIC_PREDICT_EXIT_USAGE : MLIC_PREDICT_EXIT_FAILED;
}

/* Threads per process when the caller left them automatic: the cores divided between the
 * processes on this machine, so that they do not fight over them. */
static void share_cores(mlic_predict_opts *o, int local_processes)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int each = cores > local_processes ? (int)(cores / local_processes) : 1;
    if (!o->threads)
        o->threads = each;
    if (!o->decode_threads)
        o->decode_threads = each;
}

/* The one line a distributed run ends with. */
static void print_summary(const mlic_predict_totals *t, double seconds, int nranks)
{
    char resumed[96] = "";
    if (t->answered != t->inputs)
        snprintf(resumed, sizeof resumed, " (%llu answered in this run after --resume)",
                 (unsigned long long)t->answered);
    fprintf(stderr, "mlic predict: %llu inputs, %llu succeeded, %llu failed, %.1f images/s%s, "
            "%d processes, %.2f s\n", (unsigned long long)t->inputs,
            (unsigned long long)(t->inputs - t->failed), (unsigned long long)t->failed,
            seconds > 0 ? (double)t->answered / seconds : 0.0, resumed, nranks, seconds);
}

/* Join the parts once every share is done; the exit status. */
static int merge_parts(const mlic_predict_opts *o, int nranks, double t0)
{
    mlic_predict_totals t;
    if (mlic_predict_join(o, nranks, &t) != MLIC_OK) {
        fprintf(stderr, "mlic predict: %s\n", mlic_errmsg());
        return 1;
    }
    print_summary(&t, now_seconds() - t0, nranks);
    return partial_code(t.failed);
}

static int run_single(mlic_predict_opts *o, int argc, char **argv)
{
    mlic_predict_stats stats;
    mlic_status st = mlic_predict_run(o, &stats);
    switch (st) {
    case MLIC_OK:
        return 0;
    case MLIC_ERR_PARTIAL:
        fprintf(stderr, "mlic predict: %llu of %llu inputs failed\n", (unsigned long long)stats.failed,
                (unsigned long long)stats.inputs);
        return 3;
    case MLIC_ERR_CANCELLED:
        mlic_cli_interrupt_report(CMD, mlic_errmsg(), argc, argv);
        return mlic_cli_interrupt_exit_code();
    default:
        fprintf(stderr, "mlic predict: %s\n", mlic_errmsg());
        return failure_code(st);
    }
}

/* One share of a run, in a process a launcher started; prints only what went wrong (an
 * interruption is the launcher's to report). */
static int run_share(mlic_predict_opts *o, const char *who)
{
    mlic_predict_stats stats;
    mlic_status st = mlic_predict_run(o, &stats);
    if (st == MLIC_OK || st == MLIC_ERR_PARTIAL)
        return partial_code(stats.failed);
    if (st == MLIC_ERR_CANCELLED)
        return mlic_cli_interrupt_exit_code();
    fprintf(stderr, "mlic predict [%s %d of %d]: %s\n", who, o->rank, o->nranks, mlic_errmsg());
    return failure_code(st);
}

static int run_worker(mlic_predict_opts *o, int workers)
{
    if (mlic_predict_worker_opts(o, workers) != MLIC_OK) {
        fprintf(stderr, "mlic predict: %s\n", mlic_errmsg());
        return 2;
    }
    share_cores(o, o->nranks);
    return run_share(o, "worker");
}

/* --workers N: N copies of this command, each with its share, then the parts joined. */
static int run_launcher(mlic_predict_opts *o, int workers, int argc, char **argv)
{
    const double t0 = now_seconds();
    char **wargv = calloc((size_t)argc + 2, sizeof *wargv);
    if (!wargv) {
        fprintf(stderr, "mlic predict: out of memory\n");
        return 1;
    }
    wargv[0] = "mlic";
    for (int i = 0; i < argc; i++)
        wargv[i + 1] = argv[i];
    mlic_predict_totals t;
    const mlic_status st = mlic_predict_launch(o, workers, wargv, &t);
    free(wargv);
    switch (st) {
    case MLIC_OK:
    case MLIC_ERR_PARTIAL:
        print_summary(&t, now_seconds() - t0, workers);
        return partial_code(t.failed);
    case MLIC_ERR_CANCELLED:
        mlic_cli_interrupt_report(CMD, mlic_errmsg(), argc, argv);
        return mlic_cli_interrupt_exit_code();
    default:
        fprintf(stderr, "mlic predict: %s\n", mlic_errmsg());
        return failure_code(st);
    }
}

/* A process of an mpirun/srun job: rank 0 joins the parts once all ranks are done. */
static int run_mpi(mlic_predict_opts *o, int argc, char **argv)
{
    double t0 = now_seconds();
    int rank, size, local;
    mlic_status js = mlic_job_join(&rank, &size, &local);
    if (js != MLIC_OK) {
        fprintf(stderr, "mlic predict: %s%s\n", mlic_errmsg(),
                js == MLIC_ERR_UNSUPPORTED ? ", or use --workers N on one machine" : "");
        return js == MLIC_ERR_UNSUPPORTED ? 2 : 1; /* many processes, a build without MPI */
    }
    o->rank = rank;
    o->nranks = size;
    o->exchange = mlic_job_exchange;
    if (rank != 0)
        o->progress = NULL;
    share_cores(o, local);
    int code = size > 1 ? run_share(o, "rank") : run_single(o, argc, argv);
    int failed = code == 1 || code == 2 || code > 128 ? code : 0, worst = failed;
    if (size > 1 && mlic_job_max_int(failed, &worst) != MLIC_OK)
        worst = 1;
    if (size > 1 && rank == 0) {
        if (worst > 128)
            mlic_cli_interrupt_report(CMD, "the ranks stopped; what they finished is kept next to "
                                      "the output", argc, argv);
        else if (worst)
            fprintf(stderr, "mlic predict: some of the %d ranks failed (their messages say why); what "
                    "they finished is kept next to '%s'. HINT: rerun the same command with "
                    "--resume\n", size, o->output_path);
        code = worst ? worst : merge_parts(o, size, t0);
    }
    if (size > 1 && mlic_job_bcast_int(&code) != MLIC_OK)
        code = 1;
    mlic_job_leave();
    return code;
}

int mlic_predict_parse_args(int argc, char **argv, mlic_predict_opts *op, int *workers,
                            int *progress)
{
    mlic_predict_opts o;
    mlic_predict_opts_init(&o);
    *progress = -1;
    *workers = 1;
    static const char *const valued[] = {
        "--model", "--input", "--output", "--root", "--image-type", "--format", "--threshold",
        "--batch-size", "--threads", "--decode-threads", "--backend", "--precision",
        "--max-pixels", "--timeout", "--max-line-bytes", "--workers", "--staging", "--part-size",
    };

    mlic_cli_storage_init(&storage);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mlic_args_is_help(a)) {
            predict_usage(stdout);
            return 0;
        }
        int so = mlic_cli_storage_option(&storage, CMD, argc, argv, &i);
        if (so < 0)
            return 2;
        if (so > 0)
            continue;
        if (mlic_args_flag(a, "--progress")) {
            *progress = 1;
            continue;
        }
        if (mlic_args_flag(a, "--no-progress")) {
            *progress = 0;
            continue;
        }
        if (mlic_args_flag(a, "--resume")) {
            o.resume = 1;
            continue;
        }
        if (mlic_args_flag(a, "--confine-to-root")) {
            o.confine_to_root = 1;
            continue;
        }
        char dname[64];
        const char *name = NULL, *value = NULL;
        if (!strncmp(a, "-D", 2)) {
            const char *eq = strchr(a, '=');
            if (!eq)
                return mlic_args_usage_error(CMD, "'%s' needs a value: -Dname=value", a);
            snprintf(dname, sizeof dname, "%.*s", (int)(eq - a), a);
            name = dname;
            value = eq + 1;
            int ignored = 0;
            for (size_t k = 0; k < sizeof ignored_ev_options / sizeof *ignored_ev_options; k++)
                ignored |= !strcmp(name + 2, ignored_ev_options[k]);
            if (ignored) {
                fprintf(stderr, "mlic " CMD ": note: %s is EasyVision's (PAI resources or OSS "
                        "access) and is ignored here\n", name);
                continue;
            }
        } else {
            for (size_t k = 0; k < sizeof valued / sizeof *valued && !name; k++) {
                int r = mlic_args_value(CMD, argc, argv, &i, valued[k], &value);
                if (r < 0)
                    return 2;
                if (r > 0)
                    name = valued[k];
            }
            if (!name)
                return mlic_args_usage_error(CMD, a[0] == '-' ? "unknown option '%s'" :
                                             "unexpected argument '%s'", a);
        }
        if (apply_option(&o, workers, name, value))
            return 2;
    }

    if (!o.model_path)
        return mlic_args_usage_error(CMD, "no model given: pass --model M (or -Dmodel_path=M)");
    if (!o.input_path)
        return mlic_args_usage_error(CMD, "no input list given: pass --input LIST (or -Dinput_oss_file=LIST)");
    if (!o.output_path)
        return mlic_args_usage_error(CMD, "no output given: pass --output OUT (or -Doutput_oss_file=OUT)");
    mlic_cli_storage_finish(&storage, CMD);
    o.storage = &storage.opts;
    /* -Dbuckets: the prefix relative list lines and a relative output resolve against. */
    if (storage.buckets) {
        if (!o.root)
            o.root = storage.buckets;
        if (!strstr(o.output_path, "://") && o.output_path[0] != '/') {
            const char *b = storage.buckets;
            size_t n = strlen(b);
            if ((size_t)snprintf(output_buf, sizeof output_buf, "%s%s%s", b,
                                 n && b[n - 1] == '/' ? "" : "/", o.output_path) >= sizeof output_buf)
                return mlic_args_usage_error(CMD, "-Dbuckets and the output make too long a path");
            o.output_path = output_buf;
        }
    }
    *op = o;
    return -1;
}

int mlic_cmd_predict(int argc, char **argv)
{
    mlic_predict_opts o;
    int progress, workers;
    int code = mlic_predict_parse_args(argc, argv, &o, &workers, &progress);
    if (code >= 0)
        return code;
    mlic_progress_line line;
    mlic_progress_line_init(&line);
    if (progress >= 0 ? progress : line.tty) {
        o.progress = mlic_progress_line_report;
        o.progress_user = &line;
    }

    o.cancel = mlic_cli_interrupt_install();
    if (mlic_predict_is_worker())
        return run_worker(&o, workers);
    if (mlic_job_launched()) {
        if (workers > 1)
            return mlic_args_usage_error(CMD, "--workers %d under mpirun/srun: the launcher starts the "
                                         "processes (mpirun -np N); drop --workers", workers);
        return run_mpi(&o, argc, argv);
    }
    if (workers > 1)
        return run_launcher(&o, workers, argc, argv);
    return run_single(&o, argc, argv);
}
