/* Writing a file atomically: the bytes go to a temporary file beside it, which replaces the file
 * (rename) only once it is complete and synced, so a reader never sees half a file and a failed
 * write leaves the old file as it was. */
#ifndef MLIC_UTIL_FILE_WRITE_H
#define MLIC_UTIL_FILE_WRITE_H

#include <stddef.h>
#include <stdio.h>

#include "mlic.h"

typedef struct {
    const char *path; /* the file to replace */
    char *tmp;        /* the temporary file beside it */
    FILE *f;
    mlic_status st;   /* the first failure, kept until commit */
} mlic_file_writer;

/* Create the temporary file (mode 0644). On failure nothing is left behind. */
mlic_status mlic_file_writer_open(mlic_file_writer *w, const char *path);
/* Append bytes; a failure is remembered and reported by commit. */
void mlic_file_writer_put(mlic_file_writer *w, const void *data, size_t n);
/* ok != 0: flush, fsync, close and rename over path; else (or when any step failed) remove the
 * temporary file. Returns the first failure (MLIC_ERR_IO naming the file), or MLIC_OK. */
mlic_status mlic_file_writer_commit(mlic_file_writer *w, int ok);

/* Make a rename into path's folder durable (fsync the folder); failure here loses nothing
 * already written, so it is ignored. */
void mlic_file_sync_parent(const char *path);

/* The whole of data to path, atomically. */
mlic_status mlic_file_write_atomic(const char *path, const void *data, size_t n);

#endif
