#include "data/dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


#include "core/error.h"
#include "data/dataset_build.h"
#include "io/location.h"
#include "util/path.h"

static const char *const format_names[] = {"auto", "list", "pai_csv", "coco", "voc"};

void mlic_dataset_opts_init(mlic_dataset_opts *o) { memset(o, 0, sizeof *o); }

const char *mlic_dataset_format_name(mlic_dataset_format f)
{
    return (unsigned)f <= MLIC_DATASET_VOC ? format_names[f] : "unknown";
}

mlic_status mlic_dataset_parse_format(mlic_dataset_format *out, const char *name)
{
    for (int i = 0; i <= MLIC_DATASET_VOC; i++)
        if (name && strcmp(name, format_names[i]) == 0) {
            *out = (mlic_dataset_format)i;
            return MLIC_OK;
        }
    return mlic_fail(MLIC_ERR_INVALID_ARG, "data set format \"%s\" is unknown. HINT: use auto, "
                     "list, pai_csv, coco or voc", name ? name : "(null)");
}

void mlic_dataset_free(mlic_dataset *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->num_classes; i++)
        free(d->classes[i]);
    free(d->classes);
    for (size_t i = 0; i < d->nitems; i++)
        free(d->items[i].path);
    free(d->items);
    free(d->label_pool);
    free(d);
}

int mlic_dataset_has_remote(const mlic_dataset *d)
{
    for (size_t i = 0; d && i < d->nitems; i++)
        if (mlic_location_is_remote(d->items[i].path))
            return 1;
    return 0;
}

void mlic_dataset_targets_f32(float *out, const mlic_dataset *d, size_t i)
{
    memset(out, 0, (size_t)d->num_classes * sizeof *out);
    for (int j = 0; j < d->items[i].nlabels; j++)
        out[d->items[i].labels[j]] = 1.0f;
}

void mlic_dataset_targets_u8(uint8_t *out, const mlic_dataset *d, size_t i)
{
    memset(out, 0, (size_t)d->num_classes);
    for (int j = 0; j < d->items[i].nlabels; j++)
        out[d->items[i].labels[j]] = 1;
}

typedef struct {
    char *name;
    int line;
} class_line;

static int cmp_class_line(const void *a, const void *b)
{
    const class_line *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

mlic_status mlic_dataset_read_classes(char ***out, int *count, const char *path)
{
    return mlic_dataset_read_classes_io(out, count, NULL, path);
}

mlic_status mlic_dataset_read_classes_io(char ***out, int *count, mlic_io *io, const char *path)
{
    *out = NULL;
    *count = 0;
    char *text;
    size_t len;
    mlic_status st = mlic_dataset_read_text(io, &text, &len, path);
    if (st != MLIC_OK)
        return mlic_fail_prefix(st, "class list: ");
    const char *p = text, *line;
    size_t n;
    int lines = 0, cap = 0, k = 0;
    class_line *cl = NULL;
    st = MLIC_OK;
    while (st == MLIC_OK && mlic_dataset_next_line(&p, text + len, &line, &n)) {
        lines++;
        if (lines == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;
            n -= 3;
        }
        mlic_dataset_trim(&line, &n);
        if (n == 0)
            continue;
        if (k == cap) {
            cap = cap ? cap * 2 : 64;
            class_line *c = realloc(cl, (size_t)cap * sizeof *c);
            if (!c) {
                st = mlic_fail(MLIC_ERR_NOMEM, "class list %s: out of memory", path);
                break;
            }
            cl = c;
        }
        cl[k].name = strndup(line, n);
        cl[k].line = lines;
        if (!cl[k].name)
            st = mlic_fail(MLIC_ERR_NOMEM, "class list %s: out of memory", path);
        else
            k++;
    }
    free(text);
    if (st == MLIC_OK && k == 0)
        st = mlic_fail(MLIC_ERR_FORMAT, "class list %s is empty. HINT: one class name a line", path);
    char **names = st == MLIC_OK ? malloc((size_t)k * sizeof *names) : NULL;
    if (st == MLIC_OK && !names)
        st = mlic_fail(MLIC_ERR_NOMEM, "class list %s: out of memory", path);
    if (st == MLIC_OK) {
        for (int i = 0; i < k; i++)
            names[i] = cl[i].name;
        qsort(cl, (size_t)k, sizeof *cl, cmp_class_line);
        for (int i = 1; i < k && st == MLIC_OK; i++)
            if (strcmp(cl[i].name, cl[i - 1].name) == 0)
                st = mlic_fail(MLIC_ERR_FORMAT, "%s:%d: class \"%s\" is already on line %d", path,
                               cl[i].line, cl[i].name, cl[i - 1].line);
    }
    if (st != MLIC_OK) {
        for (int i = 0; i < k; i++)
            free(cl[i].name);
        free(names);
        free(cl);
        return st;
    }
    free(cl);
    *out = names;
    *count = k;
    return MLIC_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Whether path's last component is exactly name. */
static int last_component_is(const char *path, const char *name)
{
    size_t n = strlen(path), m = strlen(name);
    return ends_with(path, name) && (n == m || path[n - m - 1] == '/');
}

/* "<voc>/ImageSets/Main/<split>.txt" -> <voc>; NULL if path is not such a file. */
static char *voc_of_split_file(const char *path)
{
    char *main_dir = mlic_path_dirname(path);
    if (!main_dir)
        return NULL;
    char *voc = NULL;
    if (ends_with(path, ".txt") && last_component_is(main_dir, "ImageSets/Main")) {
        size_t n = strlen(main_dir) - strlen("ImageSets/Main");
        voc = n == 0 ? strdup(".") : strndup(main_dir, n > 1 ? n - 1 : n);
    }
    free(main_dir);
    return voc;
}

/* A line that carries PAI's JSON fields: `id,{...` or `id,"{...`. */
static int looks_like_pai(const char *line, size_t n)
{
    const char *comma = memchr(line, ',', n);
    if (!comma)
        return 0;
    const char *s = comma + 1, *end = line + n;
    while (s < end && *s == ' ')
        s++;
    return s < end && (*s == '{' || (*s == '"' && s + 1 < end && s[1] == '{'));
}

static mlic_dataset_format detect_text(const char *text, size_t len)
{
    const char *s = text, *end = text + len;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
        s++;
    if (s < end && *s == '{')
        return MLIC_DATASET_COCO;
    const char *line;
    size_t n;
    /* The second line decides too: PAI files may open with a header. */
    for (int seen = 0; seen < 2 && mlic_dataset_next_line(&s, end, &line, &n);) {
        mlic_dataset_trim(&line, &n);
        if (n == 0)
            continue;
        if (looks_like_pai(line, n))
            return MLIC_DATASET_PAI_CSV;
        seen++;
    }
    return MLIC_DATASET_LIST;
}

/* COCO's layout: <coco>/annotations/instances_<split>.json with images in <coco>/<split>/. */
static char *coco_default_root(const char *path)
{
    char *dir = mlic_path_dirname(path);
    if (!dir)
        return NULL;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!last_component_is(dir, "annotations") || strncmp(base, "instances_", 10) != 0 || !ends_with(base, ".json"))
        return dir;
    char *parent = mlic_path_dirname(dir);
    char *split = strndup(base + 10, strlen(base) - 10 - 5);
    char *root = parent && split ? mlic_path_join(parent, split) : NULL;
    free(parent);
    free(split);
    free(dir);
    return root;
}

static mlic_status load_voc(mlic_dataset **out, const char *voc, const char *split_path,
                            const mlic_dataset_opts *o, mlic_io *io)
{
    char *images = o->root ? strdup(o->root) : mlic_path_join(voc, "JPEGImages");
    if (!images)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    mlic_dataset_builder b;
    mlic_status st = mlic_dataset_builder_init_io(&b, io, split_path, images, o->classes_path,
                                                  o->confine_to_root);
    free(images);
    b.paths_only = o->paths_only;
    if (st == MLIC_OK)
        st = mlic_dataset_read_voc(&b, voc, split_path);
    if (st == MLIC_OK)
        st = mlic_dataset_builder_finish(&b, out, MLIC_DATASET_VOC);
    mlic_dataset_builder_free(&b);
    return st;
}

static mlic_status load_text(mlic_dataset **out, const char *path, const mlic_dataset_opts *o,
                             mlic_io *io)
{
    char *text;
    size_t len;
    mlic_status st = mlic_dataset_read_text(io, &text, &len, path);
    if (st != MLIC_OK)
        return st;
    mlic_dataset_format f = o->format ? o->format : detect_text(text, len);
    char *root = o->root ? strdup(o->root)
                 : f == MLIC_DATASET_COCO ? coco_default_root(path)
                                          : mlic_path_dirname(path);
    if (!root) {
        free(text);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    }
    mlic_dataset_builder b;
    st = mlic_dataset_builder_init_io(&b, io, path, root, o->classes_path, o->confine_to_root);
    free(root);
    b.paths_only = o->paths_only;
    if (st == MLIC_OK) {
        if (f == MLIC_DATASET_LIST)
            st = mlic_dataset_read_list(&b, text, len);
        else if (f == MLIC_DATASET_PAI_CSV)
            st = mlic_dataset_read_pai_csv(&b, text, len);
        else
            st = mlic_dataset_read_coco(&b, text, len);
    }
    if (st == MLIC_OK)
        st = mlic_dataset_builder_finish(&b, out, f);
    mlic_dataset_builder_free(&b);
    free(text);
    return st;
}

/* Whether path names a folder: a local one, or a remote path ending in '/'. */
static mlic_status is_folder(int *folder, const char *path)
{
    if (mlic_location_is_remote(path)) {
        *folder = path[strlen(path) - 1] == '/';
        return MLIC_OK;
    }
    struct stat sb;
    if (stat(path, &sb) != 0)
        return mlic_fail(MLIC_ERR_IO, "open %s: %s", path, strerror(errno));
    *folder = S_ISDIR(sb.st_mode);
    return MLIC_OK;
}

static mlic_status load(mlic_dataset **out, const char *path, const mlic_dataset_opts *o,
                        mlic_io *io)
{
    int folder = 0;
    mlic_status folder_st = is_folder(&folder, path);
    if (folder_st != MLIC_OK)
        return folder_st;
    if (folder) {
        if (o->format != MLIC_DATASET_AUTO && o->format != MLIC_DATASET_VOC)
            return mlic_fail(MLIC_ERR_INVALID_ARG, "data set %s is a folder, not a %s file", path,
                             mlic_dataset_format_name(o->format));
        char name[512];
        snprintf(name, sizeof name, "ImageSets/Main/%s.txt", o->split ? o->split : "trainval");
        char *split_path = mlic_path_join(path, name);
        if (!split_path)
            return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
        mlic_status st = load_voc(out, path, split_path, o, io);
        free(split_path);
        return st;
    }
    char *voc = NULL;
    if (o->format == MLIC_DATASET_AUTO || o->format == MLIC_DATASET_VOC) {
        voc = voc_of_split_file(path);
        if (!voc && o->format == MLIC_DATASET_VOC)
            return mlic_fail(MLIC_ERR_INVALID_ARG, "data set %s: a VOC data set is a folder or "
                             "its ImageSets/Main/<split>.txt", path);
    }
    if (voc) {
        mlic_status st = load_voc(out, voc, path, o, io);
        free(voc);
        return st;
    }
    return load_text(out, path, o, io);
}

mlic_status mlic_dataset_load(mlic_dataset **out, const char *path, const mlic_dataset_opts *opts)
{
    *out = NULL;
    mlic_dataset_opts defaults;
    mlic_dataset_opts_init(&defaults);
    const mlic_dataset_opts *o = opts ? opts : &defaults;
    if (!path)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "data set: no path given");
    if ((unsigned)o->format > MLIC_DATASET_VOC)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "data set %s: format %d is unknown", path,
                         (int)o->format);
    /* A client only for remote files: local data sets read exactly as they always did. */
    if (!mlic_location_is_remote(path) &&
        !(o->classes_path && mlic_location_is_remote(o->classes_path)))
        return load(out, path, o, NULL);
    const mlic_io_opts io_opts = {.storage = o->storage};
    mlic_io *io = NULL;
    mlic_status st = mlic_io_create(&io, &io_opts);
    if (st == MLIC_OK)
        st = load(out, path, o, io);
    mlic_io_destroy(io);
    return st;
}
