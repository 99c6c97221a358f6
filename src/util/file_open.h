/* Opening a local file for reading without trusting what its path names.
 *
 * A path from a list, an option or a data set may name a FIFO with no writer, a device that
 * blocks on open (a tape, a serial line) or a socket: a plain open() would wait forever or read
 * something that is not a file. Every reader of a local path (images, lists, models,
 * checkpoints, data sets, class files, ONNX files) opens it here: O_NONBLOCK so that opening
 * never waits, fstat to require a regular file, then back to blocking reads. */
#ifndef MLIC_UTIL_FILE_OPEN_H
#define MLIC_UTIL_FILE_OPEN_H

#include <stdio.h>

#include "mlic.h"

/* A list may be a pipe (mlic predict --input /dev/stdin): FIFOs and character devices are read
 * as a stream and opening one waits for its writer. Folders, sockets and block devices are
 * still refused. */
#define MLIC_FILE_STREAM_OK 1

/* *fd: open for reading (O_CLOEXEC). name: how messages name the file (NULL: the path). On
 * failure *fd is -1 and the message says "cannot open NAME: <errno text>" or "NAME is not a
 * regular file but a FIFO" (a folder, a socket, a device). */
mlic_status mlic_file_open_read(int *fd, const char *path, const char *name, int flags);
/* The same as a stdio stream ("rb"). */
mlic_status mlic_file_fopen_read(FILE **f, const char *path, const char *name, int flags);

#endif
