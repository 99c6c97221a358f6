/* COCO instances_*.json -> multi-label items.
 *
 * A full JSON tree of instances_train2017.json (450 MB, mostly segmentation polygons) would take
 * several GB, so this walks the text with a small scanner, skips every value it does not need and
 * hands only the few strings it keeps to cJSON for unescaping. */
#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/dataset_build.h"
#include "util/json_nul.h"

#define MAX_DEPTH 256

typedef struct {
    const char *s, *end, *base;
    const char *file;
} scanner;

typedef struct {
    int64_t id;
    char *file_name;
    size_t offset; /* in the file, for messages */
} coco_image;

typedef struct {
    int64_t image_id, category_id;
    size_t offset; /* in the file, for messages */
} coco_ann;

typedef struct {
    int64_t id;
    char *name;
} coco_cat;

typedef struct {
    coco_image *images;
    size_t nimages, images_cap;
    coco_ann *anns;
    size_t nanns, anns_cap;
    coco_cat *cats;
    size_t ncats, cats_cap;
    coco_image image; /* the entries being read */
    coco_ann ann;
    coco_cat cat;
    int have_images, have_cats;
} coco;

static int line_of(const scanner *sc, size_t offset)
{
    int line = 1;
    for (const char *p = sc->base; p < sc->base + offset; p++)
        line += *p == '\n';
    return line;
}

static mlic_status syntax(const scanner *sc, const char *what)
{
    return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: bad JSON: %s%s", sc->file,
                     line_of(sc, (size_t)(sc->s - sc->base)), what,
                     sc->s >= sc->end ? " (the file ends early)" : "");
}

static void ws(scanner *sc)
{
    while (sc->s < sc->end && (*sc->s == ' ' || *sc->s == '\t' || *sc->s == '\n' || *sc->s == '\r'))
        sc->s++;
}

static int peek(scanner *sc)
{
    ws(sc);
    return sc->s < sc->end ? (unsigned char)*sc->s : -1;
}

static mlic_status skip_string(scanner *sc)
{
    if (peek(sc) != '"')
        return syntax(sc, "expected a string");
    for (sc->s++; sc->s < sc->end; sc->s++) {
        if (*sc->s == '\\')
            sc->s++;
        else if (*sc->s == '"') {
            sc->s++;
            return MLIC_OK;
        }
    }
    return syntax(sc, "a string is not closed");
}

static mlic_status skip_value(scanner *sc, int depth);

/* Walks an object or array: calls skip_value on each member. */
static mlic_status skip_container(scanner *sc, int depth, char close)
{
    sc->s++;
    if (peek(sc) == close) {
        sc->s++;
        return MLIC_OK;
    }
    for (;;) {
        mlic_status st;
        if (close == '}') {
            if ((st = skip_string(sc)) != MLIC_OK)
                return st;
            if (peek(sc) != ':')
                return syntax(sc, "expected ':' after an object key");
            sc->s++;
        }
        if ((st = skip_value(sc, depth + 1)) != MLIC_OK)
            return st;
        int c = peek(sc);
        sc->s += c >= 0;
        if (c == close)
            return MLIC_OK;
        if (c != ',') {
            sc->s -= c >= 0;
            return syntax(sc, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
}

static mlic_status skip_value(scanner *sc, int depth)
{
    if (depth > MAX_DEPTH)
        return syntax(sc, "nested too deeply");
    int c = peek(sc);
    if (c == '{')
        return skip_container(sc, depth, '}');
    if (c == '[')
        return skip_container(sc, depth, ']');
    if (c == '"')
        return skip_string(sc);
    const char *start = sc->s;
    while (sc->s < sc->end && strchr(",]} \t\r\n", *sc->s) == NULL)
        sc->s++;
    if (sc->s == start)
        return syntax(sc, "expected a value");
    return MLIC_OK;
}

/* Object iteration: begin on '{', then next() gives each key (and eats the ':') until '}'. */
static mlic_status obj_begin(scanner *sc, const char *what)
{
    if (peek(sc) != '{')
        return syntax(sc, what);
    sc->s++;
    return MLIC_OK;
}

static mlic_status obj_next(scanner *sc, int *more, const char **key, size_t *key_len, int *first)
{
    int c = peek(sc);
    if (c == '}') {
        sc->s++;
        *more = 0;
        return MLIC_OK;
    }
    if (!*first) {
        if (c != ',')
            return syntax(sc, "expected ',' or '}'");
        sc->s++;
    }
    *first = 0;
    ws(sc);
    const char *start = sc->s;
    mlic_status st = skip_string(sc);
    if (st != MLIC_OK)
        return st;
    *key = start + 1;
    *key_len = (size_t)(sc->s - start) - 2;
    if (peek(sc) != ':')
        return syntax(sc, "expected ':' after an object key");
    sc->s++;
    *more = 1;
    return MLIC_OK;
}

static mlic_status arr_begin(scanner *sc, const char *what)
{
    if (peek(sc) != '[')
        return syntax(sc, what);
    sc->s++;
    return MLIC_OK;
}

static mlic_status arr_next(scanner *sc, int *more, int *first)
{
    int c = peek(sc);
    if (c == ']') {
        sc->s++;
        *more = 0;
        return MLIC_OK;
    }
    if (!*first) {
        if (c != ',')
            return syntax(sc, "expected ',' or ']'");
        sc->s++;
    }
    *first = 0;
    *more = 1;
    return MLIC_OK;
}

static int key_is(const char *key, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(key, want, len) == 0;
}

static mlic_status read_int(scanner *sc, int64_t *out, const char *what)
{
    ws(sc);
    const char *start = sc->s;
    mlic_status st = skip_value(sc, 0);
    if (st != MLIC_OK)
        return st;
    char buf[32];
    size_t n = (size_t)(sc->s - start);
    char *end = NULL;
    double v = 0;
    if (n < sizeof buf) {
        memcpy(buf, start, n);
        buf[n] = '\0';
        v = strtod(buf, &end);
    }
    /* The range first: converting an infinity or a huge value to int64_t is undefined. */
    if (n >= sizeof buf || end != buf + n ||
        !(v <= 9007199254740992.0 && v >= -9007199254740992.0) || v != (double)(int64_t)v) {
        sc->s = start;
        return syntax(sc, what);
    }
    *out = (int64_t)v;
    return MLIC_OK;
}

static mlic_status read_string(scanner *sc, char **out, const char *what)
{
    ws(sc);
    const char *start = sc->s;
    if (peek(sc) != '"')
        return syntax(sc, what);
    mlic_status st = skip_string(sc);
    if (st != MLIC_OK)
        return st;
    if (mlic_json_nul_escape(start, (size_t)(sc->s - start)) >= 0) {
        sc->s = start;
        return syntax(sc, "a string holds a NUL character (\\u0000), which would cut it short");
    }
    cJSON *v = cJSON_ParseWithLength(start, (size_t)(sc->s - start));
    if (!cJSON_IsString(v)) {
        cJSON_Delete(v);
        sc->s = start;
        return syntax(sc, "bad string escape");
    }
    *out = strdup(v->valuestring);
    cJSON_Delete(v);
    return *out ? MLIC_OK : mlic_fail(MLIC_ERR_NOMEM, "out of memory");
}

/* Grows *v (of *cap elements of size sz) to hold n + 1. */
static int reserve(void **v, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 1;
    size_t c = *cap ? *cap * 2 : 1024;
    void *p = realloc(*v, c * sz);
    if (!p)
        return 0;
    *v = p;
    *cap = c;
    return 1;
}

/* An array of objects: member() reads the keys it wants of each object into c's pending entry,
 * done() checks and keeps it. */
typedef mlic_status (*member_fn)(scanner *sc, coco *c, const char *key, size_t len, int *got);
typedef mlic_status (*done_fn)(scanner *sc, coco *c, int got, size_t offset);

static mlic_status read_array(scanner *sc, coco *c, member_fn member, done_fn done)
{
    mlic_status st = arr_begin(sc, "expected an array");
    int more, first = 1;
    while (st == MLIC_OK && (st = arr_next(sc, &more, &first)) == MLIC_OK && more) {
        ws(sc); /* messages name the line where the object opens */
        size_t offset = (size_t)(sc->s - sc->base);
        if ((st = obj_begin(sc, "expected an object")) != MLIC_OK)
            break;
        int got = 0, ofirst = 1, omore;
        const char *key;
        size_t len;
        while ((st = obj_next(sc, &omore, &key, &len, &ofirst)) == MLIC_OK && omore &&
               (st = member(sc, c, key, len, &got)) == MLIC_OK)
            ;
        if (st == MLIC_OK)
            st = done(sc, c, got, offset);
    }
    return st;
}

static mlic_status image_member(scanner *sc, coco *c, const char *key, size_t len, int *got)
{
    if (key_is(key, len, "id")) {
        *got |= 1;
        return read_int(sc, &c->image.id, "images: \"id\" should be an integer");
    }
    if (key_is(key, len, "file_name")) {
        free(c->image.file_name);
        c->image.file_name = NULL;
        *got |= 2;
        return read_string(sc, &c->image.file_name, "images: \"file_name\" should be a string");
    }
    return skip_value(sc, 1);
}

static mlic_status image_done(scanner *sc, coco *c, int got, size_t offset)
{
    if (got != 3)
        return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: an image without %s", sc->file,
                         line_of(sc, offset), got & 1 ? "\"file_name\"" : "\"id\"");
    if (!reserve((void **)&c->images, &c->images_cap, c->nimages, sizeof *c->images))
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory for images", sc->file);
    c->image.offset = offset;
    c->images[c->nimages++] = c->image;
    c->image.file_name = NULL;
    return MLIC_OK;
}

static mlic_status ann_member(scanner *sc, coco *c, const char *key, size_t len, int *got)
{
    if (key_is(key, len, "image_id")) {
        *got |= 1;
        return read_int(sc, &c->ann.image_id, "annotations: \"image_id\" should be an integer");
    }
    if (key_is(key, len, "category_id")) {
        *got |= 2;
        return read_int(sc, &c->ann.category_id,
                        "annotations: \"category_id\" should be an integer");
    }
    return skip_value(sc, 1);
}

static mlic_status ann_done(scanner *sc, coco *c, int got, size_t offset)
{
    if (got != 3)
        return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: an annotation without %s", sc->file,
                         line_of(sc, offset), got & 1 ? "\"category_id\"" : "\"image_id\"");
    if (!reserve((void **)&c->anns, &c->anns_cap, c->nanns, sizeof *c->anns))
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory for annotations", sc->file);
    c->ann.offset = offset;
    c->anns[c->nanns++] = c->ann;
    return MLIC_OK;
}

static mlic_status cat_member(scanner *sc, coco *c, const char *key, size_t len, int *got)
{
    if (key_is(key, len, "id")) {
        *got |= 1;
        return read_int(sc, &c->cat.id, "categories: \"id\" should be an integer");
    }
    if (key_is(key, len, "name")) {
        free(c->cat.name);
        c->cat.name = NULL;
        *got |= 2;
        return read_string(sc, &c->cat.name, "categories: \"name\" should be a string");
    }
    return skip_value(sc, 1);
}

static mlic_status cat_done(scanner *sc, coco *c, int got, size_t offset)
{
    if (got != 3)
        return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: a category without %s", sc->file,
                         line_of(sc, offset), got & 1 ? "\"name\"" : "\"id\"");
    if (!reserve((void **)&c->cats, &c->cats_cap, c->ncats, sizeof *c->cats))
        return mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory for categories", sc->file);
    c->cats[c->ncats++] = c->cat;
    c->cat.name = NULL;
    return MLIC_OK;
}

static mlic_status scan(scanner *sc, coco *c)
{
    mlic_status st = obj_begin(sc, "expected a JSON object (a COCO instances file)");
    int more, first = 1;
    const char *key;
    size_t len;
    while (st == MLIC_OK && (st = obj_next(sc, &more, &key, &len, &first)) == MLIC_OK && more) {
        if (key_is(key, len, "images")) {
            c->have_images = 1;
            st = read_array(sc, c, image_member, image_done);
        } else if (key_is(key, len, "annotations")) {
            st = read_array(sc, c, ann_member, ann_done);
        } else if (key_is(key, len, "categories")) {
            c->have_cats = 1;
            st = read_array(sc, c, cat_member, cat_done);
        } else {
            st = skip_value(sc, 1);
        }
    }
    if (st == MLIC_OK && peek(sc) >= 0)
        st = syntax(sc, "text after the top-level object");
    return st;
}

static int cmp_i64(int64_t a, int64_t b) { return (a > b) - (a < b); }

static int cmp_cat(const void *a, const void *b)
{
    return cmp_i64(((const coco_cat *)a)->id, ((const coco_cat *)b)->id);
}

typedef struct {
    int64_t id;
    size_t index;
} id_index;

static int cmp_id_index(const void *a, const void *b)
{
    return cmp_i64(((const id_index *)a)->id, ((const id_index *)b)->id);
}

typedef struct {
    size_t item;
    int label;
} item_label;

static int cmp_item_label(const void *a, const void *b)
{
    const item_label *x = a, *y = b;
    if (x->item != y->item)
        return (x->item > y->item) - (x->item < y->item);
    return (x->label > y->label) - (x->label < y->label);
}

/* Category ids -> class ids (cats sorted by id). */
static mlic_status map_categories(mlic_dataset_builder *b, const coco *c, int *cat_class)
{
    for (size_t i = 1; i < c->ncats; i++)
        if (c->cats[i].id == c->cats[i - 1].id)
            return mlic_fail(MLIC_ERR_FORMAT, "%s: category id %lld is used twice", b->file,
                             (long long)c->cats[i].id);
    const char **names = malloc((c->ncats ? c->ncats : 1) * sizeof *names);
    if (!names)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < c->ncats; i++)
        names[i] = c->cats[i].name;
    mlic_status st = mlic_dataset_builder_set_classes(b, names, (int)c->ncats);
    free(names);
    for (size_t i = 0; st == MLIC_OK && i < c->ncats; i++) {
        st = mlic_dataset_builder_class(b, &cat_class[i], c->cats[i].name, strlen(c->cats[i].name));
        if (st == MLIC_OK && cat_class[i] < 0)
            st = mlic_fail(MLIC_ERR_FORMAT, "%s: category \"%s\" (id %lld) is not in the class "
                           "list. HINT: add it to the class file", b->file, c->cats[i].name,
                           (long long)c->cats[i].id);
    }
    return st;
}

static mlic_status build(mlic_dataset_builder *b, const scanner *sc, coco *c)
{
    if (!c->have_images)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: no \"images\" array: not a COCO instances file",
                         b->file);
    if (!c->have_cats)
        return mlic_fail(MLIC_ERR_FORMAT, "%s: no \"categories\" array: not a COCO instances "
                         "file", b->file);
    qsort(c->cats, c->ncats, sizeof *c->cats, cmp_cat);
    int *cat_class = malloc((c->ncats ? c->ncats : 1) * sizeof *cat_class);
    id_index *by_id = malloc((c->nimages ? c->nimages : 1) * sizeof *by_id);
    item_label *pairs = malloc((c->nanns ? c->nanns : 1) * sizeof *pairs);
    int *labels = malloc((c->ncats ? c->ncats : 1) * sizeof *labels);
    mlic_status st = MLIC_OK;
    if (!cat_class || !by_id || !pairs || !labels) {
        st = mlic_fail(MLIC_ERR_NOMEM, "%s: out of memory", b->file);
        goto done;
    }
    if ((st = map_categories(b, c, cat_class)) != MLIC_OK)
        goto done;
    for (size_t i = 0; i < c->nimages; i++)
        by_id[i] = (id_index){c->images[i].id, i};
    qsort(by_id, c->nimages, sizeof *by_id, cmp_id_index);
    for (size_t i = 1; i < c->nimages; i++)
        if (by_id[i].id == by_id[i - 1].id) {
            st = mlic_fail(MLIC_ERR_FORMAT, "%s: image id %lld is used twice", b->file,
                           (long long)by_id[i].id);
            goto done;
        }
    for (size_t i = 0; i < c->nanns; i++) {
        const coco_ann *a = &c->anns[i];
        id_index key = {a->image_id, 0};
        coco_cat ckey = {a->category_id, NULL};
        const id_index *im = bsearch(&key, by_id, c->nimages, sizeof *by_id, cmp_id_index);
        const coco_cat *cat = bsearch(&ckey, c->cats, c->ncats, sizeof *c->cats, cmp_cat);
        if (!im || !cat) {
            st = mlic_fail(MLIC_ERR_FORMAT, "%s:%d: an annotation refers to %s id %lld, which is "
                           "not in \"%s\"", b->file, line_of(sc, a->offset),
                           im ? "category" : "image",
                           (long long)(im ? a->category_id : a->image_id),
                           im ? "categories" : "images");
            goto done;
        }
        pairs[i] = (item_label){im->index, cat_class[cat - c->cats]};
    }
    qsort(pairs, c->nanns, sizeof *pairs, cmp_item_label);
    size_t k = 0;
    for (size_t i = 0; i < c->nimages && st == MLIC_OK; i++) {
        int n = 0;
        for (; k < c->nanns && pairs[k].item == i; k++)
            if (n == 0 || labels[n - 1] != pairs[k].label)
                labels[n++] = pairs[k].label;
        const char *fn = c->images[i].file_name;
        if ((st = mlic_dataset_builder_add(b, fn, strlen(fn), labels, n)) != MLIC_OK)
            mlic_fail_prefix(st, "%s:%d: ", b->file, line_of(sc, c->images[i].offset));
    }
done:
    free(cat_class);
    free(by_id);
    free(pairs);
    free(labels);
    return st;
}

mlic_status mlic_dataset_read_coco(mlic_dataset_builder *b, const char *text, size_t len)
{
    scanner sc = {text, text + len, text, b->file};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        sc.s += 3;
    coco c;
    memset(&c, 0, sizeof c);
    mlic_status st = scan(&sc, &c);
    if (st == MLIC_OK)
        st = build(b, &sc, &c);
    for (size_t i = 0; i < c.nimages; i++)
        free(c.images[i].file_name);
    for (size_t i = 0; i < c.ncats; i++)
        free(c.cats[i].name);
    free(c.image.file_name);
    free(c.cat.name);
    free(c.images);
    free(c.anns);
    free(c.cats);
    return st;
}
