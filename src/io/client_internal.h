/* What the other parts of src/io/ (multipart uploads, many fetches in flight, random reads)
 * share with the client: its state, resolving a path, and making one request with retries. */
#ifndef MLIC_IO_CLIENT_INTERNAL_H
#define MLIC_IO_CLIENT_INTERNAL_H

#include <curl/curl.h>

#include "io/client.h"
#include "io/location.h"
#include "io/transfer.h"

struct mlic_io {
    const mlic_storage *storage;
    char *root;      /* NULL: the working folder */
    char *real_root; /* confined: root's real path, else NULL */
    long timeout_ms, connect_timeout_ms;
    int retries;
    const volatile sig_atomic_t *cancel;
    CURL *curl;      /* made on the first remote request; keeps its connections */
    unsigned seed;   /* for the jitter of back-offs */
};

typedef struct {
    mlic_loc_kind kind;
    char *full;          /* the path joined to the root: how messages name it */
    char *local;         /* MLIC_LOC_LOCAL: the file to open */
    mlic_object_ref obj; /* MLIC_LOC_S3 / MLIC_LOC_OSS */
} mlic_io_resolved;

mlic_status mlic_io_resolve(mlic_io *io, mlic_io_resolved *r, const char *path);
void mlic_io_resolved_free(mlic_io_resolved *r);
/* A transfer of r (remote) with the client's settings; the caller adds body, range, query. */
void mlic_io_xfer_prepare(const mlic_io *io, mlic_xfer *x, const mlic_io_resolved *r,
                          const char *method);
/* Runs x to completion with retries and back-off, honouring cancel. x's reply stays (its
 * growing buffer is the caller's to free). */
mlic_status mlic_io_perform(mlic_io *io, mlic_xfer *x);

#endif
