/* The local side of io/client.h: files by their resolved path. name: how messages name it (the
 * path as the caller wrote it). */
#ifndef MLIC_IO_LOCAL_H
#define MLIC_IO_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "mlic.h"

mlic_status mlic_local_get(uint8_t **data, size_t *len, const char *path, const char *name,
                           size_t limit);
mlic_status mlic_local_get_range(void *buf, size_t cap, uint64_t offset, size_t *got,
                                 const char *path, const char *name);
mlic_status mlic_local_size(uint64_t *size, const char *path, const char *name);
mlic_status mlic_local_delete(const char *path, const char *name);
/* The regular files of folder dir (a prefix ending in '/' or naming a folder), sorted by name;
 * fn gets "dir/name". */
mlic_status mlic_local_list(const char *dir, int (*fn)(void *user, const char *path, uint64_t size),
                            void *user);
/* file:///abs/path or file://localhost/abs/path, percent-decoded into a malloc'd *path. */
mlic_status mlic_file_url_path(char **path, const char *url);

#endif
