/* What a command needs to reach remote paths (s3://, oss://, http(s)://): a storage made from the
 * command's storage options, a client for the main thread, and the --cache. Made only when a
 * path is remote, so that a local run reads no storage settings at all. */
#ifndef MLIC_CLI_REMOTE_H
#define MLIC_CLI_REMOTE_H

#include <stdint.h>

#include "io/cache.h"
#include "io/client.h"
#include "io/storage.h"
#include "mlic.h"

typedef struct {
    mlic_storage *storage; /* NULL when no path is remote */
    mlic_io *io;           /* NULL when no path is remote: local paths only */
    mlic_io_cache *cache;  /* NULL without --cache */
} mlic_cli_remote;

/* Whether path is remote (NULL: no). */
int mlic_cli_is_remote(const char *path);

/* needed: some path is remote. cache_dir NULL: no cache. On failure prints "mlic CMD: why" and
 * returns 1 (the exit status); 0 when ready. Close r in either case. */
int mlic_cli_remote_open(mlic_cli_remote *r, const char *cmd, const mlic_storage_opts *so,
                         int needed, const char *cache_dir, uint64_t cache_bytes);
/* The storage and client alone, once something remote turns up later (a local list naming
 * remote images); a no-op when they exist. Same return as mlic_cli_remote_open. */
int mlic_cli_remote_storage(mlic_cli_remote *r, const char *cmd, const mlic_storage_opts *so);
void mlic_cli_remote_close(mlic_cli_remote *r);

#endif
