#include "io/local.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "util/file_open.h"
#include "util/path.h"

mlic_status mlic_local_get(uint8_t **data, size_t *len, const char *path, const char *name,
                           size_t limit)
{
    char label[512];
    if (strcmp(path, name))
        snprintf(label, sizeof label, "'%s' (%s)", name, path);
    else
        snprintf(label, sizeof label, "'%s'", name);
    FILE *fp;
    mlic_status status = mlic_file_fopen_read(&fp, path, label, 0);
    if (status != MLIC_OK)
        return status;
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        int e = errno;
        fclose(fp);
        return mlic_fail(MLIC_ERR_IO, "cannot stat %s: %s", label, strerror(e));
    }
    if ((uint64_t)st.st_size > limit) {
        fclose(fp);
        return mlic_fail(MLIC_ERR_TOO_LARGE, "%s is %lld bytes, over the %zu-byte limit", label,
                         (long long)st.st_size, limit);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(fp);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory reading %s (%zu bytes)", label, n);
    }
    size_t got = fread(buf, 1, n, fp);
    int err = ferror(fp);
    int e = errno;
    fclose(fp);
    if (got != n) {
        free(buf);
        if (err)
            return mlic_fail(MLIC_ERR_IO, "reading %s: %s", label, strerror(e));
        return mlic_fail(MLIC_ERR_IO, "reading %s: the file shrank while being read", label);
    }
    *data = buf;
    *len = n;
    return MLIC_OK;
}

mlic_status mlic_local_get_range(void *buf, size_t cap, uint64_t offset, size_t *got,
                                 const char *path, const char *name)
{
    *got = 0;
    int fd;
    mlic_status st = mlic_file_open_read(&fd, path, name, 0);
    if (st != MLIC_OK)
        return st;
    while (*got < cap) {
        ssize_t r = pread(fd, (char *)buf + *got, cap - *got, (off_t)(offset + *got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return mlic_fail(MLIC_ERR_IO, "reading '%s': %s", name, strerror(e));
        }
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    close(fd);
    return MLIC_OK;
}

mlic_status mlic_local_size(uint64_t *size, const char *path, const char *name)
{
    int fd;
    mlic_status st = mlic_file_open_read(&fd, path, name, 0);
    if (st != MLIC_OK)
        return st;
    struct stat s;
    int r = fstat(fd, &s), e = errno;
    close(fd);
    if (r != 0)
        return mlic_fail(MLIC_ERR_IO, "cannot stat '%s': %s", name, strerror(e));
    *size = (uint64_t)s.st_size;
    return MLIC_OK;
}

mlic_status mlic_local_delete(const char *path, const char *name)
{
    if (unlink(path) != 0 && errno != ENOENT)
        return mlic_fail(MLIC_ERR_IO, "cannot delete '%s': %s", name, strerror(errno));
    return MLIC_OK;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

mlic_status mlic_local_list(const char *dir, int (*fn)(void *user, const char *path, uint64_t size),
                            void *user)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, by_name);
    if (n < 0)
        return mlic_fail(MLIC_ERR_IO, "cannot list '%s': %s", dir, strerror(errno));
    mlic_status st = MLIC_OK;
    int stop = 0;
    for (int i = 0; i < n; i++) {
        if (!stop && st == MLIC_OK && names[i]->d_name[0] != '.') {
            char *p = mlic_path_join(dir, names[i]->d_name);
            struct stat s;
            if (!p)
                st = mlic_fail(MLIC_ERR_NOMEM, "out of memory listing '%s'", dir);
            else if (stat(p, &s) == 0 && S_ISREG(s.st_mode))
                stop = fn(user, p, (uint64_t)s.st_size);
            free(p);
        }
        free(names[i]);
    }
    free(names);
    return st;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

mlic_status mlic_file_url_path(char **path, const char *url)
{
    const char *p = url + strlen("file://");
    if (!strncmp(p, "localhost/", strlen("localhost/")))
        p += strlen("localhost");
    if (*p != '/')
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "'%s': only local file:// URLs (file:///path) are "
                         "supported. HINT: write file:///absolute/path or a plain path", url);
    char *out = malloc(strlen(p) + 1), *o = out;
    if (!out)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    for (; *p; p++) {
        int hi, lo;
        if (*p == '%' && (hi = hexval(p[1])) >= 0 && (lo = hexval(p[2])) >= 0 && (hi || lo)) {
            *o++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    *path = out;
    return MLIC_OK;
}
