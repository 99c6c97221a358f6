#include "dist/compose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/multipart.h"

/* S3 copies at most 5 GiB per UploadPartCopy; longer ranges go in pieces of this size, which
 * leaves every rest larger than any part size. */
#define MAX_COPY_BYTES ((uint64_t)5 << 30)
#define COPY_PIECE_BYTES ((uint64_t)4 << 30)

typedef struct {
    mlic_io *io;
    const char *target;
    char *id;
    mlic_io_part *parts;
    size_t nparts, cap;
    uint8_t *buf;  /* bytes waiting to make a part */
    uint64_t blen, part_size;
} composer;

static mlic_status next_number(composer *c, int *number)
{
    if (c->nparts >= MLIC_IO_MAX_PARTS)
        return mlic_fail(MLIC_ERR_TOO_LARGE, "joining '%s' needs more than %d parts. HINT: raise "
                         "--part-size", c->target, MLIC_IO_MAX_PARTS);
    if (c->nparts == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        mlic_io_part *np = realloc(c->parts, cap * sizeof *np);
        if (!np)
            return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
        c->parts = np;
        c->cap = cap;
    }
    *number = (int)c->nparts + 1;
    return MLIC_OK;
}

static mlic_status flush(composer *c)
{
    int number = 0;
    mlic_status st = next_number(c, &number);
    if (st == MLIC_OK)
        st = mlic_io_upload_part(c->io, c->target, c->id, number, c->buf, (size_t)c->blen,
                                 &c->parts[c->nparts]);
    if (st == MLIC_OK) {
        c->nparts++;
        c->blen = 0;
    }
    return st;
}

/* Bytes [from, from + len) of src into the buffer (which has room). */
static mlic_status take(composer *c, const char *src, uint64_t from, uint64_t len)
{
    size_t got = 0;
    mlic_status st = mlic_io_get_range(c->io, c->buf + c->blen, (size_t)len, from, &got, src);
    if (st != MLIC_OK)
        return st;
    if (got != len)
        return mlic_fail(MLIC_ERR_IO, "'%s' ended at byte %llu while it was being joined into '%s'. "
                         "HINT: was it changed meanwhile? Rerun with --resume", src,
                         (unsigned long long)(from + got), c->target);
    c->blen += len;
    return MLIC_OK;
}

static mlic_status copy(composer *c, const char *src, uint64_t from, uint64_t len)
{
    while (len > 0) {
        uint64_t n = len <= MAX_COPY_BYTES ? len : COPY_PIECE_BYTES;
        int number = 0;
        mlic_status st = next_number(c, &number);
        if (st == MLIC_OK)
            st = mlic_io_upload_copy_part(c->io, c->target, c->id, number, src, from, n,
                                          &c->parts[c->nparts]);
        if (st != MLIC_OK)
            return st;
        c->nparts++;
        from += n;
        len -= n;
    }
    return MLIC_OK;
}

static mlic_status add_source(composer *c, const char *src)
{
    uint64_t size, at = 0;
    mlic_status st = mlic_io_size(c->io, &size, src);
    if (st != MLIC_OK)
        return st;
    /* Bytes waiting from the sources before: this one's first bytes make them a part. */
    if (c->blen > 0) {
        uint64_t n = c->part_size - c->blen < size ? c->part_size - c->blen : size;
        if ((st = take(c, src, 0, n)) != MLIC_OK)
            return st;
        at = n;
        if (c->blen == c->part_size && (st = flush(c)) != MLIC_OK)
            return st;
    }
    uint64_t rest = size - at;
    if (rest >= c->part_size)
        return copy(c, src, at, rest);
    return rest > 0 ? take(c, src, at, rest) : MLIC_OK;
}

/* Uploads of target left open by an earlier call that was killed. */
static void abort_old(mlic_io *io, const char *target)
{
    char **ids = NULL;
    size_t n = 0;
    if (mlic_io_upload_find(io, target, &ids, &n) == MLIC_OK) {
        for (size_t i = 0; i < n; i++)
            if (mlic_io_upload_abort(io, target, ids[i]) != MLIC_OK)
                mlic_clear_error();
        mlic_io_upload_ids_free(ids, n);
    }
    mlic_clear_error();
}

mlic_status mlic_compose(mlic_io *io, const char *target, char *const *sources, int n,
                         uint64_t part_size)
{
    composer c = {.io = io, .target = target, .part_size = part_size};
    if (part_size == 0 || part_size > SIZE_MAX || !(c.buf = malloc((size_t)part_size)))
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory for a part of %llu bytes. HINT: lower "
                         "--part-size", (unsigned long long)part_size);
    abort_old(io, target);
    mlic_status st = mlic_io_upload_create(io, target, &c.id);
    for (int i = 0; st == MLIC_OK && i < n; i++)
        st = add_source(&c, sources[i]);
    if (st == MLIC_OK && c.blen > 0)
        st = flush(&c);
    if (st == MLIC_OK && c.nparts > 0) {
        st = mlic_io_upload_complete(io, target, c.id, c.parts, c.nparts);
    } else if (st == MLIC_OK) { /* every share is empty: so is the output */
        st = mlic_io_upload_abort(io, target, c.id);
        if (st == MLIC_OK)
            st = mlic_io_put(io, target, "", 0);
    } else if (c.id) {
        /* The first error is the one to report; a failed abort is retried by the next call. */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", mlic_errmsg());
        mlic_io_upload_abort(io, target, c.id);
        mlic_fail(st, "%s", msg);
    }
    if (st != MLIC_OK)
        mlic_fail_prefix(st, "joining the shares into '%s': ", target);
    free(c.id);
    free(c.parts);
    free(c.buf);
    return st;
}
