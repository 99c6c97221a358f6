/* The public face of src/data (mlic.h, "labelled data sets"): reading options and accessors
 * over the library's own data-set type, so that programs never depend on its layout. */
#include <string.h>

#include "core/error.h"
#include "data/dataset.h"
#include "io/storage.h"
#include "mlic.h"

void mlic_dataset_read_opts_init(mlic_dataset_read_opts *o) { memset(o, 0, sizeof *o); }

mlic_status mlic_dataset_read(mlic_dataset **out, const char *path,
                              const mlic_dataset_read_opts *o)
{
    if (!out)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_dataset_read: no output handle given");
    *out = NULL;
    mlic_dataset_opts dopts;
    mlic_dataset_opts_init(&dopts);
    mlic_storage *storage = NULL;
    if (o) {
        dopts.format = o->format;
        dopts.root = o->root;
        dopts.classes_path = o->classes_path;
        dopts.split = o->split;
        dopts.confine_to_root = o->confine_to_root;
        dopts.paths_only = o->paths_only;
        if (o->storage) {
            mlic_status s = mlic_storage_create(&storage, o->storage);
            if (s != MLIC_OK)
                return s;
            dopts.storage = storage;
        }
    }
    /* The data set keeps no reference to the storage: its image paths are only resolved. */
    mlic_status s = mlic_dataset_load(out, path, &dopts);
    mlic_storage_destroy(storage);
    return s;
}

mlic_dataset_format mlic_dataset_format_of(const mlic_dataset *d) { return d->format; }

int mlic_dataset_num_classes(const mlic_dataset *d) { return d->num_classes; }

const char *mlic_dataset_class_name(const mlic_dataset *d, int i)
{
    return i >= 0 && i < d->num_classes ? d->classes[i] : NULL;
}

size_t mlic_dataset_num_items(const mlic_dataset *d) { return d->nitems; }

const char *mlic_dataset_item_path(const mlic_dataset *d, size_t i)
{
    return i < d->nitems ? d->items[i].path : NULL;
}

int mlic_dataset_item_labels(const mlic_dataset *d, size_t i, const int **labels)
{
    if (i >= d->nitems) {
        *labels = NULL;
        return 0;
    }
    *labels = d->items[i].labels;
    return d->items[i].nlabels;
}
