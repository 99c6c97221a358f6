#include "dist/parts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "dist/journal.h"
#include "dist/upload.h"
#include "util/file_open.h"
#include "util/path.h"

#define COPY_CHUNK (1 << 20)

static char *format_path(const char *output, int rank, int nranks, const char *suffix)
{
    size_t n = strlen(output) + strlen(suffix) + 64;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s.part-%05d-of-%05d%s", output, rank, nranks, suffix);
    return s;
}

char *mlic_parts_part_path(const char *output, int rank, int nranks)
{
    return format_path(output, rank, nranks, "");
}

char *mlic_parts_journal_path(const char *output, int rank, int nranks)
{
    return format_path(output, rank, nranks, ".journal");
}

/* Digits at *s as an int (advancing *s); -1 if there are none or too many. */
static long take_number(const char **s)
{
    long v = 0;
    int n = 0;
    while (**s >= '0' && **s <= '9' && n < 9) {
        v = 10 * v + (**s - '0');
        (*s)++;
        n++;
    }
    return n && !(**s >= '0' && **s <= '9') ? v : -1;
}

/* The rank count of a part or journal file of OUT named `name`, or -1 if it is not one. */
static long parts_nranks(const char *name, const char *base)
{
    size_t bl = strlen(base);
    if (strncmp(name, base, bl) || strncmp(name + bl, ".part-", 6))
        return -1;
    const char *s = name + bl + 6;
    if (take_number(&s) < 0 || strncmp(s, "-of-", 4))
        return -1;
    s += 4;
    long n = take_number(&s);
    return n >= 0 && (!*s || !strcmp(s, ".journal")) ? n : -1;
}

mlic_status mlic_parts_check_other_runs(const char *output, int nranks)
{
    char *dir = mlic_path_dirname(output);
    if (!dir)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    const char *slash = strrchr(output, '/');
    const char *base = slash ? slash + 1 : output;
    /* A folder that cannot be listed holds no parts we could resume; creating the output there
     * reports the real problem. */
    DIR *d = opendir(dir);
    mlic_status st = MLIC_OK;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        long n = parts_nranks(e->d_name, base);
        if (n >= 0 && n != nranks) {
            st = mlic_fail(MLIC_ERR_INVALID_ARG, "'%s/%s' is left from an interrupted run of this "
                           "output with %ld processes; this run has %d. HINT: finish it with --resume "
                           "and %ld processes (mpirun -np %ld, or --workers %ld), or delete %s.part-* "
                           "to start over", dir, e->d_name, n, nranks, n, n, n, output);
            break;
        }
    }
    if (d)
        closedir(d);
    free(dir);
    return st;
}

/* The final checkpoint of rank r's journal, checked against its part. */
static mlic_status done_point(int r, int nranks, const char *part,
                              const char *journal, mlic_journal_point *last, uint64_t *session)
{
    int header_ok;
    mlic_journal_header h;
    mlic_journal_point *pts;
    size_t n;
    mlic_status st = mlic_journal_read(journal, &header_ok, &h, &pts, &n);
    if (st != MLIC_OK)
        return mlic_fail_prefix(st, "rank %d of %d left no usable journal: ", r, nranks);
    int done = header_ok && n > 0 && (pts[n - 1].flags & MLIC_JOURNAL_DONE);
    if (done) {
        *last = pts[n - 1];
        uint64_t resumed_at = 0;
        for (size_t i = 0; i < n; i++)
            if (pts[i].flags & MLIC_JOURNAL_RESUMED)
                resumed_at = pts[i].lines;
        *session = last->lines - resumed_at;
    }
    free(pts);
    if (!done)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "the share of rank %d of %d is not finished ('%s'). "
                         "HINT: rerun the same command with --resume", r, nranks, journal);
    struct stat sb;
    if (stat(part, &sb) != 0 || (uint64_t)sb.st_size != last->output_len)
        return mlic_fail(MLIC_ERR_FORMAT, "the part '%s' does not hold the %llu bytes its journal "
                         "records. HINT: rerun the same command with --resume", part,
                         (unsigned long long)last->output_len);
    return MLIC_OK;
}

static mlic_status append_file(int out, const char *tmp, const char *part, char *buf)
{
    char name[512];
    snprintf(name, sizeof name, "the part '%s'", part);
    int in;
    mlic_status st = mlic_file_open_read(&in, part, name, 0);
    if (st != MLIC_OK)
        return st;
    for (;;) {
        ssize_t n = read(in, buf, COPY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = mlic_fail(MLIC_ERR_IO, "reading the part '%s': %s", part, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                st = mlic_fail(MLIC_ERR_IO, "writing '%s': %s. HINT: is the disk full?", tmp,
                               w < 0 ? strerror(errno) : "short write");
                break;
            }
            done += w;
        }
        if (st != MLIC_OK)
            break;
    }
    close(in);
    return st;
}

static mlic_status concatenate(const char *output, int nranks, char *const *parts)
{
    size_t tn = strlen(output) + 32;
    char *tmp = malloc(tn);
    char *buf = malloc(COPY_CHUNK);
    if (!tmp || !buf) {
        free(tmp);
        free(buf);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    }
    /* A fixed name, so that a merge killed midway leaves one file, which the next one reuses. */
    snprintf(tmp, tn, "%s.part-merge.tmp", output);
    mlic_status st = MLIC_OK;
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0)
        st = mlic_fail(MLIC_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
    for (int r = 0; st == MLIC_OK && r < nranks; r++)
        st = append_file(out, tmp, parts[r], buf);
    if (out >= 0) {
        if (st == MLIC_OK && fsync(out) != 0)
            st = mlic_fail(MLIC_ERR_IO, "writing '%s': %s. HINT: is the disk full?", tmp, strerror(errno));
        if (close(out) != 0 && st == MLIC_OK)
            st = mlic_fail(MLIC_ERR_IO, "writing '%s': %s. HINT: is the disk full?", tmp, strerror(errno));
    }
    if (st == MLIC_OK && rename(tmp, output) != 0)
        st = mlic_fail(MLIC_ERR_IO, "renaming '%s' to '%s': %s", tmp, output, strerror(errno));
    if (st != MLIC_OK && out >= 0)
        unlink(tmp);
    free(tmp);
    free(buf);
    return st;
}

mlic_status mlic_parts_totals_read(const char *output, int nranks, mlic_parts_totals *totals)
{
    memset(totals, 0, sizeof *totals);
    mlic_status st = MLIC_OK;
    for (int r = 0; st == MLIC_OK && r < nranks; r++) {
        char *part = mlic_parts_part_path(output, r, nranks);
        char *journal = mlic_parts_journal_path(output, r, nranks);
        mlic_journal_point last = {0};
        uint64_t session = 0;
        st = part && journal ? done_point(r, nranks, part, journal, &last, &session)
                             : mlic_fail(MLIC_ERR_NOMEM, "out of memory");
        totals->inputs += last.lines;
        totals->failed += last.failed;
        totals->session += session;
        free(part);
        free(journal);
    }
    return st;
}

void mlic_parts_remove(const char *output, int nranks)
{
    for (int r = 0; r < nranks; r++) {
        char *part = mlic_parts_part_path(output, r, nranks);
        char *journal = mlic_parts_journal_path(output, r, nranks);
        char *upload = part ? mlic_upload_state_path(part) : NULL;
        /* Journals go first: a part without its journal is redone by a resume, never trusted. */
        if (journal)
            unlink(journal);
        if (part)
            unlink(part);
        if (upload)
            unlink(upload);
        free(part);
        free(journal);
        free(upload);
    }
}

mlic_status mlic_parts_merge(const char *output, int nranks, mlic_parts_totals *totals)
{
    mlic_status st = mlic_parts_totals_read(output, nranks, totals);
    if (st != MLIC_OK)
        return st;
    char **parts = calloc((size_t)nranks, sizeof *parts);
    if (!parts)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    for (int r = 0; st == MLIC_OK && r < nranks; r++)
        if (!(parts[r] = mlic_parts_part_path(output, r, nranks)))
            st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    /* One share: its part is the whole output already, synced when it was finished. */
    if (st == MLIC_OK && nranks == 1 && rename(parts[0], output) != 0)
        st = mlic_fail(MLIC_ERR_IO, "renaming '%s' to '%s': %s", parts[0], output, strerror(errno));
    else if (st == MLIC_OK && nranks > 1)
        st = concatenate(output, nranks, parts);
    if (st == MLIC_OK)
        mlic_parts_remove(output, nranks);
    for (int r = 0; r < nranks; r++)
        free(parts[r]);
    free(parts);
    return st;
}
