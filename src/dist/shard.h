/* Splitting a list between ranks by bytes, so that no rank reads the whole list: rank r of n takes
 * the lines whose first byte lies in [r*S/n, (r+1)*S/n) of the S-byte list. A line starts at byte 0
 * or right after a '\n'; a last line without '\n' still counts. The list is read through
 * io/random_read.h, so a list in an object store is read by byte ranges, each rank its own. */
#ifndef MLIC_DIST_SHARD_H
#define MLIC_DIST_SHARD_H

#include <stdint.h>

#include "io/random_read.h"
#include "mlic.h"

/* The byte range [*begin, *end) of rank r of n in a list of size bytes. */
void mlic_shard_range(uint64_t size, int rank, int nranks, uint64_t *begin, uint64_t *end);

/* The first line start >= begin (size if there is none). */
mlic_status mlic_shard_first_line(mlic_random_read *list, const char *path, uint64_t size, uint64_t begin,
                                  uint64_t *first);

/* How many '\n' bytes lie in [from, to). */
mlic_status mlic_shard_count_newlines(mlic_random_read *list, const char *path, uint64_t from, uint64_t to,
                                      uint64_t *count);

/* How many lines start in [first, end), first being a line start. */
mlic_status mlic_shard_count_lines(mlic_random_read *list, const char *path, uint64_t size, uint64_t first,
                                   uint64_t end, uint64_t *count);

#endif
