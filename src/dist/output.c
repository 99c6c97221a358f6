#include "dist/output.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "dist/compose.h"
#include "dist/upload.h"
#include "io/client.h"
#include "io/location.h"
#include "io/storage.h"

/* mkdir -p of the folder that holds path. */
static mlic_status make_folders(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    mlic_status st = MLIC_OK;
    for (char *q = p + 1; (q = strchr(q, '/')); q++) {
        *q = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            st = mlic_fail(MLIC_ERR_IO, "cannot create the staging folder '%s': %s. HINT: choose "
                           "another with --staging DIR", p, strerror(errno));
            break;
        }
        *q = '/';
    }
    free(p);
    return st;
}

/* A key that maps onto a path below the staging folder: segments neither empty, "." nor "..". */
static int key_is_file(const char *key)
{
    for (const char *seg = key;;) {
        size_t n = strcspn(seg, "/");
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
        if (!seg[n])
            return 1;
        seg += n + 1;
    }
}

mlic_status mlic_output_local(const mlic_predict_opts *o, char **local)
{
    *local = NULL;
    if (!mlic_location_is_remote(o->output_path)) {
        *local = strdup(o->output_path);
        return *local ? MLIC_OK : mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    }
    mlic_object_ref ref;
    mlic_status st = mlic_object_ref_parse(&ref, o->output_path);
    if (st != MLIC_OK)
        return mlic_fail_prefix(st, "the output: ");
    if (!key_is_file(ref.key)) {
        mlic_object_ref_free(&ref);
        return mlic_fail(MLIC_ERR_INVALID_ARG, "the output '%s' does not name an object that can "
                         "be staged (no key, an empty, '.' or '..' path segment). HINT: give a file name, "
                         "e.g. s3://bucket/results/out.txt", o->output_path);
    }
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char base[4096];
    if (o->staging_dir)
        snprintf(base, sizeof base, "%s", o->staging_dir);
    else if (xdg && xdg[0] == '/')
        snprintf(base, sizeof base, "%s/mlic/staging", xdg);
    else
        snprintf(base, sizeof base, "%s/.cache/mlic/staging", home && home[0] ? home : "/tmp");
    size_t n = strlen(base) + strlen(ref.bucket) + strlen(ref.key) + 16;
    if ((*local = malloc(n)))
        snprintf(*local, n, "%s/%s/%s/%s", base, ref.kind == MLIC_LOC_OSS ? "oss" : "s3",
                 ref.bucket, ref.key);
    mlic_object_ref_free(&ref);
    if (!*local)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    if ((st = make_folders(*local)) != MLIC_OK) {
        free(*local);
        *local = NULL;
    }
    return st;
}

char *mlic_output_share_target(const char *output, int rank, int nranks)
{
    return nranks > 1 ? mlic_parts_part_path(output, rank, nranks) : strdup(output);
}

/* The remote shares composed into the output, then deleted. */
static mlic_status compose_shares(const mlic_predict_opts *o, int nranks)
{
    mlic_storage *storage = NULL;
    mlic_io *io = NULL;
    char **shares = calloc((size_t)nranks, sizeof *shares);
    mlic_status st = shares ? mlic_storage_create(&storage, o->storage)
                            : mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    mlic_io_opts io_opts = {.storage = storage, .timeout = o->http_timeout, .cancel = o->cancel};
    if (st == MLIC_OK)
        st = mlic_io_create(&io, &io_opts);
    for (int r = 0; st == MLIC_OK && r < nranks; r++)
        if (!(shares[r] = mlic_output_share_target(o->output_path, r, nranks)))
            st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    uint64_t part = o->part_size ? o->part_size : MLIC_UPLOAD_DEFAULT_PART_BYTES;
    if (st == MLIC_OK)
        st = mlic_compose(io, o->output_path, shares, nranks, part);
    /* The output is complete: a share left behind costs storage, not correctness. */
    for (int r = 0; st == MLIC_OK && r < nranks; r++)
        if (mlic_io_delete(io, shares[r]) != MLIC_OK)
            mlic_clear_error();
    for (int r = 0; shares && r < nranks; r++)
        free(shares[r]);
    free(shares);
    mlic_io_destroy(io);
    mlic_storage_destroy(storage);
    return st;
}

mlic_status mlic_output_join(const mlic_predict_opts *o, int nranks, mlic_parts_totals *totals)
{
    char *local;
    mlic_status st = mlic_output_local(o, &local);
    if (st != MLIC_OK)
        return st;
    if (!mlic_location_is_remote(o->output_path)) {
        st = mlic_parts_merge(local, nranks, totals);
    } else if ((st = mlic_parts_totals_read(local, nranks, totals)) == MLIC_OK) {
        /* One share was uploaded straight into the output by its run. */
        if (nranks > 1)
            st = compose_shares(o, nranks);
        if (st == MLIC_OK)
            mlic_parts_remove(local, nranks);
    }
    free(local);
    return st;
}
