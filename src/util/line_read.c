#include "util/line_read.h"

#include <errno.h>
#include <stdlib.h>

/* Room for one more byte and the terminating NUL, growing by doubling up to max + 1. */
static int reserve(mlic_line *l, size_t max)
{
    if (l->len + 2 <= l->cap)
        return 1;
    size_t cap = l->cap ? l->cap * 2 : 256;
    if (cap > max + 1)
        cap = max + 1;
    if (cap < l->len + 2)
        cap = l->len + 2;
    char *d = realloc(l->data, cap);
    if (!d)
        return 0;
    l->data = d;
    l->cap = cap;
    return 1;
}

int mlic_line_read(FILE *f, size_t max, mlic_line *l)
{
    l->len = 0;
    l->total = l->consumed = 0;
    int c;
    while ((c = getc_unlocked(f)) != EOF) {
        l->consumed++;
        if (c == '\n')
            break;
        if (l->total++ < max) {
            if (!reserve(l, max)) {
                errno = ENOMEM;
                return -1;
            }
            l->data[l->len++] = (char)c;
        }
    }
    if (c == EOF && ferror(f))
        return -1;
    if (l->consumed == 0)
        return 0;
    if (!l->data && !reserve(l, max)) {
        errno = ENOMEM;
        return -1;
    }
    l->data[l->len] = '\0';
    return 1;
}

void mlic_line_free(mlic_line *l)
{
    free(l->data);
    l->data = NULL;
    l->cap = 0;
}
