/* mlic_predict_run: a streaming pipeline, so that memory stays flat for any list length and
 * fetching, decoding, inference and writing overlap.
 *
 *   reader thread ──lines──> job queue ──> N workers: fetch, decode, preprocess straight into a
 *   batch slot ──> inference (the calling thread: full batches, a partial one at the end) ──>
 *   writer thread: lines in input order, then the batch is free again.
 *
 * Inputs in a store or on a web server (s3://, oss://, http(s)://, or relative to such a root)
 * take a detour before the job queue: the reader hands them to the fetch thread, which keeps
 * many requests in flight at once (io/fetch_many.h) and queues each input for the workers when
 * its bytes have arrived. So latency is hidden by requests in flight, not by decode threads;
 * local files and base64 lines go straight to the workers as before. The ring bounds the
 * inputs in flight, so memory stays flat.
 *
 * Batches live in a ring. Line i goes to slot i % batch_size of batch i / batch_size, which
 * uses ring entry (i / batch_size) % nring; the reader waits for that entry to be free, so at
 * most nring batches are in flight. One mutex and one condition variable guard the ring: every
 * wait is at batch granularity, far coarser than the work between waits.
 *
 * The output goes to a part file with a journal (dist/share.h): after each batch the writer
 * appends the batch's lines to the part and a checkpoint to the journal, so that an interrupted
 * run resumes at its last batch. A run with one share renames its finished part to the output;
 * a share of a distributed run leaves it for the merge (dist/parts.h). An output in a store is
 * written the same way to a local staging path, and each checkpointed stretch of the part is
 * uploaded meanwhile by an upload thread of its own (dist/output.h, dist/upload.h), so inference
 * never waits on the network; the list is then read by byte ranges (io/random_read.h).
 *
 * Cancelling (mlic_predict_opts.cancel) is noticed by the inference thread, which polls the flag
 * between batches and while it waits: it fails the pipeline with MLIC_ERR_CANCELLED, so every
 * thread stops at its next batch boundary exactly as after an error; what the writer finished is
 * in the part and the journal, which are synced before the run returns. Where a thread may wait
 * on the outside world it sees the flag itself: fetches abort (io/client.h, io/fetch_many.h; the
 * aborted input gets no output line, a resumed run fetches it) and the reader's wait on a pipe
 * wakes up (util/line_read.h).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "dist/journal.h"
#include "dist/output.h"
#include "dist/shard.h"
#include "dist/share.h"
#include "dist/upload.h"
#include "io/fetch_many.h"
#include "io/location.h"
#include "io/random_read.h"
#include "io/storage.h"
#include "predict/input.h"
#include "predict/progress.h"
#include "predict/result_line.h"
#include "util/deadline.h"
#include "util/file_open.h"
#include "util/line_read.h"
#include "util/path.h"
#include "util/queue.h"
#include "util/strbuf.h"

#define DEFAULT_BATCH 32
#define MAX_BATCH 65536
#define MAX_RANKS 99999 /* part names have five digits */
/* Counting the lines first, for the progress total, costs one extra read of the list: cheap for
 * lists up to this size. */
#define COUNT_LINES_MAX_BYTES ((off_t)64 << 20)
/* A checkpoint reaches the disk within this many seconds (a killed process loses nothing: the
 * kernel has what it wrote; this bounds what a machine crash loses). */
#define SYNC_SECONDS 5.0
/* How often a waiting inference thread looks at the cancel flag. */
#define CANCEL_POLL_NS 50000000L

typedef enum { BATCH_FREE = 0, BATCH_FILLING, BATCH_INFERRED } batch_state;

typedef struct batch batch;

typedef struct {
    batch *owner;
    int pos;         /* index in owner */
    uint64_t lineno; /* 1-based */
    uint64_t end_offset; /* list byte offset after this line */
    char *line;      /* the list line without its newline; the worker frees it */
    size_t line_len; /* may exceed strlen(line) if the line holds NUL bytes */
    uint64_t line_total; /* bytes the line had: more than line_len when it was over the limit */
    char *label;     /* what the output line names the input by */
    uint8_t *data;   /* fetched by the fetch stage (NULL: the worker reads the input itself) */
    size_t data_len;
    char *fetch_error; /* the fetch stage failed: why */
    int ok;          /* the input is preprocessed in owner->input */
    char *error;     /* why not (NULL if even that message could not be allocated) */
} slot;

struct batch {
    uint64_t index; /* which batch of the list this entry holds now */
    batch_state state;
    int count;      /* slots handed to workers */
    int done;       /* slots the workers finished */
    int sealed;     /* the reader will add no more slots */
    int n_ok;       /* rows of probs, one per ok slot in slot order */
    slot *slots;    /* (batch_size) */
    float *input;   /* (batch_size, 3, crop, crop) */
    float *probs;   /* (batch_size, num_classes) */
};

typedef struct {
    const mlic_predict_opts *o;
    mlic_predict_opts lo; /* o with output_path = where the parts go (dist/output.h) */
    int batch_size;
    size_t tensor_floats; /* 3 * crop * crop */
    int num_classes;
    FILE *list;
    size_t max_line_bytes;
    int out_fd;             /* the part */
    const char *out_path;
    mlic_journal *journal;
    /* What the reader answers: from start_offset, skip skip_lines lines, then up to max_lines
     * lines numbered from first_lineno. */
    uint64_t start_offset, skip_lines, first_lineno, max_lines;
    mlic_result_format fmt;
    mlic_input_ctx input; /* shared settings; each worker copies it and sets its own client */
    const char *root;
    mlic_storage *storage;
    mlic_io_opts io_opts; /* every client of the run: storage, root, timeout, confine, cancel */
    mlic_io *io;          /* the calling thread's, for the list and the model's size */
    mlic_random_read *rr; /* the list by byte ranges; NULL: not seekable (a pipe) */
    int root_remote;
    mlic_queue *fetchq;   /* slot *: inputs for the fetch stage; NULL: no fetch stage */
    mlic_fetch_many *many;
    mlic_upload *upload;  /* an output in a store: mirrors the part */

    int nring;
    batch *ring;
    mlic_queue *jobs; /* slot * */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    int reader_done;
    uint64_t nbatches; /* once reader_done: how many batches the list made */
    int infer_done;
    uint64_t ninferred; /* once infer_done */
    int failed;
    mlic_status fail_status;
    char fail_msg[1024];
    uint64_t written, nfailed; /* lines answered by this share, earlier runs included */
    /* Writer only, until joined. */
    uint64_t output_len, last_offset, checkpoints;
    double last_sync;
    mlic_progress progress;
} pipeline;

typedef struct {
    pipeline *p;
    pthread_t thread;
    int started;
} worker;

void mlic_predict_opts_init(mlic_predict_opts *o)
{
    memset(o, 0, sizeof *o);
    o->image_type = MLIC_IMAGE_TYPE_URL;
    o->format = MLIC_FORMAT_EV;
    o->threshold = -1.0f;
    o->backend = MLIC_BACKEND_AUTO;
}

/* Stop the whole pipeline with the calling thread's current error (the first one wins). */
static void pipeline_fail(pipeline *p, mlic_status st)
{
    pthread_mutex_lock(&p->mu);
    if (!p->failed) {
        p->failed = 1;
        p->fail_status = st;
        snprintf(p->fail_msg, sizeof p->fail_msg, "%s", mlic_errmsg());
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    mlic_queue_close(p->jobs);
    if (p->fetchq)
        mlic_queue_close(p->fetchq);
}

static int pipeline_failed(pipeline *p)
{
    pthread_mutex_lock(&p->mu);
    int f = p->failed;
    pthread_mutex_unlock(&p->mu);
    return f;
}

/* ---------------------------------------------------------------- reader */

/* The input's bytes are in a store or on a web server: for the fetch stage. */
static int needs_fetch(const pipeline *p, const slot *s)
{
    if (!p->fetchq || s->line_total > s->line_len || s->line_len == 0 ||
        strlen(s->line) != s->line_len)
        return 0; /* the worker reports what is wrong with the line */
    if (mlic_location_is_remote(s->line))
        return 1;
    if (!p->root_remote)
        return 0;
    char *path = mlic_location_join(p->root, s->line);
    int remote = !path || mlic_location_is_remote(path); /* out of memory: the fetch says so */
    free(path);
    return remote;
}

/* The ring entry for batch k, once it is free; NULL if the run failed meanwhile. */
static batch *acquire_batch(pipeline *p, uint64_t k)
{
    batch *b = &p->ring[k % (uint64_t)p->nring];
    pthread_mutex_lock(&p->mu);
    while (b->state != BATCH_FREE && !p->failed)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->failed) {
        pthread_mutex_unlock(&p->mu);
        return NULL;
    }
    b->state = BATCH_FILLING;
    b->index = k;
    b->count = b->done = b->sealed = b->n_ok = 0;
    pthread_mutex_unlock(&p->mu);
    return b;
}

static void seal_batch(pipeline *p, batch *b)
{
    pthread_mutex_lock(&p->mu);
    b->sealed = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *reader_main(void *arg)
{
    pipeline *p = arg;
    mlic_line l = {0};
    int r = 1;
    uint64_t lineno = p->first_lineno - 1, k = 0, offset = p->start_offset, taken = 0;
    batch *b = NULL;
    /* A list from a pipe may wait forever for its writer: the read must see a cancel itself.
     * (A list in a store is read by a client that sees the flag.) */
    if (p->o->cancel && fileno(p->list) >= 0 && mlic_line_cancel_on(&l, p->list, p->o->cancel) != 0)
        r = -1;
    /* The first lines of a share finish the previous share's last batch. */
    for (uint64_t i = 0; i < p->skip_lines && p->max_lines > 0; i++) {
        if ((r = mlic_line_read(p->list, p->max_line_bytes, &l)) <= 0)
            break;
        offset += l.consumed;
    }
    while (r > 0 && taken < p->max_lines &&
           (r = mlic_line_read(p->list, p->max_line_bytes, &l)) > 0) {
        offset += l.consumed;
        taken++;
        lineno++;
        size_t n = l.len;
        if (l.total == n && n > 0 && l.data[n - 1] == '\r') {
            l.data[--n] = '\0';
            l.total = n;
        }
        if (!b && !(b = acquire_batch(p, k)))
            break;
        pthread_mutex_lock(&p->mu);
        slot *s = &b->slots[b->count++];
        pthread_mutex_unlock(&p->mu);
        s->lineno = lineno;
        s->end_offset = offset;
        s->line = l.data;
        s->line_len = n;
        s->line_total = l.total;
        l.data = NULL; /* the slot owns it now */
        l.cap = 0;
        if (!mlic_queue_push(needs_fetch(p, s) ? p->fetchq : p->jobs, s))
            break; /* closed: the run failed */
        if (b->count == p->batch_size) {
            seal_batch(p, b);
            b = NULL;
            k++;
        }
    }
    if (r < 0 && errno == ECANCELED)
        pipeline_fail(p, mlic_fail(MLIC_ERR_CANCELLED, "interrupted"));
    else if (r < 0)
        pipeline_fail(p, mlic_fail(MLIC_ERR_IO, "reading the list '%s' after line %llu: %s",
                                   p->o->input_path, (unsigned long long)lineno, strerror(errno)));
    mlic_line_free(&l);
    if (b) {
        seal_batch(p, b);
        k++;
    }
    pthread_mutex_lock(&p->mu);
    p->reader_done = 1;
    p->nbatches = k;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    /* With a fetch stage, the jobs end when it has handed over its last input. */
    mlic_queue_close(p->fetchq ? p->fetchq : p->jobs);
    return NULL;
}

/* ---------------------------------------------------------------- fetch stage */

/* A finished fetch goes to the workers with its bytes or its error. 0: the run failed. */
static int hand_over(pipeline *p, mlic_fetch_result *r)
{
    slot *s = r->tag;
    if (r->status == MLIC_ERR_CANCELLED) {
        free(r->data);
        free(r->error);
        pipeline_fail(p, mlic_fail(MLIC_ERR_CANCELLED, "interrupted"));
        return 0;
    }
    if (r->status == MLIC_OK) {
        s->data = r->data;
        s->data_len = r->len;
    } else {
        s->fetch_error = r->error ? r->error : strdup("the fetch failed");
        free(r->data);
    }
    return mlic_queue_push(p->jobs, s);
}

static void *fetch_main(void *arg)
{
    pipeline *p = arg;
    int open = 1;
    while (!pipeline_failed(p)) {
        /* Take every input waiting; wait for one only when nothing is in flight. */
        void *item;
        int r;
        while (open && (r = mlic_fetch_many_pending(p->many) ? mlic_queue_try_pop(p->fetchq, &item)
                                                              : mlic_queue_pop(p->fetchq, &item)) != -1) {
            if (r == 0) {
                open = 0;
                break;
            }
            slot *s = item;
            if (mlic_fetch_many_add(p->many, s->line, s) != MLIC_OK) {
                pipeline_fail(p, mlic_fail(MLIC_ERR_NOMEM, "out of memory"));
                return NULL;
            }
        }
        if (!mlic_fetch_many_pending(p->many))
            break;
        mlic_fetch_result res;
        mlic_status st = mlic_fetch_many_next(p->many, &res);
        if (st != MLIC_OK) {
            pipeline_fail(p, st);
            break;
        }
        if (!hand_over(p, &res))
            break;
    }
    mlic_queue_close(p->jobs);
    return NULL;
}

/* ---------------------------------------------------------------- workers */

static void prepare_slot(pipeline *p, const mlic_input_ctx *ctx, slot *s)
{
    batch *b = s->owner;
    mlic_status st;
    if (s->line_total > s->line_len) {
        st = mlic_input_too_long(&s->label, ctx->type, s->line, s->line_len, s->line_total,
                                 p->max_line_bytes, s->lineno);
    } else {
        float *out = b->input + (size_t)s->pos * p->tensor_floats;
        s->label = mlic_input_label(ctx->type, s->line, s->line_len, s->lineno);
        if (s->fetch_error)
            st = mlic_fail(MLIC_ERR_NETWORK, "%s", s->fetch_error);
        else if (s->data)
            st = mlic_input_prepare_fetched(out, ctx, s->line, s->line_len, s->lineno, s->data,
                                            s->data_len);
        else
            st = mlic_input_prepare(out, ctx, s->line, s->line_len, s->lineno);
    }
    /* A cancelled fetch says nothing about its input: no output line for it, the run stops
     * before its batch is written and a resumed run fetches it again. */
    if (st == MLIC_ERR_CANCELLED)
        pipeline_fail(p, st);
    s->ok = st == MLIC_OK;
    if (!s->ok)
        s->error = strdup(mlic_errmsg());
    free(s->line);
    free(s->data);
    free(s->fetch_error);
    s->line = NULL;
    s->data = NULL;
    s->fetch_error = NULL;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pipeline *p = w->p;
    mlic_input_ctx ctx = p->input;
    mlic_status st = mlic_io_create(&ctx.io, &p->io_opts);
    if (st != MLIC_OK)
        pipeline_fail(p, st);
    void *item;
    while (mlic_queue_pop(p->jobs, &item)) {
        slot *s = item;
        if (!pipeline_failed(p))
            prepare_slot(p, &ctx, s);
        pthread_mutex_lock(&p->mu);
        batch *b = s->owner;
        b->done++;
        if (b->sealed && b->done == b->count)
            pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    mlic_io_destroy(ctx.io);
    return NULL;
}

/* ---------------------------------------------------------------- inference */

static int cancel_requested(const pipeline *p)
{
    return p->o->cancel && *p->o->cancel;
}

/* Wait on the pipeline's condition (p->mu held); with a cancel flag, wake up to look at it. */
static void wait_or_poll(pipeline *p)
{
    if (!p->o->cancel) {
        pthread_cond_wait(&p->cv, &p->mu);
        return;
    }
    struct timespec until = mlic_deadline_in(CANCEL_POLL_NS);
    pthread_cond_timedwait(&p->cv, &p->mu, &until);
}

/* Move the ok inputs to the front of the batch, in slot order; returns how many. */
static int compact_batch(pipeline *p, batch *b)
{
    int n = 0;
    for (int i = 0; i < b->count; i++) {
        if (!b->slots[i].ok)
            continue;
        if (n != i)
            memcpy(b->input + (size_t)n * p->tensor_floats, b->input + (size_t)i * p->tensor_floats,
                   p->tensor_floats * sizeof(float));
        n++;
    }
    return n;
}

static void run_inference(pipeline *p, mlic_engine *engine)
{
    uint64_t k;
    for (k = 0;; k++) {
        batch *b = &p->ring[k % (uint64_t)p->nring];
        pthread_mutex_lock(&p->mu);
        while (!p->failed && !(p->reader_done && k >= p->nbatches) && !cancel_requested(p) &&
               !(b->state == BATCH_FILLING && b->index == k && b->sealed && b->done == b->count))
            wait_or_poll(p);
        int stop = p->failed || (p->reader_done && k >= p->nbatches);
        pthread_mutex_unlock(&p->mu);
        if (!stop && cancel_requested(p)) {
            pipeline_fail(p, mlic_fail(MLIC_ERR_CANCELLED, "interrupted"));
            stop = 1;
        }
        if (stop)
            break;
        int n = compact_batch(p, b);
        if (n > 0) {
            mlic_status st = mlic_engine_run(engine, b->probs, b->input, n);
            if (st != MLIC_OK) {
                mlic_fail_prefix(st, "inference on lines %llu-%llu of the list: ",
                                 (unsigned long long)b->slots[0].lineno,
                                 (unsigned long long)b->slots[b->count - 1].lineno);
                pipeline_fail(p, st);
                break;
            }
        }
        pthread_mutex_lock(&p->mu);
        b->n_ok = n;
        b->state = BATCH_INFERRED;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_lock(&p->mu);
    p->infer_done = 1;
    p->ninferred = k;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---------------------------------------------------------------- writer */

static mlic_status format_batch(pipeline *p, batch *b, mlic_strbuf *buf, uint64_t *nfailed)
{
    mlic_strbuf_clear(buf);
    int row = 0;
    for (int i = 0; i < b->count; i++) {
        slot *s = &b->slots[i];
        const char *label = s->label ? s->label : "";
        if (s->ok) {
            mlic_result_line_ok(buf, &p->fmt, label, b->probs + (size_t)row * p->num_classes);
            row++;
        } else {
            mlic_result_line_error(buf, &p->fmt, label, s->error ? s->error : "out of memory");
            (*nfailed)++;
        }
    }
    if (buf->oom)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory formatting the output of lines %llu-%llu",
                         (unsigned long long)b->slots[0].lineno,
                         (unsigned long long)b->slots[b->count - 1].lineno);
    return MLIC_OK;
}

static mlic_status write_all(int fd, const char *path, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return mlic_fail(MLIC_ERR_IO, "writing the output '%s': %s. HINT: is the disk full?", path,
                             w < 0 ? strerror(errno) : "short write");
        data += w;
        len -= (size_t)w;
    }
    return MLIC_OK;
}

static mlic_status sync_part(pipeline *p)
{
    if (fdatasync(p->out_fd) != 0)
        return mlic_fail(MLIC_ERR_IO, "writing the output '%s': %s. HINT: is the disk full?",
                         p->out_path, strerror(errno));
    return mlic_journal_sync(p->journal);
}

/* The batch's lines go to the part, then a checkpoint that names them to the journal. */
static mlic_status write_batch(pipeline *p, batch *b, mlic_strbuf *buf, uint64_t *nfailed)
{
    mlic_status st = format_batch(p, b, buf, nfailed);
    if (st == MLIC_OK)
        st = write_all(p->out_fd, p->out_path, buf->data, buf->len);
    if (st != MLIC_OK)
        return st;
    p->output_len += buf->len;
    p->last_offset = b->slots[b->count - 1].end_offset;
    mlic_journal_point pt = {
        .input_offset = p->last_offset,
        .output_len = p->output_len,
        .lines = p->written + (uint64_t)b->count,
        .failed = p->nfailed + *nfailed,
        .output_crc = mlic_crc32(0, buf->data, buf->len),
    };
    if ((st = mlic_journal_append(p->journal, &pt)) != MLIC_OK)
        return st;
    p->checkpoints++;
    if (p->upload && (st = mlic_upload_offer(p->upload, p->output_len)) != MLIC_OK)
        return st;
    double now = mlic_progress_now();
    if (now - p->last_sync >= SYNC_SECONDS) {
        p->last_sync = now;
        return sync_part(p);
    }
    return MLIC_OK;
}

static void clear_slots(batch *b)
{
    for (int i = 0; i < b->count; i++) {
        slot *s = &b->slots[i];
        free(s->line);
        free(s->label);
        free(s->error);
        free(s->data);
        free(s->fetch_error);
        s->line = s->label = s->error = s->fetch_error = NULL;
        s->data = NULL;
        s->ok = 0;
    }
}

static void *writer_main(void *arg)
{
    pipeline *p = arg;
    mlic_strbuf buf;
    mlic_strbuf_init(&buf);
    for (uint64_t k = 0;; k++) {
        batch *b = &p->ring[k % (uint64_t)p->nring];
        pthread_mutex_lock(&p->mu);
        while (!p->failed && !(p->infer_done && k >= p->ninferred) &&
               !(b->state == BATCH_INFERRED && b->index == k))
            pthread_cond_wait(&p->cv, &p->mu);
        int stop = p->failed || (p->infer_done && k >= p->ninferred);
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        uint64_t nfailed = 0;
        mlic_status st = write_batch(p, b, &buf, &nfailed);
        if (st != MLIC_OK) {
            pipeline_fail(p, st);
            break;
        }
        int count = b->count;
        clear_slots(b);
        pthread_mutex_lock(&p->mu);
        p->written += (uint64_t)count;
        p->nfailed += nfailed;
        uint64_t written = p->written, failed = p->nfailed;
        b->state = BATCH_FREE;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        mlic_progress_update(&p->progress, written, failed);
    }
    mlic_strbuf_free(&buf);
    return NULL;
}

/* ---------------------------------------------------------------- set-up */

static uint64_t count_lines(FILE *list)
{
    struct stat st;
    if (fstat(fileno(list), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > COUNT_LINES_MAX_BYTES)
        return 0;
    char buf[1 << 16];
    uint64_t lines = 0;
    size_t n;
    char last = '\n';
    while ((n = fread(buf, 1, sizeof buf, list)) > 0) {
        for (const char *q = buf; (q = memchr(q, '\n', (size_t)(buf + n - q))); q++)
            lines++;
        last = buf[n - 1];
    }
    if (last != '\n')
        lines++;
    rewind(list);
    return lines;
}

static int default_decode_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static mlic_status check_opts(const mlic_predict_opts *o)
{
    if (!o->model_path || !o->input_path || !o->output_path)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "predict needs a model, an input list and an output "
                         "path. HINT: set model_path, input_path and output_path");
    if (o->image_type != MLIC_IMAGE_TYPE_URL && o->image_type != MLIC_IMAGE_TYPE_BASE64)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "image_type %d is neither url nor base64", (int)o->image_type);
    if (o->format != MLIC_FORMAT_EV && o->format != MLIC_FORMAT_JSONL)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "output format %d is neither ev nor jsonl", (int)o->format);
    if (isnan(o->threshold) || o->threshold > 1.0f)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "threshold %g is not in [0, 1] (or < 0 for the "
                         "model's own thresholds)", (double)o->threshold);
    if (o->batch_size < 0 || o->batch_size > MAX_BATCH)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "batch size %d is not in 1..%d (0 = %d)", o->batch_size,
                         MAX_BATCH, DEFAULT_BATCH);
    if (o->threads < 0 || o->decode_threads < 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "thread counts must be >= 0 (0 = automatic)");
    if (isnan(o->http_timeout) || o->http_timeout < 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "http_timeout %g must be >= 0 seconds (0 = %g)",
                         o->http_timeout, MLIC_IO_DEFAULT_TIMEOUT);
    if (mlic_location_kind(o->output_path) == MLIC_LOC_HTTP)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "the output '%s' is a web address; outputs go to a "
                         "file, s3:// or oss://", o->output_path);
    if (o->nranks < 0 || o->nranks > MAX_RANKS || (o->nranks > 1 && (o->rank < 0 || o->rank >= o->nranks)))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "rank %d of %d: ranks are 0..nranks-1 and nranks is at "
                         "most %d", o->rank, o->nranks, MAX_RANKS);
    return MLIC_OK;
}

static mlic_status alloc_ring(pipeline *p)
{
    p->ring = calloc((size_t)p->nring, sizeof *p->ring);
    if (!p->ring)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory for %d batches", p->nring);
    for (int r = 0; r < p->nring; r++) {
        batch *b = &p->ring[r];
        b->slots = calloc((size_t)p->batch_size, sizeof *b->slots);
        b->input = malloc((size_t)p->batch_size * p->tensor_floats * sizeof(float));
        b->probs = malloc((size_t)p->batch_size * (size_t)p->num_classes * sizeof(float));
        if (!b->slots || !b->input || !b->probs)
            return mlic_fail(MLIC_ERR_NOMEM, "out of memory for %d batches of %d images of %zu floats. "
                             "HINT: lower --batch-size", p->nring, p->batch_size, p->tensor_floats);
        for (int i = 0; i < p->batch_size; i++) {
            b->slots[i].owner = b;
            b->slots[i].pos = i;
        }
    }
    return MLIC_OK;
}

static void free_ring(pipeline *p)
{
    if (!p->ring)
        return;
    for (int r = 0; r < p->nring; r++) {
        batch *b = &p->ring[r];
        if (b->slots) {
            b->count = p->batch_size; /* a failed run may leave any slot filled */
            clear_slots(b);
        }
        free(b->slots);
        free(b->input);
        free(b->probs);
    }
    free(p->ring);
}

/* Runs the threads; the share is complete in the part unless this fails. */
static mlic_status run_pipeline(pipeline *p, mlic_engine *engine, int decode_threads)
{
    mlic_status st = mlic_queue_create(&p->jobs, (size_t)p->nring * (size_t)p->batch_size);
    if (st != MLIC_OK)
        return st;
    if (p->many && (st = mlic_queue_create(&p->fetchq, (size_t)p->nring * (size_t)p->batch_size)) != MLIC_OK) {
        mlic_queue_destroy(p->jobs);
        return st;
    }
    worker *workers = calloc((size_t)decode_threads, sizeof *workers);
    if (!workers) {
        mlic_queue_destroy(p->jobs);
        mlic_queue_destroy(p->fetchq);
        p->fetchq = NULL;
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_t reader, writer, fetcher;
    int reader_ok = 0, writer_ok = 0, fetcher_ok = 0, err;

    for (int i = 0; i < decode_threads; i++) {
        workers[i].p = p;
        if ((err = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i])) != 0) {
            pipeline_fail(p, mlic_fail(MLIC_ERR_INTERNAL, "starting decode thread %d of %d: %s",
                                       i + 1, decode_threads, strerror(err)));
            break;
        }
        workers[i].started = 1;
    }
    if (!pipeline_failed(p)) {
        if ((err = pthread_create(&writer, NULL, writer_main, p)) != 0)
            pipeline_fail(p, mlic_fail(MLIC_ERR_INTERNAL, "starting the writer thread: %s", strerror(err)));
        else
            writer_ok = 1;
    }
    if (p->fetchq && !pipeline_failed(p)) {
        if ((err = pthread_create(&fetcher, NULL, fetch_main, p)) != 0)
            pipeline_fail(p, mlic_fail(MLIC_ERR_INTERNAL, "starting the fetch thread: %s", strerror(err)));
        else
            fetcher_ok = 1;
    }
    if (!pipeline_failed(p)) {
        if ((err = pthread_create(&reader, NULL, reader_main, p)) != 0)
            pipeline_fail(p, mlic_fail(MLIC_ERR_INTERNAL, "starting the reader thread: %s", strerror(err)));
        else
            reader_ok = 1;
    }
    if (!reader_ok) {
        mlic_queue_close(p->jobs);
        if (p->fetchq)
            mlic_queue_close(p->fetchq);
    }
    /* Inference runs on this thread: the engine was made here (its thread pools belong to it). */
    run_inference(p, engine);

    if (reader_ok)
        pthread_join(reader, NULL);
    if (fetcher_ok)
        pthread_join(fetcher, NULL);
    for (int i = 0; i < decode_threads; i++)
        if (workers[i].started)
            pthread_join(workers[i].thread, NULL);
    if (writer_ok)
        pthread_join(writer, NULL);
    free(workers);
    mlic_queue_destroy(p->jobs);
    if (p->fetchq)
        mlic_queue_destroy(p->fetchq);
    p->fetchq = NULL;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    if (p->failed)
        return mlic_fail(p->fail_status, "%s", p->fail_msg);
    return MLIC_OK;
}

/* The share is complete: its part synced and closed, then a DONE checkpoint. */
static mlic_status finish_share(pipeline *p)
{
    mlic_status st = sync_part(p);
    int fd = p->out_fd;
    p->out_fd = -1;
    if (close(fd) != 0 && st == MLIC_OK)
        st = mlic_fail(MLIC_ERR_IO, "writing the output '%s': %s. HINT: is the disk full?", p->out_path,
                       strerror(errno));
    if (st != MLIC_OK)
        return st;
    mlic_journal_point pt = {
        .input_offset = p->last_offset,
        .output_len = p->output_len,
        .lines = p->written,
        .failed = p->nfailed,
        .flags = MLIC_JOURNAL_DONE,
    };
    if ((st = mlic_journal_append(p->journal, &pt)) != MLIC_OK)
        return st;
    return mlic_journal_sync(p->journal);
}

/* The storage and this thread's client, before anything is read. */
static mlic_status open_io(pipeline *p, const char *root)
{
    const mlic_predict_opts *o = p->o;
    /* A role is assumed (an STS request) only for a job that names a store itself: a local job
     * with EasyVision's -Darn runs without the network. */
    mlic_storage_opts so;
    if (o->storage)
        so = *o->storage;
    else
        mlic_storage_opts_init(&so);
    if (!mlic_location_is_remote(o->input_path) && !mlic_location_is_remote(o->output_path) &&
        !mlic_location_is_remote(o->model_path) && !mlic_location_is_remote(root))
        so.role_arn = NULL;
    mlic_status st = mlic_storage_create(&p->storage, &so);
    if (st != MLIC_OK)
        return st;
    p->io_opts = (mlic_io_opts){
        .storage = p->storage,
        .root = root,
        .confine = o->confine_to_root,
        .timeout = o->http_timeout,
        .cancel = o->cancel,
    };
    p->root_remote = mlic_location_is_remote(root);
    /* The list and the model are the caller's own paths: relative to the working folder, and
     * never confined (only the list's lines are). */
    mlic_io_opts own = p->io_opts;
    own.root = NULL;
    own.confine = 0;
    return mlic_io_create(&p->io, &own);
}

/* The list: a local one as a stream (and by byte ranges when it is a regular file), one in a
 * store by byte ranges only. *mtime_ns: a local list's modification time. */
static mlic_status open_list(pipeline *p, uint64_t *mtime_ns)
{
    const mlic_predict_opts *o = p->o;
    char name[512];
    snprintf(name, sizeof name, "the input list '%s'", o->input_path);
    *mtime_ns = 0;
    if (mlic_location_is_remote(o->input_path))
        return mlic_random_read_open(&p->rr, p->io, o->input_path, name, 0);
    mlic_status st = mlic_file_fopen_read(&p->list, o->input_path, name, MLIC_FILE_STREAM_OK);
    struct stat sb;
    if (st != MLIC_OK)
        return st;
    if (fstat(fileno(p->list), &sb) != 0)
        return mlic_fail(MLIC_ERR_IO, "cannot stat the list '%s': %s", o->input_path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return MLIC_OK;
    *mtime_ns = (uint64_t)sb.st_mtim.tv_sec * 1000000000ull + (uint64_t)sb.st_mtim.tv_nsec;
    return mlic_random_read_open(&p->rr, p->io, o->input_path, name, 0);
}

/* Everything before the ranks exchange line counts: the list opened, the share found and, when
 * resuming, its journal read. */
static mlic_status open_share(pipeline *p, mlic_share *share, char **root)
{
    const mlic_predict_opts *o = p->o;
    mlic_status st = check_opts(o);
    if (st != MLIC_OK)
        return st;
    p->lo = *o;
    char *local;
    if ((st = mlic_output_local(o, &local)) != MLIC_OK)
        return st;
    p->lo.output_path = local;
    p->max_line_bytes = o->max_line_bytes ? o->max_line_bytes : MLIC_DEFAULT_MAX_LINE_BYTES;
    *root = o->root ? strdup(o->root) : mlic_location_dirname(o->input_path);
    if (!*root)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    uint64_t mtime_ns;
    if ((st = open_io(p, *root)) != MLIC_OK || (st = open_list(p, &mtime_ns)) != MLIC_OK)
        return st;
    p->batch_size = o->batch_size ? o->batch_size : DEFAULT_BATCH;
    return mlic_share_begin(share, &p->lo, p->rr, mtime_ns, p->io, p->batch_size, *root);
}

/* The ranks' line counts exchanged (each rank takes part, even after failing: st), then where
 * this share reads. */
static mlic_status place_share(pipeline *p, mlic_share *share, mlic_status st)
{
    const mlic_predict_opts *o = p->o;
    if (o->nranks <= 1)
        return st == MLIC_OK ? mlic_share_place(share, 0) : st;
    uint64_t before = 0;
    int all_ok = 1;
    if (o->exchange) {
        mlic_status xs = o->exchange(o->exchange_ctx, share->header.share_lines, st == MLIC_OK, &before,
                                     &all_ok);
        if (st == MLIC_OK)
            st = xs;
    } else if (st == MLIC_OK && share->journal_valid) {
        before = share->header.lines_before;
    } else if (st == MLIC_OK) {
        st = mlic_shard_count_newlines(p->rr, o->input_path, 0, share->first_start, &before);
    }
    if (st == MLIC_OK && !all_ok)
        st = mlic_fail(MLIC_ERR_INVALID_ARG, "share %d of %d stopped: another process of the run could "
                       "not start (its message says why)", o->rank, o->nranks);
    return st == MLIC_OK ? mlic_share_place(share, before) : st;
}

/* An output in a store: the upload that mirrors the share's part, from `final` bytes on. */
static mlic_status start_upload(pipeline *p, const mlic_share *share, uint64_t final, int done)
{
    const mlic_predict_opts *o = p->o;
    if (!mlic_location_is_remote(o->output_path))
        return MLIC_OK;
    char *target = mlic_output_share_target(o->output_path, share->rank, share->nranks);
    if (!target)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    mlic_upload_opts u = {
        .io = &p->io_opts,
        .local = share->part_path,
        .target = target,
        .part_size = o->part_size,
        .resume = o->resume,
        .final_bytes = final,
        .share_done = done,
    };
    mlic_status st = mlic_upload_start(&p->upload, &u);
    free(target);
    return st;
}

/* The list from where this share reads, as a stream. */
static mlic_status seek_list(pipeline *p, uint64_t offset)
{
    if (!p->list)
        return mlic_random_read_stream(p->rr, offset, &p->list);
    if (offset > 0 && fseeko(p->list, (off_t)offset, SEEK_SET) != 0)
        return mlic_fail(MLIC_ERR_IO, "seeking to byte %llu of the list '%s': %s",
                         (unsigned long long)offset, p->o->input_path, strerror(errno));
    return MLIC_OK;
}

mlic_status mlic_predict_run(const mlic_predict_opts *o, mlic_predict_stats *stats)
{
    double t0 = mlic_progress_now();
    if (stats)
        memset(stats, 0, sizeof *stats);

    pipeline p;
    memset(&p, 0, sizeof p);
    p.o = o;
    p.out_fd = -1;
    mlic_share share;
    memset(&share, 0, sizeof share);
    mlic_model *model = NULL;
    mlic_engine *engine = NULL;
    const char **names = NULL;
    float *thresholds = NULL;
    char *root = NULL;
    int opened = 0;

    mlic_status st = place_share(&p, &share, open_share(&p, &share, &root));
    if (st != MLIC_OK)
        goto done;
    if (share.done) {
        /* Finished before the interruption: only the part may need cutting to its checkpoint,
         * and its upload finishing. */
        p.written = share.at.lines;
        p.nfailed = share.at.failed;
        p.output_len = share.at.output_len;
        if (truncate(share.part_path, (off_t)share.at.output_len) != 0)
            st = mlic_fail(MLIC_ERR_IO, "cutting '%s' to %llu bytes: %s", share.part_path,
                           (unsigned long long)share.at.output_len, strerror(errno));
        else
            st = start_upload(&p, &share, share.at.output_len, 1);
        goto finished;
    }
    if ((st = mlic_model_load_from(&model, o->model_path, o->storage)) != MLIC_OK) {
        mlic_fail_prefix(st, "loading the model '%s': ", o->model_path);
        goto done;
    }

    mlic_preprocess pre = mlic_model_preprocess(model);
    p.num_classes = mlic_model_num_classes(model);
    p.tensor_floats = (size_t)3 * (size_t)pre.crop * (size_t)pre.crop;
    names = calloc((size_t)p.num_classes, sizeof *names);
    thresholds = malloc((size_t)p.num_classes * sizeof *thresholds);
    if (!names || !thresholds) {
        st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < p.num_classes; i++) {
        names[i] = mlic_model_class_name(model, i);
        thresholds[i] = o->threshold >= 0 ? o->threshold : mlic_model_threshold(model, i);
    }
    p.fmt = (mlic_result_format){o->format, p.num_classes, names, thresholds};

    p.input.type = o->image_type;
    p.input.pre = pre;
    p.input.decode = mlic_decode_opts_for_eval(&pre, o->max_pixels);
    p.root = root;

    mlic_engine_opts eo;
    mlic_engine_opts_init(&eo);
    eo.backend = o->backend;
    eo.max_batch = p.batch_size;
    eo.threads = o->threads;
    eo.precision = o->precision;
    if ((st = mlic_engine_create_opts(&engine, model, &eo)) != MLIC_OK) {
        mlic_fail_prefix(st, "preparing the model '%s' for inference: ", o->model_path);
        goto done;
    }

    int decode_threads = o->decode_threads ? o->decode_threads : default_decode_threads();
    /* Enough batches in flight for every decode thread to stay busy while one batch is being
     * inferred and another written. */
    p.nring = 2 + (2 * decode_threads + p.batch_size - 1) / p.batch_size;
    if (p.nring < 4)
        p.nring = 4;
    if ((st = alloc_ring(&p)) != MLIC_OK)
        goto done;
    /* Url lists may name remote inputs anywhere: the fetch stage is always ready for them. */
    if (o->image_type == MLIC_IMAGE_TYPE_URL &&
        (st = mlic_fetch_many_create(&p.many, &p.io_opts,
                                     o->storage ? o->storage->max_in_flight : 0)) != MLIC_OK)
        goto done;

    if ((st = mlic_share_open(&share, &p.out_fd, &p.journal)) != MLIC_OK)
        goto done;
    opened = 1;
    p.out_path = share.part_path;
    p.start_offset = share.start_offset;
    p.skip_lines = share.skip_lines;
    p.first_lineno = share.first_lineno;
    p.max_lines = share.max_lines;
    p.last_offset = share.start_offset;
    if (share.resumed) {
        p.output_len = share.at.output_len;
        p.written = share.at.lines;
        p.nfailed = share.at.failed;
    }
    p.last_sync = mlic_progress_now();
    if ((st = start_upload(&p, &share, p.output_len, 0)) != MLIC_OK)
        goto done;

    int progress = o->progress && share.rank == 0;
    uint64_t total = share.nranks > 1 ? share.share_total : progress && p.list ? count_lines(p.list) : 0;
    mlic_progress_start(&p.progress, progress ? o->progress : NULL, o->progress_user, total);
    if ((st = seek_list(&p, share.start_offset)) != MLIC_OK)
        goto done;
    st = run_pipeline(&p, engine, decode_threads);
    if (st == MLIC_OK) {
        mlic_progress_finish(&p.progress, p.written, p.nfailed);
        st = finish_share(&p);
    } else if (st == MLIC_ERR_CANCELLED) {
        st = sync_part(&p);
        if (st == MLIC_OK && p.written > 0)
            st = mlic_fail(MLIC_ERR_CANCELLED, "cancelled after %llu lines of the list were "
                           "answered (kept in '%s' with its journal; a run with resume continues "
                           "from there)", (unsigned long long)p.written, share.part_path);
        else if (st == MLIC_OK)
            st = mlic_fail(MLIC_ERR_CANCELLED, "cancelled before any line was answered");
    }

finished:
    if (st == MLIC_OK && p.upload)
        st = mlic_upload_finish(p.upload, p.output_len);
    if (st == MLIC_OK && share.nranks <= 1) {
        mlic_parts_totals totals;
        st = mlic_output_join(o, 1, &totals);
    }
    if (stats) {
        stats->inputs = p.written;
        stats->failed = p.nfailed;
        stats->succeeded = p.written - p.nfailed;
    }
    if (st == MLIC_OK && p.nfailed > 0)
        st = mlic_fail(MLIC_ERR_PARTIAL, "%llu of %llu inputs failed (their output lines hold an "
                       "\"error\")", (unsigned long long)p.nfailed, (unsigned long long)p.written);

done:
    mlic_upload_destroy(p.upload);
    if (p.out_fd >= 0)
        close(p.out_fd);
    mlic_journal_close(p.journal);
    if (opened && st != MLIC_OK && st != MLIC_ERR_PARTIAL)
        mlic_share_discard_if_empty(&share, p.checkpoints);
    mlic_share_free(&share);
    if (p.list)
        fclose(p.list);
    mlic_random_read_close(p.rr);
    mlic_fetch_many_destroy(p.many);
    mlic_io_destroy(p.io);
    mlic_storage_destroy(p.storage);
    free((void *)p.lo.output_path);
    free_ring(&p);
    mlic_engine_destroy(engine);
    mlic_model_free(model);
    free((void *)names);
    free(thresholds);
    free(root);
    if (stats)
        stats->seconds = mlic_progress_now() - t0;
    return st;
}
