/* Where a path points: a local file, an http(s):// URL, or an object in a store (s3://, oss://).
 *
 * Every reader and writer of a path goes through src/io/, which sorts paths with these helpers.
 * "file://PATH" is a local path. A relative path is resolved against a root, which may itself be
 * remote ("s3://bucket/photos/" + "1.jpg" = "s3://bucket/photos/1.jpg"). */
#ifndef MLIC_IO_LOCATION_H
#define MLIC_IO_LOCATION_H

#include <stddef.h>

#include "mlic.h"

typedef enum {
    MLIC_LOC_LOCAL = 0, /* a path, or a file:// URL */
    MLIC_LOC_HTTP,      /* http:// or https:// */
    MLIC_LOC_S3,        /* s3://bucket/key */
    MLIC_LOC_OSS,       /* oss://bucket/key: Alibaba OSS through its S3-compatible API */
} mlic_loc_kind;

/* By the path's scheme; an unknown scheme ("ftp://") is MLIC_LOC_LOCAL here and refused by
 * mlic_location_parse. */
mlic_loc_kind mlic_location_kind(const char *path);
/* http, s3 or oss. */
int mlic_location_is_remote(const char *path);
/* The length of path's "scheme://" scheme (RFC 3986 characters), 0 when it has none. */
size_t mlic_location_scheme_len(const char *path);

/* An object in a store. Both strings are malloc'd; free with mlic_object_ref_free. */
typedef struct {
    mlic_loc_kind kind; /* MLIC_LOC_S3 or MLIC_LOC_OSS */
    char *bucket;
    char *key;          /* without a leading '/'; may be "" or end in '/' for a prefix */
} mlic_object_ref;

/* s3://bucket/key or oss://bucket/key. The message names the path and what is wrong (no
 * bucket, a bucket name S3 would refuse, an unknown scheme). */
mlic_status mlic_object_ref_parse(mlic_object_ref *out, const char *path);
void mlic_object_ref_free(mlic_object_ref *r);

/* rel as it is when it is absolute (a local absolute path or any URL), else root joined with
 * rel ("/" between them when root lacks one); root NULL or "": rel. malloc'd, NULL only when
 * out of memory. */
char *mlic_location_join(const char *root, const char *rel);
/* The folder part of a path or URL ("s3://b/x/list.txt" -> "s3://b/x/"; a local path as
 * dirname(1) gives it). malloc'd, NULL only when out of memory. */
char *mlic_location_dirname(const char *path);

#endif
