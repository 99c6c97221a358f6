/* One rank's share of a prediction run: which lines of the list it answers, where its part and
 * journal are, and where a resumed run picks up.
 *
 * Batches are global: batch k holds lines [k*B, (k+1)*B) of the whole list, whatever the number
 * of ranks, because the compute backends may round differently for different batch sizes, and
 * the output must not depend on how the list was split. A rank therefore answers the batches
 * that START in its byte range: it skips the first lines of its range that finish the previous
 * rank's last batch, and reads on past its range's end to finish its own (fewer than B lines
 * each way).
 *
 *   mlic_share_begin  (before the ranks exchange line counts): checks for stale parts, reads the
 *                     journal when resuming, finds and counts the lines of the byte range.
 *   mlic_share_place  (after): where to read and how many lines to answer.
 *   mlic_share_open   opens the part and journal for appending.
 */
#ifndef MLIC_DIST_SHARE_H
#define MLIC_DIST_SHARE_H

#include <stdint.h>
#include <stdio.h>

#include "dist/journal.h"
#include "io/client.h"
#include "io/random_read.h"
#include "mlic.h"

typedef struct {
    int rank, nranks;
    int batch_size;
    char *part_path, *journal_path;
    const char *list_path;
    mlic_random_read *list;  /* NULL: the list is not a regular file (a pipe) */
    int regular;             /* the list is a regular file or an object (seekable, sized) */
    uint64_t first_start;    /* first line start in the byte range */
    mlic_journal_header header;
    int journal_valid;       /* resuming: the journal has a header matching this run */
    int resumed;             /* resuming from a checkpoint: `at` holds it */
    int done;                /* that checkpoint finished the share */
    mlic_journal_point at;
    size_t keep_entries;     /* journal entries (header included) to keep when reopening */

    /* Set by mlic_share_place. */
    uint64_t start_offset;   /* list byte offset to start reading at */
    uint64_t skip_lines;     /* lines to skip there before answering */
    uint64_t first_lineno;   /* 1-based list line number of the first line answered */
    uint64_t max_lines;      /* lines still to answer; UINT64_MAX: to the end of the list */
    uint64_t share_total;    /* lines the share answers in all (0 if unknown) */
} mlic_share;

/* list: the list, NULL when it is not a regular file or object (a pipe); list_mtime_ns: its
 * modification time (0 for an object, whose resume checks only the size). o->output_path is
 * where the part and journal go (for a remote output, its local staging path: dist/output.h).
 * io: for the size of a remote model. root: the folder relative paths resolve against (part of
 * what a resume must match). */
mlic_status mlic_share_begin(mlic_share *s, const mlic_predict_opts *o, mlic_random_read *list,
                             uint64_t list_mtime_ns, mlic_io *io, int batch_size, const char *root);
/* lines_before: how many list lines lie before the share's byte range. */
mlic_status mlic_share_place(mlic_share *s, uint64_t lines_before);
/* The part (positioned at its end) and the journal, fresh or cut back to the checkpoint. */
mlic_status mlic_share_open(mlic_share *s, int *part_fd, mlic_journal **journal);
/* After a failed run that wrote `checkpoints` checkpoints: delete the part and journal if no
 * checkpoint (of this or an earlier run) makes them worth resuming. */
void mlic_share_discard_if_empty(mlic_share *s, uint64_t checkpoints);
void mlic_share_free(mlic_share *s);

#endif
