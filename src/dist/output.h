/* Where a prediction's output is written: a local OUT exactly as dist/parts.h describes; an
 * object (s3://bucket/key, oss://bucket/key) through a local staging path
 * STAGING/SCHEME/BUCKET/KEY, whose parts and journals are written as for a local output and
 * mirrored into the store while they grow (dist/upload.h):
 *   one share:     its part is uploaded straight into OUT;
 *   several:       share R becomes the object OUT.part-RRRRR-of-NNNNN, and the join composes
 *                  them into OUT in the store (dist/compose.h), then deletes them.
 * The local files go once OUT is complete. docs/storage.md, "Prediction". */
#ifndef MLIC_DIST_OUTPUT_H
#define MLIC_DIST_OUTPUT_H

#include "dist/parts.h"
#include "mlic.h"

/* The local path the run's parts and journals are named after: o->output_path when it is
 * local, else its staging path (its folders created). *local malloc'd. */
mlic_status mlic_output_local(const mlic_predict_opts *o, char **local);

/* The object share `rank` of nranks is uploaded into (malloc'd; NULL only when out of memory). */
char *mlic_output_share_target(const char *output, int rank, int nranks);

/* Once every rank's share is done: the output made whole (the local parts joined, or the
 * remote shares composed) and the leftovers deleted; *totals from the journals. */
mlic_status mlic_output_join(const mlic_predict_opts *o, int nranks, mlic_parts_totals *totals);

#endif
