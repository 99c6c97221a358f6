/* The progress journal of one share of a prediction run (OUT.part-RRRRR-of-NNNNN.journal), so that
 * a run killed at any moment resumes where its output is known to be complete.
 *
 * The journal is a sequence of fixed-size entries (MLIC_JOURNAL_ENTRY bytes, little-endian, each
 * with a CRC-32): one header naming the run, then one checkpoint per written batch. An entry is
 * appended with a single write(), so a killed process leaves whole entries in the page cache; a
 * machine crash can leave a torn last entry (its CRC fails) or entries whose part bytes never
 * reached the disk, and a part can be damaged after the fact, which is why a checkpoint carries the
 * CRC of the part bytes it added: resuming checks every checkpoint's bytes from the first and
 * continues after the last one before the first mismatch.
 */
#ifndef MLIC_DIST_JOURNAL_H
#define MLIC_DIST_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mlic.h"

#define MLIC_JOURNAL_ENTRY 80

/* Checkpoint flags. */
#define MLIC_JOURNAL_DONE 1u    /* the share is complete and its part synced */
#define MLIC_JOURNAL_RESUMED 2u /* a resumed run started here (repeats the previous counts) */

typedef struct {
    uint32_t rank, nranks;
    uint64_t list_size;
    uint64_t list_mtime_ns;
    uint64_t lines_before; /* list lines before the share's byte range */
    uint64_t share_lines;  /* lines whose first byte lies in the share's byte range */
    uint32_t batch_size;   /* batches decide which images are inferred together */
    uint64_t fingerprint;  /* the other options that shape the output (mlic_journal_fingerprint) */
} mlic_journal_header;

typedef struct {
    uint64_t input_offset; /* list byte offset of the next line to read */
    uint64_t output_len;   /* bytes of the part */
    uint64_t lines;        /* lines answered by this share so far */
    uint64_t failed;       /* of which failed */
    uint32_t output_crc;   /* CRC-32 of the part bytes since the previous checkpoint */
    uint32_t flags;
} mlic_journal_point;

typedef struct mlic_journal mlic_journal;

uint32_t mlic_crc32(uint32_t crc, const void *data, size_t n);
/* FNV-1a over bytes, chained through h (start with 0). */
uint64_t mlic_journal_fingerprint(uint64_t h, const void *data, size_t n);

/* A new journal holding only the header (synced to disk). */
mlic_status mlic_journal_create(mlic_journal **out, const char *path, const mlic_journal_header *h);
/* Reopen an existing journal for appending, cut to its first `entries` entries (the header
 * counts as one), dropping what resuming found unusable. */
mlic_status mlic_journal_reopen(mlic_journal **out, const char *path, size_t entries);
mlic_status mlic_journal_append(mlic_journal *j, const mlic_journal_point *pt);
mlic_status mlic_journal_sync(mlic_journal *j);
void mlic_journal_close(mlic_journal *j);

/* Read a journal: *header_ok = 0 if the file has no valid header (points are then not read);
 * else its header and its checkpoints up to the first damaged entry (malloc'd, *npoints).
 * Fails only when the file cannot be read. */
mlic_status mlic_journal_read(const char *path, int *header_ok, mlic_journal_header *h,
                              mlic_journal_point **points, size_t *npoints);

#endif
