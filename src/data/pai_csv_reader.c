/* PAI's labelled CSV (iTAG export): `id,{"url": "..."},{"option": [...]}` a line. The JSON fields
 * come bare (their commas are inside the JSON, so a JSON parser finds where they end) or
 * CSV-quoted with "" escapes. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/dataset_build.h"
#include "util/json_nul.h"

typedef struct {
    mlic_dataset_builder *b;
    int lineno;
    const char *line; /* for columns in messages */
} ctx;

static void skip_blanks(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
}

/* A quoted CSV field starting at *p (on the quote): its unescaped bytes, malloc'd. */
static mlic_status unquote(char **out, size_t *len, const char **p, const char *end, const ctx *c)
{
    char *buf = malloc((size_t)(end - *p) + 1);
    if (!buf)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    size_t n = 0;
    const char *s = *p + 1;
    for (;;) {
        if (s >= end) {
            free(buf);
            return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: column %d: a quoted field is not closed. "
                             "HINT: a quote inside a quoted field is written \"\"", c->b->file,
                             c->lineno, (int)(*p - c->line) + 1);
        }
        if (*s == '"') {
            if (s + 1 < end && s[1] == '"') {
                buf[n++] = '"';
                s += 2;
                continue;
            }
            s++;
            break;
        }
        buf[n++] = *s++;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    *p = s;
    return MLIC_OK;
}

static mlic_status nul_error(const ctx *c, int col, const char *what)
{
    return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: column %d: the %s field holds a NUL character "
                     "(\\u0000), which would cut a path or class name short", c->b->file,
                     c->lineno, col, what);
}

/* The JSON object in the field at *p; *p ends up after the field. */
static mlic_status json_field(cJSON **out, const char **p, const char *end, const char *what,
                              const ctx *c)
{
    *out = NULL;
    skip_blanks(p, end);
    const char *start = *p, *parse_end = NULL;
    int col = (int)(start - c->line) + 1;
    if (*p < end && **p == '"') {
        char *buf;
        size_t len;
        mlic_status st = unquote(&buf, &len, p, end, c);
        if (st != MLIC_OK)
            return st;
        if (mlic_json_nul_escape(buf, len) >= 0) {
            free(buf);
            return nul_error(c, col, what);
        }
        *out = cJSON_ParseWithLengthOpts(buf, len, &parse_end, 0);
        int trailing = 0;
        if (*out)
            for (const char *t = parse_end; t < buf + len; t++)
                trailing |= *t != ' ' && *t != '\t';
        free(buf);
        if (!*out || trailing) {
            cJSON_Delete(*out);
            *out = NULL;
            return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: column %d: the %s field is not valid JSON",
                             c->b->file, c->lineno, col, what);
        }
    } else if (*p < end && **p == '{') {
        *out = cJSON_ParseWithLengthOpts(*p, (size_t)(end - *p), &parse_end, 0);
        if (!*out)
            return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: column %d: the %s field is not valid JSON "
                             "(error near column %d)", c->b->file, c->lineno, col, what,
                             parse_end ? (int)(parse_end - c->line) + 1 : col);
        if (mlic_json_nul_escape(*p, (size_t)(parse_end - *p)) >= 0) {
            cJSON_Delete(*out);
            *out = NULL;
            return nul_error(c, col, what);
        }
        *p = parse_end;
    } else {
        return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: column %d: the %s field should be a JSON object "
                         "(`{...}` or a quoted \"{...}\"). HINT: PAI lines look like "
                         "`1,{\"url\": \"a.jpg\"},{\"option\": [\"cat\"]}`", c->b->file, c->lineno,
                         col, what);
    }
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: column %d: the %s field is JSON but not an "
                         "object", c->b->file, c->lineno, col, what);
    }
    return MLIC_OK;
}

static mlic_status expect_comma(const char **p, const char *end, const char *after, const ctx *c)
{
    skip_blanks(p, end);
    if (*p < end && **p == ',') {
        (*p)++;
        return MLIC_OK;
    }
    return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: column %d: expected ',' after the %s field",
                     c->b->file, c->lineno, (int)(*p - c->line) + 1, after);
}

static mlic_status add_label(int *ids, int *n, const cJSON *v, const ctx *c)
{
    if (!cJSON_IsString(v))
        return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: \"option\" holds something that is not a "
                         "string. HINT: \"option\": \"label\" or [\"label\", ...]", c->b->file,
                         c->lineno);
    const char *name = v->valuestring;
    size_t len = strlen(name);
    mlic_dataset_trim(&name, &len);
    if (len == 0)
        return MLIC_OK;
    int id;
    mlic_status st = mlic_dataset_builder_class(c->b, &id, name, len);
    if (st != MLIC_OK)
        return st;
    if (id < 0)
        return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: label \"%.*s\" is not in the class list. HINT: "
                         "add it to the class file or fix the label", c->b->file, c->lineno,
                         (int)len, name);
    ids[(*n)++] = id;
    return MLIC_OK;
}

static mlic_status read_line(mlic_dataset_builder *b, const char *line, size_t n, int lineno)
{
    ctx c = {b, lineno, line};
    const char *p = line, *end = line + n;
    cJSON *image = NULL, *label = NULL;
    int *ids = NULL;
    /* The id field: skipped, quoted or not. */
    skip_blanks(&p, end);
    mlic_status st = MLIC_OK;
    if (p < end && *p == '"') {
        char *id;
        size_t len;
        if ((st = unquote(&id, &len, &p, end, &c)) != MLIC_OK)
            return st;
        free(id);
    } else {
        while (p < end && *p != ',')
            p++;
    }
    if ((st = expect_comma(&p, end, "id", &c)) != MLIC_OK ||
        (st = json_field(&image, &p, end, "image", &c)) != MLIC_OK ||
        (st = expect_comma(&p, end, "image", &c)) != MLIC_OK ||
        (st = json_field(&label, &p, end, "label", &c)) != MLIC_OK)
        goto done;
    skip_blanks(&p, end);
    if (p < end) {
        st = mlic_fail(MLIC_ERR_FORMAT, "%s:%d: column %d: unexpected text after the label field",
                       b->file, lineno, (int)(p - line) + 1);
        goto done;
    }
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(image, "url");
    if (!cJSON_IsString(url) || url->valuestring[0] == '\0') {
        st = mlic_fail(MLIC_ERR_FORMAT, "%s:%d: the image field has no \"url\" string", b->file,
                       lineno);
        goto done;
    }
    const cJSON *option = cJSON_GetObjectItemCaseSensitive(label, "option");
    if (!option) {
        st = mlic_fail(MLIC_ERR_FORMAT, "%s:%d: the label field has no \"option\"", b->file,
                       lineno);
        goto done;
    }
    int count = cJSON_IsArray(option) ? cJSON_GetArraySize(option) : 1, nids = 0;
    ids = malloc((size_t)(count > 0 ? count : 1) * sizeof *ids);
    if (!ids) {
        st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (cJSON_IsArray(option)) {
        const cJSON *v;
        cJSON_ArrayForEach(v, option)
            if ((st = add_label(ids, &nids, v, &c)) != MLIC_OK)
                goto done;
    } else if ((st = add_label(ids, &nids, option, &c)) != MLIC_OK) {
        goto done;
    }
    st = mlic_dataset_builder_add(b, url->valuestring, strlen(url->valuestring), ids, nids);
    if (st != MLIC_OK)
        mlic_fail_prefix(st, "%s:%d: ", b->file, lineno);
done:
    free(ids);
    cJSON_Delete(image);
    cJSON_Delete(label);
    return st;
}

mlic_status mlic_dataset_read_pai_csv(mlic_dataset_builder *b, const char *text, size_t len)
{
    const char *p = text, *end = text + len, *line;
    size_t n;
    int lineno = 0, first = 1;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (mlic_dataset_next_line(&p, end, &line, &n)) {
        lineno++;
        const char *t = line;
        size_t tn = n;
        mlic_dataset_trim(&t, &tn);
        if (tn == 0)
            continue;
        int header = first && !memchr(line, '{', n);
        first = 0;
        if (header)
            continue;
        mlic_status st = read_line(b, line, n, lineno);
        if (st != MLIC_OK)
            return st;
    }
    return MLIC_OK;
}
