#include "util/confine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "util/path.h"

mlic_status mlic_confine_root(char **real, const char *root)
{
    *real = realpath(root, NULL);
    if (!*real)
        return mlic_fail(MLIC_ERR_IO, "the root '%s' to confine inputs to: %s", root,
                         strerror(errno));
    return MLIC_OK;
}

mlic_status mlic_confine_path(char **real, const char *root, const char *real_root,
                              const char *source)
{
    *real = NULL;
    if (!strncasecmp(source, "file://", 7))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "'%s': file:// URLs name absolute paths, which "
                         "--confine-to-root refuses. HINT: list paths relative to the root",
                         source);
    if (source[0] == '/')
        return mlic_fail(MLIC_ERR_INVALID_ARG, "'%s' is an absolute path, which --confine-to-root "
                         "refuses. HINT: list paths relative to the root", source);
    char *joined = mlic_path_join(root, source);
    if (!joined)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    char *r = realpath(joined, NULL);
    int e = errno;
    free(joined);
    if (!r)
        return mlic_fail(MLIC_ERR_IO, "cannot open '%s': %s", source, strerror(e));
    size_t n = strlen(real_root);
    int under = !strncmp(r, real_root, n) &&
                (r[n] == '/' || (n > 0 && real_root[n - 1] == '/'));
    if (!under) {
        free(r);
        return mlic_fail(MLIC_ERR_INVALID_ARG, "'%s' leads outside the root '%s' (through '..' or "
                         "a symbolic link), which --confine-to-root refuses", source, root);
    }
    *real = r;
    return MLIC_OK;
}
