#include "util/sha256.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "util/file_open.h"

static void to_hex(char hex[65], const unsigned char d[32])
{
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

void mlic_sha256_hex(char hex[65], const void *data, size_t len)
{
    unsigned char d[32];
    unsigned int n = sizeof d;
    EVP_Digest(data, len, d, &n, EVP_sha256(), NULL);
    to_hex(hex, d);
}

mlic_status mlic_sha256_file(char hex[65], const char *path)
{
    int fd;
    mlic_status st = mlic_file_open_read(&fd, path, NULL, 0);
    if (st != MLIC_OK)
        return st;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(ctx);
        close(fd);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory hashing %s", path);
    }
    uint8_t buf[1 << 16];
    ssize_t got;
    while ((got = read(fd, buf, sizeof buf)) > 0)
        EVP_DigestUpdate(ctx, buf, (size_t)got);
    const int err = errno;
    close(fd);
    unsigned char d[32];
    unsigned int n = sizeof d;
    EVP_DigestFinal_ex(ctx, d, &n);
    EVP_MD_CTX_free(ctx);
    if (got < 0)
        return mlic_fail(MLIC_ERR_IO, "cannot read %s: %s", path, strerror(err));
    to_hex(hex, d);
    return MLIC_OK;
}
