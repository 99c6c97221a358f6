#include "util/file_open.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

static const char *kind_name(mode_t m)
{
    if (S_ISDIR(m))
        return "a folder";
    if (S_ISFIFO(m))
        return "a FIFO (named pipe)";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    return "not a file";
}

mlic_status mlic_file_open_read(int *fd, const char *path, const char *name, int flags)
{
    *fd = -1;
    if (!name)
        name = path;
    const int stream = (flags & MLIC_FILE_STREAM_OK) != 0;
    int f = open(path, O_RDONLY | O_CLOEXEC | (stream ? 0 : O_NONBLOCK));
    if (f < 0)
        return mlic_fail(MLIC_ERR_IO, "cannot open %s: %s", name, strerror(errno));
    struct stat sb;
    if (fstat(f, &sb) != 0) {
        int e = errno;
        close(f);
        return mlic_fail(MLIC_ERR_IO, "cannot stat %s: %s", name, strerror(e));
    }
    int ok = S_ISREG(sb.st_mode) || (stream && (S_ISFIFO(sb.st_mode) || S_ISCHR(sb.st_mode)));
    if (!ok) {
        close(f);
        return mlic_fail(MLIC_ERR_IO, "%s is not a regular file but %s. HINT: name a regular file",
                         name, kind_name(sb.st_mode));
    }
    /* Reads block as usual from here on (O_NONBLOCK does nothing to a regular file's reads, but
     * a descriptor handed to stdio or a library should carry no surprise). */
    if (!stream && fcntl(f, F_SETFL, fcntl(f, F_GETFL) & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(f);
        return mlic_fail(MLIC_ERR_IO, "cannot open %s: %s", name, strerror(e));
    }
    *fd = f;
    return MLIC_OK;
}

mlic_status mlic_file_fopen_read(FILE **out, const char *path, const char *name, int flags)
{
    *out = NULL;
    int fd;
    mlic_status st = mlic_file_open_read(&fd, path, name, flags);
    if (st != MLIC_OK)
        return st;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return mlic_fail(MLIC_ERR_IO, "cannot open %s: %s", name ? name : path, strerror(e));
    }
    *out = f;
    return MLIC_OK;
}
