/* The client: sorts a path (io/location.h), resolves it against the root, and reads or writes
 * it locally (io/local.h) or with one remote request at a time, retried by the shared policy
 * (io/transfer.h). Requests to a store are signed afresh for every attempt. */
#include "io/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "io/client_internal.h"
#include "io/local.h"
#include "io/s3_sign.h"
#include "io/s3_xml.h"
#include "io/service.h"
#include "util/confine.h"
#include "util/file_open.h"
#include "util/file_write.h"
#include "util/strbuf.h"

mlic_status mlic_io_create(mlic_io **out, const mlic_io_opts *o)
{
    *out = NULL;
    mlic_io *io = calloc(1, sizeof *io);
    if (!io || (o->root && !(io->root = strdup(o->root)))) {
        free(io);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory creating an I/O client");
    }
    /* Each client holds libcurl's global state (reference-counted, and thread-safe in the
     * libcurl versions mlic accepts), so that no caller has to set it up first. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(io->root);
        free(io);
        return mlic_fail(MLIC_ERR_NETWORK, "creating an I/O client: curl_global_init failed");
    }
    io->storage = o->storage;
    io->cancel = o->cancel;
    io->retries = o->retries == 0 ? MLIC_IO_DEFAULT_RETRIES : o->retries < 0 ? 0 : o->retries;
    double timeout = o->timeout > 0 ? o->timeout : MLIC_IO_DEFAULT_TIMEOUT;
    io->timeout_ms = (long)(timeout * 1000.0 + 0.5);
    if (io->timeout_ms < 1)
        io->timeout_ms = 1;
    /* Connecting should take far less than a whole transfer; 10 s covers slow DNS and SYN retries. */
    io->connect_timeout_ms = io->timeout_ms < 10000 ? io->timeout_ms : 10000;
    io->seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)io;
    if (o->confine && !mlic_location_is_remote(o->root ? o->root : ".")) {
        mlic_status st = mlic_confine_root(&io->real_root, o->root ? o->root : ".");
        if (st != MLIC_OK) {
            mlic_io_destroy(io);
            return st;
        }
    }
    *out = io;
    return MLIC_OK;
}

void mlic_io_destroy(mlic_io *io)
{
    if (!io)
        return;
    if (io->curl)
        curl_easy_cleanup(io->curl);
    free(io->root);
    free(io->real_root);
    free(io);
    curl_global_cleanup();
}

/* ---------------------------------------------------------------- resolving a path */

static int cancelled(const mlic_io *io)
{
    return io->cancel && *io->cancel;
}

void mlic_io_resolved_free(mlic_io_resolved *r)
{
    free(r->full);
    free(r->local);
    mlic_object_ref_free(&r->obj);
    memset(r, 0, sizeof *r);
}

mlic_status mlic_io_resolve(mlic_io *io, mlic_io_resolved *r, const char *path)
{
    memset(r, 0, sizeof *r);
    size_t scheme = mlic_location_scheme_len(path);
    int file_url = scheme && !strncasecmp(path, "file://", 7);
    if (io->real_root && (scheme == 0 || file_url)) {
        r->kind = MLIC_LOC_LOCAL;
        r->full = strdup(path);
        mlic_status st = r->full ? mlic_confine_path(&r->local, io->root ? io->root : ".",
                                                     io->real_root, path)
                                 : mlic_fail(MLIC_ERR_NOMEM, "out of memory");
        if (st != MLIC_OK)
            mlic_io_resolved_free(r);
        return st;
    }
    if (scheme && !file_url && mlic_location_kind(path) == MLIC_LOC_LOCAL)
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "'%s': the URL scheme '%.*s' is not supported. "
                         "HINT: use a local path, file://, http(s)://, s3:// or oss://", path,
                         (int)scheme, path);
    if (!(r->full = mlic_location_join(io->root, path)))
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    r->kind = mlic_location_kind(r->full);
    mlic_status st = MLIC_OK;
    if (r->kind == MLIC_LOC_LOCAL) {
        if (!strncasecmp(r->full, "file://", 7))
            st = mlic_file_url_path(&r->local, r->full);
        else if (!(r->local = strdup(r->full)))
            st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    } else if (r->kind == MLIC_LOC_S3 || r->kind == MLIC_LOC_OSS) {
        st = mlic_object_ref_parse(&r->obj, r->full);
        if (st == MLIC_OK && !io->storage)
            st = mlic_fail(MLIC_ERR_INVALID_ARG, "'%s': this part of mlic was given no object "
                           "storage settings. HINT: use a local or http(s) path here",
                           r->full);
    }
    if (st != MLIC_OK)
        mlic_io_resolved_free(r);
    return st;
}

void mlic_io_xfer_prepare(const mlic_io *io, mlic_xfer *x, const mlic_io_resolved *r,
                          const char *method)
{
    memset(x, 0, sizeof *x);
    x->path = r->full;
    x->method = method;
    if (r->kind == MLIC_LOC_HTTP) {
        x->url = r->full;
    } else {
        x->service = mlic_storage_service(io->storage, r->kind);
        x->bucket = r->obj.bucket;
        x->key = r->obj.key;
    }
    x->cancel = io->cancel;
    x->timeout_ms = io->timeout_ms;
    x->connect_timeout_ms = io->connect_timeout_ms;
    x->limit = MLIC_IO_MAX_OBJECT_BYTES;
}

/* How often the wait before a retry looks at the cancel flag. */
#define CANCEL_POLL_MS 50

/* The back-off before a retry; 0 if cancelled meanwhile. */
static int sleep_ms(const mlic_io *io, long ms)
{
    while (ms > 0 && !cancelled(io)) {
        long step = ms < CANCEL_POLL_MS ? ms : CANCEL_POLL_MS;
        struct timespec ts = {0, step * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        ms -= step;
    }
    return !cancelled(io);
}

mlic_status mlic_io_perform(mlic_io *io, mlic_xfer *x)
{
    if (!io->curl && !(io->curl = curl_easy_init()))
        return mlic_fail(MLIC_ERR_NETWORK, "%s %s: curl_easy_init failed", x->method, x->path);
    mlic_xfer_init(x);
    mlic_status st = MLIC_OK;
    for (;;) {
        if (cancelled(io)) {
            st = mlic_fail(MLIC_ERR_CANCELLED, "%s %s: cancelled", x->method, x->path);
            break;
        }
        if ((st = mlic_xfer_setup(x, io->curl)) != MLIC_OK)
            break;
        CURLcode rc = curl_easy_perform(io->curl);
        mlic_xfer_outcome out = mlic_xfer_judge(x, io->curl, rc, io->retries, &st);
        if (out == MLIC_XFER_DONE) {
            st = MLIC_OK;
            break;
        }
        if (out == MLIC_XFER_FAILED)
            break;
        if (!sleep_ms(io, mlic_xfer_backoff_ms(x, &io->seed))) {
            st = mlic_fail(MLIC_ERR_CANCELLED, "%s %s: cancelled", x->method, x->path);
            break;
        }
    }
    /* Keep no pointers into x in the reused handle (its connections stay cached). */
    curl_easy_reset(io->curl);
    mlic_xfer_cleanup(x);
    return st;
}

/* ---------------------------------------------------------------- the operations */

mlic_status mlic_io_get(mlic_io *io, uint8_t **data, size_t *len, const char *path)
{
    *data = NULL;
    *len = 0;
    mlic_io_resolved r;
    mlic_status st = mlic_io_resolve(io, &r, path);
    if (st != MLIC_OK)
        return st;
    if (r.kind == MLIC_LOC_LOCAL) {
        st = mlic_local_get(data, len, r.local, path, MLIC_IO_MAX_OBJECT_BYTES);
    } else {
        mlic_xfer x;
        mlic_io_xfer_prepare(io, &x, &r, "GET");
        st = mlic_io_perform(io, &x);
        if (st == MLIC_OK && !x.buf && !(x.buf = malloc(1)))
            st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
        if (st == MLIC_OK) {
            *data = x.buf;
            *len = x.len;
        } else {
            free(x.buf);
        }
    }
    mlic_io_resolved_free(&r);
    return st;
}

mlic_status mlic_io_get_range(mlic_io *io, void *buf, size_t cap, uint64_t offset, size_t *got,
                              const char *path)
{
    *got = 0;
    mlic_io_resolved r;
    mlic_status st = mlic_io_resolve(io, &r, path);
    if (st != MLIC_OK)
        return st;
    if (r.kind == MLIC_LOC_LOCAL) {
        st = mlic_local_get_range(buf, cap, offset, got, r.local, path);
    } else if (cap > 0) {
        mlic_xfer x;
        mlic_io_xfer_prepare(io, &x, &r, "GET");
        x.buf = buf;
        x.cap = cap;
        x.fixed = 1;
        x.has_range = 1;
        x.range_start = offset;
        st = mlic_io_perform(io, &x);
        if (st == MLIC_OK)
            *got = x.len;
    }
    mlic_io_resolved_free(&r);
    return st;
}

mlic_status mlic_io_size(mlic_io *io, uint64_t *size, const char *path)
{
    *size = 0;
    mlic_io_resolved r;
    mlic_status st = mlic_io_resolve(io, &r, path);
    if (st != MLIC_OK)
        return st;
    if (r.kind == MLIC_LOC_LOCAL) {
        st = mlic_local_size(size, r.local, path);
    } else {
        mlic_xfer x;
        mlic_io_xfer_prepare(io, &x, &r, "HEAD");
        st = mlic_io_perform(io, &x);
        if (st == MLIC_OK && x.content_length < 0)
            st = mlic_fail(MLIC_ERR_NETWORK, "HEAD %s: the reply gives no Content-Length", r.full);
        if (st == MLIC_OK)
            *size = (uint64_t)x.content_length;
    }
    mlic_io_resolved_free(&r);
    return st;
}

mlic_status mlic_io_put(mlic_io *io, const char *path, const void *data, size_t len)
{
    mlic_io_resolved r;
    mlic_status st = mlic_io_resolve(io, &r, path);
    if (st != MLIC_OK)
        return st;
    if (r.kind == MLIC_LOC_LOCAL) {
        st = mlic_file_write_atomic(r.local, data, len);
    } else if (r.kind == MLIC_LOC_HTTP) {
        st = mlic_fail(MLIC_ERR_UNSUPPORTED, "'%s': mlic does not write to http(s) URLs. HINT: "
                       "write to a local path, s3:// or oss://", r.full);
    } else {
        mlic_xfer x;
        mlic_io_xfer_prepare(io, &x, &r, "PUT");
        x.upload = data;
        x.upload_len = len;
        x.limit = MLIC_XFER_ERRBODY;
        st = mlic_io_perform(io, &x);
        free(x.buf);
    }
    mlic_io_resolved_free(&r);
    return st;
}

mlic_status mlic_io_delete(mlic_io *io, const char *path)
{
    mlic_io_resolved r;
    mlic_status st = mlic_io_resolve(io, &r, path);
    if (st != MLIC_OK)
        return st;
    if (r.kind == MLIC_LOC_LOCAL) {
        st = mlic_local_delete(r.local, path);
    } else if (r.kind == MLIC_LOC_HTTP) {
        st = mlic_fail(MLIC_ERR_UNSUPPORTED, "'%s': mlic does not delete http(s) URLs", r.full);
    } else {
        mlic_xfer x;
        mlic_io_xfer_prepare(io, &x, &r, "DELETE");
        x.limit = MLIC_XFER_ERRBODY;
        st = mlic_io_perform(io, &x);
        if (st != MLIC_OK && x.status == 404 && strstr(x.errbody, "NoSuchKey"))
            st = MLIC_OK;
        free(x.buf);
    }
    mlic_io_resolved_free(&r);
    return st;
}

/* One page of ListObjectsV2: fn for each key; *token: the next page's continuation token
 * (malloc'd), NULL at the end. */
static mlic_status list_page(mlic_io *io, const mlic_io_resolved *r, char **token, int *stop,
                             int (*fn)(void *user, const char *path, uint64_t size), void *user)
{
    const char *names[] = {"list-type", "prefix", "encoding-type", "continuation-token"};
    const char *values[] = {"2", r->obj.key, "url", *token};
    char *query = mlic_s3_query(names, values, *token ? 4 : 3);
    free(*token);
    *token = NULL;
    if (!query)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    mlic_io_resolved bucket = *r;
    mlic_xfer x;
    mlic_io_xfer_prepare(io, &x, &bucket, "GET");
    x.key = "";
    x.query = query;
    x.limit = 64u << 20; /* a page of 1,000 keys of 1 KiB each, and then some */
    mlic_status st = mlic_io_perform(io, &x);
    free(query);
    const char *xml = (const char *)x.buf;
    size_t pos = 0, n;
    const char *item;
    mlic_strbuf full;
    mlic_strbuf_init(&full);
    char key[2048], size[32], trunc[16];
    while (st == MLIC_OK && !*stop && mlic_xml_next(xml, x.len, &pos, "Contents", &item, &n)) {
        if (mlic_xml_text(item, n, "Key", key, sizeof key) < 0 || !mlic_url_decode(key) ||
            mlic_xml_text(item, n, "Size", size, sizeof size) <= 0) {
            st = mlic_fail(MLIC_ERR_FORMAT, "listing %s: the store's reply holds an entry "
                           "without a readable key and size", r->full);
            break;
        }
        mlic_strbuf_clear(&full);
        mlic_strbuf_printf(&full, "%s://%s/%s", r->kind == MLIC_LOC_OSS ? "oss" : "s3",
                           r->obj.bucket, key);
        if (full.oom) {
            st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
            break;
        }
        *stop = fn(user, full.data, strtoull(size, NULL, 10));
    }
    if (st == MLIC_OK && !*stop && mlic_xml_text(xml, x.len, "IsTruncated", trunc, sizeof trunc) > 0 &&
        !strcmp(trunc, "true")) {
        char next[2048];
        if (mlic_xml_text(xml, x.len, "NextContinuationToken", next, sizeof next) <= 0)
            st = mlic_fail(MLIC_ERR_FORMAT, "listing %s: the store says there is more but "
                           "gives no continuation token", r->full);
        else if (!(*token = strdup(next)))
            st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    }
    mlic_strbuf_free(&full);
    free(x.buf);
    return st;
}

mlic_status mlic_io_list(mlic_io *io, const char *prefix,
                         int (*fn)(void *user, const char *path, uint64_t size), void *user)
{
    mlic_io_resolved r;
    mlic_status st = mlic_io_resolve(io, &r, prefix);
    if (st != MLIC_OK)
        return st;
    if (r.kind == MLIC_LOC_LOCAL) {
        st = mlic_local_list(r.local, fn, user);
    } else if (r.kind == MLIC_LOC_HTTP) {
        st = mlic_fail(MLIC_ERR_UNSUPPORTED, "'%s': http(s) URLs cannot be listed. HINT: list "
                       "a local folder, s3:// or oss:// prefix", r.full);
    } else {
        char *token = NULL;
        int stop = 0;
        do
            st = list_page(io, &r, &token, &stop, fn, user);
        while (st == MLIC_OK && token);
        free(token);
    }
    mlic_io_resolved_free(&r);
    return st;
}

/* ---------------------------------------------------------------- a stdio stream */

typedef struct {
    uint8_t *data;
    size_t len, pos;
} mem_stream;

static ssize_t mem_read(void *cookie, char *buf, size_t size)
{
    mem_stream *m = cookie;
    size_t n = m->len - m->pos;
    if (n > size)
        n = size;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static int mem_seek(void *cookie, off64_t *offset, int whence)
{
    mem_stream *m = cookie;
    off64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (off64_t)m->pos : (off64_t)m->len;
    off64_t to = base + *offset;
    if (to < 0 || to > (off64_t)m->len)
        return -1;
    m->pos = (size_t)to;
    *offset = to;
    return 0;
}

static int mem_close(void *cookie)
{
    mem_stream *m = cookie;
    free(m->data);
    free(m);
    return 0;
}

mlic_status mlic_io_fopen_read(mlic_io *io, FILE **f, const char *path, const char *name)
{
    *f = NULL;
    mlic_io_resolved r;
    mlic_status st = mlic_io_resolve(io, &r, path);
    if (st != MLIC_OK)
        return st;
    if (r.kind == MLIC_LOC_LOCAL) {
        st = mlic_file_fopen_read(f, r.local, name ? name : path, 0);
        mlic_io_resolved_free(&r);
        return st;
    }
    mlic_io_resolved_free(&r);
    mem_stream *m = calloc(1, sizeof *m);
    if (!m)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    st = mlic_io_get(io, &m->data, &m->len, path);
    if (st != MLIC_OK) {
        free(m);
        return st;
    }
    cookie_io_functions_t fns = {.read = mem_read, .seek = mem_seek, .close = mem_close};
    if (!(*f = fopencookie(m, "rb", fns))) {
        mem_close(m);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory opening '%s'", name ? name : path);
    }
    return MLIC_OK;
}
