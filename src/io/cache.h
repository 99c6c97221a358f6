/* A local disk cache of remote objects (`--cache DIR`), so that the epochs after the first read
 * a remote data set from local disk.
 *
 * Keyed by the object's full path (s3://bucket/key, https://...): an object is assumed not to
 * change while its copy is kept (docs/storage.md). One file per object, named by a 128-bit hash
 * of the path, holding a header (a magic, the body's length and checksum, the path) before the
 * body; a file whose size, path or checksum disagrees (a partial write, a crash, a collision,
 * bit rot) is never used: it is deleted and the object fetched again. Files are written to a
 * temporary name and renamed into place, so readers (other threads, other processes sharing the
 * folder) see whole files or none.
 *
 * Bounded: the files this process knows of (those found at create plus those it wrote) stay
 * within max_bytes, the least recently used evicted first; an object larger than the bound is
 * fetched and not kept. Thread-safe: any number of threads share one cache, each with its own
 * client. Local paths bypass it. */
#ifndef MLIC_IO_CACHE_H
#define MLIC_IO_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "io/client.h"
#include "mlic.h"

#define MLIC_IO_CACHE_DEFAULT_BYTES ((uint64_t)10 << 30)

typedef struct mlic_io_cache mlic_io_cache;

/* dir is created when missing (its parent must exist); max_bytes 0 = the default. Files left by
 * earlier runs count towards the bound; temporary files of writers that died are removed. */
mlic_status mlic_io_cache_create(mlic_io_cache **out, const char *dir, uint64_t max_bytes);
void mlic_io_cache_destroy(mlic_io_cache *c);

/* What mlic_io_get gives, from the cache when it holds path, else fetched through io and kept.
 * A cache that cannot be written (a full disk) only costs the copy: the fetch still succeeds. */
mlic_status mlic_io_cache_get(mlic_io_cache *c, mlic_io *io, uint8_t **data, size_t *len,
                              const char *path);

/* The two halves of mlic_io_cache_get, for callers that fetch by other means (many at once):
 * read gives 1 and the bytes (malloc'd) when the cache holds an intact copy of path, else 0;
 * store keeps a copy of what was fetched (counted as fetched), as far as the bound allows. */
int mlic_io_cache_read(mlic_io_cache *c, const char *path, uint8_t **data, size_t *len);
void mlic_io_cache_store(mlic_io_cache *c, const char *path, const uint8_t *data, size_t len);

typedef struct {
    uint64_t hits;    /* objects read from the cache */
    uint64_t misses;  /* objects fetched (remote paths only) */
    uint64_t bytes;   /* held now */
    uint64_t files;   /* held now */
} mlic_io_cache_stats;

void mlic_io_cache_get_stats(mlic_io_cache *c, mlic_io_cache_stats *s);

/* --cache-size is read by mlic_parse_size (mlic.h). */

#endif
