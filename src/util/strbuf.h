/* A growable byte string for building output lines. Allocation failure is sticky: appends after a
 * failure do nothing and `oom` stays set, so a caller checks once after building a whole line. */
#ifndef MLIC_UTIL_STRBUF_H
#define MLIC_UTIL_STRBUF_H

#include <stddef.h>

typedef struct {
    char *data; /* NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    int oom;
} mlic_strbuf;

void mlic_strbuf_init(mlic_strbuf *b);
void mlic_strbuf_free(mlic_strbuf *b);
/* Empty the buffer, keeping its memory (and clearing oom). */
void mlic_strbuf_clear(mlic_strbuf *b);
void mlic_strbuf_append(mlic_strbuf *b, const char *s, size_t n);
void mlic_strbuf_puts(mlic_strbuf *b, const char *s);
void mlic_strbuf_putc(mlic_strbuf *b, char c);
void mlic_strbuf_printf(mlic_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
