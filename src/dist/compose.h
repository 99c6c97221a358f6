/* Joining the share objects of a distributed prediction (OUT.part-RRRRR-of-NNNNN in the store)
 * into the output object, without bringing them to this machine: one more multipart upload whose
 * parts the store copies from ranges of the shares (UploadPartCopy). A store refuses parts below
 * its minimum except the last, so where a share, or what is left of one, is smaller than the
 * part size, those bytes are downloaded (Range GET) and uploaded together with the bytes that
 * follow them; at most one part's worth is held at a time.
 *
 * Killed midway, it leaves the shares untouched and an unfinished upload, which the next call
 * aborts before starting over. docs/storage.md, "Prediction". */
#ifndef MLIC_DIST_COMPOSE_H
#define MLIC_DIST_COMPOSE_H

#include <stdint.h>

#include "io/client.h"
#include "mlic.h"

/* target = sources[0] + ... + sources[n-1]; part_size: the smallest part the store accepts as
 * the tested size, and the largest piece held in memory. Does not delete the sources. */
mlic_status mlic_compose(mlic_io *io, const char *target, char *const *sources, int n,
                         uint64_t part_size);

#endif
