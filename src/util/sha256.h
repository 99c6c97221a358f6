/* SHA-256 (FIPS 180-4), for naming a model file by its content in reports. */
#ifndef MLIC_UTIL_SHA256_H
#define MLIC_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "mlic.h"

typedef struct {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t block[64];
    size_t used;
} mlic_sha256;

void mlic_sha256_init(mlic_sha256 *s);
void mlic_sha256_update(mlic_sha256 *s, const void *data, size_t n);
/* hex: 65 bytes, the digest in lower-case hex. */
void mlic_sha256_final_hex(mlic_sha256 *s, char hex[65]);

/* The hex digest of a local file's content; the message names the file. */
mlic_status mlic_sha256_file(char hex[65], const char *path);

#endif
