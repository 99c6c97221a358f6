/* SHA-256 hex digests, over OpenSSL's libcrypto (already linked for signing object-store
 * requests): a model file named by its content in reports, and the payload hashes of SigV4. */
#ifndef MLIC_UTIL_SHA256_H
#define MLIC_UTIL_SHA256_H

#include <stddef.h>

#include "mlic.h"

/* hex: 65 bytes, the digest in lower-case hex. */
void mlic_sha256_hex(char hex[65], const void *data, size_t len);
/* The digest of a local file's content; the message names the file. */
mlic_status mlic_sha256_file(char hex[65], const char *path);

#endif
