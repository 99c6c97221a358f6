/* Labelled data sets: class names plus items (an image path and the ids of its positive classes).
 *
 * Formats (auto-detected from the path and the content, or named):
 *   LIST     one image a line: `path<TAB>label,label` (labels may also be separated by further tabs;
 *            an empty list is an all-negative image). With an explicit class list, lines without a
 *            tab are read as `path label label` (whitespace separated).
 *   PAI_CSV  PAI's labelled CSV: `id,{"url": "path"},{"option": ["label", ...]}`; the JSON fields
 *            may also be CSV-quoted with "" escapes; "option" may be one string. A first line
 *            without any '{' is a header and skipped.
 *   COCO     instances_*.json: every entry of "images" becomes an item (in file order, those
 *            without annotations all-negative), labelled with the categories of its annotations.
 *   VOC      a Pascal VOC folder (Annotations/, ImageSets/Main/<split>.txt, JPEGImages/), or the
 *            split file itself: each listed id's Annotations/<id>.xml gives the <name> of each
 *            <object> (difficult ones included, as ML-GCN trains).
 *
 * Classes: an explicit class file (one name a line) if given, and then a label outside it is an
 * error; else the format's own list (COCO categories in id order, VOC's 20 classes); else every
 * label seen, sorted (byte order).
 *
 * Image paths: absolute paths and URLs (scheme://) are kept; relative ones are joined to `root`,
 * or by default to: the list's folder (LIST, PAI_CSV); for COCO, <parent>/<split> when the file is
 * <parent>/annotations/instances_<split>.json, else the file's folder; for VOC, <voc>/JPEGImages
 * (and ".jpg" is appended to the id). With confine_to_root (hosted jobs on someone else's data)
 * each relative path must resolve (realpath) under that root and is kept resolved; absolute
 * paths, file:// URLs, '..' escapes, symbolic links out and missing files fail the load, the
 * message naming the file, the line and the path; other URLs are left to the loader. A remote
 * root (s3://bucket/photos/) is confined by the path's text: relative paths without ".."
 * segments, and URLs under the root.
 *
 * The data-set file, its class file and a VOC folder may be remote (s3://, oss://, http(s)://):
 * a remote VOC folder is named with a trailing '/' or by its split file.
 *
 * Errors name the file and line and what is wrong. */
#ifndef MLIC_DATA_DATASET_H
#define MLIC_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "io/client.h"
#include "io/storage.h"
#include "mlic.h"

/* mlic_dataset_format and the public reading functions are in mlic.h. */

typedef struct {
    char *path;        /* resolved */
    int nlabels;
    const int *labels; /* (nlabels) class ids, ascending, distinct */
} mlic_item;

struct mlic_dataset {
    mlic_dataset_format format; /* the format read */
    int num_classes;
    char **classes;             /* (num_classes) */
    size_t nitems;
    mlic_item *items;           /* (nitems) */
    int *label_pool;            /* every item's labels, back to back */
};

typedef struct {
    mlic_dataset_format format; /* AUTO = detect */
    const char *root;           /* NULL = the format's default (above) */
    const char *classes_path;   /* NULL = the format's list or the labels seen */
    const char *split;          /* VOC split when given a folder; NULL = "trainval" */
    int confine_to_root;        /* every image path must exist under the root (util/confine.h) */
    /* How remote data-set files (s3://, oss://, http(s)://: the file itself, the class file, a
     * VOC folder's files) are read; NULL: the defaults, where a store needs settings to be
     * reached. Image paths are only resolved here: the loader reads them. */
    const mlic_storage *storage;
    int paths_only;             /* labels unused: bare list paths and no labels at all are fine */
} mlic_dataset_opts;

void mlic_dataset_opts_init(mlic_dataset_opts *o);
mlic_status mlic_dataset_load(mlic_dataset **out, const char *path, const mlic_dataset_opts *o);
/* Whether some image path is remote (s3://, oss://, http(s)://): the loader then needs a
 * storage. */
int mlic_dataset_has_remote(const mlic_dataset *d);

/* Item i's multi-hot vector: out (num_classes), 1 for its labels, 0 elsewhere. */
void mlic_dataset_targets_f32(float *out, const mlic_dataset *d, size_t i);
void mlic_dataset_targets_u8(uint8_t *out, const mlic_dataset *d, size_t i);

/* A class file: one name a line, surrounding blanks trimmed, blank lines skipped; a duplicate or
 * an empty file is an error. *out is a malloc'd array of malloc'd names. */
mlic_status mlic_dataset_read_classes(char ***out, int *count, const char *path);
/* The same for a path that may be remote, read through io (NULL: local only). */
mlic_status mlic_dataset_read_classes_io(char ***out, int *count, mlic_io *io, const char *path);

#endif
