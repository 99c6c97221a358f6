#include "io/s3_xml.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Where an element named tag opens in xml[from, len): the index of its '<' and, in *body, the
 * index after its '>'. "<tag>" or "<tag attr=...>"; a self-closing "<tag/>" has an empty body. */
static int find_open(const char *xml, size_t len, size_t from, const char *tag, size_t *lt,
                     size_t *body, int *empty)
{
    size_t k = strlen(tag);
    for (size_t i = from; i + k + 2 <= len; i++) {
        if (xml[i] != '<' || memcmp(xml + i + 1, tag, k))
            continue;
        char c = xml[i + 1 + k];
        if (c != '>' && c != ' ' && c != '/' && c != '\t' && c != '\r' && c != '\n')
            continue;
        const char *gt = memchr(xml + i + 1 + k, '>', len - (i + 1 + k));
        if (!gt)
            return 0;
        *lt = i;
        *body = (size_t)(gt - xml) + 1;
        *empty = gt[-1] == '/';
        return 1;
    }
    return 0;
}

/* The index of "</tag>" at or after from, or len when absent. */
static size_t find_close(const char *xml, size_t len, size_t from, const char *tag)
{
    size_t k = strlen(tag);
    for (size_t i = from; i + k + 3 <= len; i++)
        if (xml[i] == '<' && xml[i + 1] == '/' && !memcmp(xml + i + 2, tag, k) &&
            xml[i + 2 + k] == '>')
            return i;
    return len;
}

int mlic_xml_next(const char *xml, size_t len, size_t *pos, const char *tag, const char **inner,
                  size_t *inner_len)
{
    size_t lt, body;
    int empty;
    if (!xml || *pos >= len || !find_open(xml, len, *pos, tag, &lt, &body, &empty))
        return 0;
    if (empty) {
        *inner = xml + body;
        *inner_len = 0;
        *pos = body;
        return 1;
    }
    size_t end = find_close(xml, len, body, tag);
    if (end == len)
        return 0;
    *inner = xml + body;
    *inner_len = end - body;
    *pos = end + strlen(tag) + 3;
    return 1;
}

static int entity(const char *s, size_t n, size_t *used, unsigned *cp)
{
    static const struct {
        const char *name;
        unsigned cp;
    } named[] = {{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        size_t k = strlen(named[i].name);
        if (n >= k && !memcmp(s, named[i].name, k)) {
            *used = k;
            *cp = named[i].cp;
            return 1;
        }
    }
    if (n < 3 || s[0] != '#')
        return 0;
    int hex = s[1] == 'x';
    size_t i = hex ? 2 : 1;
    unsigned long v = 0;
    size_t start = i;
    while (i < n && i < start + 8 && (hex ? isxdigit((unsigned char)s[i]) : isdigit((unsigned char)s[i]))) {
        v = v * (hex ? 16 : 10) + (unsigned long)(isdigit((unsigned char)s[i]) ? s[i] - '0'
                                                   : (tolower((unsigned char)s[i]) - 'a' + 10));
        i++;
    }
    if (i == start || i >= n || s[i] != ';' || v == 0 || v > 0x10FFFF)
        return 0;
    *used = i + 1;
    *cp = (unsigned)v;
    return 1;
}

static size_t utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int mlic_xml_text(const char *xml, size_t len, const char *tag, char *out, size_t cap)
{
    if (cap)
        out[0] = '\0';
    size_t pos = 0, n;
    const char *in;
    if (!cap || !mlic_xml_next(xml, len, &pos, tag, &in, &n))
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char tmp[4];
        size_t k = 1, used = 1;
        unsigned cp;
        if (in[i] == '<' || in[i] == '\0') {
            out[0] = '\0';
            return -1; /* markup inside, or a NUL that would cut the text short */
        } else if (in[i] == '&') {
            if (!entity(in + i + 1, n - i - 1, &used, &cp)) {
                out[0] = '\0';
                return -1;
            }
            used++;
            k = utf8(tmp, cp);
        } else {
            tmp[0] = in[i];
        }
        if (o + k >= cap) {
            out[0] = '\0';
            return -1;
        }
        memcpy(out + o, tmp, k);
        o += k;
        i += used;
    }
    out[o] = '\0';
    return (int)o;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int mlic_url_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '%') {
            int hi = hexval((unsigned char)s[1]), lo = hi < 0 ? -1 : hexval((unsigned char)s[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return 0;
            *o++ = (char)(hi * 16 + lo);
            s += 2;
        } else if (*s == '+') {
            *o++ = ' ';
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return 1;
}
