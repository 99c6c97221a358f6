/* Atomic file writes: temporary file, fsync, rename. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "util/file_write.h"

void mlic_file_sync_parent(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return;
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir] = '\0'; /* keep "/" itself */
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

mlic_status mlic_file_writer_open(mlic_file_writer *w, const char *path)
{
    memset(w, 0, sizeof *w);
    w->path = path;
    size_t n = strlen(path) + 16;
    w->tmp = malloc(n);
    if (!w->tmp)
        return mlic_fail(MLIC_ERR_NOMEM, "writing %s: out of memory", path);
    snprintf(w->tmp, n, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(w->tmp);
    if (fd >= 0) {
        /* mkstemp makes the file 0600; what mlic writes is an ordinary shareable file. */
        fchmod(fd, 0644);
        w->f = fdopen(fd, "wb");
        if (!w->f) {
            close(fd);
            unlink(w->tmp);
        }
    }
    if (!w->f) {
        mlic_status st = mlic_fail(MLIC_ERR_IO, "cannot create a temporary file next to %s: %s",
                                   path, strerror(errno));
        free(w->tmp);
        w->tmp = NULL;
        return st;
    }
    return MLIC_OK;
}

void mlic_file_writer_put(mlic_file_writer *w, const void *data, size_t n)
{
    if (w->st == MLIC_OK && n && fwrite(data, 1, n, w->f) != n)
        w->st = mlic_fail(MLIC_ERR_IO, "writing %s: %s. HINT: is the disk full?", w->tmp,
                          strerror(errno));
}

mlic_status mlic_file_writer_commit(mlic_file_writer *w, int ok)
{
    if (!w->f)
        return w->st;
    if (w->st == MLIC_OK && ok && (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0))
        w->st = mlic_fail(MLIC_ERR_IO, "writing %s: %s. HINT: is the disk full?", w->tmp,
                          strerror(errno));
    if (fclose(w->f) != 0 && w->st == MLIC_OK && ok)
        w->st = mlic_fail(MLIC_ERR_IO, "closing %s: %s", w->tmp, strerror(errno));
    w->f = NULL;
    if (w->st == MLIC_OK && ok && rename(w->tmp, w->path) != 0)
        w->st = mlic_fail(MLIC_ERR_IO, "cannot rename %s to %s: %s", w->tmp, w->path,
                          strerror(errno));
    if (w->st != MLIC_OK || !ok)
        unlink(w->tmp);
    else
        mlic_file_sync_parent(w->path);
    free(w->tmp);
    w->tmp = NULL;
    return w->st;
}

mlic_status mlic_file_write_atomic(const char *path, const void *data, size_t n)
{
    mlic_file_writer w;
    mlic_status st = mlic_file_writer_open(&w, path);
    if (st != MLIC_OK)
        return st;
    mlic_file_writer_put(&w, data, n);
    return mlic_file_writer_commit(&w, 1);
}
