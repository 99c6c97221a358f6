/* What the format readers share: a builder that collects classes and items and resolves image
 * paths, and the helpers for reading text files line by line. Internal to src/data. */
#ifndef MLIC_DATA_DATASET_BUILD_H
#define MLIC_DATA_DATASET_BUILD_H

#include <stddef.h>

#include "data/dataset.h"
#include "io/client.h"

typedef struct {
    const char *file;  /* the file being read, for messages */
    mlic_io *io;       /* reads remote files (VOC annotations); NULL: local files only */
    char *root;        /* relative image paths are joined to this */
    char *real_root;   /* confined (util/confine.h): root's real path, else NULL */
    int remote_confined; /* confined to a remote root: relative paths without "..", or URLs
                          * under the root */
    char **names;      /* (nnames) class names by provisional id */
    int nnames, names_cap;
    int fixed;         /* no new names: they come from a class file or the format */
    int from_file;     /* fixed by an explicit class file */
    int paths_only;    /* labels unused: bare paths and no labels at all are accepted */
    int *table;        /* (table_cap) open-addressing hash of names -> id, -1 = empty */
    size_t table_cap;
    mlic_item *items;
    size_t *offsets;   /* (nitems) where each item's labels start in pool */
    size_t nitems, items_cap;
    int *pool;         /* labels of every item, back to back */
    size_t npool, pool_cap;
} mlic_dataset_builder;

/* classes_path: an explicit class file or NULL. root: the folder relative paths resolve against.
 * confine: every image path must lie under root (util/confine.h), checked as it is added. */
mlic_status mlic_dataset_builder_init(mlic_dataset_builder *b, const char *file, const char *root,
                                      const char *classes_path, int confine);
/* The same with a client for remote files (the class file, VOC annotations; NULL: local only). */
mlic_status mlic_dataset_builder_init_io(mlic_dataset_builder *b, mlic_io *io, const char *file,
                                         const char *root, const char *classes_path, int confine);
void mlic_dataset_builder_free(mlic_dataset_builder *b);

/* A format's own class list; ignored when a class file was given (it has priority). */
mlic_status mlic_dataset_builder_set_classes(mlic_dataset_builder *b, const char *const *names,
                                             int n);
/* *id for the name of len bytes: added when the list is open, -1 if the list is fixed and lacks
 * it. */
mlic_status mlic_dataset_builder_class(mlic_dataset_builder *b, int *id, const char *name,
                                       size_t len);
/* An item: path (path_len bytes) resolved against the root (confined: its real path, refused
 * if it leads outside); labels in any order, repeats ok. The message does not name b->file or
 * the line: the reader, which knows where the item is, puts them first. */
mlic_status mlic_dataset_builder_add(mlic_dataset_builder *b, const char *path, size_t path_len,
                                     const int *labels, int n);
/* Hands the result over (sorting the classes when they were collected from the labels) and
 * leaves the builder empty. */
mlic_status mlic_dataset_builder_finish(mlic_dataset_builder *b, mlic_dataset **out,
                                        mlic_dataset_format format);

/* The whole file, NUL-terminated; a file holding a NUL byte is refused (not text). A remote path
 * is read through io (NULL: refused with a hint). */
mlic_status mlic_dataset_read_text(mlic_io *io, char **text, size_t *len, const char *path);
/* Next line of [*p, end): sets line/len (without "\n" or "\r\n") and advances *p; 0 at the end. */
int mlic_dataset_next_line(const char **p, const char *end, const char **line, size_t *len);
/* Bytes of [s, s + len) with blanks (space, tab) trimmed at both ends. */
void mlic_dataset_trim(const char **s, size_t *len);

/* The readers: each fills the builder from its file. */
mlic_status mlic_dataset_read_list(mlic_dataset_builder *b, const char *text, size_t len);
mlic_status mlic_dataset_read_pai_csv(mlic_dataset_builder *b, const char *text, size_t len);
mlic_status mlic_dataset_read_coco(mlic_dataset_builder *b, const char *text, size_t len);
/* voc: the VOC folder; split_path: its ImageSets/Main/<split>.txt. */
mlic_status mlic_dataset_read_voc(mlic_dataset_builder *b, const char *voc, const char *split_path);

#endif
