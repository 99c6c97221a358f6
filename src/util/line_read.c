#include "util/line_read.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>

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

int mlic_line_cancel_on(mlic_line *l, FILE *f, const volatile sig_atomic_t *cancel)
{
    struct stat st;
    const int fd = fileno(f);
    if (fstat(fd, &st) != 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        const int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
            return -1;
    }
    l->cancel = cancel;
    return 0;
}

/* next_byte's answer when the wait for a byte failed (errno says why: ECANCELED, poll's error). */
#define GAVE_UP (EOF - 1)

/* The next byte of f, or EOF (the end, or a read error: ferror says which); a non-blocking stream
 * with nothing to read is waited on until it has, or until *l->cancel is set. */
static int next_byte(FILE *f, const mlic_line *l)
{
    for (;;) {
        const int c = getc_unlocked(f);
        if (c != EOF || !l->cancel || !ferror(f) || (errno != EAGAIN && errno != EWOULDBLOCK))
            return c;
        clearerr_unlocked(f);
        if (*l->cancel) {
            errno = ECANCELED;
            return GAVE_UP;
        }
        struct pollfd pfd = {.fd = fileno(f), .events = POLLIN};
        if (poll(&pfd, 1, MLIC_LINE_POLL_MS) < 0 && errno != EINTR)
            return GAVE_UP;
    }
}

int mlic_line_read(FILE *f, size_t max, mlic_line *l)
{
    l->len = 0;
    l->total = l->consumed = 0;
    int c;
    while ((c = next_byte(f, l)) >= 0) {
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
    if (c == GAVE_UP || (c == EOF && ferror(f)))
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
