/* mlic: multi-label image classification in C.
 *
 * Conventions used throughout the library:
 *   - Every fallible function returns an mlic_status; on failure the calling thread's
 *     error message (mlic_errmsg()) says what went wrong and, where useful, "HINT: ...".
 *     The library never exits or prints; only the CLI does.
 *   - Handles are opaque and come in _create/_destroy (or _load/_free) pairs; _destroy(NULL)
 *     is a no-op.
 *   - Tensors are float32, row-major, NCHW unless a comment says otherwise.
 */
#ifndef MLIC_H
#define MLIC_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- version and ABI
 *
 * MLIC_VERSION_MAJOR.MINOR.PATCH versions this header and libmlic together (semantic
 * versioning). The rules every release follows, so that a program built against one version
 * knows what it may run against:
 *   - PATCH: fixes only; the API and ABI are unchanged.
 *   - MINOR: additions only: new functions and new enum values (at the end of an enum; status
 *     codes included, so treat an unknown status as a failure). Nothing existing changes its
 *     signature, meaning or numbering, and no public struct changes its size or layout: a field
 *     appended to a struct the caller allocates (mlic_predict_opts, mlic_model_spec,
 *     mlic_preprocess, ...) would be read past the end of an older program's smaller struct,
 *     so new options come as new functions, or wait for a MAJOR release. A program built
 *     against x.y runs against any x.z with z >= y.
 *   - MAJOR: anything else (a removed or changed function, a changed struct or enum).
 *   - While MAJOR is 0, a MINOR release may also break the ABI: programs are rebuilt for each
 *     0.y, and check at start-up that mlic_version() / 100 == MLIC_VERSION_NUMBER / 100.
 *   - Handles (mlic_model, mlic_engine) are opaque: their contents change in any release.
 * The model file's format has its own version (docs/model-format.md), independent of these. */
#define MLIC_VERSION_MAJOR 0
#define MLIC_VERSION_MINOR 1
#define MLIC_VERSION_PATCH 0
#define MLIC_VERSION_TEXT_(a, b, c) #a "." #b "." #c
#define MLIC_VERSION_TEXT(a, b, c) MLIC_VERSION_TEXT_(a, b, c)
/* "0.1.0" */
#define MLIC_VERSION MLIC_VERSION_TEXT(MLIC_VERSION_MAJOR, MLIC_VERSION_MINOR, MLIC_VERSION_PATCH)
/* MAJOR * 10000 + MINOR * 100 + PATCH: comparable with < and >. */
#define MLIC_VERSION_NUMBER \
    (MLIC_VERSION_MAJOR * 10000 + MLIC_VERSION_MINOR * 100 + MLIC_VERSION_PATCH)

/* MLIC_VERSION_NUMBER of the library actually linked, which may differ from the header's that
 * the program was compiled with (a shared library upgraded beneath it). */
int mlic_version(void);

/* ---------------------------------------------------------------- status */

typedef enum {
    MLIC_OK = 0,
    MLIC_ERR_INVALID_ARG,   /* a caller passed something unusable */
    MLIC_ERR_IO,            /* open/read/write/rename failed */
    MLIC_ERR_FORMAT,        /* a file's contents are malformed (model, list, JSON) */
    MLIC_ERR_UNSUPPORTED,   /* valid but not supported (arch, dtype, image format) */
    MLIC_ERR_NOMEM,
    MLIC_ERR_DECODE,        /* image bytes could not be decoded */
    MLIC_ERR_TOO_LARGE,     /* an image exceeds the pixel limit (decompression bomb guard) */
    MLIC_ERR_NETWORK,       /* a URL could not be fetched */
    MLIC_ERR_BACKEND,       /* the compute backend (oneDNN, CUDA) failed */
    MLIC_ERR_INTERNAL,
    MLIC_ERR_PARTIAL,       /* a batch job finished but some inputs failed */
    MLIC_ERR_CANCELLED      /* a long job stopped early because its cancel flag was set */
} mlic_status;

/* The last error message of the calling thread ("" if none). Valid until the next mlic call
 * on this thread. */
const char *mlic_errmsg(void);
const char *mlic_status_name(mlic_status s);

/* ---------------------------------------------------------------- images */

/* A decoded image: 8-bit RGB, interleaved, rows packed (stride = 3 * width). */
typedef struct {
    int width;
    int height;
    uint8_t *pixels; /* (H, W, 3) */
    /* Set by a JPEG decode that used DCT scaling: pixels show the full_width x full_height
     * image at `scale` (a multiple of 1/8), so that mlic_image_preprocess can compute
     * torchvision's geometry on the full image. All 0 for a full-size image (zero-initialise
     * an image you fill yourself). */
    int full_width;
    int full_height;
    float scale;
} mlic_image;

typedef struct {
    /* Refuse images with more pixels than this, judged from the header before decoding.
     * 0 means the default (MLIC_DEFAULT_MAX_PIXELS). */
    uint64_t max_pixels;
    /* If > 0, JPEG decoding may use libjpeg-turbo's DCT-domain scaling to the smallest scale
     * whose shorter side is still >= min_short_side. 0 decodes at full size. Callers that
     * preprocess should pass 2 * resize: on detailed test JPEGs the tensor then stays within
     * 0.3-0.5/255 (mean absolute) of torchvision's, against 0.6-3.6/255 with resize itself, as
     * the DCT's downscaling replaces most of PIL's antialiasing filter (full-size: ~0.005/255). */
    int min_short_side;
} mlic_decode_opts;

#define MLIC_DEFAULT_MAX_PIXELS (178956970ull) /* same default as PIL's MAX_IMAGE_PIXELS * 2 */

/* Decode JPEG, PNG, WebP, BMP or GIF (first frame), sniffed from the bytes. EXIF orientation
 * is applied for JPEG. Alpha is dropped (composited over nothing: PIL's convert("RGB")). */
mlic_status mlic_image_decode(mlic_image *out, const uint8_t *data, size_t len,
                              const mlic_decode_opts *opts);
void mlic_image_free(mlic_image *img);

typedef struct {
    int resize;      /* shorter side is resized to this (bilinear, antialiased); 0 = no resize */
    int crop;        /* centre crop of crop x crop */
    float mean[3];   /* per channel, on [0,1] values */
    float std[3];
} mlic_preprocess;

/* The decode options every evaluation-time reader uses (predict, eval, validation), so that they
 * all score the same pixels: JPEGs DCT-scaled to twice p->resize (see min_short_side). */
mlic_decode_opts mlic_decode_opts_for_eval(const mlic_preprocess *p, uint64_t max_pixels);

/* torchvision eval preprocessing: Resize(resize) + CenterCrop(crop) + ToTensor + Normalize.
 * out: (3, crop, crop). */
mlic_status mlic_image_preprocess(float *out, const mlic_image *img, const mlic_preprocess *p);

/* ---------------------------------------------------------------- models */

typedef struct mlic_model mlic_model;

/* Load and fully validate a model file (safetensors with an "mlic" metadata entry). A remote
 * path is reached with the default storage settings (mlic_model_load_from). */
mlic_status mlic_model_load(mlic_model **out, const char *path);
void mlic_model_free(mlic_model *m);

const char *mlic_model_arch(const mlic_model *m);
int mlic_model_num_classes(const mlic_model *m);
const char *mlic_model_class_name(const mlic_model *m, int i);
float mlic_model_threshold(const mlic_model *m, int i);
mlic_preprocess mlic_model_preprocess(const mlic_model *m);
/* Trainable parameters (PyTorch's sum(p.numel() for p in model.parameters())). */
uint64_t mlic_model_num_parameters(const mlic_model *m);
/* What the model file holds: "fp32", or "int8" for a model mlic_model_quantize made. */
const char *mlic_model_precision(const mlic_model *m);
/* How an int8 model's input ranges were measured ("percentile 99.99, 200 images"); "" for fp32. */
const char *mlic_model_calibration(const mlic_model *m);
/* The length in bytes of the file the model was loaded from. */
uint64_t mlic_model_file_size(const mlic_model *m);
/* The shortest decimal text that reads back (strtof) as exactly v, as the model file writes
 * thresholds, means and standard deviations; buf holds at least 32 bytes. */
void mlic_model_float_text(char *buf, float v);

/* What `mlic import` packs around a torchvision state dict. */
typedef struct {
    const char *arch;           /* resnet18|resnet34|resnet50|resnet101|mobilenet_v2 */
    const char *const *classes; /* num_classes names */
    int num_classes;
    float threshold;            /* default per-class threshold */
    mlic_preprocess pre;
} mlic_model_spec;

/* Default preprocessing (resize 256, crop 224, ImageNet mean/std). */
mlic_preprocess mlic_preprocess_default(void);

/* The checks mlic_model_import applies to a spec, for a caller that wants to refuse bad options
 * before reading anything; messages start with `what` (an option's name). Thresholds: each in
 * [0, 1]. Preprocessing: crop in [32, 4096]; resize 0 (none) or in [crop, 8192]; std a normal
 * float > 0; all finite. Class names: non-empty UTF-8 without newlines, no two alike. */
mlic_status mlic_model_check_thresholds(const float *t, int n, const char *what);
mlic_status mlic_model_check_preprocess(const mlic_preprocess *p, const char *what);
mlic_status mlic_model_check_classes(const char *const *classes, int n, const char *what);

/* Read a torchvision state dict saved as safetensors, check it against spec->arch, and write a
 * model file (atomically) to out_path. */
mlic_status mlic_model_import(const char *weights_path, const mlic_model_spec *spec,
                              const char *out_path);

/* Read an ONNX export of a supported arch (torch.onnx.export of a torchvision resnet18/34/50/101
 * or mobilenet_v2 with a linear head; float32, weights inside the file; batch norms folded into
 * the convolutions or kept), match it against spec->arch or, when that is NULL, find which arch
 * it is, and write a model file (atomically) to out_path. *arch_found (if not NULL) gets the
 * arch's name. spec->classes NULL: a file written by mlic_model_export_onnx, whose metadata
 * gives the arch, classes, thresholds and preprocessing (the rest of spec is then unused), so
 * that the model comes back exactly as exported. Builds without ONNX support (make ONNX=0)
 * return MLIC_ERR_UNSUPPORTED. */
mlic_status mlic_model_import_onnx(const char *onnx_path, const mlic_model_spec *spec,
                                   const char *out_path, const char **arch_found);

/* Write m as an ONNX model (opset 13, IR version 7), atomically: input "input" (N, 3, crop,
 * crop) float32 with the batch N dynamic, outputs "logits" and "probs" (sigmoid of the logits),
 * both (N, num_classes). The network is the unfolded torchvision one: every batch norm is a
 * BatchNormalization node with the model's own statistics (runtimes fold them when they load
 * the model), and initializers carry torchvision's state-dict names, so that mlic import --onnx
 * of the file gives back this model exactly. metadata_props: "classes" and "thresholds" (JSON
 * arrays) and "mlic" (the model file's metadata, docs/model-format.md). Builds without ONNX
 * support (make ONNX=0) return MLIC_ERR_UNSUPPORTED. */
mlic_status mlic_model_export_onnx(const mlic_model *m, const char *path);

/* Write m's weights as a plain torchvision state dict (safetensors, no mlic metadata,
 * num_batches_tracked included) to weights_path, which torchvision.models.<arch>(num_classes=K)
 * loads with strict=True, and the class names, one per line in the head's order, to
 * classes_path; each atomically. */
mlic_status mlic_model_export_torchvision(const mlic_model *m, const char *weights_path,
                                          const char *classes_path);

/* ---------------------------------------------------------------- inference engine */

typedef enum {
    MLIC_BACKEND_AUTO = 0, /* the fastest available: oneDNN if built in, else the reference */
    MLIC_BACKEND_REF,      /* plain C, the reference every other backend is tested against */
    MLIC_BACKEND_ONEDNN,
    MLIC_BACKEND_CUDA
} mlic_backend_kind;

/* The arithmetic an engine computes in (docs/precision.md). */
typedef enum {
    MLIC_PRECISION_FP32 = 0, /* fp32 throughout: the reference every test holds to */
    MLIC_PRECISION_BF16,     /* bf16 weights and activations, fp32 accumulation; an error on a
                              * CPU (or backend) without AVX512_BF16 or AMX */
    MLIC_PRECISION_AUTO,     /* bf16 where the CPU has AVX512_BF16 or AMX, else fp32 */
    MLIC_PRECISION_INT8      /* int8 convolutions: what an int8 model (mlic_model_quantize) runs
                              * in, whichever of FP32, AUTO or INT8 is asked; an error for a
                              * model that is not int8 (docs/quantization.md) */
} mlic_precision;
/* "fp32", "bf16" or "auto"; anything else is an error naming it. */
mlic_status mlic_precision_parse(mlic_precision *out, const char *name);

typedef struct mlic_engine mlic_engine;

typedef struct {
    mlic_backend_kind backend; /* AUTO */
    int max_batch;             /* images per mlic_engine_run at most; 0 = 32 */
    int threads;               /* 0 = all cores */
    mlic_precision precision;  /* FP32 */
} mlic_engine_opts;

void mlic_engine_opts_init(mlic_engine_opts *o);
/* Prepare a model for inference as o says (NULL: the defaults of mlic_engine_opts_init). The
 * engine keeps a pointer to m: free the engine first. */
mlic_status mlic_engine_create_opts(mlic_engine **out, const mlic_model *m,
                                    const mlic_engine_opts *o);
/* mlic_engine_create_opts with precision FP32 and the rest given here. */
mlic_status mlic_engine_create(mlic_engine **out, const mlic_model *m, mlic_backend_kind backend,
                               int max_batch, int threads);
void mlic_engine_destroy(mlic_engine *e);
const char *mlic_engine_backend_name(const mlic_engine *e);
/* What the engine computes in: "fp32", "bf16" (AUTO resolved) or "int8". */
const char *mlic_engine_precision_name(const mlic_engine *e);
/* The model the engine was created for. */
const mlic_model *mlic_engine_model(const mlic_engine *e);

/* probs: (n, num_classes) sigmoid outputs; input: (n, 3, crop, crop), preprocessed. */
mlic_status mlic_engine_run(mlic_engine *e, float *probs, const float *input, int n);
/* Same, but the raw logits. */
mlic_status mlic_engine_run_logits(mlic_engine *e, float *logits, const float *input, int n);

/* One encoded image (JPEG, PNG, WebP, BMP or GIF bytes) -> probs, its num_classes sigmoid
 * outputs. The image is decoded and preprocessed as the engine's model says by the same code,
 * with the same decode options, as mlic predict uses, so the probabilities are those predict
 * writes for the image (with the same backend and batch size 1). max_pixels: as
 * mlic_decode_opts (0 = the default). Errors name the image as "the image". */
mlic_status mlic_predict_image(mlic_engine *e, float *probs, const uint8_t *data, size_t len,
                               uint64_t max_pixels);

/* ---------------------------------------------------------------- object storage */

/* How s3:// and oss:// locations are reached (docs/storage.md). Every field may be left NULL/0:
 * the environment and the usual configuration files then decide, in the order docs/storage.md
 * gives. The library reads the environment when a storage is made from these options, never
 * later. Secrets given here are never copied into a message, a log or a progress report. */
typedef struct {
    const char *s3_endpoint;    /* NULL: AWS_ENDPOINT_URL, else AWS's regional endpoint */
    const char *oss_endpoint;   /* NULL: OSS_ENDPOINT (EasyVision's -DossHost) */
    const char *region;         /* NULL: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1 */
    const char *access_key_id;  /* command-line credentials; NULL: the chain in docs/storage.md */
    const char *secret_access_key;
    const char *session_token;
    const char *profile;        /* ~/.aws/credentials section; NULL: AWS_PROFILE, else "default" */
    const char *role_arn;       /* non-NULL: STS AssumeRole with the credentials found (-Darn) */
    int path_style;             /* 1: always path-style URLs; 0: path-style only for an IP
                                 * address or localhost endpoint, virtual-hosted otherwise */
    int max_in_flight;          /* object-store requests in flight per fetching stage; 0 = auto */
} mlic_storage_opts;

void mlic_storage_opts_init(mlic_storage_opts *o);

/* mlic_model_load for a path that may also be s3://, oss:// or http(s)://, reached as storage
 * says (NULL: the defaults). mlic_model_load(out, path) is this with storage NULL. */
mlic_status mlic_model_load_from(mlic_model **out, const char *path,
                                 const mlic_storage_opts *storage);
/* mlic_model_import and mlic_model_import_onnx for inputs and an output that may also be
 * s3://, oss:// (and, the inputs, http(s)://), reached as storage says (NULL: the defaults); the
 * output is then written with one PUT. */
mlic_status mlic_model_import_from(const char *weights_path, const mlic_model_spec *spec,
                                   const char *out_path, const mlic_storage_opts *storage);
mlic_status mlic_model_import_onnx_from(const char *onnx_path, const mlic_model_spec *spec,
                                        const char *out_path, const char **arch_found,
                                        const mlic_storage_opts *storage);

/* A class list for mlic_model_spec.classes: a text file of class names, one a line, in the
 * order of the head's outputs (CRLF line ends and blank lines are tolerated), names checked as
 * mlic_model_check_classes does. path may be s3://, oss:// or http(s)://, reached as storage
 * says (NULL: the defaults). *names (and each name) malloc'd: release with
 * mlic_class_list_free. */
mlic_status mlic_class_list_read(char ***names, int *n, const char *path,
                                 const mlic_storage_opts *storage);
void mlic_class_list_free(char **names, int n);

/* ---------------------------------------------------------------- batch prediction */

typedef enum { MLIC_IMAGE_TYPE_URL = 0, MLIC_IMAGE_TYPE_BASE64 } mlic_image_type;
/* Holds a base64 line of a 12 MiB image; each line in flight may take this much (docs). */
#define MLIC_DEFAULT_MAX_LINE_BYTES ((size_t)16 << 20)
typedef enum { MLIC_FORMAT_EV = 0, MLIC_FORMAT_JSONL } mlic_output_format;

/* Where a run stands, for a progress line. */
typedef struct {
    uint64_t done;   /* lines written so far */
    uint64_t failed; /* of which failed */
    uint64_t total;  /* lines in the list (this rank's share when nranks > 1); 0: unknown */
    double seconds;  /* since the run started reading the list */
    int final;       /* the run has completed: the last report */
} mlic_predict_progress;

typedef struct {
    const char *model_path;
    const char *input_path;   /* the list, one image per line */
    const char *output_path;  /* written atomically */
    const char *root;         /* relative paths resolve against this; NULL = the list's folder */
    mlic_image_type image_type;
    mlic_output_format format;
    float threshold;          /* < 0: the model's per-class thresholds */
    int batch_size;           /* 0 = 32 */
    int threads;              /* inference threads, 0 = all cores */
    int decode_threads;       /* 0 = automatic */
    mlic_backend_kind backend;
    uint64_t max_pixels;      /* 0 = default */
    /* Called after every batch written and once more (final = 1) when the run completes, one
     * call at a time (from the writer thread, the final one from the caller's); rank 0 only.
     * NULL: no reports (and no counting of the list for a total). The library prints nothing. */
    void (*progress)(void *user, const mlic_predict_progress *p);
    void *progress_user;
    double http_timeout;      /* seconds per HTTP attempt (3 retries on transient errors); 0 = 60 */
    /* Distributed runs (docs/distributed.md). nranks <= 1: the whole list, written to output_path.
     * nranks > 1: this process answers share `rank` (0-based) of the list, split by bytes, and
     * leaves it in output_path.part-RRRRR-of-NNNNN with a journal; once every rank has finished,
     * the mlic CLI (rank 0, or the --workers launcher) joins the parts into output_path. */
    int rank;
    int nranks;
    /* Continue an interrupted run of the same command from its journal; without it, parts left
     * by an interrupted run make the run fail (with a hint) rather than be overwritten. */
    int resume;
    /* How a share learns its first line number when nranks > 1: called exactly once per run by
     * every rank, even one that has already failed (ok = 0), so that a collective exchange
     * (e.g. MPI_Allgather) never hangs. share_lines: lines starting in this rank's byte range
     * (0 from the last rank, which nobody needs). Sets *lines_before, the sum of share_lines of
     * the lower ranks, and *all_ok. NULL: each rank counts the newlines before its byte range
     * itself, reading up to the whole list. */
    mlic_status (*exchange)(void *ctx, uint64_t share_lines, int ok, uint64_t *lines_before,
                            int *all_ok);
    void *exchange_ctx;
    /* Hosted jobs running lists written by someone else: a local input must lie under root once
     * "..", and symbolic links are resolved; absolute paths and file:// URLs are refused. */
    int confine_to_root;
    /* A list line longer than this (bytes, newline excluded) gets one error output line and is
     * read past without being held; 0 = MLIC_DEFAULT_MAX_LINE_BYTES. */
    size_t max_line_bytes;
    /* Non-NULL: the run stops soon after *cancel becomes non-zero (e.g. set by the caller's
     * SIGINT handler; the library installs no handlers): no new lines are taken, batches already
     * written stay in the part with their journal (synced), batches in flight are dropped, and
     * the run returns MLIC_ERR_CANCELLED. A run with resume = 1 continues where it stopped. */
    const volatile sig_atomic_t *cancel;
    /* Where s3:// and oss:// paths (list, lines, model, output, root) are reached; NULL: the
     * defaults of mlic_storage_opts_init. */
    const mlic_storage_opts *storage;
    /* An output in a store: every share is written to a local part first, as for a local
     * output, under this folder (NULL: $XDG_CACHE_HOME/mlic/staging, else
     * $HOME/.cache/mlic/staging), and uploaded while it grows, in parts of part_size bytes
     * (0 = 8 MiB; stores refuse parts below 5 MiB except the last). docs/storage.md. */
    const char *staging_dir;
    uint64_t part_size;
    mlic_precision precision; /* the engine's (mlic_engine_opts); FP32 */
} mlic_predict_opts;

typedef struct {
    uint64_t inputs;
    uint64_t succeeded;
    uint64_t failed;
    double seconds;
} mlic_predict_stats;

void mlic_predict_opts_init(mlic_predict_opts *o);
/* Returns MLIC_OK if every input succeeded, MLIC_ERR_PARTIAL if some failed (their lines carry
 * an "error"), another status if the run itself could not complete. */
mlic_status mlic_predict_run(const mlic_predict_opts *o, mlic_predict_stats *stats);

/* One decoded image (8-bit RGB, as mlic_image_decode gives, e.g. from a caller's own decoder)
 * -> probs, its num_classes sigmoid outputs: mlic_image_preprocess with the engine's model's
 * preprocessing, then the engine at batch size 1, as mlic_predict_image does after decoding.
 * The pixels are used as given: a JPEG's pixels decoded elsewhere differ from those mlic
 * predict decodes (it scales JPEGs in the DCT, see mlic_decode_opts.min_short_side), a PNG's are
 * the same. */
mlic_status mlic_predict_pixels(mlic_engine *e, float *probs, const mlic_image *img);

/* ---------------------------------------------------------------- prediction across processes
 *
 * A run split into shares (mlic_predict_opts.rank and nranks, docs/distributed.md): each share
 * leaves a part and a journal next to the output, and once every share is done the parts are
 * joined. Under an MPI launcher every rank runs mlic_predict_run (exchange = mlic_job_exchange)
 * and rank 0 then calls mlic_predict_join. On one machine without a launcher,
 * mlic_predict_launch starts the processes itself: copies of the calling program, each of which
 * finds its share with mlic_predict_worker_opts. */

typedef struct {
    uint64_t inputs;   /* lines answered, every run of the job together */
    uint64_t failed;   /* of which failed (their lines carry an "error") */
    uint64_t answered; /* answered since the last resume (all of them without one) */
} mlic_predict_totals;

/* Once every one of the nranks shares of the run o describes is done: their parts joined into
 * o->output_path (an s3:// or oss:// output: the shares composed in the store), then the parts,
 * journals and staging files deleted; *totals from the journals. A share that is not done
 * fails the join, naming it, with a hint to resume. */
mlic_status mlic_predict_join(const mlic_predict_opts *o, int nranks, mlic_predict_totals *totals);

/* The exit statuses of a worker process, which mlic_predict_launch reads (mlic predict exits
 * with the same): */
#define MLIC_PREDICT_EXIT_OK 0      /* its share is done, every input succeeded */
#define MLIC_PREDICT_EXIT_FAILED 1  /* its share could not complete */
#define MLIC_PREDICT_EXIT_USAGE 2   /* its options were refused (MLIC_ERR_INVALID_ARG) */
#define MLIC_PREDICT_EXIT_PARTIAL 3 /* its share is done, some inputs failed */
/* and 128 + N: stopped by signal N (its cancel flag's signal, or killed). */

/* Whether mlic_predict_launch started this process as one of its workers (its environment says
 * so). */
int mlic_predict_is_worker(void);

/* In a worker: sets o->rank, o->nranks, o->exchange and o->exchange_ctx for its share. workers:
 * how many the worker's own options ask for, which must be the launcher's count (a malformed or
 * different count is MLIC_ERR_INVALID_ARG, naming the variable). The worker then runs
 * mlic_predict_run(o) and exits with a status above. */
mlic_status mlic_predict_worker_opts(mlic_predict_opts *o, int workers);

/* `mlic predict --workers N` for any program: refuses to start when the output's folder holds
 * parts of a run with another number of processes, starts `workers` copies of this program
 * (/proc/self/exe) with argv (NULL-terminated; argv[0] is only their name), each told in its
 * environment which share it answers, answers their exchange of line counts, waits for them
 * all and joins their parts (mlic_predict_join). Each copy must come, with the same options, to
 * mlic_predict_worker_opts and mlic_predict_run, and exit as above; it dies with the launcher,
 * and runs in a process group of its own so that a terminal's Ctrl-C reaches the launcher only:
 * once *o->cancel holds a signal number (the launcher's SIGINT or SIGTERM handler sets it), that
 * signal goes to every worker, once. Returns MLIC_OK or MLIC_ERR_PARTIAL once joined (*totals
 * set); MLIC_ERR_CANCELLED when stopped by *o->cancel; MLIC_ERR_INVALID_ARG when a worker
 * refused its options; another status when workers failed (the message says how many, and where
 * what they finished is kept for a resume), could not be started, or the join failed. */
mlic_status mlic_predict_launch(const mlic_predict_opts *o, int workers, char *const *argv,
                                mlic_predict_totals *totals);

/* The architectures a model may have (NULL-terminated): resnet18, ..., mobilenet_v2. */
const char *const *mlic_archs(void);

/* ---------------------------------------------------------------- labelled data sets
 *
 * A data set is class names plus items, each an image path and the ids of its positive classes.
 * Formats, auto-detected or named (docs/data.md): a list (`path<TAB>label,label`), PAI's
 * labelled CSV, a COCO instances JSON, a Pascal VOC folder or split file. Classes: the class file
 * if given (a label outside it is an error), else the format's own list, else every label seen,
 * sorted. Relative image paths are joined to `root`, by default the format's folder. */

typedef enum {
    MLIC_DATASET_AUTO = 0,
    MLIC_DATASET_LIST,
    MLIC_DATASET_PAI_CSV,
    MLIC_DATASET_COCO,
    MLIC_DATASET_VOC
} mlic_dataset_format;

/* Where a data set's images and files are; zero-initialise, or mlic_dataset_read_opts_init. */
typedef struct {
    mlic_dataset_format format; /* AUTO = detect */
    const char *root;           /* NULL = the format's default */
    const char *classes_path;   /* NULL = the format's list or the labels seen */
    const char *split;          /* VOC split when given a folder; NULL = "trainval" */
    int confine_to_root;        /* every image path must resolve under the root after '..' and
                                 * symbolic links (data sets written by someone else) */
    /* How s3://, oss:// and http(s):// data-set files and class files are reached (NULL: the
     * defaults, docs/storage.md); mlic_eval_run also reads the model and the images so. */
    const mlic_storage_opts *storage;
    /* The labels will not be used (calibration images): a list's line may be a bare image path,
     * as in mlic predict's input, and a data set without any label is no error. */
    int paths_only;
} mlic_dataset_read_opts;

typedef struct mlic_dataset mlic_dataset;

void mlic_dataset_read_opts_init(mlic_dataset_read_opts *o);
/* o NULL: the defaults. Errors name the file and line and what is wrong. */
mlic_status mlic_dataset_read(mlic_dataset **out, const char *path,
                              const mlic_dataset_read_opts *o);
void mlic_dataset_free(mlic_dataset *d);
/* "list", "pai_csv", "coco", "voc" (and "auto"). */
const char *mlic_dataset_format_name(mlic_dataset_format f);
mlic_status mlic_dataset_parse_format(mlic_dataset_format *out, const char *name);

mlic_dataset_format mlic_dataset_format_of(const mlic_dataset *d); /* the format read */
int mlic_dataset_num_classes(const mlic_dataset *d);
const char *mlic_dataset_class_name(const mlic_dataset *d, int i);
size_t mlic_dataset_num_items(const mlic_dataset *d);
/* Item i's image path (resolved against the root) and its positive class ids (ascending,
 * distinct; *labels may be NULL when it has none): returns how many. */
const char *mlic_dataset_item_path(const mlic_dataset *d, size_t i);
int mlic_dataset_item_labels(const mlic_dataset *d, size_t i, const int **labels);

/* ---------------------------------------------------------------- int8 quantization
 *
 * Post-training quantization (docs/quantization.md): every convolution but the first gets
 * symmetric int8 weights per output channel (of the batch-norm-folded weight) and one scale for
 * its input, measured by running the fp32 model on calibration images. */

typedef enum {
    MLIC_CALIB_PERCENTILE = 0, /* the range holding `percentile` % of |x| (the default) */
    MLIC_CALIB_MINMAX          /* the largest |x| seen */
} mlic_calib_method;

typedef struct {
    int images;                /* calibration images: the data set's first N; 0 = 200 */
    mlic_calib_method method;  /* PERCENTILE */
    double percentile;         /* PERCENTILE's, in (0, 100]; 0 = 99.99 */
    int threads;               /* 0 = all cores */
    int workers;               /* decoding threads, 0 = all cores */
} mlic_quantize_opts;

void mlic_quantize_opts_init(mlic_quantize_opts *o);
/* Make m an int8 model: calib's images (read as mlic eval reads them, preprocessed as m says)
 * give the activation ranges. m keeps its fp32 tensors; save it with mlic_model_save. An
 * already-int8 model, an empty data set or an image that cannot be read is an error naming it. */
mlic_status mlic_model_quantize(mlic_model *m, const mlic_dataset *calib,
                                const mlic_quantize_opts *o);
/* Write m to path atomically (temp file + rename), an int8 model's tensors included. */
mlic_status mlic_model_save(const mlic_model *m, const char *path);
/* "percentile" or "minmax"; anything else is an error naming it. */
mlic_status mlic_calib_method_parse(mlic_calib_method *out, const char *name);

/* ---------------------------------------------------------------- evaluation
 *
 * The metrics are those of docs/metrics.md, all in percent: AP per class (sklearn's
 * average_precision_score; NaN for a class without positives), mAP over the classes with
 * positives, CP/CR/CF1 averaged over classes, OP/OR/OF1 over all labels, each at the model's
 * per-class thresholds or one given threshold. */

typedef struct {
    double map;      /* percent; NaN when no class has a positive */
    int map_classes; /* how many classes mAP averages over */
    double cp, cr, cf1;
    double op, or_, of1;
} mlic_metrics;

typedef struct {
    double ap;        /* percent; NaN without positives */
    double precision; /* percent, at the threshold */
    double recall;
    double f1;
    int positives;    /* images labelled with the class */
    int predicted;    /* images predicted positive */
    int correct;      /* of those, labelled */
} mlic_class_metrics;

typedef struct {
    const char *model_path;
    const char *data_path;     /* a labelled data set (above), read with `data` */
    mlic_dataset_read_opts data;
    mlic_backend_kind backend;
    int batch_size;            /* 0 = 32 */
    int threads;               /* inference threads, 0 = all cores */
    int decode_threads;        /* image decoding threads, 0 = all cores */
    float threshold;           /* < 0: the model's per-class thresholds */
    uint64_t max_pixels;       /* 0 = the decoders' default */
    mlic_precision precision;  /* the engine's (mlic_engine_opts); FP32 */
    /* Non-NULL: remote images are kept in this folder (made when missing), for later runs
     * (docs/storage.md, "--cache"); cache_bytes bounds it (0 = the default, 10 GiB). */
    const char *cache_dir;
    uint64_t cache_bytes;
} mlic_eval_run_opts;

typedef struct {
    size_t num_images;
    int num_classes;                /* the model's K; rows below are in the model's class order */
    mlic_metrics summary;
    mlic_class_metrics *per_class;  /* (K) */
    float *thresholds;              /* (K) the thresholds the metrics used */
    float *scores;                  /* (num_images, K) probabilities, in data-set order */
    uint8_t *targets;               /* (num_images, K) 0/1 labels */
    char **classes;                 /* (K) the model's class names (mlic_eval_run) */
    const char *backend;            /* the engine's backend name (mlic_eval_run) */
    const char *precision;          /* what the engine computed in: fp32 or bf16 (mlic_eval_run) */
} mlic_eval_result;

/* Backend AUTO, batch 32, all cores, the model's thresholds, the data set's defaults. */
void mlic_eval_run_opts_init(mlic_eval_run_opts *o);

/* Loads o->model_path and o->data_path (data set's classes matched to the model's by name: any
 * subset in any order; a class the model lacks is an error), runs the model over every image
 * (decoded as mlic predict decodes them) and computes the metrics. *out is zeroed first and must
 * be released with mlic_eval_result_free, also after a failure. An image that cannot be read or
 * decoded fails the run, naming the file. */
mlic_status mlic_eval_run(const mlic_eval_run_opts *o, mlic_eval_result *out);
void mlic_eval_result_free(mlic_eval_result *r);

/* ---------------------------------------------------------------- report
 *
 * One self-contained HTML page about a model (docs/report.md): what it is, how its training went
 * (from mlic_train_opts.log_path's log) and how it does on a labelled data set (mlic_eval_run's
 * figures, precision-recall curves, the classes it confuses, the images it gets most wrong). */

#define MLIC_REPORT_DEFAULT_EXAMPLES 12 /* images per gallery */

typedef struct {
    /* The model (eval.model_path) and, when eval.data_path is set, its evaluation on that data,
     * run as mlic_eval_run runs it with these options (storage, cache and all). */
    mlic_eval_run_opts eval;
    /* Non-NULL: the evaluation to show instead of running one: mlic_eval_run's result for
     * `eval`, whose data_path and data must be those it ran with (the page reads the images'
     * paths from the data set). */
    const mlic_eval_result *evaluated;
    const char *log_path;    /* the trainer's JSON Lines log (local); NULL: no training section */
    const char *output_path; /* the page, written atomically */
    int max_examples;        /* images in each worst-false-positive/negative gallery; 0: none */
} mlic_report_opts;

/* mlic_eval_run_opts_init's evaluation, no data, no log, MLIC_REPORT_DEFAULT_EXAMPLES. */
void mlic_report_opts_init(mlic_report_opts *o);
/* Writes the page. A log that belongs to another model (other classes or arch) fails, naming
 * both; a log that cannot be read fails naming its line. */
mlic_status mlic_report_run(const mlic_report_opts *o);

/* ---------------------------------------------------------------- training
 *
 * Training or fine-tuning a model (docs/training.md): each epoch runs the training data's
 * augmented batches (the last incomplete one dropped) through forward, loss, backward and an
 * optimizer step; after each epoch, with validation data, loss, mAP, CF1 and OF1 of the current
 * weights, and a better mAP writes the model file; then a checkpoint. At the end the best model
 * (or the last, without validation) gets per-class thresholds tuned on the validation data (best
 * F1 each). With the same options and thread count, runs give the same model bytes. */

typedef enum { MLIC_OPTIM_SGD = 0, MLIC_OPTIM_ADAMW } mlic_optim_kind;
typedef enum {
    MLIC_SCHED_CONSTANT = 0,
    MLIC_SCHED_STEP,     /* x0.1 every lr_step_epochs */
    MLIC_SCHED_COSINE,
    MLIC_SCHED_ONECYCLE
} mlic_sched_kind;
typedef enum { MLIC_LOSS_BCE = 0, MLIC_LOSS_FOCAL, MLIC_LOSS_ASL } mlic_loss_kind;

/* A size in bytes above 0 from "10G", "512M", "64K", "1T" (powers of 1024; "KB", "KiB" and
 * lower case too) or a plain number of bytes, as --cache-size takes it; anything else is an
 * error naming the text. */
mlic_status mlic_parse_size(uint64_t *out, const char *text);

/* "sgd"/"adamw", "constant"/"step"/"cosine"/"onecycle", "bce"/"focal"/"asl". */
mlic_status mlic_optim_parse_kind(mlic_optim_kind *out, const char *name);
mlic_status mlic_sched_parse_kind(mlic_sched_kind *out, const char *name);
mlic_status mlic_loss_parse_kind(mlic_loss_kind *out, const char *name);

typedef enum {
    MLIC_TRAIN_EVENT_INFO = 0, /* a message (what was loaded, resumed from) */
    MLIC_TRAIN_EVENT_STEP,     /* after each optimizer step */
    MLIC_TRAIN_EVENT_EPOCH     /* after each epoch's validation and checkpoint */
} mlic_train_event;

/* One progress record; the pointer is valid during the callback only. */
typedef struct {
    mlic_train_event kind;
    const char *message;     /* INFO */
    int epoch, epochs;       /* 1-based */
    int64_t step;            /* optimizer steps done in the whole run */
    int64_t batch, batches;  /* STEP: batches done in this epoch, of how many */
    double loss;             /* STEP: the epoch's mean loss so far; EPOCH: the epoch's mean */
    double lr;
    double images_per_s;     /* training images per second in this epoch */
    double eta_s;            /* seconds left in the run, estimated */
    int has_val;             /* EPOCH: the figures below are set */
    double val_loss, val_map, val_cf1, val_of1; /* percent but the loss */
    int best;                /* EPOCH: this epoch's model is the best so far */
} mlic_train_progress;

typedef void (*mlic_train_progress_fn)(void *user, const mlic_train_progress *p);

typedef struct {
    const char *arch;             /* mlic_archs() */
    const char *train_path;       /* the training data (any data-set format) */
    const char *val_path;         /* NULL: no validation */
    const char *classes_path;     /* NULL: the data set's own class list */
    const char *root;             /* image paths' root; NULL = the data set's default */
    int confine_to_root;          /* every image path must lie under the root */
    const char *output_path;      /* the model file (written atomically) */
    const char *checkpoint_path;  /* NULL = output_path + ".ckpt" */
    const char *log_path;         /* JSON Lines, one object per epoch and a final one; NULL = none */
    const char *pretrained_path;  /* torchvision state dict or mlic model; NULL: from scratch */
    /* Any of the paths above but the log may be remote (s3://, oss://; the data and the
     * pretrained weights also http(s)://), reached as storage says (NULL: the defaults); the
     * model and the checkpoint are then written with one PUT each (docs/storage.md). */
    const mlic_storage_opts *storage;
    const char *cache_dir;        /* non-NULL: remote images are kept there across epochs */
    uint64_t cache_bytes;         /* its bound; 0 = the default (10 GiB, mlic_parse_size) */
    int epochs;
    int batch_size;               /* per rank */
    double lr;
    double weight_decay;          /* on weights, not biases or norms */
    double momentum;              /* SGD's momentum; AdamW's beta1 */
    float max_grad_norm;          /* > 0: clip the gradient's global norm */
    mlic_optim_kind optimizer;    /* set with mlic_train_opts_optimizer_defaults */
    mlic_sched_kind schedule;
    int warmup_epochs;            /* linear warm-up: step s of W gets lr * (s + 1) / W */
    int lr_step_epochs;           /* STEP schedule: epochs between decays (x0.1) */
    mlic_loss_kind loss;
    int crop, resize;             /* network input crop x crop; eval resize (0: none) */
    float jitter;                 /* colour jitter strength; 0 = off */
    int freeze_backbone;          /* train the head only */
    uint64_t seed;                /* shuffling, augmentation, dropout, init */
    int threads;                  /* compute threads, 0 = all cores */
    int direct_conv;              /* no Winograd 3x3 convolutions (as PyTorch; slower) */
    int workers;                  /* decoding threads, 0 = as many as threads */
    int resume;                   /* continue from the checkpoint if it exists */
    int stop_after_epochs;        /* > 0: end this run after so many epochs, as if interrupted */
    int distributed;              /* train across MPI_COMM_WORLD's ranks (MPI initialised) */
    int sync_bn;                  /* distributed: batch norm on the global batch's statistics */
    int check_weights;            /* distributed: compare the weights' checksums every step */
    /* Called on the caller's thread (rank 0 only when distributed); NULL: no reports. */
    mlic_train_progress_fn progress;
    void *progress_user;
    /* Non-NULL: once *cancel != 0 (e.g. set by a signal handler or from the progress callback)
     * the run finishes the step in hand, writes a checkpoint that resume = 1 continues from
     * exactly, and returns MLIC_ERR_CANCELLED naming it. */
    const volatile sig_atomic_t *cancel;
    /* Distributed, out (may be NULL): set to 1 when the run failed on this rank in a way the
     * other ranks cannot learn of (an MPI call failed): the caller must abort the job. */
    int *abort_job;
    /* > 0: validate and save an exponential moving average of the weights with this decay,
     * e.g. 0.999, warmed up as (1 + t) / (10 + t) (docs/training.md); 0 = off. */
    float ema;
    /* > 0: mixup / CutMix with lambda ~ Beta(alpha, alpha) and soft targets; both: one or the
     * other per batch, half each (docs/training.md); 0 = off. */
    float mixup, cutmix;
    /* RandomResizedCrop's smallest crop, a fraction of the image's area (torchvision: 0.08);
     * the largest is the whole image. */
    float crop_scale;
} mlic_train_opts;

/* The CLI's defaults: 10 epochs, batch 32, SGD lr 0.01 momentum 0.9 weight decay 1e-4, cosine
 * schedule without warm-up, step 30, BCE, crop 224, resize 256, jitter 0.4, crop scale 0.08,
 * seed 0. */
void mlic_train_opts_init(mlic_train_opts *o);
/* Sets the optimizer and its default lr, weight decay and momentum (AdamW: lr 1e-3, weight
 * decay 0.01, beta1 0.9). */
void mlic_train_opts_optimizer_defaults(mlic_train_opts *o, mlic_optim_kind kind);

/* MLIC_OK: the model file is written. MLIC_ERR_CANCELLED: stopped by *cancel, with a checkpoint. */
mlic_status mlic_train_run(const mlic_train_opts *o);

/* ---------------------------------------------------------------- multi-process jobs
 *
 * A program started by an MPI launcher (mpirun, srun; docs/distributed.md) joins the job, runs
 * mlic_train_run with distributed = 1 or mlic_predict_run with rank, nranks and exchange =
 * mlic_job_exchange on every rank, and leaves it. Builds without MPI answer as a job of one
 * process (and refuse to join a launcher's many). */

/* Whether an MPI launcher started this process (its environment says so). */
int mlic_job_launched(void);
/* Join the job (MPI_Init): this process's rank, the job's size and how many of its ranks run on
 * this machine (to divide the cores). Call once, before any other mlic_job_ function. */
mlic_status mlic_job_join(int *rank, int *nranks, int *local_ranks);
/* Leave the job (MPI_Finalize); every rank must. */
void mlic_job_leave(void);
/* End every rank of the job at once (MPI_Abort), e.g. when mlic_train_run set abort_job: the
 * other ranks would otherwise wait forever. Does not return. */
void mlic_job_abort(int code);
/* Collectives every rank must reach: the largest of each rank's `mine`, and rank 0's *value. */
mlic_status mlic_job_max_int(int mine, int *max);
mlic_status mlic_job_bcast_int(int *value);
/* mlic_predict_opts.exchange for the ranks of this job (ctx unused). */
mlic_status mlic_job_exchange(void *ctx, uint64_t share_lines, int ok, uint64_t *lines_before,
                              int *all_ok);

#ifdef __cplusplus
}
#endif
#endif
