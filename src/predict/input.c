#include "predict/input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "image/eval_input.h"
#include "util/base64.h"

char *mlic_input_label(mlic_image_type type, const char *line, size_t len, uint64_t lineno)
{
    if (type == MLIC_IMAGE_TYPE_BASE64) {
        const char *tab = memchr(line, '\t', len);
        if (!tab) {
            char id[32];
            snprintf(id, sizeof id, "%llu", (unsigned long long)lineno);
            return strdup(id);
        }
        return strndup(line, (size_t)(tab - line));
    }
    return strndup(line, len);
}

/* How much of an overlong url line its label keeps. */
#define LONG_LABEL_BYTES 64

mlic_status mlic_input_too_long(char **label, mlic_image_type type, const char *line, size_t len,
                                uint64_t total, size_t max, uint64_t lineno)
{
    if (type == MLIC_IMAGE_TYPE_URL) {
        size_t keep = len < LONG_LABEL_BYTES ? len : LONG_LABEL_BYTES;
        *label = malloc(keep + 4);
        if (*label)
            snprintf(*label, keep + 4, "%.*s...", (int)keep, line);
    } else {
        *label = mlic_input_label(type, line, len, lineno);
    }
    return mlic_fail(MLIC_ERR_TOO_LARGE, "line %llu of the list is %llu bytes long, over the "
                     "limit of %zu; skipped. HINT: raise the limit (--max-line-bytes) if such "
                     "lines are expected", (unsigned long long)lineno, (unsigned long long)total,
                     max);
}

/* The encoded image bytes of a line, malloc'd into *data. */
static mlic_status input_bytes(uint8_t **data, size_t *n, const mlic_input_ctx *c, const char *line,
                               size_t len, uint64_t lineno)
{
    if (len == 0)
        return mlic_fail(MLIC_ERR_FORMAT, "line %llu of the list is empty. HINT: every line must "
                         "name one image", (unsigned long long)lineno);
    if (strlen(line) != len)
        return mlic_fail(MLIC_ERR_FORMAT, "line %llu of the list holds a NUL byte. HINT: the list "
                         "must be text, one image per line", (unsigned long long)lineno);
    if (c->type == MLIC_IMAGE_TYPE_URL)
        return mlic_io_get(c->io, data, n, line);

    const char *b64 = line;
    const char *tab = strchr(line, '\t');
    if (tab)
        b64 = tab + 1;
    size_t b64_len = len - (size_t)(b64 - line);
    if (b64_len == 0)
        return mlic_fail(MLIC_ERR_FORMAT, "line %llu of the list has an ID but no base64 data "
                         "after the tab", (unsigned long long)lineno);
    mlic_status st = mlic_base64_decode(data, n, b64, b64_len);
    if (st != MLIC_OK)
        return mlic_fail_prefix(st, "line %llu of the list: ", (unsigned long long)lineno);
    return MLIC_OK;
}

/* The image bytes decoded and preprocessed into out; messages name the input as label does. */
static mlic_status decode_bytes(float *out, const mlic_input_ctx *c, const char *line, size_t len,
                                uint64_t lineno, const uint8_t *data, size_t n)
{
    char *label = mlic_input_label(c->type, line, len, lineno);
    const char *kind = c->type == MLIC_IMAGE_TYPE_URL ? "" : "the image of ID ";
    const size_t wlen = strlen(kind) + (label ? strlen(label) : 1) + 3;
    char *what = malloc(wlen);
    if (what)
        snprintf(what, wlen, "%s'%s'", kind, label ? label : "?");
    mlic_status st = what ? mlic_image_eval_input(out, data, n, &c->decode, &c->pre, what)
                          : mlic_fail(MLIC_ERR_NOMEM, "line %llu of the list: out of memory",
                                      (unsigned long long)lineno);
    free(what);
    free(label);
    return st;
}

mlic_status mlic_input_prepare(float *out, const mlic_input_ctx *c, const char *line, size_t len,
                               uint64_t lineno)
{
    uint8_t *data = NULL;
    size_t n = 0;
    mlic_status st = input_bytes(&data, &n, c, line, len, lineno);
    if (st == MLIC_OK)
        st = decode_bytes(out, c, line, len, lineno, data, n);
    free(data);
    return st;
}

mlic_status mlic_input_prepare_fetched(float *out, const mlic_input_ctx *c, const char *line,
                                       size_t len, uint64_t lineno, const uint8_t *data, size_t n)
{
    return decode_bytes(out, c, line, len, lineno, data, n);
}
