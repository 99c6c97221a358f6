/* The files of a distributed (or resumable) prediction run next to its output OUT:
 *   OUT.part-RRRRR-of-NNNNN          the output lines of rank R's share, append-only
 *   OUT.part-RRRRR-of-NNNNN.journal  its progress journal (dist/journal.h)
 *   OUT.part-RRRRR-of-NNNNN.upload   the multipart upload mirroring it, when OUT is remote
 *                                    (dist/upload.h; OUT is then a local staging path)
 *   OUT.part-merge.tmp               the output while the parts are being joined
 * and joining the parts into OUT once every share is done. */
#ifndef MLIC_DIST_PARTS_H
#define MLIC_DIST_PARTS_H

#include <stdint.h>

#include "mlic.h"

/* malloc'd; NULL only when out of memory. */
char *mlic_parts_part_path(const char *output, int rank, int nranks);
char *mlic_parts_journal_path(const char *output, int rank, int nranks);

/* Fails, with a hint, if the output's folder holds parts of a run of OUT with another number of
 * ranks (which a resume with nranks could not use). */
mlic_status mlic_parts_check_other_runs(const char *output, int nranks);

typedef struct {
    uint64_t inputs;  /* lines answered, all runs of the job together */
    uint64_t failed;
    uint64_t session; /* lines answered since the last resume (all of them without one) */
} mlic_parts_totals;

/* Fails, naming the rank and a hint, unless every rank's journal says done and its part holds
 * what the journal records; *totals: their counts. */
mlic_status mlic_parts_totals_read(const char *output, int nranks, mlic_parts_totals *totals);
/* Deletes the parts, journals and upload state files (those that exist). */
void mlic_parts_remove(const char *output, int nranks);

/* Once every rank's journal says done: join the parts in rank order into OUT (through a
 * temporary file and a rename), then delete the parts and journals. */
mlic_status mlic_parts_merge(const char *output, int nranks, mlic_parts_totals *totals);

#endif
