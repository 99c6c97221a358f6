#include "util/base64.h"

#include <stdlib.h>

#include "core/error.h"

static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

mlic_status mlic_base64_decode(uint8_t **out, size_t *out_len, const char *s, size_t len)
{
    *out = NULL;
    *out_len = 0;
    size_t data_len = len;
    while (data_len > 0 && s[data_len - 1] == '=' && len - data_len < 2)
        data_len--;
    if (len != data_len && len % 4 != 0)
        return mlic_fail(MLIC_ERR_FORMAT, "invalid base64: %zu characters with '=' padding is not a "
                         "multiple of 4. HINT: the data may be truncated", len);
    if (data_len % 4 == 1)
        return mlic_fail(MLIC_ERR_FORMAT, "invalid base64: %zu data characters cannot be a whole "
                         "number of bytes. HINT: the data may be truncated", data_len);
    uint8_t *buf = malloc(data_len / 4 * 3 + 3);
    if (!buf)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory decoding %zu base64 characters", len);
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < data_len; i++) {
        unsigned char c = (unsigned char)s[i];
        int v = sextet(c);
        if (v < 0) {
            free(buf);
            if (c >= 0x21 && c < 0x7F)
                return mlic_fail(MLIC_ERR_FORMAT, "invalid base64: character '%c' at position %zu",
                                 c, i + 1);
            return mlic_fail(MLIC_ERR_FORMAT, "invalid base64: byte 0x%02x at position %zu", c, i + 1);
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (uint8_t)(acc >> bits);
        }
    }
    *out = buf;
    *out_len = n;
    return MLIC_OK;
}

void mlic_base64_encode(mlic_strbuf *b, const uint8_t *data, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char quad[4];
    for (size_t i = 0; i < len; i += 3) {
        const uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0) |
                           (i + 2 < len ? data[i + 2] : 0);
        quad[0] = abc[v >> 18];
        quad[1] = abc[v >> 12 & 63];
        quad[2] = i + 1 < len ? abc[v >> 6 & 63] : '=';
        quad[3] = i + 2 < len ? abc[v & 63] : '=';
        mlic_strbuf_append(b, quad, 4);
    }
}
