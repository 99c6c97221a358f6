/* Reading a text stream one line at a time with a bound on what is held: a line longer than the
 * bound is read to its end but only its first `max` bytes are kept, so one hostile line (a
 * multi-gigabyte base64 payload, /dev/zero) cannot make memory grow with it. */
#ifndef MLIC_UTIL_LINE_READ_H
#define MLIC_UTIL_LINE_READ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char *data;        /* the kept bytes, NUL-terminated, without the '\n'; may hold NULs */
    size_t cap;        /* allocated; set data = NULL, cap = 0 to take the buffer over */
    size_t len;        /* bytes kept: min(total, max) */
    uint64_t total;    /* bytes the line had, '\n' excluded (> max: too long) */
    uint64_t consumed; /* bytes read from the stream, '\n' included */
} mlic_line;

/* 1: a line was read; 0: end of the stream; -1: a read error (errno says which) or out of
 * memory (errno ENOMEM). */
int mlic_line_read(FILE *f, size_t max, mlic_line *l);
void mlic_line_free(mlic_line *l);

#endif
