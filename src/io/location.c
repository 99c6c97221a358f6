#include "io/location.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "util/path.h"

static int has_prefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

size_t mlic_location_scheme_len(const char *s)
{
    if (!isalpha((unsigned char)s[0]))
        return 0;
    size_t i = 1;
    while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return strncmp(s + i, "://", 3) ? 0 : i;
}

mlic_loc_kind mlic_location_kind(const char *path)
{
    if (has_prefix(path, "http://") || has_prefix(path, "https://"))
        return MLIC_LOC_HTTP;
    if (has_prefix(path, "s3://"))
        return MLIC_LOC_S3;
    if (has_prefix(path, "oss://"))
        return MLIC_LOC_OSS;
    return MLIC_LOC_LOCAL;
}

int mlic_location_is_remote(const char *path)
{
    return mlic_location_kind(path) != MLIC_LOC_LOCAL;
}

/* S3's rules for new buckets (3 to 63 characters: lower-case letters, digits, '.', '-', starting
 * and ending with a letter or digit); OSS's are a subset. Underscores and capitals, which old
 * us-east-1 buckets may have, are let through: the store is the judge of names it once allowed. */
static const char *bucket_problem(const char *b, size_t n)
{
    if (n == 0)
        return "no bucket name";
    if (n < 3 || n > 63)
        return "a bucket name must be 3 to 63 characters long";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != '_')
            return "a bucket name holds only letters, digits, '.', '-' and '_'";
    }
    if (!isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
        return "a bucket name starts and ends with a letter or a digit";
    return NULL;
}

mlic_status mlic_object_ref_parse(mlic_object_ref *out, const char *path)
{
    memset(out, 0, sizeof *out);
    mlic_loc_kind kind = mlic_location_kind(path);
    if (kind != MLIC_LOC_S3 && kind != MLIC_LOC_OSS) {
        size_t n = mlic_location_scheme_len(path);
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "'%s' is not an object-store path. HINT: write "
                         "s3://bucket/key or oss://bucket/key%s%.*s%s", path,
                         n ? " (the scheme '" : "", (int)n, path, n ? "' is not one)" : "");
    }
    const char *b = strstr(path, "://") + 3;
    const char *slash = strchr(b, '/');
    size_t blen = slash ? (size_t)(slash - b) : strlen(b);
    const char *why = bucket_problem(b, blen);
    if (why)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "'%s': %s. HINT: write %s://bucket/key", path, why,
                         kind == MLIC_LOC_S3 ? "s3" : "oss");
    const char *key = slash ? slash + 1 : "";
    while (*key == '/')
        key++;
    out->kind = kind;
    out->bucket = strndup(b, blen);
    out->key = strdup(key);
    if (!out->bucket || !out->key) {
        mlic_object_ref_free(out);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory parsing '%s'", path);
    }
    return MLIC_OK;
}

void mlic_object_ref_free(mlic_object_ref *r)
{
    if (!r)
        return;
    free(r->bucket);
    free(r->key);
    r->bucket = r->key = NULL;
}

char *mlic_location_join(const char *root, const char *rel)
{
    if (!root || !*root || mlic_location_scheme_len(rel) || rel[0] == '/')
        return strdup(rel);
    if (!mlic_location_is_remote(root) && !has_prefix(root, "file://"))
        return mlic_path_join(root, rel);
    size_t n = strlen(root);
    int slash = root[n - 1] == '/';
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    char *out = malloc(n + strlen(rel) + 2);
    if (out)
        sprintf(out, "%s%s%s", root, slash ? "" : "/", rel);
    return out;
}

char *mlic_location_dirname(const char *path)
{
    if (!mlic_location_is_remote(path) && !has_prefix(path, "file://"))
        return mlic_path_dirname(path);
    /* The part up to and including the last '/' after the scheme and authority (or bucket). */
    const char *auth = strstr(path, "://") + 3;
    const char *first = strchr(auth, '/');
    const char *last = strrchr(auth, '/');
    size_t n = first ? (size_t)(last - path) + 1 : strlen(path);
    char *out = malloc(n + 2);
    if (!out)
        return NULL;
    memcpy(out, path, n);
    if (!first)
        out[n++] = '/';
    out[n] = '\0';
    return out;
}
