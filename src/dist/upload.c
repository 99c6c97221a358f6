#include "dist/upload.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "io/multipart.h"
#include "util/deadline.h"
#include "util/file_write.h"

/* How often a caller waiting in mlic_upload_finish looks at the run's cancel flag. */
#define CANCEL_POLL_NS 50000000L

struct mlic_upload {
    mlic_io_opts io_opts;   /* the caller's, with cancel pointing at stop */
    const volatile sig_atomic_t *user_cancel;
    mlic_io *io;
    char *local, *target, *state, *upload_id;
    uint64_t part_size;
    int fd;                 /* the local part, read with pread */
    uint8_t *buf;           /* one part */

    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    volatile sig_atomic_t stop; /* the io client's cancel flag: set to stop the thread */
    uint64_t final_bytes;   /* bytes of the local part that are final */
    int finishing;          /* final_bytes is the whole part */
    int finished;           /* the thread is done (completed, failed or stopped) */
    int completed;          /* the target object exists with the whole part */
    mlic_status status;     /* the thread's first failure */
    char msg[1024];

    /* Upload thread only, until finished. */
    mlic_io_part *parts;
    size_t nparts, cap;
    uint64_t uploaded;      /* bytes of the local part in parts */
};

char *mlic_upload_state_path(const char *local)
{
    size_t n = strlen(local) + 8;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s.upload", local);
    return s;
}

/* ---------------------------------------------------------------- the state file */

/* Atomically, so that a kill leaves the old id or the new one. */
static mlic_status write_state(const mlic_upload *u)
{
    size_t n = strlen(u->upload_id);
    char *line = malloc(n + 2);
    if (!line)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    memcpy(line, u->upload_id, n);
    line[n] = '\n';
    mlic_status st = mlic_file_write_atomic(u->state, line, n + 1);
    free(line);
    return st;
}

/* The upload id in the state file, or NULL when there is none. */
static char *read_state(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char line[1024];
    char *id = NULL;
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
            id = strdup(line);
    }
    fclose(f);
    return id;
}

/* ---------------------------------------------------------------- parts */

static mlic_status read_local(mlic_upload *u, uint64_t offset, size_t len)
{
    for (size_t done = 0; done < len;) {
        ssize_t n = pread(u->fd, u->buf + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return mlic_fail(MLIC_ERR_IO, "reading '%s' at byte %llu for its upload to '%s': %s",
                             u->local, (unsigned long long)(offset + done), u->target,
                             n < 0 ? strerror(errno) : "the file is shorter than its journal says");
        done += (size_t)n;
    }
    return MLIC_OK;
}

/* Does the store's ETag say the part holds these bytes? An ETag that is not an MD5 (a store
 * encrypting with its own keys) cannot say, and the size alone decides. */
static int etag_matches(const char *etag, const uint8_t *data, size_t len)
{
    const char *e = etag[0] == '"' ? etag + 1 : etag;
    size_t el = strcspn(e, "\"");
    if (el != 32 || strspn(e, "0123456789abcdefABCDEF") < 32)
        return 1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL) || mdlen != 16)
        return 0;
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return strncasecmp(hex, e, 32) == 0;
}

static mlic_status add_part(mlic_upload *u, const mlic_io_part *p)
{
    if (u->nparts == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 64;
        mlic_io_part *np = realloc(u->parts, cap * sizeof *np);
        if (!np)
            return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
        u->parts = np;
        u->cap = cap;
    }
    u->parts[u->nparts++] = *p;
    return MLIC_OK;
}

static mlic_status upload_next(mlic_upload *u, uint64_t len)
{
    int number = (int)u->nparts + 1;
    if (number > MLIC_IO_MAX_PARTS)
        return mlic_fail(MLIC_ERR_TOO_LARGE, "the output '%s' needs more than %d parts of %llu "
                         "bytes. HINT: raise --part-size", u->target, MLIC_IO_MAX_PARTS,
                         (unsigned long long)u->part_size);
    mlic_status st = read_local(u, u->uploaded, (size_t)len);
    mlic_io_part p;
    if (st == MLIC_OK)
        st = mlic_io_upload_part(u->io, u->target, u->upload_id, number, u->buf, (size_t)len, &p);
    if (st == MLIC_OK)
        st = add_part(u, &p);
    if (st == MLIC_OK)
        u->uploaded += len;
    return st;
}

/* The whole part is uploaded: complete the upload (an empty part: one empty object). */
static mlic_status complete(mlic_upload *u)
{
    if (u->nparts == 0) {
        mlic_status st = mlic_io_upload_abort(u->io, u->target, u->upload_id);
        return st == MLIC_OK ? mlic_io_put(u->io, u->target, "", 0) : st;
    }
    return mlic_io_upload_complete(u->io, u->target, u->upload_id, u->parts, u->nparts);
}

static void *upload_main(void *arg)
{
    mlic_upload *u = arg;
    mlic_status st = MLIC_OK;
    pthread_mutex_lock(&u->mu);
    for (;;) {
        while (!u->stop && !u->finishing && u->final_bytes - u->uploaded < u->part_size)
            pthread_cond_wait(&u->cv, &u->mu);
        if (u->stop)
            break;
        uint64_t left = u->final_bytes - u->uploaded;
        if (u->finishing && left == 0)
            break;
        uint64_t len = left < u->part_size ? left : u->part_size;
        pthread_mutex_unlock(&u->mu);
        st = upload_next(u, len);
        pthread_mutex_lock(&u->mu);
        if (st != MLIC_OK)
            break;
    }
    int finish = st == MLIC_OK && !u->stop && u->finishing;
    pthread_mutex_unlock(&u->mu);
    if (finish)
        st = complete(u);
    pthread_mutex_lock(&u->mu);
    if (st == MLIC_OK && finish)
        u->completed = 1;
    else if (st == MLIC_OK)
        st = mlic_fail(MLIC_ERR_CANCELLED, "the upload to '%s' was stopped", u->target);
    u->status = st;
    if (st != MLIC_OK)
        snprintf(u->msg, sizeof u->msg, "%s", mlic_errmsg());
    u->finished = 1;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

/* ---------------------------------------------------------------- start */

/* Resuming: keep the parts of the upload that hold the local bytes, from part 1 on. 0: the store
 * no longer knows the upload. */
static int keep_parts(mlic_upload *u, uint64_t final_bytes, int share_done)
{
    mlic_io_part *have = NULL;
    size_t n = 0;
    if (mlic_io_upload_parts(u->io, u->target, u->upload_id, &have, &n) != MLIC_OK) {
        mlic_clear_error();
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const mlic_io_part *p = &have[i];
        uint64_t from = u->uploaded, to = from + p->size;
        int whole = p->size == u->part_size || (share_done && to == final_bytes && p->size > 0);
        if (p->number != (int)u->nparts + 1 || !whole || to > final_bytes)
            break;
        if (read_local(u, from, (size_t)p->size) != MLIC_OK) {
            mlic_clear_error();
            break;
        }
        if (!etag_matches(p->etag, u->buf, (size_t)p->size) || add_part(u, p) != MLIC_OK)
            break;
        u->uploaded = to;
    }
    mlic_clear_error();
    free(have);
    return 1;
}

/* The upload to continue or a new one, named in the state file. */
static mlic_status find_upload(mlic_upload *u, const mlic_upload_opts *o)
{
    char *old = read_state(u->state);
    if (old && o->resume) {
        u->upload_id = old;
        if (keep_parts(u, o->final_bytes, o->share_done))
            return MLIC_OK;
        /* Completed before the kill (the local files outlive the completion briefly)? */
        uint64_t size = 0;
        if (o->share_done && mlic_io_size(u->io, &size, u->target) == MLIC_OK &&
            size == o->final_bytes) {
            u->completed = 1;
            return MLIC_OK;
        }
        mlic_clear_error();
        u->upload_id = NULL;
    }
    /* A run starting afresh leaves no upload behind in the store. */
    if (old) {
        if (mlic_io_upload_abort(u->io, u->target, old) != MLIC_OK)
            mlic_clear_error();
        free(old);
    }
    mlic_status st = mlic_io_upload_create(u->io, u->target, &u->upload_id);
    if (st != MLIC_OK)
        return mlic_fail_prefix(st, "starting the upload of the output: ");
    return write_state(u);
}

mlic_status mlic_upload_start(mlic_upload **out, const mlic_upload_opts *o)
{
    *out = NULL;
    mlic_upload *u = calloc(1, sizeof *u);
    if (!u)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    u->fd = -1;
    u->io_opts = *o->io;
    u->user_cancel = o->io->cancel;
    u->io_opts.cancel = &u->stop;
    u->part_size = o->part_size ? o->part_size : MLIC_UPLOAD_DEFAULT_PART_BYTES;
    u->final_bytes = o->final_bytes;
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    u->local = strdup(o->local);
    u->target = strdup(o->target);
    u->state = mlic_upload_state_path(o->local);
    u->buf = u->part_size <= SIZE_MAX ? malloc((size_t)u->part_size) : NULL;
    mlic_status st = MLIC_OK;
    if (!u->local || !u->target || !u->state || !u->buf)
        st = mlic_fail(MLIC_ERR_NOMEM, "out of memory for a part of %llu bytes. HINT: lower "
                       "--part-size", (unsigned long long)u->part_size);
    if (st == MLIC_OK && (u->fd = open(o->local, O_RDONLY | O_CLOEXEC)) < 0)
        st = mlic_fail(MLIC_ERR_IO, "cannot open '%s' to upload it: %s", o->local, strerror(errno));
    if (st == MLIC_OK)
        st = mlic_io_create(&u->io, &u->io_opts);
    if (st == MLIC_OK)
        st = find_upload(u, o);
    if (st == MLIC_OK && u->completed) {
        u->finished = 1;
    } else if (st == MLIC_OK) {
        int err = pthread_create(&u->thread, NULL, upload_main, u);
        if (err)
            st = mlic_fail(MLIC_ERR_INTERNAL, "starting the upload thread: %s", strerror(err));
        u->started = err == 0;
    }
    if (st != MLIC_OK) {
        mlic_upload_destroy(u);
        return st;
    }
    *out = u;
    return MLIC_OK;
}

/* ---------------------------------------------------------------- progress */

/* The thread's failure, raised again on the calling thread; u->mu held. */
static mlic_status thread_status(const mlic_upload *u)
{
    return u->status == MLIC_OK ? MLIC_OK : mlic_fail(u->status, "%s", u->msg);
}

mlic_status mlic_upload_offer(mlic_upload *u, uint64_t n)
{
    pthread_mutex_lock(&u->mu);
    mlic_status st = thread_status(u);
    if (st == MLIC_OK && !u->completed && n > u->final_bytes) {
        u->final_bytes = n;
        pthread_cond_signal(&u->cv);
    }
    pthread_mutex_unlock(&u->mu);
    return st;
}

mlic_status mlic_upload_finish(mlic_upload *u, uint64_t n)
{
    pthread_mutex_lock(&u->mu);
    if (!u->completed && !u->finished) {
        u->final_bytes = n;
        u->finishing = 1;
        pthread_cond_signal(&u->cv);
    }
    while (!u->finished) {
        if (u->user_cancel && *u->user_cancel)
            u->stop = 1;
        struct timespec until = mlic_deadline_in(CANCEL_POLL_NS);
        pthread_cond_timedwait(&u->cv, &u->mu, &until);
    }
    mlic_status st = thread_status(u);
    if (st == MLIC_OK && !u->completed)
        st = mlic_fail(MLIC_ERR_INTERNAL, "the upload to '%s' ended before it was complete", u->target);
    pthread_mutex_unlock(&u->mu);
    if (st == MLIC_ERR_CANCELLED && u->user_cancel && *u->user_cancel)
        st = mlic_fail(MLIC_ERR_CANCELLED, "interrupted while uploading '%s' (a run with resume "
                       "continues the upload)", u->target);
    return st;
}

void mlic_upload_destroy(mlic_upload *u)
{
    if (!u)
        return;
    if (u->started) {
        pthread_mutex_lock(&u->mu);
        u->stop = 1;
        pthread_cond_broadcast(&u->cv);
        pthread_mutex_unlock(&u->mu);
        pthread_join(u->thread, NULL);
    }
    if (u->fd >= 0)
        close(u->fd);
    mlic_io_destroy(u->io);
    pthread_cond_destroy(&u->cv);
    pthread_mutex_destroy(&u->mu);
    free(u->local);
    free(u->target);
    free(u->state);
    free(u->upload_id);
    free(u->buf);
    free(u->parts);
    free(u);
}
