/* Splitting a list between ranks by bytes, so that no rank reads the whole list: rank r of n takes
 * the lines whose first byte lies in [r*S/n, (r+1)*S/n) of the S-byte list. A line starts at byte 0
 * or right after a '\n'; a last line without '\n' still counts. */
#ifndef MLIC_DIST_SHARD_H
#define MLIC_DIST_SHARD_H

#include <stdint.h>

#include "mlic.h"

/* The byte range [*begin, *end) of rank r of n in a list of size bytes. */
void mlic_shard_range(uint64_t size, int rank, int nranks, uint64_t *begin, uint64_t *end);

/* The first line start >= begin (size if there is none). fd: the list, read with pread. */
mlic_status mlic_shard_first_line(int fd, const char *path, uint64_t size, uint64_t begin,
                                  uint64_t *first);

/* How many '\n' bytes lie in [from, to). */
mlic_status mlic_shard_count_newlines(int fd, const char *path, uint64_t from, uint64_t to,
                                      uint64_t *count);

/* How many lines start in [first, end), first being a line start. */
mlic_status mlic_shard_count_lines(int fd, const char *path, uint64_t size, uint64_t first,
                                   uint64_t end, uint64_t *count);

#endif
