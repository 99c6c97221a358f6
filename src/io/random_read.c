/* Random reads: pread on a local file, Range requests on a remote one; the stream reads ahead
 * in blocks (BLOCK_LOCAL / BLOCK_REMOTE) so a remote list costs one request per block, which
 * amortises the store's latency over megabytes of lines. */
#include "io/random_read.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "io/client_internal.h"
#include "util/file_open.h"

#define BLOCK_LOCAL ((size_t)256 << 10)
#define BLOCK_REMOTE ((size_t)8 << 20)

struct mlic_random_read {
    mlic_io *io;
    char *path;   /* as given: what the client resolves */
    char *name;   /* how messages name it */
    int fd;       /* local: open file, else -1 */
    int seekable;
    uint64_t size;
    char error[1024];
};

mlic_status mlic_random_read_open(mlic_random_read **out, mlic_io *io, const char *path,
                                  const char *name, int flags)
{
    *out = NULL;
    mlic_random_read *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path)) || !(r->name = strdup(name ? name : path))) {
        if (r)
            free(r->path);
        free(r);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory opening '%s'", path);
    }
    r->io = io;
    r->fd = -1;
    mlic_io_resolved res;
    mlic_status st = mlic_io_resolve(io, &res, path);
    int resolved = st == MLIC_OK;
    if (st == MLIC_OK && res.kind == MLIC_LOC_LOCAL) {
        st = mlic_file_open_read(&r->fd, res.local, r->name, flags);
        struct stat s;
        if (st == MLIC_OK && fstat(r->fd, &s) != 0)
            st = mlic_fail(MLIC_ERR_IO, "cannot stat '%s': %s", r->name, strerror(errno));
        if (st == MLIC_OK) {
            r->seekable = S_ISREG(s.st_mode);
            r->size = r->seekable ? (uint64_t)s.st_size : 0;
        }
    } else if (st == MLIC_OK) {
        st = mlic_io_size(io, &r->size, path);
        r->seekable = 1;
    }
    if (resolved)
        mlic_io_resolved_free(&res);
    if (st != MLIC_OK) {
        mlic_random_read_close(r);
        return st;
    }
    *out = r;
    return MLIC_OK;
}

void mlic_random_read_close(mlic_random_read *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    free(r->path);
    free(r->name);
    free(r);
}

int mlic_random_read_seekable(const mlic_random_read *r)
{
    return r->seekable;
}

uint64_t mlic_random_read_size(const mlic_random_read *r)
{
    return r->size;
}

const char *mlic_random_read_error(const mlic_random_read *r)
{
    return r->error;
}

/* read(2) for a stream that cannot seek (a pipe): *got < n only at its end. */
/* Reads until n bytes or the end: at offset (pread), or from the current position when
 * offset < 0 (a stream). */
static mlic_status read_fd(mlic_random_read *r, void *buf, size_t n, int64_t offset, size_t *got)
{
    while (*got < n) {
        ssize_t k = offset < 0 ? read(r->fd, (char *)buf + *got, n - *got)
                               : pread(r->fd, (char *)buf + *got, n - *got, (off_t)offset + (off_t)*got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return mlic_fail(MLIC_ERR_IO, "reading '%s': %s", r->name, strerror(errno));
        if (k == 0)
            break;
        *got += (size_t)k;
    }
    return MLIC_OK;
}

mlic_status mlic_random_read_at(mlic_random_read *r, void *buf, size_t n, uint64_t offset,
                                size_t *got)
{
    *got = 0;
    if (!r->seekable)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "'%s' is a stream: it cannot be read at an offset",
                         r->name);
    if (r->fd < 0)
        return mlic_io_get_range(r->io, buf, n, offset, got, r->path);
    return read_fd(r, buf, n, (int64_t)offset, got);
}

/* ---------------------------------------------------------------- the stream */

typedef struct {
    mlic_random_read *r;
    uint64_t pos;      /* of the next byte the stream hands out */
    uint8_t *block;
    size_t cap, len, at; /* the block holds [pos - at, pos - at + len) */
    int eof;
} cookie;

static ssize_t stream_read(void *c_, char *buf, size_t size)
{
    cookie *c = c_;
    size_t out = 0;
    while (out < size) {
        if (c->at == c->len) {
            if (c->eof)
                break;
            size_t got = 0;
            mlic_status st = c->r->seekable
                                 ? mlic_random_read_at(c->r, c->block, c->cap, c->pos, &got)
                                 : read_fd(c->r, c->block, c->cap, -1, &got);
            if (st != MLIC_OK) {
                snprintf(c->r->error, sizeof c->r->error, "%s", mlic_errmsg());
                errno = EIO;
                return out ? (ssize_t)out : -1;
            }
            c->len = got;
            c->at = 0;
            c->eof = got < c->cap;
            if (got == 0)
                break;
        }
        size_t k = c->len - c->at;
        if (k > size - out)
            k = size - out;
        memcpy(buf + out, c->block + c->at, k);
        c->at += k;
        c->pos += k;
        out += k;
    }
    return (ssize_t)out;
}

static int stream_close(void *c_)
{
    cookie *c = c_;
    free(c->block);
    free(c);
    return 0;
}

mlic_status mlic_random_read_stream(mlic_random_read *r, uint64_t offset, FILE **stream)
{
    *stream = NULL;
    if (!r->seekable && offset != 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "'%s' is a stream: it can only be read from its "
                         "start", r->name);
    cookie *c = calloc(1, sizeof *c);
    size_t cap = r->fd >= 0 ? BLOCK_LOCAL : BLOCK_REMOTE;
    if (c)
        c->block = malloc(cap);
    if (!c || !c->block) {
        free(c);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory reading '%s'", r->name);
    }
    c->r = r;
    c->pos = offset;
    c->cap = cap;
    r->error[0] = '\0';
    cookie_io_functions_t fns = {.read = stream_read, .close = stream_close};
    if (!(*stream = fopencookie(c, "rb", fns))) {
        stream_close(c);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory reading '%s'", r->name);
    }
    return MLIC_OK;
}
