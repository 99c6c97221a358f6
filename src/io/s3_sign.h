/* AWS Signature Version 4, the signing S3, OSS's S3-compatible API and STS accept
 * (docs/storage.md says why mlic signs itself rather than through libcurl). */
#ifndef MLIC_IO_S3_SIGN_H
#define MLIC_IO_S3_SIGN_H

#include <stddef.h>
#include <time.h>

#include "io/service.h"
#include "util/sha256.h"
#include "util/strbuf.h"

#define MLIC_SHA256_HEX_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* RFC 3986 percent-encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ is encoded,
 * and '/' too unless keep_slash. */
void mlic_uri_encode(mlic_strbuf *b, const char *s, size_t n, int keep_slash);

/* A query string from name/value pairs, encoded and sorted as SigV4's canonical query (a NULL
 * value is a name alone, "uploads" in "?uploads", which signs as "uploads="). malloc'd; NULL
 * when out of memory. n pairs in names[i], values[i]. */
char *mlic_s3_query(const char *const *names, const char *const *values, int n);

typedef struct {
    const char *name;  /* lower case */
    const char *value; /* trimmed */
} mlic_sig_header;

/* The Authorization header's value, malloc'd (NULL when out of memory), for a request whose
 * signed headers are hdrs (sorted by name; host and x-amz-date among them), with the canonical
 * URI (already encoded) and query (from mlic_s3_query, "" for none). amz_date:
 * "YYYYMMDDTHHMMSSZ". */
char *mlic_sigv4_authorization(const char *method, const char *uri, const char *query,
                               const mlic_sig_header *hdrs, int nh, const char *payload_hash,
                               const char *amz_date, const char *region, const char *service,
                               const mlic_credentials *c);

/* "YYYYMMDDTHHMMSSZ" of t (UTC). */
void mlic_amz_date(char out[17], time_t t);

#endif
