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

typedef struct mlic_engine mlic_engine;

/* Prepare a model for inference on up to max_batch images at a time with `threads` threads
 * (0 = all cores). The engine keeps a pointer to m: free the engine first. */
mlic_status mlic_engine_create(mlic_engine **out, const mlic_model *m, mlic_backend_kind backend,
                               int max_batch, int threads);
void mlic_engine_destroy(mlic_engine *e);
const char *mlic_engine_backend_name(const mlic_engine *e);
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

#ifdef __cplusplus
}
#endif
#endif
