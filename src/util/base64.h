/* Base64 (RFC 4648). Decoding: the standard alphabet, and the URL-safe one ('-', '_'), with or
 * without '=' padding. Whitespace and any other byte are errors: a list line holds one image. */
#ifndef MLIC_UTIL_BASE64_H
#define MLIC_UTIL_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "mlic.h"
#include "util/strbuf.h"

/* *out is malloc'd (free it); on failure *out is NULL and the message names the offending
 * character and its 1-based position. */
mlic_status mlic_base64_decode(uint8_t **out, size_t *out_len, const char *s, size_t len);

/* The standard alphabet with '=' padding, appended to b (a data: URI's payload). */
void mlic_base64_encode(mlic_strbuf *b, const uint8_t *data, size_t len);

#endif
