/* Confining local paths to a root (--confine-to-root of predict, train and eval): for hosted jobs
 * whose lists and data sets come from someone else, a listed path may only name a file under the
 * root once every ".." and symbolic link is resolved (realpath). One implementation for every
 * caller: predict's fetcher checks each input as it reads it, the data-set builder each image
 * path when the data set is loaded. */
#ifndef MLIC_UTIL_CONFINE_H
#define MLIC_UTIL_CONFINE_H

#include "mlic.h"

/* *real (malloc'd): root's real path, what mlic_confine_path compares against. The message
 * names root. */
mlic_status mlic_confine_root(char **real, const char *root);

/* *real (malloc'd): the real path of source, joined to root, when it lies under real_root.
 * Refused, with a message naming source and --confine-to-root: an absolute path, a file:// URL
 * (an absolute path too), a path leading outside the root through ".." or a symbolic link, and
 * one that does not exist (realpath needs the file). Other URLs are the caller's business. */
mlic_status mlic_confine_path(char **real, const char *root, const char *real_root,
                              const char *source);

#endif
