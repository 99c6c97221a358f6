/* Mirroring a share's local part into a multipart upload of an object, while the part grows, so
 * that a prediction whose output is in a store (s3://, oss://) uploads as it goes and a resumed
 * run continues from the parts the store already holds.
 *
 * Part n of the upload is bytes [(n-1)*P, n*P) of the local part (P = the part size); only bytes
 * a checkpoint has made final (dist/journal.h) are uploaded, so an uploaded part never changes.
 * One thread of its own per upload, with its own client: the writer only tells it how far the
 * part is final and never waits on the network; the local part on disk absorbs any lag, and
 * mlic_upload_finish waits for the rest. The upload id lives in a small local state file next to
 * the part (PART.upload), written atomically.
 *
 * Resuming (mlic_upload_opts.resume): the parts the store holds (ListParts) are kept, from part 1
 * up to the first that does not match the local bytes (size, and ETag = MD5 of the bytes); the
 * rest are uploaded again (same numbers, which replaces them). An upload the store no longer
 * knows (completed before the kill, or aborted) is complete when the object already has the
 * part's size and the share was finished, else started afresh. docs/storage.md, "Prediction". */
#ifndef MLIC_DIST_UPLOAD_H
#define MLIC_DIST_UPLOAD_H

#include <stdint.h>

#include "io/client.h"
#include "mlic.h"

#define MLIC_UPLOAD_DEFAULT_PART_BYTES ((uint64_t)8 << 20)

typedef struct {
    const mlic_io_opts *io; /* how the store is reached; the uploader makes its own client */
    const char *local;      /* the local part */
    const char *target;     /* the object it becomes: s3://... or oss://... */
    uint64_t part_size;     /* 0 = MLIC_UPLOAD_DEFAULT_PART_BYTES */
    int resume;             /* continue the upload named in the state file, if any */
    uint64_t final_bytes;   /* bytes of the local part a checkpoint has made final now */
    int share_done;         /* the local part is complete (the journal says DONE) */
} mlic_upload_opts;

typedef struct mlic_upload mlic_upload;

/* The state file's path for a local part (malloc'd; NULL only when out of memory). */
char *mlic_upload_state_path(const char *local);

/* Finds or creates the upload (network requests on this thread), then starts the thread. */
mlic_status mlic_upload_start(mlic_upload **out, const mlic_upload_opts *o);
/* The first n bytes of the local part are final. Never waits on the network. Returns the first
 * failure of the upload thread so far (its message), so that the caller can stop the run. */
mlic_status mlic_upload_offer(mlic_upload *u, uint64_t n);
/* The local part is complete with n bytes: uploads what is left and completes the upload into
 * the target (an empty part becomes an empty object). Waits for all of it. */
mlic_status mlic_upload_finish(mlic_upload *u, uint64_t n);
/* Stops the thread (an upload in progress is cancelled) and frees; an unfinished upload stays
 * open in the store for a resumed run. */
void mlic_upload_destroy(mlic_upload *u);

#endif
