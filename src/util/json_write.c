#include "util/json_write.h"

#include <math.h>
#include <stdint.h>

int mlic_utf8_seq_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0; /* also stops at the terminating NUL */
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void mlic_json_write_string(mlic_strbuf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    mlic_strbuf_putc(b, '"');
    while (*s) {
        unsigned c = *s;
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        }
        if (esc) {
            mlic_strbuf_puts(b, esc);
            s++;
        } else if (c < 0x20 || c == 0x7F) {
            mlic_strbuf_printf(b, "\\u%04x", c);
            s++;
        } else {
            int n = mlic_utf8_seq_len(s);
            if (n == 0) {
                mlic_strbuf_puts(b, "\\ufffd");
                s++;
            } else {
                mlic_strbuf_append(b, (const char *)s, (size_t)n);
                s += n;
            }
        }
    }
    mlic_strbuf_putc(b, '"');
}

void mlic_json_write_float(mlic_strbuf *b, double v)
{
    if (!isfinite(v))
        mlic_strbuf_puts(b, "null");
    else
        mlic_strbuf_printf(b, "%.9g", v);
}

void mlic_json_write_bool(mlic_strbuf *b, int v) { mlic_strbuf_puts(b, v ? "true" : "false"); }
