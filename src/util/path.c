#include "util/path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *mlic_path_dirname(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    while (n > 0 && path[n - 1] != '/')
        n--;
    if (n == 0)
        return strdup(".");
    while (n > 1 && path[n - 1] == '/')
        n--;
    return strndup(path, n);
}

char *mlic_path_join(const char *dir, const char *rel)
{
    if (rel[0] == '/' || dir[0] == '\0')
        return strdup(rel);
    size_t dn = strlen(dir);
    int slash = dir[dn - 1] != '/';
    size_t n = dn + (size_t)slash + strlen(rel) + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s%s", dir, slash ? "/" : "", rel);
    return out;
}
