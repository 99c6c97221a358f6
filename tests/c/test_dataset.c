/* Data-set API pieces the Python tests do not reach through tool_dataset: multi-hot targets,
 * format names, and the handle's contents for a small list written here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "data/dataset.h"

int main(void)
{
    char dir[] = "/tmp/mlic_test_dataset_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        CHECK_DONE();
    }
    char list[256], classes[256];
    snprintf(list, sizeof list, "%s/l.txt", dir);
    snprintf(classes, sizeof classes, "%s/c.txt", dir);
    FILE *f = fopen(list, "w");
    fputs("a.jpg\tdog,cat\nb.jpg\t\n", f);
    fclose(f);
    f = fopen(classes, "w");
    fputs("cat\nbird\ndog\n", f);
    fclose(f);

    mlic_dataset_opts o;
    mlic_dataset_opts_init(&o);
    o.classes_path = classes;
    mlic_dataset *d;
    CHECK(mlic_dataset_load(&d, list, &o) == MLIC_OK, "%s", mlic_errmsg());
    if (d) {
        CHECK(d->format == MLIC_DATASET_LIST && d->num_classes == 3 && d->nitems == 2, "shape");
        CHECK(strcmp(d->classes[2], "dog") == 0, "class order from the file");
        float t[3];
        uint8_t u[3];
        mlic_dataset_targets_f32(t, d, 0);
        mlic_dataset_targets_u8(u, d, 0);
        CHECK(t[0] == 1 && t[1] == 0 && t[2] == 1, "a.jpg: cat, dog");
        CHECK(u[0] == 1 && u[1] == 0 && u[2] == 1, "a.jpg: cat, dog");
        mlic_dataset_targets_u8(u, d, 1);
        CHECK(u[0] == 0 && u[1] == 0 && u[2] == 0, "b.jpg: none");
        char want[300];
        snprintf(want, sizeof want, "%s/a.jpg", dir);
        CHECK(strcmp(d->items[0].path, want) == 0, "%s", d->items[0].path);
    }
    mlic_dataset_free(d);
    mlic_dataset_free(NULL);

    o.format = MLIC_DATASET_COCO;
    CHECK(mlic_dataset_load(&d, list, &o) == MLIC_ERR_FORMAT, "a list read as COCO");
    CHECK(strstr(mlic_errmsg(), "l.txt:1: bad JSON") != NULL, "%s", mlic_errmsg());
    CHECK(d == NULL, "no handle after a failure");

    mlic_dataset_format fmt;
    CHECK(mlic_dataset_parse_format(&fmt, "pai_csv") == MLIC_OK && fmt == MLIC_DATASET_PAI_CSV,
          "pai_csv");
    CHECK(mlic_dataset_parse_format(&fmt, "csv") == MLIC_ERR_INVALID_ARG, "csv is not a format");
    CHECK(strcmp(mlic_dataset_format_name(MLIC_DATASET_VOC), "voc") == 0, "voc");

    unlink(list);
    unlink(classes);
    rmdir(dir);
    CHECK_DONE();
}
