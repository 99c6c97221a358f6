/* Pascal VOC: ImageSets/Main/<split>.txt lists image ids; Annotations/<id>.xml names the class of
 * each <object>. The XML is read with a small tag scanner: VOC annotations are flat and
 * machine-written, and the only subtlety is that a person's <part>s carry <name>s of their own
 * (head, hand, foot), so only a <name> directly inside <object> counts. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/dataset_build.h"
#include "util/path.h"

static const char *const voc_classes[] = {
    "aeroplane", "bicycle", "bird",  "boat",        "bottle", "bus",   "car",
    "cat",       "chair",   "cow",   "diningtable", "dog",    "horse", "motorbike",
    "person",    "pottedplant", "sheep", "sofa",    "train",  "tvmonitor"};

typedef struct {
    const char *path, *text;
} xml_doc;

static int line_at(const xml_doc *x, const char *p)
{
    int line = 1;
    for (const char *s = x->text; s < p; s++)
        line += *s == '\n';
    return line;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int tag_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(name, want, len) == 0;
}

static mlic_status add_object(mlic_dataset_builder *b, const xml_doc *x, const char *at,
                              const char *name, size_t len, int **ids, int *n, int *cap)
{
    while (len > 0 && is_space(*name)) {
        name++;
        len--;
    }
    while (len > 0 && is_space(name[len - 1]))
        len--;
    int id;
    mlic_status st = mlic_dataset_builder_class(b, &id, name, len);
    if (st != MLIC_OK)
        return st;
    if (id < 0)
        return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: object class \"%.*s\" is not in the class "
                         "list%s", x->path, line_at(x, at), (int)len, name,
                         b->from_file ? "" : " (the 20 VOC classes)");
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 16;
        int *v = realloc(*ids, (size_t)c * sizeof *v);
        if (!v)
            return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
        *ids = v;
        *cap = c;
    }
    (*ids)[(*n)++] = id;
    return MLIC_OK;
}

/* The class ids of the objects in one annotation file. */
static mlic_status scan_xml(mlic_dataset_builder *b, const xml_doc *x, int **ids, int *n, int *cap)
{
    const char *p = x->text;
    int depth = 0, object_depth = -1, named = 0;
    const char *object_at = NULL;
    *n = 0;
    while ((p = strchr(p, '<')) != NULL) {
        const char *tag = p;
        if (strncmp(p, "<!--", 4) == 0 || p[1] == '?' || p[1] == '!') {
            int comment = p[1] == '!' && p[2] == '-';
            const char *close = comment ? strstr(p + 4, "-->") : strchr(p, '>');
            if (!close)
                return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: a comment or declaration is not closed",
                                 x->path, line_at(x, tag));
            p = close + (comment ? 3 : 1);
            continue;
        }
        const char *gt = strchr(p, '>');
        if (!gt)
            return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: a tag is not closed with '>'", x->path,
                             line_at(x, tag));
        int end_tag = p[1] == '/';
        const char *name = p + 1 + end_tag;
        size_t len = 0;
        while (name + len < gt && !is_space(name[len]) && name[len] != '/')
            len++;
        int self_closing = gt[-1] == '/';
        p = gt + 1;
        if (end_tag) {
            if (depth == object_depth) {
                if (!named)
                    return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: an <object> without a <name>",
                                     x->path, line_at(x, object_at));
                object_depth = -1;
            }
            depth--;
            continue;
        }
        if (self_closing)
            continue;
        depth++;
        if (object_depth < 0 && tag_is(name, len, "object")) {
            object_depth = depth;
            object_at = tag;
            named = 0;
        } else if (object_depth >= 0 && depth == object_depth + 1 && tag_is(name, len, "name")) {
            const char *text_end = strchr(p, '<');
            if (!text_end)
                return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: <name> is not closed", x->path,
                                 line_at(x, tag));
            mlic_status st = add_object(b, x, tag, p, (size_t)(text_end - p), ids, n, cap);
            if (st != MLIC_OK)
                return st;
            named = 1;
        }
    }
    if (object_depth >= 0)
        return mlic_fail(MLIC_ERR_FORMAT, "%s:%d: an <object> is not closed", x->path,
                         line_at(x, object_at));
    return MLIC_OK;
}

static mlic_status read_image(mlic_dataset_builder *b, const char *annotations, const char *id,
                              size_t id_len, int lineno, int **ids, int *cap)
{
    char *file = malloc(id_len + 5), *xml_path = NULL, *text = NULL;
    mlic_status st = MLIC_OK;
    if (file) {
        memcpy(file, id, id_len);
        memcpy(file + id_len, ".xml", 5);
        xml_path = mlic_path_join(annotations, file);
    }
    if (!xml_path) {
        st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t len;
    if ((st = mlic_dataset_read_text(b->io, &text, &len, xml_path)) != MLIC_OK) {
        st = mlic_fail_prefix(st, "%s:%d: image %.*s: ", b->file, lineno, (int)id_len, id);
        goto done;
    }
    xml_doc x = {xml_path, text};
    int n;
    if ((st = scan_xml(b, &x, ids, &n, cap)) != MLIC_OK)
        goto done;
    memcpy(file + id_len, ".jpg", 5);
    if ((st = mlic_dataset_builder_add(b, file, id_len + 4, *ids, n)) != MLIC_OK)
        mlic_fail_prefix(st, "%s:%d: ", b->file, lineno);
done:
    free(file);
    free(xml_path);
    free(text);
    return st;
}

mlic_status mlic_dataset_read_voc(mlic_dataset_builder *b, const char *voc, const char *split_path)
{
    mlic_status st = mlic_dataset_builder_set_classes(b, voc_classes, 20);
    if (st != MLIC_OK)
        return st;
    char *text, *annotations = mlic_path_join(voc, "Annotations");
    size_t len;
    if (!annotations)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    if ((st = mlic_dataset_read_text(b->io, &text, &len, split_path)) != MLIC_OK) {
        free(annotations);
        return mlic_fail_prefix(st, "VOC split: ");
    }
    const char *p = text, *line;
    size_t n;
    int lineno = 0, *ids = NULL, cap = 0;
    while (st == MLIC_OK && mlic_dataset_next_line(&p, text + len, &line, &n)) {
        lineno++;
        mlic_dataset_trim(&line, &n);
        size_t id_len = 0;
        while (id_len < n && !is_space(line[id_len]))
            id_len++;
        if (id_len == 0)
            continue;
        if (memchr(line, '/', id_len))
            st = mlic_fail(MLIC_ERR_FORMAT, "%s:%d: \"%.*s\" is not a VOC image id", b->file,
                           lineno, (int)id_len, line);
        else
            st = read_image(b, annotations, line, id_len, lineno, &ids, &cap);
    }
    free(ids);
    free(text);
    free(annotations);
    return st;
}
