#include "data/dataset_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "util/confine.h"
#include "util/file_open.h"
#include "util/path.h"

static uint64_t hash_name(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Slot of name in the table: its entry, or the empty slot where it would go. */
static size_t find_slot(const mlic_dataset_builder *b, const char *name, size_t len)
{
    size_t mask = b->table_cap - 1, i = (size_t)hash_name(name, len) & mask;
    while (b->table[i] >= 0) {
        const char *have = b->names[b->table[i]];
        if (strncmp(have, name, len) == 0 && have[len] == '\0')
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static mlic_status grow_table(mlic_dataset_builder *b)
{
    size_t cap = b->table_cap ? b->table_cap * 2 : 64;
    int *t = malloc(cap * sizeof *t);
    if (!t)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory for the class table", b->file);
    free(b->table);
    b->table = t;
    b->table_cap = cap;
    memset(t, 0xff, cap * sizeof *t);
    for (int id = 0; id < b->nnames; id++)
        t[find_slot(b, b->names[id], strlen(b->names[id]))] = id;
    return MLIC_OK;
}

/* Appends a name known to be absent. */
static mlic_status add_name(mlic_dataset_builder *b, int *id, const char *name, size_t len)
{
    if ((size_t)(b->nnames + 1) * 2 > b->table_cap && grow_table(b) != MLIC_OK)
        return MLIC_ERR_NOMEM;
    if (b->nnames == b->names_cap) {
        int cap = b->names_cap ? b->names_cap * 2 : 16;
        char **n = realloc(b->names, (size_t)cap * sizeof *n);
        if (!n)
            return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory for class names", b->file);
        b->names = n;
        b->names_cap = cap;
    }
    char *copy = strndup(name, len);
    if (!copy)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory for class names", b->file);
    b->names[b->nnames] = copy;
    b->table[find_slot(b, name, len)] = b->nnames;
    *id = b->nnames++;
    return MLIC_OK;
}

static int lookup(const mlic_dataset_builder *b, const char *name, size_t len)
{
    return b->table_cap ? b->table[find_slot(b, name, len)] : -1;
}

static mlic_status add_fixed_names(mlic_dataset_builder *b, const char *const *names, int n,
                                   const char *what)
{
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        int id;
        if (lookup(b, names[i], len) >= 0)
            return mlic_fail(MLIC_ERR_FORMAT, "%s: class \"%s\" is listed twice", what, names[i]);
        mlic_status st = add_name(b, &id, names[i], len);
        if (st != MLIC_OK)
            return st;
    }
    b->fixed = 1;
    return MLIC_OK;
}

mlic_status mlic_dataset_builder_init(mlic_dataset_builder *b, const char *file, const char *root,
                                      const char *classes_path, int confine)
{
    return mlic_dataset_builder_init_io(b, NULL, file, root, classes_path, confine);
}

mlic_status mlic_dataset_builder_init_io(mlic_dataset_builder *b, mlic_io *io, const char *file,
                                         const char *root, const char *classes_path, int confine)
{
    memset(b, 0, sizeof *b);
    b->file = file;
    b->io = io;
    b->root = strdup(root);
    if (!b->root)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory", file);
    if (confine && mlic_location_is_remote(root)) {
        b->remote_confined = 1;
    } else if (confine) {
        mlic_status st = mlic_confine_root(&b->real_root, root);
        if (st != MLIC_OK)
            return mlic_fail_prefix(st, "%s: ", file);
    }
    if (!classes_path)
        return MLIC_OK;
    char **names;
    int n;
    mlic_status st = mlic_dataset_read_classes_io(&names, &n, io, classes_path);
    if (st != MLIC_OK)
        return st;
    st = add_fixed_names(b, (const char *const *)names, n, classes_path);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    b->from_file = 1;
    return st;
}

void mlic_dataset_builder_free(mlic_dataset_builder *b)
{
    for (int i = 0; i < b->nnames; i++)
        free(b->names[i]);
    free(b->names);
    free(b->table);
    for (size_t i = 0; i < b->nitems; i++)
        free(b->items[i].path);
    free(b->items);
    free(b->offsets);
    free(b->pool);
    free(b->root);
    free(b->real_root);
    memset(b, 0, sizeof *b);
}

mlic_status mlic_dataset_builder_set_classes(mlic_dataset_builder *b, const char *const *names,
                                             int n)
{
    if (b->from_file)
        return MLIC_OK;
    return add_fixed_names(b, names, n, b->file);
}

mlic_status mlic_dataset_builder_class(mlic_dataset_builder *b, int *id, const char *name,
                                       size_t len)
{
    *id = lookup(b, name, len);
    if (*id >= 0 || b->fixed)
        return MLIC_OK;
    return add_name(b, id, name, len);
}

static int is_url(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
                       (p[i] >= '0' && p[i] <= '9') || p[i] == '+' || p[i] == '-' || p[i] == '.'))
        i++;
    return i > 0 && i + 3 <= len && memcmp(p + i, "://", 3) == 0;
}

/* A remote root confines by text: a relative path without ".." segments (a store has no
 * symbolic links, and its keys no "." folders), or a URL under the root. */
static mlic_status confine_remote(const char *root, const char *rel, int url)
{
    const size_t n = strlen(root);
    const int under = url && !strncmp(rel, root, n) && (root[n - 1] == '/' || rel[n] == '/');
    if (url ? !under : rel[0] == '/')
        return mlic_fail(MLIC_ERR_INVALID_ARG, "'%s' is %s, outside the root %s "
                         "(--confine-to-root)", rel, url ? "a URL" : "an absolute path", root);
    for (const char *p = url ? rel + n : rel; *p;) {
        const size_t seg = strcspn(p, "/");
        if (seg == 2 && p[0] == '.' && p[1] == '.')
            return mlic_fail(MLIC_ERR_INVALID_ARG, "'%s' leads outside the root %s through '..' "
                             "(--confine-to-root)", rel, root);
        p += seg + (p[seg] == '/');
    }
    return MLIC_OK;
}

mlic_status mlic_dataset_builder_add(mlic_dataset_builder *b, const char *path, size_t path_len,
                                     const int *labels, int n)
{
    if (b->nitems == b->items_cap) {
        size_t cap = b->items_cap ? b->items_cap * 2 : 256;
        mlic_item *it = realloc(b->items, cap * sizeof *it);
        if (it)
            b->items = it;
        size_t *off = it ? realloc(b->offsets, cap * sizeof *off) : NULL;
        if (!off)
            return mlic_fail(MLIC_ERR_NOMEM, "out of memory for items");
        b->offsets = off;
        b->items_cap = cap;
    }
    /* The pool exists once there is an item, labelled or not: finish points into it. */
    if (!b->pool || b->npool + (size_t)n > b->pool_cap) {
        size_t cap = b->pool_cap ? b->pool_cap * 2 : 1024;
        while (cap < b->npool + (size_t)n)
            cap *= 2;
        int *p = realloc(b->pool, cap * sizeof *p);
        if (!p)
            return mlic_fail(MLIC_ERR_NOMEM, "out of memory for labels");
        b->pool = p;
        b->pool_cap = cap;
    }
    char *rel = strndup(path, path_len), *full = NULL;
    if (!rel)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory for paths");
    /* Confined, http(s) URLs pass as in predict; file:// URLs name absolute paths: refused. */
    int url = is_url(rel, path_len);
    mlic_status refused = b->remote_confined ? confine_remote(b->root, rel, url) : MLIC_OK;
    if (refused != MLIC_OK) {
        free(rel);
        return refused;
    }
    if (b->real_root && (!url || !strncasecmp(rel, "file://", 7))) {
        mlic_status st = mlic_confine_path(&full, b->root, b->real_root, rel);
        free(rel);
        if (st != MLIC_OK)
            return st;
    } else {
        full = url ? strdup(rel) : mlic_path_join(b->root, rel);
        free(rel);
        if (!full)
            return mlic_fail(MLIC_ERR_NOMEM, "out of memory for paths");
    }
    b->offsets[b->nitems] = b->npool;
    mlic_item *it = &b->items[b->nitems++];
    it->path = full;
    it->nlabels = n;
    it->labels = NULL; /* the pool may still move: set by finish */
    if (n > 0) /* an item without labels: the pool may still be NULL */
        memcpy(b->pool + b->npool, labels, (size_t)n * sizeof *labels);
    b->npool += (size_t)n;
    return MLIC_OK;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const char *name;
    int id;
} named_id;

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const named_id *)a)->name, ((const named_id *)b)->name);
}

/* Renames the provisional ids so that the classes are in sorted order. */
static mlic_status sort_classes(mlic_dataset_builder *b)
{
    size_t n = (size_t)b->nnames;
    named_id *order = malloc(n * sizeof *order);
    int *new_id = malloc(n * sizeof *new_id);
    char **sorted = malloc(n * sizeof *sorted);
    if (!order || !new_id || !sorted) {
        free(order);
        free(new_id);
        free(sorted);
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory sorting classes", b->file);
    }
    for (size_t i = 0; i < n; i++)
        order[i] = (named_id){b->names[i], (int)i};
    qsort(order, n, sizeof *order, cmp_named);
    for (size_t i = 0; i < n; i++) {
        sorted[i] = b->names[order[i].id];
        new_id[order[i].id] = (int)i;
    }
    for (size_t i = 0; i < b->npool; i++)
        b->pool[i] = new_id[b->pool[i]];
    free(b->names);
    b->names = sorted;
    b->names_cap = (int)n;
    free(order);
    free(new_id);
    return MLIC_OK;
}

mlic_status mlic_dataset_builder_finish(mlic_dataset_builder *b, mlic_dataset **out,
                                        mlic_dataset_format format)
{
    *out = NULL;
    if (b->nitems == 0)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: lists no images", b->file);
    if (b->nnames == 0 && !b->paths_only)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: no class names: no item has a label. HINT: give a "
                         "class list (--classes)", b->file);
    if (!b->fixed) {
        mlic_status st = sort_classes(b);
        if (st != MLIC_OK)
            return st;
    }
    mlic_dataset *d = calloc(1, sizeof *d);
    if (!d)
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory", b->file);
    /* Sort and deduplicate each item's labels, compacting the pool. */
    size_t w = 0;
    for (size_t i = 0; i < b->nitems; i++) {
        mlic_item *it = &b->items[i];
        int *src = b->pool + b->offsets[i], *dst = b->pool + w;
        qsort(src, (size_t)it->nlabels, sizeof *src, cmp_int);
        int kept = 0;
        for (int j = 0; j < it->nlabels; j++)
            if (kept == 0 || src[j] != dst[kept - 1])
                dst[kept++] = src[j];
        it->labels = dst;
        it->nlabels = kept;
        w += (size_t)kept;
    }
    d->format = format;
    d->num_classes = b->nnames;
    d->classes = b->names;
    d->nitems = b->nitems;
    d->items = b->items;
    d->label_pool = b->pool;
    b->names = NULL;
    b->nnames = 0;
    b->items = NULL;
    b->nitems = 0;
    b->pool = NULL;
    mlic_dataset_builder_free(b);
    *out = d;
    return MLIC_OK;
}

mlic_status mlic_dataset_read_text(mlic_io *io, char **text, size_t *len, const char *path)
{
    *text = NULL;
    FILE *f;
    mlic_status st = io && mlic_location_is_remote(path) ? mlic_io_fopen_read(io, &f, path, NULL)
                                                         : mlic_file_fopen_read(&f, path, NULL, 0);
    if (st != MLIC_OK)
        return st;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 65536) {
            cap = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return mlic_fail(MLIC_ERR_NOMEM, "read %s: out of memory", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return mlic_fail(MLIC_ERR_IO, "read %s: I/O error", path);
    }
    buf[n] = '\0';
    const char *nul = memchr(buf, '\0', n);
    if (nul) {
        size_t at = (size_t)(nul - buf);
        free(buf);
        return mlic_fail(MLIC_ERR_FORMAT, "%s: byte %zu is NUL: not a text file", path, at);
    }
    *text = buf;
    *len = n;
    return MLIC_OK;
}

int mlic_dataset_next_line(const char **p, const char *end, const char **line, size_t *len)
{
    if (*p >= end)
        return 0;
    const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    const char *e = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    if (e > s && e[-1] == '\r')
        e--;
    *line = s;
    *len = (size_t)(e - s);
    return 1;
}

void mlic_dataset_trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}
