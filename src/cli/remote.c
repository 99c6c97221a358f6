#include "cli/remote.h"

#include <stdio.h>

#include "io/location.h"

int mlic_cli_is_remote(const char *path) { return path && mlic_location_is_remote(path); }

int mlic_cli_remote_storage(mlic_cli_remote *r, const char *cmd, const mlic_storage_opts *so)
{
    if (r->storage)
        return 0;
    if (mlic_storage_create(&r->storage, so) != MLIC_OK) {
        fprintf(stderr, "mlic %s: %s\n", cmd, mlic_errmsg());
        return 1;
    }
    const mlic_io_opts o = {.storage = r->storage};
    if (mlic_io_create(&r->io, &o) != MLIC_OK) {
        fprintf(stderr, "mlic %s: %s\n", cmd, mlic_errmsg());
        return 1;
    }
    return 0;
}

int mlic_cli_remote_open(mlic_cli_remote *r, const char *cmd, const mlic_storage_opts *so,
                         int needed, const char *cache_dir, uint64_t cache_bytes)
{
    if (needed && mlic_cli_remote_storage(r, cmd, so))
        return 1;
    if (cache_dir && mlic_io_cache_create(&r->cache, cache_dir, cache_bytes) != MLIC_OK) {
        fprintf(stderr, "mlic %s: %s\n", cmd, mlic_errmsg());
        return 1;
    }
    return 0;
}

void mlic_cli_remote_close(mlic_cli_remote *r)
{
    mlic_io_cache_destroy(r->cache);
    mlic_io_destroy(r->io);
    mlic_storage_destroy(r->storage);
    *r = (mlic_cli_remote){0};
}
