/* The public model calls that take storage options (mlic.h, "models"): each reaches a remote
 * path through a storage and a client made for the one call, and a local path without them, so
 * that a local call reads no storage settings at all. Also the class list that mlic import
 * reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/client.h"
#include "io/location.h"
#include "io/storage.h"
#include "mlic.h"
#include "model/model.h"
#include "util/file_open.h"

typedef struct {
    mlic_storage *storage;
    mlic_io *io; /* NULL: local paths only */
} remote;

/* r->io for the call when any of the paths (NULL: none) is remote. */
static mlic_status remote_open(remote *r, const mlic_storage_opts *so, const char *a,
                               const char *b)
{
    *r = (remote){0};
    if (!(a && mlic_location_is_remote(a)) && !(b && mlic_location_is_remote(b)))
        return MLIC_OK;
    mlic_status st = mlic_storage_create(&r->storage, so);
    if (st == MLIC_OK) {
        const mlic_io_opts o = {.storage = r->storage};
        st = mlic_io_create(&r->io, &o);
    }
    return st;
}

static void remote_close(remote *r)
{
    mlic_io_destroy(r->io);
    mlic_storage_destroy(r->storage);
}

mlic_status mlic_model_load_from(mlic_model **out, const char *path,
                                 const mlic_storage_opts *storage)
{
    *out = NULL;
    if (!path)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "model: no path given");
    remote r;
    mlic_status st = remote_open(&r, storage, path, NULL);
    if (st == MLIC_OK)
        st = mlic_model_load_io(out, r.io, path);
    remote_close(&r);
    return st;
}

uint64_t mlic_model_file_size(const mlic_model *m) { return m->file_size; }

mlic_status mlic_model_import_from(const char *weights_path, const mlic_model_spec *spec,
                                   const char *out_path, const mlic_storage_opts *storage)
{
    remote r;
    mlic_status st = remote_open(&r, storage, weights_path, out_path);
    if (st == MLIC_OK)
        st = mlic_model_import_io(r.io, weights_path, spec, out_path);
    remote_close(&r);
    return st;
}

mlic_status mlic_model_import_onnx_from(const char *onnx_path, const mlic_model_spec *spec,
                                        const char *out_path, const char **arch_found,
                                        const mlic_storage_opts *storage)
{
    remote r;
    mlic_status st = remote_open(&r, storage, onnx_path, out_path);
    if (st == MLIC_OK)
        st = mlic_model_import_onnx_io(r.io, onnx_path, spec, out_path, arch_found);
    remote_close(&r);
    return st;
}

/* The whole file as a NUL-terminated string (a NUL inside it is refused: not a text file). */
static mlic_status read_text(char **out, size_t *len_out, mlic_io *io, const char *path)
{
    FILE *f;
    mlic_status st = io ? mlic_io_fopen_read(io, &f, path, NULL)
                        : mlic_file_fopen_read(&f, path, NULL, 0);
    if (st != MLIC_OK)
        return mlic_fail_prefix(st, "the classes file: ");
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    for (size_t got; text && (got = fread(text + len, 1, cap - len - 1, f)) > 0;) {
        len += got;
        if (len + 1 == cap) {
            char *bigger = realloc(text, cap *= 2);
            if (!bigger)
                free(text);
            text = bigger;
        }
    }
    const int failed = ferror(f);
    fclose(f);
    if (!text || failed) {
        free(text);
        return mlic_fail(text ? MLIC_ERR_IO : MLIC_ERR_NOMEM, "cannot read the classes file %s: %s",
                         path, text ? "read error" : "out of memory");
    }
    text[len] = '\0';
    if (memchr(text, '\0', len)) {
        free(text);
        return mlic_fail(MLIC_ERR_FORMAT, "%s: contains a NUL byte; expected a text file of class "
                         "names", path);
    }
    *out = text;
    *len_out = len;
    return MLIC_OK;
}

void mlic_class_list_free(char **names, int n)
{
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

mlic_status mlic_class_list_read(char ***names_out, int *n_out, const char *path,
                                 const mlic_storage_opts *storage)
{
    *names_out = NULL;
    *n_out = 0;
    if (!path)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "the classes file: no path given");
    remote r;
    char *text = NULL;
    size_t len = 0;
    mlic_status st = remote_open(&r, storage, path, NULL);
    if (st == MLIC_OK)
        st = read_text(&text, &len, r.io, path);
    remote_close(&r);
    if (st != MLIC_OK)
        return st;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    char **names = calloc(lines, sizeof *names);
    int n = 0;
    for (char *line = text, *next; names && line && st == MLIC_OK; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[--l] = '\0';
        if (strspn(line, " \t") == l)
            continue;
        if (!(names[n++] = strdup(line)))
            st = mlic_fail(MLIC_ERR_NOMEM, "the classes file %s: out of memory", path);
    }
    free(text);
    if (!names)
        return mlic_fail(MLIC_ERR_NOMEM, "the classes file %s: out of memory", path);
    if (st == MLIC_OK && !n)
        st = mlic_fail(MLIC_ERR_FORMAT, "%s: no class names (one per line expected)", path);
    if (st == MLIC_OK)
        st = mlic_model_check_classes((const char *const *)names, n, path);
    if (st != MLIC_OK) {
        mlic_class_list_free(names, n);
        return st;
    }
    *names_out = names;
    *n_out = n;
    return MLIC_OK;
}
