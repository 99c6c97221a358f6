/* Prints a parsed data set as JSON for tests/py/test_dataset.py.
 *   tool_dataset PATH [--root DIR] [--classes FILE] [--format F] [--split S] [--confine-to-root]
 * Output: {"format": F, "classes": [...], "items": [{"path": P, "labels": [ids]}, ...]}.
 * On failure prints the error message on stderr and exits 1. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"

int main(int argc, char **argv)
{
    mlic_dataset_opts o;
    mlic_dataset_opts_init(&o);
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--root") == 0 && val) o.root = argv[++i];
        else if (strcmp(argv[i], "--classes") == 0 && val) o.classes_path = argv[++i];
        else if (strcmp(argv[i], "--split") == 0 && val) o.split = argv[++i];
        else if (strcmp(argv[i], "--confine-to-root") == 0) o.confine_to_root = 1;
        else if (strcmp(argv[i], "--format") == 0 && val) {
            if (mlic_dataset_parse_format(&o.format, argv[++i]) != MLIC_OK) {
                fprintf(stderr, "%s\n", mlic_errmsg());
                return 2;
            }
        } else if (!path) path = argv[i];
        else {
            fprintf(stderr, "usage: tool_dataset PATH [--root DIR] [--classes FILE] [--format F] "
                    "[--split S] [--confine-to-root]\n");
            return 2;
        }
    }
    mlic_dataset *d;
    if (mlic_dataset_load(&d, path, &o) != MLIC_OK) {
        fprintf(stderr, "%s\n", mlic_errmsg());
        return 1;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", mlic_dataset_format_name(d->format));
    cJSON *classes = cJSON_AddArrayToObject(root, "classes");
    for (int i = 0; i < d->num_classes; i++)
        cJSON_AddItemToArray(classes, cJSON_CreateString(d->classes[i]));
    cJSON *items = cJSON_AddArrayToObject(root, "items");
    for (size_t i = 0; i < d->nitems; i++) {
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "path", d->items[i].path);
        cJSON_AddItemToObject(it, "labels", cJSON_CreateIntArray(d->items[i].labels,
                                                                 d->items[i].nlabels));
        cJSON_AddItemToArray(items, it);
    }
    char *s = cJSON_PrintUnformatted(root);
    puts(s);
    free(s);
    cJSON_Delete(root);
    mlic_dataset_free(d);
    return 0;
}
