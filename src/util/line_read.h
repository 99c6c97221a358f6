/* Reading a text stream one line at a time with a bound on what is held: a line longer than the
 * bound is read to its end but only its first `max` bytes are kept, so one hostile line (a
 * multi-gigabyte base64 payload, /dev/zero) cannot make memory grow with it. A reader given a
 * cancel flag (mlic_line_cancel_on) stops waiting on a pipe whose writer writes nothing. */
#ifndef MLIC_UTIL_LINE_READ_H
#define MLIC_UTIL_LINE_READ_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char *data;        /* the kept bytes, NUL-terminated, without the '\n'; may hold NULs */
    size_t cap;        /* allocated; set data = NULL, cap = 0 to take the buffer over */
    size_t len;        /* bytes kept: min(total, max) */
    uint64_t total;    /* bytes the line had, '\n' excluded (> max: too long) */
    uint64_t consumed; /* bytes read from the stream, '\n' included */
    const volatile sig_atomic_t *cancel; /* set by mlic_line_cancel_on, else NULL */
} mlic_line;

/* 1: a line was read; 0: end of the stream; -1: a read error (errno says which), out of
 * memory (errno ENOMEM) or cancelled (errno ECANCELED). */
int mlic_line_read(FILE *f, size_t max, mlic_line *l);

/* From now on, reads of f through l give up (-1, ECANCELED) once *cancel != 0 instead of waiting
 * for input that may never come: a stream that is not a regular file (a pipe, a FIFO, a terminal)
 * is made non-blocking and, when it has nothing to read, waited on with poll() in slices of
 * MLIC_LINE_POLL_MS, looking at the flag between them. A regular file never blocks and is left
 * alone. f's file description must be its own (opened by path, not an inherited stdin): its
 * O_NONBLOCK is shared with every descriptor of it. 0, or -1 with errno. */
int mlic_line_cancel_on(mlic_line *l, FILE *f, const volatile sig_atomic_t *cancel);

#define MLIC_LINE_POLL_MS 100
void mlic_line_free(mlic_line *l);

#endif
