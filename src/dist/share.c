#include "dist/share.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "dist/parts.h"
#include "dist/shard.h"
#include "io/location.h"
#include "util/file_open.h"

static uint64_t mtime_ns(const struct stat *sb)
{
    return (uint64_t)sb->st_mtim.tv_sec * 1000000000ull + (uint64_t)sb->st_mtim.tv_nsec;
}

/* What else a resume must agree on: the model file, how inputs are read and how results are
 * written. */
static mlic_status options_fingerprint(uint64_t *fp, const mlic_predict_opts *o, mlic_io *io,
                                       const char *root)
{
    struct stat sb;
    uint64_t model[2] = {0, 0}; /* size and modification time; an object has only its size */
    if (mlic_location_is_remote(o->model_path)) {
        mlic_status st = mlic_io_size(io, &model[0], o->model_path);
        if (st != MLIC_OK)
            return mlic_fail_prefix(st, "the model: ");
    } else if (stat(o->model_path, &sb) != 0) {
        return mlic_fail(MLIC_ERR_IO, "cannot open the model '%s': %s", o->model_path, strerror(errno));
    } else {
        model[0] = (uint64_t)sb.st_size;
        model[1] = mtime_ns(&sb);
    }
    int32_t kinds[2] = {(int32_t)o->image_type, (int32_t)o->format};
    uint64_t h = mlic_journal_fingerprint(0, model, sizeof model);
    h = mlic_journal_fingerprint(h, kinds, sizeof kinds);
    h = mlic_journal_fingerprint(h, &o->threshold, sizeof o->threshold);
    /* Only when set, so that journals of runs without them still match. */
    if (o->confine_to_root)
        h = mlic_journal_fingerprint(h, "confined", 8);
    if (o->precision != MLIC_PRECISION_FP32) { /* bf16's probabilities differ from fp32's */
        int32_t precision = (int32_t)o->precision;
        h = mlic_journal_fingerprint(h, &precision, sizeof precision);
    }
    if (o->max_line_bytes) {
        uint64_t max = o->max_line_bytes;
        h = mlic_journal_fingerprint(h, &max, sizeof max);
    }
    *fp = mlic_journal_fingerprint(h, root, strlen(root) + 1);
    return MLIC_OK;
}

static int exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* Does the part hold the bytes checkpoint i says it added? */
static int part_holds(int fd, uint64_t part_size, const mlic_journal_point *pts, size_t i)
{
    uint64_t from = i ? pts[i - 1].output_len : 0, to = pts[i].output_len;
    if (to > part_size || to < from)
        return 0;
    char buf[1 << 16];
    uint32_t crc = 0;
    for (uint64_t at = from; at < to;) {
        size_t want = to - at < sizeof buf ? (size_t)(to - at) : sizeof buf;
        ssize_t n = pread(fd, buf, want, (off_t)at);
        if (n <= 0)
            return 0;
        crc = mlic_crc32(crc, buf, (size_t)n);
        at += (uint64_t)n;
    }
    return crc == pts[i].output_crc;
}

static mlic_status header_matches(const mlic_share *s, const mlic_journal_header *old)
{
    const mlic_journal_header *h = &s->header;
    const char *out = s->part_path;
    if (old->rank != h->rank || old->nranks != h->nranks)
        return mlic_fail(MLIC_ERR_FORMAT, "the journal of '%s' belongs to rank %u of %u. HINT: delete "
                         "the parts to start over", out, old->rank, old->nranks);
    if (old->list_size != h->list_size || old->list_mtime_ns != h->list_mtime_ns)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "the list '%s' changed since the interrupted run that "
                         "left '%s' (size or modification time). HINT: resume only with the same "
                         "list, or delete the parts to start over", s->list_path, out);
    if (old->batch_size != h->batch_size)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "the interrupted run that left '%s' used batch size "
                         "%u, this one %u. HINT: resume with --batch-size %u", out, old->batch_size,
                         h->batch_size, old->batch_size);
    if (old->fingerprint != h->fingerprint)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "the interrupted run that left '%s' used another model "
                         "file, image type, output format, threshold, precision or root. HINT: "
                         "resume with the same command, or delete the parts to start over", out);
    return MLIC_OK;
}

/* Resuming: the journal's header and last checkpoint that the part really holds. */
static mlic_status read_journal(mlic_share *s)
{
    if (!exists(s->journal_path))
        return MLIC_OK;
    if (!s->regular)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "the list '%s' is not a regular file, so the run that "
                         "left '%s' cannot be resumed. HINT: delete it and run again", s->list_path,
                         s->journal_path);
    int header_ok;
    mlic_journal_header old;
    mlic_journal_point *pts;
    size_t n;
    mlic_status st = mlic_journal_read(s->journal_path, &header_ok, &old, &pts, &n);
    if (st != MLIC_OK || !header_ok)
        return st; /* no header: killed while creating it, nothing to resume */
    if ((st = header_matches(s, &old)) != MLIC_OK) {
        free(pts);
        return st;
    }
    s->journal_valid = 1;
    s->header.share_lines = old.share_lines;
    s->header.lines_before = old.lines_before;
    s->keep_entries = 1;
    /* Every batch's bytes are checked, from the first: a damaged byte anywhere in the part (not
     * only in its last batches) makes the run redo the batches from the damaged one on. A part
     * that is missing or not a regular file holds nothing. */
    int fd;
    struct stat sb;
    if (mlic_file_open_read(&fd, s->part_path, NULL, 0) == MLIC_OK && fstat(fd, &sb) == 0) {
        for (size_t i = 0; i < n && part_holds(fd, (uint64_t)sb.st_size, pts, i); i++) {
            s->resumed = 1;
            s->at = pts[i];
            s->done = (pts[i].flags & MLIC_JOURNAL_DONE) != 0;
            s->keep_entries = i + 2;
        }
    }
    mlic_clear_error();
    if (fd >= 0)
        close(fd);
    free(pts);
    return MLIC_OK;
}

mlic_status mlic_share_begin(mlic_share *s, const mlic_predict_opts *o, mlic_random_read *list,
                             uint64_t list_mtime_ns, mlic_io *io, int batch_size, const char *root)
{
    memset(s, 0, sizeof *s);
    s->nranks = o->nranks > 1 ? o->nranks : 1;
    s->rank = o->nranks > 1 ? o->rank : 0;
    s->batch_size = batch_size;
    s->list_path = o->input_path;
    if (s->rank < 0 || s->rank >= s->nranks)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "rank %d is not in 0..%d", s->rank, s->nranks - 1);
    s->part_path = mlic_parts_part_path(o->output_path, s->rank, s->nranks);
    s->journal_path = mlic_parts_journal_path(o->output_path, s->rank, s->nranks);
    if (!s->part_path || !s->journal_path)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");

    s->list = list;
    s->regular = list != NULL;
    if (!s->regular && s->nranks > 1)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "the list '%s' is not a regular file; a run with several "
                         "processes splits it by bytes. HINT: save it to a file first", o->input_path);
    mlic_journal_header *h = &s->header;
    h->rank = (uint32_t)s->rank;
    h->nranks = (uint32_t)s->nranks;
    h->list_size = s->regular ? mlic_random_read_size(list) : 0;
    h->list_mtime_ns = s->regular ? list_mtime_ns : 0;
    h->batch_size = (uint32_t)batch_size;
    mlic_status st = options_fingerprint(&h->fingerprint, o, io, root);
    if (st != MLIC_OK)
        return st;

    if ((st = mlic_parts_check_other_runs(o->output_path, s->nranks)) != MLIC_OK)
        return st;
    if (!o->resume) {
        const char *left = exists(s->journal_path) ? s->journal_path :
                           exists(s->part_path) ? s->part_path : NULL;
        if (left)
            return mlic_fail(MLIC_ERR_INVALID_ARG, "'%s' is left from an interrupted run of this "
                             "output. HINT: rerun the same command with --resume to finish it, or "
                             "delete %s.part-* to start over", left, o->output_path);
    } else if ((st = read_journal(s)) != MLIC_OK) {
        return st;
    }

    uint64_t begin, end;
    mlic_shard_range(h->list_size, s->rank, s->nranks, &begin, &end);
    if ((st = mlic_shard_first_line(list, o->input_path, h->list_size, begin, &s->first_start)) != MLIC_OK)
        return st;
    /* The last rank reads to the end of the list: nobody needs its count. */
    if (s->journal_valid || s->rank == s->nranks - 1)
        return MLIC_OK;
    return mlic_shard_count_lines(list, o->input_path, h->list_size, s->first_start, end,
                                  &h->share_lines);
}

static uint64_t round_up(uint64_t x, uint64_t b)
{
    return (x + b - 1) / b * b;
}

mlic_status mlic_share_place(mlic_share *s, uint64_t lines_before)
{
    if (s->journal_valid && s->header.lines_before != lines_before)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "the interrupted run that left '%s' had %llu list lines "
                         "before this share, now there are %llu. HINT: delete the parts to start over",
                         s->journal_path, (unsigned long long)s->header.lines_before,
                         (unsigned long long)lines_before);
    s->header.lines_before = lines_before;
    uint64_t b = (uint64_t)s->batch_size;
    uint64_t first = round_up(lines_before, b);
    s->skip_lines = first - lines_before;
    if (s->rank == s->nranks - 1) {
        s->max_lines = UINT64_MAX;
        s->share_total = 0;
    } else {
        s->max_lines = round_up(lines_before + s->header.share_lines, b) - first;
        s->share_total = s->max_lines;
    }
    s->start_offset = s->first_start;
    s->first_lineno = first + 1;
    if (s->resumed) {
        s->start_offset = s->at.input_offset;
        s->skip_lines = 0;
        s->first_lineno += s->at.lines;
        if (s->max_lines != UINT64_MAX)
            s->max_lines = s->at.lines < s->max_lines ? s->max_lines - s->at.lines : 0;
    }
    return MLIC_OK;
}

mlic_status mlic_share_open(mlic_share *s, int *part_fd, mlic_journal **journal)
{
    *part_fd = -1;
    *journal = NULL;
    /* The journal first: its lock says no other process still writes this share. */
    mlic_status st = s->journal_valid ? mlic_journal_reopen(journal, s->journal_path, s->keep_entries)
                                      : mlic_journal_create(journal, s->journal_path, &s->header);
    if (st != MLIC_OK)
        return st;
    uint64_t keep = s->resumed ? s->at.output_len : 0;
    int fd = open(s->part_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        st = mlic_fail(MLIC_ERR_IO, "cannot create the output '%s': %s. HINT: check that its folder "
                       "exists and is writable", s->part_path, strerror(errno));
    else if (ftruncate(fd, (off_t)keep) != 0 || lseek(fd, (off_t)keep, SEEK_SET) < 0)
        st = mlic_fail(MLIC_ERR_IO, "cutting '%s' back to its last checkpoint (%llu bytes): %s",
                       s->part_path, (unsigned long long)keep, strerror(errno));
    if (st == MLIC_OK && s->resumed) {
        mlic_journal_point pt = s->at;
        pt.output_crc = 0; /* adds no bytes */
        pt.flags = MLIC_JOURNAL_RESUMED;
        st = mlic_journal_append(*journal, &pt);
    }
    if (st != MLIC_OK) {
        if (fd >= 0)
            close(fd);
        mlic_journal_close(*journal);
        *journal = NULL;
        return st;
    }
    *part_fd = fd;
    return MLIC_OK;
}

void mlic_share_discard_if_empty(mlic_share *s, uint64_t checkpoints)
{
    if (s->resumed || checkpoints > 0 || !s->part_path || !s->journal_path)
        return;
    unlink(s->journal_path);
    unlink(s->part_path);
}

void mlic_share_free(mlic_share *s)
{
    free(s->part_path);
    free(s->journal_path);
    s->part_path = s->journal_path = NULL;
}
