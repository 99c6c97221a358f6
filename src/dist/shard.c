#include "dist/shard.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define CHUNK (1 << 20)

void mlic_shard_range(uint64_t size, int rank, int nranks, uint64_t *begin, uint64_t *end)
{
    *begin = (uint64_t)((unsigned __int128)size * (unsigned)rank / (unsigned)nranks);
    *end = (uint64_t)((unsigned __int128)size * (unsigned)(rank + 1) / (unsigned)nranks);
}

/* Calls visit(ctx, buf, n, offset) on [from, to) in chunks; visit returns nonzero to stop. */
static mlic_status scan(mlic_random_read *list, const char *path, uint64_t from, uint64_t to,
                        int (*visit)(void *ctx, const char *buf, size_t n, uint64_t at), void *ctx)
{
    char *buf = malloc(CHUNK);
    if (!buf)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    mlic_status st = MLIC_OK;
    for (uint64_t at = from; at < to;) {
        size_t want = to - at < CHUNK ? (size_t)(to - at) : CHUNK;
        size_t n = 0;
        if ((st = mlic_random_read_at(list, buf, want, at, &n)) != MLIC_OK)
            break;
        if (n == 0) {
            st = mlic_fail(MLIC_ERR_IO, "reading the list '%s' at byte %llu: unexpected end of file. "
                           "HINT: was it changed or truncated during the run?", path,
                           (unsigned long long)at);
            break;
        }
        if (visit(ctx, buf, n, at))
            break;
        at += (uint64_t)n;
    }
    free(buf);
    return st;
}

typedef struct {
    uint64_t found; /* offset of the first '\n', or UINT64_MAX */
} find_ctx;

static int find_newline(void *ctx, const char *buf, size_t n, uint64_t at)
{
    const char *q = memchr(buf, '\n', n);
    if (!q)
        return 0;
    ((find_ctx *)ctx)->found = at + (uint64_t)(q - buf);
    return 1;
}

mlic_status mlic_shard_first_line(mlic_random_read *list, const char *path, uint64_t size, uint64_t begin,
                                  uint64_t *first)
{
    if (begin == 0 || begin >= size) {
        *first = begin < size ? begin : size;
        return MLIC_OK;
    }
    /* The line holding byte begin - 1 ends at the first '\n' from there. */
    find_ctx c = {UINT64_MAX};
    mlic_status st = scan(list, path, begin - 1, size, find_newline, &c);
    if (st != MLIC_OK)
        return st;
    *first = c.found == UINT64_MAX ? size : c.found + 1;
    return MLIC_OK;
}

static int count_newlines(void *ctx, const char *buf, size_t n, uint64_t at)
{
    uint64_t *count = ctx;
    for (const char *q = buf; (q = memchr(q, '\n', (size_t)(buf + n - q))); q++)
        (*count)++;
    return 0;
}

mlic_status mlic_shard_count_newlines(mlic_random_read *list, const char *path, uint64_t from, uint64_t to,
                                      uint64_t *count)
{
    *count = 0;
    return scan(list, path, from, to, count_newlines, count);
}

mlic_status mlic_shard_count_lines(mlic_random_read *list, const char *path, uint64_t size, uint64_t first,
                                   uint64_t end, uint64_t *count)
{
    uint64_t e = end < size ? end : size;
    *count = 0;
    if (first >= e)
        return MLIC_OK;
    /* first starts a line; every '\n' before e - 1 starts another inside the range. */
    mlic_status st = mlic_shard_count_newlines(list, path, first, e - 1, count);
    if (st == MLIC_OK)
        (*count)++;
    return st;
}
