/* A client: one thread's connection to everything a path can name, local files, http(s) and
 * object stores, with the retry policy every caller shares.
 *
 * Not thread-safe: each thread that fetches makes its own (its curl handle keeps connections
 * alive across requests to the same host). Remote requests are retried, with exponential
 * back-off and jitter, on what may pass (timeouts, refused or reset connections, a body cut
 * short, 5xx, 429, S3's SlowDown); other 4xx fail at once. Every message names the path (never a
 * secret) and the cause: the HTTP status and S3's error code and message when there is one.
 * Paths that are relative resolve against the client's root. */
#ifndef MLIC_IO_CLIENT_H
#define MLIC_IO_CLIENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "io/storage.h"
#include "mlic.h"

/* No single object this large is worth reading into memory: decoders refuse far smaller images
 * by pixel count, and models are far smaller. */
#define MLIC_IO_MAX_OBJECT_BYTES ((size_t)1 << 30)
#define MLIC_IO_DEFAULT_TIMEOUT 60.0 /* seconds per remote attempt */
#define MLIC_IO_DEFAULT_RETRIES 3

typedef struct {
    const mlic_storage *storage; /* NULL: s3:// and oss:// fail with a hint */
    const char *root;            /* relative paths resolve against it; NULL: the working folder */
    /* Local paths must lie under root once every symbolic link and ".." is resolved
     * (util/confine.h); absolute paths and file:// URLs are refused. Remote paths are not
     * affected. */
    int confine;
    double timeout;              /* seconds per remote attempt; 0 = MLIC_IO_DEFAULT_TIMEOUT */
    int retries;                 /* further attempts after a transient failure; 0 = default, <0: none */
    /* May be NULL. Once *cancel != 0 a remote transfer, or the wait before a retry, stops within
     * about a second and fails with MLIC_ERR_CANCELLED (which says nothing about the path). */
    const volatile sig_atomic_t *cancel;
} mlic_io_opts;

typedef struct mlic_io mlic_io;

/* The options are copied (strings included), except storage and cancel, which must outlive the
 * client. */
mlic_status mlic_io_create(mlic_io **out, const mlic_io_opts *o);
void mlic_io_destroy(mlic_io *io);

/* The whole object or file; *data is malloc'd. A path naming a folder, a FIFO or a device is
 * refused (util/file_open.h). */
mlic_status mlic_io_get(mlic_io *io, uint8_t **data, size_t *len, const char *path);
/* Bytes [offset, offset + cap) into buf: *got < cap only at the end of the object. A remote
 * server that answers a Range request with fewer bytes than it promised is a transient failure
 * (retried), never a short read. */
mlic_status mlic_io_get_range(mlic_io *io, void *buf, size_t cap, uint64_t offset, size_t *got,
                              const char *path);
/* Size in bytes (HEAD for a remote path). */
mlic_status mlic_io_size(mlic_io *io, uint64_t *size, const char *path);
/* Writes the whole object atomically: a local file through a temporary file, fsync and rename;
 * an object with one PUT (a store never shows half an object). */
mlic_status mlic_io_put(mlic_io *io, const char *path, const void *data, size_t len);
/* Deletes; a path that does not exist is not an error. */
mlic_status mlic_io_delete(mlic_io *io, const char *path);
/* Calls fn for every object whose key starts with the prefix's key (s3://b/photos/ lists
 * everything under photos/), in key order, with its full path (s3://b/photos/1.jpg) and size;
 * a local prefix lists the files of that folder. fn returning non-zero stops the listing. */
mlic_status mlic_io_list(mlic_io *io, const char *prefix,
                         int (*fn)(void *user, const char *path, uint64_t size), void *user);

/* A stdio stream reading the whole path (remote: fetched into memory first, freed at fclose),
 * for readers written against FILE * (data sets, class lists, ONNX files). name: how messages
 * name it (NULL: the path). */
mlic_status mlic_io_fopen_read(mlic_io *io, FILE **f, const char *path, const char *name);

#endif
