/* File path helpers. Results are malloc'd (NULL only when out of memory). */
#ifndef MLIC_UTIL_PATH_H
#define MLIC_UTIL_PATH_H

/* The folder part of path, as dirname(1) gives it ("." when there is none). */
char *mlic_path_dirname(const char *path);
/* rel when it is absolute, else dir/rel. */
char *mlic_path_join(const char *dir, const char *rel);

#endif
