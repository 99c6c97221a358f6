#include "dist/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "util/file_open.h"

/* Entry layout: magic (8), type u32 (8), then the fields, CRC-32 of bytes [0, 76) at 76. */
static const char magic[8] = {'M', 'L', 'I', 'C', 'J', 'R', 'N', '1'};
enum { TYPE_HEADER = 1, TYPE_POINT = 2, CRC_AT = MLIC_JOURNAL_ENTRY - 4 };

struct mlic_journal {
    int fd;
    char *path;
};

uint32_t mlic_crc32(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

uint64_t mlic_journal_fingerprint(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    if (!h)
        h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void seal(uint8_t *e, uint32_t type)
{
    memcpy(e, magic, sizeof magic);
    put32(e + 8, type);
    put32(e + CRC_AT, mlic_crc32(0, e, CRC_AT));
}

/* The entry's type if it is intact, else 0. */
static uint32_t entry_type(const uint8_t *e)
{
    if (memcmp(e, magic, sizeof magic) || get32(e + CRC_AT) != mlic_crc32(0, e, CRC_AT))
        return 0;
    return get32(e + 8);
}

static void encode_header(uint8_t *e, const mlic_journal_header *h)
{
    memset(e, 0, MLIC_JOURNAL_ENTRY);
    put32(e + 12, h->rank);
    put32(e + 16, h->nranks);
    put32(e + 20, h->batch_size);
    put64(e + 24, h->list_size);
    put64(e + 32, h->list_mtime_ns);
    put64(e + 40, h->lines_before);
    put64(e + 48, h->share_lines);
    put64(e + 56, h->fingerprint);
    seal(e, TYPE_HEADER);
}

static void decode_header(mlic_journal_header *h, const uint8_t *e)
{
    h->rank = get32(e + 12);
    h->nranks = get32(e + 16);
    h->batch_size = get32(e + 20);
    h->list_size = get64(e + 24);
    h->list_mtime_ns = get64(e + 32);
    h->lines_before = get64(e + 40);
    h->share_lines = get64(e + 48);
    h->fingerprint = get64(e + 56);
}

static void encode_point(uint8_t *e, const mlic_journal_point *pt)
{
    memset(e, 0, MLIC_JOURNAL_ENTRY);
    put32(e + 12, pt->flags);
    put32(e + 16, pt->output_crc);
    put64(e + 24, pt->input_offset);
    put64(e + 32, pt->output_len);
    put64(e + 40, pt->lines);
    put64(e + 48, pt->failed);
    seal(e, TYPE_POINT);
}

static void decode_point(mlic_journal_point *pt, const uint8_t *e)
{
    pt->flags = get32(e + 12);
    pt->output_crc = get32(e + 16);
    pt->input_offset = get64(e + 24);
    pt->output_len = get64(e + 32);
    pt->lines = get64(e + 40);
    pt->failed = get64(e + 48);
}

static mlic_status write_entry(mlic_journal *j, const uint8_t *e)
{
    ssize_t n = write(j->fd, e, MLIC_JOURNAL_ENTRY);
    if (n != MLIC_JOURNAL_ENTRY)
        return mlic_fail(MLIC_ERR_IO, "writing the journal '%s': %s. HINT: is the disk full?", j->path,
                         n < 0 ? strerror(errno) : "short write");
    return MLIC_OK;
}

/* Opened, locked (a run still writing the share holds the lock until it ends) and cut to
 * `entries` entries, in that order: nothing is cut while another process writes. */
static mlic_status journal_open(mlic_journal **out, const char *path, int flags, size_t entries)
{
    *out = NULL;
    mlic_journal *j = calloc(1, sizeof *j);
    if (!j || !(j->path = strdup(path))) {
        free(j);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    }
    mlic_status st = MLIC_OK;
    j->fd = open(path, flags | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
    if (j->fd < 0)
        st = mlic_fail(MLIC_ERR_IO, "cannot open the journal '%s': %s. HINT: check that the output's "
                       "folder is writable", path, strerror(errno));
    else if (flock(j->fd, LOCK_EX | LOCK_NB) != 0)
        st = mlic_fail(MLIC_ERR_IO, "another process is writing '%s' (%s): is an earlier run of this "
                       "command still going? HINT: wait for it or stop it, then run with --resume",
                       path, errno == EWOULDBLOCK ? "it holds the lock" : strerror(errno));
    else if (ftruncate(j->fd, (off_t)(entries * MLIC_JOURNAL_ENTRY)) != 0)
        st = mlic_fail(MLIC_ERR_IO, "cutting the journal '%s' to its last good checkpoint: %s", path,
                       strerror(errno));
    if (st != MLIC_OK) {
        mlic_journal_close(j);
        return st;
    }
    *out = j;
    return MLIC_OK;
}

mlic_status mlic_journal_create(mlic_journal **out, const char *path, const mlic_journal_header *h)
{
    mlic_status st = journal_open(out, path, O_CREAT, 0);
    if (st != MLIC_OK)
        return st;
    uint8_t e[MLIC_JOURNAL_ENTRY];
    encode_header(e, h);
    if ((st = write_entry(*out, e)) == MLIC_OK)
        st = mlic_journal_sync(*out);
    if (st != MLIC_OK) {
        mlic_journal_close(*out);
        *out = NULL;
    }
    return st;
}

mlic_status mlic_journal_reopen(mlic_journal **out, const char *path, size_t entries)
{
    return journal_open(out, path, 0, entries);
}

mlic_status mlic_journal_append(mlic_journal *j, const mlic_journal_point *pt)
{
    uint8_t e[MLIC_JOURNAL_ENTRY];
    encode_point(e, pt);
    return write_entry(j, e);
}

mlic_status mlic_journal_sync(mlic_journal *j)
{
    if (fdatasync(j->fd) != 0)
        return mlic_fail(MLIC_ERR_IO, "syncing the journal '%s': %s", j->path, strerror(errno));
    return MLIC_OK;
}

void mlic_journal_close(mlic_journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    free(j->path);
    free(j);
}

mlic_status mlic_journal_read(const char *path, int *header_ok, mlic_journal_header *h,
                              mlic_journal_point **points, size_t *npoints)
{
    *header_ok = 0;
    *points = NULL;
    *npoints = 0;
    char name[512];
    snprintf(name, sizeof name, "the journal '%s'", path);
    FILE *f;
    mlic_status st = mlic_file_fopen_read(&f, path, name, 0);
    if (st != MLIC_OK)
        return st;
    uint8_t e[MLIC_JOURNAL_ENTRY];
    if (fread(e, 1, sizeof e, f) == sizeof e && entry_type(e) == TYPE_HEADER) {
        *header_ok = 1;
        decode_header(h, e);
        size_t cap = 0;
        while (fread(e, 1, sizeof e, f) == sizeof e && entry_type(e) == TYPE_POINT) {
            if (*npoints == cap) {
                size_t ncap = cap ? 2 * cap : 256;
                mlic_journal_point *np = realloc(*points, ncap * sizeof *np);
                if (!np) {
                    st = mlic_fail(MLIC_ERR_NOMEM, "out of memory reading the journal '%s'", path);
                    break;
                }
                *points = np;
                cap = ncap;
            }
            decode_point(&(*points)[(*npoints)++], e);
        }
    }
    if (st == MLIC_OK && ferror(f))
        st = mlic_fail(MLIC_ERR_IO, "reading the journal '%s': %s", path, strerror(errno));
    fclose(f);
    if (st != MLIC_OK) {
        free(*points);
        *points = NULL;
        *npoints = 0;
    }
    return st;
}
