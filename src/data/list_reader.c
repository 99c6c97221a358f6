/* The plain list: `path<TAB>label,label` a line, or `path label label` given a class list. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/dataset_build.h"

typedef struct {
    int *v;
    int n, cap;
} id_list;

static mlic_status push_id(id_list *l, int id)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        int *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v)
            return mlic_fail(MLIC_ERR_NOMEM, "out of memory for labels");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = id;
    return MLIC_OK;
}

static int is_sep(char c, const char *seps) { return strchr(seps, c) != NULL && c != '\0'; }

/* Splits [s, s + n) on any of seps, trims each token and looks it up. */
static mlic_status parse_labels(mlic_dataset_builder *b, id_list *ids, const char *s, size_t n,
                                const char *seps, int lineno)
{
    const char *end = s + n;
    while (s < end) {
        const char *t = s;
        while (t < end && !is_sep(*t, seps))
            t++;
        const char *tok = s;
        size_t len = (size_t)(t - s);
        mlic_dataset_trim(&tok, &len);
        s = t < end ? t + 1 : end;
        if (len == 0)
            continue;
        int id;
        mlic_status st = mlic_dataset_builder_class(b, &id, tok, len);
        if (st != MLIC_OK)
            return st;
        if (id < 0)
            return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: label \"%.*s\" is not in the class list. "
                             "HINT: add it to the class file or fix the label", b->file, lineno,
                             (int)len, tok);
        if ((st = push_id(ids, id)) != MLIC_OK)
            return st;
    }
    return MLIC_OK;
}

static mlic_status read_line(mlic_dataset_builder *b, id_list *ids, const char *line, size_t n,
                             int lineno)
{
    const char *tab = memchr(line, '\t', n), *path = line, *rest;
    size_t plen;
    const char *seps;
    if (tab) {
        plen = (size_t)(tab - line);
        rest = tab + 1;
        seps = ",\t";
    } else if (b->from_file) {
        while (*path == ' ')
            path++;
        const char *sp = path;
        while (sp < line + n && *sp != ' ')
            sp++;
        plen = (size_t)(sp - path);
        rest = sp;
        seps = " \t";
    } else if (b->paths_only) { /* the whole line is the path */
        plen = n;
        rest = line + n;
        seps = ",";
    } else {
        return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: no tab between the image path and its labels in "
                         "\"%.*s\". HINT: write `path<TAB>label,label` (nothing after the tab for "
                         "an image without labels), or give a class list (--classes) to read "
                         "`path label label`", b->file, lineno, n > 80 ? 80 : (int)n, line);
    }
    mlic_dataset_trim(&path, &plen);
    if (plen == 0)
        return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: the image path is empty", b->file, lineno);
    ids->n = 0;
    mlic_status st = parse_labels(b, ids, rest, (size_t)(line + n - rest), seps, lineno);
    if (st != MLIC_OK)
        return st;
    st = mlic_dataset_builder_add(b, path, plen, ids->v, ids->n);
    return st == MLIC_OK ? st : mlic_fail_prefix(st, "%s:%d: ", b->file, lineno);
}

mlic_status mlic_dataset_read_list(mlic_dataset_builder *b, const char *text, size_t len)
{
    const char *p = text, *end = text + len, *line;
    size_t n;
    int lineno = 0;
    id_list ids = {NULL, 0, 0};
    mlic_status st = MLIC_OK;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (st == MLIC_OK && mlic_dataset_next_line(&p, end, &line, &n)) {
        lineno++;
        const char *t = line;
        size_t tn = n;
        mlic_dataset_trim(&t, &tn);
        if (tn > 0)
            st = read_line(b, &ids, line, n, lineno);
    }
    free(ids.v);
    return st;
}
