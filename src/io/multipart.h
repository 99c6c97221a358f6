/* Multipart uploads (S3's CreateMultipartUpload, UploadPart, UploadPartCopy, ListParts,
 * CompleteMultipartUpload, AbortMultipartUpload, ListMultipartUploads), for outputs written
 * piece by piece and resumed after a crash from the parts the store already holds.
 *
 * Stores refuse a completed upload whose parts, other than the last, are smaller than their
 * minimum (5 MiB on S3 and OSS); callers size parts accordingly (docs/storage.md). Paths must
 * be s3:// or oss:// objects. */
#ifndef MLIC_IO_MULTIPART_H
#define MLIC_IO_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#include "io/client.h"
#include "mlic.h"

#define MLIC_IO_MAX_PARTS 10000
#define MLIC_IO_MIN_PART_BYTES ((uint64_t)5 << 20)

typedef struct {
    int number;     /* 1 ... MLIC_IO_MAX_PARTS */
    uint64_t size;
    char etag[72];  /* as the store returned it, quotes included */
} mlic_io_part;

/* *upload_id malloc'd. */
mlic_status mlic_io_upload_create(mlic_io *io, const char *path, char **upload_id);
/* The uploads of path still open (not completed or aborted), oldest first; *ids malloc'd, each
 * string too (free with mlic_io_upload_ids_free). */
mlic_status mlic_io_upload_find(mlic_io *io, const char *path, char ***ids, size_t *n);
void mlic_io_upload_ids_free(char **ids, size_t n);
mlic_status mlic_io_upload_part(mlic_io *io, const char *path, const char *upload_id, int number,
                                const void *data, size_t len, mlic_io_part *out);
/* Part `number` is bytes [offset, offset + len) of the object src, copied by the store. */
mlic_status mlic_io_upload_copy_part(mlic_io *io, const char *path, const char *upload_id,
                                     int number, const char *src, uint64_t offset, uint64_t len,
                                     mlic_io_part *out);
/* The parts the store holds, by number; *parts malloc'd (NULL when there are none). */
mlic_status mlic_io_upload_parts(mlic_io *io, const char *path, const char *upload_id,
                                 mlic_io_part **parts, size_t *n);
/* parts: in ascending number order. Completing an upload that is already complete with the
 * same parts (a retry after a lost reply) is success. */
mlic_status mlic_io_upload_complete(mlic_io *io, const char *path, const char *upload_id,
                                    const mlic_io_part *parts, size_t n);
mlic_status mlic_io_upload_abort(mlic_io *io, const char *path, const char *upload_id);

#endif
