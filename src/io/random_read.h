/* Reading a file or an object at any offset: what splits a list between ranks by bytes
 * (dist/shard.h) and reads a share of it, local or remote alike. A remote list is read with
 * HTTP Range requests in large blocks, so each rank fetches only its share (plus one block). */
#ifndef MLIC_IO_RANDOM_READ_H
#define MLIC_IO_RANDOM_READ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "io/client.h"
#include "mlic.h"

typedef struct mlic_random_read mlic_random_read;

/* flags: MLIC_FILE_STREAM_OK (util/file_open.h) lets a local pipe or character device through:
 * it is then not seekable (mlic_random_read_seekable is 0) and only streamed from offset 0.
 * name: how messages name it (NULL: the path). The client must outlive the handle and is used
 * only by the thread that uses the handle. */
mlic_status mlic_random_read_open(mlic_random_read **out, mlic_io *io, const char *path,
                                  const char *name, int flags);
void mlic_random_read_close(mlic_random_read *r);

int mlic_random_read_seekable(const mlic_random_read *r);
uint64_t mlic_random_read_size(const mlic_random_read *r); /* 0 when not seekable */
/* Like pread: *got < n only at the end. */
mlic_status mlic_random_read_at(mlic_random_read *r, void *buf, size_t n, uint64_t offset,
                                size_t *got);
/* A stdio stream from offset to the end, reading ahead in blocks (fopencookie); valid while r
 * is open; fclose it before closing r. A read error shows as ferror() on the stream, and
 * mlic_random_read_error then says what failed. */
mlic_status mlic_random_read_stream(mlic_random_read *r, uint64_t offset, FILE **stream);
const char *mlic_random_read_error(const mlic_random_read *r);

#endif
